#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset `fuzz`: clang-14, ASan + UBSan, build/fuzz)
# and runs each for SECONDS, MMB_FUZZ_PARALLEL targets at a time (default: one per
# core), starting from the committed seeds (and a target's .dict when there is one).
# New inputs go to build/fuzz/corpus/<target>, findings to build/fuzz/findings/<target>/,
# logs to build/fuzz/logs/. Prints a summary table (executions, exec/s, corpus, and
# libFuzzer's last cov:/ft: figures) and exits 1 when any target found something.
#   tests/fuzz/run_fuzzers.sh SECONDS [TARGET...]
set -euo pipefail

seconds=${1:?usage: run_fuzzers.sh SECONDS [TARGET...]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build/fuzz"
all=(fuzz_bundle_memory fuzz_bundle_io fuzz_state_load fuzz_tokenizer fuzz_safetensors fuzz_api_sequence
     fuzz_tokenizer_json fuzz_chat_template fuzz_grammar_gbnf fuzz_json_schema)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
parallel=${MMB_FUZZ_PARALLEL:-$(nproc)}

cd "$root"
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/moemamba-ccache}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

# One target's campaign; libFuzzer's own exit status is not used: a finding is a file
# under findings/, and a target that could not even start shows as no executions.
run_one() {
  local t=$1 corpus="$build/corpus/$1" findings="$build/findings/$1" log="$build/logs/$1.log"
  local dict=()
  [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
  # The first directory receives new inputs; the committed seeds are only read.
  "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    "${dict[@]}" -artifact_prefix="$findings/" "$corpus" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1 || true
}

mkdir -p "$build/logs"
for t in "${targets[@]}"; do
  rm -rf "$build/findings/$t"
  mkdir -p "$build/corpus/$t" "$build/findings/$t"
done
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
wait

found=0
printf '%-20s %11s %8s %16s %7s %7s %8s\n' target executions exec/s corpus cov ft crashes
for t in "${targets[@]}"; do
  log="$build/logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  # The last status line, e.g. "#52814  REDUCE cov: 1693 ft: 6046 corp: 301/83Kb ...".
  status=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
  files=$(find "$build/corpus/$t" -type f | wc -l)
  bytes=$(du -sb "$build/corpus/$t" | cut -f1)
  crashes=$(find "$build/findings/$t" -type f | wc -l)
  if [ "$crashes" -ne 0 ] || [ -z "$execs" ] || [ "$execs" = 0 ]; then found=1; fi
  printf '%-20s %11s %8s %16s %7s %7s %8s\n' "$t" "${execs:-none}" "${rate:-?}" "$files files/$bytes B" \
    "${cov:-?}" "${ft:-?}" "$crashes"
done
if [ "$found" -ne 0 ]; then
  echo "fuzz: findings or a target that did not run; see $build/findings and $build/logs"
  for t in "${targets[@]}"; do
    if [ -n "$(find "$build/findings/$t" -type f)" ]; then
      echo "--- $t: last lines of its log"
      tail -40 "$build/logs/$t.log"
    fi
  done
fi
exit "$found"
