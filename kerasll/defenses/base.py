"""The shared wrapper: a Keras model around any classifier, trained through `fit` on every Keras backend.

A defense writes what its training step does once, in `keras.ops` (`prepare`: the examples it trains on,
drawn without gradient; `objective`: the logits the loss is taken of and a penalty); the step around it —
gradient, optimizer, metrics — is the backend layer's (`kerasll.backend.train_step`), one per backend.
"""

from typing import NamedTuple

import keras
import numpy as np
from keras import ops

from kerasll import backend
from kerasll.attacks import noise
from kerasll.errors import KerasllError


def train_tracker(name):
    """A `keras.metrics.Mean` reported in the fit history but not in validation."""
    tracker = keras.metrics.Mean(name=name)
    tracker.train_only = True
    return tracker


def check_strength(strength):
    """A regulariser's strength is a finite number ≥ 0."""
    if strength is None:
        raise KerasllError("strength is required: this data set has no default for this defense (pass --strength)")
    try:
        ok = 0 <= float(strength) < float("inf")
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise KerasllError(f"strength must be a number ≥ 0, got {strength!r}")


class Objective(NamedTuple):
    """What a defense's step trains on: the inputs the compiled loss and metrics see (`x`), the training-mode
    logits there (`y_pred`), a batch-mean penalty weighted by the defense's strength (None: none), and values
    for its train-only trackers ({tracker name: batch mean})."""

    x: object
    y_pred: object
    penalty: object = None
    tracked: dict = {}


class DefenseModel(keras.Model):
    """Base class: `call` returns the wrapped classifier's logits.

    Subclasses write `prepare` (the examples a step trains on, made at the step's weights without gradient)
    and `objective` (the logits the loss is taken of and a penalty), in `keras.ops`; the training step
    around them is the backend's (`kerasll.backend.train_step`), so `fit` runs on TensorFlow, JAX and
    PyTorch. Evaluation, prediction, saving and callbacks are Keras's own. The classifier is saved inside
    the `.keras` file.

    Args:
        classifier: a Keras model mapping [0,1] images to logits.
        seed: seed of the defense's random draws (None: random). A training step's
            draws are a function of (seed, optimizer step, replica, row) only — see
            `draw_seed` — so a resumed run draws what an uninterrupted one would.
    """

    def __init__(self, classifier, seed=None, **kwargs):
        if not isinstance(classifier, keras.Model):
            raise KerasllError(f"classifier must be a keras.Model, got {type(classifier).__name__}")
        # The wrapper passes inputs on uncast: its classifier decides its own precision
        # (a float64 classifier is not fed float32, a mixed-precision one casts for itself).
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.classifier = classifier
        self.seed = seed
        self._base_seed = int(seed) if seed is not None else int(np.random.randint(2**31 - 1))

    @classmethod
    def check_params(cls, **params):
        """Raise a one-line `KerasllError` if the defense's arguments are invalid (no model needed)."""

    def call(self, inputs, training=False):
        return self.classifier(inputs, training=training)

    def build(self, input_shape):
        if not self.classifier.built:
            self.classifier.build(input_shape)
        self.built = True

    strength = 0.0  # the penalty's weight (the regularising defenses set it)

    def draw_seed(self, step, replica=0):
        """The seed word of a training step's draws: a hash of the model's seed, the optimizer's step
        counter (restored by `BackupAndRestore`) and the replica id under `tf.distribute`, so each replica
        draws differently and reruns repeat. A step's draws use it with a salt (`noise.fold`) and the rows'
        positions as keys."""
        return noise.fold(self._base_seed, step, replica)

    def step_seed(self):
        """`draw_seed` outside a compiled step (eagerly, or in a `tf.distribute` replica function): the
        optimizer's current step and the replica in sync."""
        step = self.optimizer.iterations if getattr(self, "optimizer", None) is not None else 0
        return self.draw_seed(step, backend.replica_id())

    def prepare(self, infer, x, y, seed):
        """The step's examples, drawn without gradient: {"x": x} by default. `infer(x, training=False)` is the
        classifier at the step's weights in inference mode, what the attacks call."""
        return {"x": ops.convert_to_tensor(x)}

    def schedule(self, step):
        """Values that follow the optimizer's step (a ramp's ε, a weight), added to the step's batch: {} by
        default. `step` is the optimizer's iteration count, a scalar tensor."""
        return {}

    def examples(self, infer, x, y, seed, step):
        """The step's batch: `prepare`'s examples and `schedule`'s values (what every backend's step calls)."""
        return {**self.prepare(infer, x, y, seed), **self.schedule(step)}

    def objective(self, forward, batch, y, seed):
        """The step's `Objective`; `forward(x)` is the training-mode logits, differentiable in the weights."""
        return Objective(batch["x"], forward(batch["x"]))

    def train_step(self, *args):
        return backend.train_step(self, *args)

    def total_loss(self, supervised, penalty, share=1.0):
        """`supervised + (strength/2)·penalty`; `share` = 1 / replicas in sync under `tf.distribute`, by which
        Keras has already divided the compiled loss."""
        if penalty is None:
            return supervised
        return supervised + 0.5 * self.strength * ops.cast(penalty, supervised.dtype) * share

    def track(self, loss, objective, batch_size):
        """Update the metric named "loss" of the compiled model's public `metrics` (as Keras's own step does)
        and the train-only trackers with this step's values."""
        trackers = {m.name: m for m in self.metrics}
        trackers["loss"].update_state(ops.stop_gradient(loss), sample_weight=batch_size)
        for name, value in objective.tracked.items():
            trackers[name].update_state(ops.stop_gradient(value))

    def train_only_metrics(self):
        """Trackers updated only by `train_step` (kept out of validation logs)."""
        return [m for m in self.metrics if getattr(m, "train_only", False)]

    def test_step(self, *args):
        out = super().test_step(*args)  # JAX: (logs, state)
        hidden = {m.name for m in self.train_only_metrics()}
        if isinstance(out, tuple):
            return {k: v for k, v in out[0].items() if k not in hidden}, out[1]
        return {k: v for k, v in out.items() if k not in hidden}

    def get_config(self):
        config = super().get_config()
        config.update(
            classifier=keras.saving.serialize_keras_object(self.classifier), seed=self.seed
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        return cls(**config)

