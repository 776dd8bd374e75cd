"""Real Keras (TensorFlow backend) training scripts the tests capture, and a small torch
interpreter of cwrepro layer lists used to check the Keras conversion independently."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cwrepro import safetensors  # noqa: E402
from cwrepro.keras import Capture, load_weights  # noqa: E402
from conftest import load_digits  # noqa: E402
from torch_runs import REFERENCE, reference_order  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.experimental.enable_op_determinism()
keras.utils.set_random_seed(0)  # op determinism requires seeded random ops (initialisers)

XTR, YTR, XTE, YTE = load_digits()
XTR_NHWC, XTE_NHWC = XTR.transpose(0, 2, 3, 1).copy(), XTE.transpose(0, 2, 3, 1).copy()


def keras_mlp():
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Flatten()(inp)
    h = keras.layers.Dense(32)(h)
    h = keras.layers.ReLU()(h)
    return keras.Model(inp, keras.layers.Dense(10)(h))


def load_reference_init(model):
    """mlp-digits-sgd's init.safetensors (torch layouts) into the Keras MLP."""
    load_weights(model, safetensors.load(os.path.join(REFERENCE, "init.safetensors")))


def train_keras(path, model, optimizer, *, level="grads", order=None, steps=None, keep_tensors=0, evaluate=True, **kw):
    """The GradientTape loop of the issue, captured."""
    lossf = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    order = order if order is not None else reference_order()[:steps]
    with Capture(path, model, optimizer, name="keras-run", level=level, seed=1234, keep_tensors=keep_tensors,
                 steps_per_epoch=45, **kw) as cap:
        for idx in order:
            x, y = XTR_NHWC[idx], YTR[idx]
            with tf.GradientTape() as tape:
                logits = cap.forward(x, tape=tape)
                loss = lossf(y, logits)
            grads = cap.gradient(tape, loss)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            cap.step(loss, grads=grads, batch=(x, y))
        if evaluate:
            cap.evaluate(model, XTE_NHWC, YTE)
    return cap


# -- a torch interpreter of cwrepro layer lists (train.json model.layers), for checks ---------

def _pads(p):
    if isinstance(p, int):
        return (p, p, p, p)
    if len(p) == 2:
        return (p[0], p[0], p[1], p[1])
    return tuple(p)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def run_layers(layers, params, x, training=False):
    """Applies a cwrepro layer list with torch functional ops (NCHW) to x; params by cwrepro name
    (numpy). Returns every layer's output. Same-padding is explicit in the lists written by the
    Keras capture ([top, bottom, left, right])."""
    p = {k: torch.from_numpy(np.array(v)) for k, v in params.items()}
    h = torch.from_numpy(np.array(x))
    outs = []
    for i, spec in enumerate(layers):
        t = spec["type"]
        if t == "flatten":
            h = h.reshape(h.shape[0], -1)
        elif t == "dense":
            h = F.linear(h, p[f"{i}.weight"], p.get(f"{i}.bias"))
        elif t == "conv2d":
            top, bottom, left, right = _pads(spec.get("padding", 0))
            h = F.conv2d(F.pad(h, (left, right, top, bottom)), p[f"{i}.weight"], p.get(f"{i}.bias"), stride=_pair(spec.get("stride", 1)))
        elif t == "batchnorm":
            h = F.batch_norm(h, p[f"{i}.running_mean"].clone(), p[f"{i}.running_var"].clone(), p[f"{i}.weight"], p[f"{i}.bias"],
                             training=training, momentum=spec["momentum"], eps=spec["epsilon"])
        elif t == "relu":
            h = F.relu(h)
        elif t == "tanh":
            h = torch.tanh(h)
        elif t == "sigmoid":
            h = torch.sigmoid(h)
        elif t == "maxpool":
            top, bottom, left, right = _pads(spec.get("padding", 0))
            h = F.max_pool2d(F.pad(h, (left, right, top, bottom), value=-float("inf")), _pair(spec["size"]), _pair(spec["stride"]))
        elif t == "avgpool":
            top, bottom, left, right = _pads(spec.get("padding", 0))
            ones = torch.ones_like(h[:, :1])
            s = F.avg_pool2d(F.pad(h, (left, right, top, bottom)), _pair(spec["size"]), _pair(spec["stride"]))
            if spec.get("countIncludePad", True):
                h = s
            else:
                h = s / F.avg_pool2d(F.pad(ones, (left, right, top, bottom)), _pair(spec["size"]), _pair(spec["stride"]))
        elif t == "globalavgpool":
            h = h.mean(dim=(2, 3))
        elif t == "dropout":
            pass  # identity outside training; tests use rate 0 in training
        else:
            raise ValueError(t)
        outs.append(h)
    return outs
