#!/usr/bin/env bash
# The MoE-Mamba paper's experiment at small scale, and the paper's other designs
# (docs/reproduction.md): trains every model on the Brown corpus and writes
# docs/reproduction/{paper.png, designs.png, results.md, curves.csv}, for the Mamba-2
# comparison {mamba2.png, results_mamba2.md, curves_mamba2.csv} and for the hybrid one
# (MoE-Mamba-2 with an attention layer) {hybrid.png, results_hybrid.md, curves_hybrid.csv}.
# About 80 minutes on 2 cores (+10 for Mamba-2, +3 for the hybrid); finished models are
# kept in WORK_DIR, so a rerun resumes.
# Usage: reproduce.sh [WORK_DIR] [experiment options: --smoke, --estimate, --steps N, ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-build/reproduction}
shift || true
out=docs/reproduction
for arg in "$@"; do
  # A smoke run's figures are no results: keep them out of docs/.
  [ "$arg" = "--smoke" ] && out=$work/out
done
PYTHONPATH=$PWD/sdk/python exec /usr/bin/python3 -m moemamba_kit.experiment --work "$work" --out-dir "$out" "$@"
