"""The trace writer's direct line formatting is exactly json.dumps's text."""

import json

import numpy as np
import pytest

from cwrepro.errors import CaptureClosedError, CaptureError, TraceError
from cwrepro.reader import read_trace
from cwrepro.stats import statistics
from cwrepro.trace import TraceWriter, _dumps, _tensor_line


@pytest.mark.parametrize("name", ["1.weight", 'a"b\\c\n\t', "重み.🙂", "\u2028\u0000"])
def test_tensor_lines_are_json_dumps_text(name):
    for arr in [np.array([1e-45, -3.4e38, 0.1, -0.0], np.float32), np.zeros((2, 0), np.float32), np.array([np.nan], np.float32),
                np.array([3, -1], np.int32), np.array(2.5, np.float32)]:
        st = statistics(arr)
        values = None if arr.size else "AAAA"
        a = _tensor_line(-1, 3, name, "param", "f32", arr.shape, "0123456789abcdef", st, values)
        b = _dumps({"type": "tensor", "step": -1, "seq": 3, "name": name, "role": "param", "dtype": "f32", "shape": list(arr.shape),
                    "hash": "0123456789abcdef", "stats": st.to_json(), **({"values": values} if values else {})})
        assert a == b
        assert json.loads(a)["name"] == name


def header():
    return {"name": "w", "framework": {"name": "test", "version": "0"}, "level": "grads", "seed": None,
            "model": {"class": "none", "layers": None, "note": "a writer test",
                      "parameters": [{"name": "w", "shape": [2], "trainable": True}]},
            "optimizer": None, "environment": {"python": "3"}}


def test_writer_rules(tmp_path):
    w = TraceWriter(tmp_path / "w.trace", header(), keep_tensors=-1)
    w.tensor("w", "param", np.array([1.0, 2.0], np.float32))
    w.end_step(epoch=0)
    with pytest.raises(CaptureError, match="role 'weights' is not a trace role"):
        w.tensor("w", "weights", np.zeros(2, np.float32))
    with pytest.raises(CaptureError, match="dtype f64 is not canonical"):
        w.tensor("w", "param", np.zeros(2, np.float64))
    w.tensor("w", "grad", np.array([0.5, np.inf], np.float32))
    with pytest.raises(CaptureError, match="step 0: tensor 'w' \\(role grad\\) captured twice in one step"):
        w.tensor("w", "grad", np.zeros(2, np.float32))
    w.tensor("loss", "loss", np.array(np.nan, np.float32))
    w.end_step(epoch=0, loss=np.float32(np.nan), lr=0.1)
    w.tensor("w", "param", np.zeros(2, np.float32))  # an unfinished step: dropped, and the trace is failed
    w.close()
    with pytest.raises(CaptureClosedError):
        w.tensor("w", "param", np.zeros(2, np.float32))
    t = read_trace(tmp_path / "w.trace")
    assert t.end["status"] == "failed" and "step 1 was not finished" in t.end["error"]
    assert t.training_steps[0].loss is None and t.training_steps[0].loss_bits == "7fc00000"
    g = t.training_steps[0].tensors[0]
    assert g.stats == {"nonfinite": 1, "min": 0.5, "max": 0.5, "mean": 0.5, "l2": 0.5}


