"""SGD with coupled weight decay, the "weight decay 5e-4" of the papers kerasll reproduces.

Keras's `SGD(weight_decay=wd)` decays decoupled from the gradient: w ← w − lr·wd·w
after the momentum update. The papers' protocol (PyTorch's `SGD(weight_decay=wd)`)
adds wd·w to the gradient before momentum, i.e. an L2 term (wd/2)·‖w‖² in the
loss; with momentum 0.9 its effect is about ten times stronger.
"""

import keras

from kerasll.errors import KerasllError


@keras.saving.register_keras_serializable(package="kerasll")
class CoupledWeightDecaySGD(keras.optimizers.SGD):
    """SGD (with momentum) whose weight decay is added to the gradient before momentum.

    The update of every trainable variable it is given (kernels, biases and
    normalisation scales alike, as in PyTorch) is

        g ← ∇w loss + l2·w;   m ← momentum·m − lr·g;   w ← w + m

    (Nesterov as in Keras's SGD). Keras's own `weight_decay` (decoupled) is still
    accepted and applied on top.

    Args:
        learning_rate, momentum, nesterov: as `keras.optimizers.SGD`.
        l2: the coupled decay coefficient (the papers' "weight decay", e.g. 5e-4).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, l2=5e-4, name="coupled_sgd", **kwargs):
        if not l2 >= 0:
            raise KerasllError(f"l2 weight decay must be ≥ 0, got {l2}")
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov, name=name, **kwargs)
        self.l2 = float(l2)

    def update_step(self, gradient, variable, learning_rate):
        if self.l2:
            gradient = keras.ops.add(gradient, keras.ops.multiply(keras.ops.cast(self.l2, variable.dtype), variable))
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["l2"] = self.l2
        return config


@keras.saving.register_keras_serializable(package="kerasll")
class WarmupPiecewise(keras.optimizers.schedules.LearningRateSchedule):
    """The paper's step schedule after a linear warm-up (Goyal et al. 2017).

    For the first `warmup_steps` steps the rate rises linearly from lr/warmup_steps to
    `values[0]`; after that it is `PiecewiseConstantDecay(boundaries, values)`.
    `warmup_steps=0` is the plain step schedule.
    """

    def __init__(self, boundaries, values, warmup_steps=0):
        self.boundaries = [int(b) for b in boundaries]
        self.values = [float(v) for v in values]
        self.warmup_steps = int(warmup_steps)
        self.steps = keras.optimizers.schedules.PiecewiseConstantDecay(self.boundaries, self.values)

    def __call__(self, step):
        rate = self.steps(step)
        if not self.warmup_steps:
            return rate
        ramp = keras.ops.minimum(1.0, (keras.ops.cast(step, "float32") + 1.0) / float(self.warmup_steps))
        return keras.ops.cast(rate, "float32") * ramp

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "warmup_steps": self.warmup_steps}
