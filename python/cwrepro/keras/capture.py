"""Capture a real Keras training loop into a cwrepro trace, under cwrepro's (torch's) names and
layouts (cwrepro.keras.layers explains the conversion).

A GradientTape loop:

    cap = Capture("run.trace", model, optimizer, name="my-run", level="grads", seed=1234)
    for x, y in batches:
        with tf.GradientTape() as tape:
            logits = cap.forward(x, tape=tape)      # = model(x, training=True); keeps outputs at level activations
            loss = loss_fn(y, logits)
        grads = cap.gradient(tape, loss)            # = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        cap.step(loss, grads=grads, batch=(x, y))
    cap.evaluate(model, x_test, y_test)
    cap.close()

At levels params and grads `model(x, training=True)` and `tape.gradient(...)` may be used
directly; level activations needs `cap.forward` (which runs the layers one by one, splitting a
Dense/Conv2D activation into its own output, exactly the ops Keras runs) and `cap.gradient`
(one tape.gradient call that also returns dL/d(input) of every layer). `model.fit`:
`callbacks=[cap.callback()]` at level params. batch.x is given as Keras sees it (NHWC) and
captured as NCHW. Tensors on any device are copied to the host."""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from ..capture import CaptureBase, write_step
from ..environment import base_environment
from ..errors import CaptureError, ShapeMismatchError, UnsupportedModelError
from ..export import float_value
from ..hashing import canonical
from .layers import Plan, plan_model

__all__ = ["Capture", "keras_environment"]

SUPPORTED_OPTIMIZERS = "keras.optimizers.SGD, Adam, AdamW, RMSprop"


def _np(t) -> np.ndarray:
    """A backend tensor, Keras variable or array as a host numpy array."""
    if isinstance(t, np.ndarray):
        return t
    if hasattr(t, "numpy"):  # tf tensors and Keras variables (any device: numpy() copies to the host)
        return np.asarray(t.numpy())
    import keras
    return np.asarray(keras.ops.convert_to_numpy(t))


def keras_environment(model) -> Dict[str, str]:
    import keras
    env = base_environment()
    env["framework"] = f"keras {keras.__version__} ({keras.backend.backend()})"
    env["keras.version"] = keras.__version__
    env["keras.backend"] = keras.backend.backend()
    env["keras.floatx"] = keras.config.floatx()
    env["keras.dtype_policy"] = keras.config.dtype_policy().name
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        env["tensorflow.version"] = tf.__version__
        env["tensorflow.intra_op_threads"] = str(tf.config.threading.get_intra_op_parallelism_threads())
        env["tensorflow.inter_op_threads"] = str(tf.config.threading.get_inter_op_parallelism_threads())
        try:
            from tensorflow.python.framework.config import is_op_determinism_enabled
            env["tensorflow.op_determinism"] = str(is_op_determinism_enabled()).lower()
        except ImportError:
            pass
        for k, v in tf.sysconfig.get_build_info().items():
            env[f"tensorflow.build.{k}"] = str(v)
        gpus = tf.config.list_physical_devices("GPU")
        env["device"] = "gpu" if gpus else "cpu"
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            env["device.name"] = str(details.get("device_name", gpus[0].name))
            if "compute_capability" in details:
                env["device.capability"] = ".".join(str(x) for x in details["compute_capability"])
            env["device.count"] = str(len(gpus))
        else:
            env["device.name"] = env.get("cpu.model", "cpu")
    elif keras.backend.backend() == "torch":
        import torch
        env["torch.version"] = torch.__version__
        env["torch.threads"] = str(torch.get_num_threads())
    elif keras.backend.backend() == "jax":
        import jax
        env["jax.version"] = jax.__version__
        env["device"] = str(jax.devices()[0].platform)
    return env


def _json_value(v):
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        return (int(v) if isinstance(v, (int, np.integer)) else f) if np.isfinite(f) else str(v)
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    return str(v)