def test_gzip_traces_and_a_killed_writer(tmp_path):
    """A `.gz` path writes gzip; the reader recognises it by content; a stream cut at a step
    boundary (no gzip trailer: the process died) reads as an incomplete trace."""
    path = tmp_path / "w.trace.gz"
    w = TraceWriter(path, header(), keep_tensors=0)
    w.tensor("w", "param", np.array([1.0, 2.0], np.float32))
    w.end_step(epoch=0)
    w.tensor("loss", "loss", np.array(1.5, np.float32))
    w.end_step(epoch=0, loss=np.float32(1.5), lr=0.1)
    snapshot = path.read_bytes()  # flushed, not closed: what a killed run leaves
    w.close()
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    t = read_trace(path)
    assert t.complete and [s.loss_bits for s in t.training_steps] == ["3fc00000"]
    killed = tmp_path / "killed.trace"
    killed.write_bytes(snapshot)
    t = read_trace(killed)
    assert not t.complete and t.end is None and len(t.training_steps) == 1
    # Cut anywhere before the first finished step: refused (here the header alone survives).
    cut = tmp_path / "cut.trace"
    cut.write_bytes(snapshot[:len(snapshot) // 2])
    with pytest.raises(TraceError, match="no initialisation step|no newline"):
        read_trace(cut)
    # Cut inside a line of the decompressed text: the truncated last line is named.
    import gzip
    text = gzip.decompress(path.read_bytes())
    mid = tmp_path / "mid.trace.gz"
    mid.write_bytes(gzip.compress(text[:text.index(b"\n") + 20]))
    with pytest.raises(TraceError, match=":2: the last line has no newline"):
        read_trace(mid)


def one_step_trace(tmp_path, name="e.trace"):
    """A writer with initialisation and one training step written."""
    w = TraceWriter(tmp_path / name, header())
    w.tensor("w", "param", np.array([1.0, 2.0], np.float32))
    w.end_step(epoch=0)
    w.tensor("loss", "loss", np.array(1.5, np.float32))
    w.end_step(epoch=0, loss=np.float32(1.5), lr=0.1)
    return w


def evaluate(w, split="test", step=0):
    return w.evaluation(step=step, epoch=0, split=split, predictions=np.array([0, 1], np.int32),
                        labels=np.array([0, 0], np.int32), classes=2, loss=np.float32(0.5))


def test_one_evaluation_per_step_and_split_and_a_non_empty_split(tmp_path):
    """A record holds one evaluation per step and split (cwrepro import refuses a second one): the
    writer refuses it when it is asked for, as it refuses an empty split; other splits and later
    steps are fine."""
    w = one_step_trace(tmp_path)
    evaluate(w)
    with pytest.raises(CaptureError, match="evaluation: split 'test' was already evaluated after step 0; a trace holds one "
                                           "evaluation per step and split"):
        evaluate(w)
    for bad in ("", None, 3):
        with pytest.raises(CaptureError, match=f"evaluation: split {bad!r}; expected a non-empty string"):
            evaluate(w, split=bad)
    evaluate(w, split="val")
    w.tensor("loss", "loss", np.array(1.0, np.float32))
    w.end_step(epoch=0, loss=np.float32(1.0), lr=0.1)
    evaluate(w, step=1)
    w.close()
    t = read_trace(tmp_path / "e.trace")
    assert t.complete and [(e["step"], e["split"]) for e in t.evaluations] == [(0, "test"), (0, "val"), (1, "test")]


def test_learning_rates_are_finite_non_negative_numbers_and_a_refused_step_can_be_retried(tmp_path):
    w = one_step_trace(tmp_path)
    w.tensor("loss", "loss", np.array(1.0, np.float32))
    for lr, what in ((-0.1, "-0.1 is negative"), (float("nan"), "nan is not finite"), (float("inf"), "inf is not finite"),
                     ("0.1", "'0.1' is not a number"), (None, "no learning rate")):
        with pytest.raises(CaptureError, match=f"step 1: (learning rate )?{what}"):
            w.end_step(epoch=0, loss=np.float32(1.0), lr=lr)
    w.end_step(epoch=0, loss=np.float32(1.0), lr=0.0)  # the step stayed open; 0 is a learning rate
    w.tensor("loss", "loss", np.array(1.0, np.float32))
    w.discard_step()  # a capture whose step failed half-way drops what it added
    w.tensor("loss", "loss", np.array(0.5, np.float32))
    w.end_step(epoch=0, loss=np.float32(0.5), lr=0.1)
    w.close()
    t = read_trace(tmp_path / "e.trace")
    assert t.complete and [s.lr for s in t.training_steps] == [0.1, 0.0, 0.1]
    assert [len(s.tensors) for s in t.training_steps] == [1, 1, 1]
