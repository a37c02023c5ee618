#!/usr/bin/env python3
"""Hugging Face transformers as an outside oracle for a backend of the library.

Builds a randomly initialised MambaForCausalLM with the 130M config (no download: the
weights come from transformers' own initialisation under a fixed seed), saves it with
save_pretrained (safetensors), packs it with `mmb convert`, then:
  1. steps a 64-token sequence through `mmb logits --backend B` and through
     transformers' forward, and prints the largest logit difference;
  2. times one greedy decode step of each (transformers' generate with its cache, and
     `mmb bench decode --backend B`) and prints the ratio.

Usage:
  hf_oracle.py --mmb build/release/sdk/tools/mmb [--backend cuda|cpu|auto]
               [--dtype f32|f16|bf16] [--torch-device cuda|cpu] [--work DIR]

Needs torch, transformers and numpy in the Python that runs it (the GPU machines have
them; nothing is downloaded). The library's own tests never need it.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def build_model(work, torch, transformers):
    torch.manual_seed(0)
    config = transformers.MambaConfig(
        vocab_size=50280, hidden_size=768, num_hidden_layers=24, state_size=16, expand=2,
        conv_kernel=4, use_bias=False, use_conv_bias=True, layer_norm_epsilon=1e-5,
        tie_word_embeddings=True, pad_token_id=0, bos_token_id=0, eos_token_id=0)
    model = transformers.MambaForCausalLM(config).eval()
    folder = os.path.join(work, "hf-mamba-130m")
    model.save_pretrained(folder, safe_serialization=True)
    return model, folder


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def hf_step_seconds(model, torch, device, prompt, steps):
    ids = torch.tensor([prompt], device=device)
    model.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    model.generate(ids, max_new_tokens=steps, min_new_tokens=steps, do_sample=False)
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mmb", required=True, help="the mmb CLI")
    ap.add_argument("--backend", default="cuda", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    ap.add_argument("--torch-device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--work", default=None, help="folder for the checkpoint and bundle (default: a temporary one)")
    args = ap.parse_args()

    import torch
    import transformers

    device = args.torch_device or ("cuda" if torch.cuda.is_available() else "cpu")
    work = args.work or tempfile.mkdtemp(prefix="mmb-hf-oracle-")
    model, folder = build_model(work, torch, transformers)
    bundle = os.path.join(work, f"hf-mamba-130m-{args.dtype}.mmb")
    run([args.mmb, "convert", folder, "-o", bundle, "--dtype", args.dtype])

    rng = np.random.default_rng(1)
    tokens = [int(t) for t in rng.integers(1, 50280, size=64)]
    npy = os.path.join(work, "mmb_logits.npy")
    run([args.mmb, "logits", bundle, "--tokens", ",".join(map(str, tokens)), "--out", npy, "--backend", args.backend])
    ours = np.load(npy).astype(np.float64)

    # transformers in float32 on the same weights as the bundle: rounded as the pack
    # rounds them (every tensor but A_log, D and dt_proj.bias, sdk/tools/lib/packed_dtype.hpp).
    if args.dtype != "f32":
        rounding = torch.float16 if args.dtype == "f16" else torch.bfloat16
        kept = (".A_log", ".D", ".dt_proj.bias")
        with torch.no_grad():
            for name, p in model.named_parameters():
                if not name.endswith(kept):
                    p.copy_(p.to(rounding).to(torch.float32))
    model = model.to(device)
    with torch.no_grad():
        theirs = model(input_ids=torch.tensor([tokens], device=device)).logits[0].double().cpu().numpy()

    diff = np.abs(ours - theirs)
    scale = np.abs(theirs).max()
    print(json.dumps({
        "positions": len(tokens), "vocab": int(theirs.shape[1]), "dtype": args.dtype, "backend": args.backend,
        "max_abs_diff": float(diff.max()), "max_abs_logit": float(scale),
        "max_rel_diff": float(diff.max() / scale), "argmax_agree": float((ours.argmax(1) == theirs.argmax(1)).mean()),
    }, indent=2))

    hf = hf_step_seconds(model, torch, device, tokens[:8], 64)
    bench = json.loads(run([args.mmb, "bench", "decode", bundle, "--backend", args.backend, "--threads", "2",
                            "--batch", "1", "--prefill", "0", "--tokens", "64", "--json"]))
    ours_step = next(r["ms_per_token"] for r in bench if r["what"] == "decode b=1") / 1e3
    print(f"decode step: transformers ({device}) {hf * 1e6:.0f} us, moemamba ({args.backend}) {ours_step * 1e6:.0f} us, "
          f"speedup {hf / ours_step:.2f}x")


if __name__ == "__main__":
    main()
