"""testdata/hash-vectors.json against the Python implementation (the Swift side checks the same
file in Tests/RecorderTests/HashVectorTests.swift)."""

import json
import os
import struct

import numpy as np
import pytest

from cwrepro.hashing import DType, canonical, digest_input, header_hash, hex64, step_digest, tensor_hash
from cwrepro.stats import statistics

from conftest import TESTDATA

with open(os.path.join(TESTDATA, "hash-vectors.json"), encoding="utf-8") as _f:
    VECTORS = json.load(_f)


def decode(values, d: DType) -> np.ndarray:
    out = []
    for v in values:
        if isinstance(v, str):
            assert d.is_float and v.startswith("0x")
            bits = int(v, 16)
            out.append(np.frombuffer(struct.pack("<I" if d is DType.F32 else "<Q", bits), dtype=d.numpy)[0])
        else:
            out.append(v)
    return np.array(out, dtype=d.numpy)


@pytest.mark.parametrize("t", VECTORS["tensors"], ids=lambda t: t["label"])
def test_tensor_vector(t):
    d = DType.from_label(t["dtype"])
    a = decode(t["values"], d).reshape(t["shape"])
    assert a.shape == tuple(t["shape"])
    assert a.tobytes().hex() == t["bytes"]
    assert hex64(header_hash(d, t["shape"])) == t["header"]
    assert hex64(tensor_hash(a)) == t["hash"]
    assert statistics(a).to_json() == t["stats"]


def test_distinct_groups_hash_differently():
    hashes = {t["label"]: t["hash"] for t in VECTORS["tensors"]}
    for group in VECTORS["distinct"]:
        assert len({hashes[label] for label in group}) == len(group), group


@pytest.mark.parametrize("d", VECTORS["digests"], ids=lambda d: d["label"])
def test_digest_vector(d):
    entries = [(e["name"], e["role"], int(e["hash"], 16)) for e in d["entries"]]
    assert digest_input(entries).hex() == d["input"]
    assert hex64(step_digest(entries)) == d["digest"]


@pytest.mark.parametrize("values, dtype, shape, expected", [
    ([1.0], DType.F32, [], "61f8425a2c9135f1"),
    ([1, 2, 3, 4, 5, 6], DType.F32, [2, 3], "349c61512275a40c"),
    ([1, 2, 3, 4, 5, 6], DType.F32, [3, 2], "bc9d7ab9c0f82cfe"),
    ([3, 1, 4, 1, -5], DType.I32, [5], "81f48b2b75e75c7b"),
])
def test_the_vectors_published_in_record_format_md(values, dtype, shape, expected):
    """The known answers of docs/record-format.md (computed there independently of this file)."""
    assert hex64(tensor_hash(np.array(values, dtype.numpy).reshape(shape))) == expected
    special = np.frombuffer(bytes.fromhex("00000000000000800000c07f0000807f"), "<f4")
    assert hex64(tensor_hash(special)) == "a908d7226b7ff7c7"
    ramp = np.arange(1000).astype(np.float32) * np.float32(0.001)
    assert hex64(tensor_hash(ramp)) == "c7e32a5be1506bf8"
    assert hex64(step_digest([("1.weight", "param", 1), ("1.bias", "param", 2)])) == "8fd0223c45c74cd0"


def test_empty_input_is_the_published_xxh3_value():
    # XXH3-64 of the empty input, seed 0 (the xxHash reference value; Swift checks the same).
    assert step_digest([]) == 0x2D06800538D394C2


def test_canonical_dtypes():
    assert canonical(np.array([1, 2], np.int64)).dtype == np.dtype("<i4")
    assert canonical(np.array([1.5], np.float64)).dtype == np.dtype("<f4")
    assert canonical(np.array([1.5], np.float16)).dtype == np.dtype("<f4")
    assert canonical(np.array([True, False])).dtype == np.dtype("<i4")
    big_endian = np.array([1.0, -2.0], dtype=">f4")
    assert tensor_hash(canonical(big_endian)) == tensor_hash(np.array([1.0, -2.0], "<f4"))
    with pytest.raises(ValueError, match=r"labels: values 0\.\.4294967296 do not fit i32"):
        canonical(np.array([0, 2 ** 32], np.int64), what="labels")
    with pytest.raises(TypeError, match="cannot canonicalise numpy <U1"):
        canonical(np.array(["a"]))


def test_bfloat16_is_widened_exactly():
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes (installed with tensorflow) provides numpy's bfloat16")
    a = canonical(np.array([1.5, -0.0078125], ml_dtypes.bfloat16))
    assert a.dtype == np.dtype("<f4") and a.tolist() == [1.5, -0.0078125]


def test_non_contiguous_views_hash_as_their_row_major_values():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert tensor_hash(a.T) == tensor_hash(np.array(a.T, order="C"))
    assert tensor_hash(a.T) != tensor_hash(a.reshape(4, 3))
    assert tensor_hash(a[:, ::2]) == tensor_hash(np.array([[0, 2], [4, 6], [8, 10]], np.float32))
