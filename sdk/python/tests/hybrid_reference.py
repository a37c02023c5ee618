"""Float64 pieces the hybrid-family converter tests share (Jamba, Nemotron-H, Granite 4.0
H): causal grouped-query attention as transformers' eager attention computes it
(repeat_kv, softmax(q k^T * scale + causal mask) v, o_proj), with optional rotate-half
RoPE. Written from the families' own modeling code, numpy only.

The converter tests run `mmb logits --kv f32`: the session's KV cache keeps keys and
values in f32, so models with attention are held to the same tolerance as the others
(convert_common.TOLERANCE). With the default f16 cache a key within f32 rounding of an
f16 rounding midpoint rounds one f16 step apart on the two sides; over 400 random small
models that moved logits by up to 4.1e-4 relative (KV_DTYPE = np.float16 reproduces the
rounding).
"""
import numpy as np

KV_DTYPE = None


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_rope(x, rotary_dim, theta):
    """Rotate-half RoPE (Llama / GPT-NeoX) on the first rotary_dim dims of each head:
    x [L, heads, head_dim], token t at position t."""
    half = rotary_dim // 2
    inv_freq = theta ** (-np.arange(half) * 2.0 / rotary_dim)
    angle = np.arange(x.shape[0])[:, None] * inv_freq[None, :]  # [L, half]
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    x1, x2 = x[..., :half], x[..., half:rotary_dim]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin, x[..., rotary_dim:]], axis=-1)


def kv_head_of_repeat_kv(n_heads, n_kv_heads):
    """transformers' repeat_kv: key/value head j serves query heads j*g .. j*g+g-1."""
    group = n_heads // n_kv_heads
    return lambda head: head // group


def np_attention(h, w, prefix, n_heads, n_kv_heads, head_dim, scale=None, rotary_dim=0, rope_theta=10000.0,
                 kv_head_of=None, kv_dtype=KV_DTYPE):
    """Causal self-attention over h [L, d_model] with the weights w[prefix + "q_proj.weight"]
    etc. (biases used when present). scale None: head_dim ** -0.5. kv_head_of(query
    head) -> key/value head; None: repeat_kv's mapping. Keys (after RoPE) and values are
    rounded to kv_dtype, as the KV cache stores them (None: kept in float64)."""
    L = h.shape[0]

    def proj(name, heads):
        return (h @ w[prefix + name + ".weight"].T + w.get(prefix + name + ".bias", 0.0)).reshape(L, heads, head_dim)

    q, k, v = proj("q_proj", n_heads), proj("k_proj", n_kv_heads), proj("v_proj", n_kv_heads)
    if rotary_dim:
        q, k = np_rope(q, rotary_dim, rope_theta), np_rope(k, rotary_dim, rope_theta)
    if kv_dtype is not None:
        k, v = k.astype(kv_dtype).astype(np.float64), v.astype(kv_dtype).astype(np.float64)
    kv_of = kv_head_of or kv_head_of_repeat_kv(n_heads, n_kv_heads)
    scale = head_dim ** -0.5 if scale is None else scale
    causal = np.tril(np.ones((L, L), dtype=bool))
    out = np.zeros((L, n_heads, head_dim))
    for head in range(n_heads):
        j = kv_of(head)
        scores = np.where(causal, q[:, head] @ k[:, j].T * scale, -np.inf)
        out[:, head] = np_softmax(scores) @ v[:, j]
    return out.reshape(L, n_heads * head_dim) @ w[prefix + "o_proj.weight"].T + w.get(prefix + "o_proj.bias", 0.0)
