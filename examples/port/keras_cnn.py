#!/usr/bin/env python3
"""A real Keras CNN, "the same" architecture as examples/port/torch_cnn.py written with Keras's
defaults (BatchNormalization momentum 0.99 and epsilon 1e-3, Adam epsilon 1e-7, padding="same",
Glorot-uniform kernels and zero biases; no bias on the convolutions that BatchNorm follows, in both), exported for cwrepro and then trained in Keras
(TensorFlow backend) in a GradientTape loop with a capture.

    python examples/port/keras_cnn.py --out out/keras-cnn             # export + train + capture
    cwrepro record out/keras-cnn/train.json -o out/keras-cnn/cwrepro.cwr

The batch order is drawn with numpy (one permutation of the training set per epoch, cut into
batches of 32) and passed to export as an explicit list; `--init DIR` starts from another
export's init.safetensors and order.json instead (e.g. the torch twin's), so that the two
frameworks train from the same weights on the same batches.

Writes into --out: train.json, init.safetensors, order.json, data.safetensors (the export) and
keras.trace (the capture), and prints a one-line JSON summary."""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets  # noqa: E402

datasets.use_repository_package()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cwrepro import safetensors  # noqa: E402
from cwrepro.keras import Capture, export, load_weights  # noqa: E402


def model(side: int = 8, classes: int = 10, *, bn_momentum: float = 0.99, bn_epsilon: float = 1e-3) -> keras.Model:
    """conv3x3(8)-BN-ReLU-maxpool2-conv3x3(16)-BN-ReLU-flatten-dense, Keras defaults except
    use_bias=False on the convolutions, which BatchNorm follows (in both twins). A bias before
    BatchNorm has no effect on the loss: its true gradient is 0, the computed one rounding noise
    (about 1e-6), which Adam divides by its own root mean square and turns into steps of size lr.
    Such biases, and the running means that absorb them, then differ between any two
    implementations (by 30-60% after 45 steps here), and eval-mode predictions near a tie flip."""
    inp = keras.Input((side, side, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    h = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon)(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(h)
    h = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon)(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inp, keras.layers.Dense(classes)(h))


def optimizer() -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(learning_rate=1e-3)  # beta_1 0.9, beta_2 0.999, epsilon 1e-7


def numpy_order(n: int, steps: int, seed: int, batch_size: int = 32):
    """One permutation per epoch, cut into batches (the last one short), until `steps` batches."""
    rng = np.random.default_rng(seed)
    order = []
    while len(order) < steps:
        perm = rng.permutation(n)
        order += [perm[i:i + batch_size].tolist() for i in range(0, n, batch_size)]
    return order[:steps]


def deterministic(seed: int):
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)


def train(net, opt, order, data, trace: str, *, name: str, seed: int, level: str = "grads", steps_per_epoch: int = 45) -> dict:
    """The GradientTape loop over `order` (NHWC batches), captured; evaluates at the end."""
    xtr, ytr, xte, yte = data
    lossf = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with Capture(trace, net, opt, name=name, level=level, seed=seed, steps_per_epoch=steps_per_epoch) as cap:
        for idx in order:
            x, y = xtr[idx], ytr[idx]
            with tf.GradientTape() as tape:
                logits = cap.forward(x, tape=tape)
                loss = lossf(y, logits)
            grads = cap.gradient(tape, loss)
            opt.apply_gradients(zip(grads, net.trainable_variables))
            cap.step(loss, grads=grads, batch=(x, y))
        ev = cap.evaluate(net, xte, yte)
    return {"trace": trace, "finalLoss": float(loss), "testAccuracy": ev["accuracy"], "testCorrect": ev["correct"],
            "testTotal": ev["total"]}


def nhwc(data):
    xtr, ytr, xte, yte = data
    return xtr.transpose(0, 2, 3, 1).copy(), ytr, xte.transpose(0, 2, 3, 1).copy(), yte


def run(out: str, *, steps: int = 135, data: str = "digits", seed: int = 0, level: str = "grads", init: str = None,
        overwrite: bool = True) -> dict:
    deterministic(seed)
    arrays = nhwc(datasets.load(data))
    net = model(side=arrays[0].shape[1])
    opt = optimizer()
    if init:
        load_weights(net, safetensors.load(os.path.join(init, "init.safetensors")))
        with open(os.path.join(init, "order.json")) as f:
            order = json.load(f)["batches"][:steps]
    else:
        order = numpy_order(arrays[0].shape[0], steps, seed)
    exported = export(out, net, opt, data=arrays, batch_order=order, seed=seed, steps=steps, name=f"keras-cnn-{data}",
                      overwrite=overwrite)
    per_epoch = -(-arrays[0].shape[0] // 32)
    result = train(net, opt, order, arrays, os.path.join(out, "keras.trace"), name=f"keras-cnn-{data}", seed=seed, level=level,
                   steps_per_epoch=per_epoch)
    return {"framework": "keras", "out": out, "steps": exported.steps, **result}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/keras-cnn", help="directory for the export and the capture (default: out/keras-cnn)")
    p.add_argument("--steps", type=int, default=135, help="training steps (default 135: three epochs of the digits)")
    p.add_argument("--data", default="digits", choices=["digits", "mnist"])
    p.add_argument("--seed", type=int, default=0, help="init, order and cwrepro's own draws (default 0)")
    p.add_argument("--level", default="grads", choices=["params", "grads", "activations"])
    p.add_argument("--init", help="start from this export's init.safetensors and order.json (e.g. out/torch-cnn)")
    a = p.parse_args(argv)
    print(json.dumps(run(a.out, steps=a.steps, data=a.data, seed=a.seed, level=a.level, init=a.init)))


if __name__ == "__main__":
    main()
