"""Every bad input to cwrepro.torch.Capture raises a clear exception naming what is wrong."""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cwrepro.errors import CaptureClosedError, CaptureError, ShapeMismatchError, UnsupportedModelError
from cwrepro.reader import read_trace
from cwrepro.torch import Capture
from torch_runs import DIGITS, mlp


def one_step(model, opt, cap, n=8):
    x, y = torch.from_numpy(DIGITS[0][:n]), torch.from_numpy(DIGITS[1][:n])
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    cap.step(loss, batch=(x, y))
    return x, y, loss


def sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.1)


def test_unsupported_module_names_it_and_what_is_supported(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.GELU(), nn.Linear(32, 10))
    with pytest.raises(UnsupportedModelError) as e:
        Capture(tmp_path / "t.trace", model, sgd(model))
    msg = str(e.value)
    assert "module 2 (GELU(approximate='none')): GELU has no cwrepro layer" in msg
    assert "supported: nn.Flatten, nn.Linear, nn.Conv2d" in msg and "strict=False" in msg


@pytest.mark.parametrize("module, why", [
    (nn.Conv2d(1, 4, 3, dilation=2), "dilation (2, 2); cwrepro convolutions have no dilation"),
    (nn.Conv2d(2, 4, 3, groups=2), "groups=2"),
    (nn.BatchNorm2d(1, momentum=None), "momentum=None (a cumulative average)"),
    (nn.BatchNorm2d(1, affine=False), "affine=False"),
    (nn.MaxPool2d(2, ceil_mode=True), "ceil_mode=True"),
    (nn.AdaptiveAvgPool2d(2), "only output size 1"),
    (nn.Flatten(0), "Flatten(start_dim=0, end_dim=-1)"),
])
def test_unmappable_module_settings(tmp_path, module, why):
    model = nn.Sequential(module, nn.Flatten(), nn.LazyLinear(10))
    with pytest.raises(UnsupportedModelError, match="module 0 .*" + why.replace("(", r"\(").replace(")", r"\)")):
        Capture(tmp_path / "t.trace", model, torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1), level="params")


def test_adaptive_pool_without_flatten_is_refused(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 10, 1))
    with pytest.raises(UnsupportedModelError, match="only when nn.Flatten\\(\\) follows it"):
        Capture(tmp_path / "t.trace", model, sgd(model))


