"""APGD (Croce & Hein, ICML 2020): step-size-free PGD with momentum, L∞ and L2.

APGD-CE (`loss="ce"`), APGD-DLR (`loss="dlr"`) and APGD-T (`targeted=True`, the
targeted DLR loss over the `target_classes` highest-scoring wrong classes), as
in AutoAttack: initial step 2ε, momentum 0.75, checkpoints at
p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06). At a
checkpoint the step is halved and the iterate restarts from the best point where
fewer than ρ·(interval) steps raised the loss since the last checkpoint, or
where the step was not halved last time and the best loss has not improved.

The whole run of a batch is one compiled graph (a `tf.while_loop`), traced once
per input shape, norm and loss.
"""

import numpy as np
import tensorflow as tf

from kerasll._tensors import as_float_tensor, batches
from kerasll.attacks.budgets import check_budget
from kerasll.attacks.common import (
    check_targets, cross_entropy, dlr_loss, labels_of, loss_and_grad, margin_and_fooled, normalize, num_classes, pick,
    project, ranked_classes, restart_seed, stronger, targeted_dlr_loss,
)
from kerasll.attacks import noise
from kerasll.attacks.compiled import batch_spec, compiled, spec
from kerasll.errors import KerasllError, check_choice

LOSSES = ("ce", "dlr")


def checkpoints(steps):
    """(is_checkpoint, interval) per iteration 0..steps−1: where APGD checks its progress.

    The intervals follow the reference implementation's integer schedule:
    first max(⌊0.22·N⌋, 1), then shrinking by max(⌊0.03·N⌋, 1) down to max(⌊0.06·N⌋, 1).
    """
    k = max(int(0.22 * steps), 1)
    k_min, k_decr = max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    is_check, interval = np.zeros(steps, bool), np.zeros(steps, np.int32)
    i = k - 1
    while i < steps:
        is_check[i], interval[i] = True, k
        k = max(k - k_decr, k_min)
        i += k
    return is_check, interval


def _start(x, eps, norm, seed, keys):
    """AutoAttack's start: a random point on the surface of the ε-ball, clipped to the box."""
    if norm == "linf":
        t = 2.0 * noise.uniform(seed, keys, 0, x.shape[1:].as_list(), x.dtype) - 1.0
    else:
        t = noise.normal(seed, keys, 0, x.shape[1:].as_list(), x.dtype)
    return tf.clip_by_value(x + eps * normalize(t, norm), 0.0, 1.0)


