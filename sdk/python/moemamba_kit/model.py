"""The MoE-Mamba model of DESIGN.md section 5 in PyTorch.

The model is built from a native-dialect config dict (docs/packing.md), and its
state_dict names are the native tensor names, so export is a straight copy.
Training-only routing options (capacity factor, noise, auxiliary losses) live in
RoutingOptions; with the defaults the forward pass is the inference math.
"""
import functools
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .scan import selective_scan_chunked, ssd_chunked

EXPERT_ACTS = ("relu", "gelu", "gelu_tanh", "silu", "swiglu", "geglu", "relu2")


# A Mamba layer's projections that may be routed mixtures of linear experts, and the
# config key of each (docs/packing.md).
PROJECTION_KEYS = {"x_proj_in": "x_proj_experts", "z_proj_in": "z_proj_experts", "out_proj": "out_proj_experts"}


def _router_defaults(l):
    l.setdefault("top_k", 1)
    l.setdefault("router", "softmax")
    l.setdefault("router_bias", False)
    l.setdefault("sel_bias", False)
    l.setdefault("renorm", False)
    l.setdefault("routed_scale", 1.0)
    return l


def _mamba_defaults(layer, d):
    l = dict(layer)
    l.setdefault("d_inner", 2 * d)
    l.setdefault("d_state", 16)
    l.setdefault("d_conv", 4)
    if l.get("dt_rank", "auto") == "auto":
        l["dt_rank"] = math.ceil(d / 16)
    l.setdefault("in_proj_bias", False)
    l.setdefault("conv_bias", True)
    l.setdefault("out_proj_bias", False)
    for key in PROJECTION_KEYS.values():
        if l.get(key) is not None:
            l[key] = _router_defaults(dict(l[key]))
            l[key].setdefault("bias", False)
        else:
            l.pop(key, None)
    return l


