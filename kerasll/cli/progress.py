"""Rich progress bars: a Keras callback for training, a callable for evaluations."""

import time

import keras
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from kerasll.cli.common import console


def _progress():
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                    console=console, transient=True)


class TrainingProgress(keras.callbacks.Callback):
    """A bar per epoch (batches) and a summary line when each epoch ends."""

    KEYS = ("loss", "accuracy", "penalty", "robust_accuracy", "val_loss", "val_accuracy")

    def __init__(self):
        super().__init__()
        self.bar = _progress()

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


class TaskProgress:
    """`with TaskProgress("PGD") as progress: fn(progress=progress)` — a bar fed by (done, total).

    Attacks call `progress.attack(name, done, total, robust_accuracy)`: one bar
    per attack, showing the robust accuracy so far.
    """

    def __init__(self, description):
        self.description = description

    def __enter__(self):
        self.bar = _progress()
        self.bar.start()
        self.task, self.done, self.phase = None, 0, None
        return self

    def __call__(self, done, total, description=None, info=""):
        phase = description or self.description
        if self.task is None or done < self.done or phase != self.phase:  # a new phase starts
            if self.task is not None:
                self.bar.update(self.task, visible=False)
            self.task = self.bar.add_task(phase, total=total, info="")
            self.phase = phase
        self.done = done
        self.bar.update(self.task, completed=done, total=total, info=info)

    def attack(self, name, done, total, robust_accuracy=None):
        info = "" if robust_accuracy is None else f"robust {100 * robust_accuracy:.2f}%"
        self(done, total, f"{self.description}: {name}", info)

    def __exit__(self, *exc):
        self.bar.stop()
