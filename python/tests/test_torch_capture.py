"""cwrepro.torch.Capture on real torch training runs: names, roles and order as cwrepro records
them, at every level; stored values; determinism of two captures; evaluations."""

import json
import math
import warnings

import numpy as np
import pytest
import torch

from cwrepro import safetensors
from cwrepro.hashing import DType, tensor_hash
from cwrepro.reader import read_trace
from torch_runs import DIGITS, cnn, mlp, train

MLP_PARAMS = ["1.weight", "1.bias", "3.weight", "3.bias"]


def names(step):
    return [(t.name, t.role) for t in step.tensors]


def test_mlp_every_level_names_roles_and_order_as_cwrepro(tmp_path):
    expected_common_head = [("batch.x", "batch"), ("batch.y", "batch")]
    params = [(n, "param") for n in MLP_PARAMS]
    grads = [(n, "grad") for n in MLP_PARAMS]
    states = [(n + ".momentum_buffer", "optimizer-state") for n in MLP_PARAMS]
    outputs = [(f"{i}.output", "activation") for i in range(4)]
    grad_inputs = [(f"{i}.grad_input", "activation") for i in (3, 2, 1, 0)]
    expected = {
        "params": expected_common_head + [("loss", "loss")] + params,
        "grads": expected_common_head + [("loss", "loss")] + grads + params + states,
        "activations": expected_common_head + outputs + [("loss", "loss")] + grad_inputs + grads + params + states,
    }
    losses = {}
    for level in ("params", "grads", "activations"):
        path = tmp_path / f"{level}.trace"
        train(path, level=level, steps=6)
        t = read_trace(path)  # validates every line, digest and hash
        assert t.complete and t.header["level"] == level
        assert names(t.init) == params
        assert [s.step for s in t.steps] == [-1, 0, 1, 2, 3, 4, 5]
        for s in t.training_steps:
            assert names(s) == expected[level]
        shapes = {t_.name + "/" + t_.role: t_.shape for t_ in t.training_steps[0].tensors}
        assert shapes["batch.x/batch"] == [32, 1, 8, 8] and shapes["batch.y/batch"] == [32]
        assert shapes["loss/loss"] == []
        if level == "activations":
            assert shapes["0.output/activation"] == [32, 64] and shapes["3.output/activation"] == [32, 10]
            assert shapes["0.grad_input/activation"] == [32, 1, 8, 8] and shapes["1.grad_input/activation"] == [32, 64]
        assert t.header["model"]["layers"] == [{"type": "flatten"}, {"type": "dense", "units": 32, "bias": True}, {"type": "relu"},
                                               {"type": "dense", "units": 10, "bias": True}]
        assert t.header["optimizer"]["config"] == {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False, "weightDecay": 0.0}
        losses[level] = [s.loss_bits for s in t.training_steps]
    # Hooks observe; they do not change the numbers.
    assert losses["params"] == losses["grads"] == losses["activations"]


def test_captured_values_are_the_models_tensors(tmp_path):
    path = tmp_path / "run.trace"
    model, _ = train(path, steps=3, keep_tensors=-1, evaluate=False)
    t = read_trace(path)
    last = {(x.name, x.role): x for x in t.training_steps[-1].tensors}
    for name, value in model.state_dict().items():
        x = last[(name, "param")]
        assert np.array_equal(x.values, value.numpy()), name
        assert x.hash == tensor_hash(value.numpy())
    # The step's loss tensor is the step line's float32 loss.
    for s in t.training_steps:
        loss_tensor = next(x for x in s.tensors if x.role == "loss")
        assert loss_tensor.values.reshape(()).view(np.uint32) == np.uint32(int(s.loss_bits, 16))
    # batch.y is int32 although torch's labels are int64.
    y = next(x for x in t.training_steps[0].tensors if x.name == "batch.y")
    assert y.dtype == "i32" and y.values.dtype == np.int32


def test_keep_tensors_stores_values_for_init_and_the_first_steps(tmp_path):
    path = tmp_path / "run.trace"
    train(path, steps=4, keep_tensors=2, evaluate=False)
    t = read_trace(path)
    kept = [all(x.values is not None for x in s.tensors) for s in t.steps]
    none = [all(x.values is None for x in s.tensors) for s in t.steps]
    assert kept[:2] == [True, True] and none[2:] == [True, True, True]


def test_grads_are_taken_when_the_optimizer_steps(tmp_path):
    """zero_grad() between optimizer.step() and cap.step() does not erase the captured gradients."""
    torch.manual_seed(3)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xtr, ytr = DIGITS[0], DIGITS[1]
    x, y = torch.from_numpy(xtr[:32]), torch.from_numpy(ytr[:32])
    from cwrepro.torch import Capture
    with Capture(tmp_path / "a.trace", model, opt, keep_tensors=-1) as cap:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        expected = model[1].weight.grad.clone()
        opt.step()
        opt.zero_grad()
        cap.step(loss, batch=(x, y))
    t = read_trace(tmp_path / "a.trace")
    g = next(x for x in t.training_steps[0].tensors if (x.name, x.role) == ("1.weight", "grad"))
    assert np.array_equal(g.values, expected.numpy())


