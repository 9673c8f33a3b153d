"""Dequantization per GGUF block type, on blocks packed here by hand from known codes.

Each packer writes llama.cpp's block layout (ggml-common.h) from integer codes;
the expected values are computed from the same codes with the format's
defining formula, so a layout or formula mistake on either side shows up.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_gguf
from gguf import GGMLQuantizationType as Q

from xling.checkpoints.gguf_file import GGUFFile
from xling.errors import UnsupportedError

RNG = np.random.default_rng(0)


def f16(x: float) -> bytes:
    return np.float16(x).tobytes()


def q8_0(rows: int):
    """32 values per block: d * q, q int8."""
    d = np.float16(0.25)
    codes = RNG.integers(-128, 128, (rows, 32), dtype=np.int8)
    blocks = [f16(d) + codes[r].tobytes() for r in range(rows)]
    return blocks, float(d) * codes.astype(np.float32)


def _nibbles(q: np.ndarray) -> bytes:
    """The 16 bytes of 32 4-bit codes: value j in the low nibble of byte j, j + 16 in its high."""
    return bytes(int(q[j] & 15) | (int(q[j + 16] & 15) << 4) for j in range(16))


def _fifth_bits(q: np.ndarray) -> bytes:
    """qh of Q5_0/Q5_1: bit j holds the fifth bit of value j (little-endian uint32)."""
    return sum(int(q[j] >> 4) << j for j in range(32)).to_bytes(4, "little")


def q5_0(rows: int):
    """32 values per block: d * (q - 16), q 5-bit: low nibbles in qs, fifth bits in qh."""
    d = np.float16(-0.5)
    codes = RNG.integers(0, 32, (rows, 32))
    blocks = [f16(d) + _fifth_bits(q) + _nibbles(q) for q in codes]
    return blocks, float(d) * (codes - 16).astype(np.float32)


def q5_1(rows: int):
    """32 values per block: d * q + m, q 5-bit laid out as in Q5_0 (qh after d and m)."""
    d, m = np.float16(0.25), np.float16(-3.5)
    codes = RNG.integers(0, 32, (rows, 32))
    blocks = [f16(d) + f16(m) + _fifth_bits(q) + _nibbles(q) for q in codes]
    return blocks, (float(d) * codes + float(m)).astype(np.float32)


def q4_0(rows: int):
    """32 values per block: d * (q - 8), q 4-bit: value j in the low nibble of byte j,
    value j + 16 in its high nibble."""
    d = np.float16(0.75)
    codes = RNG.integers(0, 16, (rows, 32))
    blocks = [f16(d) + _nibbles(q) for q in codes]
    return blocks, float(d) * (codes - 8).astype(np.float32)


def q4_1(rows: int):
    """32 values per block: d * q + m, q 4-bit packed as in Q4_0."""
    d, m = np.float16(0.125), np.float16(-1.25)
    codes = RNG.integers(0, 16, (rows, 32))
    blocks = [f16(d) + f16(m) + _nibbles(q) for q in codes]
    return blocks, (float(d) * codes + float(m)).astype(np.float32)


def _pack_k4_scales(sc: np.ndarray, mn: np.ndarray) -> bytes:
    """Eight 6-bit scales and mins in 12 bytes (get_scale_min_k4's inverse)."""
    out = bytearray(12)
    for j in range(4):
        out[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6)
        out[j + 4] = (mn[j] & 63) | ((mn[j + 4] >> 4) << 6)
        out[j + 8] = (sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4)
    return bytes(out)


def q4_k(rows: int):
    """256 values, 8 sub-blocks of 32: d * sc_j * q - dmin * m_j, q 4-bit, sc/m 6-bit."""
    d, dmin = np.float16(0.125), np.float16(0.0625)
    blocks, values = [], np.zeros((rows, 256), np.float32)
    for r in range(rows):
        sc, mn = RNG.integers(0, 64, 8), RNG.integers(0, 64, 8)
        q = RNG.integers(0, 16, 256)
        qs = bytearray(128)
        for pair in range(4):  # sub-blocks 2p and 2p+1 share 32 bytes: low and high nibbles
            for lane in range(32):
                qs[32 * pair + lane] = q[64 * pair + lane] | (q[64 * pair + 32 + lane] << 4)
        blocks.append(f16(d) + f16(dmin) + _pack_k4_scales(sc, mn) + bytes(qs))
        for j in range(8):
            values[r, 32 * j : 32 * j + 32] = float(d) * sc[j] * q[32 * j : 32 * j + 32] - float(dmin) * mn[j]
    return blocks, values


def q6_k(rows: int):
    """256 values, 16 sub-blocks of 16: d * sc_j * (q - 32), q 6-bit, sc int8."""
    d = np.float16(0.03125)
    blocks, values = [], np.zeros((rows, 256), np.float32)
    for r in range(rows):
        sc = RNG.integers(-128, 128, 16).astype(np.int8)
        q = RNG.integers(0, 64, 256)
        ql, qh = bytearray(128), bytearray(64)
        for half in range(2):  # each 128-value half: 64 ql bytes, 32 qh bytes
            base, lo, hi = 128 * half, 64 * half, 32 * half
            for lane in range(32):
                q1, q2, q3, q4 = (q[base + lane + 32 * k] for k in range(4))
                ql[lo + lane] = (q1 & 15) | ((q3 & 15) << 4)
                ql[lo + lane + 32] = (q2 & 15) | ((q4 & 15) << 4)
                qh[hi + lane] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
        blocks.append(bytes(ql) + bytes(qh) + sc.tobytes() + f16(d))
        for j in range(16):
            values[r, 16 * j : 16 * j + 16] = float(d) * float(sc[j]) * (q[16 * j : 16 * j + 16] - 32)
    return blocks, values


PACKERS = {
    Q.Q8_0: (q8_0, 34),
    Q.Q5_0: (q5_0, 22),
    Q.Q5_1: (q5_1, 24),
    Q.Q4_0: (q4_0, 18),
    Q.Q4_1: (q4_1, 20),
    Q.Q4_K: (q4_k, 144),
    Q.Q6_K: (q6_k, 210),
}


@pytest.mark.parametrize("qtype", list(PACKERS), ids=lambda q: q.name)
def test_block_dequantization(tmp_path, qtype):
    packer, block_bytes = PACKERS[qtype]
    rows = 3
    blocks, expected = packer(rows * 2)  # two blocks per row
    assert all(len(b) == block_bytes for b in blocks)
    raw = np.frombuffer(b"".join(blocks), np.uint8).reshape(rows, 2 * block_bytes)
    path = write_gguf(tmp_path / "t.gguf", tensors={"w": (raw, qtype)})
    ckpt = GGUFFile(path)
    assert ckpt.qtype("w") == qtype
    got = ckpt.read("w")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected.reshape(rows, -1))


