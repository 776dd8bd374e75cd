"""cwrepro: capture real PyTorch and Keras training runs as cwrepro traces.

A trace (docs/trace-format.md) holds a run's identity and, per step, the loss, the learning
rate and every captured tensor under cwrepro's canonical names and layouts, with its XXH3-64
hash over cwrepro's canonical bytes and its statistics; `cwrepro import` turns it into a record.

- `cwrepro.hashing`: canonical tensors, tensor hashes and step digests (bit-exact with Swift).
- `cwrepro.stats`: per-tensor statistics (non-finite count, min, max, mean, L2 norm).
- `cwrepro.trace`: the trace writer; `cwrepro.reader`: the trace reader and validator.
- `cwrepro.torch.Capture`, `cwrepro.keras.Capture`: capture a training loop.
"""

from .hashing import DType, canonical, hex64, step_digest, tensor_hash
from .stats import TensorStats, statistics

__version__ = "0.1.0"

__all__ = ["DType", "TensorStats", "canonical", "hex64", "statistics", "step_digest", "tensor_hash", "__version__"]
