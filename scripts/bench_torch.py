#!/usr/bin/env python3
"""Times one training step of a cwrepro model in real PyTorch (CPU, float32).

usage: bench_torch.py MODEL.json [--batch N] [--threads N] [--steps N] [--warmup N]

MODEL.json is written by `Benchmarks step <config> --model MODEL.json`: the resolved layer
specs (explicit padding, every default filled in), the per-sample input shape and the SGD
settings. The same nn.Sequential is built here, and one step is timed as cwrepro's: zero_grad,
forward, cross-entropy, backward, SGD(momentum) step. Prints one JSON line with the median wall
and process-CPU ms per step.
"""
import argparse, json, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class Pad(nn.Module):
    """Explicit [top, bottom, left, right] padding, for asymmetric ("same" under TF rules) cases."""
    def __init__(self, pad, value=0.0):
        super().__init__(); self.pad, self.value = pad, value
    def forward(self, x):
        t, b, l, r = self.pad
        return F.pad(x, (l, r, t, b), value=self.value)


class Residual(nn.Module):
    def __init__(self, body, shortcut, post):
        super().__init__(); self.body, self.shortcut, self.post = body, shortcut, post
    def forward(self, x):
        return self.post(self.body(x) + self.shortcut(x))


class Concat(nn.Module):
    def __init__(self, body):
        super().__init__(); self.body = body
    def forward(self, x):
        return torch.cat([x, self.body(x)], 1)


def windowed(pad, make, pad_value):
    """A torch module for a window op with padding [t, b, l, r]: native symmetric padding when possible."""
    t, b, l, r = pad
    if t == b and l == r:
        return make((t, l))
    return nn.Sequential(Pad(pad, pad_value), make((0, 0)))


def build(specs, shape):
    """nn.Sequential for cwrepro layer specs; returns (module, output shape)."""
    mods = []
    for s in specs:
        kind = s["type"]
        if kind == "conv2d":
            k, st = tuple(s["kernel"]), tuple(s["stride"])
            m = windowed(s["padding"], lambda p: nn.Conv2d(shape[0], s["filters"], k, st, p, bias=s["bias"]), 0.0)
        elif kind == "maxpool":
            m = windowed(s["padding"], lambda p: nn.MaxPool2d(tuple(s["size"]), tuple(s["stride"]), p), float("-inf"))
        elif kind == "avgpool":
            m = windowed(s["padding"], lambda p: nn.AvgPool2d(tuple(s["size"]), tuple(s["stride"]), p,
                                                              count_include_pad=s["countIncludePad"]), 0.0)
        elif kind == "globalavgpool":
            m = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        elif kind == "flatten":
            m = nn.Flatten()
        elif kind == "dense":
            m = nn.Linear(shape[0], s["units"], bias=s.get("bias", True))
        elif kind in ("relu", "tanh", "sigmoid"):
            m = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[kind]()
        elif kind == "batchnorm":
            bn = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            m = bn(shape[0], eps=s.get("epsilon", 1e-5), momentum=s.get("momentum", 0.1))
        elif kind == "dropout":
            m = nn.Dropout(s.get("rate", 0.5))
        elif kind == "residual":
            body, _ = build(s["body"], shape)
            shortcut, _ = build(s.get("shortcut", []), shape)
            post, _ = build(s.get("post", []), shape) if s.get("post") else (nn.Identity(), None)
            m = Residual(body, shortcut, post)
        elif kind == "concat":
            body, _ = build(s["body"], shape)
            m = Concat(body)
        else:
            raise SystemExit(f"bench_torch.py: layer type {kind!r} is not mapped to torch yet")
        with torch.no_grad():
            shape = list(m.eval()(torch.zeros(2, *shape)).shape[1:])
        mods.append(m)
    return nn.Sequential(*mods), shape


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    spec = json.load(open(a.model))
    model, out = build(spec["layers"], spec["inputShape"])
    assert out == [spec["classes"]], (out, spec["classes"])
    params = sum(p.numel() for p in model.parameters())
    assert params == spec["parameters"], f"torch model has {params} parameters, cwrepro {spec['parameters']}"
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=spec["optimizer"]["lr"], momentum=spec["optimizer"]["momentum"])
    x = torch.rand(a.batch, *spec["inputShape"])
    y = torch.randint(0, spec["classes"], (a.batch,))
    times, cpu = [], []
    for i in range(a.warmup + a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if i >= a.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
    print(json.dumps({"name": spec["name"], "batch": a.batch, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "mkldnn": torch.backends.mkldnn.is_available(), "ms": round(statistics.median(times), 3), "cpuMs": round(statistics.median(cpu), 3)}))


if __name__ == "__main__":
    main()