def test_float_tensors(tmp_path):
    a32 = RNG.standard_normal((4, 6)).astype(np.float32)
    a16 = RNG.standard_normal((2, 3, 8)).astype(np.float16)
    path = write_gguf(tmp_path / "t.gguf", tensors={"a": a32, "b": a16})
    ckpt = GGUFFile(path)
    assert ckpt.shape("b") == (2, 3, 8)
    np.testing.assert_array_equal(ckpt.read("a"), a32)
    np.testing.assert_array_equal(ckpt.read("b"), a16.astype(np.float32))


def _one_block(tmp_path, block: bytes, qtype) -> np.ndarray:
    raw = np.frombuffer(block, np.uint8)[None]
    return GGUFFile(write_gguf(tmp_path / "b.gguf", tensors={"w": (raw, qtype)})).read("w")[0]


def test_legacy_blocks_with_codes_chosen_by_hand(tmp_path):
    """One block each of Q4_0, Q4_1 and Q5_1, values worked out on paper."""
    d, m = f16(0.5), f16(-2.0)
    # Byte 0 = 0x93: value 0 is its low nibble (3), value 16 its high nibble (9).
    q40 = _one_block(tmp_path, d + bytes([0x93]) + bytes(15), Q.Q4_0)
    assert (q40[0], q40[16], q40[1]) == (0.5 * (3 - 8), 0.5 * (9 - 8), 0.5 * (0 - 8))
    q41 = _one_block(tmp_path, d + m + bytes([0x93]) + bytes(15), Q.Q4_1)
    assert (q41[0], q41[16], q41[1]) == (0.5 * 3 - 2.0, 0.5 * 9 - 2.0, -2.0)
    # Q5_1: bit j of qh is the fifth bit of value j. Bytes 0x21, 0x50 hold values
    # 0 (1), 16 (2), 1 (0), 17 (5); qh sets the fifth bit of values 0 and 17.
    qh = ((1 << 0) | (1 << 17)).to_bytes(4, "little")
    q51 = _one_block(tmp_path, d + m + qh + bytes([0x21, 0x50]) + bytes(14), Q.Q5_1)
    assert (q51[0], q51[16], q51[1], q51[17]) == (0.5 * 17 - 2.0, 0.5 * 2 - 2.0, -2.0, 0.5 * 21 - 2.0)


def test_unsupported_quant_type_is_named(tmp_path):
    raw = np.zeros((2, 84), np.uint8)  # one Q2_K block per row
    path = write_gguf(tmp_path / "t.gguf", tensors={"w": (raw, Q.Q2_K)})
    with pytest.raises(UnsupportedError, match=r"'w' has quantization type Q2_K.*supported: "):
        GGUFFile(path).read("w")
