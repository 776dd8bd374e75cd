"""The trace writer: JSON Lines as docs/trace-format.md specifies (format `cwrepro-trace`,
version 1). One `header` line, then per step (initialisation = step -1 first) its `tensor`
lines and one `step` line, `evaluation` lines after the step they follow, and an `end` line.
A step's lines are written together when the step ends, then flushed: a killed run leaves a
readable trace of whole steps, up to its last finished one."""

from __future__ import annotations

import base64
import datetime
import functools
import gzip
import json
import math
import struct
import time
from typing import List, Optional, Tuple

import numpy as np

from .errors import CaptureClosedError, CaptureError
from .hashing import DType, hex64, step_digest, tensor_hash
from .stats import statistics

__all__ = ["FORMAT", "VERSION", "LEVELS", "ROLES", "TraceWriter", "float32_bits", "level_includes", "check_keep_tensors",
           "check_lr", "check_split"]

FORMAT = "cwrepro-trace"
VERSION = 1
#: Record levels, each including the ones before it (as cwrepro's `record.level`).
LEVELS = ("params", "grads", "activations")
#: Roles a trace's tensors may have (a subset of cwrepro's record roles: draws, data orders and
#: reduction orders exist only in cwrepro's own records).
ROLES = ("batch", "param", "grad", "activation", "optimizer-state", "loss")
#: Canonical dtypes of trace tensors.
DTYPES = (DType.F32, DType.I32)


def level_includes(level: str, role: str) -> bool:
    """Whether tensors of `role` are captured at `level` (cwrepro's RecordLevel.includes)."""
    if role in ("grad", "optimizer-state"):
        return LEVELS.index(level) >= 1
    if role == "activation":
        return level == "activations"
    return True


def check_keep_tensors(keep_tensors) -> int:
    """`keep_tensors` is an integer >= -1 (0: no values, -1: every step), as cwrepro's record.keepTensors."""
    if isinstance(keep_tensors, bool) or not isinstance(keep_tensors, int) or keep_tensors < -1:
        raise ValueError(f"keep_tensors: {keep_tensors!r}; expected an integer >= -1 (0: no values, -1: all steps)")
    return keep_tensors


def check_lr(lr, step: int) -> Optional[float]:
    """The learning rate of `step`: a finite number >= 0 for a training step, None for the
    initialisation step (-1) (docs/trace-format.md, step `lr`). Returns it as a float."""
    if step < 0:
        if lr is not None:
            raise CaptureError(f"step {step}: learning rate {lr!r}; the initialisation step has none (pass lr=None)")
        return None
    if lr is None:
        raise CaptureError(f"step {step}: no learning rate; a training step records the learning rate it used (pass lr=)")
    if isinstance(lr, (bool, str, bytes)):
        raise CaptureError(f"step {step}: learning rate {lr!r} is not a number; pass lr= as a float")
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise CaptureError(f"step {step}: learning rate {lr!r} is not a number; pass lr= as a float") from None
    if not math.isfinite(value) or value < 0:
        raise CaptureError(f"step {step}: learning rate {lr!r} is {'negative' if value < 0 else 'not finite'}; a trace "
                           "records the learning rate the step used, a finite number >= 0 (pass the one the optimizer used)")
    return value


def check_split(split) -> str:
    """An evaluation's split: a non-empty string (`"test"` unless the script says otherwise)."""
    if not isinstance(split, str) or not split:
        raise CaptureError(f"evaluation: split {split!r}; expected a non-empty string naming the data evaluated "
                           "(e.g. \"test\", \"val\")")
    return split


def float32_bits(value) -> str:
    """The IEEE-754 bit pattern of a float32 as 8 lowercase hex digits (0x notation: sign bit first)."""
    return "%08x" % struct.unpack("<I", np.float32(value).tobytes())[0]


def _finite_or_none(x: float) -> Optional[float]:
    return x if math.isfinite(x) else None


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _dumps(obj) -> str:
    return _ENCODER.encode(obj)


@functools.lru_cache(maxsize=65536)
def _json_string(text: str) -> str:
    return _ENCODER.encode(text)


def _json_number(x) -> str:
    """A finite float or int as JSON writes it (repr: the shortest round-tripping decimal), or null."""
    return "null" if x is None else repr(x)


