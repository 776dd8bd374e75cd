#!/usr/bin/env python3
"""A real PyTorch CNN (conv, BatchNorm, max pooling, dense; Adam), written with PyTorch's
defaults, exported for cwrepro and then trained in torch with a capture.

    python examples/port/torch_cnn.py --out out/torch-cnn            # export + train + capture
    cwrepro record out/torch-cnn/train.json -o out/torch-cnn/cwrepro.cwr
    # compare the capture (out/torch-cnn/torch.trace) with the record: `cwrepro compare` once it
    # imports traces; python/tests/test_port_roundtrip.py does it by hand today.

The model is the twin of examples/port/keras_cnn.py ("the same" architecture in each framework's
defaults: here BatchNorm momentum 0.1 and epsilon 1e-5, Adam epsilon 1e-8, explicit padding 1).
The DataLoader shuffles with a seeded generator, so export replays its order exactly; export runs
before the first step, so init.safetensors holds the weights the run starts from.

Writes into --out: train.json, init.safetensors, order.json, data.safetensors (the export) and
torch.trace (the capture), and prints a one-line JSON summary."""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets  # noqa: E402

datasets.use_repository_package()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from cwrepro.torch import Capture, export  # noqa: E402


def model(side: int = 8, classes: int = 10) -> nn.Sequential:
    """conv3x3(8)-BN-ReLU-maxpool2-conv3x3(16)-BN-ReLU-flatten-dense, PyTorch defaults except
    bias=False on the convolutions, which BatchNorm follows (see keras_cnn.model: the same in both)."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.Flatten(),
        nn.Linear(16 * (side // 2) ** 2, classes))


def optimizer(m: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(m.parameters(), lr=1e-3)  # betas (0.9, 0.999), eps 1e-8


def loader(x, y, seed: int, batch_size: int = 32) -> torch.utils.data.DataLoader:
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))


def run(out: str, *, steps: int = 135, data: str = "digits", seed: int = 0, level: str = "grads", overwrite: bool = True) -> dict:
    """Exports the model into `out`, trains it for `steps` steps with a capture (one thread,
    deterministic algorithms) and returns a summary (final loss, test accuracy)."""
    torch.set_num_threads(1)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        return _run(out, steps=steps, data=data, seed=seed, level=level, overwrite=overwrite)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _run(out, *, steps, data, seed, level, overwrite):
    torch.manual_seed(seed)
    xtr, ytr, xte, yte = datasets.load(data)
    net = model(side=xtr.shape[-1])
    opt = optimizer(net)
    batches = loader(xtr, ytr, seed)
    exported = export(out, net, opt, data=(xtr, ytr, xte, yte), batch_order=batches, seed=seed, steps=steps,
                      name=f"torch-cnn-{data}", overwrite=overwrite)
    trace = os.path.join(out, "torch.trace")
    with Capture(trace, net, opt, name=f"torch-cnn-{data}", level=level, seed=seed, steps_per_epoch=len(batches)) as cap:
        done = 0
        while done < steps:
            for x, y in batches:
                opt.zero_grad()
                loss = F.cross_entropy(net(x), y)
                loss.backward()
                opt.step()
                cap.step(loss, batch=(x, y))
                done += 1
                if done == steps:
                    break
        ev = cap.evaluate(net, xte, yte)
    return {"framework": "torch", "out": out, "steps": exported.steps, "trace": trace, "finalLoss": loss.item(),
            "testAccuracy": ev["accuracy"], "testCorrect": ev["correct"], "testTotal": ev["total"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/torch-cnn", help="directory for the export and the capture (default: out/torch-cnn)")
    p.add_argument("--steps", type=int, default=135, help="training steps (default 135: three epochs of the digits)")
    p.add_argument("--data", default="digits", choices=["digits", "mnist"])
    p.add_argument("--seed", type=int, default=0, help="init, shuffling and cwrepro's own draws (default 0)")
    p.add_argument("--level", default="grads", choices=["params", "grads", "activations"])
    a = p.parse_args(argv)
    print(json.dumps(run(a.out, steps=a.steps, data=a.data, seed=a.seed, level=a.level)))


if __name__ == "__main__":
    main()
