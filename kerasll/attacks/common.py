"""Pieces every attack shares: losses on logits, norms, the projection, random starts, checks.

All budgets are in [0,1] pixel units; losses are computed from float32 logits.
"""

import numpy as np
import tensorflow as tf

from kerasll.attacks import noise
from kerasll.attacks.compiled import batch_spec, compiled, spec
from kerasll.errors import KerasllError

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


def _axes(t):
    return list(range(1, t.shape.rank))


def l2_norm(t, keepdims=True):
    """Per-sample L2 norm (shaped to broadcast against `t` by default)."""
    return tf.sqrt(tf.reduce_sum(tf.square(t), axis=_axes(t), keepdims=keepdims) + 1e-12)


def lp_norm(t, norm, keepdims=False):
    """Per-sample L∞ or L2 norm of `t`."""
    if norm == "linf":
        return tf.reduce_max(tf.abs(t), axis=_axes(t), keepdims=keepdims)
    return tf.sqrt(tf.reduce_sum(tf.square(t), axis=_axes(t), keepdims=keepdims))


def normalize(t, norm):
    """`t` scaled to unit `norm` per sample (zero stays zero)."""
    return t / (lp_norm(t, norm, keepdims=True) + 1e-12)


def project(x_adv, x, eps, norm):
    """Project `x_adv` onto the `norm` ball of radius `eps` around `x`, then the box."""
    delta = x_adv - x
    if norm == "linf":
        delta = tf.clip_by_value(delta, -eps, eps)
    else:
        delta = delta * tf.minimum(tf.cast(1.0, delta.dtype), eps / l2_norm(delta))
    return tf.clip_by_value(x + delta, 0.0, 1.0)


def pick(mask, a, b):
    """Per sample: `a` where `mask`, else `b`."""
    return tf.where(tf.reshape(mask, [-1] + [1] * (a.shape.rank - 1)), a, b)


def stronger(loss, fooled, best_loss, best_fooled):
    """Where a candidate beats the best so far: it fools the model and the best does not,
    or both agree on fooling and it has the higher loss."""
    return (fooled & ~best_fooled) | ((fooled == best_fooled) & (loss > best_loss))


def random_start(x, eps, norm, seed, keys=None, counter=0):
    """A uniform draw from the `norm` ball around `x`, clipped to the box.

    `seed` is a `keras.random.SeedGenerator`, a stateless seed pair (a tensor of
    shape [2], as `DefenseModel.step_seed` gives), or an int with `keys`, the
    images' content keys (`noise.image_keys`), so each image's draw depends on
    (seed, key, counter) only and not on its batch or position.
    """
    import keras

    shape = tf.shape(x)
    per_sample = x.shape[1:]
    dtype = x.dtype
    uniform_shape = lambda dims: tf.concat([shape[:1], dims], 0)  # noqa: E731
    if isinstance(seed, keras.random.SeedGenerator):
        uniform = lambda s, c: keras.random.uniform(s, 0.0, 1.0, dtype=dtype, seed=seed)  # noqa: E731
        normal = lambda s, c: keras.random.normal(s, dtype=dtype, seed=seed)  # noqa: E731
    elif tf.is_tensor(seed) and seed.shape.rank == 1:  # a stateless pair; a scalar tensor is an int seed
        pair = lambda c: tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), c)  # noqa: E731
        uniform = lambda s, c: tf.random.stateless_uniform(s, pair(c), dtype=dtype)  # noqa: E731
        normal = lambda s, c: tf.random.stateless_normal(s, pair(c), dtype=dtype)  # noqa: E731
    else:
        uniform = lambda s, c: noise.uniform(seed, keys, c, s[1:], dtype)  # noqa: E731
        normal = lambda s, c: noise.normal(seed, keys, c, s[1:], dtype)  # noqa: E731
        shape = [None, *per_sample.as_list()]
        uniform_shape = lambda dims: [None, *dims]  # noqa: E731
    if norm == "linf":
        delta = (2.0 * uniform(shape, 3 * counter) - 1.0) * eps
    else:
        # Uniform in the L2 ball: a uniform direction, radius eps·u^(1/D).
        direction = normal(shape, 3 * counter + 1)
        direction = direction / l2_norm(direction)
        dim = float(np.prod(per_sample.as_list()))
        u = uniform(uniform_shape([1] * len(per_sample)), 3 * counter + 2)
        delta = direction * eps * u ** (1.0 / dim)
    return tf.clip_by_value(x + tf.cast(delta, dtype), 0.0, 1.0)


def restart_seed(seed, restart):
    """A 31-bit seed for restart `restart` of an attack seeded with `seed`."""
    return (int(seed) * 1_000_003 + int(restart) * 7_919) % (2**31 - 1)


def _margin_fooled(model, x, y):
    m = margin(y, model(x, training=False))
    return m, m < 0


def margin_and_fooled(model, x, y):
    """(z_y − max_{i≠y} z_i, fooled) per image, as numpy arrays; `y` integer labels."""
    fn = compiled(model, "margin", _margin_fooled, [batch_spec(x), spec(tf.int32, [None])])
    return tuple(t.numpy() for t in fn(tf.convert_to_tensor(x), tf.cast(y, tf.int32)))


def _ranked(model, x):
    return tf.argsort(tf.cast(model(x, training=False), tf.float32), axis=-1, direction="DESCENDING")


def ranked_classes(model, x):
    """Classes per image from the highest logit to the lowest, (B, C) numpy."""
    return compiled(model, "ranked", _ranked, [batch_spec(x)])(tf.convert_to_tensor(x)).numpy()


def num_classes(model, x):
    """The number of classes `model` scores, from one image of `x`."""
    return int(model(x[:1], training=False).shape[-1])


def check_targets(target_classes, classes):
    """Refuse a number of target classes the model cannot offer (1 to C − 1)."""
    if not 1 <= int(target_classes) <= classes - 1:
        raise KerasllError(f"target_classes must be in [1, {classes - 1}] for {classes} classes, "
                           f"got {target_classes}")


def _forward(model, x):
    return tf.cast(model(x, training=False), tf.float32)


def logits_of(model, x, batch_size=2000):
    """The model's float32 logits on `x` (inference mode, in batches), numpy."""
    x = tf.convert_to_tensor(x)
    fn = compiled(model, "forward", _forward, [batch_spec(x)])
    return np.concatenate([fn(x[i:i + batch_size]).numpy() for i in range(0, int(x.shape[0]), batch_size)])


def predict_classes(model, x, batch_size=2000):
    """The model's predicted class per image, (N,) numpy."""
    return np.argmax(logits_of(model, x, batch_size), -1)
