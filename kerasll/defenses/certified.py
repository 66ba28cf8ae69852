"""Certified training by interval bound propagation (Gowal et al. 2018, "On the effectiveness of interval bound
propagation for training verifiably robust models"), through `fit` on every Keras backend.

Each step trains on κ·CE(z(x), y) + (1 − κ)·CE(ẑ(x, ε), y), where ẑ are the worst-case logits IBP allows in
the L∞ ball of radius ε ∩ [0, 1]: ẑ_y = 0, ẑ_j = −(IBP's lower bound on z_y − z_j), the last layer folded into
the margins (`kerasll.verification.intervals`). After `warmup_steps` of clean training, ε rises linearly
from 0 to `eps` and κ from 1 to `kappa_end` over `ramp_steps` optimizer steps (Gowal et al.'s ramps; their
MNIST runs: 2,000 warm-up and 10,000 ramp steps of 60,000, κ → 0.5). The bounds are the layers' own, in
`keras.ops`, so the weights' gradient flows through them on TensorFlow, JAX and PyTorch.
"""

import keras
from keras import ops

from kerasll import backend
from kerasll.defenses.base import DefenseModel, Objective, train_tracker
from kerasll.attacks.budgets import check_eps
from kerasll.errors import KerasllError

KAPPA_END = 0.5  # the clean loss's final weight (Gowal et al.)


def ramp(step, start, length):
    """0 before `start`, rising linearly to 1 over `length` steps, then 1 (a float32 scalar)."""
    done = (ops.cast(step, "float32") - float(start)) / float(max(length, 1))
    return ops.clip(done, 0.0, 1.0)


@keras.saving.register_keras_serializable(package="kerasll")
class IBPTrainingModel(DefenseModel):
    """IBP certified training: the clean loss mixed with the loss of IBP's worst-case logits.

    Args:
        classifier: a Keras model on [0, 1] images → logits, a chain of the layers `kl.verify` supports.
        eps: the training radius (L∞, pixel units): the largest ε of the ramp.
        warmup_steps: optimizer steps of clean training first (ε = 0, κ = 1).
        ramp_steps: steps over which ε rises to `eps` and κ falls to `kappa_end`.
        kappa_end: the clean loss's weight after the ramp.
        seed: unused (no random draws); kept for the defenses' common signature.

    The compiled loss must be the classifier's cross-entropy from logits (the default of `kerasll train`): the
    worst-case term is added to it as (1 − κ)·(CE(ẑ) − CE(z)). The history reports `verified_accuracy`, the
    share of the batch IBP verifies at the step's ε.

    Example:
        >>> model = IBPTrainingModel(build_model("lenet", (28, 28, 1), 10), eps=0.1)
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> model.fit(x, y, epochs=20)
        >>> kerasll.verify(model, x_test, y_test, eps=0.1, method="ibp").verified_accuracy
    """

    def __init__(self, classifier, eps, warmup_steps=200, ramp_steps=2000, kappa_end=KAPPA_END, seed=None,
                 **kwargs):
        super().__init__(classifier, seed=seed, **kwargs)
        self.check_params(eps, warmup_steps, ramp_steps, kappa_end)
        from kerasll.verification.intervals import classifier_graph

        classifier_graph(classifier)  # an unsupported layer is refused now, by name, not at the first step
        self.eps, self.kappa_end = float(eps), float(kappa_end)
        self.warmup_steps, self.ramp_steps = int(warmup_steps), int(ramp_steps)
        self.verified_accuracy = train_tracker("verified_accuracy")

    @classmethod
    def check_params(cls, eps, warmup_steps=200, ramp_steps=2000, kappa_end=KAPPA_END):
        check_eps(eps)
        if int(warmup_steps) < 0 or int(ramp_steps) < 0:
            raise KerasllError(f"warmup_steps and ramp_steps must be ≥ 0, got {warmup_steps} and {ramp_steps}")
        if not 0 <= float(kappa_end) <= 1:
            raise KerasllError(f"kappa_end must be in [0, 1], got {kappa_end}")

    def schedule(self, step):
        """This step's ε and κ (the ramps)."""
        done = ramp(step, self.warmup_steps, self.ramp_steps)
        return {"eps": self.eps * done, "kappa": 1.0 - (1.0 - self.kappa_end) * done}

    BOUND_INPUTS = ("eps",)  # the schedule's values the bound reads

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict):
            return self.classifier(inputs, training=training)
        # {"x", "y", "eps", …}: the logits and the margins' lower bounds, in one call so that on JAX both read
        # the step's weights (`stateless_call` maps the variables inside it).
        logits = self.classifier(inputs["x"], training=training)
        return {"logits": logits, "margins": self.margins(inputs, logits.shape[-1])}

    def margins(self, inputs, num_classes):
        """Lower bounds (B, C) on z_y − z_j over the step's ball: IBP's."""
        from kerasll.verification.intervals import interval_margins

        return interval_margins(self.classifier, inputs["x"], inputs["y"], inputs["eps"], num_classes)

    def objective(self, forward, batch, y, seed):
        x = batch["x"]
        labels = ops.reshape(ops.cast(y, "int32"), (-1,))
        out = forward({"x": x, "y": labels, **{k: ops.cast(batch[k], x.dtype) for k in self.BOUND_INPUTS}})
        logits, margins = out["logits"], ops.cast(out["margins"], "float32")
        clean = backend.cross_entropy(labels, ops.cast(logits, "float32"))
        worst = backend.cross_entropy(labels, -margins)  # ẑ_j = −(lower bound on z_y − z_j), ẑ_y = 0
        mix = (1.0 - batch["kappa"]) * ops.mean(worst - clean)
        own = ops.one_hot(labels, margins.shape[-1]) > 0
        verified = ops.cast(ops.all(ops.logical_or(margins > 0, own), axis=-1), "float32")
        return Objective(x, logits, mix, {"verified_accuracy": ops.mean(verified)})

    def total_loss(self, supervised, penalty, share=1.0):
        """κ·CE(z) + (1 − κ)·CE(ẑ), as the compiled CE plus (1 − κ)·(CE(ẑ) − CE(z))."""
        return supervised + ops.cast(penalty, supervised.dtype) * share

    def get_config(self):
        config = super().get_config()
        config.update(eps=self.eps, warmup_steps=self.warmup_steps, ramp_steps=self.ramp_steps,
                      kappa_end=self.kappa_end)
        return config


