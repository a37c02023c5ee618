#!/usr/bin/env bash
# The main job: set up, build, then stream generated text from a bundle.
# Until the trained demo model ships in models/, this makes a small random model
# (mmb synth --shape tiny): the pipeline is real, the text is noise.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash sdk/scripts/setup.sh
bash sdk/scripts/build.sh release
mmb=build/release/sdk/tools/mmb
bundle=${1:-}
if [ -z "$bundle" ]; then
  bundle=build/release/demo-random.mmb
  echo "demo: no trained model yet; making a random 'tiny' model at $bundle (its text is noise)" >&2
  "$mmb" synth --shape tiny --seed 7 -o "$bundle"
fi
"$mmb" inspect "$bundle" | head -n 12
"$mmb" generate "$bundle" --prompt "Once upon a time" --max-tokens 64 --temp 0.8 --seed 1
