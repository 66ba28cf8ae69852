"""Gaussian data augmentation (Cohen, Rosenfeld & Kolter 2019): the base classifier of randomized smoothing.

Each training step adds N(0, σ²I) noise to the batch, in pixel units and not
clipped to [0, 1] (the authors' `train.py`), and takes one ordinary step on the
noisy images. A classifier trained so is accurate under the noise that
`kerasll certify` draws at the same σ, which is what gives large certified radii.
"""

import keras
from keras import ops

from kerasll.attacks import noise
from kerasll.defenses.base import DefenseModel
from kerasll.defenses.registry import DEFAULT_SIGMA
from kerasll.errors import check_positive


@keras.saving.register_keras_serializable(package="kerasll")
class GaussianNoiseModel(DefenseModel):
    """Training on x + δ, δ ~ N(0, σ²I) drawn afresh every step, not clipped.

    Args:
        classifier: a Keras model mapping [0,1] images to logits.
        sigma: the noise's standard deviation in pixel units (certify with the same σ).
        seed: seed of the noise (each step's draws depend on it and the optimizer step).

    Example:
        >>> model = GaussianNoiseModel(build_model("lenet", (28, 28, 1), 10), sigma=0.25)
        >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> model.fit(x, y, epochs=5)
        >>> kerasll.certify(model, x_test[:100], y_test[:100], sigma=0.25, n=10_000)
    """

    def __init__(self, classifier, sigma=DEFAULT_SIGMA, seed=None, **kwargs):
        super().__init__(classifier, seed=seed, **kwargs)
        self.check_params(sigma)
        self.sigma = float(sigma)

    @classmethod
    def check_params(cls, sigma=DEFAULT_SIGMA):
        check_positive("sigma", sigma, 0.25)

    def prepare(self, infer, x, y, seed):
        """`x` plus this step's noise N(0, σ²I), not clipped."""
        x = ops.convert_to_tensor(x)
        draws = noise.normal(noise.fold(seed, 0), noise.row_keys(ops.shape(x)[0]), 0, x.shape[1:], x.dtype)
        return {"x": x + self.sigma * draws}

    def noisy(self, x):
        """The noisy images this step would train on (the optimizer's current step's draws)."""
        return self.prepare(self.classifier, x, None, self.step_seed())["x"]

    def get_config(self):
        config = super().get_config()
        config.update(sigma=self.sigma)
        return config
