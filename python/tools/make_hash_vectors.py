#!/usr/bin/env python3
"""Writes testdata/hash-vectors.json: known-answer vectors of cwrepro's tensor hash, header hash,
step digest and statistics, checked by python/tests/test_hash_vectors.py and by the Swift test
Tests/RecorderTests/HashVectorTests.swift (two independent implementations over one file).

Run from the repository root: PYTHONPATH=python python3 python/tools/make_hash_vectors.py
Regenerate only when the hash definition changes (it never should: records depend on it).

Format (version 1):
  tensors[]: {label, dtype, shape, values, bytes, header, hash, stats}
    values: one entry per element, row-major. Integers as JSON numbers (|v| < 2^53); floats as
      JSON numbers when finite and not -0.0 (each exactly representable in the dtype), else as
      a string "0x" + the IEEE-754 bit pattern in hex (8 digits for f32, 16 for f64).
    bytes: the little-endian element bytes that are hashed, as lowercase hex.
    header, hash: 16 lowercase hex digits.
    stats: {nonfinite, min, max, mean, l2} as trace lines hold them (null when nothing is finite),
      the sums in cwrepro's 16-lane order (cwrepro/stats.py).
  distinct: groups of labels whose hashes must all differ (permuted, reshaped, retyped, -0.0...).
  digests[]: {label, entries: [{name, role, hash}], input, digest}: input = the hex of the
    digest's input bytes.
"""

import json
import math
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from cwrepro.hashing import DType, digest_input, header_hash, hex64, step_digest, tensor_hash  # noqa: E402
from cwrepro.stats import statistics  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "testdata", "hash-vectors.json")


def f32_bits(bits):
    return np.frombuffer(struct.pack("<I", bits), dtype="<f4")[0]


def spell(a: np.ndarray, d: DType):
    """Element values as the file spells them (see the module doc)."""
    out = []
    for v in a.reshape(-1):
        if d.is_float:
            fv = float(v)
            if math.isfinite(fv) and not (fv == 0 and math.copysign(1, fv) < 0):
                out.append(fv)
            else:
                if d is DType.F32:
                    out.append("0x%08x" % struct.unpack("<I", np.float32(v).tobytes())[0])
                else:
                    out.append("0x%016x" % struct.unpack("<Q", np.float64(v).tobytes())[0])
        else:
            out.append(int(v))
    return out


def tensor(label, values, dtype: DType, shape):
    a = np.array(values, dtype=dtype.numpy).reshape(shape) if not isinstance(values, np.ndarray) \
        else np.asarray(values, dtype=dtype.numpy, order="C").reshape(shape)
    s = statistics(a)
    return {
        "label": label,
        "dtype": dtype.label,
        "shape": list(shape),
        "values": spell(a, dtype),
        "bytes": a.tobytes().hex(),
        "header": hex64(header_hash(dtype, shape)),
        "hash": hex64(tensor_hash(a, dtype)),
        "stats": s.to_json(),
    }


