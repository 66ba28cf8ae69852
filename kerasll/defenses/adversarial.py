"""PGD adversarial training (Madry et al. 2018), examples made inside the train step."""

import keras
from keras import ops

from kerasll.attacks import check_budget, labels_of, noise, pgd_steps, random_start
from kerasll.attacks.pgd import Budget
from kerasll.defenses.base import DefenseModel, Objective, train_tracker


@keras.saving.register_keras_serializable(package="kerasll")
class AdversarialTrainingModel(DefenseModel):
    """Madry PGD adversarial training: each batch is replaced by PGD examples.

    Every step draws a random start in the ε-ball, runs `steps` PGD steps with
    the classifier in inference mode (BatchNorm statistics and dropout are not
    touched by the attack), then trains the weights on the adversarial batch.
    Compiled metrics and the loss are therefore measured on the adversarial
    batch; the history also reports `robust_accuracy` (accuracy on the PGD
    batch, before the update). Validation uses clean data, as Keras does.

    Args:
        classifier: a Keras model mapping [0,1] images to logits.
        eps: radius in pixel units (e.g. 10/255).
        step_size: PGD step in pixel units (default 2.5·eps/steps, Madry's rule).
        steps: PGD steps per batch.
        norm: "linf" or "l2".
        seed: seed for the random starts.

    Example:
        >>> model = AdversarialTrainingModel(build_model("lenet", (28, 28, 1), 10),
        ...                                  eps=10/255, steps=10)
        >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> model.fit(x, y, epochs=1)
    """

    def __init__(self, classifier, eps, step_size=None, steps=10, norm="linf", seed=None, **kwargs):
        super().__init__(classifier, seed=seed, **kwargs)
        step_size = 2.5 * eps / steps if step_size is None else step_size
        AdversarialTrainingModel.check_params(eps, step_size, steps, norm)
        self.eps = float(eps)
        self.step_size = float(step_size)
        self.steps = int(steps)
        self.norm = norm
        self.robust_accuracy = train_tracker("robust_accuracy")

    @classmethod
    def check_params(cls, eps, step_size, steps=10, norm="linf"):
        check_budget(eps, step_size, steps, norm, 1)

    def prepare(self, infer, x, y, seed):
        """PGD examples from a uniform start in the ε-ball, the classifier in inference mode."""
        x = ops.convert_to_tensor(x)
        eps = ops.cast(self.eps, x.dtype)
        x_start = random_start(x, eps, self.norm, noise.fold(seed, 0), keys=noise.row_keys(ops.shape(x)[0]))
        budget = Budget(eps, ops.cast(self.step_size, x.dtype), self.steps)
        return {"x": ops.stop_gradient(pgd_steps(infer, x, ops.convert_to_tensor(y), x_start, budget, self.norm))}

    def objective(self, forward, batch, y, seed):
        y_pred = forward(batch["x"])
        correct = ops.equal(ops.cast(ops.argmax(y_pred, -1), "int32"), labels_of(y))
        return Objective(batch["x"], y_pred, tracked={"robust_accuracy": ops.mean(ops.cast(correct, "float32"))})

    def adversarial_examples(self, x, y):
        """The examples this step would train on (the optimizer's current step's draws)."""
        return self.prepare(self.classifier, x, y, self.step_seed())["x"]

    def get_config(self):
        config = super().get_config()
        config.update(eps=self.eps, step_size=self.step_size, steps=self.steps, norm=self.norm)
        return config
