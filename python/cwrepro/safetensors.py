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
_SIZE = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I32": 4, "I64": 8, "U8": 1}


def _corrupt(path, what: str):
    raise ValueError(f"{path}: {what}; the file is not a valid safetensors file (corrupt or truncated): write it again")


def _header(path, data: bytes) -> dict:
    """The JSON header of a safetensors file's bytes, checked to be an object."""
    if len(data) < 8:
        _corrupt(path, f"{len(data)} bytes, shorter than the 8-byte header length")
    n = struct.unpack("<Q", data[:8])[0]
    if 8 + n > len(data):
        _corrupt(path, f"header length {n} exceeds the file size {len(data)}")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except UnicodeDecodeError:
        _corrupt(path, "the header is not UTF-8 text")
    except json.JSONDecodeError as e:
        _corrupt(path, f"the header is not valid JSON ({e.msg} at character {e.pos})")
    if not isinstance(header, dict):
        _corrupt(path, f"the header is a JSON {type(header).__name__}, not an object of tensors")
    return header


def _entry(path, name: str, info, body_size: int):
    """(dtype, shape, start, end) of one header entry, checked against the data it points at."""
    if not isinstance(info, dict) or not isinstance(info.get("dtype"), str):
        _corrupt(path, f"tensor {name!r} has no dtype")
    dt, shape, offsets = info["dtype"], info.get("shape"), info.get("data_offsets")
    if dt not in _SIZE:
        raise ValueError(f"{path}: tensor {name!r} has dtype {dt}; readable: {', '.join(_READ)}, BF16")
    if not isinstance(shape, list) or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in shape):
        _corrupt(path, f"tensor {name!r} has shape {shape!r}, not a list of non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or \
            any(isinstance(o, bool) or not isinstance(o, int) for o in offsets) or not 0 <= offsets[0] <= offsets[1]:
        _corrupt(path, f"tensor {name!r} has data_offsets {offsets!r}, not [start, end] with 0 <= start <= end")
    start, end = offsets
    if end > body_size:
        _corrupt(path, f"tensor {name!r} ends at byte {end} of the data, which holds {body_size} bytes")
    need = int(np.prod(shape, dtype=np.int64)) * _SIZE[dt]
    if end - start != need:
        _corrupt(path, f"tensor {name!r} of shape {shape} and dtype {dt} needs {need} bytes; data_offsets {offsets} "
                       f"give {end - start}")
    return dt, shape, start, end


def load(path: str) -> Dict[str, np.ndarray]:
    """Every tensor of a safetensors file, in file order (floating types as float32). A file
    that breaks the format raises ValueError naming the file and what is wrong."""
    with open(path, "rb") as f:
        data = f.read()
    header = _header(path, data)
    body = data[8 + struct.unpack("<Q", data[:8])[0]:]
    entries = [(name, _entry(path, name, info, len(body))) for name, info in header.items() if name != "__metadata__"]
    out: Dict[str, np.ndarray] = {}
    for name, (dt, shape, start, end) in sorted(entries, key=lambda e: e[1][2]):
        raw = body[start:end]
        if dt == "BF16":
            bits = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
            a = bits.view("<f4")
        else:
            a = np.frombuffer(raw, _READ[dt])
        a = a.reshape(shape)
        if a.dtype.kind == "f" and a.dtype != np.float32:
            a = a.astype(np.float32)
        out[name] = a.copy()
    return out


def _check_metadata(metadata) -> Dict[str, str]:
    """safetensors metadata maps strings to strings (the format's `__metadata__`)."""
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata: a {type(metadata).__name__}; expected a dict of str to str")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata[{k!r}] = {v!r}: safetensors metadata maps strings to strings; "
                            f"convert it (e.g. str({v!r}))")
    return dict(metadata)


def save(path: str, tensors: Dict[str, np.ndarray], metadata: Dict[str, str] | None = None):
    """Writes tensors in the given order (float32/float64/int32/int64/uint8, little-endian), with
    optional `metadata`, a dict of str to str (the format allows nothing else)."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = _check_metadata(metadata)
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
