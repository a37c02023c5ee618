#!/usr/bin/env bash
# The main job: set up, build, then stream text from the shipped demo model
# (models/demo-moe-mamba.mmb: a small MoE-Mamba trained on the Brown corpus).
# Usage: demo.sh [BUNDLE] [PROMPT]
set -euo pipefail
cd "$(dirname "$0")/../.."
bash sdk/scripts/setup.sh
bash sdk/scripts/build.sh release
mmb=build/release/sdk/tools/mmb
bundle=${1:-models/demo-moe-mamba.mmb}
prompt=${2:-The old man looked at the}
"$mmb" inspect "$bundle" | head -n 12
"$mmb" generate "$bundle" --prompt "$prompt" --max-tokens 100 --temp 0.8 --top-k 40 --seed 1
