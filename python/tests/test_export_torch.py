"""cwrepro.torch.export: what it writes (every hyperparameter explicit, weights and data as given,
the batches a DataLoader really draws) and every bad export as a clear ExportError naming what
to change, with nothing written."""

import json
import os
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from cwrepro import safetensors
from cwrepro.errors import (DataMismatchError, ExportError, UnfixedOrderError, UnsupportedModuleError,
                            UnsupportedOptimizerError)
from cwrepro.torch import GlobalAvgPool, export
from torch_runs import DIGITS

XTR, YTR, XTE, YTE = DIGITS
DATA = (XTR, YTR, XTE, YTE)


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding="same", bias=False), nn.BatchNorm2d(8, momentum=0.2, eps=1e-4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.25), nn.Linear(16, 10))


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))


def loader(seed=7, batch_size=32, **kw):
    return DataLoader(TensorDataset(torch.from_numpy(XTR), torch.from_numpy(YTR)), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed), **kw)


def drawn(loader, steps):
    """The batches the real loader yields, as index lists (found by value: digits rows can repeat,
    so compare the samples themselves)."""
    out = []
    while len(out) < steps:
        for x, y in loader:
            out.append((x.numpy(), y.numpy()))
            if len(out) == steps:
                break
    return out


def read(out):
    with open(os.path.join(out, "train.json")) as f:
        config = json.load(f)
    with open(os.path.join(out, "order.json")) as f:
        order = json.load(f)["batches"]
    return config, order, safetensors.load(os.path.join(out, "init.safetensors")), safetensors.load(os.path.join(out, "data.safetensors"))


