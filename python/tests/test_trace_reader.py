"""The trace reader (cwrepro.reader) against docs/trace-format.md: a real capture reads back, and
each kind of broken line is refused with the file, line and field named."""

import json

import pytest
import torch

from cwrepro.errors import TraceError
from cwrepro.reader import read_trace
from torch_runs import train


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("trace") / "good.trace"
    train(path, steps=3, keep_tensors=2, level="grads")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def write(tmp_path, lines, raw_tail=None):
    p = tmp_path / "t.trace"
    with open(p, "w", encoding="utf-8") as f:
        for obj in lines:
            f.write(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False))
            f.write("\n")
        if raw_tail is not None:
            f.write(raw_tail)
    return p


def find(lines, **match):
    for i, obj in enumerate(lines):
        if all(obj.get(k) == v for k, v in match.items()):
            return i
    raise KeyError(match)


def expect(tmp_path, lines, line, field, message, raw_tail=None):
    p = write(tmp_path, lines, raw_tail)
    with pytest.raises(TraceError) as e:
        read_trace(p)
    assert (e.value.line, e.value.field) == (line, field), str(e.value)
    assert message in str(e.value)
    assert str(e.value).startswith(f"{p}:{line}: " if line else f"{p}: ")


def copy(lines):
    return json.loads(json.dumps(lines))


def test_a_real_capture_reads_back(tmp_path, good):
    t = read_trace(write(tmp_path, good))
    assert t.complete and len(t.training_steps) == 3 and len(t.evaluations) == 1
    assert t.header["framework"] == {"name": "torch", "version": torch.__version__}
    assert t.header["environment"]["torch.threads"] == "1"
    assert all(isinstance(v, str) for v in t.header["environment"].values())


def test_missing_end_line_is_an_incomplete_trace_not_an_error(tmp_path, good):
    t = read_trace(write(tmp_path, good[:-1]))
    assert not t.complete and t.end is None and len(t.training_steps) == 3


def test_header_errors(tmp_path, good):
    lines = copy(good)
    lines[0]["format"] = "other"
    expect(tmp_path, lines, 1, "format", 'expected "cwrepro-trace", got "other" (not a cwrepro trace)')
    lines = copy(good)
    lines[0]["version"] = 2
    expect(tmp_path, lines, 1, "version", "2 was written by a newer cwrepro; this reader knows version 1")
    lines = copy(good)
    del lines[0]["level"]
    expect(tmp_path, lines, 1, "level", "missing")
    lines = copy(good)
    lines[0]["levle"] = "grads"
    expect(tmp_path, lines, 1, "levle", "unknown field")
    lines = copy(good)
    lines[0]["environment"]["torch.threads"] = 1
    expect(tmp_path, lines, 1, "environment.torch.threads", "expected a string, got 1")
    lines = copy(good)
    lines[0]["model"]["parameters"][1]["shape"] = [32, -1]
    expect(tmp_path, lines, 1, "model.parameters[1].shape", "expected an array of non-negative integers")
    lines = copy(good)
    lines[0]["model"]["layers"] = None
    expect(tmp_path, lines, 1, "model.note", "must say why model.layers is null")
    expect(tmp_path, [good[1]] + good[2:], 1, "type", 'the first line must be the header, got "tensor"')


def test_tensor_errors(tmp_path, good):
    i = find(good, type="tensor", step=0, name="1.weight", role="grad")
    lines = copy(good)
    lines[i]["seq"] += 1
    expect(tmp_path, lines, i + 1, "seq", "expected 3 (tensors of a step are numbered")
    lines = copy(good)
    lines[i]["role"] = "weights"
    expect(tmp_path, lines, i + 1, "role", '"weights" is not a trace role')
    lines = copy(good)
    lines[i]["role"] = "activation"
    expect(tmp_path, lines, i + 1, "role", "activation tensors are not captured at level grads")
    lines = copy(good)
    lines[i]["dtype"] = "f64"
    expect(tmp_path, lines, i + 1, "dtype", 'expected "f32" or "i32"')
    lines = copy(good)
    lines[i]["hash"] = "ABC"
    expect(tmp_path, lines, i + 1, "hash", 'expected 16 lowercase hex digits, got "ABC"')
    lines = copy(good)
    lines[i]["hash"] = "0" * 16
    expect(tmp_path, lines, i + 1, "hash", "is not the hash of the stored values")
    lines = copy(good)
    lines[i]["stats"]["l2"] *= 2
    expect(tmp_path, lines, i + 1, "stats", "are not the statistics of the stored values")
    lines = copy(good)
    lines[i]["stats"]["mean"] = None
    expect(tmp_path, lines, i + 1, "stats", "are required (numbers) when some element is finite")
    lines = copy(good)
    lines[i]["values"] = lines[i]["values"][:-8]
    expect(tmp_path, lines, i + 1, "values", "bytes; shape [32, 64] of f32 needs 8192")
    lines = copy(good)
    lines[i]["values"] = "not base64!"
    expect(tmp_path, lines, i + 1, "values", "not valid base64")
    lines = copy(good)
    lines[i]["name"] = "1.bias"
    expect(tmp_path, lines, i + 2, "name", '"1.bias" (role grad) appears twice in step 0')
    lines = copy(good)
    lines[i]["extra"] = 1
    expect(tmp_path, lines, i + 1, "extra", "unknown field")


