#!/usr/bin/env python3
"""Real-framework ablations of the torch/Keras CNN gap: real Keras runs of examples/port/keras_cnn.py
from the torch run's initial weights and batch order, with one Keras default at a time replaced by
torch's, each compared with the real torch run.

    python examples/port/keras_ablation.py --out out/ablation --seeds 3

Per seed s: examples/port/torch_cnn.py exports and trains the torch CNN (seed s: its init and its
DataLoader order) into out/ablation/seed-s/torch; then each Keras variant below loads that
init.safetensors and follows that order.json, in real Keras:

| variant | BatchNorm momentum, epsilon | Adam formula, epsilon |
|---|---|---|
| keras | 0.99, 1e-3 (Keras defaults) | Keras's ("epsilon hat"), 1e-7 |
| torch-adam | 0.99, 1e-3 | torch's (TorchAdam below), 1e-7 |
| torch-bn-momentum | 0.9 (torch's 0.1 as Keras writes it), 1e-3 | Keras's, 1e-7 |
| torch-adam+bn-momentum | 0.9, 1e-3 | torch's, 1e-7 |
| torch-epsilons | 0.99, 1e-5 | Keras's, 1e-8 |
| all-torch | 0.9, 1e-5 | torch's, 1e-8 |

(What no Keras option changes: BatchNormalization's running variance stays biased, torch's is
unbiased.) Prints a Markdown table and writes out/ablation/ablation.json: per variant and seed
the final training loss, test accuracy, test loss, agreement of the test predictions with torch's,
and the largest relative loss difference from the torch run over the steps."""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets  # noqa: E402

datasets.use_repository_package()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

import keras_cnn  # noqa: E402
import torch_cnn  # noqa: E402
from cwrepro import safetensors  # noqa: E402
from cwrepro.keras import load_weights  # noqa: E402


class TorchAdam(keras.optimizers.Adam):
    """Keras's Adam with torch's update (torch/optim/adam.py): epsilon added to sqrt(v-hat),
    w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps); moments as Keras keeps them.
    (Keras adds epsilon to sqrt(v): lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps).)"""

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        t = ops.cast(self.iterations + 1, variable.dtype)
        bc1 = 1 - ops.power(ops.cast(self.beta_1, variable.dtype), t)
        bc2 = 1 - ops.power(ops.cast(self.beta_2, variable.dtype), t)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        self.assign_sub(variable, ops.divide(ops.multiply(lr, ops.divide(m, bc1)),
                                             ops.add(ops.sqrt(ops.divide(v, bc2)), self.epsilon)))


VARIANTS = {
    "keras": dict(bn_momentum=0.99, bn_epsilon=1e-3, adam=keras.optimizers.Adam, adam_epsilon=1e-7),
    "torch-adam": dict(bn_momentum=0.99, bn_epsilon=1e-3, adam=TorchAdam, adam_epsilon=1e-7),
    "torch-bn-momentum": dict(bn_momentum=0.9, bn_epsilon=1e-3, adam=keras.optimizers.Adam, adam_epsilon=1e-7),
    "torch-adam+bn-momentum": dict(bn_momentum=0.9, bn_epsilon=1e-3, adam=TorchAdam, adam_epsilon=1e-7),
    "torch-epsilons": dict(bn_momentum=0.99, bn_epsilon=1e-5, adam=keras.optimizers.Adam, adam_epsilon=1e-8),
    "all-torch": dict(bn_momentum=0.9, bn_epsilon=1e-5, adam=TorchAdam, adam_epsilon=1e-8),
}


