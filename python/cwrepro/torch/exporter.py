"""Export a torch model, optimizer, data and batch order as a cwrepro config.

    from cwrepro.torch import export
    export("out", model, optimizer, data=(x_train, y_train, x_test, y_test), batch_order=loader,
           seed=0, steps=200, name="my-cnn")
    # then: cwrepro record out/train.json -o run.cwr

Call it before training: it writes the model's current weights as the initial ones, and replays
the loader's order from its generator's current state (without moving it). What it writes and
what it refuses: cwrepro.export (the files) and the `export` docstring below."""

from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..errors import DataMismatchError, ExportError, UnsupportedModuleError, UnsupportedOptimizerError
from ..export import (ExportResult, batch_size_of, build_config, check_data, check_name, check_out_dir, check_seed,
                      check_steps, explicit_order, layer_warnings, steps_per_epoch, write_export)
from .loader import is_loader, loader_batches, loader_drop_last
from .modules import SUPPORTED_MODULES, model_layers

__all__ = ["export", "SUPPORTED_EXPORT_OPTIMIZERS", "SUPPORTED_SCHEDULERS"]

SUPPORTED_EXPORT_OPTIMIZERS = ("torch.optim.SGD (dampening 0), torch.optim.Adam and torch.optim.AdamW (amsgrad=False), "
                               "torch.optim.RMSprop (momentum 0, centered=False); single-tensor implementation "
                               "(foreach=False or None on CPU, fused=None), maximize=False")
SUPPORTED_SCHEDULERS = "torch.optim.lr_scheduler.StepLR (stepped once per epoch, or per step with scheduler_unit='step')"


def _np(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def _optimizer_config(opt: torch.optim.Optimizer, model_params) -> tuple:
    """(train.json optimizer object, overrides) for `opt`, or UnsupportedOptimizerError."""
    cls = type(opt)
    name = f"{cls.__module__}.{cls.__name__}"
    if cls not in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop):
        raise UnsupportedOptimizerError(f"optimizer {name} has no cwrepro equivalent; supported: {SUPPORTED_EXPORT_OPTIMIZERS}")
    if opt.state:
        raise UnsupportedOptimizerError(f"optimizer {name} has already taken steps (it holds state); export before the first "
                                        "optimizer.step(): cwrepro starts from fresh optimizer state")
    groups = opt.param_groups
    g = groups[0]
    for i, other in enumerate(groups[1:], 1):
        diff = sorted(k for k in g if k != "params" and k in other and other[k] != g[k])
        if diff:
            raise UnsupportedOptimizerError(f"optimizer {name}: parameter group {i} differs from group 0 in {', '.join(diff)}; "
                                            "cwrepro applies one set of hyperparameters to every parameter")
    owned = {id(p) for gr in groups for p in gr["params"]}
    trainable = [(n, p) for n, p in model_params if p.requires_grad]
    frozen = [n for n, p in model_params if not p.requires_grad]
    if frozen:
        raise UnsupportedModuleError(f"parameters {', '.join(frozen)} have requires_grad=False; cwrepro trains every "
                                     "parameter (unfreeze them, or leave them out of the exported model)")
    missing = [n for n, p in trainable if id(p) not in owned]
    if missing:
        raise UnsupportedOptimizerError(f"optimizer {name}: parameters {', '.join(missing)} are not in it; cwrepro's optimizer "
                                        "updates every parameter of the model")

    def refuse(option, what):
        raise UnsupportedOptimizerError(f"optimizer {name}: {option}; {what}. Supported: {SUPPORTED_EXPORT_OPTIMIZERS}")

    for flag in ("maximize", "differentiable", "capturable"):
        if g.get(flag):
            refuse(f"{flag}=True", "cwrepro minimises with the plain single-tensor update")
    if g.get("foreach"):
        refuse("foreach=True", "its multi-tensor kernels round differently from the single-tensor update cwrepro emulates; "
                               "pass foreach=False")
    if g.get("fused"):
        refuse("fused=True", "its fused kernel rounds differently from the single-tensor update cwrepro emulates; pass fused=None")
    if g.get("foreach") is None and any(p.device.type not in ("cpu", "meta") for _, p in trainable):
        refuse("foreach=None with parameters on an accelerator", "torch then picks its multi-tensor (foreach) kernels; "
                                                                 "pass foreach=False")
    lr = float(_np(g["lr"]))
    overrides = {}
    wd = float(g.get("weight_decay", 0))
    if cls is torch.optim.SGD:
        if float(g.get("dampening", 0)) != 0:
            refuse(f"dampening={g['dampening']}", "cwrepro's SGD momentum has no dampening")
        config = {"type": "sgd", "lr": lr, "momentum": float(g["momentum"]), "nesterov": bool(g["nesterov"]),
                  "weightDecay": wd}
    elif cls in (torch.optim.Adam, torch.optim.AdamW):
        if g.get("amsgrad"):
            refuse("amsgrad=True", "cwrepro's Adam has no AMSGrad maximum")
        b1, b2 = (float(_np(b)) for b in g["betas"])
        config = {"type": "adam", "lr": lr, "beta1": b1, "beta2": b2, "epsilon": float(g["eps"]), "weightDecay": wd}
        if (cls is torch.optim.AdamW or g.get("decoupled_weight_decay")) and wd != 0:
            # torch: w *= 1 - lr*wd before the update; cwrepro's decoupled mode: w -= (w*wd)*lr (the same
            # product, rounded in another order).
            overrides["weightDecay.mode"] = "decoupled"
    else:  # RMSprop
        if float(g.get("momentum", 0)) != 0:
            refuse(f"momentum={g['momentum']}", "cwrepro's RMSprop has no momentum")
        if g.get("centered"):
            refuse("centered=True", "cwrepro's RMSprop is not centered")
        config = {"type": "rmsprop", "lr": lr, "rho": float(g["alpha"]), "epsilon": float(g["eps"]), "weightDecay": wd}
    return config, overrides