def test_step_errors(tmp_path, good):
    i = find(good, type="step", step=0)
    lines = copy(good)
    lines[i]["digest"] = "0123456789abcdef"
    expect(tmp_path, lines, i + 1, "digest", "is not the digest of the step's tensors")
    lines = copy(good)
    lines[i]["tensors"] += 1
    expect(tmp_path, lines, i + 1, "tensors", "but the step has 15 tensor lines")
    lines = copy(good)
    lines[i]["loss"] = 1.0
    expect(tmp_path, lines, i + 1, "loss", "is not the float32 value")
    lines = copy(good)
    lines[i]["lossBits"] = None
    lines[i]["loss"] = None
    expect(tmp_path, lines, i + 1, "lossBits", "a training step needs its float32 loss bits")
    lines = copy(good)
    lines[i]["lossBits"], lines[i]["loss"] = "7fc00000", None  # NaN loss: valid
    read_trace(write(tmp_path, lines[:i + 1]))
    lines[i]["loss"] = 0.0
    expect(tmp_path, lines, i + 1, "loss", "must be null for the non-finite loss bits 7fc00000")
    lines = copy(good)
    lines[i]["step"] = 1
    expect(tmp_path, lines, i + 1, "step", "1: expected 0")
    init = find(good, type="step", step=-1)
    lines = copy(good)
    lines[init]["lr"] = 0.1
    expect(tmp_path, lines, init + 1, "lr", "must be null for the initialisation step")
    lines = copy(good)
    lines[init]["lossBits"] = "3f800000"
    expect(tmp_path, lines, init + 1, "lossBits", "must be null for the initialisation step")
    # The end line before a step's step line; a trace ending inside a step.
    lines = copy(good)
    expect(tmp_path, lines[:i] + [lines[-1]], i + 1, "type", "the end line comes before step 0's step line")
    expect(tmp_path, lines[:i], i, "", "the trace ends inside step 0: 15 tensor lines without a step line")


def test_init_must_hold_the_header_parameters(tmp_path, good):
    lines = copy(good)
    lines[0]["model"]["parameters"][0]["name"] = "0.weight"
    expect(tmp_path, lines, 2, "name", "initialisation tensor 0 is 1.weight (param, shape [32, 64]); model.parameters[0] is 0.weight")


def test_evaluation_and_end_errors(tmp_path, good):
    e = find(good, type="evaluation")
    lines = copy(good)
    lines[e]["predictions"][0] = (lines[e]["predictions"][0] + 1) % 10
    expect(tmp_path, lines, e + 1, "predictionsHash", "is not the i32 tensor hash of the predictions")
    lines = copy(good)
    lines[e]["correct"] += 1
    expect(tmp_path, lines, e + 1, "accuracy", "is not correct / total")
    lines = copy(good)
    lines[e]["predictions"] = lines[e]["predictions"][:-1]
    expect(tmp_path, lines, e + 1, "predictions", "expected 360 integers in 0..9")
    lines = copy(good)
    lines[e]["step"] = 5
    expect(tmp_path, lines, e + 1, "step", "an evaluation follows the step line of the step it evaluates")
    lines = copy(good)
    lines[e]["loss"], lines[e]["lossBits"] = None, None
    expect(tmp_path, lines, e + 1, "lossBits", "an evaluation of at least one sample needs its float32 loss bits")
    lines = copy(good)
    lines[-1]["steps"] = 4
    expect(tmp_path, lines, len(lines), "steps", "4, but the trace holds 3")
    lines = copy(good)
    lines[-1]["status"] = "failed"
    expect(tmp_path, lines, len(lines), "error", "a failed trace says why")
    expect(tmp_path, good + [good[-1]], len(good) + 1, "type", "a line after the end line")


def test_file_level_errors(tmp_path, good):
    expect(tmp_path, good, len(good) + 1, "", "the last line has no newline (the file was truncated", raw_tail='{"type": "st')
    expect(tmp_path, good[:2] + ["{not json"] + good[3:], 3, "", "not valid JSON")
    expect(tmp_path, good[:2] + ['{"type": "tensor", "x": NaN}'] + good[3:], 3, "", "NaN is not JSON")
    expect(tmp_path, good[:2] + ["[1, 2]"] + good[3:], 3, "", "expected a JSON object")
    expect(tmp_path, good[:2] + [{"type": "comment"}] + good[3:], 3, "type", 'unknown line type "comment"')
    duplicate = json.dumps(good[2])[:-1] + ', "seq": 0}'
    expect(tmp_path, good[:2] + [duplicate] + good[3:], 3, "seq", "appears twice in one object")
    p = tmp_path / "empty.trace"
    p.write_text("")
    with pytest.raises(TraceError, match="empty file"):
        read_trace(p)
    p.write_bytes(b'{"type": "header"}\n\xff\n')
    with pytest.raises(TraceError, match=":2: not valid UTF-8"):
        read_trace(p)
    with pytest.raises(TraceError, match="cannot read: No such file"):
        read_trace(tmp_path / "missing.trace")


def test_a_second_evaluation_of_a_split_after_the_same_step(tmp_path, good):
    """A record holds one evaluation per step and split: a second one is refused (as cwrepro import
    does), naming the line of the first; another split, or the same one after another step, reads."""
    e = find(good, type="evaluation")
    lines = copy(good)
    lines.insert(e + 1, copy(good[e]))
    lines[-1]["evaluations"] = 2
    expect(tmp_path, lines, e + 2, "split", f'a second evaluation of split "test" after step 2 (the first is on line {e + 1}); '
                                            "a record holds one evaluation per step and split")
    lines[e + 1]["split"] = "val"
    assert [x["split"] for x in read_trace(write(tmp_path, lines)).evaluations] == ["test", "val"]
    lines = copy(good)
    s = find(good, type="step", step=1)
    lines.insert(s + 1, copy(good[e]) | {"step": 1})
    lines[-1]["evaluations"] = 2
    assert [x["step"] for x in read_trace(write(tmp_path, lines)).evaluations] == [1, 2]
