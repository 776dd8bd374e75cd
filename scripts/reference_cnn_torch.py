#!/usr/bin/env python3
"""Writes Tests/EngineTests/Fixtures/reference/cnn-digits-bn-adam/: a reference case in the format of
shared/reference (README there) for the CrossedWires example model, trained by real PyTorch
(torch 2.13 CPU, float32, one thread): conv 8 / BatchNorm / ReLU / max-pool / conv 16 / BatchNorm /
ReLU / global average pool / dense 10 on the digits data, Adam lr 0.01 eps 0.01 (a large epsilon),
100 steps. The convolutions have no bias: a bias right before BatchNorm has a gradient that is
exactly zero in real arithmetic and pure rounding noise in float32, which Adam then normalises,
so no two implementations (nor torch with another thread count) agree on it. Checks the pytorch profile's conv, BatchNorm (batch statistics, unbiased running
variance, momentum 0.1, eps 1e-5) and Adam against torch (Tests/EngineTests/ReferenceTests.swift).
Run once: python3 scripts/reference_cnn_torch.py <digits.csv.gz> (needs `pip install 'torch==2.13.0+cpu'`)."""
import gzip, hashlib, json, os, struct, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests/EngineTests/Fixtures/reference/cnn-digits-bn-adam")
STEPS, BATCH = 100, 32

rows = np.loadtxt(gzip.open(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/digits.csv.gz"), delimiter=",")
x_all = (rows[:, :64].astype(np.float32) / np.float32(16)).reshape(-1, 1, 8, 8)
y_all = rows[:, 64].astype(np.int64)
x_train, y_train, x_test, y_test = x_all[:1437], y_all[:1437], x_all[1437:], y_all[1437:]

class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))

model = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), GlobalAvgPool(), nn.Linear(16, 10))

# Initial parameters as in shared/reference: numpy default_rng(1234), kernels glorot-uniform,
# biases U(+-0.05), BatchNorm weight 1, bias 0, running stats 0 and 1.
rng = np.random.default_rng(1234)
state = {}
for name, t in model.state_dict().items():
    if name.endswith("num_batches_tracked"):
        continue
    shape = tuple(t.shape)
    if name in ("1.weight", "5.weight") or name.endswith("running_var"):
        v = np.ones(shape, np.float32)
    elif name in ("1.bias", "5.bias") or name.endswith("running_mean"):
        v = np.zeros(shape, np.float32)
    elif name.endswith("weight"):
        rf = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[1] * rf, shape[0] * rf
        lim = np.sqrt(6 / (fan_in + fan_out))
        v = rng.uniform(-lim, lim, shape).astype(np.float32)
    else:
        v = rng.uniform(-0.05, 0.05, shape).astype(np.float32)
    state[name] = torch.from_numpy(v)
model.load_state_dict(state, strict=False)

order_rng = np.random.default_rng(1235)
batches = []
while len(batches) < STEPS:
    perm = order_rng.permutation(1437)
    batches += [perm[i:i + BATCH].tolist() for i in range(0, 1437 - BATCH + 1, BATCH)]
batches = batches[:STEPS]

def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b); blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)

def params():
    return {k: v.clone() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}

os.makedirs(OUT, exist_ok=True)
save_safetensors(os.path.join(OUT, "init.safetensors"), params())
json.dump({"batches": batches}, open(os.path.join(OUT, "order.json"), "w"))

opt = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.9, 0.999), eps=0.01)
steps = []
model.train()
for s, idx in enumerate(batches):
    x, y = torch.from_numpy(x_train[idx]), torch.from_numpy(y_train[idx])
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    l = np.float32(loss.item())
    steps.append({"step": s, "loss": float(l), "lossHex": struct.pack(">f", l).hex(), "lr": float(np.float32(0.01))})
model.eval()
with torch.no_grad():
    pred = model(torch.from_numpy(x_test)).argmax(1).numpy().astype("<i4")
correct = int((pred == y_test).sum())
save_safetensors(os.path.join(OUT, "torch-final.safetensors"), params())
json.dump({"framework": "torch " + torch.__version__, "case": "cnn-digits-bn-adam", "steps": steps,
           "testAccuracy": correct / len(y_test), "testCorrect": correct,
           "testPredictionsSha256": hashlib.sha256(pred.tobytes()).hexdigest(), "testPredictions": pred.tolist(),
           "threads": 1}, open(os.path.join(OUT, "torch.json"), "w"), indent=1)
config = {
    "name": "cnn-digits-bn-adam", "seed": 1234, "semantics": "pytorch",
    "data": {"dataset": "digits", "batchSize": BATCH, "order": "order.json"},
    "model": {"layers": [
        {"type": "conv2d", "filters": 8, "kernel": 3, "padding": "same", "bias": False}, {"type": "batchnorm"}, {"type": "relu"},
        {"type": "maxpool", "size": 2},
        {"type": "conv2d", "filters": 16, "kernel": 3, "padding": "same", "bias": False}, {"type": "batchnorm"}, {"type": "relu"},
        {"type": "globalavgpool"}, {"type": "dense", "units": 10}],
        "init": "init.safetensors"},
    "loss": {"type": "crossEntropy"},
    "optimizer": {"type": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 0.01},
    "training": {"maxSteps": STEPS}, "determinism": {"threads": 1}}
json.dump(config, open(os.path.join(OUT, "config-pytorch.json"), "w"), indent=1)
print(f"torch: final loss {steps[-1]['loss']:.6f}, test accuracy {correct}/{len(y_test)}")
