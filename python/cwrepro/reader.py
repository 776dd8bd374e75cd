"""The trace reader: parses a trace and checks every line and field against
docs/trace-format.md (version 1), recomputing each step digest, every prediction hash and, where
values are stored, every tensor hash and statistic. Any violation raises `TraceError` naming
the file, the line and the field (the Swift importer reports the same cases).

    trace = read_trace("run.trace")
    trace.header["framework"], [s.loss for s in trace.steps], trace.evaluations[-1]["accuracy"]
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .errors import TraceError
from .hashing import DType, hex64, step_digest, tensor_hash
from .stats import statistics
from .trace import FORMAT, LEVELS, ROLES, VERSION, level_includes

__all__ = ["Trace", "TraceStep", "TraceTensor", "read_trace"]

_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_HEX8 = re.compile(r"^[0-9a-f]{8}$")
_CREATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

HEADER_FIELDS = {"type", "format", "version", "name", "framework", "level", "seed", "keepTensors", "model", "optimizer",
                 "environment", "created"}
TENSOR_FIELDS = {"type", "step", "seq", "name", "role", "dtype", "shape", "hash", "stats"}
TENSOR_OPTIONAL = {"values"}
STATS_FIELDS = {"nonfinite", "min", "max", "mean", "l2"}
STEP_FIELDS = {"type", "step", "epoch", "loss", "lossBits", "lr", "tensors", "digest", "wallSeconds"}
EVAL_FIELDS = {"type", "step", "epoch", "split", "total", "correct", "accuracy", "perClassCorrect", "perClassTotal",
               "perClassAccuracy", "predictionsHash", "predictions", "loss", "lossBits"}
END_FIELDS = {"type", "status", "steps", "tensors", "evaluations", "wallSeconds", "error"}
MODEL_FIELDS = {"class", "layers", "note", "parameters"}
PARAMETER_FIELDS = {"name", "shape", "trainable"}
OPTIMIZER_FIELDS = {"class", "config", "stateNames", "hyperparameters"}
FRAMEWORK_FIELDS = {"name", "version"}


@dataclass
class TraceTensor:
    step: int
    seq: int
    name: str
    role: str
    dtype: str
    shape: List[int]
    hash: int
    stats: Dict[str, Any]
    values: Optional[np.ndarray] = None
    line: int = 0


@dataclass
class TraceStep:
    step: int
    epoch: int
    loss: Optional[float]
    loss_bits: Optional[str]
    lr: Optional[float]
    digest: int
    wall_seconds: float
    tensors: List[TraceTensor] = field(default_factory=list)
    line: int = 0

    @property
    def loss32(self) -> Optional[np.float32]:
        """The loss as the float32 its bits spell (NaN and Inf included)."""
        if self.loss_bits is None:
            return None
        return np.frombuffer(struct.pack("<I", int(self.loss_bits, 16)), dtype="<f4")[0]


@dataclass
class Trace:
    path: str
    header: Dict[str, Any]
    steps: List[TraceStep]
    evaluations: List[Dict[str, Any]]
    end: Optional[Dict[str, Any]]

    @property
    def complete(self) -> bool:
        """True when the trace has its end line with status `complete`."""
        return self.end is not None and self.end["status"] == "complete"

    @property
    def init(self) -> TraceStep:
        return self.steps[0]

    @property
    def training_steps(self) -> List[TraceStep]:
        return self.steps[1:]


class _Checker:
    def __init__(self, path: str):
        self.path = path
        self.line = 0

    def fail(self, fieldname: str, message: str):
        raise TraceError(self.path, self.line, fieldname, message)

    def fields(self, obj: dict, required: set, optional: set = frozenset(), where: str = ""):
        prefix = where + "." if where else ""
        for k in sorted(required - obj.keys()):
            self.fail(prefix + k, "missing")
        for k in sorted(obj.keys() - required - optional):
            self.fail(prefix + k, f"unknown field (known here: {', '.join(sorted(required | optional))})")

    def integer(self, obj: dict, key: str, lo: Optional[int] = None, where: str = "", nullable: bool = False) -> Optional[int]:
        v = obj[key]
        name = f"{where}.{key}" if where else key
        if v is None and nullable:
            return None
        if not isinstance(v, int) or isinstance(v, bool):
            self.fail(name, f"expected an integer, got {json.dumps(v)}")
        if lo is not None and v < lo:
            self.fail(name, f"{v} is below the minimum {lo}")
        return v

    def number(self, obj: dict, key: str, where: str = "", nullable: bool = False) -> Optional[float]:
        v = obj[key]
        name = f"{where}.{key}" if where else key
        if v is None and nullable:
            return None
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            self.fail(name, f"expected a number{' or null' if nullable else ''}, got {json.dumps(v)}")
        return float(v)

    def string(self, obj: dict, key: str, where: str = "", nullable: bool = False, nonempty: bool = True) -> Optional[str]:
        v = obj[key]
        name = f"{where}.{key}" if where else key
        if v is None and nullable:
            return None
        if not isinstance(v, str) or (nonempty and not v):
            self.fail(name, f"expected a {'non-empty ' if nonempty else ''}string, got {json.dumps(v)}")
        return v

    def hex16(self, obj: dict, key: str) -> int:
        v = obj[key]
        if not isinstance(v, str) or not _HEX16.match(v):
            self.fail(key, f"expected 16 lowercase hex digits, got {json.dumps(v)}")
        return int(v, 16)

    def shape(self, v, name: str) -> List[int]:
        if not isinstance(v, list) or any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in v):
            self.fail(name, f"expected an array of non-negative integers, got {json.dumps(v)}")
        return v

    def loss_pair(self, obj: dict, required: bool):
        """`loss` (number or null) and `lossBits` (8 hex digits or null), consistent with each other."""
        bits = obj["lossBits"]
        loss = obj["loss"]
        if bits is None:
            if required:
                what = "a training step" if obj["type"] == "step" else "an evaluation of at least one sample"
                self.fail("lossBits", f"missing value (null): {what} needs its float32 loss bits")
            if loss is not None:
                self.fail("loss", "must be null when lossBits is null")
            return
        if not isinstance(bits, str) or not _HEX8.match(bits):
            self.fail("lossBits", f"expected 8 lowercase hex digits (the float32 bit pattern), got {json.dumps(bits)}")
        f = float(np.frombuffer(struct.pack("<I", int(bits, 16)), dtype="<f4")[0])
        if math.isfinite(f):
            if loss is None or isinstance(loss, bool) or not isinstance(loss, (int, float)) or float(loss) != f:
                self.fail("loss", f"{json.dumps(loss)} is not the float32 value {f!r} of lossBits {bits}")
        elif loss is not None:
            self.fail("loss", f"must be null for the non-finite loss bits {bits}")


def _no_duplicates(c: _Checker):
    def hook(pairs):
        obj = {}
        for k, v in pairs:
            if k in obj:
                c.fail(k, "appears twice in one object")
            obj[k] = v
        return obj
    return hook


def _parse_line(c: _Checker, text: str) -> dict:
    try:
        obj = json.loads(text, parse_constant=lambda k: c.fail("", f"{k} is not JSON (non-finite numbers are written as null)"),
                         object_pairs_hook=_no_duplicates(c))
    except json.JSONDecodeError as e:
        c.fail("", f"not valid JSON ({e.msg} at column {e.colno})")
    if not isinstance(obj, dict):
        c.fail("", "expected a JSON object")
    t = obj.get("type")
    if not isinstance(t, str):
        c.fail("type", "missing (every line has a type: header, tensor, step, evaluation, end)")
    return obj


def _check_header(c: _Checker, h: dict) -> dict:
    if h["type"] != "header":
        c.fail("type", f"the first line must be the header, got {json.dumps(h['type'])}")
    if h.get("format") != FORMAT:
        c.fail("format", f"expected {json.dumps(FORMAT)}, got {json.dumps(h.get('format'))} (not a cwrepro trace)")
    v = h.get("version")
    if not isinstance(v, int) or isinstance(v, bool):
        c.fail("version", f"expected an integer, got {json.dumps(v)}")
    if v > VERSION:
        c.fail("version", f"{v} was written by a newer cwrepro; this reader knows version {VERSION}: upgrade the reader")
    if v < 1:
        c.fail("version", f"{v} is not a trace version (versions start at 1)")
    c.fields(h, HEADER_FIELDS)
    c.string(h, "name")
    fw = h["framework"]
    if not isinstance(fw, dict):
        c.fail("framework", "expected an object {name, version}")
    c.fields(fw, FRAMEWORK_FIELDS, where="framework")
    c.string(fw, "name", "framework")
    c.string(fw, "version", "framework")
    if h["level"] not in LEVELS:
        c.fail("level", f"expected one of {', '.join(LEVELS)}, got {json.dumps(h['level'])}")
    c.integer(h, "seed", lo=0, nullable=True)
    c.integer(h, "keepTensors", lo=-1)
    m = h["model"]
    if not isinstance(m, dict):
        c.fail("model", "expected an object {class, layers, note, parameters}")
    c.fields(m, MODEL_FIELDS, where="model")
    c.string(m, "class", "model")
    if m["layers"] is not None:
        if not isinstance(m["layers"], list) or any(not isinstance(x, dict) or not isinstance(x.get("type"), str) for x in m["layers"]):
            c.fail("model.layers", "expected null or an array of layer objects with a string \"type\" (train.json model.layers)")
    c.string(m, "note", "model", nullable=True)
    if m["layers"] is None and m["note"] is None:
        c.fail("model.note", "must say why model.layers is null")
    if not isinstance(m["parameters"], list):
        c.fail("model.parameters", "expected an array of {name, shape, trainable}")
    for i, p in enumerate(m["parameters"]):
        where = f"model.parameters[{i}]"
        if not isinstance(p, dict):
            c.fail(where, "expected an object {name, shape, trainable}")
        c.fields(p, PARAMETER_FIELDS, where=where)
        c.string(p, "name", where)
        c.shape(p["shape"], where + ".shape")
        if not isinstance(p["trainable"], bool):
            c.fail(where + ".trainable", f"expected true or false, got {json.dumps(p['trainable'])}")
    o = h["optimizer"]
    if o is not None:
        if not isinstance(o, dict):
            c.fail("optimizer", "expected null or an object {class, config, stateNames, hyperparameters}")
        c.fields(o, OPTIMIZER_FIELDS, where="optimizer")
        c.string(o, "class", "optimizer")
        if o["config"] is not None and (not isinstance(o["config"], dict) or not isinstance(o["config"].get("type"), str)):
            c.fail("optimizer.config", "expected null or a train.json optimizer object with a string \"type\"")
        if not isinstance(o["stateNames"], list) or any(not isinstance(s, str) or not s for s in o["stateNames"]):
            c.fail("optimizer.stateNames", "expected an array of non-empty strings")
        if not isinstance(o["hyperparameters"], dict):
            c.fail("optimizer.hyperparameters", "expected an object")
    env = h["environment"]
    if not isinstance(env, dict):
        c.fail("environment", "expected an object of strings")
    for k, val in env.items():
        if not k or not isinstance(val, str):
            c.fail(f"environment.{k}", f"expected a string, got {json.dumps(val)}")
    created = c.string(h, "created")
    if not _CREATED.match(created):
        c.fail("created", f"expected UTC time as YYYY-MM-DDTHH:MM:SSZ, got {json.dumps(created)}")
    return h


def _check_tensor(c: _Checker, t: dict, header: dict, step: int, seq: int, seen: set) -> TraceTensor:
    c.fields(t, TENSOR_FIELDS, TENSOR_OPTIONAL)
    s = c.integer(t, "step")
    if s != step:
        c.fail("step", f"{s}: expected {step} (steps run -1 (initialisation), 0, 1, ... and each ends with a step line)")
    q = c.integer(t, "seq")
    if q != seq:
        c.fail("seq", f"{q}: expected {seq} (tensors of a step are numbered 0, 1, ... in execution order)")
    name = c.string(t, "name")
    role = c.string(t, "role")
    if role not in ROLES:
        c.fail("role", f"{json.dumps(role)} is not a trace role ({', '.join(ROLES)})")
    if not level_includes(header["level"], role):
        c.fail("role", f"{role} tensors are not captured at level {header['level']}")
    if (name, role) in seen:
        c.fail("name", f"{json.dumps(name)} (role {role}) appears twice in step {step}")
    seen.add((name, role))
    dt = t["dtype"]
    if dt not in ("f32", "i32"):
        c.fail("dtype", f"expected \"f32\" or \"i32\" (canonical dtypes), got {json.dumps(dt)}")
    d = DType.from_label(dt)
    shape = c.shape(t["shape"], "shape")
    h = c.hex16(t, "hash")
    st = t["stats"]
    if not isinstance(st, dict):
        c.fail("stats", "expected an object {nonfinite, min, max, mean, l2}")
    c.fields(st, STATS_FIELDS, where="stats")
    nonfinite = c.integer(st, "nonfinite", lo=0, where="stats")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if nonfinite > count:
        c.fail("stats.nonfinite", f"{nonfinite} exceeds the element count {count}")
    if d is DType.I32 and nonfinite:
        c.fail("stats.nonfinite", "an i32 tensor has no non-finite elements")
    values = [c.number(st, k, "stats", nullable=True) for k in ("min", "max", "mean", "l2")]
    if nonfinite == count and any(v is not None for v in values):
        c.fail("stats", "min, max, mean and l2 must be null when no element is finite")
    if nonfinite < count and any(v is None for v in values):
        c.fail("stats", "min, max, mean and l2 are required (numbers) when some element is finite")
    if nonfinite < count:
        mn, mx, mean, l2 = values
        if not (mn <= mean <= mx) and not math.isclose(mean, mn) and not math.isclose(mean, mx):
            c.fail("stats.mean", f"{mean!r} lies outside [min, max] = [{mn!r}, {mx!r}]")
        if l2 < 0:
            c.fail("stats.l2", f"{l2!r} is negative")
    arr = None
    if "values" in t:
        raw = t["values"]
        if not isinstance(raw, str):
            c.fail("values", "expected a base64 string")
        try:
            b = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            c.fail("values", "not valid base64 (RFC 4648, standard alphabet, padded)")
        if len(b) != count * d.size:
            c.fail("values", f"{len(b)} bytes; shape {shape} of {dt} needs {count * d.size}")
        arr = np.frombuffer(bytearray(b), dtype=d.numpy).reshape(shape)
        if tensor_hash(arr, d) != h:
            c.fail("hash", f"{hex64(h)} is not the hash of the stored values ({hex64(tensor_hash(arr, d))})")
        if statistics(arr).to_json() != st:
            c.fail("stats", f"{json.dumps(st)} are not the statistics of the stored values ({json.dumps(statistics(arr).to_json())})")
    return TraceTensor(s, q, name, role, dt, shape, h, st, arr, c.line)


def _check_step(c: _Checker, s: dict, step: int, tensors: List[TraceTensor]) -> TraceStep:
    c.fields(s, STEP_FIELDS)
    n = c.integer(s, "step")
    if n != step:
        c.fail("step", f"{n}: expected {step}")
    epoch = c.integer(s, "epoch", lo=0)
    if step < 0 and (s["loss"] is not None or s["lossBits"] is not None):
        c.fail("lossBits" if s["lossBits"] is not None else "loss", "must be null for the initialisation step")
    c.loss_pair(s, required=step >= 0)
    lr = c.number(s, "lr", nullable=step < 0)
    if step < 0 and lr is not None:
        c.fail("lr", "must be null for the initialisation step")
    if lr is not None and lr < 0:
        c.fail("lr", f"{lr!r} is negative")
    count = c.integer(s, "tensors", lo=0)
    if count != len(tensors):
        c.fail("tensors", f"{count}, but the step has {len(tensors)} tensor lines")
    digest = c.hex16(s, "digest")
    expected = step_digest((t.name, t.role, t.hash) for t in tensors)
    if digest != expected:
        c.fail("digest", f"{hex64(digest)} is not the digest of the step's tensors ({hex64(expected)})")
    wall = c.number(s, "wallSeconds")
    if wall < 0:
        c.fail("wallSeconds", f"{wall!r} is negative")
    return TraceStep(n, epoch, s["loss"], s["lossBits"], lr, digest, wall, tensors, c.line)


def _check_evaluation(c: _Checker, e: dict, last_step: int, evaluated: Dict[Tuple[int, str], int]) -> dict:
    """One evaluation line. `evaluated` maps (step, split) of the evaluations before it to their
    lines: a trace holds at most one evaluation per step and split (a record holds one), and a
    second one is refused after the line's own checks, as the Swift importer does."""
    c.fields(e, EVAL_FIELDS)
    s = c.integer(e, "step", lo=-1)
    if s > last_step:
        c.fail("step", f"{s}: an evaluation follows the step line of the step it evaluates (last finished step: {last_step})")
    c.integer(e, "epoch", lo=0)
    c.string(e, "split")
    total = c.integer(e, "total", lo=0)
    correct = c.integer(e, "correct", lo=0)
    if correct > total:
        c.fail("correct", f"{correct} exceeds total {total}")
    acc = c.number(e, "accuracy")
    if acc != (correct / total if total else 0.0):
        c.fail("accuracy", f"{acc!r} is not correct / total = {correct}/{total}")
    lists = {}
    for k in ("perClassCorrect", "perClassTotal"):
        v = e[k]
        if not isinstance(v, list) or any(not isinstance(x, int) or isinstance(x, bool) or x < 0 for x in v):
            c.fail(k, "expected an array of non-negative integers")
        lists[k] = v
    pcc, pct = lists["perClassCorrect"], lists["perClassTotal"]
    if len(pcc) != len(pct) or not pct:
        c.fail("perClassCorrect", f"{len(pcc)} classes, perClassTotal has {len(pct)} (one entry per class, at least one)")
    if sum(pct) != total or sum(pcc) != correct:
        c.fail("perClassTotal", f"sums {sum(pct)} / {sum(pcc)} differ from total {total} / correct {correct}")
    if any(a > b for a, b in zip(pcc, pct)):
        c.fail("perClassCorrect", "a class has more correct predictions than samples")
    pca = e["perClassAccuracy"]
    if not isinstance(pca, list) or len(pca) != len(pct) or \
            any(not isinstance(x, (int, float)) or isinstance(x, bool) or x != (a / b if b else 0.0) for x, a, b in zip(pca, pcc, pct)):
        c.fail("perClassAccuracy", "expected perClassCorrect / perClassTotal per class (0 for a class without samples)")
    preds = e["predictions"]
    if not isinstance(preds, list) or len(preds) != total or \
            any(not isinstance(p, int) or isinstance(p, bool) or not 0 <= p < len(pct) for p in preds):
        c.fail("predictions", f"expected {total} integers in 0..{len(pct) - 1} (one predicted class per sample)")
    h = c.hex16(e, "predictionsHash")
    actual = tensor_hash(np.array(preds, dtype="<i4"), DType.I32)
    if h != actual:
        c.fail("predictionsHash", f"{hex64(h)} is not the i32 tensor hash of the predictions ({hex64(actual)})")
    c.loss_pair(e, required=total > 0)
    key = (s, e["split"])
    if key in evaluated:
        c.fail("split", f"a second evaluation of split {json.dumps(e['split'], ensure_ascii=False)} after step {s} (the first "
                        f"is on line {evaluated[key]}); a record holds one evaluation per step and split")
    evaluated[key] = c.line
    return e


