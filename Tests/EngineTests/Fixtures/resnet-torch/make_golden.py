"""A torch 2.13 model equal to cwrepro's preset {"name": "resnet", "depth": 8, "width": 0.25}, for
ArchitectureTests: its state_dict (with BatchNorm's I64 num_batches_tracked, as torch saves it)
written as safetensors, and eval-mode logits for a fixed input.
Random init, then random running statistics so that eval mode depends on them.
Run: python3 make_golden.py  (writes model.safetensors and golden.json)
"""
import json
import struct
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(0)


class Residual(nn.Module):
    def __init__(self, body, shortcut):
        super().__init__()
        self.body, self.shortcut = nn.Sequential(*body), nn.Sequential(*shortcut)

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def conv(i, o, k, s=1):
    return nn.Conv2d(i, o, k, s, k // 2, bias=False)


def resnet(n=1, widths=(4, 8, 16), classes=10):
    layers, c = [conv(3, widths[0], 3), nn.BatchNorm2d(widths[0]), nn.ReLU()], widths[0]
    for stage, p in enumerate(widths):
        for b in range(n):
            s = 2 if stage > 0 and b == 0 else 1
            body = [conv(c, p, 3, s), nn.BatchNorm2d(p), nn.ReLU(), conv(p, p, 3), nn.BatchNorm2d(p)]
            short = [nn.Conv2d(c, p, 1, s, bias=False), nn.BatchNorm2d(p)] if s != 1 or c != p else []
            layers += [Residual(body, short), nn.ReLU()]
            c = p
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes))


model = resnet()
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.5, 0.5)
            m.running_mean.uniform_(-0.2, 0.2); m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(7)
model.eval()
x = torch.rand(2, 3, 32, 32)
with torch.no_grad():
    logits = model(x)

header, blobs, offset = {}, [], 0
for name, t in model.state_dict().items():
    t = t.contiguous()
    dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
    raw = t.numpy().tobytes()
    header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw); offset += len(raw)
h = json.dumps(header).encode()
with open("model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
with open("golden.json", "w") as f:
    json.dump({"x": x.reshape(-1).tolist(), "logits": logits.reshape(-1).tolist()}, f)
