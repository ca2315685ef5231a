"""GGML block formats (Q4_1, Q8_0) and their exact mapping onto ONNX Runtime's blocked ops.

GGML stores a weight matrix of logical shape [N rows (outputs), K columns (inputs)] row by
row, each row cut into blocks of 32 consecutive inputs:
  Q4_1: f16 d, f16 m, 16 bytes of nibbles; w = d*q + m, q in 0..15. Byte j holds element j
        in its low nibble and element j+16 in its high nibble.
  Q8_0: f16 d, 32 int8 q; w = d*q.
ONNX Runtime's MatMulNBits/GatherBlockQuantized want blocks along K with an integer zero
point and element 2i in the low nibble, 2i+1 in the high nibble of byte i. Q4_1's float
offset m maps exactly with zero point 8:  d*q + m = d*(q - 8) + (m + 8d);
the second term is added by a small correction matmul (block sums of the input times
m + 8d) in the graph.
"""

from dataclasses import dataclass

import numpy as np

BLOCK = 32


@dataclass
class Q4_1:
    """Unpacked Q4_1 matrix: q [N, K] uint8 in 0..15, d and m [N, K/32] float32."""

    q: np.ndarray
    d: np.ndarray
    m: np.ndarray

    @property
    def shape(self):
        return self.q.shape

    def dequantize(self) -> np.ndarray:
        n, k = self.q.shape
        q = self.q.reshape(n, k // BLOCK, BLOCK).astype(np.float32)
        return (q * self.d[:, :, None] + self.m[:, :, None]).reshape(n, k)

    def pack_nbits(self) -> np.ndarray:
        """B input of MatMulNBits (bits=4, zero point 8): uint8 [N, K/32, 16]."""
        n, k = self.q.shape
        q = self.q.reshape(n, k // BLOCK, BLOCK // 2, 2)
        return (q[..., 0] | (q[..., 1] << 4)).astype(np.uint8)

    def correction(self) -> np.ndarray:
        """m + 8d, per block: [N, K/32] float32; the graph adds blocksum(x) @ this.T."""
        return (self.m + 8.0 * self.d).astype(np.float32)


@dataclass
class Q8_0:
    """Unpacked Q8_0 matrix: q [N, K] int8, d [N, K/32] float32."""

    q: np.ndarray
    d: np.ndarray

    @property
    def shape(self):
        return self.q.shape

    def dequantize(self) -> np.ndarray:
        n, k = self.q.shape
        q = self.q.reshape(n, k // BLOCK, BLOCK).astype(np.float32)
        return (q * self.d[:, :, None]).reshape(n, k)

    def as_uint8(self) -> np.ndarray:
        """Data for 8-bit MatMulNBits/GatherBlockQuantized with their default zero point 128."""
        return (self.q.astype(np.int16) + 128).astype(np.uint8)


def parse_q4_1(raw: np.ndarray, n: int, k: int) -> Q4_1:
    blocks = np.ascontiguousarray(raw).reshape(n, k // BLOCK, 20)
    d = blocks[:, :, 0:2].copy().view(np.float16)[:, :, 0].astype(np.float32)
    m = blocks[:, :, 2:4].copy().view(np.float16)[:, :, 0].astype(np.float32)
    qs = blocks[:, :, 4:20]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=2).reshape(n, k)
    return Q4_1(q=q.astype(np.uint8), d=d, m=m)


def parse_q8_0(raw: np.ndarray, n: int, k: int) -> Q8_0:
    blocks = np.ascontiguousarray(raw).reshape(n, k // BLOCK, 34)
    d = blocks[:, :, 0:2].copy().view(np.float16)[:, :, 0].astype(np.float32)
    q = blocks[:, :, 2:34].copy().view(np.int8).reshape(n, k)
    return Q8_0(q=q, d=d)


def quantize_q4_1(w: np.ndarray) -> Q4_1:
    """GGML's reference Q4_1 quantizer (used for the tiny test model)."""
    n, k = w.shape
    b = w.reshape(n, k // BLOCK, BLOCK).astype(np.float32)
    lo, hi = b.min(axis=2), b.max(axis=2)
    d = ((hi - lo) / 15.0).astype(np.float16).astype(np.float32)
    m = lo.astype(np.float16).astype(np.float32)
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0)
    q = np.clip(np.round((b - m[:, :, None]) * inv[:, :, None]), 0, 15).astype(np.uint8)
    return Q4_1(q=q.reshape(n, k), d=d, m=m)


def quantize_q8_0(w: np.ndarray) -> Q8_0:
    """GGML's reference Q8_0 quantizer (used for the tiny test model)."""
    n, k = w.shape
    b = w.reshape(n, k // BLOCK, BLOCK).astype(np.float32)
    amax = np.abs(b).max(axis=2)
    d = (amax / 127.0).astype(np.float16).astype(np.float32)
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0)
    q = np.clip(np.round(b * inv[:, :, None]), -127, 127).astype(np.int8)
    return Q8_0(q=q.reshape(n, k), d=d)