def optimizer_description(opt, level: str):
    """(header object, [(torch state name, Keras slot list attribute)]). The config's `lr` is the
    float32 variable's shortest decimal, as `cwrepro.keras.export` writes it (`0.001`, not its
    widening 0.0010000000474974513), so a capture and an export of one run hold the same config."""
    import keras
    cls = type(opt)
    try:
        cfg = opt.get_config()
    except Exception:
        cfg = {}
    hyper = {k: _json_value(v) for k, v in cfg.items()}
    lr = float_value(_np(opt.learning_rate), float32=True)
    constant_lr = not isinstance(getattr(opt, "_learning_rate", None), keras.optimizers.schedules.LearningRateSchedule)
    plain = not any(cfg.get(k) for k in ("clipnorm", "clipvalue", "global_clipnorm", "use_ema", "loss_scale_factor")) and \
        not cfg.get("gradient_accumulation_steps") and not cfg.get("weight_decay")
    slots, config = None, None
    if cls is keras.optimizers.SGD:
        slots = [("momentum_buffer", "momentums")] if float(cfg.get("momentum", 0)) != 0 else []
        config = {"type": "sgd", "lr": lr, "momentum": float(cfg.get("momentum", 0)), "nesterov": bool(cfg.get("nesterov")),
                  "weightDecay": 0.0}
    elif cls in (keras.optimizers.Adam, keras.optimizers.AdamW):
        slots = [("exp_avg", "_momentums"), ("exp_avg_sq", "_velocities")] + \
                ([("max_exp_avg_sq", "_velocity_hats")] if cfg.get("amsgrad") else [])
        if not cfg.get("amsgrad"):
            config = {"type": "adam", "lr": lr, "beta1": float(cfg["beta_1"]), "beta2": float(cfg["beta_2"]),
                      "epsilon": float(cfg["epsilon"]), "weightDecay": 0.0}
    elif cls is keras.optimizers.RMSprop:
        slots = [("square_avg", "_velocities")] + ([("momentum_buffer", "_momentums")] if cfg.get("momentum") else []) + \
                ([("grad_avg", "_average_gradients")] if cfg.get("centered") else [])
        if not cfg.get("momentum") and not cfg.get("centered"):
            config = {"type": "rmsprop", "lr": lr, "rho": float(cfg["rho"]), "epsilon": float(cfg["epsilon"]),
                      "weightDecay": 0.0}
    if slots is None:
        if level != "params":
            raise UnsupportedModelError(f"optimizer {cls.__module__}.{cls.__name__}: its slots cannot be named as cwrepro names "
                                        f"them (supported at level {level!r}: {SUPPORTED_OPTIMIZERS}); capture at level='params'")
        slots = []
    if not plain or not constant_lr:
        config = None
    if level == "params":
        slots = []
    return ({"class": f"{cls.__module__}.{cls.__name__}", "config": config, "stateNames": [s for s, _ in slots],
             "hyperparameters": hyper}, slots)


