"""The llama architecture's configuration and weights, read from a GGUF file or made up.

Weights keep GGUF's row layout: attn_q/attn_k rows are permuted for llama.cpp's
interleaved RoPE, so the graph applies RoPE interleaved (pairs 2i, 2i+1), which is
exactly what llama.cpp computes on these rows.
"""

from dataclasses import dataclass, field

import numpy as np

from .quant import Q4_1, Q8_0, parse_q4_1, parse_q8_0, quantize_q4_1, quantize_q8_0


@dataclass
class LlamaConfig:
    vocab_size: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    rope_theta: float
    rms_eps: float
    max_positions: int


@dataclass
class LayerWeights:
    attn_norm: np.ndarray
    attn_q: object  # Q4_1 | Q8_0 | np.ndarray [N, K]
    attn_k: object
    attn_v: object
    attn_output: object
    ffn_norm: np.ndarray
    ffn_gate: object
    ffn_up: object
    ffn_down: object


@dataclass
class LlamaWeights:
    token_embd: object  # [vocab, hidden], also the LM head (tied)
    layers: list = field(default_factory=list)
    output_norm: np.ndarray = None


def _field(reader, key):
    f = reader.fields[key]
    return f.contents()


def config_from_gguf(reader) -> LlamaConfig:
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"expected a llama GGUF, found architecture {arch!r}")
    p = "llama."
    heads = int(_field(reader, p + "attention.head_count"))
    hidden = int(_field(reader, p + "embedding_length"))
    return LlamaConfig(
        vocab_size=int(_field(reader, p + "vocab_size")),
        hidden=hidden,
        layers=int(_field(reader, p + "block_count")),
        heads=heads,
        kv_heads=int(_field(reader, p + "attention.head_count_kv")),
        head_dim=hidden // heads,
        ffn=int(_field(reader, p + "feed_forward_length")),
        rope_theta=float(_field(reader, p + "rope.freq_base")),
        rms_eps=float(_field(reader, p + "attention.layer_norm_rms_epsilon")),
        max_positions=int(_field(reader, p + "context_length")),
    )


def _tensor(tensors, name):
    t = tensors[name]
    kind = t.tensor_type.name
    if kind == "F32":
        return np.asarray(t.data, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
    k, n = int(t.shape[0]), int(t.shape[1])  # GGUF lists ne0 (inputs) first
    if kind == "Q4_1":
        return parse_q4_1(t.data, n, k)
    if kind == "Q8_0":
        return parse_q8_0(t.data, n, k)
    if kind == "F16":
        return np.asarray(t.data, dtype=np.float16).astype(np.float32).reshape(n, k)
    raise ValueError(f"tensor {name}: GGML type {kind} is not supported by this converter")


def weights_from_gguf(reader, config: LlamaConfig) -> LlamaWeights:
    tensors = {t.name: t for t in reader.tensors}
    if "output.weight" in tensors:
        raise ValueError("this converter expects tied embeddings (no output.weight)")
    w = LlamaWeights(
        token_embd=_tensor(tensors, "token_embd.weight"),
        output_norm=_tensor(tensors, "output_norm.weight"),
    )
    for i in range(config.layers):
        b = f"blk.{i}."
        w.layers.append(
            LayerWeights(
                **{
                    name: _tensor(tensors, b + name + ".weight")
                    for name in LayerWeights.__dataclass_fields__
                }
            )
        )
    return w


def tiny_config() -> LlamaConfig:
    return LlamaConfig(
        vocab_size=49152,
        hidden=64,
        layers=2,
        heads=4,
        kv_heads=2,
        head_dim=16,
        ffn=128,
        rope_theta=100000.0,
        rms_eps=1e-5,
        max_positions=2048,
    )


def random_weights(config: LlamaConfig, seed: int = 0) -> LlamaWeights:
    """Deterministic weights in the same block formats as the real model."""
    rng = np.random.default_rng(seed)
    h, kv = config.hidden, config.kv_heads * config.head_dim

    def q4(n, k):
        return quantize_q4_1(rng.normal(0.0, 1.0 / np.sqrt(k), size=(n, k)).astype(np.float32))

    def norm():
        return (1.0 + 0.1 * rng.normal(size=h)).astype(np.float32)

    w = LlamaWeights(
        token_embd=quantize_q8_0(rng.normal(0.0, 1.0, size=(config.vocab_size, h)).astype(np.float32)),
        output_norm=norm(),
    )
    for _ in range(config.layers):
        w.layers.append(
            LayerWeights(
                attn_norm=norm(),
                attn_q=q4(h, h),
                attn_k=q4(kv, h),
                attn_v=q4(kv, h),
                attn_output=q4(h, h),
                ffn_norm=norm(),
                ffn_gate=q4(config.ffn, h),
                ffn_up=q4(config.ffn, h),
                ffn_down=q4(h, config.ffn),
            )
        )
    return w


def dequantized(m) -> np.ndarray:
    if isinstance(m, (Q4_1, Q8_0)):
        return m.dequantize()
    return m
