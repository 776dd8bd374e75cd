#!/usr/bin/env python3
"""Writes Tests/EngineTests/Fixtures/conv-pool-torch.json: outputs and gradients of small conv2d and
pooling cases computed by real PyTorch (torch 2.13 CPU, float64 so the fixture is exact to float32),
so cwrepro's layouts (NCHW, weight (O, I, kh, kw)) and padding rules are checked against torch.
Run once: python3 scripts/conv_fixtures.py  (needs `pip install 'torch==2.13.0+cpu'`)."""
import json, os
import torch
import torch.nn.functional as F

torch.manual_seed(0)
cases = []

def t(x):
    return [float(v) for v in x.detach().reshape(-1).tolist()]

def conv_case(name, x_shape, w_shape, stride, pad4, bias=True, torch_padding=None):
    """pad4 = [top, bottom, left, right]; torch_padding, if given, is passed to conv2d instead of F.pad."""
    x = torch.randn(*x_shape, dtype=torch.float64, requires_grad=True)
    w = torch.randn(*w_shape, dtype=torch.float64, requires_grad=True)
    b = torch.randn(w_shape[0], dtype=torch.float64, requires_grad=True) if bias else None
    if torch_padding is not None:
        y = F.conv2d(x, w, b, stride=stride, padding=torch_padding)
    else:
        top, bottom, left, right = pad4
        y = F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride=stride)
    dy = torch.randn_like(y)
    y.backward(dy)
    c = {"name": name, "op": "conv2d", "x": t(x), "xShape": list(x_shape), "weight": t(w), "weightShape": list(w_shape),
         "stride": list(stride), "padding": pad4, "y": t(y), "yShape": list(y.shape), "dy": t(dy),
         "dx": t(x.grad), "dweight": t(w.grad)}
    if bias:
        c["bias"] = t(b); c["dbias"] = t(b.grad)
    cases.append(c)

def pool_case(name, op, x_shape, k, s, p, count_include_pad=True):
    # Distinct values so the max is unique (no tie-breaking question in the fixture).
    n = 1
    for d in x_shape: n *= d
    x = (torch.randperm(n, dtype=torch.float64) / n - 0.5).reshape(*x_shape).requires_grad_(True)
    if op == "maxpool":
        y = F.max_pool2d(x, k, s, p)
    else:
        y = F.avg_pool2d(x, k, s, p, count_include_pad=count_include_pad)
    dy = torch.randn_like(y)
    y.backward(dy)
    cases.append({"name": name, "op": op, "x": t(x), "xShape": list(x_shape), "size": [k, k], "stride": [s, s],
                  "padding": [p, p, p, p], "countIncludePad": count_include_pad,
                  "y": t(y), "yShape": list(y.shape), "dy": t(dy), "dx": t(x.grad)})

conv_case("conv k3x2 stride (2,1) padding (1,2)", (2, 3, 6, 5), (4, 3, 3, 2), (2, 1), [1, 1, 2, 2], torch_padding=(1, 2))
conv_case("conv same k4 (torch padding='same')", (2, 2, 7, 7), (3, 2, 4, 4), (1, 1), [1, 2, 1, 2], torch_padding="same")
conv_case("conv asymmetric [0,1,2,0] stride 2 no bias", (1, 2, 6, 7), (2, 2, 3, 3), (2, 2), [0, 1, 2, 0], bias=False)
conv_case("conv 1x1", (2, 4, 3, 3), (5, 4, 1, 1), (1, 1), [0, 0, 0, 0])
pool_case("maxpool k3 s2 p1", "maxpool", (2, 3, 7, 6), 3, 2, 1)
pool_case("maxpool k2 s2", "maxpool", (1, 2, 6, 6), 2, 2, 0)
pool_case("avgpool k3 s2 p1 include pad", "avgpool", (2, 3, 7, 6), 3, 2, 1, True)
pool_case("avgpool k3 s2 p1 exclude pad", "avgpool", (2, 3, 7, 6), 3, 2, 1, False)

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "EngineTests", "Fixtures", "conv-pool-torch.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {os.path.normpath(out)}")