def test_non_sequential_model_needs_strict_false_and_then_has_no_layer_list(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = mlp()

        def forward(self, x):
            return self.body(x)

    model = Net()
    with pytest.raises(UnsupportedModelError, match="the model is a Net, not an nn.Sequential"):
        Capture(tmp_path / "t.trace", model, sgd(model))
    opt = sgd(model)
    with Capture(tmp_path / "t.trace", model, opt, strict=False) as cap:
        one_step(model, opt, cap)
    t = read_trace(tmp_path / "t.trace")
    assert t.header["model"]["layers"] is None and "not an nn.Sequential" in t.header["model"]["note"]
    assert [p["name"] for p in t.header["model"]["parameters"]] == ["body.1.weight", "body.1.bias", "body.3.weight", "body.3.bias"]


def test_wrong_level_and_arguments(tmp_path):
    model = mlp()
    with pytest.raises(ValueError, match="level 'weights': expected one of 'params', 'grads', 'activations'"):
        Capture(tmp_path / "t.trace", model, sgd(model), level="weights")
    with pytest.raises(TypeError, match="optimizer: expected a torch.optim.Optimizer, got NoneType"):
        Capture(tmp_path / "t.trace", model, None)
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        Capture(tmp_path / "t.trace", "mlp", sgd(model))
    with pytest.raises(ValueError, match="keep_tensors: -2"):
        Capture(tmp_path / "t.trace", model, sgd(model), keep_tensors=-2)
    with pytest.raises(ValueError, match="seed -1"):
        Capture(tmp_path / "t.trace", model, sgd(model), seed=-1)
    # torch.seed() gives 64-bit seeds: refused at the call, not written for `cwrepro import` to refuse.
    with pytest.raises(ValueError, match=r"seed 9223372036854775813: out of range; .* up to 2\*\*53 - 1"):
        Capture(tmp_path / "t.trace", model, sgd(model), seed=2**63 + 5)
    assert not (tmp_path / "t.trace").exists()
    with Capture(tmp_path / "ok.trace", model, sgd(model), seed=2**53 - 1):
        pass


def test_unsupported_optimizer_at_grads_but_fine_at_params(tmp_path):
    model = mlp()
    opt = torch.optim.Adagrad(model.parameters(), lr=0.1)
    with pytest.raises(UnsupportedModelError, match="optimizer torch.optim.adagrad.Adagrad: .*capture at level='params'"):
        Capture(tmp_path / "t.trace", model, opt)
    with Capture(tmp_path / "t.trace", model, opt, level="params") as cap:
        one_step(model, opt, cap)
    t = read_trace(tmp_path / "t.trace")
    assert t.header["optimizer"]["config"] is None and t.header["optimizer"]["stateNames"] == []


def test_mismatched_shapes(tmp_path):
    model = mlp()
    opt = sgd(model)
    cap = Capture(tmp_path / "t.trace", model, opt)
    x, y = torch.from_numpy(DIGITS[0][:8]), torch.from_numpy(DIGITS[1][:8])
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    with pytest.raises(ShapeMismatchError, match=r"batch: x has shape \[8, 1, 8, 8\] and y \[7\]"):
        cap.step(loss, batch=(x, y[:7]))
    with pytest.raises(ShapeMismatchError, match="batch: expected \\(x, y\\)"):
        cap.step(loss, batch=x)
    with pytest.raises(ShapeMismatchError, match="batch.y: class labels must be integers"):
        cap.step(loss, batch=(x, y.float()))
    with pytest.raises(ShapeMismatchError, match=r"loss: expected a scalar, got shape \[8\]"):
        cap.step(F.cross_entropy(model(x), y, reduction="none"), batch=(x, y))
    with pytest.raises(ShapeMismatchError, match=r"evaluate: 360 samples in x, y has shape \[10\]"):
        cap.evaluate(model, DIGITS[2], DIGITS[3][:10])
    with pytest.raises(ShapeMismatchError, match=r"labels 0\.\.10 outside the model's 10 classes"):
        cap.evaluate(model, DIGITS[2][:2], np.array([0, 10]))
    cap.step(loss, batch=(x, y))  # the failed calls wrote nothing
    cap.close()
    t = read_trace(tmp_path / "t.trace")
    assert len(t.training_steps) == 1 and t.evaluations == []


def test_step_without_optimizer_step(tmp_path):
    model = mlp()
    opt = sgd(model)
    with Capture(tmp_path / "t.trace", model, opt) as cap:
        x, y, loss = one_step(model, opt, cap)
        with pytest.raises(CaptureError, match="step 1: optimizer.step\\(\\) was not called since the last cap.step"):
            cap.step(loss, batch=(x, y))


def test_closed_capture(tmp_path):
    model = mlp()
    opt = sgd(model)
    cap = Capture(tmp_path / "t.trace", model, opt, name="closed-run")
    x, y, loss = one_step(model, opt, cap)
    cap.close()
    cap.close()  # idempotent
    opt.step()  # the hook is removed: nothing happens
    with pytest.raises(CaptureClosedError, match="step: the capture 'closed-run' .* is closed"):
        cap.step(loss, batch=(x, y))
    with pytest.raises(CaptureClosedError, match="evaluate: the capture 'closed-run'"):
        cap.evaluate(model, DIGITS[2], DIGITS[3])
    assert read_trace(tmp_path / "t.trace").complete


def test_exception_inside_the_context_marks_the_trace_failed(tmp_path):
    model = mlp()
    opt = sgd(model)
    with pytest.raises(RuntimeError, match="boom"):
        with Capture(tmp_path / "t.trace", model, opt) as cap:
            one_step(model, opt, cap)
            raise RuntimeError("boom")
    t = read_trace(tmp_path / "t.trace")
    assert not t.complete and t.end["status"] == "failed" and t.end["error"] == "RuntimeError: boom"
    assert len(t.training_steps) == 1


def test_activations_refuse_inplace_modules_and_need_a_training_forward(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU(inplace=True))
    with pytest.raises(UnsupportedModelError, match="module 2 \\(ReLU\\(inplace=True\\)\\) works in place.*inplace=False"):
        Capture(tmp_path / "t.trace", model, sgd(model), level="activations")
    model = mlp()
    opt = sgd(model)
    with Capture(tmp_path / "t.trace", model, opt, level="activations") as cap:
        x, y = torch.from_numpy(DIGITS[0][:8]), torch.from_numpy(DIGITS[1][:8])
        model.eval()
        loss = F.cross_entropy(model(x), y)
        with pytest.warns(UserWarning, match="no inputs require gradients"):  # torch's, about this misuse
            loss.backward()
        opt.step()
        with pytest.raises(CaptureError, match="level activations saw no training-mode forward pass"):
            cap.step(loss, batch=(x, y))


def test_labels_out_of_int32_range(tmp_path):
    model = mlp()
    opt = sgd(model)
    with Capture(tmp_path / "t.trace", model, opt) as cap:
        x = torch.from_numpy(DIGITS[0][:2])
        loss = F.cross_entropy(model(x), torch.tensor([0, 1]))
        loss.backward()
        opt.step()
        with pytest.raises(ValueError, match=r"batch.y: values 0\.\.4294967296 do not fit i32"):
            cap.step(loss, batch=(x, torch.tensor([0, 2 ** 32])))


def test_evaluate_refuses_what_a_trace_cannot_hold_before_running_the_model(tmp_path):
    """One evaluation per step and split (cwrepro import refuses a second), a non-empty split and a
    positive batch_size (None: all at once) are checked when evaluate is called; nothing is
    written for a refused call."""
    model = mlp()
    opt = sgd(model)
    xte, yte = DIGITS[2][:50], DIGITS[3][:50]
    with Capture(tmp_path / "t.trace", model, opt) as cap:
        one_step(model, opt, cap)
        cap.evaluate(model, xte, yte)
        with pytest.raises(CaptureError, match="split 'test' was already evaluated after step 0; a trace holds one evaluation "
                                               "per step and split: evaluate it again after another training step, or name"):
            cap.evaluate(model, xte, yte)
        with pytest.raises(CaptureError, match="split ''; expected a non-empty string"):
            cap.evaluate(model, xte, yte, split="")
        for bad in (0, -1, 2.5, True):
            with pytest.raises(ValueError, match=f"batch_size {bad!r}: expected a positive integer .* or None \\(all at once\\)"):
                cap.evaluate(model, xte, yte, split="val", batch_size=bad)
        cap.evaluate(model, xte, yte, split="val", batch_size=7)
        one_step(model, opt, cap)
        cap.evaluate(model, xte, yte)
    t = read_trace(tmp_path / "t.trace")
    assert t.complete and [(e["step"], e["split"]) for e in t.evaluations] == [(0, "test"), (0, "val"), (1, "test")]
    assert t.evaluations[1]["predictions"] == t.evaluations[0]["predictions"]


def test_a_refused_step_leaves_nothing_behind(tmp_path):
    """A step refused at cap.step (a non-finite or negative lr) keeps none of its tensors: the same
    call with a good lr, and every later step, are captured as if it had not happened."""
    model = mlp()
    opt = sgd(model)
    with Capture(tmp_path / "t.trace", model, opt) as cap:
        x, y = torch.from_numpy(DIGITS[0][:8]), torch.from_numpy(DIGITS[1][:8])
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        with pytest.raises(CaptureError, match="step 0: learning rate nan is not finite"):
            cap.step(loss, batch=(x, y), lr=float("nan"))
        with pytest.raises(CaptureError, match="step 0: learning rate -0.1 is negative"):
            cap.step(loss, batch=(x, y), lr=-0.1, epoch=3)
        cap.step(loss, batch=(x, y))
        one_step(model, opt, cap)
    t = read_trace(tmp_path / "t.trace")
    assert t.complete and [s.lr for s in t.training_steps] == [0.1, 0.1]
    assert [s.epoch for s in t.training_steps] == [0, 0], "the refused call's epoch=3 was not kept"
    assert [len(s.tensors) for s in t.training_steps] == [2 + 1 + 4 + 4] * 2


def test_path_must_name_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = mlp()
    for bad in (None, "", b"t.trace", 3):
        with pytest.raises(TypeError, match=f"path {bad!r}: expected the trace file to write as a non-empty str or os.PathLike"):
            Capture(bad, model, sgd(model))
    assert os.listdir(tmp_path) == [], "no file named None (or anything else) written"


def hooks(model, opt):
    """Every hook a capture may register: the optimizer's step pre-hooks, the model's forward
    pre-hooks, and forward and backward hooks on the model and its modules."""
    ms = [model, *model.children()]
    return (len(opt._optimizer_step_pre_hooks) + len(model._forward_pre_hooks) +
            sum(len(m._forward_hooks) + len(m._backward_hooks) for m in ms))


@pytest.mark.parametrize("why, make, args", [
    ("unwritable path", mlp, {"path": "missing-dir/t.trace"}),
    ("bad keep_tensors", mlp, {"keep_tensors": -5}),
    ("in-place module", lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU(inplace=True)), {}),
])
def test_a_failed_constructor_leaves_no_hooks(tmp_path, why, make, args):
    model = make()
    opt = sgd(model)
    path = tmp_path / args.pop("path", "t.trace")
    with pytest.raises((OSError, ValueError)):
        Capture(path, model, opt, level="activations", **args)
    assert hooks(model, opt) == 0, why
    model = mlp()
    opt = sgd(model)
    with Capture(tmp_path / "ok.trace", model, opt, level="activations"):  # what hooks() counts, while a capture is open
        assert hooks(model, opt) == 1 + 1 + 2 * len(model)
    assert hooks(model, opt) == 0
