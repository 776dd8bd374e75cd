"""What the torch and Keras captures share: arguments, the step and epoch count, the order of a
step's tensors (cwrepro's), evaluation arithmetic, closing.

Per step, tensors are written in cwrepro's execution order (Sources/Engine/Training/Trainer.swift):
batch.x, batch.y, [<i>.output per layer], loss, [<i>.grad_input per layer, last layer first],
grads (trainable parameters, state_dict order), params after the update (all, state_dict order),
optimizer state (per state name, per trainable parameter)."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from .arguments import path_argument
from .errors import CaptureClosedError, ShapeMismatchError
from .hashing import canonical
from .trace import LEVELS, TraceWriter, check_keep_tensors, check_lr, level_includes

__all__ = ["CaptureBase", "Parameter", "predictions_of", "check_level", "check_path", "check_batch_size"]


def check_level(level) -> str:
    if level not in LEVELS:
        raise ValueError(f"level {level!r}: expected one of {', '.join(repr(x) for x in LEVELS)} "
                         "(params: batch, loss, parameters; grads: also gradients and optimizer state; "
                         "activations: also every layer's output and input gradient)")
    return level


def check_path(path) -> str:
    """The trace file to write: a non-empty str or os.PathLike (a file named "None" is never meant)."""
    return path_argument(path, name="path", what="the trace file to write", example='"run.trace"')


def check_batch_size(batch_size) -> Optional[int]:
    """An evaluation's chunk size: a positive integer, or None for all samples at once."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError(f"batch_size {batch_size!r}: expected a positive integer (samples per forward pass) "
                         "or None (all at once)")
    return None if batch_size is None else int(batch_size)


def predictions_of(logits: np.ndarray) -> np.ndarray:
    """Predicted classes as cwrepro computes them (Trainer.predict): per row the first index of
    the largest logit, comparing with `>` from index 0; a NaN never wins unless it is in column 0
    (then nothing beats it). int32."""
    z = np.asarray(logits, dtype=np.float32)
    if z.ndim != 2 or z.shape[1] == 0:
        raise ShapeMismatchError(f"evaluation: logits of shape {list(z.shape)}; expected [samples, classes]")
    masked = np.where(np.isnan(z), -np.inf, z)
    p = np.argmax(masked, axis=1).astype(np.int32)
    p[np.isnan(z[:, 0])] = 0
    return p


class Parameter:
    """One canonical parameter: its cwrepro name, shape, whether it trains, and how to read its
    value (and gradient) as a float32 numpy array in cwrepro's layout."""

    def __init__(self, name: str, shape: Sequence[int], trainable: bool):
        self.name, self.shape, self.trainable = name, [int(n) for n in shape], trainable

    def header(self) -> dict:
        return {"name": self.name, "shape": self.shape, "trainable": self.trainable}