def _check_end(c: _Checker, e: dict, steps: List[TraceStep], tensors: int, evaluations: int) -> dict:
    c.fields(e, END_FIELDS)
    if e["status"] not in ("complete", "failed"):
        c.fail("status", f"expected \"complete\" or \"failed\", got {json.dumps(e['status'])}")
    for k, actual in (("steps", len(steps) - 1), ("tensors", tensors), ("evaluations", evaluations)):
        v = c.integer(e, k, lo=0)
        if v != actual:
            c.fail(k, f"{v}, but the trace holds {actual}")
    c.number(e, "wallSeconds")
    c.string(e, "error", nullable=True)
    if e["status"] == "failed" and e["error"] is None:
        c.fail("error", "a failed trace says why")
    return e


def read_trace(path: str) -> Trace:
    """Reads and validates a trace file; raises TraceError at the first violation."""
    c = _Checker(str(path))
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TraceError(str(path), 0, "", f"cannot read: {e.strerror}") from None
    if data[:2] == b"\x1f\x8b":  # gzip, whatever the name (a killed writer's stream has no trailer)
        d = zlib.decompressobj(wbits=31)
        try:
            data = d.decompress(data)
        except zlib.error as e:
            raise TraceError(str(path), 0, "", f"corrupt gzip data ({e})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TraceError(str(path), data[:e.start].count(b"\n") + 1, "", "not valid UTF-8") from None
    if not text:
        raise TraceError(str(path), 0, "", "empty file (a trace starts with a header line)")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    else:
        c.line = len(lines)
        c.fail("", "the last line has no newline (the file was truncated while written)")
    header = None
    steps: List[TraceStep] = []
    evaluations: List[Dict[str, Any]] = []
    evaluated: Dict[Tuple[int, str], int] = {}
    end = None
    pending: List[TraceTensor] = []
    seen: set = set()
    step = -1
    tensor_total = 0
    for i, text_line in enumerate(lines):
        c.line = i + 1
        obj = _parse_line(c, text_line)
        if header is None:
            header = _check_header(c, obj)
            continue
        if end is not None:
            c.fail("type", "a line after the end line")
        t = obj["type"]
        if t == "tensor":
            pending.append(_check_tensor(c, obj, header, step, len(pending), seen))
        elif t == "step":
            st = _check_step(c, obj, step, pending)
            if step == -1:
                _check_init(c, header, st)
            steps.append(st)
            tensor_total += len(pending)
            pending, seen = [], set()
            step += 1
        elif t == "evaluation":
            if pending:
                c.fail("type", f"an evaluation inside step {step} (after its tensor lines, before its step line)")
            evaluations.append(_check_evaluation(c, obj, step - 1, evaluated))
        elif t == "end":
            if pending:
                c.fail("type", f"the end line comes before step {step}'s step line ({len(pending)} tensor lines without one)")
            end = _check_end(c, obj, steps, tensor_total, len(evaluations))
        elif t == "header":
            c.fail("type", "a second header line")
        else:
            c.fail("type", f"unknown line type {json.dumps(t)} (header, tensor, step, evaluation, end)")
    if header is None:
        raise TraceError(str(path), 0, "", "no header line")
    if pending:
        c.fail("", f"the trace ends inside step {step}: {len(pending)} tensor lines without a step line")
    if not steps:
        c.fail("", "no initialisation step (step -1)")
    return Trace(str(path), header, steps, evaluations, end)


def _check_init(c: _Checker, header: dict, init: TraceStep):
    """The initialisation step holds exactly the header's parameters, in order, role param."""
    params = header["model"]["parameters"]
    got = [(t.name, t.role, t.shape) for t in init.tensors]
    want = [(p["name"], "param", p["shape"]) for p in params]
    if got != want:
        for k, (g, w) in enumerate(zip(got, want)):
            if g != w:
                c.line = init.tensors[k].line
                c.fail("name", f"initialisation tensor {k} is {g[0]} ({g[1]}, shape {g[2]}); model.parameters[{k}] is {w[0]} (param, shape {w[2]})")
        c.fail("tensors", f"the initialisation step has {len(got)} tensors; model.parameters lists {len(want)}")