def _mamba2_defaults(layer, d):
    l = dict(layer)
    if "n_heads" not in l:
        raise ValueError("a mamba2 layer needs n_heads")
    l.setdefault("d_inner", 2 * d)
    l.setdefault("d_state", 128)
    l.setdefault("d_conv", 4)
    l.setdefault("n_groups", 1)
    l.setdefault("norm_group_size", 0)  # 0: d_inner / n_groups
    l.setdefault("gated_norm", True)
    l.setdefault("norm_eps", 1e-5)
    l.setdefault("in_proj_bias", False)
    l.setdefault("conv_bias", True)
    l.setdefault("out_proj_bias", False)
    l.setdefault("d_per_channel", False)
    l.setdefault("dt_min", 0.0)
    l.setdefault("dt_max", None)  # None: no upper limit
    if l["d_inner"] % l["n_heads"] or l["n_heads"] % l["n_groups"]:
        raise ValueError("mamba2: n_heads must divide d_inner and n_groups must divide n_heads")
    if l["d_inner"] % (l["norm_group_size"] or l["d_inner"] // l["n_groups"]):
        raise ValueError("mamba2: norm_group_size must divide d_inner")
    return l


def _moe_defaults(layer):
    l = _router_defaults(dict(layer))
    l.setdefault("expert_bias", False)
    l.setdefault("n_shared", 0)
    l.setdefault("shared_d_ff", l["d_ff"])
    l.setdefault("shared_expert", l["expert"])
    l.setdefault("shared_bias", l["expert_bias"])
    l.setdefault("normalize_expert_output", False)
    l.setdefault("n_groups", 1)
    l.setdefault("topk_groups", 1)
    E, G = l["n_experts"], l["n_groups"]
    if E % G or (G > 1 and E // G < 2):
        raise ValueError("moe: n_groups must divide n_experts and leave at least 2 experts per group")
    if l["topk_groups"] * (E // G) < l["top_k"]:
        raise ValueError("moe: the topk_groups groups hold fewer than top_k experts")
    return l


def _attention_defaults(layer, d):
    l = dict(layer)
    if "n_heads" not in l:
        raise ValueError("an attention layer needs n_heads")
    l.setdefault("n_kv_heads", l["n_heads"])
    l.setdefault("head_dim", d // l["n_heads"])
    l.setdefault("rotary_dim", 0)
    l.setdefault("rope_theta", 10000.0)
    l.setdefault("scale", 0.0)  # 0: 1/sqrt(head_dim)
    l.setdefault("qkv_bias", False)
    l.setdefault("out_bias", False)
    if l["n_heads"] % l["n_kv_heads"]:
        raise ValueError("attention: n_kv_heads must divide n_heads")
    if l["rotary_dim"] % 2 or l["rotary_dim"] > l["head_dim"]:
        raise ValueError("attention: rotary_dim must be even and at most head_dim")
    return l


def _expand_pattern(lp):
    """layer_pattern -> the list of layers: `pattern` is a list of layers, or a string of
    symbols each naming a layer of `symbols` (e.g. "MEME*EME" with M, E and * defined
    there); the whole pattern `repeat` times (default 1)."""
    pattern = lp["pattern"]
    if isinstance(pattern, str):
        symbols = lp.get("symbols", {})
        unknown = sorted(set(pattern) - set(symbols))
        if unknown:
            raise ValueError(f"layer_pattern: symbols {unknown} are not in layer_pattern.symbols")
        pattern = [symbols[ch] for ch in pattern]
    return [dict(l) for _ in range(lp.get("repeat", 1)) for l in pattern]


def full_config(config):
    """The config with every default filled in (the native dialect's defaults)."""
    c = dict(config)
    c.setdefault("format", "moemamba")
    c.setdefault("norm", "rms")
    c.setdefault("final_norm", c["norm"])
    c.setdefault("norm_eps", 1e-5)
    c.setdefault("tie_embeddings", True)
    c.setdefault("embedding_scale", 1.0)  # residual starts as embed[token] * embedding_scale
    c.setdefault("residual_scale", 1.0)  # r += residual_scale * layer(norm(r))
    c.setdefault("logits_divisor", 1.0)  # logits = head(norm_f(r)) / logits_divisor
    c.setdefault("context_length", 0)  # trained context, the native sessions' default (0: 4096)
    if "layer_pattern" in c:
        c["layers"] = _expand_pattern(c.pop("layer_pattern"))
    d = c["d_model"]
    layers = []
    for layer in c["layers"]:
        kind = layer["kind"]
        if kind == "mamba":
            l = _mamba_defaults(layer, d)
        elif kind == "mamba2":
            l = _mamba2_defaults(layer, d)
        elif kind == "attention":
            l = _attention_defaults(layer, d)
        elif kind == "moe":
            l = _moe_defaults(layer)
        elif kind == "mlp":
            l = dict(layer)
            l.setdefault("bias", False)
        elif kind == "parallel":
            for part in ("mamba", "moe"):
                if part not in layer:
                    raise ValueError(f"a parallel layer needs its {part!r} part")
            l = {"kind": "parallel", "shared_norm": layer.get("shared_norm", False),
                 "mamba": _mamba_defaults(layer["mamba"], d), "moe": _moe_defaults(layer["moe"])}
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
        layers.append(l)
    c["layers"] = layers
    return c


@dataclass
class RoutingOptions:
    """Training-time routing; the defaults are inference (every token to its top-k)."""
    capacity_factor: float = 0.0  # 0: no capacity limit
    noise_std: float = 0.0  # std of Gaussian noise added to router logits
    z_loss: float = 0.0  # weight of the router z-loss


class Norm(nn.Module):
    def __init__(self, kind, d, eps):
        super().__init__()
        self.kind, self.eps = kind, eps
        self.weight = nn.Parameter(torch.ones(d))
        if kind == "layer":
            self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        if self.kind == "rms":
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)


class Mamba(nn.Module):
    """A Mamba block; x_proj_in, z_proj_in (the halves of in_proj) and out_proj may each be
    a RoutedLinear. While neither half of in_proj is routed it is one tensor, as in every
    Mamba checkpoint; otherwise each half has its own names (docs/bundle-format.md)."""

    def __init__(self, d_model, l):
        super().__init__()
        di, ds, r = l["d_inner"], l["d_state"], l["dt_rank"]
        self.d_inner, self.d_state, self.dt_rank, self.d_conv = di, ds, r, l["d_conv"]
        routed = {p: l.get(key) for p, key in PROJECTION_KEYS.items()}
        if routed["out_proj"] and l["out_proj_bias"]:
            raise ValueError("out_proj_bias is set but out_proj is routed (use out_proj_experts.bias)")
        if routed["x_proj_in"] and routed["z_proj_in"] and l["in_proj_bias"]:
            raise ValueError("in_proj_bias is set but both halves of in_proj are routed (use the experts' bias)")
        if routed["x_proj_in"] or routed["z_proj_in"]:
            self.x_proj_in = projection(d_model, di, l["in_proj_bias"], routed["x_proj_in"])
            self.z_proj_in = projection(d_model, di, l["in_proj_bias"], routed["z_proj_in"])
        else:
            self.in_proj = nn.Linear(d_model, 2 * di, bias=l["in_proj_bias"])
        self.conv1d = nn.Conv1d(di, di, l["d_conv"], groups=di, padding=l["d_conv"] - 1, bias=l["conv_bias"])
        self.x_proj = nn.Linear(di, r + 2 * ds, bias=False)
        self.dt_proj = nn.Linear(r, di, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, ds + 1, dtype=torch.float32)).repeat(di, 1))
        self.D = nn.Parameter(torch.ones(di))
        self.out_proj = projection(di, d_model, l["out_proj_bias"], routed["out_proj"])
        # Mamba's dt initialisation: softplus(bias) log-uniform in [1e-3, 1e-1].
        dt = torch.exp(torch.rand(di) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            nn.init.uniform_(self.dt_proj.weight, -r ** -0.5, r ** -0.5)

    def forward(self, h, scan=selective_scan_chunked):
        L = h.shape[1]
        if hasattr(self, "in_proj"):
            x, z = self.in_proj(h).chunk(2, dim=-1)
        else:
            x, z = self.x_proj_in(h), self.z_proj_in(h)
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :L].transpose(1, 2))
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt))
        A = -torch.exp(self.A_log)
        y = scan(x, dt, A, B, C)
        y = (y + self.D * x) * F.silu(z)
        return self.out_proj(y)


