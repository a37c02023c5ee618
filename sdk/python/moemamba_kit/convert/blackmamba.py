"""Zyphra BlackMamba (the public MoE-Mamba checkpoints) -> the native dialect.

Layout (Zyphra/BlackMamba: mamba_model.py, mamba_block.py, mamba_layer.py, switch_mlp.py,
mlp.py): pytorch_model.bin = {"model": state dict}, bf16. config.json: num_layers,
hidden_size, state_size, conv_dimension, vocab_size, expansion_factor,
mamba_moe_layers, ffn_hidden_size, add_bias_linear, swiglu.
  embedding.word_embeddings.weight              head tied to it (output_layer is rebuilt from it)
  decoder.layers.N.norm.weight                  RMSNorm, eps 1e-5
  mamba_moe_layers[N] == "r": decoder.layers.N.mixer.{in_proj, conv1d, x_proj, dt_proj, A_log, D, out_proj}
      (in_proj/out_proj bias = add_bias_linear, dt_rank ceil(hidden/16), d_inner = expansion_factor * hidden)
  "r8": MambaBlockParallelMoe, r + mixer(norm(r)) + moe(norm_moe(r)): the Mamba tensors
      above, decoder.layers.N.norm_moe.weight and decoder.layers.N.moe.* as for "8"
  digits "8": decoder.layers.N.mixer.router.{weight, bias} (a Linear: the bias always exists),
      decoder.layers.N.mixer.local_experts.E.linear_fc1.weight [2F, H] (rows [0,F) go through
      gelu, rows [F,2F) multiply it), linear_fc2.weight [H, F]; routing: sigmoid of the router
      logits, top-1, output * the selected sigmoid value
  "1": a dense MLP, decoder.layers.N.mixer.linear_fc1 / linear_fc2
  decoder.final_layernorm.{weight, bias}        LayerNorm with bias
The MLP activation is F.gelu (exact erf) although the config key is named "swiglu":
with swiglu true the experts are GeGLU, else a plain gelu FFN.
"""
import math

from .errors import ConvertError
from .tensors import Tensors

FAMILY = "BlackMamba"
_REQUIRED = ("num_layers", "hidden_size", "state_size", "conv_dimension", "vocab_size", "expansion_factor",
             "mamba_moe_layers", "ffn_hidden_size")


def is_config(config):
    return "mamba_moe_layers" in config


def _layer_plan(config, source):
    plan = config["mamba_moe_layers"] or ["r"] * config["num_layers"]
    if not isinstance(plan, list) or len(plan) != config["num_layers"]:
        raise ConvertError(f"{source}: config.json \"mamba_moe_layers\" must list num_layers={config['num_layers']} "
                           f"entries (\"r\" or an expert count), got {plan!r}")
    for i, entry in enumerate(plan):
        count = entry[1:] if isinstance(entry, str) and entry.startswith("r") else entry
        if not (entry == "r" or (isinstance(count, str) and count.isdigit())):
            raise ConvertError(f"{source}: config.json \"mamba_moe_layers\"[{i}] = {entry!r}: expected \"r\" (Mamba), "
                               f"an expert count (\"8\"; \"1\" = dense MLP) or \"r\" + an expert count (parallel)")
        if entry.startswith("r") and count == "1":
            raise ConvertError(f"{source}: config.json \"mamba_moe_layers\"[{i}] = \"r1\": a Mamba block with a "
                               f"parallel dense MLP is not supported (parallel MoE blocks, \"r8\", are)")
    return plan


def _feed_forward(t, prefix, d_model, d_ff, gated, bias):
    """fc1/fc2 of one BlackMamba MLP -> native w1 (gate), w3 (up), w2 tensors."""
    fc1 = t.take(prefix + "linear_fc1.weight", (2 * d_ff if gated else d_ff, d_model))
    out = {"w2.weight": t.take(prefix + "linear_fc2.weight", (d_model, d_ff))}
    fc1_bias = t.take(prefix + "linear_fc1.bias", (fc1.shape[0],)) if bias else None
    if gated:
        out["w1.weight"], out["w3.weight"] = fc1[:d_ff], fc1[d_ff:]
        if bias:
            out["w1.bias"], out["w3.bias"] = fc1_bias[:d_ff], fc1_bias[d_ff:]
    else:
        out["w1.weight"] = fc1
        if bias:
            out["w1.bias"] = fc1_bias
    if bias:
        out["w2.bias"] = t.take(prefix + "linear_fc2.bias", (d_model,))
    return out