def _schedule(scheduler, optimizer, unit: str) -> tuple:
    """(train.json schedule or None, overrides)."""
    if unit not in ("epoch", "step"):
        raise UnsupportedOptimizerError(f"scheduler_unit {unit!r}: expected 'epoch' (scheduler.step() once per epoch) or "
                                        "'step' (once per optimizer step)")
    if scheduler is None:
        if hasattr(optimizer.step, "_wrapped_by_lr_sched"):
            raise UnsupportedOptimizerError("the optimizer has a learning-rate scheduler attached; pass it as scheduler= "
                                            f"(supported: {SUPPORTED_SCHEDULERS}) so that the exported run follows it")
        return None, {}
    cls = type(scheduler)
    if cls is not torch.optim.lr_scheduler.StepLR:
        raise UnsupportedOptimizerError(f"scheduler {cls.__module__}.{cls.__name__} has no cwrepro equivalent; supported: "
                                        f"{SUPPORTED_SCHEDULERS}")
    if scheduler.optimizer is not optimizer:
        raise UnsupportedOptimizerError("scheduler: it schedules another optimizer than the one exported")
    if scheduler.last_epoch != 0:
        raise UnsupportedOptimizerError(f"scheduler: it has already stepped {scheduler.last_epoch} times; export before "
                                        "training (cwrepro's schedule starts at its first step)")
    schedule = {"type": "step", "stepSize": int(scheduler.step_size), "gamma": float(scheduler.gamma)}
    return schedule, ({"schedule.unit": "step"} if unit == "step" else {})


def _loss(loss) -> float:
    """labelSmoothing of the loss; UnsupportedOptimizerError for a loss cwrepro lacks."""
    if loss is None or loss is torch.nn.functional.cross_entropy:
        return 0.0
    if type(loss) is not nn.CrossEntropyLoss:
        raise UnsupportedOptimizerError(f"loss {loss!r}: cwrepro trains with softmax cross-entropy from logits averaged over "
                                        "the batch; pass loss=nn.CrossEntropyLoss() (or None for F.cross_entropy)")
    if loss.weight is not None:
        raise UnsupportedOptimizerError("loss: CrossEntropyLoss(weight=...) has class weights; cwrepro's loss weighs classes equally")
    if loss.reduction != "mean":
        raise UnsupportedOptimizerError(f"loss: CrossEntropyLoss(reduction={loss.reduction!r}); cwrepro averages over the batch "
                                        "(reduction='mean')")
    return float(loss.label_smoothing)


def _data(data, model: nn.Module):
    """(arrays in cwrepro layout, classes) after checking the model takes them."""
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise DataMismatchError("data: expected (x_train, y_train, x_test, y_test)")
    xtr, ytr, xte, yte = (_np(a) for a in data)
    for split, x in (("train", xtr), ("test", xte)):
        if x.dtype != np.float32:
            raise DataMismatchError(f"data: x_{split} has dtype {x.dtype}; cwrepro trains on float32 samples exactly as the "
                                    "model sees them (convert with .astype(np.float32) before training and export)")
    was_training = model.training
    p = next(iter(model.parameters()), None)
    device = p.device if p is not None else torch.device("cpu")
    model.eval()
    try:
        with torch.no_grad():
            try:
                out = model(torch.from_numpy(np.ascontiguousarray(xtr[:2])).to(device))
            except Exception as e:  # the framework's own shape error, named
                raise DataMismatchError(f"data: x_train samples of shape {list(xtr.shape[1:])} do not fit the model: "
                                        f"{type(e).__name__}: {e}") from e
    finally:
        model.train(was_training)
    if out.ndim != 2:
        raise DataMismatchError(f"data: the model outputs shape {list(out.shape)} for x_train[:2]; cwrepro needs [batch, classes] "
                                "logits")
    return (xtr, ytr, xte, yte), int(out.shape[1])


