"""Capture real Keras training loops as cwrepro traces, converted to cwrepro's (torch's) names
and layouts: `Capture` (cwrepro.keras.capture), `plan_model` (cwrepro.keras.layers)."""

from .capture import Capture, keras_environment
from .layers import SUPPORTED_LAYERS, plan_model

__all__ = ["Capture", "SUPPORTED_LAYERS", "keras_environment", "plan_model"]
