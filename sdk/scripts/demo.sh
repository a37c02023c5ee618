#!/usr/bin/env bash
# The main job: install what the library and the CLI need, build only those two, then
# stream text from the shipped demo model (models/demo-moe-mamba.mmb: a small MoE-Mamba
# trained on the Brown corpus). Prints the time of each stage.
# Usage: demo.sh [BUNDLE] [PROMPT]
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=${1:-models/demo-moe-mamba.mmb}
prompt=${2:-The old man looked at the}
start=$SECONDS
stage() { echo "demo: $1 done in $((SECONDS - stage_start)) s (total $((SECONDS - start)) s)"; stage_start=$SECONDS; }

stage_start=$SECONDS
bash sdk/scripts/setup.sh core
stage "set-up"
# The library and the CLI only: no test programs, no CUDA plugin (build.sh release,
# run by test.sh, configures the same folder with both again).
bash sdk/scripts/build.sh release-lean
stage "build"
mmb=build/release/sdk/tools/mmb
"$mmb" inspect --summary "$bundle"
echo
"$mmb" generate "$bundle" --prompt "$prompt" --max-tokens 160 --temp 0.8 --top-k 40 --seed 1
stage "generate"
