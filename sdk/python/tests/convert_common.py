"""What the checkpoint-converter tests share: the Mamba-1 mixer every family uses (as
mamba_ssm's Mamba writes it: same parameter names, full-sequence causal conv1d, then the
selective scan token by token), random weights that make every tensor matter, and the
trip through `mmb convert` + `mmb logits`.

The forwards here are written from each family's own code and run in float64; they do
not use moemamba_kit.model. Tolerance: |reference_f64 - library_f32| <= 5e-5 *
max(1, max|logit|) per logit: the library computes in f32 (weights given to it are
exactly the reference's: f32 checkpoints are rounded to f32 before the reference runs,
bf16 ones are compared on the same bf16 values), so only f32 accumulation rounding
over a few layers separates them (observed ~1e-6). A wrong mapping (the pitfalls
below) moves logits by far more than that: each pitfall test checks that it does.
"""
import json
import math
import os
import subprocess
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from random_weights import randomize  # noqa: F401  (the family tests call cc.randomize)

TOLERANCE = 5e-5
MMB = os.environ.get("MMB_CLI", "")


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.eps) * self.weight


class Mamba1Mixer(nn.Module):
    """mamba_ssm's Mamba (and HF's MambaMixer, BlackMamba's MambaLayer): same names/shapes."""

    def __init__(self, d_model, d_inner, d_state, d_conv, dt_rank, bias=False, conv_bias=True):
        super().__init__()
        self.d_inner, self.d_state, self.dt_rank = d_inner, d_state, dt_rank
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=bias)
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1, bias=conv_bias)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        self.A_log = nn.Parameter(torch.zeros(d_inner, d_state))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=bias)

    def forward(self, h):  # h: [L, d_model]
        L = h.shape[0]
        x, z = self.in_proj(h).chunk(2, dim=-1)
        x = F.silu(self.conv1d(x.t().unsqueeze(0))[0, :, :L].t())  # causal: keep the first L outputs
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt))
        A = -torch.exp(self.A_log)
        s = torch.zeros(self.d_inner, self.d_state, dtype=h.dtype)
        ys = []
        for t in range(L):
            s = s * torch.exp(dt[t, :, None] * A) + (dt[t] * x[t])[:, None] * B[t][None, :]
            ys.append(s @ C[t] + self.D * x[t])
        return self.out_proj(torch.stack(ys) * F.silu(z))


def tokens_for(vocab, n=24, seed=0):
    return torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(seed))


def write_config(directory, config):
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)


def mmb_convert(src, bundle, *extra, env=None):
    """Runs `mmb convert`; returns the CompletedProcess (check it yourself)."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([MMB, "convert", src, "-o", bundle, *extra], capture_output=True, text=True, env=full_env)


def library_logits(bundle, tokens):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "logits.npy")
        subprocess.run([MMB, "logits", bundle, "--tokens", ",".join(map(str, tokens.tolist())), "--out", out,
                        "--threads", "1", "--kv", "f32"], check=True, capture_output=True)
        return np.load(out).astype(np.float64)


def convert_and_run(test, src, tokens, *extra):
    """mmb convert SRC, then mmb logits: the library's [n_tokens, vocab] logits."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle = os.path.join(tmp, "m.mmb")
        r = mmb_convert(src, bundle, *extra)
        test.assertEqual(r.returncode, 0, f"mmb convert failed: {r.stderr.strip()}")
        return library_logits(bundle, tokens)


def assert_matches(test, got, expected, name, tolerance=None):
    """tolerance: per logit, relative to max(1, max|logit|); None: TOLERANCE."""
    tolerance = TOLERANCE if tolerance is None else tolerance
    expected = np.asarray(expected, dtype=np.float64)
    test.assertEqual(got.shape, expected.shape, f"{name}: logits shape")
    err = np.abs(got - expected).max()
    scale = max(1.0, np.abs(expected).max())
    print(f"{name}: max |reference - library| = {err:.3g} (max |logit| {np.abs(expected).max():.3g})")
    test.assertLessEqual(err, tolerance * scale, name)
    test.assertGreater(np.abs(expected).max(), 0.1, f"{name}: trivial logits prove little")


def assert_sensitive(test, right, wrong, what):
    """The checkpoint is built so that getting `what` wrong moves the logits far beyond
    the tolerance: a converter making that mistake fails assert_matches."""
    right, wrong = np.asarray(right, dtype=np.float64), np.asarray(wrong, dtype=np.float64)
    diff = np.abs(right - wrong).max()
    print(f"  {what}: done wrong moves logits by {diff:.3g}")
    test.assertGreater(diff, 100 * TOLERANCE * max(1.0, np.abs(right).max()), what)


def setup_mmb(argv):
    global MMB
    if len(argv) > 1:
        MMB = argv.pop(1)
    if not os.path.exists(MMB):
        raise SystemExit(f"usage: {argv[0]} PATH_TO_MMB (got {MMB!r})")
    return MMB


def dt_rank_auto(d_model):
    return math.ceil(d_model / 16)


# numpy float64 pieces for the forwards written from each family's code
# (test_convert_mamba2.py, test_convert_falcon_mamba.py).

def np_silu(x):
    return x / (1.0 + np.exp(-x))