class Mamba2(nn.Module):
    """A Mamba-2 (SSD) block, as mamba_ssm's Mamba2: in_proj rows [z | xBC | dt] with
    xBC = [x | B | C]; causal depthwise conv + SiLU over xBC; H heads of P channels with a
    scalar decay each, B and C per group of H / G heads; y * silu(z) RMS-normalised per
    group of norm_group_size channels times norm.weight; out_proj. Training uses the
    chunked SSD form (scan.ssd_chunked), which equals the per-token recurrence."""

    def __init__(self, d_model, l):
        super().__init__()
        di, N, H, G = l["d_inner"], l["d_state"], l["n_heads"], l["n_groups"]
        self.d_inner, self.d_state, self.n_heads, self.n_groups = di, N, H, G
        self.norm_group = l["norm_group_size"] or di // G
        self.gated_norm, self.eps = l["gated_norm"], l["norm_eps"]
        self.dt_min, self.dt_max = l["dt_min"], l["dt_max"]
        # The scan: the chunked SSD form with chunks of 64 (any length gives the same
        # result; 64 is the fastest at training length 128 on CPU); tests swap in the recurrence.
        self.ssd = functools.partial(ssd_chunked, chunk=64)
        conv_ch = di + 2 * G * N
        self.in_proj = nn.Linear(d_model, 2 * di + 2 * G * N + H, bias=l["in_proj_bias"])
        self.conv1d = nn.Conv1d(conv_ch, conv_ch, l["d_conv"], groups=conv_ch, padding=l["d_conv"] - 1,
                                bias=l["conv_bias"])
        # mamba_ssm's initialisation: softplus(dt_bias) log-uniform in [1e-3, 1e-1], A in [1, 16].
        dt = torch.exp(torch.rand(H) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.empty(H).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(di if l["d_per_channel"] else H))
        if self.gated_norm:
            self.norm = nn.Module()
            self.norm.weight = nn.Parameter(torch.ones(di))
        self.out_proj = nn.Linear(di, d_model, bias=l["out_proj_bias"])

    def forward(self, h):
        b, L, _ = h.shape
        di, N, H, G = self.d_inner, self.d_state, self.n_heads, self.n_groups
        z, xBC, dt = self.in_proj(h).split([di, di + 2 * G * N, H], dim=-1)
        xBC = F.silu(self.conv1d(xBC.transpose(1, 2))[..., :L].transpose(1, 2))
        x, B, C = xBC.split([di, G * N, G * N], dim=-1)
        dt = F.softplus(dt + self.dt_bias).clamp(self.dt_min, self.dt_max)
        A = -torch.exp(self.A_log)
        xh = x.reshape(b, L, H, di // H)
        B, C = B.reshape(b, L, G, N), C.reshape(b, L, G, N)
        y = self.ssd(xh, dt, A, B, C)
        D = self.D.reshape(H, -1) if self.D.numel() == di else self.D[:, None]
        y = (y + D * xh).reshape(b, L, di) * F.silu(z)
        if self.gated_norm:
            g = y.reshape(b, L, di // self.norm_group, self.norm_group)
            y = (g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + self.eps)).reshape(b, L, di) * self.norm.weight
        return self.out_proj(y)


def rope_angles(length, rotary_dim, theta):
    """[length, rotary_dim / 2] angles position * inv_freq, inv_freq[i] = theta^(-2i/rotary_dim),
    in float32 as the native library (and the families it runs) computes them, so that
    long positions round alike."""
    i = torch.arange(0, rotary_dim, 2, dtype=torch.float64)
    inv_freq = (1.0 / theta ** (i / rotary_dim)).float()
    return torch.arange(length, dtype=torch.float32)[:, None] * inv_freq


def rotate_half(x, cos, sin, rotary_dim):
    """Rotate-half (GPT-NeoX / Llama) RoPE on the first rotary_dim dims of x's last axis."""
    half = rotary_dim // 2
    x1, x2, rest = x[..., :half], x[..., half:rotary_dim], x[..., rotary_dim:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)


class Attention(nn.Module):
    """Causal grouped-query self-attention: H query heads, Hkv key/value heads (key/value
    head j serves query heads j*g .. j*g+g-1, g = H / Hkv), optional rotate-half RoPE on
    the first rotary_dim dims of each query and key head, softmax scale (0: 1/sqrt(head_dim)),
    optional q/k/v and o biases. A token at position t attends to positions 0..t of its
    sequence; positions start at 0 with each sequence, as a fresh native session's."""

    def __init__(self, d_model, l):
        super().__init__()
        H, Hkv, hd = l["n_heads"], l["n_kv_heads"], l["head_dim"]
        self.n_heads, self.n_kv_heads, self.head_dim = H, Hkv, hd
        self.rotary_dim, self.rope_theta = l["rotary_dim"], l["rope_theta"]
        self.scale = l["scale"] or hd ** -0.5
        self.q_proj = nn.Linear(d_model, H * hd, bias=l["qkv_bias"])
        self.k_proj = nn.Linear(d_model, Hkv * hd, bias=l["qkv_bias"])
        self.v_proj = nn.Linear(d_model, Hkv * hd, bias=l["qkv_bias"])
        self.o_proj = nn.Linear(H * hd, d_model, bias=l["out_bias"])

    def forward(self, h):
        b, L, _ = h.shape
        H, Hkv, hd = self.n_heads, self.n_kv_heads, self.head_dim
        q = self.q_proj(h).view(b, L, H, hd)
        k = self.k_proj(h).view(b, L, Hkv, hd)
        v = self.v_proj(h).view(b, L, Hkv, hd)
        if self.rotary_dim:
            angle = rope_angles(L, self.rotary_dim, self.rope_theta).to(h.device, h.dtype)[:, None, :]
            cos, sin = angle.cos(), angle.sin()
            q = rotate_half(q, cos, sin, self.rotary_dim)
            k = rotate_half(k, cos, sin, self.rotary_dim)
        # [b, Hkv, g, L, hd] queries against [b, Hkv, 1, L, hd] keys: each key/value head
        # broadcasts over its g query heads without a copy.
        q = q.view(b, L, Hkv, H // Hkv, hd).permute(0, 2, 3, 1, 4)
        k = k.permute(0, 2, 1, 3)[:, :, None]
        v = v.permute(0, 2, 1, 3)[:, :, None]
        scores = (q @ k.transpose(-1, -2)) * self.scale
        future = torch.ones(L, L, dtype=torch.bool, device=h.device).triu(1)
        y = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ v
        return self.o_proj(y.permute(0, 3, 1, 2, 4).reshape(b, L, H * hd))


def projection(d_in, d_out, bias, experts):
    """A plain nn.Linear, or a RoutedLinear when `experts` (the *_proj_experts table) is given."""
    if experts is None:
        return nn.Linear(d_in, d_out, bias=bias)
    return RoutedLinear(d_in, d_out, experts)


def expert_act(name, x):
    if name == "relu":
        return F.relu(x)
    if name == "relu2":  # not gated: relu(x)^2 (Nemotron-H, Primer)
        return F.relu(x).square()
    if name in ("gelu", "geglu"):
        return F.gelu(x)
    if name == "gelu_tanh":
        return F.gelu(x, approximate="tanh")
    return F.silu(x)


class FeedForward(nn.Module):
    """w2 act(w1 h + b1) [* (w3 h + b3)] + b2."""

    def __init__(self, d_model, d_ff, act, bias, init_scale=1.0):
        super().__init__()
        self.act = act
        self.w1 = nn.Linear(d_model, d_ff, bias=bias)
        self.w2 = nn.Linear(d_ff, d_model, bias=bias)
        if act in ("swiglu", "geglu"):
            self.w3 = nn.Linear(d_model, d_ff, bias=bias)
        if init_scale != 1.0:  # Switch: experts start small
            with torch.no_grad():
                for p in self.parameters():
                    p.mul_(init_scale)

    def forward(self, h):
        a = expert_act(self.act, self.w1(h))
        if hasattr(self, "w3"):
            a = a * self.w3(h)
        return self.w2(a)


class Router(nn.Module):
    def __init__(self, d_model, n_experts, bias, sel_bias):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_experts, d_model) * d_model ** -0.5 * 0.1)
        self.bias = nn.Parameter(torch.zeros(n_experts)) if bias else None
        # Selection-only bias: not trained by gradient (DeepSeek-V3 adjusts it by load).
        self.sel_bias = nn.Parameter(torch.zeros(n_experts), requires_grad=False) if sel_bias else None

    def forward(self, h):
        return F.linear(h, self.weight, self.bias)


