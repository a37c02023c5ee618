"""Model -> native model.safetensors + config.json (docs/packing.md), then `mmb pack`."""
import json
import os
import struct
import subprocess

import numpy as np
import torch

from .model import PROJECTION_KEYS, MoEMamba


# safetensors dtype names of the tensors write_safetensors can keep as they are.
_KEPT_DTYPES = {torch.float32: ("F32", torch.float32), torch.float16: ("F16", torch.int16),
                torch.bfloat16: ("BF16", torch.int16)}


def _raw_bytes(t, keep_dtype):
    """(safetensors dtype, shape, little-endian bytes) of t: f32, or its own 16-bit type when kept."""
    t = t.detach().cpu()
    if not keep_dtype or t.dtype not in _KEPT_DTYPES:
        t = t.to(torch.float32)
    name, view = _KEPT_DTYPES[t.dtype]
    # numpy has no bfloat16: 16-bit values travel as their bit patterns.
    a = np.ascontiguousarray(t.contiguous().view(view).numpy())
    return name, list(t.shape), a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def write_safetensors(path, tensors, metadata=None, keep_dtype=False):
    """safetensors: u64 little-endian header length, JSON header, raw little-endian data.

    Tensors are written as f32, or with keep_dtype in their own dtype when it is f32,
    f16 or bf16 (a bf16 checkpoint stays bf16, bit for bit).
    """
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        dtype, shape, blob = _raw_bytes(t, keep_dtype)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


# Layer keys the native dialect reads (sdk/tools/lib/native_config.hpp).
_LAYER_KEYS = {
    "mamba": ("d_inner", "d_state", "d_conv", "dt_rank", "in_proj_bias", "conv_bias", "out_proj_bias"),
    "moe": ("n_experts", "top_k", "d_ff", "expert", "expert_bias", "router", "router_bias", "sel_bias", "renorm",
            "routed_scale", "n_shared", "shared_d_ff", "shared_expert", "shared_bias", "normalize_expert_output",
            "n_groups", "topk_groups"),
    "mlp": ("d_ff", "expert", "bias"),
    "mamba2": ("d_inner", "d_state", "d_conv", "n_heads", "n_groups", "norm_group_size", "gated_norm", "norm_eps",
               "in_proj_bias", "conv_bias", "out_proj_bias", "d_per_channel", "dt_min", "dt_max"),
    "attention": ("n_heads", "n_kv_heads", "head_dim", "rotary_dim", "rope_theta", "scale", "qkv_bias", "out_bias"),
}
# Top-level keys written only when they differ from the native default (as the native
# writer does), so that a model without them keeps the config.json it always had.
_MODEL_SCALARS = {"embedding_scale": 1.0, "residual_scale": 1.0, "logits_divisor": 1.0, "context_length": 0}
_PROJECTION_EXPERT_KEYS = ("n_experts", "top_k", "router", "router_bias", "sel_bias", "renorm", "routed_scale", "bias")


def _fields(kind, l):
    # None is "absent" (mamba2's dt_max: no upper limit; JSON has no infinity).
    out = {k: l[k] for k in _LAYER_KEYS[kind] if l[k] is not None}
    if kind == "mamba":
        for key in PROJECTION_KEYS.values():
            if key in l:
                out[key] = {k: l[key][k] for k in _PROJECTION_EXPERT_KEYS}
    return out


def _layer_json(l):
    if l["kind"] == "parallel":
        return {"kind": "parallel", "shared_norm": l["shared_norm"], "mamba": _fields("mamba", l["mamba"]),
                "moe": _fields("moe", l["moe"])}
    return dict({"kind": l["kind"]}, **_fields(l["kind"], l))


def native_config(model, metadata=None, tokenizer=None):
    c = model.config
    out = {k: c[k] for k in ("format", "d_model", "vocab_size", "norm", "final_norm", "norm_eps", "tie_embeddings")}
    out.update({k: c[k] for k, default in _MODEL_SCALARS.items() if c[k] != default})
    out["layers"] = [_layer_json(l) for l in c["layers"]]
    if tokenizer:
        out["tokenizer"] = tokenizer
    if metadata:
        out["metadata"] = {str(k): str(v) for k, v in metadata.items()}
    return out


def export(model, out_dir, metadata=None, tokenizer_json=None):
    """Writes out_dir/model.safetensors and config.json (and tokenizer.json if given)."""
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), model.state_dict())
    tok = None
    if tokenizer_json:
        tok = "tokenizer.json"
        with open(tokenizer_json, "rb") as src, open(os.path.join(out_dir, tok), "wb") as dst:
            dst.write(src.read())
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(native_config(model, metadata, tok), f, indent=1)


def pack(mmb, in_dir, out_path, dtype="f32", codec="none", extra=()):
    cmd = [mmb, "pack", in_dir, "-o", out_path, "--dtype", dtype, "--codec", codec, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return r.stdout


def load_checkpoint_model(path):
    ck = torch.load(path, map_location="cpu")
    model = MoEMamba(ck["config"])
    model.load_state_dict(ck["model"])
    return model, ck


def main():
    import argparse
    ap = argparse.ArgumentParser(description="Export a training checkpoint and pack it")
    ap.add_argument("checkpoint")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--mmb", required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--tokenizer")
    ap.add_argument("--dtype", default="bf16")
    ap.add_argument("--codec", default="shuffle-zstd")
    ap.add_argument("--meta", action="append", default=[])
    a = ap.parse_args()
    model, _ = load_checkpoint_model(a.checkpoint)
    meta = dict(m.split("=", 1) for m in a.meta)
    export(model, a.out_dir, meta, a.tokenizer)
    print(pack(a.mmb, a.out_dir, a.output, a.dtype, a.codec), end="")


if __name__ == "__main__":
    main()
