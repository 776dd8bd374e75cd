"""Real torch training scripts the tests capture (no mocks): the digits MLP and a small CNN with
BatchNorm, on the digits data, seeded."""

import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cwrepro.torch import Capture, GlobalAvgPool
from conftest import TESTDATA, load_digits

DIGITS = load_digits()


def mlp(hidden=32):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def cnn():
    """conv-BN-ReLU-maxpool, conv-BN-ReLU, global average pool, dense: the CNN of the issue."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), GlobalAvgPool(), nn.Linear(16, 10))


def batches(steps, batch=32, seed=1235):
    rng = np.random.default_rng(seed)
    perm = rng.permutation(1437)
    out = []
    while len(out) < steps:
        out += [perm[i:i + batch] for i in range(0, 1437 - batch + 1, batch)]
        perm = rng.permutation(1437)
    return out[:steps]


def train(path, *, model_fn=mlp, opt_fn=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), level="grads", steps=12,
          seed=0, keep_tensors=0, evaluate=True, threads=1, **capture_args):
    """Trains a freshly seeded model for `steps` steps under a capture; returns (model, capture)."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = model_fn()
    opt = opt_fn(model.parameters())
    xtr, ytr, xte, yte = DIGITS
    with Capture(path, model, opt, name="test-run", level=level, seed=seed, keep_tensors=keep_tensors,
                 steps_per_epoch=44, **capture_args) as cap:
        for idx in batches(steps):
            x, y = torch.from_numpy(xtr[idx]), torch.from_numpy(ytr[idx])
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            cap.step(loss, batch=(x, y))
        if evaluate:
            cap.evaluate(model, xte, yte)
    return model, cap


REFERENCE = os.path.join(TESTDATA, "reference", "mlp-digits-sgd")


def reference_order():
    with open(os.path.join(REFERENCE, "order.json")) as f:
        return json.load(f)["batches"]
