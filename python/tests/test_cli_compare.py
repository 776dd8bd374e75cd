"""Real torch captures through the real cwrepro binary (issue 13, Done means 3 and 4): `cwrepro
import` of a trace, `cwrepro compare` of two captures (identical; a learning-rate change named at
step 0 and the first parameter), and `cwrepro verify --record` against a golden written by
`cwrepro hashes` from an imported capture (exit 0 for the same script, exit 1, a JUnit failure and
the first divergent tensor for a changed one)."""

import json
import subprocess

import pytest
import torch

from records import cwrepro_binary
from torch_runs import cnn, train

pytestmark = pytest.mark.skipif(cwrepro_binary() is None, reason="the cwrepro binary is not built (swift build); "
                                "these tests run its import, compare and verify commands")


def cwrepro(*args, expect=0):
    r = subprocess.run([cwrepro_binary(), *map(str, args)], capture_output=True, text=True)
    assert r.returncode == expect, f"cwrepro {' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def adam(lr):
    return lambda p: torch.optim.Adam(p, lr=lr)


def capture(path, lr=0.01, steps=8):
    """A real torch run of the CNN with BatchNorm at level grads, imported; returns the record's path."""
    train(path, model_fn=cnn, opt_fn=adam(lr), steps=steps)
    cwr = path.with_suffix(".cwr")
    cwrepro("import", path, "-o", cwr)
    return cwr


def compare(a, b, expect):
    return json.loads(cwrepro("compare", a, b, "--json", expect=expect).stdout)


def test_two_captures_of_the_same_script_compare_identical(tmp_path):
    a, b = capture(tmp_path / "a.trace"), capture(tmp_path / "b.trace")
    report = compare(a, b, expect=0)
    assert report["verdict"] == "identical"
    assert report["firstDivergence"] is None
    assert report["onlyInA"] == [] and report["onlyInB"] == []
    # A trace compares with its own import like two records.
    assert compare(tmp_path / "a.trace", b, expect=0)["verdict"] == "identical"


def test_a_learning_rate_change_diverges_at_step_0_at_the_first_parameter(tmp_path):
    a, b = capture(tmp_path / "a.trace"), capture(tmp_path / "b.trace", lr=0.02)
    report = compare(a, b, expect=1)
    assert report["verdict"] == "diverged"
    # Batch, loss and gradients of step 0 are computed before the update: the first tensor that
    # differs is the first parameter the optimizer wrote.
    assert report["firstDivergence"] == {"step": 0, "tensor": "0.weight", "role": "param"}


def test_verify_record_passes_for_the_same_script_and_fails_for_a_changed_one(tmp_path):
    golden_run = capture(tmp_path / "golden.trace")
    golden = tmp_path / "steps.hashes"
    cwrepro("hashes", "--tensors", golden_run, "-o", golden)

    same = capture(tmp_path / "same.trace")
    ok = cwrepro("verify", "--record", same, "--golden", golden, "--junit", tmp_path / "ok.xml")
    assert "PASS: 9 of 9 steps (init + 8 training steps) and 1 evaluation identical" in ok.stdout
    assert 'failures="0"' in (tmp_path / "ok.xml").read_text()

    changed = capture(tmp_path / "changed.trace", lr=0.02)
    bad = cwrepro("verify", "--record", changed, "--golden", golden, "--junit", tmp_path / "bad.xml", "--json", expect=1)
    report = json.loads(bad.stdout)
    assert report["firstMismatch"]["step"] == 0
    assert (report["firstDivergence"]["name"], report["firstDivergence"]["role"]) == ("0.weight", "param")
    junit = (tmp_path / "bad.xml").read_text()
    assert 'failures="1"' in junit and "step 0 differs from the golden" in junit


def test_the_ci_example_golden_verifies_a_fresh_run_of_its_script(tmp_path):
    """examples/ci/pytorch-workflow.yml, its steps as the job runs them: the committed golden
    examples/ci/torch-cnn.hashes (captured with torch's, oneDNN's and MKL's AVX2 kernels, as the
    workflow pins them)
    verifies a fresh capture of examples/port/torch_cnn.py, and the capture is within tolerance of
    cwrepro's record of the exported config."""
    import os
    import sys
    from conftest import _cpu_flags
    from records import ROOT
    if "avx2" not in _cpu_flags():
        pytest.skip("the golden was captured with torch's AVX2 kernels; this CPU has no AVX2")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2", MKL_ENABLE_INSTRUCTIONS="AVX2",
               PYTHONPATH=os.path.join(ROOT, "python"))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "port", "torch_cnn.py"), "--out", out, "--steps", "45"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    cwrepro("import", out / "torch.trace", "-o", out / "torch.cwr")
    ok = cwrepro("verify", "--record", out / "torch.cwr", "--golden", os.path.join(ROOT, "examples", "ci", "torch-cnn.hashes"))
    assert "PASS: 46 of 46 steps (init + 45 training steps) and 1 evaluation identical" in ok.stdout
    cwrepro("record", out / "train.json", "-o", out / "cwrepro.cwr")
    assert compare(out / "torch.trace", out / "cwrepro.cwr", expect=0)["verdict"] == "within-tolerance"
