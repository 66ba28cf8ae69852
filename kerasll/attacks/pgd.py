"""FGSM and PGD (L∞ and L2) on the [0,1] pixel box.

All budgets (`eps`, `step_size`) are in [0,1] pixel units: 8/255 is 8 grey levels.
Attacks run the model in inference mode, so BatchNorm statistics and dropout are
untouched. The cross-entropy is computed from float32 logits.
"""

import numpy as np
import tensorflow as tf

from kerasll._tensors import as_float_tensor, batches
from kerasll.attacks.budgets import check_budget
from kerasll.attacks.compiled import batch_spec, compiled, spec
from kerasll.attacks.driver import over_runs, prologue, run_seed, runs_of
from kerasll.attacks.geometry import l2_norm, pick, project, random_start
from kerasll.attacks.losses import cross_entropy, fgsm_direction, fooled, labels_of, loss_and_grad
from kerasll.errors import check_choice

PGD_NORMS = ("linf", "l2")  # L1's steepest step moves a single pixel: use APGD's L1 form (`apgd`)


def _stronger(loss, fooled, best_loss, best_fooled):
    """Where a candidate beats the best so far: it fools the model and the best does not,
    or both agree on fooling and it has the higher loss."""
    return (fooled & ~best_fooled) | ((fooled == best_fooled) & (loss > best_loss))


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
        now = fooled(logits, y_int)
        return now, _stronger(loss, now, best_loss, best_fooled)

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


def _score(model, x, y):
    """−CE per image, or −inf where the model is fooled: lower is a stronger example."""
    logits = model(x, training=False)
    return tf.where(fooled(logits, y), tf.constant(-np.inf, tf.float32), -cross_entropy(y, logits))


def pgd(model, x, y, eps, step_size, steps, random_start=True, restarts=1, norm="linf",
        seed=0, batch_size=512, keys=None):
    """Projected gradient descent (Madry et al. 2018) on the [0,1] box.

    Each run keeps per sample the iterate that fools the model, or else the one
    with the highest loss; later restarts run on the images still robust and keep
    the same rule, so more restarts never make the attack weaker (restart 0 is
    identical to a single run with the same seed).

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
    check_choice("norm", norm, PGD_NORMS)
    check_budget(eps, step_size, steps, norm, restarts)
    p = prologue(x, y, seed, keys)
    x = p.x
    args = (tf.constant(eps, x.dtype), tf.constant(step_size, x.dtype), tf.constant(int(steps)))
    start = bool(random_start)
    run = compiled(model, ("pgd", norm, start), lambda m, *a: _pgd_batch(m, *a, norm, start),
                   [batch_spec(x), spec(tf.int32, [None]), spec(tf.int64, [None]), spec(x.dtype), spec(x.dtype),
                    spec(tf.int32), spec(tf.int64)])
    score = compiled(model, "pgd-score", _score, [batch_spec(x), spec(tf.int32, [None])])

    def attack(ids, rank, restart):
        xb, yb = tf.gather(x, ids), tf.constant(p.y[ids], tf.int32)
        adv = run(xb, yb, tf.constant(p.keys[ids], tf.int64), *args, run_seed(p.seed, rank, restart))
        return adv.numpy(), score(adv, yb).numpy()

    x_adv, _ = over_runs(x, runs_of(False, 0, restarts), attack, lambda s: s == -np.inf, batch_size)
    return tf.convert_to_tensor(x_adv)


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