def limit_to_groups(key, n_groups, topk_groups):
    """Group-limited selection (DeepSeek-V3, Nemotron-H): the experts are n_groups
    contiguous groups, each scored by the sum of its two largest keys; outside the
    topk_groups best groups (ties to the lower group) every key becomes 0, as the
    families' masked_fill(..., 0.0)."""
    n, E = key.shape
    grouped = key.view(n, n_groups, E // n_groups)
    score = grouped.topk(2, dim=-1).values.sum(-1)
    best = torch.sort(score, dim=-1, descending=True, stable=True).indices[:, :topk_groups]
    kept = torch.zeros_like(score, dtype=torch.bool).scatter_(1, best, True)
    return grouped.masked_fill(~kept[..., None], 0.0).reshape(n, E)


class Routed(nn.Module):
    """Top-k routing over experts, shared by MoE layers and routed projections: the
    inference math of DESIGN.md section 5 plus the training-time options (noise,
    capacity, load-balancing and z-loss)."""

    def __init__(self, d_in, l):
        super().__init__()
        self.l = l
        self.router = Router(d_in, l["n_experts"], l["router_bias"], l["sel_bias"])
        self.routing = RoutingOptions()
        self.aux_loss = None  # set by forward while training: load-balancing loss
        self.z_loss = None
        self.load = None  # per-expert fraction of routed assignments

    def mix(self, h, d_out, expert):
        """sum over each row's selected experts e of gate_e * expert(e, rows)."""
        l, E, k = self.l, self.l["n_experts"], self.l["top_k"]
        x = h.reshape(-1, h.shape[-1])
        n = x.shape[0]
        logits = self.router(x)
        if self.training and self.routing.noise_std > 0:
            logits = logits + torch.randn_like(logits) * self.routing.noise_std
        if l["router"] == "softmax":
            p = torch.softmax(logits, dim=-1)
        elif l["router"] == "sigmoid":
            p = torch.sigmoid(logits)
        else:
            p = F.relu(logits)
        key = (p if self.router.sel_bias is None else p + self.router.sel_bias).detach()
        if l.get("n_groups", 1) > 1:
            key = limit_to_groups(key, l["n_groups"], l["topk_groups"])
        # torch.topk has no tie rule; ties go to the lower index in the C library, so
        # sort stably by descending key.
        sel = torch.sort(key, dim=-1, descending=True, stable=True).indices[:, :k]
        gates = p.gather(1, sel)
        if l["renorm"]:
            s = gates.sum(-1, keepdim=True)
            gates = torch.where(s > 0, gates / torch.where(s > 0, s, torch.ones_like(s)), gates)
        gates = gates * l["routed_scale"]

        counts = torch.zeros(E, dtype=x.dtype, device=x.device).index_add_(
            0, sel.reshape(-1), torch.ones(n * k, dtype=x.dtype, device=x.device))
        self.load = (counts / (n * k)).detach()
        if self.training:
            probs = torch.softmax(logits, dim=-1)
            self.aux_loss = E * (self.load * probs.mean(0)).sum()
            self.z_loss = torch.logsumexp(logits, dim=-1).pow(2).mean() * self.routing.z_loss
        capacity = None
        if self.training and self.routing.capacity_factor > 0:
            capacity = max(1, math.ceil(self.routing.capacity_factor * n * k / E))

        out = x.new_zeros(n, d_out)
        flat_sel = sel.reshape(-1)
        flat_gate = gates.reshape(-1)
        token = torch.arange(n, device=x.device).repeat_interleave(k)
        for e in range(E):
            idx = (flat_sel == e).nonzero(as_tuple=True)[0]
            if capacity is not None:
                idx = idx[:capacity]  # overflowing tokens get nothing from this expert
            if idx.numel() == 0:
                continue
            rows = token[idx]
            out = out.index_add(0, rows, expert(e, x[rows]) * flat_gate[idx, None])
        return out, x

    def expert_params(self):
        """Parameters of one routed expert (all experts have the same shapes)."""
        return sum(p.numel() for p in self.experts[0].parameters())


class MoE(Routed):
    def __init__(self, d_model, l, eps, expert_init_scale=1.0):
        super().__init__(d_model, l)
        self.eps = eps
        self.experts = nn.ModuleList(
            FeedForward(d_model, l["d_ff"], l["expert"], l["expert_bias"], expert_init_scale)
            for _ in range(l["n_experts"]))
        self.shared = nn.ModuleList(
            FeedForward(d_model, l["shared_d_ff"], l["shared_expert"], l["shared_bias"])
            for _ in range(l["n_shared"]))

    def expert_output(self, e, x):
        y = self.experts[e](x)
        if self.l["normalize_expert_output"]:
            y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps)
        return y

    def forward(self, h):
        out, x = self.mix(h, h.shape[-1], self.expert_output)
        for s in self.shared:
            out = out + s(x)
        return out.reshape(h.shape)


