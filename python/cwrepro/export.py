"""What `cwrepro.torch.export` and `cwrepro.keras.export` share: checking the data arrays and an
explicit batch order, assembling train.json, and writing the four files of an export.

An export directory holds:

- `train.json`: the cwrepro config (docs/config.md): the model as a layer list with every
  hyperparameter the framework used written out, the optimizer, the schedule, the loss, the
  framework's semantics profile (`"pytorch"` or `"keras"`), `data` pointing at the two files below.
- `init.safetensors`: the model's weights when `export` ran, in cwrepro's names and layouts
  (a torch `nn.Sequential` state_dict; Keras kernels converted).
- `order.json`: `{"batches": [[i, ...], ...]}`, one list of training-set indices per step.
- `data.safetensors`: `train.images`, `test.images` (float32, samples NCHW) and `train.labels`,
  `test.labels` (int32), the dataset `{"dataset": "safetensors"}` reads.

Nothing is approximated: whatever cwrepro cannot express raises an `ExportError` naming it and
what to change, before any file is written. Files are written to temporary names and renamed
at the end, so a failed export leaves the directory as it was."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import safetensors
from .arguments import path_argument
from .errors import DataMismatchError, ExportError, UnfixedOrderError

__all__ = ["ExportResult", "EXPORT_FILES", "DATA_TENSORS", "check_data", "explicit_order", "float_value", "write_export",
           "build_config", "layer_warnings", "check_steps", "check_out_dir"]

EXPORT_FILES = ("train.json", "init.safetensors", "order.json", "data.safetensors")
#: Tensor names of data.safetensors (Sources/Engine/Data/SafeTensorsData.swift).
DATA_TENSORS = ("train.images", "train.labels", "test.images", "test.labels")


@dataclass
class ExportResult:
    """What `export` wrote: the directory, the config as written, the number of steps, the
    classes, and warnings (also issued through `warnings.warn`)."""
    out_dir: str
    config: dict
    steps: int
    classes: int
    warnings: List[str] = field(default_factory=list)

    @property
    def config_path(self) -> str:
        return os.path.join(self.out_dir, "train.json")

    def path(self, name: str) -> str:
        return os.path.join(self.out_dir, name)


def float_value(v, *, float32: bool = False) -> float:
    """A hyperparameter as a JSON number: the Python float as the framework holds it, or, for a
    float32 value (Keras variables), the shortest decimal that reads back as the same float32."""
    f = float(np.asarray(v))
    if float32:
        return float(np.format_float_positional(np.float32(f), unique=True, trim="-")) if np.isfinite(f) else f
    return f


def check_data(x_train, y_train, x_test, y_test, *, classes: int) -> Dict[str, np.ndarray]:
    """The four arrays (numpy, cwrepro layout already) checked: float32 finite samples, the same
    per-sample shape in both splits, one integer label per sample, every label in 0..<classes.
    Returns the tensors of data.safetensors (labels as int32)."""
    out = {}
    shape = None
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.dtype != np.float32:
            raise DataMismatchError(f"data: x_{split} has dtype {x.dtype}; cwrepro trains on float32 samples exactly as the "
                                    f"model sees them (convert with .astype(np.float32) before training and export)")
        if x.ndim not in (2, 3, 4) or x.shape[0] == 0 or any(d == 0 for d in x.shape[1:]):
            raise DataMismatchError(f"data: x_{split} has shape {list(x.shape)}; expected [N, C, H, W], [N, H, W] or [N, F] "
                                    "with at least one sample")
        if shape is not None and x.shape[1:] != shape:
            raise DataMismatchError(f"data: x_train samples have shape {list(shape)}, x_test samples {list(x.shape[1:])}; "
                                    "both splits must have the same sample shape")
        shape = x.shape[1:]
        bad = ~np.isfinite(x)
        if bad.any():
            i = int(np.argmax(bad.reshape(x.shape[0], -1).any(axis=1)))
            raise DataMismatchError(f"data: x_{split}[{i}] holds NaN or infinite values; cwrepro's data must be finite")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DataMismatchError(f"data: x_{split} has {x.shape[0]} samples but y_{split} has shape {list(y.shape)}; "
                                    "expected one integer class label per sample")
        if y.dtype.kind not in "iu":
            if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
                raise DataMismatchError(f"data: y_{split} has dtype {y.dtype}; give integer class labels (.astype(np.int64))")
            raise DataMismatchError(f"data: y_{split} has dtype {y.dtype}; expected integer class labels")
        if y.size and (int(y.min()) < 0 or int(y.max()) >= classes):
            i = int(np.argmax((y < 0) | (y >= classes)))
            raise DataMismatchError(f"data: y_{split}[{i}] = {int(y[i])} is not a class of the model, which outputs "
                                    f"{classes} logits (classes 0..{classes - 1})")
        out[f"{split}.images"] = np.ascontiguousarray(x, dtype=np.float32)
        out[f"{split}.labels"] = np.ascontiguousarray(y, dtype=np.int32)
    return {k: out[k] for k in DATA_TENSORS}


def explicit_order(batches, n_train: int, steps: Optional[int]) -> List[List[int]]:
    """An explicit batch order (a list of index lists, or a 2-D integer array) checked against
    the training set size and cut to `steps` (default: all of it)."""
    if isinstance(batches, np.ndarray):
        if batches.ndim != 2 or batches.dtype.kind not in "iu":
            raise ExportError(f"batch_order: an array of shape {list(batches.shape)} and dtype {batches.dtype}; "
                              "expected a 2-D integer array [steps, batch size] of training indices")
        batches = batches.tolist()
    try:
        lists = [list(b) for b in batches]
    except TypeError:
        raise ExportError(f"batch_order: {type(batches).__name__} is not a list of batches (lists of training indices)") from None
    if not lists:
        raise ExportError("batch_order: no batches; give one list of training indices per step")
    order = []
    for s, b in enumerate(lists):
        if not b:
            raise ExportError(f"batch_order[{s}]: an empty batch; every step trains on at least one sample")
        row = []
        for j, i in enumerate(b):
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
                if hasattr(i, "item") and np.asarray(i).dtype.kind in "iu" and np.asarray(i).ndim == 0:
                    i = int(i.item())
                else:
                    raise ExportError(f"batch_order[{s}][{j}] = {i!r} is not an integer training index")
            if not 0 <= int(i) < n_train:
                raise ExportError(f"batch_order[{s}][{j}] = {int(i)} is not a training index in 0..{n_train - 1}")
            row.append(int(i))
        order.append(row)
    return cut_to_steps(order, steps, what="batch_order")


def check_steps(steps) -> Optional[int]:
    """`steps` is None (the whole order: every batch of a list, one epoch of a loader, a finite
    pipeline's batches) or a positive integer (not a bool, not a float, not a string)."""
    if steps is None:
        return None
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ExportError(f"steps {steps!r}: expected a positive integer (the number of training steps)")
    return int(steps)


def cut_to_steps(order: List[List[int]], steps: Optional[int], *, what: str) -> List[List[int]]:
    steps = check_steps(steps)
    if steps is None:
        return order
    if steps > len(order):
        raise UnfixedOrderError(f"steps={steps}: {what} has only {len(order)} batches; give more batches or fewer steps")
    return order[:steps]


def batch_size_of(order: Sequence[Sequence[int]]) -> int:
    return max(len(b) for b in order)


def build_config(*, name: str, seed: int, semantics: str, overrides: dict, layers: list, classes: int, batch_size: int,
                 drop_last: bool, steps: int, steps_per_epoch: int, label_smoothing: float, optimizer: dict,
                 schedule: Optional[dict]) -> dict:
    """train.json, every value explicit. `data.order` replaces shuffling; `training.epochs` is
    the epochs the steps span (informative: with an order file the steps are the batches)."""
    config = {
        "version": 1,
        "name": name,
        "seed": seed,
        "semantics": semantics,
    }
    if overrides:
        config["overrides"] = dict(overrides)
    config["data"] = {"dataset": "safetensors", "path": "data.safetensors", "classes": classes, "batchSize": batch_size,
                      "shuffle": False, "dropLast": drop_last, "order": "order.json"}
    config["model"] = {"layers": layers, "init": "init.safetensors"}
    config["loss"] = {"type": "crossEntropy", "labelSmoothing": label_smoothing}
    config["optimizer"] = optimizer
    if schedule is not None:
        config["schedule"] = schedule
    config["training"] = {"epochs": max(1, -(-steps // steps_per_epoch)), "maxSteps": steps}
    config["determinism"] = {"threads": 1}
    config["record"] = {"level": "grads"}
    return config


def layer_warnings(layers: list, optimizer_type: str, seed: int, framework: str) -> List[str]:
    """What the export cannot make agree step by step, said rather than hidden:
    - dropout: cwrepro draws its own masks (from `seed`), not the framework's;
    - a bias directly before BatchNorm under Adam or RMSprop: its true gradient is 0 and the
      computed one rounding noise, which these optimizers scale to steps of size lr, so the bias
      (and the running mean that absorbs it) differs between any two implementations."""
    out = []
    for i, spec in enumerate(layers):
        if spec["type"] == "dropout" and spec["rate"] > 0:
            out.append(f"layer {i} (dropout, rate {spec['rate']}): cwrepro draws its own dropout masks (seed {seed}), not "
                       f"{framework}'s; the exported run matches the real one in distribution, not step by step")
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if spec["type"] in ("conv2d", "dense") and spec.get("bias") and nxt is not None and nxt["type"] == "batchnorm" and \
                optimizer_type in ("adam", "rmsprop"):
            out.append(f"layer {i} ({spec['type']}) has a bias and BatchNorm follows it: the bias's true gradient is 0 and "
                       f"{optimizer_type} scales its rounding noise to steps of size lr, so layer {i}'s bias and layer {i + 1}'s "
                       "running mean will differ between the framework and cwrepro (and eval-mode predictions near a tie "
                       "may flip); drop the bias (bias=False / use_bias=False) for runs that should agree")
    return out


def steps_per_epoch(n_train: int, batch_size: int, drop_last: bool) -> int:
    """cwrepro's count (docs/config.md, training): ceil(n / batch), floor with dropLast, at least 1."""
    return max(1, n_train // batch_size if drop_last else -(-n_train // batch_size))


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 53:
        raise ExportError(f"seed {seed!r}: expected a non-negative integer below 2^53 (cwrepro's seed for its own draws, "
                          "e.g. dropout masks; the weights come from init.safetensors and the order from order.json)")
    return int(seed)


def check_out_dir(out_dir) -> str:
    """The export directory: a non-empty str or os.PathLike."""
    return path_argument(out_dir, name="out_dir", what="the directory to write",
                         example='"out"; "." for the current directory', error=ExportError)


def check_name(name, out_dir: str) -> str:
    if name is None:
        name = os.path.basename(os.path.normpath(out_dir)) or "export"
    if not isinstance(name, str) or not name:
        raise ExportError(f"name {name!r}: expected a non-empty string naming the run")
    return name


def config_text(config: dict) -> str:
    """train.json as text: one top-level key per line, the layers one per line."""
    def one(v):
        return json.dumps(v, separators=(", ", ": "))
    lines = []
    for k, v in config.items():
        if k == "model":
            layers = ",\n".join(f"    {one(layer)}" for layer in v["layers"])
            rest = "".join(f", {one(kk)}: {one(vv)}" for kk, vv in v.items() if kk != "layers")
            lines.append(f'  "model": {{"layers": [\n{layers}\n  ]{rest}}}')
        else:
            lines.append(f"  {one(k)}: {one(v)}")
    text = "{\n" + ",\n".join(lines) + "\n}\n"
    return text


def write_export(out_dir: str, *, config: dict, init: Dict[str, np.ndarray], order: List[List[int]],
                 data: Dict[str, np.ndarray], metadata: Dict[str, str], overwrite: bool):
    """Writes the four files (temporary names first, then renamed), refusing to replace existing
    ones unless `overwrite`."""
    out_dir = check_out_dir(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ExportError(f"out_dir {out_dir}: exists and is not a directory")
    existing = [f for f in EXPORT_FILES if os.path.exists(os.path.join(out_dir, f))]
    if existing and not overwrite:
        raise ExportError(f"out_dir {out_dir}: already holds {', '.join(existing)}; pass overwrite=True to replace them "
                          "or export into another directory")
    os.makedirs(out_dir, exist_ok=True)
    tmp = {f: os.path.join(out_dir, f".{f}.tmp-{os.getpid()}") for f in EXPORT_FILES}
    try:
        with open(tmp["train.json"], "w") as f:
            f.write(config_text(config))
        safetensors.save(tmp["init.safetensors"], {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in init.items()},
                         metadata=metadata)
        with open(tmp["order.json"], "w") as f:
            f.write('{"batches": [\n')
            f.write(",\n".join(json.dumps(b, separators=(",", ":")) for b in order))
            f.write("\n]}\n")
        safetensors.save(tmp["data.safetensors"], data, metadata=metadata)
        for name, path in tmp.items():
            os.replace(path, os.path.join(out_dir, name))
    finally:
        for path in tmp.values():
            if os.path.exists(path):
                os.remove(path)