def export(out_dir, model: nn.Module, optimizer: torch.optim.Optimizer, *, data, batch_order, seed: int = 0,
           steps: Optional[int] = None, name: Optional[str] = None, loss=None, scheduler=None, scheduler_unit: str = "epoch",
           overwrite: bool = False) -> ExportResult:
    """Writes `out_dir/train.json`, `init.safetensors`, `order.json` and `data.safetensors` so that
    `cwrepro record out_dir/train.json` trains the same model from the same weights on the same
    batches with PyTorch's semantics (the `pytorch` profile).

    Args:
        out_dir: the directory to write (created; existing export files need `overwrite=True`).
        model: an `nn.Sequential` of supported modules (`SUPPORTED_MODULES`), float32, every
            parameter trainable. Its current weights become `init.safetensors`.
        optimizer: `SUPPORTED_EXPORT_OPTIMIZERS`, not yet stepped, holding every parameter, one
            set of hyperparameters.
        data: (x_train, y_train, x_test, y_test), numpy arrays or tensors, exactly as the model
            sees them (float32 samples, NCHW; integer labels).
        batch_order: an explicit list of index lists (one per step) into x_train, a 2-D integer
            array, or a `DataLoader` / `BatchSampler` whose order is fixed (SequentialSampler, or
            RandomSampler with a seeded generator; cwrepro.torch.loader). Its order is replayed
            without advancing the loader.
        seed: cwrepro's seed for its own random draws (dropout masks).
        steps: training steps (default: every batch of an explicit list; one epoch of a loader).
        name: the run's name (default: the directory's name).
        loss: None (F.cross_entropy) or an `nn.CrossEntropyLoss` (label_smoothing exported).
        scheduler: a `StepLR` on `optimizer`, not yet stepped; `scheduler_unit` says whether the
            script steps it per epoch (default) or per optimizer step.

    Raises ExportError subclasses, before writing anything: UnsupportedModuleError (a module
    cwrepro lacks), UnsupportedOptimizerError (optimizer, option, scheduler or loss),
    DataMismatchError (shapes, dtypes, labels), UnfixedOrderError (a loader without a fixed
    order). Warns (and lists in the result) what cannot agree step by step (cwrepro.export.layer_warnings):
    dropout (cwrepro draws its own masks) and a bias directly before BatchNorm under Adam or RMSprop.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer: expected a torch.optim.Optimizer, got {type(optimizer).__name__}")
    out_dir = check_out_dir(out_dir)
    seed, name, steps = check_seed(seed), check_name(name, out_dir), check_steps(steps)
    layers, note, _ = model_layers(model)
    if layers is None:
        raise UnsupportedModuleError(f"{note}. cwrepro cannot express this model; rewrite it as an nn.Sequential of "
                                     f"{SUPPORTED_MODULES}")
    state = [(k, v) for k, v in model.state_dict(keep_vars=True).items() if not k.endswith("num_batches_tracked")]
    for k, v in state:
        if isinstance(v, nn.parameter.UninitializedParameter):
            raise UnsupportedModuleError(f"parameter {k} is not initialised (a lazy module); run one forward pass before "
                                         "export (and before creating the optimizer) so that its shape is known")
        if v.dtype != torch.float32:
            raise UnsupportedModuleError(f"parameter {k} has dtype {v.dtype}; cwrepro trains in float32 (model.float())")
    optimizer_config, overrides = _optimizer_config(optimizer, [(k, v) for k, v in state if isinstance(v, nn.Parameter)])
    schedule, schedule_overrides = _schedule(scheduler, optimizer, scheduler_unit)
    overrides.update(schedule_overrides)
    label_smoothing = _loss(loss)
    (xtr, ytr, xte, yte), classes = _data(data, model)
    arrays = check_data(xtr, ytr, xte, yte, classes=classes)
    n_train = xtr.shape[0]
    if is_loader(batch_order):
        order = loader_batches(batch_order, n_train, steps)
        drop_last = loader_drop_last(batch_order)
    elif isinstance(batch_order, torch.utils.data.Sampler) or hasattr(batch_order, "__iter__") and \
            not isinstance(batch_order, (list, tuple, np.ndarray)):
        raise ExportError(f"batch_order: a {type(batch_order).__name__}; expected a list of index lists, a 2-D integer array, "
                          "or a torch DataLoader / BatchSampler with a fixed order")
    else:
        order = explicit_order(batch_order, n_train, steps)
        drop_last = False
    size = batch_size_of(order)
    warned = layer_warnings(layers, optimizer_config["type"], seed, "torch")
    config = build_config(name=name, seed=seed, semantics="pytorch", overrides=overrides, layers=layers, classes=classes,
                          batch_size=size, drop_last=drop_last, steps=len(order),
                          steps_per_epoch=steps_per_epoch(n_train, size, drop_last), label_smoothing=label_smoothing,
                          optimizer=optimizer_config, schedule=schedule)
    metadata = {"framework": f"torch {torch.__version__}", "model.class": f"{type(model).__module__}.{type(model).__name__}",
                "cwrepro.python": __version__}
    init = {k: _np(v).astype(np.float32, copy=False) for k, v in state}
    write_export(out_dir, config=config, init=init, order=order, data=arrays, metadata=metadata, overwrite=overwrite)
    for w in warned:
        warnings.warn(w, stacklevel=2)
    return ExportResult(out_dir=str(out_dir), config=config, steps=len(order), classes=classes, warnings=warned)