def test_writes_every_hyperparameter_the_weights_and_the_data(tmp_path):
    model = cnn()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    with pytest.warns(UserWarning) as caught:
        r = export(tmp_path / "out", model, opt, data=DATA, batch_order=loader(), seed=5, steps=60, name="cnn",
                   loss=nn.CrossEntropyLoss(label_smoothing=0.1), scheduler=sched)
    assert [str(w.message) for w in caught] == r.warnings and len(r.warnings) == 2
    assert r.warnings[0].startswith("layer 4 (conv2d) has a bias and BatchNorm follows it: the bias's true gradient is 0 "
                                    "and adam scales its rounding noise")
    assert r.warnings[1].startswith("layer 9 (dropout, rate 0.25): cwrepro draws its own dropout masks (seed 5), not torch's")
    config, order, init, data = read(tmp_path / "out")
    assert r.steps == 60 and r.classes == 10
    assert config["semantics"] == "pytorch" and config["name"] == "cnn" and config["seed"] == 5
    assert "overrides" not in config
    assert config["model"]["layers"] == [
        {"type": "conv2d", "filters": 8, "kernel": 3, "stride": 1, "padding": [1, 1, 1, 1], "bias": False},
        {"type": "batchnorm", "momentum": 0.2, "epsilon": 1e-4, "runningVariance": "unbiased"},
        {"type": "relu"},
        {"type": "maxpool", "size": 2, "stride": 2, "padding": 0},
        {"type": "conv2d", "filters": 16, "kernel": 3, "stride": 2, "padding": 1, "bias": True},
        {"type": "batchnorm", "momentum": 0.1, "epsilon": 1e-5, "runningVariance": "unbiased"},
        {"type": "relu"},
        {"type": "globalavgpool"},
        {"type": "flatten"},
        {"type": "dropout", "rate": 0.25},
        {"type": "dense", "units": 10, "bias": True}]
    assert config["model"]["init"] == "init.safetensors"
    assert config["optimizer"] == {"type": "adam", "lr": 2e-3, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "weightDecay": 1e-4}
    assert config["schedule"] == {"type": "step", "stepSize": 2, "gamma": 0.5}
    assert config["loss"] == {"type": "crossEntropy", "labelSmoothing": 0.1}
    assert config["data"] == {"dataset": "safetensors", "path": "data.safetensors", "classes": 10, "batchSize": 32,
                              "shuffle": False, "dropLast": False, "order": "order.json"}
    assert config["training"] == {"epochs": 2, "maxSteps": 60}
    # Weights: the state_dict as it was, without num_batches_tracked.
    sd = {k: v.numpy() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert list(init) == list(sd)
    for k in sd:
        assert init[k].dtype == np.float32 and np.array_equal(init[k], sd[k]), k
    # Data: exactly the arrays, labels as int32.
    assert list(data) == ["train.images", "train.labels", "test.images", "test.labels"]
    assert np.array_equal(data["train.images"], XTR) and data["train.images"].dtype == np.float32
    assert np.array_equal(data["test.labels"], YTE) and data["test.labels"].dtype == np.int32
    assert len(order) == 60 and [len(b) for b in order[44:46]] == [29, 32], "epoch 0 ends with a short batch"


@pytest.mark.parametrize("kw, steps", [
    ({}, 100),                                            # three epochs, reshuffled from one generator
    ({"drop_last": True}, 50),
    ({"batch_size": 100}, 20),
])
def test_the_order_is_what_the_real_loader_draws_and_its_generator_is_untouched(tmp_path, kw, steps):
    ld = loader(**kw)
    before = ld.generator.get_state().clone()
    model = mlp()
    r = export(tmp_path / "out", model, torch.optim.SGD(model.parameters(), lr=0.1), data=DATA, batch_order=ld, steps=steps)
    assert torch.equal(ld.generator.get_state(), before), "export must not move the loader's generator"
    config, order, _, _ = read(tmp_path / "out")
    assert config["data"]["dropLast"] == kw.get("drop_last", False)
    real = drawn(ld, steps)
    assert len(order) == len(real) == steps == r.steps
    for b, (x, y) in zip(order, real):
        assert np.array_equal(XTR[b], x) and np.array_equal(YTR[b], y)


@pytest.mark.parametrize("persistent", [False, True])
def test_loaders_with_workers_draw_the_base_seed_per_epoch_or_once(tmp_path, persistent):
    """A worker loader draws its workers' base seed from the shared generator when each epoch's
    iterator is made, or only once with persistent_workers: the replay follows both."""
    ld = loader(batch_size=300, num_workers=1, persistent_workers=persistent)
    model = mlp()
    export(tmp_path / "out", model, torch.optim.SGD(model.parameters(), lr=0.1), data=DATA, batch_order=ld, steps=15)
    order = read(tmp_path / "out")[1]
    for b, (x, _) in zip(order, drawn(ld, 15)):
        assert np.array_equal(XTR[b], x)


def test_loader_with_its_own_sampler_generator_and_a_batch_sampler(tmp_path):
    g = torch.Generator().manual_seed(3)
    ld = DataLoader(TensorDataset(torch.from_numpy(XTR), torch.from_numpy(YTR)), batch_size=16,
                    sampler=RandomSampler(range(len(XTR)), generator=g), generator=torch.Generator().manual_seed(9))
    model = mlp()
    export(tmp_path / "a", model, torch.optim.SGD(model.parameters(), lr=0.1), data=DATA, batch_order=ld, steps=120)
    _, order, _, _ = read(tmp_path / "a")
    for b, (x, _) in zip(order, drawn(ld, 120)):
        assert np.array_equal(XTR[b], x)
    bs = BatchSampler(SequentialSampler(range(len(XTR))), 50, drop_last=False)
    export(tmp_path / "b", model, torch.optim.SGD(model.parameters(), lr=0.1), data=DATA, batch_order=bs)
    _, order, _, _ = read(tmp_path / "b")
    assert order == [list(range(i, min(i + 50, 1437))) for i in range(0, 1437, 50)], "one epoch in file order by default"


def test_explicit_orders_sgd_rmsprop_adamw_and_a_per_step_schedule(tmp_path):
    model = mlp()
    rng = np.random.default_rng(0)
    batches = [rng.permutation(1437)[:20] for _ in range(5)]
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, 3, gamma=0.1)
    export(tmp_path / "s", model, opt, data=DATA, batch_order=batches, scheduler=sched, scheduler_unit="step")
    config, order, _, _ = read(tmp_path / "s")
    assert order == [b.tolist() for b in batches]
    assert config["optimizer"] == {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weightDecay": 1e-3}
    assert config["overrides"] == {"schedule.unit": "step"}
    assert config["model"]["layers"][2] == {"type": "tanh"}
    export(tmp_path / "r", model, torch.optim.RMSprop(model.parameters(), lr=0.01), data=DATA, batch_order=np.stack(batches))
    assert read(tmp_path / "r")[0]["optimizer"] == {"type": "rmsprop", "lr": 0.01, "rho": 0.99, "epsilon": 1e-8, "weightDecay": 0.0}
    export(tmp_path / "w", model, torch.optim.AdamW(model.parameters()), data=DATA, batch_order=batches, steps=2)
    config, order, _, _ = read(tmp_path / "w")
    assert config["overrides"] == {"weightDecay.mode": "decoupled"} and config["optimizer"]["weightDecay"] == 0.01
    assert len(order) == 2


def test_exported_digits_config_is_one_cwrepro_reads(tmp_path):
    """The data file is the one Swift's SafeTensorsData reads: checked in python/tests/test_port_roundtrip.py
    by recording it; here the GlobalAvgPool module and a plain sequential sampler."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), GlobalAvgPool(), nn.Linear(4, 10))
    export(tmp_path / "g", model, torch.optim.SGD(model.parameters(), lr=0.1), data=DATA,
           batch_order=DataLoader(TensorDataset(torch.from_numpy(XTR)), batch_size=64), steps=3)
    config, order, init, _ = read(tmp_path / "g")
    assert [l["type"] for l in config["model"]["layers"]] == ["conv2d", "relu", "globalavgpool", "dense"]
    assert order[0] == list(range(64))


# -- refusals: each names what to change, and nothing is written ------------------------------------

def refused(tmp_path, exc, match, model=None, opt=None, **kw):
    model = model if model is not None else mlp()
    opt = opt if opt is not None else torch.optim.SGD(model.parameters(), lr=0.1)
    args = {"data": DATA, "batch_order": [[0, 1, 2]], **kw}
    with pytest.raises(exc, match=match):
        export(tmp_path / "out", model, opt, **args)
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out"), "nothing written"


def test_unsupported_modules(tmp_path):
    refused(tmp_path, UnsupportedModuleError, r"module 2 \(GELU\(approximate='none'\)\): GELU has no cwrepro layer.*"
            r"supported: nn.Flatten, nn.Linear", model=nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.GELU(), nn.Linear(8, 10)))
    refused(tmp_path, UnsupportedModuleError, r"module 0 .*dilation",
            model=nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2), nn.Flatten(), nn.Linear(32, 10)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))
    refused(tmp_path, UnsupportedModuleError, "the model is a Net, not an nn.Sequential", model=Net())
    m = mlp().double()
    refused(tmp_path, UnsupportedModuleError, r"parameter 1.weight has dtype torch.float64; cwrepro trains in float32", model=m)
    m = mlp()
    m[1].weight.requires_grad_(False)
    refused(tmp_path, UnsupportedModuleError, "parameters 1.weight have requires_grad=False", model=m,
            opt=torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1))
    lazy = nn.Sequential(nn.Flatten(), nn.LazyLinear(10))
    refused(tmp_path, UnsupportedModuleError, "1.weight is not initialised", model=lazy,
            opt=torch.optim.SGD(lazy.parameters(), lr=0.1))


@pytest.mark.parametrize("make, match", [
    (lambda p: torch.optim.Adam(p, amsgrad=True), r"amsgrad=True; cwrepro's Adam has no AMSGrad"),
    (lambda p: torch.optim.Adam(p, foreach=True), r"foreach=True; .*pass foreach=False"),
    (lambda p: torch.optim.Adam(p, fused=True), r"fused=True; .*pass fused=None"),
    (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1), r"dampening=0.1"),
    (lambda p: torch.optim.SGD(p, lr=0.1, maximize=True), r"maximize=True"),
    (lambda p: torch.optim.RMSprop(p, centered=True), r"centered=True"),
    (lambda p: torch.optim.RMSprop(p, momentum=0.5), r"momentum=0.5; cwrepro's RMSprop has no momentum"),
    (lambda p: torch.optim.Adagrad(p), r"torch.optim.adagrad.Adagrad has no cwrepro equivalent; supported: torch.optim.SGD"),
])
def test_unsupported_optimizers_and_options(tmp_path, make, match):
    model = mlp()
    refused(tmp_path, UnsupportedOptimizerError, match, model=model, opt=make(model.parameters()))


def test_optimizer_state_groups_and_membership(tmp_path):
    model = mlp()
    opt = torch.optim.Adam(model.parameters())
    model(torch.from_numpy(XTR[:4])).sum().backward()
    opt.step()
    refused(tmp_path, UnsupportedOptimizerError, "has already taken steps.*export before the first optimizer.step", model=model, opt=opt)
    model = mlp()
    groups = [{"params": model[1].parameters()}, {"params": model[3].parameters(), "lr": 0.01}]
    refused(tmp_path, UnsupportedOptimizerError, "parameter group 1 differs from group 0 in lr", model=model,
            opt=torch.optim.SGD(groups, lr=0.1))
    refused(tmp_path, UnsupportedOptimizerError, r"parameters 3.weight, 3.bias are not in it", model=model,
            opt=torch.optim.SGD(model[1].parameters(), lr=0.1))


def test_schedulers_and_losses(tmp_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10)
    refused(tmp_path, UnsupportedOptimizerError, "CosineAnnealingLR has no cwrepro equivalent; supported: .*StepLR", model=model,
            opt=opt, scheduler=cos)
    refused(tmp_path, UnsupportedOptimizerError, "has a learning-rate scheduler attached; pass it as scheduler=", model=model, opt=opt)
    opt2 = torch.optim.SGD(model.parameters(), lr=0.1)
    step = torch.optim.lr_scheduler.StepLR(opt2, 5)
    opt2.step()
    step.step()
    refused(tmp_path, UnsupportedOptimizerError, "already stepped 1 times", model=model, opt=opt2, scheduler=step)
    refused(tmp_path, UnsupportedOptimizerError, "scheduler_unit 'batch'", model=model, opt=opt2, scheduler=step,
            scheduler_unit="batch")
    refused(tmp_path, UnsupportedOptimizerError, r"class weights",
            loss=nn.CrossEntropyLoss(weight=torch.ones(10)))
    refused(tmp_path, UnsupportedOptimizerError, r"reduction='sum'", loss=nn.CrossEntropyLoss(reduction="sum"))
    refused(tmp_path, UnsupportedOptimizerError, r"softmax cross-entropy from logits", loss=nn.NLLLoss())


def test_mismatched_data(tmp_path):
    refused(tmp_path, DataMismatchError, r"x_train samples of shape \[1, 8, 9\] do not fit the model",
            model=nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), data=(np.zeros((4, 1, 8, 9), np.float32), YTR[:4], XTE, YTE))
    refused(tmp_path, DataMismatchError, r"x_train has 1437 samples but y_train has shape \[1436\]", data=(XTR, YTR[:-1], XTE, YTE))
    refused(tmp_path, DataMismatchError, r"x_train has dtype float64; .*astype\(np.float32\)", data=(XTR.astype(np.float64), YTR, XTE, YTE))
    bad = YTE.copy()
    bad[5] = 10
    refused(tmp_path, DataMismatchError, r"y_test\[5\] = 10 is not a class of the model, which outputs 10 logits",
            data=(XTR, YTR, XTE, bad))
    refused(tmp_path, DataMismatchError, r"y_train has dtype float32; give integer class labels",
            data=(XTR, YTR.astype(np.float32), XTE, YTE))
    nan = XTE.copy()
    nan[3, 0, 0, 0] = np.nan
    refused(tmp_path, DataMismatchError, r"x_test\[3\] holds NaN", data=(XTR, YTR, nan, YTE))
    refused(tmp_path, DataMismatchError, r"expected \(x_train, y_train, x_test, y_test\)", data=(XTR, YTR))


def test_orders_without_a_fixed_order_are_refused(tmp_path):
    ds = TensorDataset(torch.from_numpy(XTR), torch.from_numpy(YTR))
    refused(tmp_path, UnfixedOrderError, r"RandomSampler that has no generator.*generator=torch.Generator\(\).manual_seed\(seed\)",
            batch_order=DataLoader(ds, batch_size=32, shuffle=True))

    class Every2nd(torch.utils.data.Sampler):
        def __iter__(self):
            return iter(range(0, 1437, 2))

        def __len__(self):
            return 719
    refused(tmp_path, UnfixedOrderError, r"the sampler is a .*Every2nd; export replays SequentialSampler",
            batch_order=DataLoader(ds, batch_size=32, sampler=Every2nd()))

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter([])
    refused(tmp_path, UnfixedOrderError, "IterableDataset", batch_order=DataLoader(Stream(), batch_size=4))
    refused(tmp_path, UnfixedOrderError, r"TensorDataset has 100 samples, x_train has 1437",
            batch_order=DataLoader(TensorDataset(torch.zeros(100, 1, 8, 8)), batch_size=4))
    refused(tmp_path, UnfixedOrderError, r"steps=99: batch_order has only 1 batches", steps=99)
    for bad in (0, -1, 2.5, "3", True):  # a loader's steps are checked as an explicit list's
        for order in ([[0, 1, 2]], loader()):
            refused(tmp_path, ExportError, rf"steps {bad!r}: expected a positive integer \(the number of training steps\)",
                    batch_order=order, steps=bad)
    refused(tmp_path, ExportError, r"batch_order\[0\]\[1\] = 1437 is not a training index in 0..1436", batch_order=[[0, 1437]])
    refused(tmp_path, ExportError, r"batch_order\[1\]: an empty batch", batch_order=[[0], []])
    refused(tmp_path, ExportError, r"batch_order: a generator; expected a list of index lists", batch_order=(b for b in [[0]]))


def test_existing_files_are_kept_unless_overwrite(tmp_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    export(tmp_path / "out", model, opt, data=DATA, batch_order=[[0, 1]])
    with open(tmp_path / "out" / "train.json") as f:
        first = f.read()
    with pytest.raises(ExportError, match="already holds train.json, init.safetensors, order.json, data.safetensors; pass overwrite=True"):
        export(tmp_path / "out", model, opt, data=DATA, batch_order=[[2, 3]])
    with open(tmp_path / "out" / "train.json") as f:
        assert f.read() == first
    export(tmp_path / "out", model, opt, data=DATA, batch_order=[[2, 3]], overwrite=True)
    assert read(tmp_path / "out")[1] == [[2, 3]]
    assert sorted(os.listdir(tmp_path / "out")) == ["data.safetensors", "init.safetensors", "order.json", "train.json"]
    with pytest.raises(ExportError, match="seed -1"):
        export(tmp_path / "x", model, opt, data=DATA, batch_order=[[0]], seed=-1)
    for bad in ("", None):
        with pytest.raises(ExportError, match=f"out_dir {bad!r}: expected the directory to write as a non-empty str"):
            export(bad, model, opt, data=DATA, batch_order=[[0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export(tmp_path / "y", model, opt, data=DATA, batch_order=[[0]])  # no dropout: no warning
