"""Export a Keras model, optimizer, data and batch order as a cwrepro config (the `keras`
semantics profile), with the same arguments as `cwrepro.torch.export`.

    from cwrepro.keras import export
    export("out", model, optimizer, data=(x_train, y_train, x_test, y_test), batch_order=order,
           seed=0, steps=200, name="my-cnn")

The layer list, names and layouts are cwrepro.keras.layers' (the capture's conversion): Keras
kernels become torch layouts, "same" padding the explicit pads TensorFlow uses, BatchNormalization
its momentum as cwrepro's (1 - Keras momentum), epsilon and the biased running variance. Data is
given as the model sees it (NHWC maps) and written NCHW. A `tf.data.Dataset` is accepted as
`batch_order` when its order is fixed: it is iterated twice (two identical passes), and each
sample is found in x_train by its bytes and label."""

from __future__ import annotations

import warnings
from typing import Dict, List, Optional

import numpy as np

from .. import __version__
from ..errors import (DataMismatchError, UnfixedOrderError, UnsupportedModelError, UnsupportedModuleError,
                      UnsupportedOptimizerError)
from ..export import (ExportResult, batch_size_of, build_config, check_data, check_name, check_out_dir, check_seed,
                      check_steps, cut_to_steps, explicit_order, float_value, layer_warnings, steps_per_epoch,
                      write_export)
from .layers import SUPPORTED_LAYERS, plan_model

__all__ = ["export", "SUPPORTED_EXPORT_OPTIMIZERS", "SUPPORTED_SCHEDULES"]

SUPPORTED_EXPORT_OPTIMIZERS = ("keras.optimizers.SGD, Adam and AdamW (amsgrad=False), RMSprop (momentum 0, centered=False); "
                               "weight_decay on all variables; no clipnorm, clipvalue, global_clipnorm, use_ema, "
                               "loss_scale_factor or gradient_accumulation_steps")
SUPPORTED_SCHEDULES = "a constant learning rate, or keras.optimizers.schedules.ExponentialDecay(..., staircase=True)"

_REGULARISERS = ("kernel_regularizer", "bias_regularizer", "activity_regularizer", "beta_regularizer", "gamma_regularizer",
                 "kernel_constraint", "bias_constraint", "beta_constraint", "gamma_constraint")


def _np(t) -> np.ndarray:
    if isinstance(t, np.ndarray):
        return t
    if hasattr(t, "numpy"):
        return np.asarray(t.numpy())
    return np.asarray(t)


def _check_model(model, plan):
    import keras
    policy = keras.config.dtype_policy().name if getattr(model, "dtype_policy", None) is None else model.dtype_policy.name
    if policy != "float32":
        raise UnsupportedModuleError(f"model {model.name!r}: dtype policy {policy!r}; cwrepro trains in float32")
    for layer in plan.keras_layers:
        if not layer.trainable:
            raise UnsupportedModuleError(f"layer {layer.name!r} ({type(layer).__name__}): trainable=False; cwrepro trains every "
                                         "layer (BatchNormalization included: a frozen one runs in inference mode)")
        for attr in _REGULARISERS:
            if getattr(layer, attr, None) is not None:
                raise UnsupportedModuleError(f"layer {layer.name!r} ({type(layer).__name__}): {attr} is set; cwrepro's loss is "
                                             "the cross-entropy alone and its parameters are unconstrained (remove it)")
        if getattr(layer, "lora_enabled", False):
            raise UnsupportedModuleError(f"layer {layer.name!r}: LoRA is enabled; cwrepro layers have plain kernels")
        if getattr(layer, "dtype_policy", None) is not None and layer.dtype_policy.name != "float32":
            raise UnsupportedModuleError(f"layer {layer.name!r}: dtype policy {layer.dtype_policy.name!r}; cwrepro trains in float32")
    mapped = {id(m.variable) for m in plan.variables}
    unmapped = [v.path for v in model.weights if id(v) not in mapped]
    if unmapped:
        raise UnsupportedModuleError(f"variables {', '.join(unmapped)} have no cwrepro parameter; supported layers: {SUPPORTED_LAYERS}")


