"""Fast adversarial training (Wong, Rice & Kolter 2020, "Fast is better than free").

FGSM from a uniform random start in the ε-ball with step α = 1.25·ε, then one
weight update on those examples: one input gradient per step instead of PGD-k's
k. Its known failure is catastrophic overfitting: within an epoch, robustness
to PGD collapses while FGSM accuracy soars. `CatastrophicOverfittingGuard`
watches PGD accuracy on a held-out batch after every epoch and, when it
collapses, rolls the weights back to the best epoch and stops (their "early
stopping" guard).
"""

import keras
import numpy as np

from kerasll.attacks import check_budget, pgd
from kerasll.collapse import MAX_DROP
from kerasll.defenses.adversarial import AdversarialTrainingModel
from kerasll.defenses.registry import fgsm_step
from kerasll.errors import KerasllError


@keras.saving.register_keras_serializable(package="kerasll")
class FastAdversarialTrainingModel(AdversarialTrainingModel):
    """FGSM adversarial training from a random start ("fast AT").

    It is PGD adversarial training with one step of α = 1.25·ε from a uniform
    random start: the attack runs in inference mode, the weights are trained
    on the perturbed batch, and the history reports `robust_accuracy` (on the
    FGSM batch, before the update).

    Args:
        classifier: a Keras model mapping [0,1] images to logits.
        eps: L∞ radius in pixel units (e.g. 10/255).
        step_size: the FGSM step in pixel units, in (0, 1] (default 1.25·eps).
        seed: seed for the random starts.

    Example:
        >>> model = FastAdversarialTrainingModel(build_model("lenet", (28, 28, 1), 10), eps=10/255)
        >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> model.fit(x, y, epochs=5, callbacks=[CatastrophicOverfittingGuard(x_held, y_held, 10/255)])
    """

    def __init__(self, classifier, eps, step_size=None, seed=None, **kwargs):
        step_size = fgsm_step(eps, step_size)
        self.check_params(eps, step_size)
        if kwargs.pop("steps", 1) != 1 or kwargs.pop("norm", "linf") != "linf":
            raise KerasllError("fast AT takes one L∞ FGSM step: steps must be 1 and norm 'linf' "
                               "(use AdversarialTrainingModel for PGD-k or L2)")
        super().__init__(classifier, eps, step_size=step_size, steps=1, norm="linf", seed=seed, **kwargs)

    @classmethod
    def check_params(cls, eps, step_size):
        check_step(step_size)
        check_budget(eps, step_size, 1, "linf", 1)

    def get_config(self):
        config = super().get_config()
        config.pop("steps")
        config.pop("norm")
        return config


def check_step(step_size):
    """An FGSM step must lie in (0, 1] pixel units."""
    try:
        ok = 0 < float(step_size) <= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise KerasllError(f"FGSM step size must be in (0, 1] pixel units (e.g. 12.5/255), got {step_size}")


class CatastrophicOverfittingGuard(keras.callbacks.Callback):
    """Stop and roll back when PGD accuracy on a held-out batch collapses.

    After every epoch, runs PGD (`steps` steps of ε/4, random start) on the held-out
    images and logs `holdout_pgd_accuracy`. The weights of the epoch with the best
    such accuracy are kept; when accuracy falls more than `drop` below that best,
    they are restored and training stops (Wong et al. 2020 break on a 0.2 drop).

    Args:
        x, y: held-out images ([0,1]) and labels, never trained on.
        eps: the PGD radius (the training ε).
        steps: PGD steps.
        drop: the fall in accuracy (a fraction) that counts as a collapse (`kerasll.collapse.MAX_DROP`).
        seed: seed of the PGD starts.

    Attributes:
        stopped_epoch: the epoch (0-based) at which training stopped, else None.
        best_epoch: the epoch whose weights the model ends with.
    """

    def __init__(self, x, y, eps, steps=10, drop=MAX_DROP, seed=0):
        super().__init__()
        check_budget(eps, eps / 4, steps, "linf", 1)
        self.x, self.y = np.asarray(x, np.float32), np.asarray(y)
        self.eps, self.steps, self.drop, self.seed = float(eps), int(steps), float(drop), int(seed)
        self.best = -1.0
        self.best_epoch = None
        self.best_weights = None
        self.stopped_epoch = None

    def _accuracy(self):
        classifier = getattr(self.model, "classifier", self.model)
        x_adv = pgd(classifier, self.x, self.y, self.eps, self.eps / 4, self.steps, seed=self.seed)
        pred = np.argmax(classifier.predict(x_adv, verbose=0, batch_size=512), -1)
        return float(np.mean(pred == self.y.reshape(-1)))

    def on_epoch_end(self, epoch, logs=None):
        acc = self._accuracy()
        if logs is not None:
            logs["holdout_pgd_accuracy"] = acc
        if acc > self.best:
            self.best, self.best_epoch = acc, epoch
            self.best_weights = [w.numpy() for w in self.model.weights]
        elif acc < self.best - self.drop:
            for w, value in zip(self.model.weights, self.best_weights):
                w.assign(value)
            self.stopped_epoch = epoch
            self.model.stop_training = True
