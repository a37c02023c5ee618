"""llm-random's MoE-Mamba (the MoE-Mamba paper's trainer) -> the native dialect.

Layout (llm-random/llm-random: lizrd/core/llm.py, research/conditional/moe_layers/
token_choice.py, moe_gating.py, expert_types.py): "{step}.pt" = {"model": state dict,
...}; no config.json, every size follows from the shapes.
  embedding_layer.layers.0.weight [V, d]                 token embedding
  encoder.blocks.block_N.block.residual_NAME.layer.pre_norm.{weight, bias}   LayerNorm
  encoder.blocks.block_N.block.residual_NAME.layer.NAME.*  the sublayer, one of
    a mamba_ssm Mamba: {in_proj, conv1d, x_proj, dt_proj, out_proj}.*, A_log, D
    a token-choice MoE: gating.gate [d, E] (x @ gate, softmax over experts, top-1, output
      times that probability, no renormalization), expert_inner_function.lin1_weight
      [E, d, F] and lin2_weight [E, F, d] stored [in, out]; ReLU, or with gate_weight
      [E, d, F] the gated form silu(x @ gate_weight) * (x @ lin1)
    a dense FFN: logging_ff_pre_relu / logging_ff_post_relu Linear (+ bias), ReLU
  head.weight [V, d]                                      untied head; no final norm
Wrappers may add "module." or "_fsdp_wrapped_module." to the names (stripped before).
"""
import re

from .errors import ConvertError
from .tensors import Tensors

FAMILY = "llm-random"
_BLOCK = re.compile(r"^encoder\.blocks\.block_(\d+)\.block\.residual_([^.]+)\.layer\.")
_MAMBA_NAMES = ("in_proj.weight", "in_proj.bias", "conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight",
                "dt_proj.bias", "A_log", "D", "out_proj.weight", "out_proj.bias")


def is_state(state):
    return "embedding_layer.layers.0.weight" in state or any(_BLOCK.match(k) for k in state)


def _sublayers(state):
    """[(prefix, name)] in model order: blocks by number, sublayers in the order of the
    state dict (an OrderedDict in module registration order, i.e. forward order)."""
    seen, order = set(), []
    for key in state:
        m = _BLOCK.match(key)
        if m and (int(m.group(1)), m.group(2)) not in seen:
            seen.add((int(m.group(1)), m.group(2)))
            order.append((int(m.group(1)), len(order), m.group(0), m.group(2)))
    return [(prefix, name) for _, _, prefix, name in sorted(order)]


def _mamba(t, p, d_model):
    in_proj = t.take(p + "in_proj.weight")
    d_inner = in_proj.shape[0] // 2
    if in_proj.shape != (2 * d_inner, d_model):
        raise ConvertError(f"{t.source}: \"{p}in_proj.weight\" has shape {list(in_proj.shape)}, expected [2*d_inner, {d_model}]")
    A_log = t.take(p + "A_log")
    conv = t.take(p + "conv1d.weight")
    dt_w = t.take(p + "dt_proj.weight")
    d_state, d_conv, dt_rank = A_log.shape[1], conv.shape[-1], dt_w.shape[1]
    out = {"in_proj.weight": in_proj, "A_log": A_log, "conv1d.weight": conv, "dt_proj.weight": dt_w}
    expect = {"conv1d.weight": (d_inner, 1, d_conv), "A_log": (d_inner, d_state), "dt_proj.weight": (d_inner, dt_rank)}
    for name, shape in expect.items():
        if tuple(out[name].shape) != shape:
            raise ConvertError(f"{t.source}: \"{p}{name}\" has shape {list(out[name].shape)}, expected {list(shape)}")
    shapes = {"x_proj.weight": (dt_rank + 2 * d_state, d_inner), "dt_proj.bias": (d_inner,), "D": (d_inner,),
              "out_proj.weight": (d_model, d_inner)}
    for name, shape in shapes.items():
        out[name] = t.take(p + name, shape)
    optional = {"in_proj.bias": (2 * d_inner,), "conv1d.bias": (d_inner,), "out_proj.bias": (d_model,)}
    for name, shape in optional.items():
        v = t.take_optional(p + name, shape)
        if v is not None:
            out[name] = v
    layer = {"kind": "mamba", "d_inner": d_inner, "d_state": d_state, "d_conv": d_conv, "dt_rank": dt_rank,
             "in_proj_bias": "in_proj.bias" in out, "conv_bias": "conv1d.bias" in out,
             "out_proj_bias": "out_proj.bias" in out}
    return {"mamba." + k: v for k, v in out.items()}, layer


