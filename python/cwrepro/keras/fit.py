"""`Capture.callback()`: model.fit at level params. The callback wraps the model's `train_step`
and `_compute_loss` (Keras 3, TensorFlow backend) so that every fit step also stores its batch
and its loss in three host-readable variables; at the end of each batch the callback reads them
and the parameters after the update, and writes the step. The loss is the exact float32 loss
of the batch (Keras's own logs hold a running mean). Needs steps_per_execution = 1."""

from __future__ import annotations

import keras

from ..errors import CaptureError


class FitCallback(keras.callbacks.Callback):
    def __init__(self, capture):
        super().__init__()
        if keras.backend.backend() != "tensorflow":
            raise CaptureError(f"callback(): supported with the TensorFlow backend of Keras, not {keras.backend.backend()!r}; "
                               "use a training loop with cap.step")
        import tensorflow as tf
        self.capture = capture
        model = capture.model
        for attr in ("train_step", "_compute_loss"):
            if not hasattr(model, attr):
                raise CaptureError(f"callback(): this Keras ({keras.__version__}) has no Model.{attr}; "
                                   "use a GradientTape loop with cap.step")
        unknown = tf.TensorShape(None)
        self._x = tf.Variable(tf.zeros([0], tf.float32), shape=unknown, trainable=False, name="cwrepro_batch_x")
        self._y = tf.Variable(tf.zeros([0], tf.int32), shape=unknown, trainable=False, name="cwrepro_batch_y")
        self._loss = tf.Variable(0.0, dtype=tf.float32, trainable=False, name="cwrepro_loss")
        self._seen = tf.Variable(0, dtype=tf.int64, trainable=False, name="cwrepro_steps")
        self._reported = 0
        original_step, original_loss = model.train_step, model._compute_loss
        holder = {}

        def compute_loss(*args, **kwargs):
            loss = original_loss(*args, **kwargs)
            if kwargs.get("training", True):
                holder["loss"] = loss
            return loss

        def train_step(data):
            x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
            logs = original_step(data)
            self._x.assign(tf.cast(x, tf.float32))
            self._y.assign(tf.cast(y, tf.int32))
            self._loss.assign(tf.cast(holder["loss"], tf.float32))
            self._seen.assign_add(1)
            return logs

        model._compute_loss = compute_loss
        model.train_step = train_step
        model.train_function = None  # rebuilt by fit with the wrapped step
        self._restore = (model, original_step, original_loss)
        capture._fit_callbacks.append(self)

    def on_train_begin(self, logs=None):
        spe = getattr(self.model, "steps_per_execution", 1)
        spe = int(spe.numpy()) if hasattr(spe, "numpy") else int(spe)
        if spe != 1:
            raise CaptureError(f"callback(): steps_per_execution={spe}; a per-step capture needs compile(steps_per_execution=1)")

    def on_epoch_begin(self, epoch, logs=None):
        self.capture.epoch = int(epoch)

    def on_train_batch_end(self, batch, logs=None):
        seen = int(self._seen.numpy())
        if seen != self._reported + 1:
            raise CaptureError(f"callback(): {seen - self._reported} train steps ran since the last batch end; "
                               "the capture needs exactly one per batch")
        self._reported = seen
        self.capture._fit_step(self._loss.numpy(), self._x.numpy(), self._y.numpy())

    def remove(self):
        model, step, loss = self._restore
        if model.__dict__.get("train_step") is not None:
            del model.__dict__["train_step"]
        if model.__dict__.get("_compute_loss") is not None:
            del model.__dict__["_compute_loss"]
        model.train_function = None
