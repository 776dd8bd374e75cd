"""cwrepro.keras.Capture on real Keras runs: the reference MLP (bit for bit against real Keras,
names and layouts matching a torch capture of the same run), a conv model's layout conversion
checked against torch on identical weights, model.fit, and every bad input."""

import json
import os

import numpy as np
import pytest

from keras_runs import (XTE_NHWC, XTR, XTR_NHWC, YTE, YTR, keras, keras_mlp, load_reference_init, run_layers, tf,
                        train_keras)
import torch
import torch.nn.functional as F

from cwrepro import safetensors
from cwrepro.errors import CaptureClosedError, CaptureError, ShapeMismatchError, UnsupportedModelError
from cwrepro.keras import Capture, plan_model
from cwrepro.reader import read_trace
from conftest import float32_ulps, keras_reference_kernels
from torch_runs import REFERENCE, mlp, reference_order


def ulps(a, b):
    return abs(int(np.float32(a).view(np.int32)) - int(np.float32(b).view(np.int32)))


@pytest.fixture(scope="module")
def keras_reference(tmp_path_factory):
    model = keras_mlp()
    load_reference_init(model)
    path = tmp_path_factory.mktemp("keras") / "keras.trace"
    train_keras(path, model, keras.optimizers.SGD(learning_rate=0.1), level="activations", keep_tensors=-1)
    return read_trace(path)


@pytest.fixture(scope="module")
def torch_reference(tmp_path_factory):
    torch.set_num_threads(1)
    model = mlp()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in safetensors.load(os.path.join(REFERENCE, "init.safetensors")).items()})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    from cwrepro.torch import Capture as TorchCapture
    path = tmp_path_factory.mktemp("torch") / "torch.trace"
    with TorchCapture(path, model, opt, name="torch-run", level="activations", keep_tensors=-1, steps_per_epoch=45) as cap:
        for idx in reference_order():
            x, y = torch.from_numpy(XTR[idx]), torch.from_numpy(YTR[idx])
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            cap.step(loss, batch=(x, y))
        cap.evaluate(model, XTE_NHWC.transpose(0, 3, 1, 2).copy(), YTE)
    return read_trace(path)


def test_keras_mlp_equals_the_real_keras_reference_bit_for_bit(keras_reference):
    """Bit for bit with the AVX-512 oneDNN kernels the reference was made with; within 2 ulp per
    step with others (TensorFlow's own bits depend on the CPU's kernels)."""
    with open(os.path.join(REFERENCE, "keras.json")) as f:
        ref = json.load(f)
    t = keras_reference
    if keras_reference_kernels():
        assert [s.loss_bits for s in t.training_steps] == [r["lossHex"] for r in ref["steps"]]
    else:
        assert all(float32_ulps(s.loss32, r["loss"]) <= 2 for s, r in zip(t.training_steps, ref["steps"]))
    assert t.evaluations[-1]["predictions"] == ref["testPredictions"]
    assert t.header["framework"]["name"] == "keras"
    assert t.header["environment"]["keras.backend"] == "tensorflow"
    assert t.header["environment"]["tensorflow.op_determinism"] == "true"
    assert t.header["optimizer"]["config"] == {"type": "sgd", "lr": 0.1, "momentum": 0.0, "nesterov": False,
                                               "weightDecay": 0.0}  # the float32 0.1's shortest decimal, as export writes it


def test_keras_and_torch_captures_of_the_same_run_line_up_tensor_by_tensor(keras_reference, torch_reference):
    k, t = keras_reference, torch_reference
    assert k.header["model"]["layers"] == t.header["model"]["layers"]
    assert k.header["model"]["parameters"] == t.header["model"]["parameters"]
    assert len(k.steps) == len(t.steps) == 51
    for ks, ts in zip(k.steps, t.steps):
        assert [(x.name, x.role, x.dtype, x.shape) for x in ks.tensors] == [(x.name, x.role, x.dtype, x.shape) for x in ts.tensors]
    # Conversions are exact: identical inputs and initial weights hash identically.
    assert [x.hash for x in k.init.tensors] == [x.hash for x in t.init.tensors]
    for ks, ts in zip(k.training_steps, t.training_steps):
        kx = {(x.name, x.role): x for x in ks.tensors}
        for x in ts.tensors:
            if x.role == "batch" or x.name == "0.output":
                assert kx[(x.name, x.role)].hash == x.hash, (ts.step, x.name)
            else:
                # Different kernels, same function: values agree to float32 rounding.
                np.testing.assert_allclose(kx[(x.name, x.role)].values, x.values, rtol=1e-4, atol=2e-6,
                                           err_msg=f"step {ts.step} {x.name} {x.role}")
        assert ulps(ks.loss32, ts.loss32) <= 2
    assert k.evaluations[-1]["predictions"] == t.evaluations[-1]["predictions"]


