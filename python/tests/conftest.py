"""Shared fixtures: repository paths and the digits data (data/digits.csv.gz)."""

import gzip
import os

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTDATA = os.path.join(ROOT, "testdata")


def load_digits():
    """The digits as cwrepro loads them: pixels/16 float32 [N,1,8,8], labels int64; train = first
    1437 rows, test = last 360."""
    with gzip.open(os.path.join(ROOT, "data", "digits.csv.gz"), "rt") as f:
        rows = np.loadtxt(f, delimiter=",")
    x = (rows[:, :64].astype(np.float32) / np.float32(16)).reshape(-1, 1, 8, 8)
    y = rows[:, 64].astype(np.int64)
    return x[:1437], y[:1437], x[1437:], y[1437:]


@pytest.fixture(scope="session")
def digits():
    return load_digits()


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


#: The reference traces (testdata/reference) were produced, and reproduce bit for bit, with the
#: frameworks' AVX-512 kernels. With AVX2 kernels (an AVX2-only CPU, or ATEN_CPU_CAPABILITY=avx2
#: for torch, ONEDNN_MAX_CPU_ISA=AVX2 for TensorFlow) real torch's and real Keras's own losses
#: differ from them by 1 float32 ulp on some steps: their bits depend on the CPU's kernels.
def torch_reference_kernels() -> bool:
    import torch
    return torch.backends.cpu.get_cpu_capability() == "AVX512"


def keras_reference_kernels() -> bool:
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    return "avx512f" in _cpu_flags() and (isa in ("ALL", "DEFAULT") or isa.startswith(("AVX512", "AVX10", "AMX")))


def float32_ulps(a, b) -> int:
    ia, ib = (int(np.array(v, np.float32).view(np.int32)) for v in (a, b))
    return abs(ia - ib)
