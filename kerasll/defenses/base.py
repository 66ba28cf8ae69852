"""The shared wrapper: a Keras model around any classifier with its own train step."""

import keras
import numpy as np

from kerasll._lazy import Deferred
from kerasll.errors import KerasllError, NotOnThisBackend

tf = Deferred("tensorflow")  # training code: TensorFlow's so far; loading and calling need none


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


def replica_fraction():
    """1 / replicas in sync: Keras scales the compiled loss by it under tf.distribute."""
    return 1.0 / tf.distribute.get_strategy().num_replicas_in_sync


class DefenseModel(keras.Model):
    """Base class: `call` returns the wrapped classifier's logits.

    Subclasses implement `train_step`; evaluation, prediction, saving and
    callbacks are Keras's own. The classifier is saved inside the `.keras` file.

    Args:
        classifier: a Keras model mapping [0,1] images to logits.
        seed: seed of the defense's random draws (None: random). A training step's
            draws are a function of (seed, optimizer step, replica) only — see
            `step_seed` — so a resumed run draws what an uninterrupted one would.
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

    def fit(self, *args, **kwargs):
        """Keras's `fit`; the defenses' training steps are TensorFlow code so far (docs/backends.md), so on
        another Keras backend it is refused in one line (loading, calling and evaluating work everywhere)."""
        if keras.backend.backend() != "tensorflow":
            raise NotOnThisBackend(f"training {type(self).__name__} runs on Keras's TensorFlow backend so far, not "
                                   f"{keras.backend.backend()!r}; loading, calling and evaluating it run on every "
                                   "backend (docs/backends.md)")
        return super().fit(*args, **kwargs)

    def build(self, input_shape):
        if not self.classifier.built:
            self.classifier.build(input_shape)
        self.built = True

    def step_seed(self, salt=0):
        """A stateless seed pair for this training step's draws number `salt`.

        It depends on the model's seed, the optimizer's step counter (restored by
        `BackupAndRestore`), `salt` and the replica id under `tf.distribute`, so
        each replica draws differently and reruns repeat.
        """
        optimizer = getattr(self, "optimizer", None)  # None before compile
        step = optimizer.iterations if optimizer is not None else 0
        seed = tf.stack([tf.constant(self._base_seed, tf.int64), tf.cast(step, tf.int64)])
        seed = tf.random.experimental.stateless_fold_in(seed, salt)
        replica = tf.distribute.get_replica_context()
        replica_id = replica.replica_id_in_sync_group if replica is not None else 0
        return tf.random.experimental.stateless_fold_in(seed, tf.cast(replica_id, tf.int64))

    def train_only_metrics(self):
        """Trackers updated only by `train_step` (kept out of validation logs)."""
        return [m for m in self.metrics if getattr(m, "train_only", False)]

    def supervised_loss(self, x, y, y_pred, sample_weight=None):
        """The compiled loss (Keras's public `compute_loss`, as in "customizing what happens in fit")."""
        return self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)

    def test_step(self, data):
        logs = super().test_step(data)
        hidden = {m.name for m in self.train_only_metrics()}
        return {k: v for k, v in logs.items() if k not in hidden}

    def _update_loss(self, loss, x):
        """Track the total loss as Keras's own train step does (the metric named "loss" of the
        compiled model's public `metrics`), unscaled for distribution; return it scaled for the optimizer."""
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss / replica_fraction(), sample_weight=tf.shape(x)[0])
        return self.optimizer.scale_loss(loss)

    def _penalised_train_step(self, x, y, sample_weight, forward):
        """One step on `CE + (strength/2)·penalty`, shared by the regularising defenses.

        `forward(x)` runs under the weights' tape and returns (logits, batch-mean penalty);
        the model needs `strength` and a `penalty_tracker`.
        """
        with tf.GradientTape() as tape:
            y_pred, penalty = forward(x)
            loss = self.supervised_loss(x, y, y_pred, sample_weight)
            loss = loss + 0.5 * self.strength * penalty * replica_fraction()
            scaled = self._update_loss(loss, x)
        self._apply(tape, scaled)
        self.penalty_tracker.update_state(penalty)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _apply(self, tape, loss):
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))

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
