#!/usr/bin/env python3
"""How far one model's logits are from another's over the same tokens.

Usage: compare_logits.py REFERENCE.npy OTHER.npy [TOKENS]

Both files are `mmb logits` output ([positions, vocab] float32, the same token ids
stepped through two bundles, e.g. bf16 and q8 packs of one model). TOKENS, the ids
as one comma-separated line, adds each model's cross-entropy of the next token.
Needs numpy.
"""
import sys

import numpy as np


def log_softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def main(argv):
    if len(argv) not in (3, 4):
        sys.exit(__doc__)
    ref = np.load(argv[1]).astype(np.float64)
    other = np.load(argv[2]).astype(np.float64)
    if ref.shape != other.shape:
        sys.exit(f"shapes differ: {ref.shape} and {other.shape}")
    d = other - ref
    rms = lambda a: float(np.sqrt((a * a).mean()))
    print(f"positions {ref.shape[0]}, vocab {ref.shape[1]}")
    print(f"max |diff| {np.abs(d).max():.4f} (largest |logit| {np.abs(ref).max():.2f})")
    print(f"RMS diff {rms(d):.4f}, {rms(d) / rms(ref) * 100:.2f}% of the RMS logit")
    print(f"top-1 agreement {(ref.argmax(1) == other.argmax(1)).mean() * 100:.1f}%")
    p, q = log_softmax(ref), log_softmax(other)
    kl = (np.exp(p) * (p - q)).sum(axis=1)
    print(f"KL(reference || other) mean {kl.mean():.5f} nats, max {kl.max():.5f}")
    if len(argv) == 4:
        ids = [int(t) for t in open(argv[3]).read().split(",")]
        nxt = np.array(ids[1:ref.shape[0]])
        rows = np.arange(len(nxt))
        for name, lp in (("reference", p), ("other", q)):
            ce = -lp[rows, nxt].mean()
            print(f"{name}: cross-entropy {ce:.4f} nats/token (perplexity {np.exp(ce):.2f}) over {len(nxt)} tokens")


if __name__ == "__main__":
    main(sys.argv)
