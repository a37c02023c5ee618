#!/usr/bin/env bash
# The ABI of libmoemamba.so as libabigail sees it, against tests/abi/libmoemamba.abi.
#   abi.sh dump LIB OUT   writes LIB's ABI (what sdk/scripts/abi_baseline.sh commits)
#   abi.sh check LIB      compares LIB with the committed baseline; exit 1 on an
#                         incompatible change, 0 when equal or only added to
# Only what a host can reach counts: the exported mmb_* functions and the types of
# include/moemamba/ (tests/abi/public_only.abignore). Source locations, parameter names,
# DT_NEEDED entries and the build paths are left out of the dump, so that editing the
# header's comments or building with another compiler release does not show as a change.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
headers="$root/include/moemamba"
suppressions="$here/public_only.abignore"
baseline="$here/libmoemamba.abi"

mode=${1:?usage: abi.sh dump LIB OUT | abi.sh check LIB}
lib=${2:?usage: abi.sh dump LIB OUT | abi.sh check LIB}
case "$mode" in
  dump)
    out=${3:?usage: abi.sh dump LIB OUT}
    abidw --headers-dir "$headers" --suppressions "$suppressions" --drop-private-types --drop-undefined-syms \
      --no-show-locs --no-corpus-path --no-comp-dir-path --no-elf-needed --no-parameter-names \
      --type-id-style hash --out-file "$out" "$lib"
    # The API layer's debug info is what describes the functions: without it the dump
    # would hold bare symbols and any change of a struct would pass unseen.
    grep -q "<function-decl name='mmb_runtime_create'" "$out" || {
      echo "abi: $lib has no debug info for the API layer (src/api is compiled with -g)" >&2
      exit 1
    }
    ;;
  check)
    set +e
    abidiff --headers-dir2 "$headers" --suppressions "$suppressions" --drop-private-types --fail-no-debug-info \
      --no-show-locs --no-added-syms "$baseline" "$lib"
    rc=$?
    set -e
    # abidiff's exit status is a bit field: 1 error, 2 usage error, 4 ABI change,
    # 8 incompatible change. Additions alone (4) are what the append-only rules allow.
    if (( rc & 3 )); then
      echo "abi: abidiff could not compare (exit $rc)" >&2
      exit 1
    fi
    if (( rc & 8 )); then
      echo "abi: incompatible change against tests/abi/libmoemamba.abi (exit $rc); see docs/abi.md" >&2
      exit 1
    fi
    if (( rc & 4 )); then
      echo "abi: compatible changes only (additions); regenerate the baseline with sdk/scripts/abi_baseline.sh when releasing"
    else
      echo "abi: identical to the baseline"
    fi
    ;;
  *)
    echo "usage: abi.sh dump LIB OUT | abi.sh check LIB" >&2
    exit 2
    ;;
esac
