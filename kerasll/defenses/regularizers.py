"""Input-gradient regularisers trained by double backprop (docs/method.md#the-regularisers).

Both add `(strength/2) · mean_batch ‖M(x)‖²` to the compiled loss, estimating
‖M‖² with random vector-Jacobian (or Jacobian-vector) products of the training-mode
logits (`kerasll.backend.vjp`/`jvp`); the training step differentiates those
products again with respect to the weights (double backprop), on every backend.
"""

import keras
from keras import ops

from kerasll import backend
from kerasll.defenses.base import DefenseModel, Objective, check_strength, train_tracker
from kerasll.errors import KerasllError, check_choice
from kerasll.jacobian import PROJECTIONS, jvp_sq_norm, projected_sq_norm, wide


class _GradientRegModel(DefenseModel):
    target = None  # the projected_sq_norm target

    def __init__(self, classifier, strength, projections=1, projection="vjp", seed=None, **kwargs):
        super().__init__(classifier, seed=seed, **kwargs)
        _GradientRegModel.check_params(strength, projections, projection)
        self.strength = float(strength)
        self.projections = int(projections)
        self.projection = projection
        self.penalty_tracker = train_tracker("penalty")

    @classmethod
    def check_params(cls, strength, projections=1, projection="vjp", **_):
        check_strength(strength)
        if int(projections) < 1:
            raise KerasllError(f"projections must be ≥ 1, got {projections}")
        check_choice("projection", projection, PROJECTIONS)

    def _probs(self, logits):
        return None

    def objective(self, forward, batch, y, seed):
        x = batch["x"]
        if self.projection == "jvp":  # one forward pass gives the logits and J·u
            per_sample, y_pred = jvp_sq_norm(forward, x, self.target, self.projections, seed, self._probs)
        else:
            y_pred, pull = backend.vjp(forward, x)
            logits = wide(y_pred)
            per_sample = projected_sq_norm(pull, logits, self.target, self.projections, seed=seed,
                                           probs=self._probs(logits))
        penalty = ops.mean(per_sample)
        return Objective(x, y_pred, penalty, {"penalty": penalty})

    def get_config(self):
        config = super().get_config()
        config.update(strength=self.strength, projections=self.projections, projection=self.projection)
        return config


@keras.saving.register_keras_serializable(package="kerasll")
class JacobianRegModel(_GradientRegModel):
    """Jacobian regularisation (Hoffman et al. 2019): `CE + (λ/2)·mean ‖J(x)‖²_F`.

    ‖J‖²_F is estimated as `(C/n) Σ_μ ‖v_μᵀ J‖²` with `v_μ` uniform on the unit
    sphere of R^C, one vector-Jacobian product per projection.

    Args:
        classifier: a Keras model mapping [0,1] images to logits.
        strength: λ ≥ 0.
        projections: random projections per step (n ≥ 1).
        seed: seed for the projections.

    The fit history reports `penalty`, the batch mean of the ‖J‖²_F estimate.

    Example:
        >>> model = JacobianRegModel(build_model("lenet", (28, 28, 1), 10), 0.01)
        >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> model.fit(x, y, epochs=1)
    """

    target = "jacobian"


@keras.saving.register_keras_serializable(package="kerasll")
class AMSRegModel(_GradientRegModel):
    """AMSReg (paper Eq. 20): `CE + (λ/2)·mean ‖M(x)‖²`, flattening log p(x).

    - `estimator="bound"` (the paper): M = diag(p)J, estimated as
      `C·‖(v ⊙ p)ᵀJ‖²`; by Proposition 3.1, `‖∇x log p‖² ≤ C‖diag(p)J‖²_F`.
    - `estimator="exact"` (beyond the paper): M = Jᵀp = ∇x log p(x), one
      vector-Jacobian product with cotangent p — as cheap as one projection,
      with no bound and no variance.

    Whether p carries gradient to the weights (`probability_gradient`): by
    default it does, so the step follows the true gradient of the stated
    objective — the model may lower the penalty both by shrinking its Jacobian
    and by moving probability away from classes whose logits are steep. With
    `probability_gradient=False`, p is held constant (stop-gradient) and the
    penalty acts as a probability-weighted Jacobian penalty only.

    Args:
        classifier: a Keras model mapping [0,1] images to logits.
        strength: λ ≥ 0 (the paper's tables' symbol; its Eq. 20 writes μ).
        projections: random projections per step for "bound" (ignored by "exact").
        estimator: "bound" or "exact".
        probability_gradient: let p carry gradient to the weights.
        seed: seed for the projections.

    The fit history reports `penalty`, the batch mean of the estimated ‖M‖².

    Example:
        >>> model = AMSRegModel(build_model("lenet", (28, 28, 1), 10), 0.5)
        >>> model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
        ...               keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ...               metrics=["accuracy"])
        >>> model.fit(x, y, epochs=1, validation_data=(x_val, y_val))
    """

    ESTIMATORS = ("bound", "exact")

    def __init__(self, classifier, strength, projections=1, estimator="bound",
                 probability_gradient=True, projection="vjp", seed=None, **kwargs):
        super().__init__(classifier, strength, projections, projection=projection, seed=seed, **kwargs)
        self.check_params(strength, projections, estimator, projection)
        self.estimator = estimator
        self.probability_gradient = bool(probability_gradient)

    @classmethod
    def check_params(cls, strength, projections=1, estimator="bound", projection="vjp", **_):
        super().check_params(strength, projections, projection)
        check_choice("AMSReg estimator", estimator, cls.ESTIMATORS)

    @property
    def target(self):
        return "exact" if self.estimator == "exact" else "weighted"

    def _probs(self, logits):
        probs = ops.softmax(logits)
        return probs if self.probability_gradient else ops.stop_gradient(probs)

    def get_config(self):
        config = super().get_config()
        config.update(estimator=self.estimator, probability_gradient=self.probability_gradient)
        return config
