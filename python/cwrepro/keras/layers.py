"""Keras models as cwrepro names them: the layer list of the equivalent torch nn.Sequential, and
for every variable its cwrepro name and layout.

A Keras layer becomes one cwrepro layer, or two when it carries an activation (Dense and Conv2D
with activation="relu" are dense/conv2d then relu: two indices, as torch writes them); Flatten
counts; InputLayer and Activation("linear") emit none. Layouts (Keras channels_last ->
cwrepro/torch):
  - feature maps [N, H, W, C] -> [N, C, H, W]; conv kernels [kh, kw, in, out] -> [out, in, kh, kw];
  - dense kernels [in, out] -> [out, in];
  - a Flatten of an [H, W, C] map orders features (h, w, c); torch's orders them (c, h, w): the
    features after it (activations, BatchNorm parameters, the input rows of the next dense kernel)
    are permuted into torch's order;
  - BatchNormalization gamma, beta, moving_mean, moving_variance -> weight, bias, running_mean,
    running_var (cwrepro momentum = 1 - Keras momentum, running variance biased);
  - "same" padding is written as the explicit [top, bottom, left, right] TensorFlow uses (the
    extra row/column at the bottom/right), so the layer list means the same under any profile.

Supported: InputLayer, Dense, Conv2D (channels_last, no dilation or groups), BatchNormalization
(last axis, center and scale), ReLU (plain), Activation / activation= relu|tanh|sigmoid|linear,
MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D (keepdims=False), Flatten, Dropout; in a
keras.Sequential or a functional model whose layers form a single chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import numpy as np

from ..errors import UnsupportedModelError

__all__ = ["Plan", "Emitted", "VariableMap", "plan_model", "SUPPORTED_LAYERS"]

SUPPORTED_LAYERS = ("InputLayer, Dense, Conv2D, BatchNormalization, ReLU, Activation (relu, tanh, sigmoid, linear), "
                    "MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Dropout; activation= relu, tanh, "
                    "sigmoid or linear on Dense and Conv2D")
ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}


@dataclass
class Layout:
    """How a per-sample Keras feature tensor maps to cwrepro's: `kind` is "map" ([H, W, C] ->
    [C, H, W]), "flat" (a Flatten of an [H, W, C] map: features permuted by `perm`) or "plain"."""
    kind: str
    shape: Tuple[int, ...]
    perm: Optional[np.ndarray] = None

    def to_cwrepro(self, a: np.ndarray) -> np.ndarray:
        """A batch [N, *shape] in Keras layout -> cwrepro layout."""
        if self.kind == "map":
            return np.ascontiguousarray(a.transpose(0, 3, 1, 2))
        if self.kind == "flat" and self.perm is not None:
            return np.ascontiguousarray(a[:, self.perm])
        return np.ascontiguousarray(a)


def flatten_permutation(h: int, w: int, c: int) -> Optional[np.ndarray]:
    """perm with cwrepro_features = keras_features[perm]: cwrepro index (c, h, w) reads Keras
    index (h, w, c). None when it is the identity (c == 1, or h == w == 1)."""
    if c == 1 or h * w == 1:
        return None
    ci, hi, wi = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return (hi * w * c + wi * c + ci).reshape(-1)


@dataclass
class VariableMap:
    """A Keras variable as a cwrepro parameter: name, canonical shape, trainable, converter."""
    name: str
    variable: object
    shape: List[int]
    trainable: bool
    convert: Callable[[np.ndarray], np.ndarray]


@dataclass
class Emitted:
    """One cwrepro layer: its index, spec, the Keras layer it comes from, and the layout of its output."""
    index: int
    spec: dict
    layer: object
    output: Layout
    activation_of: Optional[object] = None  # set for the activation split off a Dense/Conv2D


@dataclass
class Plan:
    layers: List[dict]
    emitted: List[Emitted]
    variables: List[VariableMap]
    input: Layout
    keras_layers: List[object] = field(default_factory=list)


def _refuse(layer, why: str):
    raise UnsupportedModelError(f"layer {layer.name!r} ({type(layer).__name__}): {why}; supported: {SUPPORTED_LAYERS}")


def _activation_name(layer) -> str:
    import keras
    act = getattr(layer, "activation", None)
    if act is None:
        return "linear"
    name = keras.activations.serialize(act)
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name", "?"))
    return str(name)


def _tf_same(size: int, k: int, s: int) -> Tuple[int, int]:
    """TensorFlow's "same" padding of one dimension: out = ceil(size / s), the extra at the end."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _pair(v) -> Tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _int_or_pair(v):
    a, b = _pair(v)
    return a if a == b else [a, b]


