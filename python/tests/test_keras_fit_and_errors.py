"""cwrepro.keras.Capture with model.fit (callback, level params), and every bad input."""

import numpy as np
import pytest

from keras_runs import XTE_NHWC, XTR_NHWC, YTE, YTR, keras, keras_mlp, load_reference_init, tf, train_keras

from cwrepro.errors import CaptureClosedError, CaptureError, ShapeMismatchError, UnsupportedModelError
from cwrepro.keras import Capture
from cwrepro.reader import read_trace


def test_fit_callback_captures_the_same_steps_as_a_tape_loop(tmp_path):
    """model.fit with the callback, 2 epochs of 5 batches, against the GradientTape loop over the
    same batches: the same batches, losses and parameters, bit for bit (Keras's compiled train
    step and the eager loop agree on this model); epochs from fit."""
    n, bs = 160, 32
    x, y = XTR_NHWC[:n], YTR[:n]
    model = keras_mlp()
    load_reference_init(model)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cap = Capture(tmp_path / "fit.trace", model, model.optimizer, level="params", name="fit")
    history = model.fit(x, y, batch_size=bs, epochs=2, shuffle=False, verbose=0, callbacks=[cap.callback()])
    cap.evaluate(model, XTE_NHWC, YTE)
    cap.close()
    assert set(history.history) == {"loss"}  # nothing of ours leaks into Keras's logs
    fit = read_trace(tmp_path / "fit.trace")
    assert [s.epoch for s in fit.training_steps] == [0] * 5 + [1] * 5

    model2 = keras_mlp()
    load_reference_init(model2)
    order = [np.arange(i, i + bs) for i in range(0, n, bs)] * 2
    train_keras(tmp_path / "tape.trace", model2, keras.optimizers.SGD(learning_rate=0.1), level="params", order=order)
    tape = read_trace(tmp_path / "tape.trace")
    assert [s.loss_bits for s in fit.training_steps] == [s.loss_bits for s in tape.training_steps]
    assert [[(x_.name, x_.role, x_.hash) for x_ in s.tensors] for s in fit.steps] == \
           [[(x_.name, x_.role, x_.hash) for x_ in s.tensors] for s in tape.steps]
    assert fit.evaluations[0]["predictions"] == tape.evaluations[0]["predictions"]
    # close() unwrapped the model: fit runs again without the capture.
    model.fit(x, y, batch_size=bs, epochs=1, verbose=0)
    assert "train_step" not in model.__dict__


def test_fit_callback_needs_level_params_and_one_step_per_execution(tmp_path):
    model = keras_mlp()
    opt = keras.optimizers.SGD(learning_rate=0.1)
    cap = Capture(tmp_path / "a.trace", model, opt, level="grads")
    with pytest.raises(CaptureError, match="model.fit does not expose gradients.*level='params'"):
        cap.callback()
    cap.close()
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), steps_per_execution=2)
    cap = Capture(tmp_path / "b.trace", model, opt, level="params")
    with pytest.raises(CaptureError, match="steps_per_execution=2"):
        model.fit(XTR_NHWC[:64], YTR[:64], batch_size=32, verbose=0, callbacks=[cap.callback()])
    cap.close()


def lossf():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.mark.parametrize("build, message", [
    (lambda: keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]),
     "activation 'softmax'; cwrepro has relu, tanh and sigmoid layers"),
    (lambda: keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, dilation_rate=2), keras.layers.Flatten(),
                               keras.layers.Dense(10)]), "dilation_rate=(2, 2)"),
    (lambda: keras.Sequential([keras.Input((8, 8, 1)), keras.layers.BatchNormalization(axis=1), keras.layers.Flatten(),
                               keras.layers.Dense(10)]), "axis=1; cwrepro normalises the channel axis"),
    (lambda: keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Reshape((64,)), keras.layers.Dense(10)]),
     "Reshape has no cwrepro layer"),
    (lambda: keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Dense(10)]),
     "input of shape [8, 8, 1]; cwrepro dense layers take flat features"),
    (lambda: keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.LeakyReLU(), keras.layers.Dense(10)]),
     "LeakyReLU has no cwrepro layer"),
])
def test_unsupported_layers_are_named(tmp_path, build, message):
    model = build()
    with pytest.raises(UnsupportedModelError) as e:
        Capture(tmp_path / "t.trace", model, keras.optimizers.SGD())
    assert message in str(e.value)
    assert str(e.value).startswith("layer '") and "supported: InputLayer, Dense, Conv2D" in str(e.value)