class Capture(CaptureBase):
    """Captures a Keras training loop into a trace (see the module doc).

    Args:
        path: the trace file (overwritten). model: a built keras.Model (Sequential or a chain).
        optimizer: its keras optimizer (SGD, Adam, AdamW, RMSprop at levels grads and
            activations; any at params).
        name, level, seed, keep_tensors, steps_per_epoch: as cwrepro.torch.Capture.
    """

    def __init__(self, path, model, optimizer, *, name: str = "run", level: str = "grads", seed: Optional[int] = None,
                 keep_tensors: int = 0, steps_per_epoch: Optional[int] = None):
        super().__init__(path, name=name, level=level, seed=seed, keep_tensors=keep_tensors, steps_per_epoch=steps_per_epoch)
        import keras
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(f"optimizer: expected a keras optimizer, got {type(optimizer).__name__}")
        self.model, self.optimizer = model, optimizer
        self.plan: Plan = plan_model(model)
        mapped = {id(m.variable) for m in self.plan.variables}
        unmapped = [v.path for v in model.weights if id(v) not in mapped]
        if unmapped:
            raise UnsupportedModelError(f"variables {', '.join(unmapped)} have no cwrepro name")
        opt_desc, self._slots = optimizer_description(optimizer, self.level)
        self._trainable = [m for m in self.plan.variables if m.trainable]
        header = {"framework": {"name": "keras", "version": keras.__version__},
                  "model": {"class": f"{type(model).__module__}.{type(model).__name__}", "layers": self.plan.layers, "note": None,
                            "parameters": [{"name": m.name, "shape": m.shape, "trainable": m.trainable} for m in self.plan.variables]},
                  "optimizer": opt_desc, "environment": keras_environment(model)}
        self._forward: Optional[dict] = None
        self._fit_callbacks: List = []
        self._start(header, [(m.name, self._param(m)) for m in self.plan.variables])

    # -- conversions -------------------------------------------------------------------------

    def _host(self, value) -> np.ndarray:
        return _np(value)

    def _param(self, m, value=None) -> np.ndarray:
        a = canonical(_np(m.variable if value is None else value), what=m.name)
        out = canonical(m.convert(a), what=m.name)
        if list(out.shape) != m.shape:
            raise ShapeMismatchError(f"{m.name}: converted shape {list(out.shape)}, expected {m.shape}")
        return out

    def _learning_rate(self) -> float:
        import keras
        opt = self.optimizer
        sched = getattr(opt, "_learning_rate", None)
        if isinstance(sched, keras.optimizers.schedules.LearningRateSchedule):
            # After apply_gradients: iterations counts the update just made; its lr was at iterations - 1.
            return float(_np(sched(int(_np(opt.iterations)) - 1)))
        return float(_np(opt.learning_rate))

    # -- the training step -------------------------------------------------------------------

    def forward(self, x, *, training: bool = True, tape=None):
        """model(x, training=training), layer by layer. At level activations (training), keeps
        every cwrepro layer's output and watches x on `tape` (required then) so that the first
        layer's input gradient exists."""
        self._check_open("forward")
        import keras
        if self.level != "activations" or not training:
            return self.model(x, training=training)
        if tape is None:
            raise CaptureError("forward at level activations: pass the GradientTape (cap.forward(x, tape=tape)) "
                               "so the gradient of the first layer's input can be taken")
        h = keras.ops.convert_to_tensor(x)
        tape.watch(h)
        first = h
        outputs = []
        by_layer: Dict[int, List] = {}
        for e in self.plan.emitted:
            by_layer.setdefault(id(e.layer), []).append(e)
        for layer in self.plan.keras_layers:
            es = by_layer.get(id(layer), [])
            if len(es) == 2:  # Dense/Conv2D with its activation split off: the same ops, two outputs
                act = layer.activation
                layer.activation = keras.activations.linear
                try:
                    z = layer(h, training=training)
                finally:
                    layer.activation = act
                h = act(z)
                outputs += [z, h]
            else:
                h = layer(h, training=training)
                if es:
                    outputs.append(h)
        # The input of cwrepro layer j is the output of layer j - 1 (the model's input for j = 0).
        self._forward = {"inputs": [first] + outputs[:-1], "outputs": outputs}
        return h

    def gradient(self, tape, loss):
        """tape.gradient(loss, model.trainable_variables); at level activations in the same call
        also dL/d(input of every layer) of the last `forward`."""
        self._check_open("gradient")
        variables = self.model.trainable_variables
        if self.level != "activations" or self._forward is None:
            return tape.gradient(loss, variables)
        inputs = self._forward["inputs"]
        grads = tape.gradient(loss, list(variables) + list(inputs))
        self._forward["grad_inputs"] = grads[len(variables):]
        return grads[:len(variables)]

    def step(self, loss, grads=None, batch=None, *, epoch: Optional[int] = None, lr: Optional[float] = None):
        """Captures one training step after optimizer.apply_gradients: batch (x NHWC -> NCHW, y),
        [activations], loss, [input gradients], gradients (`grads`, aligned with
        model.trainable_variables; required at levels grads and activations), parameters after
        the update, optimizer slots under torch's state names."""
        self._check_open("step")
        variables = self.model.trainable_variables
        if self.wants("grad"):
            if grads is None:
                raise CaptureError(f"step {self.step_index}: level {self.level} captures gradients: "
                                   "pass grads=... (the list tape.gradient returned)")
            grads = list(grads)
            if len(grads) != len(variables):
                raise ShapeMismatchError(f"grads: {len(grads)} gradients for {len(variables)} trainable variables "
                                         "(pass them in model.trainable_variables order)")
        outputs, grad_inputs = [], []
        if self.level == "activations":
            f = self._forward
            if f is None or "grad_inputs" not in f:
                raise CaptureError(f"step {self.step_index}: level activations needs the step's forward pass through "
                                   "cap.forward(x, tape=tape) and its gradients through cap.gradient(tape, loss)")
            layouts = [self.plan.input] + [e.output for e in self.plan.emitted]
            for e, out in zip(self.plan.emitted, f["outputs"]):
                outputs.append((f"{e.index}.output", canonical(e.output.to_cwrepro(_np(out)), what=f"{e.index}.output")))
            for e, g, inp in reversed(list(zip(self.plan.emitted, f["grad_inputs"], f["inputs"]))):
                a = np.zeros(_np(inp).shape, np.float32) if g is None else _np(g)
                grad_inputs.append((f"{e.index}.grad_input", canonical(layouts[e.index].to_cwrepro(a), what=f"{e.index}.grad_input")))
        x, y = self._batch_tensors(batch) if batch is not None else (None, None)
        if x is not None:
            x = self.plan.input.to_cwrepro(x) if self.plan.input.kind == "map" and x.ndim == 4 else x
        grad_list = []
        if self.wants("grad"):
            by_var = {id(v): g for v, g in zip(variables, grads)}
            for m in self._trainable:
                g = by_var.get(id(m.variable))
                if g is None and id(m.variable) not in by_var:
                    raise CaptureError(f"{m.name}: variable {m.variable.path} is not in model.trainable_variables")
                grad_list.append((m.name, np.zeros(m.shape, np.float32) if g is None else self._param(m, _dense(g))))
        params = [(m.name, self._param(m)) for m in self.plan.variables]
        states = []
        for state, attr in self._slots:
            slot_vars = getattr(self.optimizer, attr, None)
            if not slot_vars:
                raise CaptureError(f"optimizer {type(self.optimizer).__name__} has no {attr} (not built?): call cap.step after "
                                   "optimizer.apply_gradients")
            for m in self._trainable:
                sv = slot_vars[self.optimizer._get_variable_index(m.variable)]
                states.append((f"{m.name}.{state}", np.zeros(m.shape, np.float32) if sv is None else self._param(m, sv)))
        write_step(self, x=x, y=y, outputs=outputs, loss=self._loss32(loss), grad_inputs=grad_inputs, grads=grad_list,
                   params=params, states=states, epoch=self._epoch_for(epoch), lr=self._learning_rate() if lr is None else lr)
        self._forward = None

    def evaluate(self, model=None, x=None, y=None, *, split: str = "test", batch_size: Optional[int] = None) -> dict:
        """Evaluates in inference mode (training=False) and writes an evaluation line: predictions
        (cwrepro's argmax), accuracy, per-class accuracy, the hash of the int32 predictions, the
        mean sparse categorical cross-entropy from logits. `batch_size`: forward in chunks of that many
        samples (a positive integer; None: all at once). `split` names the data (non-empty); each
        split is evaluated at most once after a step (a record holds one evaluation per step and
        split). Returns the evaluation as written."""
        batch_size = self._check_evaluate(split, batch_size)
        import keras
        model = self.model if model is None else model
        if x is None or y is None:
            raise TypeError("evaluate(model, x, y): x and y are required")
        xs, ys = _np(x), _np(y).reshape(-1)
        if xs.shape[0] != ys.shape[0]:
            raise ShapeMismatchError(f"evaluate: {xs.shape[0]} samples in x, y has shape {list(_np(y).shape)}; "
                                     "expected one class label per sample")
        n = xs.shape[0]
        step = batch_size or max(1, n)
        logits = np.concatenate([_np(model(xs[i:i + step], training=False)) for i in range(0, n, step)]) if n else \
            _np(model(xs, training=False))
        if logits.ndim != 2:
            raise CaptureError(f"evaluate: the model returned shape {list(logits.shape)}; expected [samples, classes] logits")
        k = logits.shape[1]
        if n and (ys.min() < 0 or ys.max() >= k):
            raise ShapeMismatchError(f"evaluate: labels {int(ys.min())}..{int(ys.max())} outside the model's {k} classes")
        loss = None
        if n:
            loss = _np(keras.ops.mean(keras.losses.sparse_categorical_crossentropy(ys, logits, from_logits=True)))
        return self._write_evaluation(logits, ys, loss, split, k)

    # -- model.fit ---------------------------------------------------------------------------

    def callback(self):
        """A keras Callback for model.fit at level params: per batch the batch, the loss and the
        parameters after the update (model.fit computes gradients internally, so levels grads and
        activations need the GradientTape loop)."""
        self._check_open("callback")
        if self.level != "params":
            raise CaptureError(f"callback(): model.fit does not expose gradients, optimizer steps or layer outputs; "
                               f"use level='params' with fit, or a GradientTape loop with cap.step at level {self.level!r}")
        from .fit import FitCallback
        return FitCallback(self)

    def _fit_step(self, loss, x, y):
        """One model.fit batch (from FitCallback): batch, loss, parameters after the update."""
        self._check_open("callback")
        x, y = self._batch_tensors((x, y))
        if self.plan.input.kind == "map" and x.ndim == 4:
            x = self.plan.input.to_cwrepro(x)
        params = [(m.name, self._param(m)) for m in self.plan.variables]
        write_step(self, x=x, y=y, outputs=[], loss=self._loss32(loss), grad_inputs=[], grads=[], params=params, states=[],
                   epoch=self._epoch_for(None), lr=self._learning_rate())

    def _finish(self):
        for cb in self._fit_callbacks:
            cb.remove()
        self._fit_callbacks = []


def _dense(g):
    import tensorflow as tf
    if isinstance(g, tf.IndexedSlices):
        return tf.convert_to_tensor(g)
    return g