def _optimizer_config(opt, model) -> tuple:
    """(optimizer object, schedule or None, overrides)."""
    import keras
    cls = type(opt)
    name = f"{cls.__module__}.{cls.__name__}"
    if not isinstance(opt, keras.optimizers.Optimizer):
        raise TypeError(f"optimizer: expected a keras optimizer, got {type(opt).__name__}")

    def refuse(option, what):
        raise UnsupportedOptimizerError(f"optimizer {name}: {option}; {what}. Supported: {SUPPORTED_EXPORT_OPTIMIZERS}")

    if int(_np(opt.iterations)) != 0:
        raise UnsupportedOptimizerError(f"optimizer {name} has already taken {int(_np(opt.iterations))} steps; export before "
                                        "the first apply_gradients: cwrepro starts from fresh optimizer state")
    for attr in ("clipnorm", "clipvalue", "global_clipnorm", "loss_scale_factor"):
        if getattr(opt, attr, None) is not None:
            refuse(f"{attr}={getattr(opt, attr)}", "cwrepro applies gradients as they are")
    if getattr(opt, "use_ema", False):
        refuse("use_ema=True", "cwrepro keeps no moving average of the weights")
    if getattr(opt, "gradient_accumulation_steps", None):
        refuse(f"gradient_accumulation_steps={opt.gradient_accumulation_steps}", "cwrepro updates every step")
    if getattr(opt, "_exclude_from_weight_decay", None) or getattr(opt, "_exclude_from_weight_decay_pattern", None):
        refuse("exclude_from_weight_decay", "cwrepro decays every parameter alike")
    wd = float(opt.weight_decay) if opt.weight_decay is not None else 0.0

    schedule = None
    lr_obj = getattr(opt, "_learning_rate", None)
    if isinstance(lr_obj, keras.optimizers.schedules.LearningRateSchedule):
        if type(lr_obj) is not keras.optimizers.schedules.ExponentialDecay or not lr_obj.staircase:
            raise UnsupportedOptimizerError(f"optimizer {name}: learning-rate schedule {type(lr_obj).__name__}"
                                            f"{'' if type(lr_obj) is not keras.optimizers.schedules.ExponentialDecay else ' (staircase=False)'}"
                                            f" has no cwrepro equivalent; supported: {SUPPORTED_SCHEDULES}")
        lr = float_value(lr_obj.initial_learning_rate)
        schedule = {"type": "step", "stepSize": int(lr_obj.decay_steps), "gamma": float_value(lr_obj.decay_rate)}
    else:
        lr = float_value(_np(opt.learning_rate), float32=True)

    if cls is keras.optimizers.SGD:
        config = {"type": "sgd", "lr": lr, "momentum": float_value(opt.momentum), "nesterov": bool(opt.nesterov), "weightDecay": wd}
    elif cls in (keras.optimizers.Adam, keras.optimizers.AdamW):
        if opt.amsgrad:
            refuse("amsgrad=True", "cwrepro's Adam has no AMSGrad maximum")
        config = {"type": "adam", "lr": lr, "beta1": float_value(opt.beta_1), "beta2": float_value(opt.beta_2),
                  "epsilon": float_value(opt.epsilon), "weightDecay": wd}
    elif cls is keras.optimizers.RMSprop:
        if opt.momentum:
            refuse(f"momentum={opt.momentum}", "cwrepro's RMSprop has no momentum")
        if opt.centered:
            refuse("centered=True", "cwrepro's RMSprop is not centered")
        config = {"type": "rmsprop", "lr": lr, "rho": float_value(opt.rho), "epsilon": float_value(opt.epsilon), "weightDecay": wd}
    else:
        raise UnsupportedOptimizerError(f"optimizer {name} has no cwrepro equivalent (a subclass may change the update, which "
                                        f"export cannot see); supported: {SUPPORTED_EXPORT_OPTIMIZERS}")
    return config, schedule, {}


def _loss(loss, model) -> float:
    import keras
    if loss is None:
        loss = getattr(model, "loss", None)
    if loss is None:
        return 0.0  # the training loop's loss is not visible: cwrepro's softmax cross-entropy from logits is exported
    if isinstance(loss, str):
        raise UnsupportedOptimizerError(f"loss {loss!r}: give keras.losses.SparseCategoricalCrossentropy(from_logits=True) "
                                        "(cwrepro's loss takes logits; a string loss expects probabilities)")
    if type(loss) is not keras.losses.SparseCategoricalCrossentropy:
        raise UnsupportedOptimizerError(f"loss {type(loss).__name__}: cwrepro trains with softmax cross-entropy from logits on "
                                        "integer labels; use keras.losses.SparseCategoricalCrossentropy(from_logits=True)")
    cfg = loss.get_config()
    if not cfg.get("from_logits"):
        raise UnsupportedOptimizerError("loss: SparseCategoricalCrossentropy(from_logits=False) takes probabilities; cwrepro's "
                                        "loss takes logits: end the model with a linear Dense and use from_logits=True")
    if cfg.get("ignore_class") is not None:
        raise UnsupportedOptimizerError(f"loss: ignore_class={cfg['ignore_class']}; cwrepro counts every sample")
    if cfg.get("reduction") not in ("sum_over_batch_size", "mean", None):
        raise UnsupportedOptimizerError(f"loss: reduction={cfg.get('reduction')!r}; cwrepro averages over the batch "
                                        "(sum_over_batch_size)")
    return 0.0