def test_non_chain_and_unbuilt_models(tmp_path):
    inp = keras.Input((16,))
    a = keras.layers.Dense(16)(inp)
    out = keras.layers.Dense(10)(keras.layers.Add()([a, inp]))
    with pytest.raises(UnsupportedModelError, match="its input is not the previous layer's output.*residual"):
        Capture(tmp_path / "t.trace", keras.Model(inp, out), keras.optimizers.SGD())
    with pytest.raises(UnsupportedModelError, match="is not built: start it with keras.Input"):
        Capture(tmp_path / "t.trace", keras.Sequential([keras.layers.Dense(10)]), keras.optimizers.SGD())
    with pytest.raises(TypeError, match="optimizer: expected a keras optimizer"):
        Capture(tmp_path / "t.trace", keras_mlp(), None)


def test_path_must_name_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for bad in (None, ""):
        with pytest.raises(TypeError, match=f"path {bad!r}: expected the trace file to write as a non-empty str or os.PathLike"):
            Capture(bad, keras_mlp(), keras.optimizers.SGD())
    assert list(tmp_path.iterdir()) == [], "no file named None written"


def test_evaluate_refuses_a_second_evaluation_of_a_split_and_bad_batch_sizes(tmp_path):
    model = keras_mlp()
    with Capture(tmp_path / "t.trace", model, keras.optimizers.SGD(), level="params") as cap:
        cap.evaluate(model, XTE_NHWC[:20], YTE[:20])
        with pytest.raises(CaptureError, match="split 'test' was already evaluated after step -1"):
            cap.evaluate(model, XTE_NHWC[:20], YTE[:20])
        with pytest.raises(CaptureError, match="split ''; expected a non-empty string"):
            cap.evaluate(model, XTE_NHWC[:20], YTE[:20], split="")
        with pytest.raises(ValueError, match="batch_size 0: expected a positive integer"):
            cap.evaluate(model, XTE_NHWC[:20], YTE[:20], split="val", batch_size=0)
        cap.evaluate(model, XTE_NHWC[:20], YTE[:20], split="val", batch_size=7)
    assert [e["split"] for e in read_trace(tmp_path / "t.trace").evaluations] == ["test", "val"]


def test_unsupported_optimizer(tmp_path):
    with pytest.raises(UnsupportedModelError, match="optimizer keras.src.optimizers.adagrad.Adagrad: .*level='params'"):
        Capture(tmp_path / "t.trace", keras_mlp(), keras.optimizers.Adagrad(), level="grads")
    Capture(tmp_path / "t.trace", keras_mlp(), keras.optimizers.Adagrad(), level="params").close()


def test_bad_steps(tmp_path):
    model = keras_mlp()
    opt = keras.optimizers.Adam(0.01)
    cap = Capture(tmp_path / "t.trace", model, opt, level="activations", name="bad")
    x, y = XTR_NHWC[:8], YTR[:8]
    with pytest.raises(CaptureError, match="pass the GradientTape"):
        with tf.GradientTape() as tape:
            cap.forward(x)
    with tf.GradientTape() as tape:
        loss = lossf()(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))
    with pytest.raises(CaptureError, match="level activations needs the step's forward pass through cap.forward"):
        cap.step(loss, grads=grads, batch=(x, y))
    with tf.GradientTape() as tape:
        loss = lossf()(y, cap.forward(x, tape=tape))
    grads = cap.gradient(tape, loss)
    opt.apply_gradients(zip(grads, model.trainable_variables))
    with pytest.raises(CaptureError, match="pass grads="):
        cap.step(loss, batch=(x, y))
    with pytest.raises(ShapeMismatchError, match="grads: 3 gradients for 4 trainable variables"):
        cap.step(loss, grads=grads[:3], batch=(x, y))
    with pytest.raises(ShapeMismatchError, match=r"batch: x has shape \[8, 8, 8, 1\] and y \[4\]"):
        cap.step(loss, grads=grads, batch=(x, y[:4]))
    cap.step(loss, grads=grads, batch=(x, y))
    with pytest.raises(ShapeMismatchError, match="evaluate: 360 samples in x, y has shape \\[3\\]"):
        cap.evaluate(model, XTE_NHWC, YTE[:3])
    cap.close()
    with pytest.raises(CaptureClosedError, match="step: the capture 'bad'"):
        cap.step(loss, grads=grads, batch=(x, y))
    with pytest.raises(CaptureClosedError):
        cap.forward(x)
    t = read_trace(tmp_path / "t.trace")
    assert t.complete and len(t.training_steps) == 1
    assert [x_.name for x_ in t.training_steps[0].tensors if x_.role == "optimizer-state"] == \
           [n + s for s in (".exp_avg", ".exp_avg_sq") for n in ("1.weight", "1.bias", "3.weight", "3.bias")]
