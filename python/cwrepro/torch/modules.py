"""torch modules and optimizers as cwrepro names them: an `nn.Sequential` of supported modules
becomes a train.json `model.layers` list (layer i = module i: the indices, and so the
state_dict names, are the same), a supported optimizer a train.json `optimizer` object.

Supported modules (each maps to one cwrepro layer): nn.Flatten (start_dim 1, end_dim -1),
nn.Linear, nn.Conv2d (zeros padding, no dilation or groups), nn.BatchNorm1d / nn.BatchNorm2d
(affine, with running statistics and a momentum), nn.ReLU, nn.Tanh, nn.Sigmoid, nn.MaxPool2d,
nn.AvgPool2d (no ceil_mode, no divisor_override), nn.Dropout, cwrepro.torch.GlobalAvgPool, and
nn.AdaptiveAvgPool2d(1) directly followed by nn.Flatten (cwrepro's globalavgpool: its output,
[N, C, 1, 1] in torch, is captured as [N, C], the same bytes)."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

from ..errors import UnsupportedModelError

__all__ = ["GlobalAvgPool", "SUPPORTED_MODULES", "SUPPORTED_OPTIMIZERS", "model_layers", "optimizer_description"]

SUPPORTED_MODULES = ("nn.Flatten, nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.Tanh, nn.Sigmoid, "
                     "nn.MaxPool2d, nn.AvgPool2d, nn.Dropout, cwrepro.torch.GlobalAvgPool, "
                     "nn.AdaptiveAvgPool2d(1) followed by nn.Flatten")
SUPPORTED_OPTIMIZERS = "torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop"


class GlobalAvgPool(nn.Module):
    """cwrepro's `globalavgpool`: [N, C, H, W] -> [N, C], the mean over H and W."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


def _int_or_pair(v):
    if isinstance(v, int):
        return v
    a, b = (int(x) for x in v)
    return a if a == b else [a, b]


def _pair(v) -> Tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _conv_padding(m: nn.Conv2d):
    if isinstance(m.padding, str):
        if m.padding == "valid":
            return 0
        # "same": torch pads dilation*(k-1) in total per dimension, the smaller half first.
        kh, kw = _pair(m.kernel_size)
        th, tw = kh - 1, kw - 1
        return [th // 2, th - th // 2, tw // 2, tw - tw // 2]
    return _int_or_pair(m.padding)


class _Refusal(Exception):
    pass


def _layer(m: nn.Module, nxt: Optional[nn.Module]) -> Tuple[dict, Optional[Callable]]:
    """(cwrepro layer spec, output reshape or None) for one module; raises _Refusal(why)."""
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise _Refusal(f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}); cwrepro flattens all but the batch dimension")
        return {"type": "flatten"}, None
    if isinstance(m, nn.Linear):
        return {"type": "dense", "units": m.out_features, "bias": m.bias is not None}, None
    if isinstance(m, nn.Conv2d):
        if _pair(m.dilation) != (1, 1):
            raise _Refusal(f"dilation {m.dilation}; cwrepro convolutions have no dilation")
        if m.groups != 1:
            raise _Refusal(f"groups={m.groups}; cwrepro convolutions are dense (groups=1)")
        if m.padding_mode != "zeros":
            raise _Refusal(f"padding_mode={m.padding_mode!r}; cwrepro pads with zeros")
        return {"type": "conv2d", "filters": m.out_channels, "kernel": _int_or_pair(m.kernel_size),
                "stride": _int_or_pair(m.stride), "padding": _conv_padding(m), "bias": m.bias is not None}, None
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if not m.affine:
            raise _Refusal("affine=False; cwrepro BatchNorm always has weight and bias")
        if not m.track_running_stats:
            raise _Refusal("track_running_stats=False; cwrepro BatchNorm keeps running statistics")
        if m.momentum is None:
            raise _Refusal("momentum=None (a cumulative average); cwrepro needs a momentum in [0, 1]")
        return {"type": "batchnorm", "momentum": float(m.momentum), "epsilon": float(m.eps),
                "runningVariance": "unbiased"}, None
    if isinstance(m, nn.ReLU):
        return {"type": "relu"}, None
    if isinstance(m, nn.Tanh):
        return {"type": "tanh"}, None
    if isinstance(m, nn.Sigmoid):
        return {"type": "sigmoid"}, None
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        if m.ceil_mode:
            raise _Refusal("ceil_mode=True; cwrepro pools with floor")
        spec = {"type": "maxpool" if isinstance(m, nn.MaxPool2d) else "avgpool", "size": _int_or_pair(m.kernel_size),
                "stride": _int_or_pair(m.stride if m.stride is not None else m.kernel_size), "padding": _int_or_pair(m.padding)}
        if isinstance(m, nn.MaxPool2d):
            if _pair(m.dilation) != (1, 1):
                raise _Refusal(f"dilation {m.dilation}; cwrepro max pooling has no dilation")
            if m.return_indices:
                raise _Refusal("return_indices=True")
        else:
            if m.divisor_override is not None:
                raise _Refusal(f"divisor_override={m.divisor_override}")
            spec["countIncludePad"] = bool(m.count_include_pad)
        return spec, None
    if type(m) is nn.Dropout:
        return {"type": "dropout", "rate": float(m.p)}, None
    if isinstance(m, GlobalAvgPool):
        return {"type": "globalavgpool"}, None
    if isinstance(m, nn.AdaptiveAvgPool2d):
        if _pair(m.output_size) != (1, 1):
            raise _Refusal(f"AdaptiveAvgPool2d({m.output_size}); only output size 1 (global average pooling) maps")
        if not (isinstance(nxt, nn.Flatten) and nxt.start_dim == 1):
            raise _Refusal("AdaptiveAvgPool2d(1) maps to cwrepro's globalavgpool only when nn.Flatten() follows it "
                           "(or use cwrepro.torch.GlobalAvgPool)")
        return {"type": "globalavgpool"}, lambda a: a.reshape(a.shape[0], -1)
    raise _Refusal(f"{type(m).__name__} has no cwrepro layer")


