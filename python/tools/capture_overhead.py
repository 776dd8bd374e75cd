#!/usr/bin/env python3
"""Capture overhead on the torch side: time per training step of the digits MLP, of a small CNN
(conv-BN-ReLU-pool, conv-BN-ReLU, global average pool, dense; batch 32) and of a larger MLP
(784-512-512-10, batch 64 of random images), SGD with momentum, one thread,, without a capture and with cwrepro.torch.Capture at each level. Rounds alternate
between the variants (the machine may be shared and noisy); each variant reports the median and
the minimum over rounds of the mean step time of a round, in CPU time of the training thread
(time.thread_time: torch runs on the calling thread with one thread; less sensitive to other
processes than wall time), and the median wall time.

Run from the repository root: PYTHONPATH=python python3 python/tools/capture_overhead.py [--rounds 7] [--steps 100]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from cwrepro.torch import Capture, GlobalAvgPool  # noqa: E402
from conftest import load_digits  # noqa: E402


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), GlobalAvgPool(),
                         nn.Linear(16, 10))


def mlp_large():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def run(model_fn, level, steps, batches, directory):
    torch.manual_seed(0)
    model = model_fn()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    cap = Capture(os.path.join(directory, f"{level}.trace"), model, opt, level=level) if level else None
    start, wall = time.thread_time(), time.perf_counter()
    for x, y in batches[:steps]:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if cap is not None:
            cap.step(loss, batch=(x, y))
    elapsed, wall = time.thread_time() - start, time.perf_counter() - wall
    if cap is not None:
        cap.close()
    return elapsed / steps, wall / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(1)
    xtr, ytr, _, _ = load_digits()
    rng = np.random.default_rng(0)
    idx = rng.permutation(1437)
    batches = [(torch.from_numpy(xtr[idx[i:i + 32]]), torch.from_numpy(ytr[idx[i:i + 32]])) for i in range(0, 1437 - 31, 32)]
    batches = (batches * (args.steps // len(batches) + 1))[:args.steps]
    levels = [None, "params", "grads", "activations"]
    gen = torch.Generator().manual_seed(0)
    large = [(torch.rand(64, 1, 28, 28, generator=gen), torch.randint(0, 10, (64,), generator=gen)) for _ in range(args.steps)]
    with tempfile.TemporaryDirectory() as d:
        for name, fn, data in (("digits MLP 64-32-10, batch 32", mlp, batches),
                               ("CNN conv8-BN-pool-conv16-BN-GAP-dense, batch 32", cnn, batches),
                               ("MLP 784-512-512-10 (0.67 M parameters), batch 64 of random 28x28", mlp_large, large)):
            batches_ = data
            for level in levels:  # warm-up
                run(fn, level, 10, batches_, d)
            times = {level: [] for level in levels}
            walls = {level: [] for level in levels}
            for _ in range(args.rounds):
                for level in levels:
                    cpu, wall = run(fn, level, args.steps, batches_, d)
                    times[level].append(cpu)
                    walls[level].append(wall)
            base = statistics.median(times[None])
            print(f"{name}: {args.rounds} rounds x {args.steps} steps, 1 thread, torch {torch.__version__}")
            print(f"  {'':12s} {'CPU ms/step':>12s} {'(min)':>8s} {'wall ms/step':>13s}   overhead (CPU, median)")
            for level in levels:
                med, best, wall = statistics.median(times[level]), min(times[level]), statistics.median(walls[level])
                over = "" if level is None else f"{(med - base) * 1e3:+.3f} ms ({(med / base - 1) * 100:+.0f}%)"
                print(f"  {level or 'no capture':12s} {med * 1e3:12.3f} {best * 1e3:8.3f} {wall * 1e3:13.3f}   {over}")


if __name__ == "__main__":
    main()
