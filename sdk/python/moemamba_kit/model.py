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

EXPERT_ACTS = ("relu", "gelu", "gelu_tanh", "silu", "swiglu", "geglu")


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
    return l


def full_config(config):
    """The config with every default filled in (the native dialect's defaults)."""
    c = dict(config)
    c.setdefault("format", "moemamba")
    c.setdefault("norm", "rms")
    c.setdefault("final_norm", c["norm"])
    c.setdefault("norm_eps", 1e-5)
    c.setdefault("tie_embeddings", True)
    if "layer_pattern" in c:
        lp = c.pop("layer_pattern")
        c["layers"] = [dict(l) for _ in range(lp["repeat"]) for l in lp["pattern"]]
    d = c["d_model"]
    layers = []
    for layer in c["layers"]:
        kind = layer["kind"]
        if kind == "mamba":
            l = _mamba_defaults(layer, d)
        elif kind == "mamba2":
            l = _mamba2_defaults(layer, d)
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


def projection(d_in, d_out, bias, experts):
    """A plain nn.Linear, or a RoutedLinear when `experts` (the *_proj_experts table) is given."""
    if experts is None:
        return nn.Linear(d_in, d_out, bias=bias)
    return RoutedLinear(d_in, d_out, experts)


def expert_act(name, x):
    if name == "relu":
        return F.relu(x)
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
        key = p if self.router.sel_bias is None else p + self.router.sel_bias
        # torch.topk has no tie rule; ties go to the lower index in the C library, so
        # sort stably by descending key.
        sel = torch.sort(key.detach(), dim=-1, descending=True, stable=True).indices[:, :k]
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
    """One residual layer: r + part(norm(r)); a parallel layer adds its Mamba part on
    norm(r) and its MoE part on norm_moe(r) (norm(r) when shared_norm)."""

    def __init__(self, c, l, expert_init_scale):
        super().__init__()
        d = c["d_model"]
        self.kind = l["kind"]
        self.norm = Norm(c["norm"], d, c["norm_eps"])
        if self.kind == "mamba":
            self.mamba = Mamba(d, l)
        elif self.kind == "mamba2":
            self.mamba2 = Mamba2(d, l)
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
            return r + self.mamba(h, scan)
        if self.kind == "parallel":
            h_moe = self.norm_moe(r) if hasattr(self, "norm_moe") else h
            return r + self.mamba(h, scan) + self.moe(h_moe)
        return r + getattr(self, self.kind)(h)


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

    def forward(self, tokens, scan=selective_scan_chunked):
        r = self.embed(tokens)
        for b in self.layers:
            r = b(r, scan)
        if hasattr(self, "norm_f"):
            r = self.norm_f(r)
        head = self.embed.weight if self.config["tie_embeddings"] else self.lm_head.weight
        return F.linear(r, head)

    def param_counts(self):
        """(total, active per token): active counts top_k of each router's experts."""
        total = sum(p.numel() for p in self.parameters())
        inactive = sum(m.expert_params() * (m.l["n_experts"] - m.l["top_k"]) for m in self.routed_layers())
        return total, total - inactive
