"""The ONNX graph computes the llama forward pass exactly (checked against models/precedent_models/reference.py).

Uses the tiny configuration with deterministic weights, so it runs in seconds and needs no GGUF.
"""

import numpy as np
import onnxruntime as ort
import pytest

from precedent_models import llama, onnx_graph, quant, reference

TOKENS = [5, 100, 2000, 49000, 7, 7, 300, 12, 13, 14]


@pytest.fixture(scope="module")
def tiny():
    config = llama.tiny_config()
    return config, llama.random_weights(config, seed=0)


def session(config, weights, variant, accuracy_level):
    previous = onnx_graph.ACCURACY_LEVEL
    onnx_graph.ACCURACY_LEVEL = accuracy_level
    try:
        model = onnx_graph.build_graph(config, weights, variant)
    finally:
        onnx_graph.ACCURACY_LEVEL = previous
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run(config, sess, ids, start=0, past=None, keep=None):
    s = len(ids)
    feeds = {
        "input_ids": np.array([ids], np.int64),
        "position_ids": np.arange(start, start + s, dtype=np.int64)[None],
        "num_logits_to_keep": np.array(s if keep is None else keep, np.int64),
    }
    empty = np.zeros((1, config.kv_heads, 0, config.head_dim), np.float32)
    for i in range(config.layers):
        feeds[f"past_key_values.{i}.key"] = past[i][0] if past else empty
        feeds[f"past_key_values.{i}.value"] = past[i][1] if past else empty
    names = [o.name for o in sess.get_outputs()]
    out = dict(zip(names, sess.run(None, feeds)))
    present = [(out[f"present.{i}.key"], out[f"present.{i}.value"]) for i in range(config.layers)]
    return out["logits"][0], out["knn_keys"][0], present


# (variant, MatMulNBits accuracy level, tolerance on logits of magnitude ~50)
EXACTNESS_CASES = [
    ("fp32", 0, 1e-3),  # dequantized weights: the same function up to float32 rounding
    ("q4", 0, 1e-3),  # GGML blocks mapped onto MatMulNBits: exact, not re-quantized
    ("q4", 4, 1.5),  # int8 activations (the served setting): close, like llama.cpp's own q8 activations
]


@pytest.mark.parametrize("variant,level,tolerance", EXACTNESS_CASES)
def test_graph_matches_reference(tiny, variant, level, tolerance):
    config, weights = tiny
    expected_logits, expected_keys = reference.forward(config, weights, TOKENS)
    logits, keys, _ = run(config, session(config, weights, variant, level), TOKENS)
    assert logits.shape == (len(TOKENS), config.vocab_size)
    assert keys.shape == (len(TOKENS), config.hidden)
    assert np.abs(logits - expected_logits).max() < tolerance
    assert np.abs(keys - expected_keys).max() < tolerance / 10


def test_kv_cache_continuation_equals_one_pass(tiny):
    config, weights = tiny
    sess = session(config, weights, "q4", 0)
    full_logits, full_keys, _ = run(config, sess, TOKENS)
    _, _, past = run(config, sess, TOKENS[:6])
    logits, keys, present = run(config, sess, TOKENS[6:], start=6, past=past, keep=1)
    assert logits.shape == (1, config.vocab_size)
    assert np.abs(logits[0] - full_logits[-1]).max() < 1e-4
    assert np.abs(keys - full_keys[6:]).max() < 1e-5
    assert present[0][0].shape == (1, config.kv_heads, len(TOKENS), config.head_dim)


