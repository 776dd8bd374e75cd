"""The run's identity as a flat map of strings (dotted keys, as cwrepro records store their
environment): CPU, OS, Python, numpy and the variables numeric libraries read at load time.
The framework captures add their own keys (`torch.*`, `tensorflow.*`, `keras.*`, `device.*`)."""

from __future__ import annotations

import os
import platform
import sys
from typing import Dict

import numpy as np

__all__ = ["base_environment", "SIMD_FLAGS", "NUMERIC_VARIABLES"]

#: The SIMD flags that select kernels (the same subset cwrepro's own records keep).
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_vnni", "amx_tile")

#: Process variables that change what numeric libraries do, recorded as `env.<NAME>`.
NUMERIC_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS", "MKL_NUM_THREADS",
                     "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS", "TF_DETERMINISTIC_OPS", "TF_NUM_INTRAOP_THREADS",
                     "TF_NUM_INTEROP_THREADS", "CUBLAS_WORKSPACE_CONFIG", "CUDA_VISIBLE_DEVICES", "PYTHONHASHSEED",
                     "KERAS_BACKEND")


def _cpuinfo() -> Dict[str, str]:
    out: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and "model" not in out:
            out["model"] = value.strip()
        elif key == "flags" and "flags" not in out:
            flags = set(value.split())
            out["flags"] = " ".join(sorted(f for f in SIMD_FLAGS if f in flags))
    return out


def _os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}"


def base_environment() -> Dict[str, str]:
    """Facts every capture records (all values strings)."""
    env: Dict[str, str] = {}
    cpu = _cpuinfo()
    env["cpu.model"] = cpu.get("model") or platform.processor() or "unknown"
    if "flags" in cpu:
        env["cpu.flags"] = cpu["flags"]
    env["cpu.count"] = str(os.cpu_count() or 0)
    env["arch"] = platform.machine()
    env["os"] = _os_name()
    libc = platform.libc_ver()
    if libc[0]:
        env["libc"] = f"{libc[0]} {libc[1]}"
    env["python"] = platform.python_version()
    env["python.implementation"] = sys.implementation.name
    env["numpy"] = np.__version__
    from . import __version__
    env["cwrepro.python"] = __version__
    for name in NUMERIC_VARIABLES:
        if name in os.environ:
            env[f"env.{name}"] = os.environ[name]
    return env
