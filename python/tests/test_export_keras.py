"""cwrepro.keras.export: Keras defaults written explicitly (BatchNormalization momentum and
epsilon, Adam's epsilon, "same" padding as TensorFlow's pads), weights converted to cwrepro's
layouts (and back), data NCHW, fixed-order tf.data pipelines matched to their samples, and every
bad export a clear ExportError with nothing written."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from cwrepro import safetensors  # noqa: E402
from cwrepro.errors import (DataMismatchError, ExportError, UnfixedOrderError, UnsupportedModuleError,  # noqa: E402
                            UnsupportedOptimizerError)
from cwrepro.keras import export, load_weights  # noqa: E402
from keras_runs import XTE, XTE_NHWC, XTR, XTR_NHWC, YTE, YTR  # noqa: E402

DATA = (XTR_NHWC, YTR, XTE_NHWC, YTE)


def cnn(**bn):
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, 3, padding="same")(inp)
    h = keras.layers.BatchNormalization(**bn)(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", use_bias=False)(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dropout(0.3)(h)
    return keras.Model(inp, keras.layers.Dense(10)(h))


def mlp(activation="tanh", **dense):
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Dense(16, activation=activation, **dense)(keras.layers.Flatten()(inp))
    return keras.Model(inp, keras.layers.Dense(10)(h))


def read(out):
    with open(os.path.join(out, "train.json")) as f:
        config = json.load(f)
    with open(os.path.join(out, "order.json")) as f:
        order = json.load(f)["batches"]
    return config, order, safetensors.load(os.path.join(out, "init.safetensors")), safetensors.load(os.path.join(out, "data.safetensors"))


def test_keras_defaults_are_written_explicitly_and_weights_convert_both_ways(tmp_path):
    model = cnn()
    with pytest.warns(UserWarning) as caught:
        r = export(tmp_path / "out", model, keras.optimizers.Adam(), data=DATA, batch_order=[[0, 1], [2, 3]], seed=3,
                   name="k", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert [str(w.message) for w in caught] == r.warnings and len(r.warnings) == 2
    assert r.warnings[0].startswith("layer 0 (conv2d) has a bias and BatchNorm follows it")
    assert r.warnings[1].startswith("layer 7 (dropout, rate 0.3): cwrepro draws its own dropout masks (seed 3), not Keras's")
    config, order, init, data = read(tmp_path / "out")
    assert r.steps == 2 and config["semantics"] == "keras" and "overrides" not in config
    assert config["model"]["layers"] == [
        {"type": "conv2d", "filters": 8, "kernel": 3, "stride": 1, "padding": 1, "bias": True},
        {"type": "batchnorm", "momentum": 0.01, "epsilon": 0.001, "runningVariance": "biased"},
        {"type": "relu"},
        {"type": "maxpool", "size": 2, "stride": 2, "padding": 0},
        # TensorFlow's "same" with stride 2 and an even kernel: the extra row and column at the bottom/right.
        {"type": "conv2d", "filters": 16, "kernel": 3, "stride": 2, "padding": [0, 1, 0, 1], "bias": False},
        {"type": "relu"},
        {"type": "flatten"},
        {"type": "dropout", "rate": 0.3},
        {"type": "dense", "units": 10, "bias": True}]
    assert config["optimizer"] == {"type": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-07, "weightDecay": 0.0}
    assert order == [[0, 1], [2, 3]]
    assert np.array_equal(data["train.images"], XTR) and np.array_equal(data["test.images"], XTE), "NHWC in, NCHW out"
    assert data["train.labels"].dtype == np.int32 and np.array_equal(data["train.labels"], YTR)
    assert init["0.weight"].shape == (8, 1, 3, 3) and init["8.weight"].shape == (10, 64)
    # The inverse conversion puts every element back: a fresh model loaded from init.safetensors
    # computes what the exported one computes.
    again = cnn()
    for v in again.weights:
        v.assign(np.zeros(v.shape, np.float32))
    load_weights(again, init)
    for a, b in zip(model.weights, again.weights):
        assert np.array_equal(np.asarray(a), np.asarray(b)), a.path
    x = XTE_NHWC[:16]
    assert np.array_equal(np.asarray(model(x, training=False)), np.asarray(again(x, training=False)))


def test_optimizers_and_schedules(tmp_path):
    model = mlp()
    export(tmp_path / "s", model, keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True), data=DATA,
           batch_order=[[0]])
    config = read(tmp_path / "s")[0]
    assert config["optimizer"] == {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weightDecay": 0.0}
    assert config["model"]["layers"][1:3] == [{"type": "dense", "units": 16, "bias": True}, {"type": "tanh"}]
    export(tmp_path / "w", model, keras.optimizers.AdamW(), data=DATA, batch_order=[[0]])
    assert read(tmp_path / "w")[0]["optimizer"]["weightDecay"] == 0.004  # decoupled: the keras profile's weightDecay.mode
    export(tmp_path / "r", model, keras.optimizers.RMSprop(), data=DATA, batch_order=[[0]])
    assert read(tmp_path / "r")[0]["optimizer"] == {"type": "rmsprop", "lr": 0.001, "rho": 0.9, "epsilon": 1e-07, "weightDecay": 0.0}
    sched = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=20, decay_rate=0.5, staircase=True)
    export(tmp_path / "e", model, keras.optimizers.SGD(learning_rate=sched), data=DATA, batch_order=[[0]])
    config = read(tmp_path / "e")[0]
    assert config["optimizer"]["lr"] == 0.1 and config["schedule"] == {"type": "step", "stepSize": 20, "gamma": 0.5}


def test_tf_data_pipeline_order_matches_its_batches(tmp_path):
    ds = tf.data.Dataset.from_tensor_slices((XTR_NHWC, YTR)).shuffle(1437, seed=4, reshuffle_each_iteration=False).batch(32)
    model = mlp()
    export(tmp_path / "out", model, keras.optimizers.SGD(), data=DATA, batch_order=ds.repeat(2), steps=60)
    order = read(tmp_path / "out")[1]
    assert len(order) == 60
    for b, (x, y) in zip(order, ds.repeat(2).take(60)):
        assert np.array_equal(XTR_NHWC[b], x.numpy()) and np.array_equal(YTR[b], y.numpy())
    assert order[45] == order[0], "the same order every epoch (reshuffle_each_iteration=False)"


def refused(tmp_path, exc, match, model=None, opt=None, **kw):
    model = model if model is not None else mlp()
    opt = opt if opt is not None else keras.optimizers.SGD()
    args = {"data": DATA, "batch_order": [[0, 1, 2]], **kw}
    with pytest.raises(exc, match=match):
        export(tmp_path / "out", model, opt, **args)
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out"), "nothing written"


def test_pipelines_without_a_fixed_order_are_refused(tmp_path):
    base = tf.data.Dataset.from_tensor_slices((XTR_NHWC, YTR))
    refused(tmp_path, UnfixedOrderError, "two passes over the tf.data pipeline drew different batches.*reshuffle_each_iteration=False",
            batch_order=base.shuffle(1437, seed=4).batch(32), steps=3)
    refused(tmp_path, UnfixedOrderError, "sample 0 of batch 0 of the tf.data pipeline is no sample of \\(x_train, y_train\\)",
            batch_order=base.map(lambda x, y: (x * 2, y)).batch(32), steps=3)
    refused(tmp_path, UnfixedOrderError, "infinite or of unknown length; pass steps=", batch_order=base.batch(32).repeat())
    refused(tmp_path, UnfixedOrderError, "steps=99: the tf.data pipeline yields only 45 batches", batch_order=base.batch(32), steps=99)
    for bad in (0, -2, 2.5, "3", True):  # a pipeline's steps are checked as an explicit list's
        refused(tmp_path, ExportError, rf"steps {bad!r}: expected a positive integer \(the number of training steps\)",
                batch_order=base.batch(32), steps=bad)
    refused(tmp_path, UnfixedOrderError, "model.fit's own shuffling cannot be replayed", batch_order="shuffle")


def test_unsupported_layers_and_settings(tmp_path):
    inp = keras.Input((8, 8, 1))
    h = keras.layers.LayerNormalization()(keras.layers.Flatten()(inp))
    refused(tmp_path, UnsupportedModuleError, "layer 'layer_normalization.*' \\(LayerNormalization\\): LayerNormalization has no "
            "cwrepro layer; supported: InputLayer, Dense", model=keras.Model(inp, keras.layers.Dense(10)(h)))
    refused(tmp_path, UnsupportedModuleError, "kernel_regularizer is set", model=mlp(kernel_regularizer="l2"))
    frozen = mlp()
    frozen.layers[2].trainable = False
    refused(tmp_path, UnsupportedModuleError, "trainable=False; cwrepro trains every layer", model=frozen)
    gelu = mlp(activation="gelu")
    refused(tmp_path, UnsupportedModuleError, "activation 'gelu'", model=gelu)


class TorchLikeAdam(keras.optimizers.Adam):
    pass


@pytest.mark.parametrize("make, match", [
    (lambda: keras.optimizers.Adam(amsgrad=True), "amsgrad=True"),
    (lambda: keras.optimizers.Adam(clipnorm=1.0), "clipnorm=1.0; cwrepro applies gradients as they are"),
    (lambda: keras.optimizers.SGD(use_ema=True), "use_ema=True"),
    (lambda: keras.optimizers.RMSprop(centered=True), "centered=True"),
    (lambda: keras.optimizers.Adagrad(), "Adagrad has no cwrepro equivalent"),
    (lambda: TorchLikeAdam(), "TorchLikeAdam has no cwrepro equivalent \\(a subclass may change the update"),
    (lambda: keras.optimizers.SGD(learning_rate=keras.optimizers.schedules.CosineDecay(0.1, 100)),
     "learning-rate schedule CosineDecay has no cwrepro equivalent"),
    (lambda: keras.optimizers.SGD(learning_rate=keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)),
     "ExponentialDecay \\(staircase=False\\) has no cwrepro equivalent"),
])
def test_unsupported_optimizers(tmp_path, make, match):
    refused(tmp_path, UnsupportedOptimizerError, match, opt=make())


def test_stepped_optimizer_losses_and_data(tmp_path):
    model = mlp()
    opt = keras.optimizers.SGD()
    opt.apply_gradients(zip([np.zeros(v.shape, np.float32) for v in model.trainable_variables], model.trainable_variables))
    refused(tmp_path, UnsupportedOptimizerError, "has already taken 1 steps; export before the first apply_gradients",
            model=model, opt=opt)
    refused(tmp_path, UnsupportedOptimizerError, "from_logits=False\\) takes probabilities",
            loss=keras.losses.SparseCategoricalCrossentropy())
    refused(tmp_path, UnsupportedOptimizerError, "loss 'sparse_categorical_crossentropy'", loss="sparse_categorical_crossentropy")
    refused(tmp_path, UnsupportedOptimizerError, "loss CategoricalCrossentropy", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    refused(tmp_path, DataMismatchError, "x_train samples have shape \\[1, 8, 8\\]; the model takes \\[8, 8, 1\\]",
            data=(XTR, YTR, XTE_NHWC, YTE))
    refused(tmp_path, DataMismatchError, "x_test has dtype float64", data=(XTR_NHWC, YTR, XTE_NHWC.astype(np.float64), YTE))
    refused(tmp_path, DataMismatchError, "y_train\\[0\\] = 12 is not a class of the model",
            data=(XTR_NHWC, np.full_like(YTR, 12), XTE_NHWC, YTE))
    refused(tmp_path, ExportError, "batch_order\\[0\\]\\[0\\] = -1", batch_order=[[-1]])
