"""Capture real PyTorch training loops as cwrepro traces: `Capture` (see cwrepro.torch.capture),
`export` (a model, optimizer, data and batch order as a cwrepro config: cwrepro.torch.exporter),
`GlobalAvgPool` (cwrepro's globalavgpool as a module), `model_layers` (a model's cwrepro layer list)."""

try:
    import torch as _torch  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("cwrepro.torch needs PyTorch: pip install torch (or pip install './python[torch]')") from e

from .capture import Capture, torch_environment
from .exporter import SUPPORTED_EXPORT_OPTIMIZERS, SUPPORTED_SCHEDULERS, export
from .loader import loader_batches
from .modules import GlobalAvgPool, SUPPORTED_MODULES, SUPPORTED_OPTIMIZERS, model_layers, optimizer_description

__all__ = ["Capture", "GlobalAvgPool", "SUPPORTED_EXPORT_OPTIMIZERS", "SUPPORTED_MODULES", "SUPPORTED_OPTIMIZERS",
           "SUPPORTED_SCHEDULERS", "export", "loader_batches", "model_layers", "optimizer_description", "torch_environment"]