def np_softplus(x):
    return np.logaddexp(0.0, x)


def np_rms(x, eps, weight=None):
    """x / sqrt(mean(x^2) + eps) over the last axis, times weight when given."""
    y = x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)
    return y if weight is None else y * weight


def np_causal_conv(xs, weight, bias):
    """Depthwise causal conv1d as nn.Conv1d(C, C, K, groups=C, padding=K-1)[..., :L]:
    xs [L, C], weight [C, 1, K] (tap K-1 multiplies the newest input), bias [C] or None."""
    L, K = xs.shape[0], weight.shape[2]
    padded = np.concatenate([np.zeros((K - 1, xs.shape[1])), xs])
    out = sum(padded[k:k + L] * weight[:, 0, k] for k in range(K))
    return out if bias is None else out + bias


def np_random(shape, rng, scale=None):
    """f32-representable float64 values (what the library is given), ~N(0, 1/fan_in)."""
    fan_in = shape[-1] if len(shape) > 1 else 1
    s = fan_in ** -0.5 if scale is None else scale
    return (rng.standard_normal(shape) * s).astype(np.float32).astype(np.float64)


def save_safetensors(path, arrays):
    """numpy arrays -> an f32 safetensors file, as transformers' save_pretrained writes it."""
    from moemamba_kit.export import write_safetensors
    write_safetensors(path, {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in arrays.items()})


def save_sharded_safetensors(directory, arrays, n_shards=2):
    """model-0000K-of-0000N.safetensors + model.safetensors.index.json, as transformers shards."""
    names = sorted(arrays)
    weight_map = {}
    for k in range(n_shards):
        shard = f"model-{k + 1:05d}-of-{n_shards:05d}.safetensors"
        part = {n: arrays[n] for n in names[k::n_shards]}
        save_safetensors(os.path.join(directory, shard), part)
        weight_map.update({n: shard for n in part})
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)


def save_hf(directory, arrays, config, tied=False, shards=1):
    """arrays and config.json as transformers' save_pretrained writes them: a tied head
    (lm_head.weight) left out, model.safetensors or `shards` shards with their index."""
    arrays = {k: v for k, v in arrays.items() if not (tied and k == "lm_head.weight")}
    if shards > 1:
        save_sharded_safetensors(directory, arrays, n_shards=shards)
    else:
        save_safetensors(os.path.join(directory, "model.safetensors"), arrays)
    write_config(directory, config)


def np_mamba1_mixer(h, w, m, d_inner, d_state, dt_rank, dt_bc_norm=None):
    """Hugging Face's MambaMixer (Mamba-1) over h [L, d_model] in float64, with the weights
    w[m + "in_proj.weight"] etc. (biases used when present): in_proj -> [x | z], causal
    conv1d and silu on x, x_proj -> [time_step | B | C], then dt_bc_norm(time_step, B, C)
    -> (time_step, B, C) when given (Falcon-Mamba's and Jamba's RMSNorms), softplus(dt_proj),
    the selective scan token by token, y * silu(z) and out_proj."""
    L, di, N, R = h.shape[0], d_inner, d_state, dt_rank
    xz = h @ w[m + "in_proj.weight"].T + w.get(m + "in_proj.bias", 0.0)
    x, z = xz[:, :di], xz[:, di:]
    x = np_silu(np_causal_conv(x, w[m + "conv1d.weight"], w.get(m + "conv1d.bias")))
    dbc = x @ w[m + "x_proj.weight"].T
    time_step, B, C = dbc[:, :R], dbc[:, R:R + N], dbc[:, R + N:]
    if dt_bc_norm is not None:
        time_step, B, C = dt_bc_norm(time_step, B, C)
    dt = np_softplus(time_step @ w[m + "dt_proj.weight"].T + w[m + "dt_proj.bias"])
    A = -np.exp(w[m + "A_log"])
    state = np.zeros((di, N))
    ys = []
    for t in range(L):
        state = state * np.exp(dt[t][:, None] * A) + (dt[t] * x[t])[:, None] * B[t][None, :]
        ys.append(state @ C[t] + w[m + "D"] * x[t])
    y = np.stack(ys) * np_silu(z)
    return y @ w[m + "out_proj.weight"].T + w.get(m + "out_proj.bias", 0.0)


def np_backbone_forward(w, s, tokens, mixer, embedding="backbone.embeddings.weight"):
    """A Hugging Face Mamba-family backbone in float64: r = r + mixer(rmsnorm(r)) per
    layer (mixer(h, w, s, prefix)), then norm_f and the head (tied: the embedding)."""
    emb = w[embedding]
    r = emb[tokens.numpy()]
    for i in range(s["n_layer"]):
        p = f"backbone.layers.{i}."
        r = r + mixer(np_rms(r, s["eps"], w[p + "norm.weight"]), w, s, p + "mixer.")
    r = np_rms(r, s["eps"], w["backbone.norm_f.weight"])
    return r @ (emb if s["tied"] else w["lm_head.weight"]).T


def with_changes(settings, **changes):
    """A copy of a test's settings with some changed (a deliberately wrong reading)."""
    out = dict(settings)
    out.update(changes)
    return out

