#!/usr/bin/env bash
# Trains the demo model models/demo-moe-mamba.mmb end to end on the Brown corpus:
# plain text with a validation split, a 4096-token byte-level BPE, a small MoE-Mamba
# (alternating Mamba / 8-expert top-1 MoE layers), then export and pack (bf16,
# shuffle-zstd). Usage: [STEPS=N] [THREADS=T] train_demo.sh [WORK_DIR] [MINUTES]
# The shipped model is this script's output with its defaults (about 50 minutes on one
# core). One thread is the default because OpenMP's spinning barriers collapse when the
# cores are shared with other work; on an idle machine THREADS=2 is faster.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-build/demo-train}
minutes=${2:-0}
steps=${STEPS:-1200}
threads=${THREADS:-1}
py=/usr/bin/python3
mmb=$PWD/build/release/sdk/tools/mmb
mkdir -p "$work"
export PYTHONPATH=$PWD/sdk/python
$py -m moemamba_kit.brown --out-dir "$work"
[ -f "$work/tokenizer.json" ] || $py -m moemamba_kit.bpe "$work/train.txt" --vocab-size 4096 -o "$work/tokenizer.json"
cat > "$work/config.json" <<'JSON'
{"d_model": 256, "vocab_size": 4096, "norm": "rms", "tie_embeddings": true,
 "layer_pattern": {"repeat": 4, "pattern": [
   {"kind": "mamba", "d_inner": 512, "d_state": 16, "d_conv": 4},
   {"kind": "moe", "n_experts": 8, "top_k": 1, "d_ff": 512, "expert": "relu", "router": "softmax"}]}}
JSON
$py -m moemamba_kit.train --config "$work/config.json" --data "$work/train.txt" --valid "$work/valid.txt" \
  --tokenizer "$work/tokenizer.json" --out "$work/run" --steps "$steps" --batch 16 --seq 128 --lr 2e-3 \
  --min-lr 2e-4 --warmup 60 --threads "$threads" --log-every 10 --eval-every 200 --eval-batches 10 --save-every 50 \
  --max-minutes "$minutes"
mkdir -p models
$py -m moemamba_kit.demo_pack "$work/run/checkpoint.pt" --tokenizer "$work/tokenizer.json" \
  --valid "$work/valid.txt" --mmb "$mmb" --out-dir "$work/export" -o models/demo-moe-mamba.mmb