def _dataset_order(ds, x_train: np.ndarray, y_train: np.ndarray, steps: Optional[int]) -> List[List[int]]:
    """The indices a fixed-order tf.data pipeline yields: two passes must agree, and every sample
    must be a sample of (x_train, y_train) (found by its bytes and label; identical samples are
    interchangeable, the first index is used). `steps` is checked as for an explicit order."""
    steps = check_steps(steps)
    card = int(ds.cardinality())
    if steps is None:
        if card < 0:
            raise UnfixedOrderError("batch_order: the tf.data pipeline is infinite or of unknown length; pass steps=")
        steps = card
    elif card >= 0 and steps > card:
        raise UnfixedOrderError(f"steps={steps}: the tf.data pipeline yields only {card} batches; give more batches or fewer steps")
    index: Dict[bytes, List[int]] = {}
    rows = np.ascontiguousarray(x_train).reshape(x_train.shape[0], -1)
    for i in range(rows.shape[0]):
        index.setdefault(rows[i].tobytes() + int(y_train[i]).to_bytes(8, "little", signed=True), []).append(i)

    def one_pass():
        out = []
        for b, element in enumerate(ds.take(steps)):
            if not isinstance(element, (tuple, list)) or len(element) < 2:
                raise UnfixedOrderError("batch_order: the tf.data pipeline must yield (x, y) batches")
            x = _np(element[0]).astype(np.float32, copy=False)
            y = _np(element[1]).reshape(-1)
            if x.shape[1:] != x_train.shape[1:] or x.shape[0] != y.shape[0]:
                raise UnfixedOrderError(f"batch_order: batch {b} of the tf.data pipeline has x of shape {list(x.shape)} and y of "
                                        f"{list(y.shape)}; expected batches of x_train samples {list(x_train.shape[1:])}")
            flat = np.ascontiguousarray(x).reshape(x.shape[0], -1)
            batch = []
            for r in range(flat.shape[0]):
                hit = index.get(flat[r].tobytes() + int(y[r]).to_bytes(8, "little", signed=True))
                if hit is None:
                    raise UnfixedOrderError(f"batch_order: sample {r} of batch {b} of the tf.data pipeline is no sample of "
                                            "(x_train, y_train): the pipeline transforms samples (augmentation, scaling) or "
                                            "reads other data; export the data as the model sees it, or pass an explicit list "
                                            "of index lists")
                batch.append(hit[0])
            out.append(batch)
        return out

    first = one_pass()
    if len(first) < steps:
        raise UnfixedOrderError(f"steps={steps}: the tf.data pipeline yielded only {len(first)} batches")
    if one_pass() != first:
        raise UnfixedOrderError("batch_order: two passes over the tf.data pipeline drew different batches, so its order is not "
                                "fixed (an unseeded shuffle, or reshuffle_each_iteration=True): use "
                                ".shuffle(n, seed=s, reshuffle_each_iteration=False), no shuffle, or pass an explicit list "
                                "of index lists (e.g. from numpy.random.default_rng(seed).permutation)")
    return first