def convert(state, config, source):
    missing = [k for k in _REQUIRED if k not in config]
    if missing:
        raise ConvertError(f"{source}: config.json lacks {', '.join(missing)} (a {FAMILY} config has "
                           f"{', '.join(_REQUIRED)}, add_bias_linear, swiglu)")
    H = int(config["hidden_size"])
    d_inner = int(config["expansion_factor"] * H)
    d_state, d_conv = int(config["state_size"]), int(config["conv_dimension"])
    dt_rank = math.ceil(H / 16)  # MambaConfig.dt_rank is "auto"; from_pretrained never overrides it
    d_ff = int(config["ffn_hidden_size"])
    bias = bool(config.get("add_bias_linear", True))
    gated = bool(config.get("swiglu", False))
    if not config.get("rms_norm", True):
        raise ConvertError(f"{source}: config.json \"rms_norm\": false is not supported ({FAMILY} blocks use RMSNorm)")
    expert = "geglu" if gated else "gelu"
    t = Tensors(state, FAMILY, source)

    embed = t.take("embedding.word_embeddings.weight")
    if embed.dim() != 2 or embed.shape[1] != H:
        raise ConvertError(f"{source}: \"embedding.word_embeddings.weight\" has shape {list(embed.shape)}, "
                           f"expected [vocab, {H}]")
    vocab = int(config["vocab_size"])
    if embed.shape[0] < vocab:
        raise ConvertError(f"{source}: the embedding has {embed.shape[0]} rows, fewer than vocab_size {vocab}")
    head = t.take_optional("output_layer.weight")
    if head is not None and not bool((head == embed).all()):
        raise ConvertError(f"{source}: \"output_layer.weight\" differs from the embedding; {FAMILY} ties them")
    if t.has("output_layer.bias"):
        raise ConvertError(f"{source}: \"output_layer.bias\": a head with bias is not supported")

    def mamba_part(t, p):
        shapes = {"in_proj.weight": (2 * d_inner, H), "conv1d.weight": (d_inner, 1, d_conv), "conv1d.bias": (d_inner,),
                  "x_proj.weight": (dt_rank + 2 * d_state, d_inner), "dt_proj.weight": (d_inner, dt_rank),
                  "dt_proj.bias": (d_inner,), "A_log": (d_inner, d_state), "D": (d_inner,),
                  "out_proj.weight": (H, d_inner)}
        if bias:
            shapes.update({"in_proj.bias": (2 * d_inner,), "out_proj.bias": (H,)})
        tensors = {name: t.take(p + name, shape) for name, shape in shapes.items()}
        return tensors, {"d_inner": d_inner, "d_state": d_state, "d_conv": d_conv, "dt_rank": dt_rank,
                         "in_proj_bias": bias, "conv_bias": True, "out_proj_bias": bias}

    def moe_part(t, p):
        n_experts = t.state.get(p + "router.weight", embed.new_empty(0, 0)).shape[0]
        # The router is an nn.Linear with bias: the bias shifts the sigmoid inputs, so
        # dropping it changes which expert wins.
        tensors = {"router.weight": t.take(p + "router.weight", (n_experts, H)),
                   "router.bias": t.take(p + "router.bias", (n_experts,))}
        for e in range(n_experts):
            for name, v in _feed_forward(t, f"{p}local_experts.{e}.", H, d_ff, gated, bias).items():
                tensors[f"experts.{e}.{name}"] = v
        return tensors, {"n_experts": n_experts, "top_k": 1, "d_ff": d_ff, "expert": expert, "expert_bias": bias,
                         "router": "sigmoid", "router_bias": True, "renorm": False, "routed_scale": 1.0}

    out = {"embed.weight": embed}
    layers = []
    for i, entry in enumerate(_layer_plan(config, source)):
        src, dst = f"decoder.layers.{i}.", f"layers.{i}."
        out[dst + "norm.weight"] = t.take(src + "norm.weight", (H,))
        mixer = src + "mixer."
        if entry.startswith("r"):
            tensors, mamba_layer = mamba_part(t, mixer)
            out.update({dst + "mamba." + k: v for k, v in tensors.items()})
            if entry == "r":
                layers.append(dict(mamba_layer, kind="mamba"))
                continue
            # MambaBlockParallelMoe: r + mixer(norm(r)) + moe(norm_moe(r))
            out[dst + "norm_moe.weight"] = t.take(src + "norm_moe.weight", (H,))
            tensors, moe_layer = moe_part(t, src + "moe.")
            out.update({dst + "moe." + k: v for k, v in tensors.items()})
            layers.append({"kind": "parallel", "shared_norm": False, "mamba": mamba_layer, "moe": moe_layer})
        elif entry == "1":
            for name, v in _feed_forward(t, mixer, H, d_ff, gated, bias).items():
                out[dst + "mlp." + name] = v
            layers.append({"kind": "mlp", "d_ff": d_ff, "expert": expert, "bias": bias})
        else:
            tensors, moe_layer = moe_part(t, mixer)
            out.update({dst + "moe." + k: v for k, v in tensors.items()})
            layers.append(dict(moe_layer, kind="moe"))
    out["norm_f.weight"] = t.take("decoder.final_layernorm.weight", (H,))
    out["norm_f.bias"] = t.take("decoder.final_layernorm.bias", (H,))
    t.check_all_taken()
    native = {"format": "moemamba", "d_model": H, "vocab_size": vocab, "norm": "rms", "final_norm": "layer",
              "norm_eps": float(config.get("layernorm_epsilon", 1e-5)), "tie_embeddings": True, "layers": layers}
    return out, native
