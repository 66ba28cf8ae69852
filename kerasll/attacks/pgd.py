"""FGSM and PGD (L∞ and L2) on the [0,1] pixel box.

All budgets (`eps`, `step_size`) are in [0,1] pixel units: 8/255 is 8 grey levels.
Attacks run the model in inference mode, so BatchNorm statistics and dropout are
untouched. The cross-entropy is computed from float32 logits.
"""

import numpy as np
import tensorflow as tf

from kerasll._tensors import as_float_tensor, batches
from kerasll.attacks import noise
from kerasll.attacks.compiled import batch_spec, compiled, spec
from kerasll.attacks.budgets import check_budget
from kerasll.attacks.common import (
    cross_entropy, fgsm_direction, l2_norm, labels_of, loss_and_grad, pick, project, random_start, restart_seed,
    stronger,
)


def pgd_steps(model, x, y, x_start, eps, step_size, steps, norm, track_best=False):
    """Run `steps` PGD ascent steps from `x_start` (graph-friendly: a while loop).

    With `track_best`, return per sample the iterate that fools the model, or
    failing that the one with the highest loss (the final iterate included);
    otherwise return the last iterate (Madry et al.).
    """
    y_int = labels_of(y)

    def ascend(x_adv, grad):
        if norm == "linf":
            step = step_size * tf.sign(grad)
        else:
            step = step_size * grad / l2_norm(grad)
        return project(x_adv + step, x, eps, norm)

    def better(loss, logits, best_loss, best_fooled):
        fooled = tf.not_equal(tf.argmax(logits, -1, output_type=tf.int32), y_int)
        return fooled, stronger(loss, fooled, best_loss, best_fooled)

    batch = tf.shape(x)[0]
    init = (
        tf.constant(0),
        x_start,
        x_start,
        tf.fill([batch], tf.constant(-np.inf, tf.float32)),
        tf.zeros([batch], tf.bool),
    )

    def body(i, x_adv, best_x, best_loss, best_fooled):
        loss, grad, logits = loss_and_grad(model, x_adv, y)
        if track_best:
            fooled, take = better(loss, logits, best_loss, best_fooled)
            best_x = pick(take, x_adv, best_x)
            best_loss = tf.where(take, loss, best_loss)
            best_fooled = best_fooled | fooled
        return i + 1, ascend(x_adv, grad), best_x, best_loss, best_fooled

    _, x_adv, best_x, best_loss, best_fooled = tf.while_loop(
        lambda i, *_: i < steps, body, init, parallel_iterations=1
    )
    if not track_best:
        return x_adv
    logits = model(x_adv, training=False)
    loss = cross_entropy(y, logits)
    _, take = better(loss, logits, best_loss, best_fooled)
    return pick(take, x_adv, best_x)


def _pgd_batch(model, x, y, keys, eps, step_size, steps, seed, norm, start):
    x_start = random_start(x, eps, norm, seed, keys) if start else x
    return pgd_steps(model, x, y, x_start, eps, step_size, steps, norm, track_best=True)


def _fooled_and_loss(model, x, y):
    logits = model(x, training=False)
    wrong = tf.not_equal(tf.argmax(logits, -1, output_type=tf.int32), labels_of(y))
    return wrong, cross_entropy(y, logits)


def pgd(model, x, y, eps, step_size, steps, random_start=True, restarts=1, norm="linf",
        seed=0, batch_size=512, keys=None):
    """Projected gradient descent (Madry et al. 2018) on the [0,1] box.

    Each run keeps per sample the iterate that fools the model, or else the one
    with the highest loss; across restarts the same rule picks the result, so
    more restarts never make the attack weaker (restart 0 is identical to a
    single run with the same seed).

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: clean images (B, H, W, C) in [0,1]; y: integer or one-hot labels.
        eps: radius in pixel units (e.g. 8/255 for CIFAR-10 L∞).
        step_size: step length in pixel units (L∞: per pixel; L2: Euclidean).
        steps: ascent steps per restart.
        random_start: start from a uniform point of the ball (else from `x`).
        restarts: independent runs; the strongest example per sample is kept.
        norm: "linf" or "l2".
        seed: int for repeatable random starts, or None. An image's start
            depends on the seed and its key only, not on the batch.
        batch_size: images per attack batch.
        keys: the images' random-draw keys (default: `noise.image_keys(x)`, from
            their content), so an image gets the same start in any batch or order.

    Returns:
        Adversarial images, a float tensor shaped like `x`.

    Example:
        >>> x_adv = kerasll.pgd(model, x, y, eps=8/255, step_size=2/255, steps=5)
    """
    check_budget(eps, step_size, steps, norm, restarts)
    x = as_float_tensor(x)
    y = tf.convert_to_tensor(y)
    if seed is None:
        seed = int(np.random.randint(2**31 - 1))
    args = (tf.constant(eps, x.dtype), tf.constant(step_size, x.dtype), tf.constant(int(steps)))
    specs = [batch_spec(x), batch_spec(y)]
    start = bool(random_start)
    run = compiled(model, ("pgd", norm, start), lambda m, *a: _pgd_batch(m, *a, norm, start),
                   specs + [spec(tf.int64, [None]), spec(x.dtype), spec(x.dtype), spec(tf.int32), spec(tf.int64)])
    score = compiled(model, "fooled-and-loss", _fooled_and_loss, specs)
    keys = noise.keys_of(x, keys)
    outs = []
    for s in batches(int(x.shape[0]), batch_size):
        xb, yb = x[s], y[s]
        best = None
        for r in range(int(restarts)):
            run_seed = tf.constant(restart_seed(seed, r), tf.int64)
            x_adv = run(xb, yb, tf.constant(keys[s], tf.int64), *args, run_seed)
            if restarts == 1:
                best = x_adv
                break
            fooled, loss = score(x_adv, yb)
            if best is None:
                best, best_fooled, best_loss = x_adv, fooled, loss
                continue
            take = stronger(loss, fooled, best_loss, best_fooled)
            best = pick(take, x_adv, best)
            best_loss = tf.where(take, loss, best_loss)
            best_fooled = best_fooled | fooled
        outs.append(best)
    return tf.concat(outs, 0)


def _fgsm_batch(model, x, y, eps):
    return tf.clip_by_value(x + eps * fgsm_direction(model, x, y), 0.0, 1.0)


def fgsm(model, x, y, eps, batch_size=512):
    """Fast gradient sign method (Goodfellow et al. 2015): `clip(x + eps·sign(∇x CE))`.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: clean images in [0,1]; y: integer or one-hot labels.
        eps: L∞ budget in pixel units.
        batch_size: images per batch.

    Returns:
        Adversarial images shaped like `x`.
    """
    check_budget(eps, eps, 1, "linf", 1)
    x = as_float_tensor(x)
    y = tf.convert_to_tensor(y)
    eps = tf.constant(eps, x.dtype)
    run = compiled(model, "fgsm", _fgsm_batch, [batch_spec(x), batch_spec(y), spec(x.dtype)])
    return tf.concat([run(x[s], y[s], eps) for s in batches(int(x.shape[0]), batch_size)], 0)
