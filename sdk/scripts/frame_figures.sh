#!/usr/bin/env bash
# The game-scene table of docs/performance.md ("A game scene"), measured again:
# `mmb bench jobs` at 60 Hz on 2 compute threads, for each kernel path (the best one,
# and AVX2 only where the CPU has AVX-512): the demo model with 16 characters at budgets
# of 1, 2, 4 and 8 ms, with 4 and 64 characters at 4 ms, the 16-character 4 ms scene
# with MMB_JOBS_HOST on 1 and 2 host threads, the 2 and 4 ms scenes again with the
# scene's thread busy between frames (--host-busy) instead of sleeping, and the
# Mamba-130m shape with 4 characters at 8 ms, the thread sleeping and busy. Prints one
# markdown row per scene. Run it on an idle machine:
# other work on the cores shows up as p99 and max, not as the scheduler's.
# Usage: frame_figures.sh; MMB_BUILD names the build folder (default build/release),
# MMB_FRAMES the frames per scene (default 300). About 6 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
mmb=${MMB_BUILD:-build/release}/sdk/tools/mmb
frames=${MMB_FRAMES:-300}
demo=models/demo-moe-mamba.mmb

paths=(best)
grep -qw avx512f /proc/cpuinfo && paths+=(avx2)
"$mmb" bench decode --shape tiny --threads 1 2>/dev/null | grep -m1 '^cpu:' || true

row() {  # kernels model characters budget host_threads sleeps|busy args...
  local kernels=$1 model=$2 chars=$3 budget=$4 host=$5 between=$6
  shift 6
  local env=()
  [ "$kernels" = avx2 ] && env=(MMB_CPU_KERNELS=avx2)
  local extra=()
  [ "$host" != - ] && extra=(--host-threads "$host")
  [ "$between" = busy ] && extra+=(--host-busy)
  local out
  out=$(env "${env[@]}" "$mmb" bench jobs "$@" --characters "$chars" --budget-us "$budget" --frames "$frames" \
        --cancels 100 --threads 2 "${extra[@]}")
  local scene cancel
  scene=$(grep '^scene:' <<<"$out")
  cancel=$(grep '^cancel:' <<<"$out")
  # frame work p50 A us, p99 B us (Cx budget), max D us (Ex); frames over 1.1x budget F%; ... G tokens/s
  sed -E "s/.*frame work p50 ([0-9]+) us, p99 ([0-9]+) us \(([0-9.]+)x budget\), max ([0-9]+) us \(([0-9.]+)x\); frames over 1.1x budget ([0-9.]+)%.* ([0-9.]+) tokens\/s overall/| $kernels | $model | $chars | $budget | $host | $between | \1 \/ \2 (\3×) \/ \4 (\5×) | \6% | \7 |/" <<<"$scene" |
    tr -d '\n'
  sed -E 's/.*cancel-to-finished p50 [0-9]+ us, p99 ([0-9]+) us.*/ \1 |/' <<<"$cancel"
}

echo "| kernels | model | characters | budget µs | host threads | host thread between frames | frame work p50 / p99 / max µs | over 1.1× | tokens/s | cancel p99 µs |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for k in "${paths[@]}"; do
  for b in 1000 2000 4000 8000; do row "$k" demo 16 "$b" - sleeps "$demo"; done
  for b in 2000 4000; do row "$k" demo 16 "$b" - busy "$demo"; done
  for c in 4 64; do row "$k" demo "$c" 4000 - sleeps "$demo"; done
  for h in 1 2; do row "$k" demo 16 4000 "$h" sleeps "$demo"; done
  for between in sleeps busy; do row "$k" "130M shape" 4 8000 - "$between" --shape mamba-130m; done
done
