"""Mamba-1 selective scan: s = s * exp(dt*A) + (dt*x) * B;  y = s @ C; and Mamba-2's SSD (below).

x, dt: [batch, L, d_inner]; A: [d_inner, d_state]; B, C: [batch, L, d_state].
Returns y: [batch, L, d_inner] (without the D skip and the z gate).
"""
import torch
import torch.nn.functional as F


def selective_scan_sequential(x, dt, A, B, C):
    """The recurrence one token at a time: the reference."""
    b, L, d = x.shape
    s = x.new_zeros(b, d, A.shape[1])
    ys = []
    for t in range(L):
        dtt = dt[:, t, :, None]
        s = s * torch.exp(dtt * A) + (dtt * x[:, t, :, None]) * B[:, t, None, :]
        ys.append((s * C[:, t, None, :]).sum(-1))
    return torch.stack(ys, dim=1)


# exp(-S) is formed inside a chunk; while the chunk's total log-decay stays under this
# bound, exp(-S) * u cannot overflow float32 (e^60 ~ 1e26, float32 max ~ 3e38).
SAFE_LOG_DECAY = 60.0


def _chunk_sequential(s, dtc, xc, A, Bc, Cc):
    """One chunk by the plain recurrence (used where the parallel form could overflow)."""
    ys = []
    for t in range(dtc.shape[1]):
        dtt = dtc[:, t, :, None]
        s = s * torch.exp(dtt * A) + (dtt * xc[:, t, :, None]) * Bc[:, t, None, :]
        ys.append((s * Cc[:, t, None, :]).sum(-1))
    return torch.stack(ys, dim=1), s


def selective_scan_chunked(x, dt, A, B, C, chunk=16):
    """The same recurrence, parallel within chunks and sequential across them.

    Within a chunk with inclusive cumulative log-decay S_t = sum_{j<=t} dt_j A,
    s_t = exp(S_t) (s_0 + sum_{j<=t} exp(-S_j) u_j) with u_j = dt_j x_j B_j.
    exp(-S_j) grows with the chunk's total decay; a chunk whose decay could overflow
    float32 (large dt times large |A|) is stepped sequentially instead, so the result is
    the recurrence's for any input.
    """
    b, L, d = x.shape
    s = x.new_zeros(b, d, A.shape[1])
    ys = []
    # Prefix sums along time as a matrix product with a lower-triangular ones matrix:
    # one batched GEMM instead of a strided cumsum (several times faster on CPU).
    prefix = torch.tril(x.new_ones(chunk, chunk))
    max_abs_A = A.detach().abs().max()
    for start in range(0, L, chunk):
        end = min(L, start + chunk)
        T = end - start
        dtc = dt[:, start:end, :, None]  # [b, T, d, 1]
        # A is constant in time, so cumsum(dt*A) = cumsum(dt)*A: the prefix sum runs on
        # [b, T, d] instead of [b, T, d, n].
        cum_dt = torch.cumsum(dtc, dim=1)
        if float(cum_dt[:, -1].detach().max() * max_abs_A) > SAFE_LOG_DECAY:
            y, s = _chunk_sequential(s, dt[:, start:end], x[:, start:end], A, B[:, start:end], C[:, start:end])
            ys.append(y)
            continue
        S = cum_dt * A  # [b, T, d, n]
        u = (dtc * x[:, start:end, :, None]) * B[:, start:end, None, :]
        acc = torch.einsum("ts,bsdn->btdn", prefix[:T, :T], torch.exp(-S) * u)
        states = torch.exp(S) * (s[:, None] + acc)
        ys.append(torch.einsum("btdn,btn->btd", states, C[:, start:end]))
        s = states[:, -1]
    return torch.cat(ys, dim=1)