@keras.saving.register_keras_serializable(package="kerasll")
class CROWNIBPTrainingModel(IBPTrainingModel):
    """CROWN-IBP certified training (Zhang et al. 2020): IBP training whose worst-case logits come from
    β·(CROWN-IBP's bound) + (1 − β)·(IBP's bound), β falling from 1 to 0 over the ε ramp (their "1 → 0").

    CROWN-IBP's bound takes IBP's intermediate intervals and one CROWN pass back from the margins
    (`kerasll.verification.backward`): tighter than IBP's early in training, when IBP's is loose, at the cost
    of a backward pass per class. Arguments as `IBPTrainingModel`'s; κ falls to `kappa_end` = 0 by default
    (Zhang et al.'s κ: 1 → 0). Networks: the layers `kl.verify` supports but Conv1D and average pooling.

    Example:
        >>> model = CROWNIBPTrainingModel(build_model("lenet", (28, 28, 1), 10), eps=0.1)
    """

    BOUND_INPUTS = ("eps", "beta")

    def __init__(self, classifier, eps, warmup_steps=200, ramp_steps=2000, kappa_end=0.0, seed=None, **kwargs):
        super().__init__(classifier, eps, warmup_steps, ramp_steps, kappa_end, seed=seed, **kwargs)
        from kerasll.verification.backward import check_backward
        from kerasll.verification.intervals import classifier_graph

        check_backward([layer for layer, _, _ in classifier_graph(classifier)[0]])

    def schedule(self, step):
        """This step's ε, κ and β (β: 1 → 0 over the ramp)."""
        return {**super().schedule(step), "beta": 1.0 - ramp(step, self.warmup_steps, self.ramp_steps)}

    def margins(self, inputs, num_classes):
        """β·CROWN-IBP + (1 − β)·IBP lower bounds (B, C) on z_y − z_j; IBP's alone once β is 0 (after the ramp),
        sparing the backward pass (about a pass per class)."""
        from kerasll.verification.backward import crown_ibp_margins
        from kerasll.verification.intervals import interval_margins

        x, y, eps, beta = inputs["x"], inputs["y"], inputs["eps"], inputs["beta"]

        def mixed():
            crown, ibp = crown_ibp_margins(self.classifier, x, y, eps, num_classes, with_ibp=True)
            return beta * crown + (1.0 - beta) * ibp

        return ops.cond(beta > 0, mixed, lambda: interval_margins(self.classifier, x, y, eps, num_classes))
