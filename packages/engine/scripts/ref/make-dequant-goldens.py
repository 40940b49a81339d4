#!/usr/bin/env python3
"""Regenerates packages/engine/test/fixtures/quant/: dequantization goldens from gguf-py, for every tensor
type the engine stores (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K).

Each case is a small matrix of seeded random blocks: the f16 scale fields (d, and m / dmin where the type
has them) are finite f16 values of random sign and moderate exponent, every other byte is random (quants,
packed 6-bit scales, high bits, Q6_K's signed scales). Row counts are odd and row lengths are a few blocks
(96 / 224 elements for 32-blocks, 768 / 1792 for 256-blocks, 37 / 13 for float types), so nothing is a
multiple of a typical workgroup size. One more "edge" case per type puts special values in the scale
fields (+-0, subnormals, the largest finite, +-inf; for float types every special pattern including NaN),
so its results may hold inf and NaN.

The expected values are gguf.quants.dequantize(blocks, type), numpy's float32 arithmetic. The tests
compare float32 bit patterns, except that an expected NaN only asks for a NaN (NaN bits are not portable).

Output (deterministic for a given numpy and gguf version):
  index.json    generator, gguf and numpy versions, seed, and per case: name, type, ggmlName, rows, cols,
                seed, the byte range of its stored blocks and of its float32 values in goldens.bin,
                and whether the values hold NaN
  goldens.bin   each case's stored bytes, then (4-aligned) its float32 little-endian values [rows, cols]

Generated with gguf 0.19.0 and numpy 2.4.6.

Usage: python3 -m venv .venv && .venv/bin/pip install gguf numpy
       .venv/bin/python packages/engine/scripts/ref/make-dequant-goldens.py
       npx prettier --write packages/engine/test/fixtures/quant/index.json
"""

import json
import os
from importlib.metadata import version

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf.quants import dequantize

OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "quant")
SEED = 20260601

# engine type -> GGUF type
TYPES = {
    "f32": GGMLQuantizationType.F32,
    "f16": GGMLQuantizationType.F16,
    "bf16": GGMLQuantizationType.BF16,
    "q8_0": GGMLQuantizationType.Q8_0,
    "q4_0": GGMLQuantizationType.Q4_0,
    "q4_1": GGMLQuantizationType.Q4_1,
    "q5_0": GGMLQuantizationType.Q5_0,
    "q5_1": GGMLQuantizationType.Q5_1,
    "q4_k": GGMLQuantizationType.Q4_K,
    "q5_k": GGMLQuantizationType.Q5_K,
    "q6_k": GGMLQuantizationType.Q6_K,
}

# Byte offsets of the f16 scale fields within one block.
SCALE_FIELDS = {
    "q8_0": [0],
    "q4_0": [0],
    "q4_1": [0, 2],
    "q5_0": [0],
    "q5_1": [0, 2],
    "q4_k": [0, 2],
    "q5_k": [0, 2],
    "q6_k": [208],
}

# (rows, blocks per row) of the two random cases per quant type, and (rows, cols) per float type.
QUANT_SHAPES = [(5, 3), (3, 7)]
FLOAT_SHAPES = [(5, 37), (7, 13)]

# f16 specials for scale fields: +0, -0, smallest subnormal, largest negative subnormal, smallest
# normal, 1.0, -2.5, largest finite, +inf, -inf.
EDGE_F16 = [0x0000, 0x8000, 0x0001, 0x83FF, 0x0400, 0x3C00, 0xC100, 0x7BFF, 0x7C00, 0xFC00]


def sane_f16(rng: np.random.Generator, n: int) -> np.ndarray:
    """n finite f16 bit patterns: random sign and mantissa, exponent 2^-10 .. 2^5."""
    sign = rng.integers(0, 2, n, dtype=np.uint16) << 15
    exp = rng.integers(15 - 10, 15 + 6, n, dtype=np.uint16) << 10
    mant = rng.integers(0, 1024, n, dtype=np.uint16)
    return (sign | exp | mant).astype(np.uint16)


def put_f16(blocks: np.ndarray, offset: int, bits: np.ndarray) -> None:
    """Writes f16 bit patterns (one per block) into blocks[:, offset:offset + 2], little-endian."""
    blocks[:, offset] = (bits & 0xFF).astype(np.uint8)
    blocks[:, offset + 1] = (bits >> 8).astype(np.uint8)


