#!/usr/bin/env bash
# The ABI of libmoemamba.so as libabigail sees it, against tests/abi/libmoemamba.abi.
#   abi.sh dump LIB OUT            writes LIB's ABI (sdk/scripts/abi_baseline.sh commits it)
#   abi.sh check LIB [BASELINE]    compares LIB with the baseline (default: the committed
#                                  one); exit 1 on an incompatible change, 0 otherwise
# The baseline holds what a host can reach: the exported mmb_* functions and the types
# of include/moemamba/ (tests/abi/public_only.abignore drops the C++ internals). Parameter
# names, DT_NEEDED entries and build paths are left out of it, so that renaming a
# parameter or building elsewhere does not show as a change.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: abi.sh dump LIB OUT | abi.sh check LIB [BASELINE]"
mode=${1:?$usage}
lib=${2:?$usage}

# Reads abidiff's report on stdin and prints the lines that are not one of the changes
# the ABI rules allow (docs/abi.md): new functions (not reported: --no-added-syms) and
# members appended to the end of a public struct, which shows as a size change followed
# by insertions at or past the old size, and, through pointers, as changed types of the
# functions and table members that reach that struct. Every other kind of change
# (removed or reordered members, changed types, removed functions) is printed.
disallowed_changes() {
  awk '
    function keep() { print; bad = 1 }
    /^(Functions|Variables) changes summary/ || /^ *$/ || /^[0-9]+ functions? with some indirect sub-type change:$/ { next }
    /^ *\[C\] .function .* has some indirect sub-type changes:$/ { next }
    /^ *(return type changed|type size hasn.t changed):?$/ { next }
    /^ *parameter [0-9]+ of type .* has sub-type changes:$/ { next }
    /^ *(in pointed to type|in unqualified underlying type) .*:$/ { next }
    /^ *(underlying type|type of) .* changed:$/ { next }
    /^ *(unqualified underlying type|pointed to type|underlying type) .* changed.*, as reported earlier$/ { next }
    /^ *[0-9]+ data member changes?( \([0-9]+ filtered\))?:$/ { next }
    /^ *type size changed from [0-9]+ to [0-9]+ \(in bits\)$/ { old_size = $5 + 0; next }
    /^ *[0-9]+ data member insertions?:$/ { next }
    /^ *.*, at offset [0-9]+ \(in bits\)/ {
      match($0, /at offset [0-9]+ /); offset = substr($0, RSTART + 10, RLENGTH - 11) + 0
      if (old_size > 0 && offset >= old_size) next
      keep(); next
    }
    { keep() }
  '
}

case "$mode" in
  dump)
    out=${3:?$usage}
    abidw --suppressions "$here/public_only.abignore" --drop-undefined-syms --short-locs --no-corpus-path \
      --no-comp-dir-path --no-elf-needed --no-parameter-names --out-file "$out" "$lib"
    # The API layer's debug info is what describes the functions: without it the dump
    # would hold bare symbols and any change of a struct would pass unseen.
    grep -q "<function-decl name='mmb_runtime_create'" "$out" || {
      echo "abi: $lib has no debug info for the API layer (src/CMakeLists.txt compiles src/api with -g)" >&2
      exit 1
    }
    ;;
  check)
    baseline=${3:-$here/libmoemamba.abi}
    set +e
    report=$(abidiff --fail-no-debug-info --no-added-syms "$baseline" "$lib" 2>&1)
    rc=$?
    set -e
    # abidiff's exit status is a bit field: 1 error, 2 usage error, 4 ABI change,
    # 8 incompatible change (a removed symbol).
    if (( rc & 3 )); then
      printf '%s\n' "$report"
      echo "abi: abidiff could not compare (exit $rc)" >&2
      exit 1
    fi
    if (( rc & 8 )); then
      printf '%s\n' "$report"
      echo "abi: incompatible change against $baseline (exit $rc); see docs/abi.md" >&2
      exit 1
    fi
    if (( rc & 4 )); then
      # Bit 4 is every other change; only appended struct members are compatible.
      printf '%s\n' "$report"
      disallowed=$(printf '%s\n' "$report" | disallowed_changes)
      if [ -n "$disallowed" ]; then
        echo "abi: incompatible changes against $baseline; see docs/abi.md. Not allowed:" >&2
        printf '%s\n' "$disallowed" >&2
        exit 1
      fi
      echo "abi: compatible changes only (members appended to public structs)"
    else
      echo "abi: no incompatible change (functions may have been added)"
    fi
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