class RoutedLinear(Routed):
    """A projection as a routed mixture of linear experts: sum over the selected j of
    gate_j * (W_j u + b_j), each W_j of the plain projection's shape [d_out, d_in]."""

    def __init__(self, d_in, d_out, l):
        super().__init__(d_in, l)
        self.d_out = d_out
        self.experts = nn.ModuleList(nn.Linear(d_in, d_out, bias=l["bias"]) for _ in range(l["n_experts"]))

    def forward(self, h):
        out, _ = self.mix(h, self.d_out, lambda e, x: self.experts[e](x))
        return out.reshape(*h.shape[:-1], self.d_out)


class Block(nn.Module):
    """One residual layer: r + residual_scale * part(norm(r)); a parallel layer's part is
    its Mamba part on norm(r) plus its MoE part on norm_moe(r) (norm(r) when shared_norm)."""

    def __init__(self, c, l, expert_init_scale):
        super().__init__()
        d = c["d_model"]
        self.kind = l["kind"]
        self.residual_scale = c["residual_scale"]
        self.norm = Norm(c["norm"], d, c["norm_eps"])
        if self.kind == "mamba":
            self.mamba = Mamba(d, l)
        elif self.kind == "mamba2":
            self.mamba2 = Mamba2(d, l)
        elif self.kind == "attention":
            self.attn = Attention(d, l)  # the native tensor names: layers.i.attn.*
        elif self.kind == "moe":
            self.moe = MoE(d, l, c["norm_eps"], expert_init_scale)
        elif self.kind == "parallel":
            if not l["shared_norm"]:
                self.norm_moe = Norm(c["norm"], d, c["norm_eps"])
            self.mamba = Mamba(d, l["mamba"])
            self.moe = MoE(d, l["moe"], c["norm_eps"], expert_init_scale)
        else:
            self.mlp = FeedForward(d, l["d_ff"], l["expert"], l["bias"])

    def forward(self, r, scan):
        h = self.norm(r)
        if self.kind == "mamba":
            out = self.mamba(h, scan)
        elif self.kind == "parallel":
            h_moe = self.norm_moe(r) if hasattr(self, "norm_moe") else h
            out = self.mamba(h, scan) + self.moe(h_moe)
        elif self.kind == "attention":
            out = self.attn(h)
        else:
            out = getattr(self, self.kind)(h)
        return r + self.residual_scale * out