def quant_blocks(rng: np.random.Generator, engine_type: str, n_blocks: int, edge: bool) -> np.ndarray:
    _, type_size = GGML_QUANT_SIZES[TYPES[engine_type]]
    blocks = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    for k, offset in enumerate(SCALE_FIELDS[engine_type]):
        if edge:
            # every special value in every scale field, paired with different ones in the second field
            bits = np.array([EDGE_F16[(i + 3 * k) % len(EDGE_F16)] for i in range(n_blocks)], np.uint16)
        else:
            bits = sane_f16(rng, n_blocks)
        put_f16(blocks, offset, bits)
    return blocks


def no_nan_bits(bits: np.ndarray, exp_mask: int, mant_mask: int) -> np.ndarray:
    """Turns NaN patterns into finite ones by clearing the exponent's lowest bit."""
    nan = ((bits & exp_mask) == exp_mask) & ((bits & mant_mask) != 0)
    lowest_exp_bit = exp_mask & -exp_mask
    return np.where(nan, bits & ~np.array(lowest_exp_bit, bits.dtype), bits).astype(bits.dtype)


def float_bytes(rng: np.random.Generator, engine_type: str, rows: int, cols: int, edge: bool) -> np.ndarray:
    if engine_type == "f32":
        if edge:
            specials = [0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x00800000, 0x7F7FFFFF,
                        0x7F800000, 0xFF800000, 0x7FC00000, 0xFF800001, 0x3F800000, 0xC0200000]
            bits = np.array(specials, np.uint32).reshape(rows, cols)
        else:
            bits = no_nan_bits(rng.integers(0, 2**32, (rows, cols), dtype=np.uint32), 0x7F800000, 0x007FFFFF)
        return bits.astype("<u4").view(np.uint8).reshape(rows, cols * 4)
    if edge:
        if engine_type == "f16":
            specials = [0x0000, 0x8000, 0x0001, 0x83FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0xFC01,
                        0x3C00, 0xC100]
        else:
            specials = [0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x7F7F, 0x7F80, 0xFF80, 0x7FC0, 0xFF81,
                        0x3F80, 0xC020]
        bits = np.array(specials, np.uint16).reshape(rows, cols)
    else:
        bits = rng.integers(0, 2**16, (rows, cols), dtype=np.uint16)
        if engine_type == "f16":
            bits = no_nan_bits(bits, 0x7C00, 0x03FF)
        else:
            bits = no_nan_bits(bits, 0x7F80, 0x007F)
    return bits.astype("<u2").view(np.uint8).reshape(rows, cols * 2)


def main() -> None:
    os.makedirs(OUT_DIR, exist_ok=True)
    blob = bytearray()
    cases = []
    case_seed = SEED
    for engine_type, qtype in TYPES.items():
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        is_float = block_size == 1
        shapes = FLOAT_SHAPES if is_float else [(r, b * block_size) for r, b in QUANT_SHAPES]
        edge_shape = (1, 12) if is_float else (1, len(EDGE_F16) * block_size)
        for name, (rows, cols), edge in [
            ("a", shapes[0], False),
            ("b", shapes[1], False),
            ("edge", edge_shape, True),
        ]:
            case_seed += 1
            rng = np.random.default_rng(case_seed)
            if is_float:
                stored = float_bytes(rng, engine_type, rows, cols, edge)
            else:
                n_blocks = rows * cols // block_size
                stored = quant_blocks(rng, engine_type, n_blocks, edge).reshape(rows, -1)
            assert stored.shape == (rows, cols // block_size * type_size)
            with np.errstate(invalid="ignore", over="ignore"):
                values = np.asarray(dequantize(stored, qtype), dtype=np.float32)
            assert values.shape == (rows, cols), (engine_type, values.shape)
            packed_offset = len(blob)
            blob += stored.tobytes()
            while len(blob) % 4:
                blob.append(0)
            values_offset = len(blob)
            blob += values.astype("<f4").tobytes()
            cases.append({
                "name": f"{engine_type}-{name}",
                "type": engine_type,
                "ggmlName": qtype.name,
                "rows": rows,
                "cols": cols,
                "seed": case_seed,
                "packedOffset": packed_offset,
                "packedBytes": stored.size,
                "valuesOffset": values_offset,
                "valuesCount": values.size,
                "hasNaN": bool(np.isnan(values).any()),
            })
    index = {
        "generator": "packages/engine/scripts/ref/make-dequant-goldens.py",
        "gguf": version("gguf"),
        "numpy": np.__version__,
        "seed": SEED,
        "file": "goldens.bin",
        "cases": cases,
    }
    with open(os.path.join(OUT_DIR, "goldens.bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(OUT_DIR, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases, {len(blob)} bytes -> {os.path.normpath(OUT_DIR)}")


if __name__ == "__main__":
    main()