def test_two_captures_of_the_same_seeded_script_are_identical(tmp_path):
    for level in ("grads", "activations"):
        a, b = tmp_path / f"a-{level}.trace", tmp_path / f"b-{level}.trace"
        train(a, level=level, steps=10, model_fn=cnn, opt_fn=lambda p: torch.optim.Adam(p, lr=0.01))
        train(b, level=level, steps=10, model_fn=cnn, opt_fn=lambda p: torch.optim.Adam(p, lr=0.01))
        ta, tb = read_trace(a), read_trace(b)
        assert [(s.step, s.digest, s.loss_bits) for s in ta.steps] == [(s.step, s.digest, s.loss_bits) for s in tb.steps]
        assert [[(x.name, x.role, x.hash) for x in s.tensors] for s in ta.steps] == \
               [[(x.name, x.role, x.hash) for x in s.tensors] for s in tb.steps]
        assert ta.evaluations[0]["predictionsHash"] == tb.evaluations[0]["predictionsHash"]
    # Another seed: the initial parameters, and so the first digest, differ.
    c = tmp_path / "c.trace"
    train(c, level="grads", steps=2, model_fn=cnn, opt_fn=lambda p: torch.optim.Adam(p, lr=0.01), seed=1)
    assert read_trace(c).init.digest != ta.init.digest


def test_cnn_with_batchnorm_names_layers_and_adam_state(tmp_path):
    path = tmp_path / "cnn.trace"
    train(path, model_fn=cnn, opt_fn=lambda p: torch.optim.Adam(p, lr=0.01, eps=0.01), level="activations", steps=4)
    t = read_trace(path)
    assert t.header["model"]["layers"] == [
        {"type": "conv2d", "filters": 8, "kernel": 3, "stride": 1, "padding": 1, "bias": False},
        {"type": "batchnorm", "momentum": 0.1, "epsilon": 1e-05, "runningVariance": "unbiased"},
        {"type": "relu"},
        {"type": "maxpool", "size": 2, "stride": 2, "padding": 0},
        {"type": "conv2d", "filters": 16, "kernel": 3, "stride": 1, "padding": 1, "bias": False},
        {"type": "batchnorm", "momentum": 0.1, "epsilon": 1e-05, "runningVariance": "unbiased"},
        {"type": "relu"},
        {"type": "globalavgpool"},
        {"type": "dense", "units": 10, "bias": True}]
    params = [p["name"] for p in t.header["model"]["parameters"]]
    assert params == ["0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "4.weight", "5.weight", "5.bias",
                      "5.running_mean", "5.running_var", "8.weight", "8.bias"]
    trainable = [p["name"] for p in t.header["model"]["parameters"] if p["trainable"]]
    step = t.training_steps[0]
    grads = [x.name for x in step.tensors if x.role == "grad"]
    states = [x.name for x in step.tensors if x.role == "optimizer-state"]
    assert grads == trainable
    assert states == [n + ".exp_avg" for n in trainable] + [n + ".exp_avg_sq" for n in trainable]
    assert [x.name for x in step.tensors if x.role == "param"] == params
    shapes = {x.name: x.shape for x in step.tensors if x.role == "activation"}
    assert shapes["0.output"] == [32, 8, 8, 8] and shapes["3.output"] == [32, 8, 4, 4] and shapes["7.output"] == [32, 16]
    assert shapes["8.grad_input"] == [32, 16] and shapes["0.grad_input"] == [32, 1, 8, 8]
    assert t.header["optimizer"]["config"] == {"type": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 0.01,
                                               "weightDecay": 0.0}


def test_adaptive_avg_pool_then_flatten_is_cwrepro_globalavgpool(tmp_path):
    def model():
        return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                   torch.nn.Linear(4, 10))
    path = tmp_path / "gap.trace"
    train(path, model_fn=model, level="activations", steps=2, evaluate=False)
    t = read_trace(path)
    assert [layer["type"] for layer in t.header["model"]["layers"]] == ["conv2d", "relu", "globalavgpool", "flatten", "dense"]
    shapes = {x.name: x.shape for x in t.training_steps[0].tensors if x.role == "activation"}
    assert shapes["2.output"] == [32, 4] and shapes["3.output"] == [32, 4]
    assert shapes["3.grad_input"] == [32, 4] and shapes["2.grad_input"] == [32, 4, 6, 6]


def test_evaluation_matches_a_direct_computation(tmp_path):
    path = tmp_path / "run.trace"
    model, _ = train(path, steps=20)
    e = read_trace(path).evaluations[0]
    xte, yte = DIGITS[2], DIGITS[3]
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(xte))
    preds = logits.argmax(1).numpy().astype(np.int32)
    assert e["predictions"] == preds.tolist()
    assert e["correct"] == int((preds == yte).sum()) and e["total"] == 360
    assert e["accuracy"] == e["correct"] / 360
    assert e["predictionsHash"] == f"{tensor_hash(preds, DType.I32):016x}"
    assert e["perClassTotal"] == np.bincount(yte, minlength=10).tolist()
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(yte))
    assert e["lossBits"] == f"{np.float32(loss.item()).view(np.uint32):08x}"
    assert e["step"] == 19 and e["epoch"] == 0
    assert math.isclose(sum(e["perClassAccuracy"][k] * e["perClassTotal"][k] for k in range(10)), e["correct"])