def _moe(t, p, d_model):
    gate_name = next((p + n for n in ("gating.gate", "router.gate") if t.has(p + n)), p + "gating.gate")
    gate = t.take(gate_name)
    if gate.dim() != 2 or gate.shape[0] != d_model:
        raise ConvertError(f"{t.source}: \"{gate_name}\" has shape {list(gate.shape)}, expected [{d_model}, n_experts]")
    E = gate.shape[1]
    inner = p + "expert_inner_function." if t.has(p + "expert_inner_function.lin1_weight") else p
    lin1 = t.take(inner + "lin1_weight")
    d_ff = lin1.shape[-1]
    if tuple(lin1.shape) != (E, d_model, d_ff):
        raise ConvertError(f"{t.source}: \"{inner}lin1_weight\" has shape {list(lin1.shape)}, expected [{E}, {d_model}, d_ff]")
    lin2 = t.take(inner + "lin2_weight", (E, d_ff, d_model))
    gated = t.take_optional(inner + "gate_weight", (E, d_model, d_ff))
    # native experts are nn.Linear-shaped [out, in]; llm-random stores [in, out]
    out = {"moe.router.weight": gate.t()}
    for e in range(E):
        x = f"moe.experts.{e}."
        if gated is None:
            out[x + "w1.weight"] = lin1[e].t()
        else:
            out[x + "w1.weight"], out[x + "w3.weight"] = gated[e].t(), lin1[e].t()
        out[x + "w2.weight"] = lin2[e].t()
    layer = {"kind": "moe", "n_experts": E, "top_k": 1, "d_ff": d_ff, "expert": "relu" if gated is None else "swiglu",
             "router": "softmax", "router_bias": False, "renorm": False, "routed_scale": 1.0}
    return out, layer


def _dense(t, p, d_model):
    w1 = t.take(p + "logging_ff_pre_relu.weight")
    d_ff = w1.shape[0]
    out = {"mlp.w1.weight": w1, "mlp.w2.weight": t.take(p + "logging_ff_post_relu.weight", (d_model, d_ff))}
    b1 = t.take_optional(p + "logging_ff_pre_relu.bias", (d_ff,))
    b2 = t.take_optional(p + "logging_ff_post_relu.bias", (d_model,))
    if (b1 is None) != (b2 is None):
        raise ConvertError(f"{t.source}: \"{p}\": a feed-forward with only one of its two biases is not supported")
    if b1 is not None:
        out["mlp.w1.bias"], out["mlp.w2.bias"] = b1, b2
    return out, {"kind": "mlp", "d_ff": d_ff, "expert": "relu", "bias": b1 is not None}


def convert(state, source):
    t = Tensors(state, FAMILY, source)
    embed = t.take("embedding_layer.layers.0.weight")
    vocab, d_model = embed.shape
    if any(k.startswith("embedding_layer.layers.1.") for k in t.state):
        raise ConvertError(f"{source}: \"embedding_layer.layers.1\" (a positional embedding) is not supported: "
                           f"Mamba models have none")
    out = {"embed.weight": embed}
    layers = []
    sublayers = _sublayers(t.state)
    if not sublayers:
        raise ConvertError(f"{source}: no \"encoder.blocks.block_N.block.residual_NAME.layer.*\" tensors: "
                           f"expected the blocks of an llm-random model")
    for i, (prefix, name) in enumerate(sublayers):
        if t.has(prefix + "pre_norm.g"):
            raise ConvertError(f"{source}: \"{prefix}pre_norm.g\": llm-random's RMSNorm (with its additive bias b) "
                               f"is not supported; the LayerNorm pre-norm is")
        out[f"layers.{i}.norm.weight"] = t.take(prefix + "pre_norm.weight", (d_model,))
        out[f"layers.{i}.norm.bias"] = t.take(prefix + "pre_norm.bias", (d_model,))
        p = prefix + name + "."
        if t.has(p + "A_log"):
            tensors, layer = _mamba(t, p, d_model)
        elif any(t.has(p + n) for n in ("gating.gate", "router.gate")):
            tensors, layer = _moe(t, p, d_model)
        elif t.has(p + "logging_ff_pre_relu.weight"):
            tensors, layer = _dense(t, p, d_model)
        else:
            found = sorted(k[len(p):] for k in t.state if k.startswith(p))[:8]
            raise ConvertError(f"{source}: sublayer \"{p[:-1]}\" is neither a Mamba (A_log), a token-choice MoE "
                               f"(gating.gate) nor a feed-forward (logging_ff_pre_relu); it holds {found}")
        out.update({f"layers.{i}.{k}": v for k, v in tensors.items()})
        layers.append(layer)
    out["lm_head.weight"] = t.take("head.weight", (vocab, d_model))
    if t.has("head.bias"):
        raise ConvertError(f"{source}: \"head.bias\": a head with bias is not supported")
    t.check_all_taken()
    native = {"format": "moemamba", "d_model": d_model, "vocab_size": vocab, "norm": "layer", "final_norm": "none",
              "norm_eps": 1e-5, "tie_embeddings": False, "layers": layers}
    return out, native
