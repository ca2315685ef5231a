"""Builds the ONNX decoder graph for a llama model, following models/MANIFEST.md.

Two weight variants share one graph:
  "q4"   - GGML blocks mapped exactly onto ONNX Runtime's MatMulNBits (4-bit Q4_1 with a
           correction term, 8-bit Q8_0 for the tied embedding/LM head, which
           GatherBlockQuantized reads from the same bytes). The default.
  "fp32" - every weight dequantized to float32 (the exact reference for fidelity checks).
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .llama import LlamaConfig, LlamaWeights, dequantized
from .quant import BLOCK, Q4_1, Q8_0

OPSET = 21
NEG_INF = float("-inf")
ATTENTION = "gqa"  # "gqa": ONNX Runtime's fused GroupQueryAttention; "manual": plain ops
# How the graph treats its past key/value inputs (models/MANIFEST.md, "past_buffer"):
# "shared" - GroupQueryAttention: the valid past is read from the positions, the past may be a
#            longer buffer, and a present output bound to that same buffer is written in place
#            (no copy of the cache per token); "exact" - the past holds exactly the earlier tokens.
PAST_BUFFER = "shared" if ATTENTION == "gqa" else "exact"
# int8 activations: ~15x faster than exact on these CPUs (models/README.md, "Decisions").
ACCURACY_LEVEL = 4


class _Graph:
    def __init__(self):
        self.nodes, self.inits, self.inputs, self.outputs = [], [], [], []
        self._names = set()

    def name(self, base):
        n, i = base, 0
        while n in self._names:
            i += 1
            n = f"{base}_{i}"
        self._names.add(n)
        return n

    def init(self, base, array):
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), n))
        return n

    def const_i64(self, base, values):
        return self.init(base, np.asarray(values, dtype=np.int64))

    def op(self, op_type, inputs, base=None, domain="", n_out=1, **attrs):
        outs = [self.name(f"{base or op_type}_out{i}") for i in range(n_out)]
        self.nodes.append(
            helper.make_node(op_type, inputs, outs, name=self.name(base or op_type), domain=domain, **attrs)
        )
        return outs[0] if n_out == 1 else outs


class _Linear:
    """y = x @ W.T for W [N, K] in one of the supported storage formats."""

    def __init__(self, g: _Graph, name: str, weight, variant: str):
        self.g, self.name = g, name
        if variant == "fp32":
            w = dequantized(weight)
            self.kind, self.n = "fp32", w.shape[0]
            self.w = g.init(name + ".weight_t", w.T.astype(np.float32))
        elif isinstance(weight, Q4_1):
            n, k = weight.shape
            self.kind, self.n, self.k = "q4_1", n, k
            self.b = g.init(name + ".qweight", weight.pack_nbits())
            self.scales = g.init(name + ".scales", weight.d.astype(np.float32))
            self.corr = g.init(name + ".block_offset_t", weight.correction().T.copy())
        elif isinstance(weight, Q8_0):
            n, k = weight.shape
            self.kind, self.n, self.k = "q8_0", n, k
            self.b = g.init(name + ".qweight", weight.as_uint8().reshape(n, k // BLOCK, BLOCK))
            self.scales = g.init(name + ".scales", weight.d.astype(np.float32))
        else:
            raise TypeError(f"{name}: unsupported weight type {type(weight)}")

    def __call__(self, x):
        g = self.g
        if self.kind == "fp32":
            return g.op("MatMul", [x, self.w], self.name)
        bits = 4 if self.kind == "q4_1" else 8
        y = g.op(
            "MatMulNBits",
            [x, self.b, self.scales],
            self.name,
            domain="com.microsoft",
            K=self.k,
            N=self.n,
            bits=bits,
            block_size=BLOCK,
            accuracy_level=ACCURACY_LEVEL,
        )
        if self.kind == "q4_1":
            blocks = g.op("Reshape", [x, g.const_i64("blocks_shape", [0, 0, self.k // BLOCK, BLOCK])])
            block_sums = g.op("ReduceSum", [blocks, g.const_i64("last_axis", [-1])], keepdims=0)
            y = g.op("Add", [y, g.op("MatMul", [block_sums, self.corr], self.name + ".offset")])
        return y


def _fuse_rows(weights):
    """Stack [N_i, K] matrices of one format into one [sum N_i, K] matrix."""
    first = weights[0]
    if isinstance(first, Q4_1):
        return Q4_1(*(np.concatenate([getattr(w, f) for w in weights]) for f in ("q", "d", "m")))
    if isinstance(first, Q8_0):
        return Q8_0(*(np.concatenate([getattr(w, f) for w in weights]) for f in ("q", "d")))
    return np.concatenate([dequantized(w) for w in weights])


def _rope_caches(config: LlamaConfig):
    half = config.head_dim // 2
    inv_freq = config.rope_theta ** (-np.arange(half, dtype=np.float64) * 2.0 / config.head_dim)
    angles = np.arange(config.max_positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def build_graph(config: LlamaConfig, weights: LlamaWeights, variant: str) -> onnx.ModelProto:
    if variant not in ("q4", "fp32"):
        raise ValueError(f"unknown variant {variant!r}")
    g = _Graph()
    c = config
    kv_dim = c.kv_heads * c.head_dim
    groups = c.heads // c.kv_heads

    def graph_input(name, elem, shape):
        g._names.add(name)
        g.inputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def graph_output(name, value, elem, shape):
        # Rename the producing node's output instead of adding a copying Identity node.
        for node in g.nodes:
            node.output[:] = [name if o == value else o for o in node.output]
            node.input[:] = [name if o == value else o for o in node.input]
        g.outputs.append(helper.make_tensor_value_info(name, elem, shape))

    input_ids = graph_input("input_ids", TensorProto.INT64, ["batch", "seq"])
    position_ids = graph_input("position_ids", TensorProto.INT64, ["batch", "seq"])
    n_keep = graph_input("num_logits_to_keep", TensorProto.INT64, [])
    past = []
    for i in range(c.layers):
        shape = ["batch", c.kv_heads, "past", c.head_dim]
        past.append(
            (
                graph_input(f"past_key_values.{i}.key", TensorProto.FLOAT, shape),
                graph_input(f"past_key_values.{i}.value", TensorProto.FLOAT, shape),
            )
        )

    # Embedding lookup (tied with the LM head).
    embd = weights.token_embd
    if variant == "q4" and isinstance(embd, Q8_0):
        head = _Linear(g, "lm_head", embd, variant)
        table = g.op("Reshape", [head.b, g.const_i64("table_shape", [c.vocab_size, c.hidden])], "embd_table")
        x = g.op(
            "GatherBlockQuantized",
            [table, input_ids, head.scales],
            "embed",
            domain="com.microsoft",
            bits=8,
            block_size=BLOCK,
            gather_axis=0,
            quantize_axis=1,
        )
    else:
        table = g.init("embd_table", dequantized(embd).astype(np.float32))
        x = g.op("Gather", [table, input_ids], "embed", axis=0)

        def head(v):  # tied: the one stored table, transposed when the session loads
            return g.op("MatMul", [v, g.op("Transpose", [table], perm=[1, 0])], "lm_head")

    if ATTENTION == "manual":
        # Causal mask from absolute positions: key j is visible to a query at position p iff
        # j <= p. This path needs the past to hold exactly the earlier positions.
        seq_len = g.op("Shape", [input_ids], start=1, end=2)
        past_len = g.op("Shape", [past[0][0]], start=2, end=3)
        total = g.op("Squeeze", [g.op("Add", [past_len, seq_len]), g.const_i64("axis0", [0])])
        zero, one = g.init("zero_i64", np.array(0, np.int64)), g.init("one_i64", np.array(1, np.int64))
        key_pos = g.op("Range", [zero, total, one], "key_positions")
        query_pos = g.op("Unsqueeze", [position_ids, g.const_i64("axis2", [2])])
        hidden_key = g.op("Greater", [key_pos, query_pos])  # [b, s, T]
        mask = g.op(
            "Where",
            [hidden_key, g.init("neg_inf", np.array(NEG_INF, np.float32)), g.init("zero_f", np.array(0, np.float32))],
        )
        mask = g.op("Unsqueeze", [mask, g.const_i64("mask_axes", [1, 2])], "mask")  # [b, 1, 1, s, T]
    else:
        # GroupQueryAttention's view of the lengths, read from the positions rather than from
        # the past's shape, so that the past may be a longer buffer the present shares
        # (PAST_BUFFER): per sequence its last position (= total length - 1), and the total.
        last_position = g.op("Gather", [position_ids, g.init("last_index", np.array(-1, np.int64))], axis=1)
        seqlens_k = g.op("Cast", [last_position], to=TensorProto.INT32)  # [b]
        total_i32 = g.op(
            "Add",
            [g.op("ReduceMax", [seqlens_k], keepdims=0), g.init("one_i32", np.array(1, np.int32))],
            "total_length",
        )

    cos, sin = _rope_caches(c)
    cos, sin = g.init("rope_cos", cos), g.init("rope_sin", sin)

    def rms_norm(v, weight, base):
        return g.op(
            "SimplifiedLayerNormalization", [v, g.init(base + ".weight", weight)], base, axis=-1, epsilon=c.rms_eps
        )

    def heads_first(v, n_heads):  # [b, s, n*hd] -> [b, n, s, hd]
        v = g.op("Reshape", [v, g.const_i64("split_heads", [0, 0, n_heads, c.head_dim])])
        return g.op("Transpose", [v], perm=[0, 2, 1, 3])

    knn_key = None
    present = []
    for i, lw in enumerate(weights.layers):
        p = f"layers.{i}."
        h = rms_norm(x, lw.attn_norm, p + "attn_norm")
        qkv = _Linear(g, p + "qkv", _fuse_rows([lw.attn_q, lw.attn_k, lw.attn_v]), variant)(h)
        if ATTENTION == "gqa":
            ctx, k_all, v_all = g.op(
                "GroupQueryAttention",
                [qkv, "", "", past[i][0], past[i][1], seqlens_k, total_i32, cos, sin],
                p + "attention",
                domain="com.microsoft",
                n_out=3,
                num_heads=c.heads,
                kv_num_heads=c.kv_heads,
                do_rotary=1,
                rotary_interleaved=1,
                scale=1.0 / float(np.sqrt(c.head_dim)),
            )
            present.append((k_all, v_all))
        else:
            q, k, v = g.op("Split", [qkv, g.const_i64("qkv_split", [c.hidden, kv_dim, kv_dim])], axis=-1, n_out=3)
            q = g.op("RotaryEmbedding", [q, position_ids, cos, sin], p + "rope_q", domain="com.microsoft",
                     interleaved=1, num_heads=c.heads)
            k = g.op("RotaryEmbedding", [k, position_ids, cos, sin], p + "rope_k", domain="com.microsoft",
                     interleaved=1, num_heads=c.kv_heads)
            k_all = g.op("Concat", [past[i][0], heads_first(k, c.kv_heads)], p + "present_key", axis=2)
            v_all = g.op("Concat", [past[i][1], heads_first(v, c.kv_heads)], p + "present_value", axis=2)
            present.append((k_all, v_all))

            # Grouped-query attention: query heads kv*groups .. kv*groups+groups-1 share kv head kv.
            scale = g.init("attn_scale", np.array(1.0 / np.sqrt(c.head_dim), np.float32))
            q = g.op("Mul", [heads_first(q, c.heads), scale])
            q = g.op("Reshape", [q, g.const_i64("group_heads", [0, c.kv_heads, groups, -1, c.head_dim])])
            k_t = g.op("Unsqueeze", [g.op("Transpose", [k_all], perm=[0, 1, 3, 2]), g.const_i64("axis2", [2])])
            scores = g.op("Add", [g.op("MatMul", [q, k_t], p + "scores"), mask])
            probs = g.op("Softmax", [scores], p + "attn_probs", axis=-1)
            ctx = g.op("MatMul", [probs, g.op("Unsqueeze", [v_all, g.const_i64("axis2", [2])])], p + "attn_ctx")
            ctx = g.op("Reshape", [ctx, g.const_i64("merge_groups", [0, c.heads, -1, c.head_dim])])
            ctx = g.op("Transpose", [ctx], perm=[0, 2, 1, 3])
            ctx = g.op("Reshape", [ctx, g.const_i64("merge_heads", [0, 0, c.hidden])])
        x = g.op("Add", [x, _Linear(g, p + "attn_output", lw.attn_output, variant)(ctx)], p + "attn_residual")

        h = rms_norm(x, lw.ffn_norm, p + "ffn_norm")
        if i == c.layers - 1:
            knn_key = h  # docs/method.md: input of the last layer's MLP, after its RMSNorm
        gate_up = _Linear(g, p + "gate_up", _fuse_rows([lw.ffn_gate, lw.ffn_up]), variant)(h)
        gate, up = g.op("Split", [gate_up, g.const_i64("ffn_split", [c.ffn, c.ffn])], axis=-1, n_out=2)
        act = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up], p + "swiglu")
        x = g.op("Add", [x, _Linear(g, p + "ffn_down", lw.ffn_down, variant)(act)], p + "ffn_residual")

    x = rms_norm(x, weights.output_norm, "output_norm")
    start = g.op("Neg", [g.op("Reshape", [n_keep, g.const_i64("one_elem", [1])])])
    big = g.const_i64("max_i64", [np.iinfo(np.int64).max])
    x = g.op("Slice", [x, start, big, g.const_i64("axis1", [1])], "keep_last")
    logits = head(x)

    graph_output("logits", logits, TensorProto.FLOAT, ["batch", "kept", c.vocab_size])
    graph_output("knn_keys", knn_key, TensorProto.FLOAT, ["batch", "seq", c.hidden])
    for i, (k_all, v_all) in enumerate(present):
        shape = ["batch", c.kv_heads, "total", c.head_dim]
        graph_output(f"present.{i}.key", k_all, TensorProto.FLOAT, shape)
        graph_output(f"present.{i}.value", v_all, TensorProto.FLOAT, shape)

    graph = helper.make_graph(g.nodes, "precedent_llama", g.inputs, g.outputs, g.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)],
        producer_name="precedent-models",
    )
    model.ir_version = 10
    return model
