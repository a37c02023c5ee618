#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) in build/fuzz and runs each
# for SECONDS, starting from the committed seeds. New inputs go to build/fuzz/corpus,
# findings to build/fuzz/findings/<target>/. Prints one line per target and exits 1
# when any target found something.
#   tests/fuzz/run_fuzzers.sh SECONDS [TARGET...]
set -euo pipefail

seconds=${1:?usage: run_fuzzers.sh SECONDS [TARGET...]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build/fuzz"
all=(fuzz_bundle_memory fuzz_bundle_io fuzz_state_load fuzz_tokenizer fuzz_safetensors fuzz_api_sequence)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DMMB_FUZZ=ON -DMMB_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"${MMB_FUZZ_JOBS:-2}" --target "${targets[@]}"

found=0
printf '%-20s %12s %8s %14s %8s\n' target executions seconds corpus crashes
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t" findings="$build/findings/$t" log="$build/logs/$t.log"
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  start=$(date +%s)
  # The first directory receives new inputs; the committed seeds are only read.
  "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$corpus" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1 || true
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(du -sb "$corpus" | cut -f1)
  crashes=$(find "$findings" -type f | wc -l)
  [ "$crashes" -eq 0 ] || found=1
  printf '%-20s %12s %8s %14s %8s\n' "$t" "${execs:-?}" "$elapsed" "$files files/$bytes B" "$crashes"
done
[ "$found" -eq 0 ] || echo "findings under $build/findings (logs under $build/logs)"
exit "$found"
