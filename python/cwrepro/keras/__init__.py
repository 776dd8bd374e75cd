"""Capture real Keras training loops as cwrepro traces, converted to cwrepro's (torch's) names
and layouts: `Capture` (cwrepro.keras.capture), `export` (a model, optimizer, data and batch order
as a cwrepro config: cwrepro.keras.exporter), `plan_model` (the conversion) and `load_weights`
(cwrepro/torch-layout weights into a Keras model) in cwrepro.keras.layers."""

try:
    import keras as _keras  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("cwrepro.keras needs Keras 3: pip install keras tensorflow (or pip install './python[keras]')") from e

from .capture import Capture, keras_environment
from .exporter import SUPPORTED_EXPORT_OPTIMIZERS, SUPPORTED_SCHEDULES, export
from .layers import SUPPORTED_LAYERS, load_weights, plan_model, to_keras

__all__ = ["Capture", "SUPPORTED_EXPORT_OPTIMIZERS", "SUPPORTED_LAYERS", "SUPPORTED_SCHEDULES", "export", "keras_environment", "load_weights", "plan_model", "to_keras"]