def _apgd_batch(model, x, y, target, keys, eps, steps, is_check, interval, rho, seed, norm, loss, eot=1):
    y = labels_of(y)
    if loss == "ce":
        loss_fn = cross_entropy
    elif loss == "dlr":
        loss_fn = dlr_loss
    else:
        loss_fn = lambda yy, logits: targeted_dlr_loss(yy, target, logits)  # noqa: E731

    def ascent(x_adv, x_old, grad, step, momentum):
        direction = tf.sign(grad) if norm == "linf" else normalize(grad, "l2")
        z = project(x_adv + tf.reshape(step, [-1] + [1] * (x.shape.rank - 1)) * direction, x, eps, norm)
        return project(x_adv + momentum * (z - x_adv) + (1.0 - momentum) * (x_adv - x_old), x, eps, norm)

    x0 = _start(x, eps, norm, seed, keys)
    loss0, grad0, logits0 = loss_and_grad(model, x0, y, loss_fn, eot)
    fooled0 = tf.not_equal(tf.argmax(logits0, -1, output_type=tf.int32), y)
    step0 = tf.fill(tf.shape(loss0), tf.cast(2.0, x.dtype) * eps)
    # The first step's loss is compared with 0, not with the start's loss, as in the reference (its
    # unfilled loss history): a rise for the CE loss (≥ 0), none for a still-robust image's DLR loss (< 0).
    state = dict(
        i=tf.constant(0), x_adv=x0, x_old=x0, grad=grad0, step=step0,
        x_best=x0, grad_best=grad0, loss_best=loss0, loss_prev=tf.zeros_like(loss0),
        x_fool=x0, fooled=fooled0, increases=tf.zeros_like(loss0),
        loss_best_check=loss0, reduced_check=tf.ones_like(fooled0),
    )

    def body(s):
        momentum = tf.cast(tf.where(s["i"] > 0, 0.75, 1.0), x.dtype)
        x_new = ascent(s["x_adv"], s["x_old"], s["grad"], s["step"], momentum)
        loss, grad, logits = loss_and_grad(model, x_new, y, loss_fn, eot)
        fooled_now = tf.not_equal(tf.argmax(logits, -1, output_type=tf.int32), y)
        improved = loss > s["loss_best"]
        out = dict(
            i=s["i"] + 1, x_adv=x_new, x_old=s["x_adv"], grad=grad, step=s["step"],
            x_best=pick(improved, x_new, s["x_best"]), grad_best=pick(improved, grad, s["grad_best"]),
            loss_best=tf.where(improved, loss, s["loss_best"]), loss_prev=loss,
            x_fool=pick(fooled_now & ~s["fooled"], x_new, s["x_fool"]), fooled=s["fooled"] | fooled_now,
            increases=s["increases"] + tf.cast(loss > s["loss_prev"], loss.dtype),
            loss_best_check=s["loss_best_check"], reduced_check=s["reduced_check"],
        )
        # Checkpoint: halve the step and go back to the best point where progress stalled.
        at_check = tf.gather(is_check, s["i"])
        k = tf.cast(tf.gather(interval, s["i"]), loss.dtype)
        oscillating = out["increases"] <= k * rho
        no_gain = ~s["reduced_check"] & (s["loss_best_check"] >= out["loss_best"])
        reduce = at_check & (oscillating | no_gain)
        out["step"] = tf.where(reduce, out["step"] / 2.0, out["step"])
        out["x_adv"] = pick(reduce, out["x_best"], out["x_adv"])
        out["grad"] = pick(reduce, out["grad_best"], out["grad"])
        out["reduced_check"] = tf.where(at_check, reduce, s["reduced_check"])
        out["loss_best_check"] = tf.where(at_check, out["loss_best"], s["loss_best_check"])
        out["increases"] = tf.where(at_check, tf.zeros_like(out["increases"]), out["increases"])
        return (out,)

    (final,) = tf.while_loop(lambda s: s["i"] < steps, body, (state,), parallel_iterations=1)
    return pick(final["fooled"], final["x_fool"], final["x_best"])


def check_apgd(eps, norm, steps, loss, targeted, target_classes, restarts, rho, classes):
    check_budget(eps, eps, steps, norm, restarts)
    check_choice("loss", loss, LOSSES)
    if not 0 < rho < 1:
        raise KerasllError(f"rho must be in (0, 1), got {rho}")
    need = 4 if targeted else (3 if loss == "dlr" else 2)
    if classes < need:
        what = "the targeted DLR loss" if targeted else f"the {loss.upper()} loss"
        raise KerasllError(f"{what} needs at least {need} classes; the model has {classes}")
    if targeted:
        check_targets(target_classes, classes)


