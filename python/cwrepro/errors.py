"""Exceptions of the capture APIs and the trace reader. Every message names what is wrong and
what to do."""

__all__ = ["CaptureError", "UnsupportedModelError", "CaptureClosedError", "ShapeMismatchError", "TraceError"]


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