def export(out_dir, model, optimizer, *, data, batch_order, seed: int = 0, steps: Optional[int] = None,
           name: Optional[str] = None, loss=None, overwrite: bool = False) -> ExportResult:
    """Writes `out_dir/train.json`, `init.safetensors`, `order.json` and `data.safetensors` so that
    `cwrepro record out_dir/train.json` trains the same model from the same weights on the same
    batches with Keras's semantics (the `keras` profile).

    Args:
        out_dir: the directory to write (created; existing export files need `overwrite=True`).
        model: a built keras.Model whose layers form one chain of `SUPPORTED_LAYERS`, float32,
            every layer trainable, no regularisers or constraints. Its current weights become
            `init.safetensors` (converted to cwrepro's layouts).
        optimizer: `SUPPORTED_EXPORT_OPTIMIZERS`, not yet applied; its learning rate constant or
            `SUPPORTED_SCHEDULES`.
        data: (x_train, y_train, x_test, y_test) exactly as the model sees them (float32, NHWC
            for image models; integer labels).
        batch_order: an explicit list of index lists into x_train, a 2-D integer array, or a
            `tf.data.Dataset` of (x, y) batches whose order is fixed.
        seed, steps, name, overwrite: as cwrepro.torch.export.
        loss: None (the model's compiled loss, or cwrepro's softmax cross-entropy from logits) or
            keras.losses.SparseCategoricalCrossentropy(from_logits=True).

    Raises ExportError subclasses, before writing anything (see cwrepro.torch.export).
    """
    import keras
    if not isinstance(model, keras.Model):
        raise TypeError(f"model: expected a keras.Model, got {type(model).__name__}")
    out_dir = check_out_dir(out_dir)
    seed, name, steps = check_seed(seed), check_name(name, out_dir), check_steps(steps)
    try:
        plan = plan_model(model)
    except UnsupportedModelError as e:  # the capture's conversion refuses: the export's own type, same message
        raise UnsupportedModuleError(str(e)) from e
    _check_model(model, plan)
    optimizer_config, schedule, overrides = _optimizer_config(optimizer, model)
    label_smoothing = _loss(loss, model)

    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise DataMismatchError("data: expected (x_train, y_train, x_test, y_test)")
    xtr, ytr, xte, yte = (_np(a) for a in data)
    in_shape = tuple(plan.input.shape)
    for split, x in (("train", xtr), ("test", xte)):
        if tuple(x.shape[1:]) != in_shape:
            raise DataMismatchError(f"data: x_{split} samples have shape {list(x.shape[1:])}; the model takes {list(in_shape)} "
                                    "(Keras layout, channels last)")
    classes = int(model.outputs[0].shape[-1])
    if len(model.outputs[0].shape) != 2:
        raise DataMismatchError(f"data: the model outputs shape {list(model.outputs[0].shape)}; cwrepro needs [batch, classes] logits")

    def layout(x):
        return plan.input.to_cwrepro(x) if plan.input.kind == "map" else np.ascontiguousarray(x)
    arrays = check_data(layout(xtr), ytr, layout(xte), yte, classes=classes)

    n_train = xtr.shape[0]
    try:
        import tensorflow as tf
        is_dataset = isinstance(batch_order, tf.data.Dataset)
    except ImportError:  # pragma: no cover - another backend without TensorFlow
        is_dataset = False
    if is_dataset:
        order = _dataset_order(batch_order, xtr, ytr, steps)
    elif isinstance(batch_order, (list, tuple, np.ndarray)):
        order = explicit_order(batch_order, n_train, steps)
    else:
        raise UnfixedOrderError(f"batch_order: a {type(batch_order).__name__}; expected a list of index lists, a 2-D integer "
                                "array, or a tf.data.Dataset with a fixed order (model.fit's own shuffling cannot be replayed: "
                                "train on batches you give)")
    order = cut_to_steps(order, steps, what="batch_order")
    size = batch_size_of(order)
    warned = layer_warnings(plan.layers, optimizer_config["type"], seed, "Keras")
    config = build_config(name=name, seed=seed, semantics="keras", overrides=overrides, layers=plan.layers, classes=classes,
                          batch_size=size, drop_last=False, steps=len(order),
                          steps_per_epoch=steps_per_epoch(n_train, size, False), label_smoothing=label_smoothing,
                          optimizer=optimizer_config, schedule=schedule)
    init = {m.name: m.convert(np.asarray(_np(m.variable), dtype=np.float32)) for m in plan.variables}
    for m in plan.variables:
        if list(init[m.name].shape) != m.shape:
            raise DataMismatchError(f"{m.name}: converted shape {list(init[m.name].shape)}, expected {m.shape}")
    metadata = {"framework": f"keras {keras.__version__} ({keras.backend.backend()})",
                "model.class": f"{type(model).__module__}.{type(model).__name__}", "cwrepro.python": __version__}
    write_export(out_dir, config=config, init=init, order=order, data=arrays, metadata=metadata, overwrite=overwrite)
    for w in warned:
        warnings.warn(w, stacklevel=2)
    return ExportResult(out_dir=str(out_dir), config=config, steps=len(order), classes=classes, warnings=warned)
