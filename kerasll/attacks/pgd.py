"""FGSM and PGD (L∞ and L2) on the [0,1] pixel box.

All budgets (`eps`, `step_size`) are in [0,1] pixel units: 8/255 is 8 grey levels.
Attacks run the model in inference mode, so BatchNorm statistics and dropout are
untouched. The cross-entropy is computed from float32 logits.
"""

from typing import NamedTuple

import numpy as np
from keras import ops

from kerasll import backend
from kerasll._tensors import as_float, batches
from kerasll.attacks.attack import call_with
from kerasll.attacks.budgets import check_budget
from kerasll.attacks.catalog import FGSM, PGD
from kerasll.attacks.compiled import batch_spec, compiled, spec
from kerasll.attacks.driver import Batch, over_runs, prologue, run_seed, runs_of
from kerasll.attacks.geometry import l2_norm, pick, project, random_start
from kerasll.attacks.losses import cross_entropy, fgsm_direction, fooled, labels_of, loss_and_grad


def _stronger(loss, fooled, best_loss, best_fooled):
    """Where a candidate beats the best so far: it fools the model and the best does not,
    or both agree on fooling and it has the higher loss."""
    return (fooled & ~best_fooled) | ((fooled == best_fooled) & (loss > best_loss))


def pgd_steps(model, x, y, x_start, budget, norm, track_best=False):
    """Run `steps` PGD ascent steps from `x_start` (graph-friendly: a while loop).

    With `track_best`, return per sample the iterate that fools the model, or
    failing that the one with the highest loss (the final iterate included);
    otherwise return the last iterate (Madry et al.).
    """
    eps, step_size, steps = budget
    y_int = labels_of(y)

    def ascend(x_adv, grad):
        if norm == "linf":
            step = step_size * ops.sign(grad)
        else:
            step = step_size * grad / l2_norm(grad)
        return project(x_adv + step, x, eps, norm)

    def better(loss, logits, best_loss, best_fooled):
        now = fooled(logits, y_int)
        return now, _stronger(loss, now, best_loss, best_fooled)

    batch = ops.shape(x)[0]
    init = (0, x_start, x_start, ops.full((batch,), -np.inf, dtype="float32"), ops.zeros((batch,), dtype="bool"))

    def body(i, x_adv, best_x, best_loss, best_fooled):
        loss, grad, logits = loss_and_grad(model, x_adv, y)
        if track_best:
            fooled, take = better(loss, logits, best_loss, best_fooled)
            best_x = pick(take, x_adv, best_x)
            best_loss = ops.where(take, loss, best_loss)
            best_fooled = best_fooled | fooled
        return i + 1, ascend(x_adv, grad), best_x, best_loss, best_fooled

    _, x_adv, best_x, best_loss, best_fooled = ops.while_loop(lambda i, *_: i < steps, body, init)
    if not track_best:
        return x_adv
    logits = model(x_adv, training=False)
    loss = cross_entropy(y, logits)
    _, take = better(loss, logits, best_loss, best_fooled)
    return pick(take, x_adv, best_x)


class Budget(NamedTuple):
    """PGD's constants for one call: the radius, the step and the number of steps."""

    eps: object
    step_size: object
    steps: object

    @classmethod
    def signature(cls, dtype):
        return cls(spec(dtype), spec(dtype), spec("int32"))


def _pgd_batch(model, batch, budget, norm, start):
    x = batch.x
    x_start = random_start(x, budget.eps, norm, batch.seed, batch.keys) if start else x
    return pgd_steps(model, x, batch.y, x_start, budget, norm, track_best=True)


def _score(model, x, y):
    """−CE per image, or −inf where the model is fooled: lower is a stronger example."""
    logits = model(x, training=False)
    return ops.where(fooled(logits, y), -np.inf, -cross_entropy(y, logits))


def pgd(model, x, y, eps, step_size, steps, norm="linf", **options):
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
        norm: "linf" or "l2".
        **options: `seed` (default 0; an image's start depends on the seed and its key only), the attack's
            options (`kerasll.attacks.catalog.PGD`'s: restarts, random_start) and how it runs
            (`kerasll.attacks.attack.Runtime`: keys, batch_size, progress).

    Returns:
        Adversarial images, a float tensor shaped like `x`.

    Example:
        >>> x_adv = kerasll.pgd(model, x, y, eps=8/255, step_size=2/255, steps=5)
    """
    seed = options.pop("seed", 0)
    return call_with(PGD, model, x, y, eps, norm, seed, options | {"step_size": step_size, "steps": steps})


def run_pgd(attack, model, x, y, eps, norm, seed, runtime):
    """Run `attack` (a `PGD`) as `Attack.__call__` does."""
    step_size = PGD.step_factor * eps if attack.step_size is None else attack.step_size
    check_budget(eps, step_size, attack.steps, norm, attack.restarts)
    p = prologue(x, y, seed, runtime.keys)
    x = p.x
    budget = Budget(ops.convert_to_tensor(eps, x.dtype), ops.convert_to_tensor(step_size, x.dtype),
                    ops.convert_to_tensor(int(attack.steps), "int32"))
    start = bool(attack.random_start)
    run = compiled(model, ("pgd", norm, start), lambda m, *a: _pgd_batch(m, *a, norm, start),
                   [Batch.signature(x), Budget.signature(x.dtype)])
    score = compiled(model, "pgd-score", _score, [batch_spec(x), spec("int32", [None])])

    def one(ids, rank, restart):
        batch = Batch.of(p, ids, p.y[ids], run_seed(p.seed, rank, restart))
        adv = run(batch, budget)
        return backend.to_numpy(adv), backend.to_numpy(score(adv, batch.y))

    x_adv, _ = over_runs(x, runs_of(False, 0, attack.restarts), one, lambda s: s == -np.inf, runtime.batch_size,
                         runtime.progress, runtime.stage)
    return ops.convert_to_tensor(x_adv)


def _fgsm_batch(model, x, y, eps):
    return ops.clip(x + eps * fgsm_direction(model, x, y), 0.0, 1.0)


def fgsm(model, x, y, eps, **options):
    """Fast gradient sign method (Goodfellow et al. 2015): `clip(x + eps·sign(∇x CE))`.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: clean images in [0,1]; y: integer or one-hot labels.
        eps: L∞ budget in pixel units.
        **options: how it runs (`kerasll.attacks.attack.Runtime`: batch_size).

    Returns:
        Adversarial images shaped like `x`.
    """
    return call_with(FGSM, model, x, y, eps, "linf", None, options)


def run_fgsm(attack, model, x, y, eps, norm, seed, runtime):
    """Run `attack` (an `FGSM`) as `Attack.__call__` does."""
    check_budget(eps, eps, 1, "linf", 1)
    x = as_float(x)
    y = ops.convert_to_tensor(y)
    eps = ops.convert_to_tensor(eps, x.dtype)
    run = compiled(model, "fgsm", _fgsm_batch, [batch_spec(x), batch_spec(y), spec(x.dtype)])
    return ops.concatenate([run(x[s], y[s], eps) for s in batches(int(x.shape[0]), runtime.batch_size)], axis=0)