def apgd(model, x, y, eps, norm="linf", steps=100, loss="ce", targeted=False, target_classes=9, restarts=1,
         rho=0.75, seed=None, batch_size=1000, keys=None, progress=None, eot_iter=1, stage=None):
    """Auto-PGD (Croce & Hein 2020): APGD-CE, APGD-DLR or APGD-T, L∞ or L2.

    Each run starts from a random point on the ε-sphere, and keeps per image the
    first iterate that fools the model, or else the iterate of highest loss.
    Later restarts (and, for APGD-T, later target classes) run only on the
    images still classified correctly, so more restarts never weaken the result.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: clean images (B, H, W, C) in [0,1]; y: integer or one-hot labels.
        eps: radius in pixel units (e.g. 8/255 L∞, 0.5 L2).
        norm: "linf" or "l2".
        steps: iterations per run (AutoAttack: 100).
        loss: "ce" or "dlr" (untargeted); ignored when `targeted`.
        targeted: APGD-T, the targeted DLR loss towards each of the
            `target_classes` highest-scoring wrong classes in turn.
        target_classes: how many target classes APGD-T tries (AutoAttack: 9).
        restarts: random restarts per target (AutoAttack: 1).
        rho: the checkpoint threshold ρ (0.75).
        seed: int for repeatable starts (None draws one). An image's start
            depends on the seed and its key only.
        batch_size: images per compiled batch.
        keys: the images' random-draw keys (default: `noise.image_keys(x)`, from
            their content), so an image gets the same start in any batch or order.
        progress: `progress(done, total, fooled)` after each batch of each run, `fooled`
            the number of images fooled so far.
        eot_iter: gradients averaged per iteration (expectation over transformation, for
            randomised models; AutoAttack's "rand" version uses 20). 1 on deterministic models.
        stage: `stage(name, fn)` runs each restart (and, for APGD-T, each target) as a stage
            (`kerasll.evaluation.chunks.Stages` keeps each one as it finishes, so an interrupted
            evaluation resumes at the first unfinished run); default: just run it.

    Returns:
        Adversarial images, a float tensor shaped like `x`.

    Example:
        >>> x_adv = kerasll.apgd(model, x, y, eps=8/255, loss="dlr")
    """
    x = as_float_tensor(x)
    y = labels_of(tf.convert_to_tensor(y)).numpy()
    n = int(x.shape[0])
    check_apgd(eps, norm, steps, loss, targeted, target_classes, restarts, rho, num_classes(model, x))
    if int(eot_iter) < 1:
        raise KerasllError(f"eot_iter must be ≥ 1, got {eot_iter}")
    if seed is None:
        seed = int(np.random.randint(2**31 - 1))
    keys = noise.keys_of(x, keys)
    stage = stage or (lambda name, fn: (fn(), 0.0))
    is_check, interval = checkpoints(int(steps))
    const = (tf.constant(eps, x.dtype), tf.constant(int(steps)), tf.constant(is_check), tf.constant(interval),
             tf.constant(rho, tf.float32))
    ranked = ranked_classes(model, x) if targeted else None
    runs = [(t, r) for t in (range(1, int(target_classes) + 1) if targeted else [None]) for r in range(int(restarts))]
    x_adv = x.numpy().copy()
    best_margin, fooled = np.full(n, np.inf, np.float32), np.zeros(n, bool)
    done, total = 0, len(runs) * n
    kind = "targeted" if targeted else loss
    step = compiled(model, ("apgd", norm, kind, int(eot_iter)),
                    lambda m, *a: _apgd_batch(m, *a, norm, kind, int(eot_iter)),
                    [batch_spec(x), spec(tf.int32, [None]), spec(tf.int32, [None]), spec(tf.int64, [None]),
                     spec(x.dtype), spec(tf.int32), spec(tf.bool, [None]), spec(tf.int32, [None]),
                     spec(tf.float32), spec(tf.int64)])
    for run, (rank, restart) in enumerate(runs):
        todo = np.flatnonzero(~fooled)
        total -= n - len(todo)
        run_seed = tf.constant(restart_seed(seed, restart + 1000 * (rank or 0)), tf.int64)

        def one_run(todo=todo, rank=rank, run_seed=run_seed):
            nonlocal done
            changed = []
            for s in batches(len(todo), batch_size):
                ids = todo[s]
                xb, yb = tf.gather(x, ids), tf.constant(y[ids], tf.int32)
                target = tf.constant(ranked[ids, rank] if targeted else y[ids], tf.int32)
                adv = step(xb, yb, target, tf.constant(keys[ids], tf.int64), *const, run_seed)
                m, f = margin_and_fooled(model, adv, yb)
                take = stronger(-m, f, -best_margin[ids], fooled[ids])
                x_adv[ids[take]] = adv.numpy()[take]
                best_margin[ids[take]], fooled[ids[take]] = m[take], f[take]
                changed.append(ids[take])
                done += len(ids)
                if progress is not None:
                    progress(done, total, int(fooled.sum()))
            ids = np.concatenate(changed) if changed else np.zeros(0, np.int64)
            return {"ids": ids, "adv": x_adv[ids], "margin": best_margin[ids], "fooled": fooled[ids]}

        found, _ = stage(f"run {run + 1}/{len(runs)}", one_run)  # a saved run (after an interruption) is reused
        ids = found["ids"]
        x_adv[ids], best_margin[ids], fooled[ids] = found["adv"], found["margin"], found["fooled"]
    return tf.convert_to_tensor(x_adv)
