#!/usr/bin/env python3
"""Writes testdata/traces/: traces of real PyTorch and real Keras runs of two reference cases,
each from the case's initial weights and batch order, so that cwrepro's importer and `compare`
can be tested against cwrepro's own record of the same config without Python:

  <case>.torch.trace.gz   real torch, the case's config-pytorch.json run (level grads)
  <case>.keras.trace.gz   real Keras (TensorFlow backend) of the same architecture and init
                       (level grads); pairs with config-keras.json
  <case>.torch-threads2.trace.gz   the torch run again with torch.set_num_threads(2): real
                       hardware nondeterminism (its first divergent tensor: testdata/traces/README.md)
  mlp-digits-sgd.torch-avx2.trace.gz   the torch run with ATen's AVX2 kernels (ATEN_CPU_CAPABILITY=avx2),
                       as on an AVX2-only CPU

Cases (testdata/reference/<case>/): mlp-digits-sgd (plain SGD MLP, 50 steps) and
cnn-digits-bn-adam (conv-BN-ReLU-maxpool-conv-BN-ReLU-GAP-dense, Adam lr 0.01 eps 0.01, 100 steps).
Both frameworks run float32 on one thread, deterministically (torch.use_deterministic_algorithms,
TF op determinism); `keep_tensors=1` stores the initial values. Regenerate with
  PYTHONPATH=python python3 python/tools/make_traces.py
(python/tests/test_trace_fixtures.py checks the committed files: valid, and their losses are the
real frameworks' reference losses bit for bit)."""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from cwrepro import safetensors  # noqa: E402
from conftest import TESTDATA, load_digits  # noqa: E402

OUT = os.path.join(TESTDATA, "traces")
XTR, YTR, XTE, YTE = load_digits()


def case(name):
    d = os.path.join(TESTDATA, "reference", name)
    with open(os.path.join(d, "order.json")) as f:
        order = json.load(f)["batches"]
    return safetensors.load(os.path.join(d, "init.safetensors")), order


def torch_models():
    from cwrepro.torch import GlobalAvgPool
    return {
        "mlp-digits-sgd": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)),
                           lambda p: torch.optim.SGD(p, lr=0.1)),
        "cnn-digits-bn-adam": (lambda: nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), GlobalAvgPool(), nn.Linear(16, 10)),
            lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=0.01)),
    }


def keras_models():
    import keras
    def mlp():
        inp = keras.Input((8, 8, 1))
        h = keras.layers.Dense(32)(keras.layers.Flatten()(inp))
        return keras.Model(inp, keras.layers.Dense(10)(keras.layers.ReLU()(h)))

    def cnn():
        inp = keras.Input((8, 8, 1))
        h = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inp)
        h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
        h = keras.layers.MaxPooling2D(2)(h)
        h = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(h)
        h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
        h = keras.layers.GlobalAveragePooling2D()(h)
        return keras.Model(inp, keras.layers.Dense(10)(h))
    return {
        "mlp-digits-sgd": (mlp, lambda: keras.optimizers.SGD(learning_rate=0.1)),
        "cnn-digits-bn-adam": (cnn, lambda: keras.optimizers.Adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=0.01)),
    }


def torch_trace(name, path, threads=1):
    from cwrepro.torch import Capture
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    init, order = case(name)
    model_fn, opt_fn = torch_models()[name]
    model = model_fn()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in init.items()}, strict=False)
    opt = opt_fn(model.parameters())
    with Capture(path, model, opt, name=name, level="grads", seed=1234, keep_tensors=1, steps_per_epoch=45) as cap:
        for idx in order:
            x, y = torch.from_numpy(XTR[idx]), torch.from_numpy(YTR[idx])
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            cap.step(loss, batch=(x, y))
        cap.evaluate(model, XTE, YTE)


def keras_trace(name, path):
    import keras
    import tensorflow as tf
    from cwrepro.keras import Capture, load_weights
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(1234)
    init, order = case(name)
    model_fn, opt_fn = keras_models()[name]
    model = model_fn()
    load_weights(model, init)
    opt = opt_fn()
    lossf = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    xtr, xte = XTR.transpose(0, 2, 3, 1), XTE.transpose(0, 2, 3, 1)
    with Capture(path, model, opt, name=name, level="grads", seed=1234, keep_tensors=1, steps_per_epoch=45) as cap:
        for idx in order:
            x, y = xtr[idx], YTR[idx]
            with tf.GradientTape() as tape:
                loss = lossf(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            cap.step(loss, grads=grads, batch=(x, y))
        cap.evaluate(model, xte, YTE)


def main():
    if len(sys.argv) == 3:  # one torch trace, in a child process with the environment it needs
        torch_trace(sys.argv[1], sys.argv[2])
        return
    import subprocess
    os.makedirs(OUT, exist_ok=True)
    written = []
    for name in ("mlp-digits-sgd", "cnn-digits-bn-adam"):
        for fw, fn in (("torch", torch_trace), ("keras", keras_trace)):
            written.append(os.path.join(OUT, f"{name}.{fw}.trace.gz"))
            fn(name, written[-1])
        written.append(os.path.join(OUT, f"{name}.torch-threads2.trace.gz"))
        torch_trace(name, written[-1], threads=2)
    written.append(os.path.join(OUT, "mlp-digits-sgd.torch-avx2.trace.gz"))
    subprocess.run([sys.executable, __file__, "mlp-digits-sgd", written[-1]], check=True,
                   env={**os.environ, "ATEN_CPU_CAPABILITY": "avx2"})
    for path in written:
        print(f"wrote {path} ({os.path.getsize(path):,} bytes)")


if __name__ == "__main__":
    main()