def _chain(model) -> List[object]:
    """The model's layers in order, if they form a single chain (else UnsupportedModelError)."""
    import keras
    layers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    if isinstance(model, keras.Sequential):
        return layers
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedModelError(f"model {model.name!r}: {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                                    "cwrepro models have one input and one output")
    prev = model.inputs[0]
    for l in layers:
        try:
            inp = l.input
        except (AttributeError, ValueError):
            _refuse(l, "it is called more than once or not at all; cwrepro models are a single chain of layers")
        if inp is not prev:
            _refuse(l, "its input is not the previous layer's output; cwrepro models are a single chain of layers "
                       "(residual and concatenation blocks are not converted)")
        prev = l.output
    if prev is not model.outputs[0]:
        raise UnsupportedModelError(f"model {model.name!r}: the output is not the last layer's output")
    return layers


def _input_layout(shape: Tuple[int, ...]) -> Layout:
    if len(shape) == 3:
        return Layout("map", shape)
    return Layout("plain", shape)


def plan_model(model) -> Plan:
    """Maps a built Keras model to cwrepro's layer list, names and layouts."""
    import keras
    if not isinstance(model, keras.Model):
        raise TypeError(f"model: expected a keras.Model, got {type(model).__name__}")
    if not model.built:
        raise UnsupportedModelError(f"model {model.name!r} is not built: start it with keras.Input(shape) or call it on a batch first")
    try:
        in_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    except (AttributeError, TypeError, ValueError, IndexError):
        raise UnsupportedModelError(f"model {model.name!r}: the per-sample input shape is not known; "
                                    "start the model with keras.Input(shape)") from None
    layers = _chain(model)
    layout = _input_layout(in_shape)
    plan = Plan([], [], [], layout, layers)

    def emit(spec, layer, out: Layout, activation_of=None):
        plan.emitted.append(Emitted(len(plan.layers), spec, layer, out, activation_of))
        plan.layers.append(spec)
        return len(plan.layers) - 1

    def var(index: int, suffix: str, v, shape, convert):
        plan.variables.append(VariableMap(f"{index}.{suffix}", v, [int(n) for n in shape], bool(v.trainable), convert))

    def split_activation(layer, out: Layout):
        act = _activation_name(layer)
        if act == "linear":
            return
        if act not in ACTIVATIONS:
            _refuse(layer, f"activation {act!r}; cwrepro has relu, tanh and sigmoid layers (end with a linear layer: "
                           "cwrepro's loss takes logits, use from_logits=True)")
        emit({"type": ACTIVATIONS[act]}, layer, out, activation_of=layer)

    for layer in layers:
        kind = type(layer).__name__
        fmt = getattr(layer, "data_format", "channels_last")
        if fmt not in (None, "channels_last"):
            _refuse(layer, f"data_format={fmt!r}; only channels_last is converted")
        if isinstance(layer, keras.layers.Dense):
            if len(layout.shape) != 1:
                _refuse(layer, f"input of shape {list(layout.shape)}; cwrepro dense layers take flat features (add a Flatten)")
            (n_in,), units = layout.shape, int(layer.units)
            i = emit({"type": "dense", "units": units, "bias": bool(layer.use_bias)}, layer, Layout("plain", (units,)))
            perm = layout.perm if layout.kind == "flat" else None
            var(i, "weight", layer.kernel, (units, n_in),
                (lambda k, p=perm: np.ascontiguousarray((k[p] if p is not None else k).T)))
            if layer.use_bias:
                var(i, "bias", layer.bias, (units,), lambda b: b)
            layout = Layout("plain", (units,))
            split_activation(layer, layout)
        elif isinstance(layer, keras.layers.Conv2D) and kind == "Conv2D":
            if layout.kind != "map":
                _refuse(layer, f"input of shape {list(layout.shape)}; expected an [H, W, C] feature map")
            if _pair(layer.dilation_rate) != (1, 1):
                _refuse(layer, f"dilation_rate={layer.dilation_rate}; cwrepro convolutions have no dilation")
            if getattr(layer, "groups", 1) != 1:
                _refuse(layer, f"groups={layer.groups}; cwrepro convolutions are dense")
            h, w, c = layout.shape
            kh, kw = _pair(layer.kernel_size)
            sh, sw = _pair(layer.strides)
            if layer.padding == "valid":
                pad, pads = 0, (0, 0, 0, 0)
            elif layer.padding == "same":
                pads = _tf_same(h, kh, sh) + _tf_same(w, kw, sw)
                pad = list(pads) if len(set(pads)) > 1 else pads[0]
            else:
                _refuse(layer, f"padding={layer.padding!r}")
            oh, ow = (h + pads[0] + pads[1] - kh) // sh + 1, (w + pads[2] + pads[3] - kw) // sw + 1
            f = int(layer.filters)
            i = emit({"type": "conv2d", "filters": f, "kernel": _int_or_pair((kh, kw)), "stride": _int_or_pair((sh, sw)),
                      "padding": pad, "bias": bool(layer.use_bias)}, layer, Layout("map", (oh, ow, f)))
            var(i, "weight", layer.kernel, (f, c, kh, kw), lambda k: np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
            if layer.use_bias:
                var(i, "bias", layer.bias, (f,), lambda b: b)
            layout = Layout("map", (oh, ow, f))
            split_activation(layer, layout)
        elif isinstance(layer, keras.layers.BatchNormalization):
            axis = layer.axis if isinstance(layer.axis, int) else (layer.axis[0] if len(layer.axis) == 1 else None)
            rank = len(layout.shape) + 1
            if axis is None or axis not in (-1, rank - 1):
                _refuse(layer, f"axis={layer.axis}; cwrepro normalises the channel axis (Keras axis=-1)")
            if not layer.center or not layer.scale:
                _refuse(layer, "center=False or scale=False; cwrepro BatchNorm always has weight and bias")
            if getattr(layer, "renorm", False):
                _refuse(layer, "renorm=True")
            i = emit({"type": "batchnorm", "momentum": float(f"{1 - float(layer.momentum):.12g}"), "epsilon": float(layer.epsilon),
                      "runningVariance": "biased"}, layer, layout)
            perm = layout.perm if layout.kind == "flat" else None
            conv = (lambda v, p=perm: np.ascontiguousarray(v[p] if p is not None else v))
            n = layout.shape[-1] if layout.kind == "map" else layout.shape[0]
            for suffix, v in (("weight", layer.gamma), ("bias", layer.beta), ("running_mean", layer.moving_mean),
                              ("running_var", layer.moving_variance)):
                var(i, suffix, v, (n,), conv)
        elif isinstance(layer, keras.layers.ReLU):
            if layer.max_value is not None or float(layer.negative_slope) != 0 or float(layer.threshold) != 0:
                _refuse(layer, "max_value, negative_slope or threshold set; cwrepro's relu is max(x, 0)")
            emit({"type": "relu"}, layer, layout)
        elif isinstance(layer, keras.layers.Activation):
            act = _activation_name(layer)
            if act == "linear":
                continue
            if act not in ACTIVATIONS:
                _refuse(layer, f"activation {act!r}")
            emit({"type": ACTIVATIONS[act]}, layer, layout)
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            if layout.kind != "map":
                _refuse(layer, f"input of shape {list(layout.shape)}; expected an [H, W, C] feature map")
            h, w, c = layout.shape
            kh, kw = _pair(layer.pool_size)
            sh, sw = _pair(layer.strides if layer.strides is not None else layer.pool_size)
            same = layer.padding == "same"
            pads = _tf_same(h, kh, sh) + _tf_same(w, kw, sw) if same else (0, 0, 0, 0)
            pad = (list(pads) if len(set(pads)) > 1 else pads[0]) if same else 0
            oh, ow = (h + pads[0] + pads[1] - kh) // sh + 1, (w + pads[2] + pads[3] - kw) // sw + 1
            spec = {"type": "maxpool" if isinstance(layer, keras.layers.MaxPooling2D) else "avgpool",
                    "size": _int_or_pair((kh, kw)), "stride": _int_or_pair((sh, sw)), "padding": pad}
            if spec["type"] == "avgpool":
                spec["countIncludePad"] = not same
            layout = Layout("map", (oh, ow, c))
            emit(spec, layer, layout)
        elif isinstance(layer, keras.layers.GlobalAveragePooling2D):
            if layer.keepdims:
                _refuse(layer, "keepdims=True; cwrepro's globalavgpool outputs [C]")
            if layout.kind != "map":
                _refuse(layer, f"input of shape {list(layout.shape)}; expected an [H, W, C] feature map")
            layout = Layout("plain", (layout.shape[2],))
            emit({"type": "globalavgpool"}, layer, layout)
        elif isinstance(layer, keras.layers.Flatten):
            if layout.kind == "map":
                h, w, c = layout.shape
                layout = Layout("flat", (h * w * c,), flatten_permutation(h, w, c))
            elif len(layout.shape) != 1:
                layout = Layout("plain", (int(np.prod(layout.shape)),))
            emit({"type": "flatten"}, layer, layout)
        elif type(layer) is keras.layers.Dropout:
            if layer.noise_shape is not None:
                _refuse(layer, "noise_shape set; cwrepro drops elements independently")
            emit({"type": "dropout", "rate": float(layer.rate)}, layer, layout)
        else:
            _refuse(layer, f"{kind} has no cwrepro layer")
    return plan


def to_keras(m: VariableMap, value: np.ndarray) -> np.ndarray:
    """The inverse of `m.convert`: a tensor in cwrepro's layout -> the Keras variable's layout.
    Derived from the conversion itself (it only moves elements): converting the Keras index grid
    says where each element goes."""
    shape = tuple(int(n) for n in m.variable.shape)
    index = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    where = np.asarray(m.convert(index))
    value = np.asarray(value)
    if list(where.shape) != list(value.shape):
        raise ValueError(f"{m.name}: shape {list(value.shape)}, expected {list(where.shape)}")
    out = np.empty(index.size, dtype=value.dtype)
    out[where.reshape(-1)] = value.reshape(-1)
    return out.reshape(shape)


def load_weights(model, tensors) -> None:
    """Assigns cwrepro-named, cwrepro-layout tensors (e.g. a model.init safetensors file, a
    torch state_dict as numpy) to a built Keras model. Every variable must be given, with its
    cwrepro shape; an extra tensor is an error (`num_batches_tracked` is ignored)."""
    plan = plan_model(model)
    given = {k: v for k, v in tensors.items() if not k.endswith("num_batches_tracked")}
    for m in plan.variables:
        if m.name not in given:
            raise ValueError(f"no tensor {m.name!r} (the model needs {', '.join(v.name for v in plan.variables)})")
        m.variable.assign(to_keras(m, given.pop(m.name)).astype(np.float32))
    if given:
        raise ValueError(f"tensor {sorted(given)[0]!r} matches no variable of the model "
                         f"(variables: {', '.join(v.name for v in plan.variables)})")
