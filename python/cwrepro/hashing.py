"""Canonical tensors, tensor hashes and step digests, bit-exact with Swift's `TensorHash`
(Sources/Recorder/TensorHash.swift); known-answer vectors in testdata/hash-vectors.json.

- header hash = XXH3-64 (seed 0) over the little-endian UInt64 words [dtype code, rank, dims...]
- tensor hash = XXH3-64 over the little-endian element bytes in row-major order, seeded with
  the header hash: a permuted, reshaped or retyped tensor hashes differently.
- step digest = XXH3-64 (seed 0) over, per tensor in execution order: the name's UTF-8, 0x00,
  the role's UTF-8, 0x00, the tensor hash as 8 little-endian bytes (order-sensitive).

Canonical dtypes of captured tensors: every floating tensor as float32 (IEEE binary32, the
framework's own bits when it computes in float32), every integer tensor (labels, indices) as
int32 (torch's int64 labels are converted; values outside int32 are an error).
"""

from __future__ import annotations

import enum
import functools
from typing import Iterable, Sequence, Tuple

import numpy as np
import xxhash

__all__ = ["DType", "canonical", "header_hash", "tensor_hash", "digest_input", "step_digest", "hex64", "parse_hex64"]


class DType(enum.Enum):
    """Element types of hashed tensors: (code, name, numpy little-endian type). The code is part
    of every tensor hash."""

    F32 = (1, "f32", "<f4")
    I32 = (2, "i32", "<i4")
    U32 = (3, "u32", "<u4")
    I64 = (4, "i64", "<i8")
    F64 = (5, "f64", "<f8")
    U8 = (6, "u8", "u1")

    def __init__(self, code: int, label: str, numpy_type: str):
        self.code = code
        self.label = label
        self.numpy = np.dtype(numpy_type)

    @property
    def size(self) -> int:
        return self.numpy.itemsize

    @property
    def is_float(self) -> bool:
        return self in (DType.F32, DType.F64)

    @classmethod
    def from_label(cls, label: str) -> "DType":
        for d in cls:
            if d.label == label:
                return d
        raise ValueError(f"unknown dtype {label!r}; known: {', '.join(d.label for d in cls)}")

    @classmethod
    def of(cls, array: np.ndarray) -> "DType":
        """The DType of a numpy array whose element type is one of the six (any byte order)."""
        kind, size = array.dtype.kind, array.dtype.itemsize
        d = _BY_KIND.get((kind, size))
        if d is not None:
            return d
        raise TypeError(f"no cwrepro dtype for numpy {array.dtype}; hashable: "
                        f"{', '.join(f'{d.label} ({d.numpy})' for d in cls)}")


_BY_KIND = {(d.numpy.kind, d.numpy.itemsize): d for d in DType}


def canonical(values, dtype: DType | None = None, what: str = "tensor") -> np.ndarray:
    """`values` (numpy array, or anything `np.asarray` takes) as a C-contiguous little-endian
    array of a cwrepro dtype. With `dtype` None: floating -> float32, integer and bool -> int32
    (values outside int32 raise ValueError naming `what`). With `dtype` given: converted to it,
    integers range-checked."""
    a = np.asarray(values)
    if dtype is None:
        if a.dtype.kind == "f" or a.dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
            dtype = DType.F32
        elif a.dtype.kind in "iub":
            dtype = DType.I32
        else:
            raise TypeError(f"{what}: cannot canonicalise numpy {a.dtype} (floating -> f32, integer -> i32)")
    if not dtype.is_float and a.dtype.kind in "iu" and a.size > 0 and a.dtype != dtype.numpy:
        info = np.iinfo(dtype.numpy)
        lo, hi = int(a.min()), int(a.max())
        if lo < info.min or hi > info.max:
            raise ValueError(f"{what}: values {lo}..{hi} do not fit {dtype.label} ({info.min}..{info.max})")
    return np.asarray(a, dtype=dtype.numpy, order="C")


def header_hash(dtype: DType, shape: Sequence[int]) -> int:
    """XXH3-64 (seed 0) of the little-endian UInt64 words [dtype code, rank, dims...]."""
    return _header_hash(dtype, tuple(int(n) for n in shape))


@functools.lru_cache(maxsize=4096)
def _header_hash(dtype: DType, shape: Tuple[int, ...]) -> int:
    words = np.array([dtype.code, len(shape), *shape], dtype="<u8")
    return xxhash.xxh3_64_intdigest(words.tobytes())


def tensor_hash(array: np.ndarray, dtype: DType | None = None) -> int:
    """XXH3-64 of the tensor's little-endian row-major element bytes, seeded with its header
    hash. `array` must hold one of the six dtypes (see `canonical`); `dtype` defaults to it."""
    a = np.asarray(array)
    d = dtype or DType.of(a)
    raw = np.asarray(a, dtype=d.numpy, order="C")
    return xxhash.xxh3_64_intdigest(memoryview(raw.reshape(-1)).cast("B"), seed=header_hash(d, raw.shape))


def tensor_hash_bytes(raw: bytes, dtype: DType, shape: Sequence[int]) -> int:
    """The tensor hash of already-canonical little-endian bytes."""
    return xxhash.xxh3_64_intdigest(raw, seed=header_hash(dtype, shape))


def digest_input(entries: Iterable[Tuple[str, str, int]]) -> bytes:
    """The bytes a step digest hashes: per entry name UTF-8, 0x00, role UTF-8, 0x00, hash (8 LE bytes)."""
    out = bytearray()
    for name, role, h in entries:
        out += name.encode("utf-8") + b"\0" + role.encode("utf-8") + b"\0" + int(h).to_bytes(8, "little")
    return bytes(out)


def step_digest(entries: Iterable[Tuple[str, str, int]]) -> int:
    """XXH3-64 (seed 0) of `digest_input(entries)`: order-sensitive, never XOR or sum."""
    return xxhash.xxh3_64_intdigest(digest_input(entries))


def hex64(value: int) -> str:
    """16 lowercase hex digits (as cwrepro prints hashes)."""
    return f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


def parse_hex64(text: str) -> int:
    if not isinstance(text, str) or len(text) != 16 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"expected 16 lowercase hex digits, got {text!r}")
    return int(text, 16)