def test_a_shared_past_buffer_is_written_in_place(tiny):
    # past_buffer "shared" (MANIFEST.md): the past is a longer buffer, bound as the present
    # too; each run writes its positions after the valid ones and reads nothing beyond them.
    config, weights = tiny
    assert onnx_graph.PAST_BUFFER == "shared"
    sess = session(config, weights, "q4", 0)
    full_logits, _, full_present = run(config, sess, TOKENS)
    capacity = 16
    buffers = [
        [ort.OrtValue.ortvalue_from_numpy(np.full((1, config.kv_heads, capacity, config.head_dim), 9.0, np.float32))
         for _ in range(2)]
        for _ in range(config.layers)
    ]
    logits = []
    for start, end in ((0, 6), (6, 9), (9, 10)):  # a first run, a chunk, one decoded token
        binding = sess.io_binding()
        binding.bind_cpu_input("input_ids", np.array([TOKENS[start:end]], np.int64))
        binding.bind_cpu_input("position_ids", np.arange(start, end, dtype=np.int64)[None])
        binding.bind_cpu_input("num_logits_to_keep", np.array(end - start, np.int64))
        for i, (key, value) in enumerate(buffers):
            for name, buffer in ((f"past_key_values.{i}.key", key), (f"past_key_values.{i}.value", value)):
                binding.bind_ortvalue_input(name, buffer)
            binding.bind_ortvalue_output(f"present.{i}.key", key)
            binding.bind_ortvalue_output(f"present.{i}.value", value)
        binding.bind_output("logits")
        binding.bind_output("knn_keys")
        sess.run_with_iobinding(binding)
        logits.append(binding.get_outputs()[-2].numpy()[0])
    assert np.abs(np.concatenate(logits) - full_logits).max() < 1e-4
    for (key, value), (full_key, full_value) in zip(buffers, full_present):
        np.testing.assert_allclose(key.numpy()[:, :, : len(TOKENS)], full_key, atol=1e-5)
        np.testing.assert_allclose(value.numpy()[:, :, : len(TOKENS)], full_value, atol=1e-5)
        assert (key.numpy()[:, :, len(TOKENS):] == 9.0).all()  # the spare room is untouched


def test_logits_to_keep_returns_the_last_positions(tiny):
    config, weights = tiny
    sess = session(config, weights, "q4", 0)
    full, _, _ = run(config, sess, TOKENS)
    last3, _, _ = run(config, sess, TOKENS, keep=3)
    np.testing.assert_allclose(last3, full[-3:], atol=1e-5)


@pytest.mark.parametrize("quantize,parse,block_bytes", [
    (quant.quantize_q4_1, quant.parse_q4_1, 20),
    (quant.quantize_q8_0, quant.parse_q8_0, 34),
])
def test_block_formats_round_trip_through_ggml_bytes(quantize, parse, block_bytes):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 64)).astype(np.float32)
    q = quantize(w)
    raw = ggml_bytes(q)
    assert raw.shape == (3, 2 * block_bytes)
    np.testing.assert_array_equal(parse(raw, 3, 64).dequantize(), q.dequantize())
    assert np.abs(q.dequantize() - w).max() < 0.25


def ggml_bytes(q):
    """Packs an unpacked matrix back into GGML's block bytes (the inverse of parse_*)."""
    n, k = q.q.shape
    blocks = []
    for r in range(n):
        row = b""
        for b in range(k // quant.BLOCK):
            vals = q.q[r, b * 32:(b + 1) * 32]
            if isinstance(q, quant.Q4_1):
                nibbles = (vals[:16] | (vals[16:] << 4)).astype(np.uint8)
                row += np.float16(q.d[r, b]).tobytes() + np.float16(q.m[r, b]).tobytes() + nibbles.tobytes()
            else:
                row += np.float16(q.d[r, b]).tobytes() + vals.astype(np.int8).tobytes()
        blocks.append(np.frombuffer(row, np.uint8))
    return np.stack(blocks)


def test_q4_1_offset_maps_exactly_onto_zero_point_eight():
    # d*q + m == d*(q - 8) + (m + 8d) for every block: the identity the graph relies on.
    rng = np.random.default_rng(2)
    q = quant.quantize_q4_1(rng.normal(size=(2, 64)).astype(np.float32))
    blocks = q.q.reshape(2, 2, 32).astype(np.float64)
    rebuilt = q.d[:, :, None] * (blocks - 8) + q.correction()[:, :, None]
    np.testing.assert_allclose(rebuilt.reshape(2, 64), q.dequantize(), rtol=0, atol=1e-5)
