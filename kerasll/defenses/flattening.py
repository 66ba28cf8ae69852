"""Flatten the likelihood along the directions attacks use (beyond the paper, its §6 question).

AMSReg flattens log p̃ at the clean point in every direction at once. An attack
moves along one direction, the sign of the loss gradient, so these defenses
penalise the likelihood where an FGSM step from a random start lands:

- ``variant="gradient"``: the exact AMS penalty at the FGSM point x′,
  ‖∇x log p̃(x′)‖², trained by double backprop.
- ``variant="difference"``: the likelihood change along the step,
  (log p̃(x′) − log p̃(x))², with no double backprop.
- ``variant="at-difference"``: the difference penalty on top of fast
  adversarial training: the cross-entropy is taken at x′ instead of x (μ = 0 is
  fast AT without its overfitting guard).

x′ = Π(x₀ + α·sign ∇x CE(f(x₀), y)), x₀ uniform in the L∞ ε-ball around x, Π
the projection onto that ball and the pixel box; x′ carries no gradient. The loss
is `CE(f(x), y) + (μ/2)·mean_batch penalty`, cross-entropy on the clean batch
(on x′ for "at-difference", whose compiled metrics are then measured on x′,
as adversarial training's are).
"""

import keras
from keras import ops

from kerasll import backend
from kerasll.attacks import check_budget, noise, random_start
from kerasll.attacks.geometry import project
from kerasll.attacks.losses import fgsm_direction
from kerasll.defenses.base import DefenseModel, Objective, check_strength, train_tracker
from kerasll.defenses.fast import check_step
from kerasll.defenses.registry import fgsm_step
from kerasll.errors import check_choice
from kerasll.jacobian import sq_norm, wide
from kerasll.likelihood import delta_log_px, log_px


def _difference(logits_adv, logits_clean):
    """(log p̃(x′) − log p̃(x))² per sample."""
    return ops.square(delta_log_px(logits_adv, logits_clean))


@keras.saving.register_keras_serializable(package="kerasll")
class AttackFlatteningModel(DefenseModel):
    """Penalise the likelihood landscape along the FGSM direction ("adflat").

    Args:
        classifier: a Keras model mapping [0,1] images to logits.
        strength: μ ≥ 0.
        variant: "gradient" (‖∇x log p̃(x′)‖²), "difference" ((log p̃(x′) − log p̃(x))²) or
            "at-difference" (the difference penalty, with the cross-entropy at x′).
        eps: L∞ radius of the random start and of the step's ball, pixel units.
        step_size: the FGSM step α in (0, 1] pixel units (default 1.25·eps).
        seed: seed for the random starts.

    The fit history reports `penalty`, the batch mean of the penalty.

    Example:
        >>> model = AttackFlatteningModel(build_model("lenet", (28, 28, 1), 10), 1.0, variant="difference")
        >>> model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
        ...               keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        >>> model.fit(x, y, epochs=1)
    """

    VARIANTS = ("gradient", "difference", "at-difference")

    def __init__(self, classifier, strength, variant="gradient", eps=10 / 255, step_size=None, seed=None,
                 **kwargs):
        super().__init__(classifier, seed=seed, **kwargs)
        step_size = fgsm_step(eps, step_size)
        self.check_params(strength, variant, eps, step_size)
        self.variant = variant
        self.strength = float(strength)
        self.eps = float(eps)
        self.step_size = float(step_size)
        self.penalty_tracker = train_tracker("penalty")

    @classmethod
    def check_params(cls, strength, variant="gradient", eps=10 / 255, step_size=None):
        check_strength(strength)
        check_choice("adflat variant", variant, cls.VARIANTS)
        step_size = fgsm_step(eps, step_size)
        check_step(step_size)
        check_budget(eps, step_size, 1, "linf", 1)

    def prepare(self, infer, x, y, seed):
        """x′: one signed CE-gradient step of α from a uniform start in the ε-ball (inference mode)."""
        x = ops.convert_to_tensor(x)
        eps = ops.cast(self.eps, x.dtype)
        x_start = random_start(x, eps, "linf", noise.fold(seed, 0), keys=noise.row_keys(ops.shape(x)[0]))
        x_step = x_start + ops.cast(self.step_size, x.dtype) * fgsm_direction(infer, x_start, y)
        return {"x": x, "x_adv": ops.stop_gradient(project(x_step, x, eps, "linf"))}

    def attack_points(self, x, y):
        """The points x′ this step would penalise at (the optimizer's current step's draws)."""
        return self.prepare(self.classifier, x, y, self.step_seed())["x_adv"]

    def penalty(self, forward, x_adv, y_pred):
        """Per-sample penalty (B,) at the points `x_adv`, differentiable in the weights; `forward` is the
        training-mode classifier and `y_pred` its logits at the clean points."""
        if self.variant in ("difference", "at-difference"):
            return _difference(forward(x_adv), y_pred)
        values, pull = backend.vjp(lambda z: log_px(wide(forward(z))), x_adv)
        return sq_norm(wide(pull(ops.ones_like(values))))

    def objective(self, forward, batch, y, seed):
        x, x_adv = batch["x"], batch["x_adv"]
        if self.variant == "at-difference":  # cross-entropy (and metrics) at x′
            y_adv = forward(x_adv)
            penalty = ops.mean(_difference(y_adv, forward(x)))
            return Objective(x_adv, y_adv, penalty, {"penalty": penalty})
        y_pred = forward(x)
        penalty = ops.mean(self.penalty(forward, x_adv, y_pred))
        return Objective(x, y_pred, penalty, {"penalty": penalty})

    def get_config(self):
        config = super().get_config()
        config.update(strength=self.strength, variant=self.variant, eps=self.eps, step_size=self.step_size)
        return config