def test_evaluate_restores_training_mode_and_works_on_numpy(tmp_path):
    torch.manual_seed(0)
    model, opt = cnn(), None
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    from cwrepro.torch import Capture
    with Capture(tmp_path / "e.trace", model, opt, level="params") as cap:
        e = cap.evaluate(model, DIGITS[2], DIGITS[3], batch_size=100)
        assert model.training
        assert e["step"] == -1 and e["total"] == 360
    assert read_trace(tmp_path / "e.trace").evaluations[0]["predictions"] == e["predictions"]


def test_safetensors_round_trip(tmp_path):
    tensors = {"1.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "labels": np.array([1, 2], np.int32)}
    safetensors.save(tmp_path / "w.safetensors", tensors)
    back = safetensors.load(tmp_path / "w.safetensors")
    assert list(back) == ["1.weight", "labels"]
    assert all(np.array_equal(back[k], v) and back[k].dtype == v.dtype for k, v in tensors.items())


def test_safetensors_refuses_corrupt_files_and_non_string_metadata(tmp_path):
    """A corrupt or truncated file is a ValueError naming the file and what is wrong (not a JSON or
    reshape error); metadata must map strings to strings, as the format requires."""
    path = tmp_path / "w.safetensors"
    with pytest.raises(TypeError, match=r"metadata\['n'\] = 3: safetensors metadata maps strings to strings"):
        safetensors.save(path, {"a": np.zeros(2, np.float32)}, metadata={"n": 3})
    assert not path.exists()
    safetensors.save(path, {"a": np.arange(4, dtype=np.float32)}, metadata={"n": "3"})
    good = path.read_bytes()
    body = np.arange(4, dtype=np.float32).tobytes()

    def file(header) -> bytes:
        h = (header if isinstance(header, bytes) else json.dumps(header).encode())
        return len(h).to_bytes(8, "little") + h + body

    def corrupt(data, what):
        path.write_bytes(data)
        with pytest.raises(ValueError, match=f"^{path}: {what}.*not a valid safetensors file"):
            safetensors.load(path)

    def a(**info):
        return {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16], **info}}

    assert np.array_equal(safetensors.load(path)["a"], np.arange(4))  # metadata of strings: fine
    corrupt(good[:5], "5 bytes, shorter than the 8-byte header length")
    corrupt(good[:8], "header length 80 exceeds the file size 8")
    corrupt(file(b"not json"), r"the header is not valid JSON \(Expecting value at character 0\)")
    corrupt(file([1, 2]), "the header is a JSON list, not an object of tensors")
    corrupt(file(a())[:-6], "tensor 'a' ends at byte 16 of the data, which holds 10 bytes")
    corrupt(file(a(shape=[5])), r"tensor 'a' of shape \[5\] and dtype F32 needs 20 bytes; data_offsets \[0, 16\] give 16")
    corrupt(file(a(shape=[-4])), r"tensor 'a' has shape \[-4\], not a list of non-negative integers")
    corrupt(file(a(data_offsets=[8])), r"tensor 'a' has data_offsets \[8\], not \[start, end\]")
    corrupt(file({"a": 3}), "tensor 'a' has no dtype")


def test_layer_lists_of_more_modules():
    from cwrepro.torch import model_layers
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 4, padding="same"), torch.nn.Tanh(), torch.nn.Conv2d(4, 4, (3, 1), stride=(2, 1), padding=(1, 0)),
        torch.nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False), torch.nn.Sigmoid(), torch.nn.Flatten(),
        torch.nn.Dropout(0.25), torch.nn.Linear(100, 8, bias=False), torch.nn.BatchNorm1d(8, momentum=0.2, eps=1e-3),
        torch.nn.Linear(8, 10))
    layers, note, _ = model_layers(model)
    assert note is None
    assert layers == [
        {"type": "conv2d", "filters": 4, "kernel": 4, "stride": 1, "padding": [1, 2, 1, 2], "bias": True},
        {"type": "tanh"},
        {"type": "conv2d", "filters": 4, "kernel": [3, 1], "stride": [2, 1], "padding": [1, 0], "bias": True},
        {"type": "avgpool", "size": 2, "stride": 1, "padding": 1, "countIncludePad": False},
        {"type": "sigmoid"},
        {"type": "flatten"},
        {"type": "dropout", "rate": 0.25},
        {"type": "dense", "units": 8, "bias": False},
        {"type": "batchnorm", "momentum": 0.2, "epsilon": 0.001, "runningVariance": "unbiased"},
        {"type": "dense", "units": 10, "bias": True}]
    # torch's "same" for an even kernel pads the extra row and column after, as written.
    x = torch.randn(2, 1, 8, 8)
    same = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 2, 1, 2)), model[0].weight, model[0].bias)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: "same" with an even kernel copies the input
        assert torch.equal(model[0](x), same)