def model_layers(model: nn.Module) -> Tuple[Optional[List[dict]], Optional[str], Dict[str, Callable]]:
    """(layers, note, output reshapes by child name). `layers` is None, with `note` saying why,
    when the model is not an nn.Sequential of supported modules."""
    if not isinstance(model, nn.Sequential):
        return None, (f"the model is a {type(model).__name__}, not an nn.Sequential; cwrepro layer lists describe "
                      f"nn.Sequential models of {SUPPORTED_MODULES}"), {}
    children = list(model.named_children())
    layers, reshapes = [], {}
    for i, (name, m) in enumerate(children):
        nxt = children[i + 1][1] if i + 1 < len(children) else None
        try:
            spec, reshape = _layer(m, nxt)
        except _Refusal as why:
            return None, f"module {name} ({m}): {why}; supported: {SUPPORTED_MODULES}", {}
        layers.append(spec)
        if reshape is not None:
            reshapes[name] = reshape
    return layers, None, reshapes


def _json_value(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return v if not isinstance(v, float) or v == v and abs(v) != float("inf") else str(v)
    if isinstance(v, (tuple, list)):
        return [_json_value(x) for x in v]
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return _json_value(v.item())
    return str(v)


def optimizer_description(opt: torch.optim.Optimizer, level: str) -> dict:
    """The header's `optimizer` object: class, train.json config (None when cwrepro cannot
    express it), the state names captured per parameter, the first group's hyperparameters."""
    g = opt.param_groups[0]
    hyper = {k: _json_value(v) for k, v in g.items() if k != "params"}
    cls = type(opt)
    config, states = None, None
    plain = not g.get("maximize", False) and not g.get("differentiable", False)
    if cls is torch.optim.SGD:
        states = ["momentum_buffer"] if g["momentum"] != 0 else []
        if plain and g.get("dampening", 0) == 0:
            config = {"type": "sgd", "lr": float(g["lr"]), "momentum": float(g["momentum"]), "nesterov": bool(g["nesterov"]),
                      "weightDecay": float(g["weight_decay"])}
    elif cls in (torch.optim.Adam, torch.optim.AdamW):
        states = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if g.get("amsgrad") else [])
        decoupled = cls is torch.optim.AdamW or g.get("decoupled_weight_decay", False)
        if plain and not g.get("amsgrad") and (not decoupled or g["weight_decay"] == 0):
            b1, b2 = g["betas"]
            config = {"type": "adam", "lr": float(g["lr"]), "beta1": float(b1), "beta2": float(b2), "epsilon": float(g["eps"]),
                      "weightDecay": float(g["weight_decay"])}
    elif cls is torch.optim.RMSprop:
        states = ["square_avg"] + (["momentum_buffer"] if g.get("momentum", 0) > 0 else []) + \
                 (["grad_avg"] if g.get("centered") else [])
        if plain and g.get("momentum", 0) == 0 and not g.get("centered"):
            config = {"type": "rmsprop", "lr": float(g["lr"]), "rho": float(g["alpha"]), "epsilon": float(g["eps"]),
                      "weightDecay": float(g["weight_decay"])}
    if states is None:
        if level != "params":
            raise UnsupportedModelError(
                f"optimizer {cls.__module__}.{cls.__name__}: its state cannot be named as cwrepro names it "
                f"(supported at level {level!r}: {SUPPORTED_OPTIMIZERS}); capture at level='params', which leaves optimizer state out")
        states = []
    if len(opt.param_groups) > 1 and any(gr.get("lr") != g.get("lr") for gr in opt.param_groups):
        config = None
    return {"class": f"{cls.__module__}.{cls.__name__}", "config": config, "stateNames": states if level != "params" else [],
            "hyperparameters": hyper}