def _tensor_line(step: int, seq: int, name: str, role: str, dtype: str, shape, hash_hex: str, st, values) -> str:
    """The tensor line, formatted directly (json.dumps gives the same text, at several times the cost)."""
    line = (f'{{"type":"tensor","step":{step},"seq":{seq},"name":{_json_string(name)},"role":{_json_string(role)},'
            f'"dtype":"{dtype}","shape":[{",".join(str(n) for n in shape)}],"hash":"{hash_hex}",'
            f'"stats":{{"nonfinite":{st.nonfinite},"min":{_json_number(st.min)},"max":{_json_number(st.max)},'
            f'"mean":{_json_number(st.mean)},"l2":{_json_number(st.l2)}}}')
    if values is not None:
        line += f',"values":"{values}"'
    return line + "}"


class TraceWriter:
    """Writes one trace (gzip-compressed when `path` ends in `.gz`). `tensor()` adds a tensor to the current step, `end_step()` closes it
    (initialisation is step -1, then 0, 1, ...), `evaluation()` adds an evaluation, `close()`
    writes the end line. `keep_tensors`: values kept for initialisation and the first
    `keep_tensors - 1` steps (0: none, -1: all), as cwrepro's `record.keepTensors`."""

    def __init__(self, path: str, header: dict, keep_tensors: int = 0):
        self.keep_tensors = check_keep_tensors(keep_tensors)
        self.path = str(path)
        self.step = -1
        self.closed = False
        self.tensor_count = 0
        self.evaluation_count = 0
        self.steps_ended = 0
        self._entries: List[Tuple[str, str, int]] = []
        self._pending: List[str] = []
        self._seen: set = set()
        #: (step, split) of every evaluation written: a trace holds one per step and split.
        self._evaluated: set = set()
        self._start = self._last = time.perf_counter()
        header = {"type": "header", "format": FORMAT, "version": VERSION, **header,
                  "keepTensors": keep_tensors,
                  "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if self.path.endswith(".gz"):
            # gzip (docs/trace-format.md section 1): each step's flush is a zlib sync flush, so a
            # killed run's file still decompresses up to its last finished step.
            self._file = gzip.open(self.path, "wt", encoding="utf-8", newline="\n", compresslevel=6)
        else:
            self._file = open(self.path, "w", encoding="utf-8", newline="\n")
        self._write(header)
        self._file.flush()

    # -- lines -----------------------------------------------------------------------------

    def _write(self, obj: dict):
        self._file.write(_dumps(obj))
        self._file.write("\n")

    def _check_open(self, what: str):
        if self.closed:
            raise CaptureClosedError(f"{what}: the trace {self.path} is closed; start a new capture to record more")

    def keeps_values(self, step: Optional[int] = None) -> bool:
        s = self.step if step is None else step
        k = self.keep_tensors
        return k == -1 or (k > 0 and s + 1 < k)

    def tensor(self, name: str, role: str, array: np.ndarray):
        """Adds a canonical tensor (float32 or int32 numpy array) to the current step."""
        self._check_open(f"tensor {name!r}")
        if role not in ROLES:
            raise CaptureError(f"tensor {name!r}: role {role!r} is not a trace role ({', '.join(ROLES)})")
        if not name:
            raise CaptureError("a tensor needs a non-empty name")
        if (name, role) in self._seen:
            raise CaptureError(f"step {self.step}: tensor {name!r} (role {role}) captured twice in one step")
        a = np.asarray(array)
        d = DType.of(a)
        if d not in DTYPES:
            raise CaptureError(f"tensor {name!r}: dtype {d.label} is not canonical (f32 or i32); convert with cwrepro.canonical")
        a = np.asarray(a, dtype=d.numpy, order="C")
        h = tensor_hash(a, d)
        values = base64.b64encode(a.tobytes()).decode("ascii") if self.keeps_values() else None
        self._pending.append(_tensor_line(self.step, len(self._entries), name, role, d.label, a.shape, hex64(h), statistics(a),
                                          values))
        self._entries.append((name, role, h))
        self._seen.add((name, role))

    def discard_step(self):
        """Drops the tensors added to the current step since it began (a step whose capture failed
        half-way), so that the step can be captured again."""
        self._entries, self._pending, self._seen = [], [], set()

    def end_step(self, epoch: int, loss=None, lr: Optional[float] = None):
        """Closes the current step: loss (float32; None for initialisation), learning rate (a
        finite number >= 0; None for initialisation). A refused call leaves the step open."""
        self._check_open(f"step {self.step}")
        lr = check_lr(lr, self.step)
        now = time.perf_counter()
        line = {"type": "step", "step": self.step, "epoch": int(epoch)}
        if loss is None:
            line["loss"], line["lossBits"] = None, None
        else:
            l32 = np.float32(loss)
            line["loss"], line["lossBits"] = _finite_or_none(float(l32)), float32_bits(l32)
        line["lr"] = lr
        line["tensors"] = len(self._entries)
        line["digest"] = hex64(step_digest(self._entries))
        line["wallSeconds"] = round(now - self._last, 9)
        for text in self._pending:
            self._file.write(text)
            self._file.write("\n")
        self._write(line)
        self._file.flush()
        self._last = now
        self.tensor_count += len(self._entries)
        self._entries, self._pending, self._seen = [], [], set()
        self.step += 1
        self.steps_ended += 1

    def evaluation(self, *, step: int, epoch: int, split: str, predictions: np.ndarray, labels: np.ndarray,
                   classes: int, loss=None) -> dict:
        """Writes an evaluation line from int32 predictions and labels; returns it. Each (step,
        split) is evaluated at most once (`check_evaluation`)."""
        self.check_evaluation(step, split)
        preds = np.asarray(predictions, dtype="<i4", order="C").reshape(-1)
        labels = np.asarray(labels).reshape(-1)
        n = preds.size
        per_total = np.bincount(labels, minlength=classes)[:classes] if n else np.zeros(classes, np.int64)
        hit = preds == labels
        per_correct = np.bincount(labels[hit], minlength=classes)[:classes] if n else np.zeros(classes, np.int64)
        correct = int(hit.sum())
        line = {"type": "evaluation", "step": int(step), "epoch": int(epoch), "split": split, "total": int(n),
                "correct": correct, "accuracy": correct / n if n else 0.0,
                "perClassCorrect": [int(c) for c in per_correct], "perClassTotal": [int(t) for t in per_total],
                "perClassAccuracy": [float(c) / float(t) if t else 0.0 for c, t in zip(per_correct, per_total)],
                "predictionsHash": hex64(tensor_hash(preds, DType.I32)),
                "predictions": [int(p) for p in preds]}
        if loss is None:
            line["loss"], line["lossBits"] = None, None
        else:
            l32 = np.float32(loss)
            line["loss"], line["lossBits"] = _finite_or_none(float(l32)), float32_bits(l32)
        self._write(line)
        self._file.flush()
        self._evaluated.add((int(step), split))
        self.evaluation_count += 1
        return line

    def check_evaluation(self, step: int, split):
        """Refuses (CaptureError) an evaluation that the trace could not hold: on a closed trace,
        with an empty split, or of a split already evaluated after `step` (a record holds one
        evaluation per step and split; docs/trace-format.md section 7)."""
        self._check_open("evaluation")
        check_split(split)
        if (int(step), split) in self._evaluated:
            raise CaptureError(f"evaluation: split {split!r} was already evaluated after step {step}; a trace holds one "
                               "evaluation per step and split: evaluate it again after another training step, or name "
                               "this evaluation differently (split=...)")

    def close(self, status: str = "complete", error: Optional[str] = None):
        """Writes the end line (status `complete`, or `failed` with the error) and closes the file.
        Tensors of a step that was not ended are dropped, and the status is then `failed`."""
        if self.closed:
            return
        line = {"type": "end", "status": status, "steps": max(0, self.steps_ended - 1), "tensors": self.tensor_count,
                "evaluations": self.evaluation_count, "wallSeconds": round(time.perf_counter() - self._start, 9),
                "error": error}
        if self._entries:
            line["status"] = "failed"
            line["error"] = error or f"step {self.step} was not finished ({len(self._entries)} tensors captured, no cap.step)"
        self._write(line)
        self._file.close()
        self.closed = True

