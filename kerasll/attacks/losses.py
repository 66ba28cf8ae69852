"""The losses attacks ascend, on float32 logits: cross-entropy, the margin, DLR and targeted DLR,
their input gradients, and the one test of "fooled" every attack uses."""

import numpy as np
import tensorflow as tf


def cross_entropy(y, logits):
    """Per-sample cross-entropy for integer labels (B,) or one-hot/soft labels (B, C)."""
    logits = tf.cast(logits, tf.float32)
    if y.shape.rank == 2 and y.shape[-1] == logits.shape[-1] and y.shape[-1] != 1:
        return tf.nn.softmax_cross_entropy_with_logits(tf.cast(y, tf.float32), logits)
    y = tf.reshape(tf.cast(y, tf.int32), [-1])
    return tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)


def labels_of(y):
    """Integer labels (B,) from integer labels (B,) or (B, 1), or one-hot/soft labels (B, C)."""
    y = tf.convert_to_tensor(y)
    if y.shape.rank == 2 and y.shape[-1] != 1:
        return tf.argmax(y, axis=-1, output_type=tf.int32)
    return tf.reshape(tf.cast(y, tf.int32), [-1])


def fooled(logits, y):
    """Per sample: the model's top class is not the label `y` (integer labels, (B,))."""
    return tf.not_equal(tf.argmax(logits, -1, output_type=tf.int32), y)


def _true_logit(logits, y):
    return tf.gather(logits, y, axis=1, batch_dims=1)


def margin(y, logits):
    """z_y − max_{i≠y} z_i per sample: negative exactly when the model is fooled."""
    logits = tf.cast(logits, tf.float32)
    y = labels_of(y)
    others = tf.where(tf.one_hot(y, tf.shape(logits)[1]) > 0, -np.inf, logits)
    return _true_logit(logits, y) - tf.reduce_max(others, axis=1)


def dlr_loss(y, logits):
    """The DLR loss of Croce & Hein (2020): −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3)."""
    logits = tf.cast(logits, tf.float32)
    top = tf.math.top_k(logits, 3).values
    return -margin(y, logits) / (top[:, 0] - top[:, 2] + 1e-12)


def targeted_dlr_loss(y, target, logits):
    """Targeted DLR: −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2); needs ≥ 4 classes."""
    logits = tf.cast(logits, tf.float32)
    y = labels_of(y)
    top = tf.math.top_k(logits, 4).values
    diff = _true_logit(logits, y) - _true_logit(logits, tf.cast(target, tf.int32))
    return -diff / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def loss_and_grad(model, x, y, loss_fn=cross_entropy, samples=1):
    """Per-sample `loss_fn(y, logits)` at `x`, its input gradient, and the logits (inference mode).

    With `samples` > 1 (expectation over transformation, for randomised models), the
    gradient is the mean over that many forward-backward passes, and the loss and
    logits are the last pass's, as in the reference AutoAttack's `eot_iter`.
    """
    def one():
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = model(x, training=False)
            loss = loss_fn(y, logits)
        return loss, tape.gradient(loss, x, unconnected_gradients=tf.UnconnectedGradients.ZERO), logits

    loss, grad, logits = one()
    if samples == 1:
        return loss, grad, logits

    def body(i, total, _loss, _logits):
        loss, grad, logits = one()
        return i + 1, total + grad, loss, logits

    _, total, loss, logits = tf.while_loop(lambda i, *_: i < samples, body, (tf.constant(1), grad, loss, logits),
                                           parallel_iterations=1)
    return loss, total / tf.cast(samples, total.dtype), logits


def fgsm_direction(model, x, y):
    """sign(∇x CE(f(x), y)): the direction FGSM steps along, and the landscapes' "fgsm" direction
    (docs/method.md#landscapes); one signed tensor shaped like `x`."""
    _, grad, _ = loss_and_grad(model, x, y)
    return tf.sign(grad)
