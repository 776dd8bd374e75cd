"""Golden BatchNorm values from real PyTorch (torch 2.13.0+cpu, one thread), for BlockTests.

One train-mode forward and backward of nn.BatchNorm1d on [8, 5] and nn.BatchNorm2d on [4, 3, 5, 5]
(momentum 0.1, eps 1e-5, running stats initialised 0 / 1), then an eval-mode forward with the
updated running statistics. Values are float32, written as JSON numbers (exact).
Run: python3 make_golden.py > golden.json
"""
import json
import torch

torch.set_num_threads(1)
torch.manual_seed(0)
out = {}
for name, shape in [("bn1d", (8, 5)), ("bn2d", (4, 3, 5, 5))]:
    c = shape[1]
    bn = torch.nn.BatchNorm1d(c) if len(shape) == 2 else torch.nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(c) + 0.5)
        bn.bias.copy_(torch.rand(c) - 0.5)
    x = (torch.randn(shape) * 2 + 0.7).requires_grad_(True)
    dy = torch.randn(shape)
    w0, b0 = bn.weight.detach().clone(), bn.bias.detach().clone()
    y = bn(x)
    y.backward(dy)
    bn.eval()
    with torch.no_grad():
        y_eval = bn(x)
    f = lambda t: [float(v) for v in t.detach().reshape(-1).tolist()]
    out[name] = {"shape": list(shape), "x": f(x), "weight": f(w0), "bias": f(b0), "dy": f(dy), "y": f(y),
                 "running_mean": f(bn.running_mean), "running_var": f(bn.running_var), "dx": f(x.grad),
                 "dweight": f(bn.weight.grad), "dbias": f(bn.bias.grad), "y_eval": f(y_eval)}
print(json.dumps(out))