# Mamba-2 (SSD): one scalar decay per head instead of one per channel and state.
#
# x: [batch, L, H, P]; dt: [batch, L, H]; A: [H]; B, C: [batch, L, G, N], head h reading
# group h // (H / G). s[h] = s[h] * exp(dt_h A_h) + dt_h x[h] B[g]^T;  y[h] = s[h] C[g].
# Returns y: [batch, L, H, P] (without the D skip, the gate and the norm).


def ssd_sequential(x, dt, A, B, C):
    """The recurrence one token at a time: the reference."""
    b, L, H, P = x.shape
    R = H // B.shape[2]  # heads per group
    Bh, Ch = B.repeat_interleave(R, dim=2), C.repeat_interleave(R, dim=2)  # [b, L, H, N]
    s = x.new_zeros(b, H, P, B.shape[3])
    ys = []
    for t in range(L):
        dtt = dt[:, t, :, None, None]
        s = s * torch.exp(dtt * A[:, None, None]) + (dtt * x[:, t, :, :, None]) * Bh[:, t, :, None, :]
        ys.append((s * Ch[:, t, :, None, :]).sum(-1))
    return torch.stack(ys, dim=1)


def ssd_chunked(x, dt, A, B, C, chunk=64):
    """The same recurrence in the chunked SSD form (Dao & Gu, 2024): within a chunk the
    quadratic (attention-like) form, across chunks the recurrence on the chunk states.

    With a_t = dt_t A and the inclusive cumulative sum S_t = sum_{j<=t} a_j in a chunk:
      y_t = sum_{s<=t} exp(S_t - S_s) (C_t . B_s) dt_s x_s     (within the chunk)
          + exp(S_t) C_t . h                                    (h: state before the chunk)
      h' = exp(S_T) h + sum_s exp(S_T - S_s) dt_s x_s B_s^T    (state after it)
    Every exponent is a sum of a_j <= 0, so no term can overflow (unlike Mamba-1's
    exp(-S) form above). The length is padded to a multiple of the chunk with dt = 0
    (decay 1, no input), which changes neither the outputs kept nor the state.
    """
    b, L, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    R = H // G
    pad = -L % chunk
    if pad:
        x, B, C = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (x, B, C))
        dt = F.pad(dt, (0, 0, 0, pad))
    n, T = (L + pad) // chunk, chunk
    # Heads split as (group, head in group): B and C are read per group, never copied.
    x = x.reshape(b, n, T, G, R, P)
    dt = dt.reshape(b, n, T, G, R)
    B, C = B.reshape(b, n, T, G, N), C.reshape(b, n, T, G, N)
    S = torch.cumsum(dt * A.reshape(G, R), dim=2)  # [b, n, T, G, R]

    # Within each chunk: the causal decay mask exp(S_t - S_s), s <= t (1-semiseparable).
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    seg = (S[:, :, :, None] - S[:, :, None, :]).masked_fill(~causal[:, :, None, None], float("-inf"))
    CB = torch.einsum("bctgn,bcsgn->bctsg", C, B)
    W = torch.exp(seg) * CB[..., None] * dt[:, :, None]  # [b, n, t, s, G, R]
    y = torch.einsum("bctsgr,bcsgrp->bctgrp", W, x)

    # Each chunk's own contribution to the state at its end, then the recurrence across chunks.
    to_end = torch.exp(S[:, :, -1:] - S) * dt  # [b, n, T, G, R]
    chunk_states = torch.einsum("bcsgr,bcsgn,bcsgrp->bcgrpn", to_end, B, x)
    chunk_decay = torch.exp(S[:, :, -1])  # [b, n, G, R]
    h = x.new_zeros(b, G, R, P, N)
    before = []
    for c in range(n):
        before.append(h)
        h = h * chunk_decay[:, c, :, :, None, None] + chunk_states[:, c]
    before = torch.stack(before, dim=1)  # [b, n, G, R, P, N]: the state entering each chunk
    y = y + torch.einsum("bctgn,bcgrpn->bctgrp", C, before) * torch.exp(S)[..., None]
    return y.reshape(b, n * T, H, P)[:, :L]