class CaptureBase:
    """Bookkeeping shared by the framework captures. Subclasses provide the framework's tensors."""

    framework_name = ""

    def __init__(self, path: str, *, name: str, level: str, seed: Optional[int], keep_tensors: int,
                 steps_per_epoch: Optional[int]):
        """Checks the arguments; opens nothing (subclasses call `_start` once their own checks pass)."""
        self._writer: Optional[TraceWriter] = None
        path = check_path(path)
        if not isinstance(name, str) or not name:
            raise ValueError(f"name {name!r}: expected a non-empty string naming the run")
        self.level = check_level(level)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"seed {seed!r}: expected a non-negative integer or None (it is recorded, not applied)")
        if seed is not None and seed > 2**53 - 1:
            # A trace is JSON: its integers are exact up to 2**53 - 1, the range of a cwrepro config's seed.
            raise ValueError(f"seed {seed}: out of range; a trace (and a cwrepro config) holds seeds up to 2**53 - 1 "
                             f"({2**53 - 1}): record e.g. seed % 2**53 (it is recorded, not applied)")
        if steps_per_epoch is not None and (not isinstance(steps_per_epoch, int) or steps_per_epoch < 1):
            raise ValueError(f"steps_per_epoch {steps_per_epoch!r}: expected a positive integer or None")
        self.path, self.name, self.seed = path, name, seed
        self.keep_tensors = check_keep_tensors(keep_tensors)
        self.steps_per_epoch = steps_per_epoch
        self.epoch = 0

    # -- writer ----------------------------------------------------------------------------

    def _open(self, header: dict):
        self._writer = TraceWriter(self.path, {"name": self.name, **header, "level": self.level, "seed": self.seed},
                                   keep_tensors=self.keep_tensors)

    def _start(self, header: dict, init: List[Tuple[str, np.ndarray]]):
        """Opens the trace and writes the initialisation step (step -1: the parameters `init`).
        Call it after every argument check, and register framework hooks only after it: a
        constructor that fails leaves nothing attached. If writing fails, the trace is closed
        as failed."""
        self._open(header)
        try:
            for name, a in init:
                self._writer.tensor(name, "param", a)
            self._writer.end_step(epoch=0)
        except BaseException as e:
            self._writer.close("failed", f"{type(e).__name__}: {e}")
            raise

    @property
    def closed(self) -> bool:
        return self._writer is None or self._writer.closed

    def _check_open(self, what: str):
        if self.closed:
            raise CaptureClosedError(f"{what}: the capture {self.name!r} ({self.path}) is closed; "
                                     "call it before close(), or start a new Capture")

    @property
    def step_index(self) -> int:
        """The index of the next training step (0 after construction)."""
        return self._writer.step if self._writer else 0

    def wants(self, role: str) -> bool:
        return level_includes(self.level, role)

    def _epoch_for(self, epoch: Optional[int]) -> int:
        """The epoch of the next step (`epoch` if given, else from steps_per_epoch, else the last);
        `write_step` makes it the capture's epoch once the step is written."""
        if epoch is not None:
            if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
                raise ValueError(f"epoch {epoch!r}: expected a non-negative integer")
            return epoch
        if self.steps_per_epoch:
            return self.step_index // self.steps_per_epoch
        return self.epoch

    def _batch_tensors(self, batch) -> Tuple[np.ndarray, np.ndarray]:
        """`batch` = (x, y) as host numpy arrays -> (batch.x float32, batch.y int32), checked."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ShapeMismatchError(f"batch: expected (x, y), got {type(batch).__name__}"
                                     f"{'' if not isinstance(batch, (tuple, list)) else ' of ' + str(len(batch))}")
        x = canonical(self._host(batch[0]), what="batch.x")
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        y = canonical(self._host(batch[1]), what="batch.y")
        if y.dtype != np.int32:
            raise ShapeMismatchError(f"batch.y: class labels must be integers, got {self._host(batch[1]).dtype}")
        if x.ndim < 1 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise ShapeMismatchError(f"batch: x has shape {list(x.shape)} and y {list(y.shape)}; "
                                     "expected x [N, ...] and y [N] (one class label per sample)")
        return x, y

    def _host(self, value) -> np.ndarray:
        return np.asarray(value)

    def _loss32(self, loss) -> np.float32:
        a = self._host(loss)
        if a.size != 1:
            raise ShapeMismatchError(f"loss: expected a scalar, got shape {list(a.shape)}")
        if a.dtype.kind != "f":
            raise ShapeMismatchError(f"loss: expected a floating value, got {a.dtype}")
        return np.float32(a.reshape(()))

    # -- evaluation --------------------------------------------------------------------------

    def _check_evaluate(self, split, batch_size) -> Optional[int]:
        """Refuses, before the model runs, an evaluation the trace cannot hold (an empty split,
        a split already evaluated after this step) or a bad `batch_size`; returns batch_size."""
        self._check_open("evaluate")
        self._writer.check_evaluation(self._writer.step - 1, split)
        return check_batch_size(batch_size)

    def _write_evaluation(self, logits: np.ndarray, labels: np.ndarray, loss, split: str, classes: Optional[int]) -> dict:
        labels = canonical(labels, what="y").reshape(-1)
        if labels.dtype != np.int32:
            raise ShapeMismatchError("evaluate: y must hold integer class labels")
        preds = predictions_of(logits)
        if preds.shape[0] != labels.shape[0]:
            raise ShapeMismatchError(f"evaluate: {preds.shape[0]} predictions for {labels.shape[0]} labels")
        k = classes or int(np.asarray(logits).shape[1])
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ShapeMismatchError(f"evaluate: labels {int(labels.min())}..{int(labels.max())} outside the model's {k} classes")
        w = self._writer
        return w.evaluation(step=w.step - 1, epoch=self.epoch, split=split, predictions=preds, labels=labels, classes=k,
                            loss=loss)

    # -- closing -----------------------------------------------------------------------------

    def _finish(self):
        """Framework clean-up (hooks, wrappers); called once by close()."""

    def close(self, error: Optional[str] = None):
        """Writes the end line and closes the trace (idempotent)."""
        if self._writer is None or self._writer.closed:
            return
        try:
            self._finish()
        finally:
            self._writer.close("failed" if error else "complete", error)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(error=None if exc is None else f"{exc_type.__name__}: {exc}")
        return False

    def __del__(self):
        w = getattr(self, "_writer", None)
        if w is not None and not w.closed:
            try:
                w.close("failed", "the capture was garbage-collected without close()")
            except Exception:
                pass


def write_step(cap: CaptureBase, *, x: Optional[np.ndarray], y: Optional[np.ndarray], outputs: List[Tuple[str, np.ndarray]],
               loss: np.float32, grad_inputs: List[Tuple[str, np.ndarray]], grads: List[Tuple[str, np.ndarray]],
               params: List[Tuple[str, np.ndarray]], states: List[Tuple[str, np.ndarray]], epoch: int, lr: float):
    """Writes one training step in cwrepro's execution order and ends it. The learning rate is
    checked before anything is added; if any tensor is refused, the step's tensors are dropped:
    a refused call leaves nothing behind, and the step can be captured again."""
    w = cap._writer
    check_lr(lr, w.step)
    try:
        _add_step_tensors(w, x=x, y=y, outputs=outputs, loss=loss, grad_inputs=grad_inputs, grads=grads, params=params,
                          states=states)
        w.end_step(epoch=epoch, loss=loss, lr=lr)
    except BaseException:
        w.discard_step()
        raise
    cap.epoch = epoch


def _add_step_tensors(w: TraceWriter, *, x, y, outputs, loss, grad_inputs, grads, params, states):
    if x is not None:
        w.tensor("batch.x", "batch", x)
        w.tensor("batch.y", "batch", y)
    for n, a in outputs:
        w.tensor(n, "activation", a)
    w.tensor("loss", "loss", np.array(loss, dtype=np.float32).reshape(()))
    for n, a in grad_inputs:
        w.tensor(n, "activation", a)
    for n, a in grads:
        w.tensor(n, "grad", a)
    for n, a in params:
        w.tensor(n, "param", a)
    for n, a in states:
        w.tensor(n, "optimizer-state", a)