def main():
    six = [0.0, 1.0, -1.0, 0.5, 3.25, -2.5]
    nan_q, nan_payload, nan_neg = f32_bits(0x7FC00000), f32_bits(0x7FC00001), f32_bits(0xFFC00000)
    inf, ninf = np.float32(np.inf), np.float32(-np.inf)
    ramp = lambda n: (np.arange(n, dtype=np.float64) / 7 - 3).astype(np.float32)  # noqa: E731
    t = [
        tensor("f32 2x3", six, DType.F32, [2, 3]),
        tensor("f32 3x2 (same values, reshaped)", six, DType.F32, [3, 2]),
        tensor("f32 6 (same values, flattened)", six, DType.F32, [6]),
        tensor("f32 2x3 transposed (values of 3x2 transposed)", np.array(six, np.float32).reshape(3, 2).T.copy(), DType.F32, [2, 3]),
        tensor("f32 2x3 permuted (first two swapped)", [1.0, 0.0, -1.0, 0.5, 3.25, -2.5], DType.F32, [2, 3]),
        tensor("f32 empty [0]", [], DType.F32, [0]),
        tensor("f32 empty [2,0,3]", [], DType.F32, [2, 0, 3]),
        tensor("f32 scalar []", [2.5], DType.F32, []),
        tensor("f32 [1]", [2.5], DType.F32, [1]),
        tensor("f32 +0.0", [0.0], DType.F32, [1]),
        tensor("f32 -0.0", [np.float32(-0.0)], DType.F32, [1]),
        tensor("f32 quiet NaN 0x7fc00000", [nan_q, 1.0], DType.F32, [2]),
        tensor("f32 NaN with payload 0x7fc00001", [nan_payload, 1.0], DType.F32, [2]),
        tensor("f32 negative NaN 0xffc00000", [nan_neg, 1.0], DType.F32, [2]),
        tensor("f32 all non-finite", [nan_q, inf, ninf], DType.F32, [3]),
        tensor("f32 extremes", [np.finfo(np.float32).max, -np.finfo(np.float32).max, f32_bits(1), np.finfo(np.float32).tiny, inf],
               DType.F32, [5]),
        tensor("f32 2 (8 bytes)", [1.5, -7.0], DType.F32, [2]),
        tensor("f32 4 (16 bytes)", ramp(4), DType.F32, [4]),
        tensor("f32 32 (128 bytes)", ramp(32), DType.F32, [32]),
        tensor("f32 60 (240 bytes)", ramp(60), DType.F32, [60]),
        tensor("f32 1000 (4000 bytes, several XXH3 blocks)", ramp(1000), DType.F32, [10, 100]),
        tensor("f32 1e16 then 40 ones (statistics: the summation order shows)", [1e16] + [1.0] * 40, DType.F32, [41]),
        tensor("i32 labels", [3, 1, 4, 1, 5], DType.I32, [5]),
        tensor("i32 zero (same bytes as f32 +0.0)", [0], DType.I32, [1]),
        tensor("i32 negative and extremes", [-1, -(2 ** 31), 2 ** 31 - 1, 0], DType.I32, [2, 2]),
        tensor("u32", [0, 1, 2 ** 32 - 1], DType.U32, [3]),
        tensor("i64", [-1, 2 ** 40, -(2 ** 52)], DType.I64, [3]),
        tensor("f64", [0.1, -2.0, 1e100], DType.F64, [3]),
        tensor("f64 NaN and -0.0", [float("nan"), -0.0], DType.F64, [2]),
        tensor("u8 1 byte", [7], DType.U8, [1]),
        tensor("u8 3 bytes", [0, 128, 255], DType.U8, [3]),
    ]
    distinct = [
        ["f32 2x3", "f32 3x2 (same values, reshaped)", "f32 6 (same values, flattened)",
         "f32 2x3 transposed (values of 3x2 transposed)", "f32 2x3 permuted (first two swapped)"],
        ["f32 empty [0]", "f32 empty [2,0,3]"],
        ["f32 scalar []", "f32 [1]"],
        ["f32 +0.0", "f32 -0.0", "i32 zero (same bytes as f32 +0.0)"],
        ["f32 quiet NaN 0x7fc00000", "f32 NaN with payload 0x7fc00001", "f32 negative NaN 0xffc00000"],
    ]

    h = {v["label"]: int(v["hash"], 16) for v in t}
    e_step = [("batch.x", "batch", h["f32 2x3"]), ("batch.y", "batch", h["i32 labels"]), ("loss", "loss", h["f32 scalar []"]),
              ("1.weight", "grad", h["f32 3x2 (same values, reshaped)"]), ("1.weight", "param", h["f32 2x3 permuted (first two swapped)"])]
    e_swapped = [e_step[1], e_step[0]] + e_step[2:]
    e_unicode = [("ß.weight", "param", h["f32 +0.0"]), ("重み.バイアス", "param", h["f32 -0.0"]),
                 ("🙂.output", "activation", 0xFFFFFFFFFFFFFFFF), ("é", "optimizer-state", 0)]
    e_nfd = [("e\u0301", "optimizer-state", 0)]  # "é" decomposed: other bytes, other digest

    def digest(label, entries):
        return {"label": label,
                "entries": [{"name": n, "role": r, "hash": hex64(x)} for n, r, x in entries],
                "input": digest_input(entries).hex(),
                "digest": hex64(step_digest(entries))}

    digests = [
        digest("empty step", []),
        digest("a training step", e_step),
        digest("the same step with batch.x and batch.y swapped", e_swapped),
        digest("non-ASCII names (UTF-8, NFC as written)", e_unicode),
        digest("a decomposed name (e + combining acute, NFD)", e_nfd),
    ]
    doc = {
        "format": "cwrepro-hash-vectors",
        "version": 1,
        "about": "Known-answer vectors of cwrepro's tensor hash, header hash, step digest and statistics "
                 "(docs/trace-format.md). Written by python/tools/make_hash_vectors.py; checked by "
                 "python/tests/test_hash_vectors.py and Tests/RecorderTests/HashVectorTests.swift.",
        "tensors": t,
        "distinct": distinct,
        "digests": digests,
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(t)} tensors, {len(digests)} digests")


if __name__ == "__main__":
    main()
