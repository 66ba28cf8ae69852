"""Training's progress: a Keras callback with a rich bar per epoch (apart, as it imports Keras)."""

import time

import keras

from kerasll.cli.common import console
from kerasll.cli.progress import bars


class TrainingProgress(keras.callbacks.Callback):
    """A bar per epoch (batches) and a summary line when each epoch ends."""

    KEYS = ("loss", "accuracy", "penalty", "robust_accuracy", "val_loss", "val_accuracy")

    def __init__(self):
        super().__init__()
        self.bar = bars()

    def on_train_begin(self, logs=None):
        self.epochs, self.steps = self.params.get("epochs"), self.params.get("steps")
        self.bar.start()

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        self.task = self.bar.add_task(f"epoch {epoch + 1}/{self.epochs}", total=self.steps, info="")

    def on_train_batch_end(self, batch, logs=None):
        info = f"loss {float(logs['loss']):.4f}" if logs and "loss" in logs else ""
        self.bar.update(self.task, completed=batch + 1, info=info)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.remove_task(self.task)
        shown = "  ".join(f"{k} {float(logs[k]):.4f}" for k in self.KEYS if k in (logs or {}))
        console.print(f"epoch {epoch + 1}/{self.epochs}  {shown}  ({time.perf_counter() - self.start:.1f}s)")

    def on_train_end(self, logs=None):
        self.bar.stop()
