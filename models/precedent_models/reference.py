"""A plain numpy forward pass of the llama architecture, independent of the ONNX graph.

Written from the architecture's definition (interleaved RoPE on GGUF's row layout,
grouped-query attention, RMSNorm, SwiGLU, tied head), in float64, so tests can check
that the ONNX graph computes the same function.
"""

import numpy as np

from .llama import LlamaConfig, LlamaWeights, dequantized


def _rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _rope_interleaved(x, positions, config: LlamaConfig):
    # x [s, n_heads, hd]; pairs (2i, 2i+1) rotate by positions * theta^(-2i/hd)
    hd = config.head_dim
    inv = config.rope_theta ** (-np.arange(hd // 2) * 2.0 / hd)
    ang = positions[:, None] * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def forward(config: LlamaConfig, weights: LlamaWeights, token_ids):
    """Returns (logits [s, vocab], knn_keys [s, hidden]) for one sequence from position 0."""
    c = config
    ids = np.asarray(token_ids)
    s = len(ids)
    pos = np.arange(s, dtype=np.float64)
    embd = dequantized(weights.token_embd).astype(np.float64)
    x = embd[ids]
    groups = c.heads // c.kv_heads
    causal = np.triu(np.full((s, s), -np.inf), k=1)
    keys = None
    for i, lw in enumerate(weights.layers):
        w = {k: dequantized(getattr(lw, k)).astype(np.float64) for k in lw.__dataclass_fields__}
        h = _rms_norm(x, w["attn_norm"], c.rms_eps)
        q = (h @ w["attn_q"].T).reshape(s, c.heads, c.head_dim)
        k = (h @ w["attn_k"].T).reshape(s, c.kv_heads, c.head_dim)
        v = (h @ w["attn_v"].T).reshape(s, c.kv_heads, c.head_dim)
        q, k = _rope_interleaved(q, pos, c), _rope_interleaved(k, pos, c)
        ctx = np.empty_like(q)
        for head in range(c.heads):
            kv = head // groups
            scores = q[:, head, :] @ k[:, kv, :].T / np.sqrt(c.head_dim) + causal
            p = np.exp(scores - scores.max(axis=-1, keepdims=True))
            p /= p.sum(axis=-1, keepdims=True)
            ctx[:, head, :] = p @ v[:, kv, :]
        x = x + ctx.reshape(s, c.hidden) @ w["attn_output"].T
        h = _rms_norm(x, w["ffn_norm"], c.rms_eps)
        if i == c.layers - 1:
            keys = h
        gate, up = h @ w["ffn_gate"].T, h @ w["ffn_up"].T
        x = x + (gate / (1.0 + np.exp(-gate)) * up) @ w["ffn_down"].T
    x = _rms_norm(x, weights.output_norm, c.rms_eps)
    return x @ embd.T, keys
