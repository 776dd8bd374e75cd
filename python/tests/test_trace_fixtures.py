"""The committed traces of real runs (testdata/traces, written by python/tools/make_traces.py)
are valid and say what testdata/traces/README.md says they say."""

import json
import os

import numpy as np
import pytest

from conftest import TESTDATA, float32_ulps
from cwrepro.reader import read_trace

TRACES = os.path.join(TESTDATA, "traces")


def trace(name):
    return read_trace(os.path.join(TRACES, name + ".trace.gz"))


def reference(case, framework):
    with open(os.path.join(TESTDATA, "reference", case, framework + ".json")) as f:
        return json.load(f)


def first_divergence(a, b):
    for sa, sb in zip(a.steps, b.steps):
        assert [(x.name, x.role) for x in sa.tensors] == [(x.name, x.role) for x in sb.tensors]
        for x, y in zip(sa.tensors, sb.tensors):
            if x.hash != y.hash:
                return sa.step, x.name, x.role
    return None


@pytest.mark.parametrize("name", ["mlp-digits-sgd.torch", "mlp-digits-sgd.keras", "mlp-digits-sgd.torch-threads2",
                                  "mlp-digits-sgd.torch-avx2", "cnn-digits-bn-adam.torch", "cnn-digits-bn-adam.keras",
                                  "cnn-digits-bn-adam.torch-threads2"])
def test_fixture_is_a_complete_valid_trace(name):
    t = trace(name)
    assert t.complete and t.header["level"] == "grads" and t.header["keepTensors"] == 1
    assert all(x.values is not None for x in t.init.tensors)
    assert len(t.evaluations) == 1 and t.evaluations[0]["total"] == 360


@pytest.mark.parametrize("case, framework, steps", [("mlp-digits-sgd", "torch", 50), ("mlp-digits-sgd", "keras", 50),
                                                    ("cnn-digits-bn-adam", "torch", 100)])
def test_fixture_losses_are_the_real_frameworks_reference_losses(case, framework, steps):
    t, ref = trace(f"{case}.{framework}"), reference(case, framework)
    assert len(t.training_steps) == steps
    assert [s.loss_bits for s in t.training_steps] == [r["lossHex"] for r in ref["steps"]]
    assert t.evaluations[0]["predictions"] == ref["testPredictions"]


@pytest.mark.parametrize("variant, case, expected, differing, max_ulps", [
    ("torch-threads2", "mlp-digits-sgd", (0, "3.weight", "grad"), 11, 1),
    ("torch-threads2", "cnn-digits-bn-adam", (0, "0.weight", "grad"), 30, 2),
    ("torch-avx2", "mlp-digits-sgd", (0, "1.weight", "grad"), 12, 2),
])
def test_real_hardware_nondeterminism_in_the_fixtures(variant, case, expected, differing, max_ulps):
    base, other = trace(f"{case}.torch"), trace(f"{case}.{variant}")
    assert first_divergence(other, base) == expected
    pairs = list(zip(other.training_steps, base.training_steps))
    assert sum(a.loss_bits != b.loss_bits for a, b in pairs) == differing
    assert max(float32_ulps(a.loss32, b.loss32) for a, b in pairs) == max_ulps
    assert other.evaluations[0]["predictions"] == base.evaluations[0]["predictions"]


def test_torch_and_keras_mlp_fixtures_line_up():
    t, k = trace("mlp-digits-sgd.torch"), trace("mlp-digits-sgd.keras")
    assert t.header["model"]["layers"] == k.header["model"]["layers"]
    assert [x.hash for x in t.init.tensors] == [x.hash for x in k.init.tensors]
    assert first_divergence(k, t) == (0, "loss", "loss")
    for a, b in zip(k.training_steps, t.training_steps):
        assert [x.hash for x in a.tensors if x.role == "batch"] == [x.hash for x in b.tensors if x.role == "batch"]
        assert float32_ulps(a.loss32, b.loss32) <= 2


def test_torch_and_keras_cnn_fixtures_share_names_not_formulas():
    t, k = trace("cnn-digits-bn-adam.torch"), trace("cnn-digits-bn-adam.keras")
    for a, b in zip(k.steps, t.steps):
        assert [(x.name, x.role, x.shape) for x in a.tensors] == [(x.name, x.role, x.shape) for x in b.tensors]
    bn = [l for l in k.header["model"]["layers"] if l["type"] == "batchnorm"]
    assert bn == [{"type": "batchnorm", "momentum": 0.01, "epsilon": 0.001, "runningVariance": "biased"}] * 2
    assert k.evaluations[0]["correct"] == 66 and t.evaluations[0]["correct"] == 243
    # The same weights and batch: the first forward pass agrees to rounding (BatchNorm epsilon 1e-3
    # vs 1e-5 is the only difference in it).
    assert np.isclose(float(k.training_steps[0].loss32), float(t.training_steps[0].loss32), rtol=1e-3)