class MoEMamba(nn.Module):
    def __init__(self, config, expert_init_scale=1.0):
        super().__init__()
        c = full_config(config)
        self.config = c
        d, V = c["d_model"], c["vocab_size"]
        self.embed = nn.Embedding(V, d)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.layers = nn.ModuleList(Block(c, l, expert_init_scale) for l in c["layers"])
        if c["final_norm"] != "none":
            self.norm_f = Norm(c["final_norm"], d, c["norm_eps"])
        if not c["tie_embeddings"]:
            self.lm_head = nn.Linear(d, V, bias=False)
            nn.init.normal_(self.lm_head.weight, std=0.02)

    def routed_layers(self):
        """Every router's module, in model order: MoE layers (a parallel layer's MoE part
        too) and routed projections."""
        return [m for m in self.modules() if isinstance(m, Routed)]

    def set_routing(self, options):
        for m in self.routed_layers():
            m.routing = options

    def attention_layers(self):
        """Every attention layer's module, in model order."""
        return [m for m in self.modules() if isinstance(m, Attention)]

    def forward(self, tokens, scan=selective_scan_chunked):
        c = self.config
        r = self.embed(tokens) * c["embedding_scale"]
        for b in self.layers:
            r = b(r, scan)
        if hasattr(self, "norm_f"):
            r = self.norm_f(r)
        head = self.embed.weight if c["tie_embeddings"] else self.lm_head.weight
        return F.linear(r, head) / c["logits_divisor"]

    def param_counts(self):
        """(total, active per token): active counts top_k of each router's experts."""
        total = sum(p.numel() for p in self.parameters())
        inactive = sum(m.expert_params() * (m.l["n_experts"] - m.l["top_k"]) for m in self.routed_layers())
        return total, total - inactive
