"""The real data the porting examples train on, as numpy arrays in NCHW float32 with int64 labels
(what a torch script feeds its model; the Keras scripts transpose to NHWC):

- `digits`: data/digits.csv.gz (UCI optdigits as scikit-learn bundles it), pixels / 16,
  [1, 8, 8]; train = the first 1,437 rows, test = the last 360 (cwrepro's built-in split).
- `mnist`: data/mnist-t10k (the official MNIST test set), pixels / 255, [1, 28, 28];
  train = the first 8,000 images, test = the last 2,000 (examples/mnist-cnn.json's split).
"""

import gzip
import os
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def use_repository_package():
    """Imports cwrepro from the checkout's python/ when it is not installed (pip install ./python)."""
    try:
        import cwrepro  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.join(ROOT, "python"))


def digits():
    with gzip.open(os.path.join(ROOT, "data", "digits.csv.gz"), "rt") as f:
        rows = np.loadtxt(f, delimiter=",")
    x = (rows[:, :64].astype(np.float32) / np.float32(16)).reshape(-1, 1, 8, 8)
    y = rows[:, 64].astype(np.int64)
    return x[:1437], y[:1437], x[1437:], y[1437:]


def mnist():
    d = os.path.join(ROOT, "data", "mnist-t10k")
    with gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    # Float64 product rounded once: torchvision's ToTensor() (uint8 / 255 in float32) bit for bit.
    x = (np.frombuffer(raw, np.uint8, n * rows * cols, 16).astype(np.float64) / 255).astype(np.float32).reshape(n, 1, rows, cols)
    with gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        y = np.frombuffer(f.read(), np.uint8, n, 8).astype(np.int64)
    return x[:8000], y[:8000], x[8000:], y[8000:]


def load(name: str):
    if name == "digits":
        return digits()
    if name == "mnist":
        return mnist()
    raise SystemExit(f"--data {name!r}: expected digits or mnist")
