"""Reading a cwrepro record (.cwr, SQLite; docs/record-format.md) with sqlite3, for tests that
compare a real framework's trace with cwrepro's own record of the exported config, until
`cwrepro import` and `cwrepro compare` do it. Read-only (the file is opened immutable).

Hashes are stored as signed 64-bit integers; they are returned as 16 hex digits like traces
write them. Statistics columns (min, max, mean, l2) exist from schema 2 on."""

import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def cwrepro_binary() -> Optional[str]:
    """$CWREPRO, else the checkout's debug or release build, else `cwrepro` on the PATH."""
    for p in (os.environ.get("CWREPRO"), os.path.join(ROOT, ".build", "debug", "cwrepro"),
              os.path.join(ROOT, ".build", "release", "cwrepro"), shutil.which("cwrepro")):
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def record(config: str, out: str, *extra: str) -> subprocess.CompletedProcess:
    """`cwrepro record config -o out`; raises with its output when it fails."""
    r = subprocess.run([cwrepro_binary(), "record", config, "-o", out, "--force", *extra], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"cwrepro record {config} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def hex_hash(v: int) -> str:
    return format(v & 0xFFFFFFFFFFFFFFFF, "016x")


@dataclass
class Record:
    meta: Dict[str, str]
    environment: Dict[str, str]
    config: dict
    losses: Dict[int, np.float32]                      # step -> float32 loss (training steps)
    lrs: Dict[int, float]
    tensors: Dict[int, List[dict]] = field(default_factory=dict)   # step (-1 = init) -> tensors in order
    evaluations: List[dict] = field(default_factory=list)

    def tensor(self, step: int, name: str, role: str) -> Optional[dict]:
        return next((t for t in self.tensors.get(step, []) if t["name"] == name and t["role"] == role), None)


def read_record(path: str) -> Record:
    c = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        meta = dict(c.execute("select key, value from meta"))
        cols = [r[1] for r in c.execute("pragma table_info(tensors)")]
        stats = all(k in cols for k in ("min", "max", "mean", "l2"))
        losses, lrs = {}, {}
        for step, bits, lr in c.execute("select step, loss_bits, lr from steps order by step"):
            if step >= 0:
                losses[step] = np.array([bits & 0xFFFFFFFF], np.uint32).view(np.float32)[0]
                lrs[step] = lr
        tensors: Dict[int, List[dict]] = {}
        q = "select step, seq, name, role, dtype, shape, hash" + (", min, max, mean, l2" if stats else "") + \
            " from tensors order by step, seq"
        for row in c.execute(q):
            t = {"name": row[2], "role": row[3], "dtype": row[4], "shape": json.loads(row[5]), "hash": hex_hash(row[6])}
            if stats:
                t["stats"] = dict(zip(("min", "max", "mean", "l2"), row[7:11]))
            tensors.setdefault(row[0], []).append(t)
        evals = [{"step": s, "split": sp, "correct": co, "total": to, "predictionsHash": hex_hash(h)}
                 for s, sp, co, to, h in c.execute("select step, split, correct, total, predictions_hash from evaluations "
                                                   "order by step")]
    finally:
        c.close()
    return Record(meta=meta, environment=json.loads(meta.get("environment", "{}")),
                  config=json.loads(meta.get("config_resolved", "{}")), losses=losses, lrs=lrs, tensors=tensors,
                  evaluations=evals)


def loss_agreement(trace_steps, record: Record) -> Tuple[np.ndarray, int]:
    """Per training step |loss_trace - loss_record| / |loss_trace| in float64, and the step count."""
    rel = np.array([abs(float(s.loss32) - float(record.losses[s.step])) / abs(float(s.loss32)) for s in trace_steps])
    return rel, len(rel)
