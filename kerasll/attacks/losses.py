"""The losses attacks ascend, on float32 logits: cross-entropy, the margin, DLR and targeted DLR,
their input gradients, and the one test of "fooled" every attack uses.

Written in `keras.ops` (the input gradient through `kerasll.backend`): the same code on every Keras backend.
"""

import numpy as np
from keras import ops

from kerasll import backend


def cross_entropy(y, logits):
    """Per-sample cross-entropy for integer labels (B,) or one-hot/soft labels (B, C)."""
    logits = ops.cast(logits, "float32")
    if len(y.shape) == 2 and y.shape[-1] == logits.shape[-1] and y.shape[-1] != 1:
        return backend.cross_entropy(ops.cast(y, "float32"), logits)
    return backend.cross_entropy(ops.reshape(ops.cast(y, "int32"), (-1,)), logits)


def labels_of(y):
    """Integer labels (B,) from integer labels (B,) or (B, 1), or one-hot/soft labels (B, C)."""
    y = ops.convert_to_tensor(y)
    if len(y.shape) == 2 and y.shape[-1] != 1:
        return ops.cast(ops.argmax(y, axis=-1), "int32")
    return ops.reshape(ops.cast(y, "int32"), (-1,))


def fooled(logits, y):
    """Per sample: the model's top class is not the label `y` (integer labels, (B,))."""
    return ops.not_equal(ops.cast(ops.argmax(logits, axis=-1), "int32"), y)


def _true_logit(logits, y):
    return ops.take_along_axis(logits, ops.expand_dims(ops.cast(y, "int32"), 1), axis=1)[:, 0]


def margin(y, logits):
    """z_y − max_{i≠y} z_i per sample: negative exactly when the model is fooled."""
    logits = ops.cast(logits, "float32")
    y = labels_of(y)
    others = ops.where(ops.one_hot(y, ops.shape(logits)[1]) > 0, -np.inf, logits)
    return _true_logit(logits, y) - ops.max(others, axis=1)


def dlr_loss(y, logits):
    """The DLR loss of Croce & Hein (2020): −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3)."""
    logits = ops.cast(logits, "float32")
    top = ops.top_k(logits, 3)[0]
    return -margin(y, logits) / (top[:, 0] - top[:, 2] + 1e-12)


def targeted_dlr_loss(y, target, logits):
    """Targeted DLR: −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2); needs ≥ 4 classes."""
    logits = ops.cast(logits, "float32")
    y = labels_of(y)
    top = ops.top_k(logits, 4)[0]
    diff = _true_logit(logits, y) - _true_logit(logits, target)
    return -diff / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def loss_and_grad(model, x, y, loss_fn=cross_entropy, samples=1):
    """Per-sample `loss_fn(y, logits)` at `x`, its input gradient, and the logits (inference mode).

    With `samples` > 1 (expectation over transformation, for randomised models), the
    gradient is the mean over that many forward-backward passes, and the loss and
    logits are the last pass's, as in the reference AutoAttack's `eot_iter`.
    """
    def forward(xx):
        logits = model(xx, training=False)
        return loss_fn(y, logits), logits

    step = backend.value_and_input_grad(forward, has_aux=True)

    def one():
        (loss, logits), grad = step(x)
        return loss, grad, logits

    loss, grad, logits = one()
    if samples == 1:
        return loss, grad, logits

    def body(i, total, _loss, _logits):
        loss, grad, logits = one()
        return i + 1, total + grad, loss, logits

    _, total, loss, logits = ops.while_loop(lambda i, *_: i < samples, body, (1, grad, loss, logits))
    return loss, total / ops.cast(samples, total.dtype), logits


def fgsm_direction(model, x, y):
    """sign(∇x CE(f(x), y)): the direction FGSM steps along, and the landscapes' "fgsm" direction
    (docs/method.md#landscapes); one signed tensor shaped like `x`."""
    _, grad, _ = loss_and_grad(model, x, y)
    return ops.sign(grad)
