"""Exceptions of the capture APIs and the trace reader. Every message names what is wrong and
what to do."""

__all__ = ["CaptureError", "UnsupportedModelError", "CaptureClosedError", "ShapeMismatchError", "TraceError", "ExportError",
           "UnsupportedModuleError", "UnsupportedOptimizerError", "DataMismatchError", "UnfixedOrderError"]


class CaptureError(Exception):
    """A capture cannot record what it was given."""


class UnsupportedModelError(CaptureError, ValueError):
    """A layer, module or optimizer cwrepro cannot express (names the layer and what is supported)."""


class CaptureClosedError(CaptureError, RuntimeError):
    """A capture was used after `close()`."""


class ShapeMismatchError(CaptureError, ValueError):
    """Tensors given to a capture have inconsistent shapes."""


class TraceError(ValueError):
    """A trace file breaks the format (docs/trace-format.md): names the file, line and field."""

    def __init__(self, path: str, line: int, field: str, message: str):
        self.path, self.line, self.field, self.detail = path, line, field, message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class ExportError(ValueError):
    """A model, optimizer, data set or batch order that `export` cannot turn into a cwrepro config
    without changing what is trained. The message names what is wrong and what to change."""


class UnsupportedModuleError(ExportError, UnsupportedModelError):
    """A module or layer (or a setting of one) that cwrepro cannot express; names it and what is supported."""


class UnsupportedOptimizerError(ExportError):
    """An optimizer, optimizer option, learning-rate schedule or loss that cwrepro lacks."""


class DataMismatchError(ExportError, ShapeMismatchError):
    """Data arrays that do not fit each other or the model (counts, shapes, dtypes, label range)."""


class UnfixedOrderError(ExportError):
    """A data loader or pipeline whose batch order cannot be replayed exactly before training."""