def test_levels_do_not_change_the_numbers(tmp_path, keras_reference):
    for level in ("params", "grads"):
        model = keras_mlp()
        load_reference_init(model)
        train_keras(tmp_path / f"{level}.trace", model, keras.optimizers.SGD(learning_rate=0.1), level=level, steps=20,
                    evaluate=False)
        t = read_trace(tmp_path / f"{level}.trace")
        assert [s.loss_bits for s in t.training_steps] == [s.loss_bits for s in keras_reference.training_steps[:20]]
        want = {(x.name, x.role): x.hash for x in keras_reference.steps[20].tensors}
        assert all(want[(x.name, x.role)] == x.hash for x in t.steps[20].tensors)


def keras_cnn(seed=7):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, padding="same")(inp)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.AveragePooling2D(2, strides=1, padding="same")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-4)(h)
    h = keras.layers.Dropout(0.0)(h)
    model = keras.Model(inp, keras.layers.Dense(10)(h))
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):  # non-trivial statistics, to test their mapping
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
            layer.beta.assign(rng.uniform(-0.5, 0.5, n).astype(np.float32))
            layer.moving_mean.assign(rng.uniform(-0.2, 0.2, n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype(np.float32))
    return model


def test_conv_model_layer_list_and_layouts_against_torch(tmp_path):
    """A Keras conv model's converted layer list and weights, run by torch (run_layers), give the
    Keras model's outputs: every layer in training mode (from the capture's own step-0
    activations), the logits in inference mode, and the gradients."""
    model = keras_cnn()
    assert plan_model(model).layers == [
        {"type": "conv2d", "filters": 4, "kernel": 3, "stride": 1, "padding": 1, "bias": True},
        {"type": "batchnorm", "momentum": 0.01, "epsilon": 0.001, "runningVariance": "biased"},
        {"type": "relu"},
        {"type": "maxpool", "size": 2, "stride": 2, "padding": 0},
        {"type": "conv2d", "filters": 6, "kernel": 3, "stride": 2, "padding": [0, 1, 0, 1], "bias": True},
        {"type": "relu"},
        {"type": "avgpool", "size": 2, "stride": 1, "padding": [0, 1, 0, 1], "countIncludePad": False},
        {"type": "flatten"},
        {"type": "batchnorm", "momentum": 0.1, "epsilon": 0.0001, "runningVariance": "biased"},
        {"type": "dropout", "rate": 0.0},
        {"type": "dense", "units": 10, "bias": True}]
    inference = keras.ops.convert_to_numpy(model(XTE_NHWC, training=False))
    train_keras(tmp_path / "cnn.trace", model, keras.optimizers.SGD(learning_rate=0.05), level="activations", steps=1,
                keep_tensors=-1, evaluate=False)
    t = read_trace(tmp_path / "cnn.trace")
    layers = t.header["model"]["layers"]
    init = {x.name: x.values for x in t.init.tensors}
    assert init["0.weight"].shape == (4, 1, 3, 3) and init["10.weight"].shape == (10, 24) and init["8.running_var"].shape == (24,)
    step = {(x.name, x.role): x.values for x in t.training_steps[0].tensors}
    x_nchw = step[("batch.x", "batch")]
    assert np.array_equal(x_nchw, XTR[reference_order()[0]])
    # Inference mode: the converted model computes the Keras model's function.
    outs = run_layers(layers, init, XTE_NHWC.transpose(0, 3, 1, 2), training=False)
    np.testing.assert_allclose(outs[-1].numpy(), inference, rtol=1e-5, atol=1e-5)
    # Training mode, layer by layer (BatchNorm on batch statistics), and the gradients.
    params = {k: torch.tensor(v, requires_grad=not k.endswith(("running_mean", "running_var"))) for k, v in init.items()}
    outs = run_layers(layers, {k: v.detach().numpy() for k, v in params.items()}, x_nchw, training=True)
    for i, o in enumerate(outs):
        np.testing.assert_allclose(o.numpy(), step[(f"{i}.output", "activation")], rtol=1e-5, atol=1e-5, err_msg=f"{i}.output")
    h = torch.from_numpy(x_nchw)
    cancelling = {}
    logits = _torch_forward_with_grads(layers, params, h, cancelling)
    loss = F.cross_entropy(logits, torch.from_numpy(step[("batch.y", "batch")]).long())
    loss.backward()
    assert abs(loss.item() - float(t.training_steps[0].loss32)) < 1e-5
    assert set(cancelling) == {"0.bias"}
    for name, p in params.items():
        if p.grad is None:
            continue
        if name in cancelling:
            # A bias feeding BatchNorm (in training mode) has an exact gradient of 0: both sides hold
            # the rounding of a sum of batch*H*W terms that cancel, which differs with the CPU's
            # kernels (AVX2 against AVX-512). Bound each by float32 rounding of that sum instead:
            # sqrt(n) * eps * sum |terms| for n = 4,096 terms (batch 64, 8x8), the typical error of a
            # sequential float32 sum (seen: |grad| <= 6.3e-6 against a bound of 7e-5 to 1.1e-4).
            bound = np.sqrt(64 * 8 * 8) * np.finfo(np.float32).eps * cancelling[name].numpy()
            assert np.all(np.abs(p.grad.numpy()) <= bound), (name, p.grad, bound)
            assert np.all(np.abs(step[(name, "grad")]) <= bound), (name, step[(name, "grad")], bound)
        else:
            np.testing.assert_allclose(p.grad.numpy(), step[(name, "grad")], rtol=1e-4, atol=1e-6, err_msg=name)


def test_load_weights_inverts_the_conversion(tmp_path):
    """cwrepro-layout tensors loaded into a Keras model come back identical through the capture's
    conversion (conv kernels, the flatten permutation of a dense kernel and of BatchNorm vectors)."""
    from cwrepro.keras import load_weights
    model = keras_cnn()
    plan = plan_model(model)
    rng = np.random.default_rng(0)
    tensors = {m.name: rng.standard_normal(m.shape).astype(np.float32) for m in plan.variables}
    load_weights(model, tensors)
    cap = Capture(tmp_path / "w.trace", model, keras.optimizers.SGD(), keep_tensors=1)
    cap.close()
    t = read_trace(tmp_path / "w.trace")
    assert {x.name: x.values.tolist() for x in t.init.tensors} == {k: v.tolist() for k, v in tensors.items()}
    with pytest.raises(ValueError, match="no tensor '10.bias'"):
        load_weights(model, {k: v for k, v in tensors.items() if k != "10.bias"})
    with pytest.raises(ValueError, match="tensor 'extra' matches no variable"):
        load_weights(model, {**tensors, "extra": np.zeros(1, np.float32)})
    with pytest.raises(ValueError, match=r"10.weight: shape \[24, 10\], expected \[10, 24\]"):
        load_weights(model, {**tensors, "10.weight": tensors["10.weight"].T})


def _torch_forward_with_grads(layers, params, h, cancelling=None):
    """run_layers with autograd through the parameters (dense, conv, batchnorm in training mode).
    `cancelling` receives, for each conv bias that feeds a BatchNorm, the per-channel sum of the
    absolute output gradients: the scale of the terms that cancel in that bias's gradient."""
    from keras_runs import _pads, _pair
    for i, spec in enumerate(layers):
        t = spec["type"]
        if t == "conv2d":
            top, bottom, left, right = _pads(spec["padding"])
            h = F.conv2d(F.pad(h, (left, right, top, bottom)), params[f"{i}.weight"], params[f"{i}.bias"], stride=_pair(spec["stride"]))
            if cancelling is not None and i + 1 < len(layers) and layers[i + 1]["type"] == "batchnorm":
                h.register_hook(lambda g, name=f"{i}.bias": cancelling.__setitem__(name, g.detach().abs().sum(dim=(0, 2, 3))))
        elif t == "batchnorm":
            h = F.batch_norm(h, None, None, params[f"{i}.weight"], params[f"{i}.bias"], training=True, eps=spec["epsilon"])
        elif t == "dense":
            h = F.linear(h, params[f"{i}.weight"], params[f"{i}.bias"])
        elif t == "relu":
            h = F.relu(h)
        elif t == "maxpool":
            h = F.max_pool2d(h, _pair(spec["size"]), _pair(spec["stride"]))
        elif t == "avgpool":
            top, bottom, left, right = _pads(spec["padding"])
            ones = torch.ones_like(h[:, :1])
            k, s = _pair(spec["size"]), _pair(spec["stride"])
            h = F.avg_pool2d(F.pad(h, (left, right, top, bottom)), k, s) / F.avg_pool2d(F.pad(ones, (left, right, top, bottom)), k, s)
        elif t == "flatten":
            h = h.reshape(h.shape[0], -1)
    return h


def test_keras_and_torch_cnn_on_identical_weights_line_up(tmp_path):
    """The "same" CNN in both frameworks, torch loaded with the Keras capture's converted initial
    weights: the same layer list (but the running-variance convention), names, shapes and order
    on every step, identical initial and batch hashes, values within float32 rounding."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, padding="same")(inp)
    h = keras.layers.BatchNormalization(momentum=0.9)(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(h)
    h = keras.layers.Flatten()(h)
    kmodel = keras.Model(inp, keras.layers.Dense(10)(h))
    train_keras(tmp_path / "k.trace", kmodel, keras.optimizers.SGD(learning_rate=0.05), level="activations", steps=5,
                keep_tensors=-1)
    k = read_trace(tmp_path / "k.trace")

    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4, momentum=0.1, eps=1e-3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(96, 10))
    tmodel.load_state_dict({x.name: torch.from_numpy(x.values.copy()) for x in k.init.tensors}, strict=False)
    opt = torch.optim.SGD(tmodel.parameters(), lr=0.05)
    from cwrepro.torch import Capture as TorchCapture
    with TorchCapture(tmp_path / "t.trace", tmodel, opt, level="activations", keep_tensors=-1, steps_per_epoch=45) as cap:
        for idx in reference_order()[:5]:
            x, y = torch.from_numpy(XTR[idx]), torch.from_numpy(YTR[idx])
            opt.zero_grad()
            loss = F.cross_entropy(tmodel(x), y)
            loss.backward()
            opt.step()
            cap.step(loss, batch=(x, y))
        cap.evaluate(tmodel, XTE_NHWC.transpose(0, 3, 1, 2).copy(), YTE)
    t = read_trace(tmp_path / "t.trace")

    def without_variance(layers):
        return [{k_: v for k_, v in l.items() if k_ != "runningVariance"} for l in layers]
    assert without_variance(k.header["model"]["layers"]) == without_variance(t.header["model"]["layers"])
    assert k.header["model"]["layers"][1]["runningVariance"] == "biased" and t.header["model"]["layers"][1]["runningVariance"] == "unbiased"
    assert k.header["model"]["parameters"] == t.header["model"]["parameters"]
    assert [x.hash for x in k.init.tensors] == [x.hash for x in t.init.tensors]
    for ks, ts in zip(k.training_steps, t.training_steps):
        assert [(x.name, x.role, x.shape) for x in ks.tensors] == [(x.name, x.role, x.shape) for x in ts.tensors]
        kx = {(x.name, x.role): x for x in ks.tensors}
        for x in ts.tensors:
            other = kx[(x.name, x.role)]
            if x.role == "batch":
                assert other.hash == x.hash
            elif x.name == "1.running_var":
                continue  # torch updates it with the unbiased batch variance, Keras with the biased one
            else:
                np.testing.assert_allclose(other.values, x.values, rtol=2e-3, atol=2e-5, err_msg=f"step {ts.step} {x.name} {x.role}")
        assert abs(float(ks.loss32) - float(ts.loss32)) <= 1e-5 * abs(float(ts.loss32))
    assert k.evaluations[-1]["total"] == t.evaluations[-1]["total"] == 360


def test_optimizer_config_is_the_one_export_writes(tmp_path):
    """The header's optimizer config holds the float32 learning rate's shortest decimal (0.001, not
    its widening 0.0010000000474974513), as cwrepro.keras.export writes it: a capture and an
    export of the same run show no config change in `cwrepro compare`."""
    from cwrepro.keras import export
    model = keras_mlp()
    for i, make in enumerate((lambda: keras.optimizers.Adam(1e-3), lambda: keras.optimizers.SGD(0.1, momentum=0.9),
                              lambda: keras.optimizers.RMSprop(3e-4))):
        opt = make()
        Capture(tmp_path / f"{i}.trace", model, opt).close()
        captured = read_trace(tmp_path / f"{i}.trace").header["optimizer"]["config"]
        exported = export(tmp_path / f"e{i}", model, opt, data=(XTR_NHWC, YTR, XTR_NHWC, YTR), batch_order=[[0]]).config
        assert captured == exported["optimizer"] and captured["lr"] in (0.001, 0.1, 0.0003)
