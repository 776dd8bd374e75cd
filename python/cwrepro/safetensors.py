"""Read and write safetensors files with numpy (F32, F64, F16, BF16 read as float32; I32, I64),
the format of cwrepro's `model.init` and weight exports: an 8-byte little-endian header length,
a JSON header {name: {dtype, shape, data_offsets}}, then the raw little-endian data."""

from __future__ import annotations

import json
import struct
from typing import Dict

import numpy as np

__all__ = ["load", "save"]

_READ = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I32": "<i4", "I64": "<i8", "U8": "u1"}
_WRITE = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i4"): "I32", np.dtype("<i8"): "I64", np.dtype("u1"): "U8"}


def load(path: str) -> Dict[str, np.ndarray]:
    """Every tensor of a safetensors file, in file order (floating types as float32)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
    n = struct.unpack("<Q", data[:8])[0]
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} exceeds the file size {len(data)}")
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out: Dict[str, np.ndarray] = {}
    for name, info in sorted(((k, v) for k, v in header.items() if k != "__metadata__"), key=lambda kv: kv[1]["data_offsets"][0]):
        start, end = info["data_offsets"]
        dt = info["dtype"]
        raw = body[start:end]
        if dt == "BF16":
            bits = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
            a = bits.view("<f4")
        elif dt in _READ:
            a = np.frombuffer(raw, _READ[dt])
        else:
            raise ValueError(f"{path}: tensor {name!r} has dtype {dt}; readable: {', '.join(_READ)}, BF16")
        a = a.reshape(info["shape"])
        if a.dtype.kind == "f" and a.dtype != np.float32:
            a = a.astype(np.float32)
        out[name] = a.copy()
    return out


def save(path: str, tensors: Dict[str, np.ndarray], metadata: Dict[str, str] | None = None):
    """Writes tensors in the given order (float32/float64/int32/int64/uint8, little-endian)."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name, a in tensors.items():
        a = np.asarray(a)
        a = np.asarray(a, dtype=a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype, order="C")
        if a.dtype not in _WRITE:
            raise ValueError(f"tensor {name!r}: dtype {a.dtype} cannot be written (F32, F64, I32, I64, U8)")
        b = a.tobytes()
        header[name] = {"dtype": _WRITE[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