def keras_run(variant: str, torch_dir: str, data, steps: int, seed: int) -> dict:
    """One real Keras run of `variant` from the torch export's init and order: per-step losses,
    final test accuracy, loss and predictions."""
    v = VARIANTS[variant]
    keras_cnn.deterministic(seed)
    xtr, ytr, xte, yte = data
    net = keras_cnn.model(side=xtr.shape[1], bn_momentum=v["bn_momentum"], bn_epsilon=v["bn_epsilon"])
    load_weights(net, safetensors.load(os.path.join(torch_dir, "init.safetensors")))
    opt = v["adam"](learning_rate=1e-3, epsilon=v["adam_epsilon"])
    with open(os.path.join(torch_dir, "order.json")) as f:
        order = json.load(f)["batches"][:steps]
    lossf = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=False, reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = lossf(y, net(x, training=True))
        grads = tape.gradient(loss, net.trainable_variables)
        opt.apply_gradients(zip(grads, net.trainable_variables))
        return loss

    losses = [float(step(xtr[idx], ytr[idx])) for idx in order]
    logits = np.asarray(net(xte, training=False))
    pred = np.argmax(logits, axis=1)
    test_loss = float(np.mean(keras.losses.sparse_categorical_crossentropy(yte, logits, from_logits=True)))
    return {"losses": losses, "predictions": pred.tolist(), "testAccuracy": float(np.mean(pred == yte)), "testLoss": test_loss}


def torch_reference(out: str, data_name: str, steps: int, seed: int, data) -> dict:
    """The real torch run (export + capture) and its per-step losses, test accuracy, loss and predictions."""
    from cwrepro.reader import read_trace
    r = torch_cnn.run(out, steps=steps, data=data_name, seed=seed, level="params")
    t = read_trace(r["trace"])
    e = t.evaluations[-1]
    return {"losses": [s.loss32 for s in t.training_steps], "predictions": e["predictions"], "testAccuracy": e["accuracy"],
            "testLoss": e["loss"]}


def summarise(run: dict, torch_run: dict) -> dict:
    a, b = np.array(run["losses"]), np.array(torch_run["losses"])
    return {"finalLoss": float(a[-1]), "lastEpochMeanLoss": float(a[-45:].mean()), "testAccuracy": run["testAccuracy"],
            "testLoss": run["testLoss"],
            "predictionAgreementWithTorch": float(np.mean(np.array(run["predictions"]) == np.array(torch_run["predictions"]))),
            "maxRelativeLossDifferenceFromTorch": float(np.max(np.abs(a - b) / np.abs(b)))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/ablation")
    p.add_argument("--steps", type=int, default=135)
    p.add_argument("--data", default="digits", choices=["digits", "mnist"])
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (init and order of the torch run)")
    a = p.parse_args(argv)
    data_nchw = datasets.load(a.data)
    data = keras_cnn.nhwc(data_nchw)
    results = {"torch": []}
    for seed in range(a.seeds):
        tdir = os.path.join(a.out, f"seed-{seed}", "torch")
        t = torch_reference(tdir, a.data, a.steps, seed, data_nchw)
        results["torch"].append(summarise(t, t))
        for variant in VARIANTS:
            results.setdefault(variant, []).append(summarise(keras_run(variant, tdir, data, a.steps, seed), t))
        print(f"seed {seed} done", file=sys.stderr)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "ablation.json"), "w") as f:
        json.dump({"steps": a.steps, "data": a.data, "seeds": a.seeds, "results": results}, f, indent=1)
    print(f"| run | test accuracy (mean over {a.seeds} seeds) | final loss | last-epoch mean loss | test loss | "
          "prediction agreement with torch | max relative loss difference from torch |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        def col(k, fmt):
            vals = [r[k] for r in rows]
            return " / ".join(fmt.format(x) for x in vals) if len(vals) <= 1 else \
                f"{fmt.format(np.mean(vals))} ({', '.join(fmt.format(x) for x in vals)})"
        print(f"| {name} | {col('testAccuracy', '{:.4f}')} | {col('finalLoss', '{:.4f}')} | {col('lastEpochMeanLoss', '{:.4f}')} | "
              f"{col('testLoss', '{:.4f}')} | {col('predictionAgreementWithTorch', '{:.3f}')} | "
              f"{col('maxRelativeLossDifferenceFromTorch', '{:.2e}')} |")


if __name__ == "__main__":
    main()
