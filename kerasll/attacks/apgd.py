"""APGD (Croce & Hein, ICML 2020): step-size-free PGD with momentum, L∞ and L2.

APGD-CE (`loss="ce"`), APGD-DLR (`loss="dlr"`) and APGD-T (`targeted=True`, the
targeted DLR loss over the `target_classes` highest-scoring wrong classes), as
in AutoAttack: initial step 2ε, momentum 0.75, checkpoints at
p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06). At a
checkpoint the step is halved and the iterate restarts from the best point where
fewer than ρ·(interval) steps raised the loss since the last checkpoint, or
where the step was not halved last time and the best loss has not improved.

The whole run of a batch is one compiled function (a `keras.ops.while_loop`), traced once
per input shape, norm and loss.
"""

from typing import NamedTuple

import numpy as np
from keras import ops

from kerasll import backend
from kerasll.attacks.apgd_l1 import l1_batch
from kerasll.attacks.attack import call_with
from kerasll.attacks.budgets import check_budget
from kerasll.attacks.catalog import APGD, APGDT
from kerasll.attacks.compiled import compiled, spec
from kerasll.attacks.driver import (
    Batch, margin_and_fooled, num_classes, over_runs, prologue, run_seed, runs_of, targets_of,
)
from kerasll.attacks.geometry import normalize, pick, project, sphere_start
from kerasll.attacks.losses import cross_entropy, dlr_loss, fooled, labels_of, loss_and_grad, targeted_dlr_loss
from kerasll.errors import KerasllError


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


class Schedule(NamedTuple):
    """APGD's constants for one call: the budget, the iterations, the checkpoints (`checkpoints`) and ρ."""

    eps: object
    steps: object
    is_check: object
    interval: object
    rho: object

    @classmethod
    def signature(cls, dtype):
        return cls(spec(dtype), spec("int32"), spec("bool", [None]), spec("int32", [None]), spec("float32"))


def _apgd_batch(model, batch, schedule, norm, kind, eot=1, large_reps=False):
    x, target = batch.x, batch.target
    eps, steps, is_check, interval, rho = schedule
    y = labels_of(batch.y)
    if kind == "ce":
        loss_fn = cross_entropy
    elif kind == "dlr":
        loss_fn = dlr_loss
    else:
        loss_fn = lambda yy, logits: targeted_dlr_loss(yy, target, logits)  # noqa: E731
    if norm == "l1":
        return l1_batch(lambda xx: loss_and_grad(model, xx, y, loss_fn, eot), batch._replace(y=y), eps, steps,
                        large_reps)

    def ascent(x_adv, x_old, grad, step, momentum):
        direction = ops.sign(grad) if norm == "linf" else normalize(grad, "l2")
        z = project(x_adv + ops.reshape(step, [-1] + [1] * (len(x.shape) - 1)) * direction, x, eps, norm)
        return project(x_adv + momentum * (z - x_adv) + (1.0 - momentum) * (x_adv - x_old), x, eps, norm)

    x0 = sphere_start(x, eps, norm, batch.seed, batch.keys)  # AutoAttack's start: on the ε-sphere
    loss0, grad0, logits0 = loss_and_grad(model, x0, y, loss_fn, eot)
    fooled0 = fooled(logits0, y)
    step0 = ops.full_like(loss0, ops.cast(2.0, x.dtype) * eps)
    # The first step's loss is compared with 0, not with the start's loss, as in the reference (its
    # unfilled loss history): a rise for the CE loss (≥ 0), none for a still-robust image's DLR loss (< 0).
    state = dict(
        i=ops.convert_to_tensor(0, "int32"), x_adv=x0, x_old=x0, grad=grad0, step=step0,
        x_best=x0, grad_best=grad0, loss_best=loss0, loss_prev=ops.zeros_like(loss0),
        x_fool=x0, fooled=fooled0, increases=ops.zeros_like(loss0),
        loss_best_check=loss0, reduced_check=ops.ones_like(fooled0),
    )

    def body(s):
        momentum = ops.cast(ops.where(s["i"] > 0, 0.75, 1.0), x.dtype)
        x_new = ascent(s["x_adv"], s["x_old"], s["grad"], s["step"], momentum)
        loss, grad, logits = loss_and_grad(model, x_new, y, loss_fn, eot)
        fooled_now = fooled(logits, y)
        improved = loss > s["loss_best"]
        out = dict(
            i=s["i"] + 1, x_adv=x_new, x_old=s["x_adv"], grad=grad, step=s["step"],
            x_best=pick(improved, x_new, s["x_best"]), grad_best=pick(improved, grad, s["grad_best"]),
            loss_best=ops.where(improved, loss, s["loss_best"]), loss_prev=loss,
            x_fool=pick(fooled_now & ~s["fooled"], x_new, s["x_fool"]), fooled=s["fooled"] | fooled_now,
            increases=s["increases"] + ops.cast(loss > s["loss_prev"], loss.dtype),
            loss_best_check=s["loss_best_check"], reduced_check=s["reduced_check"],
        )
        # Checkpoint: halve the step and go back to the best point where progress stalled.
        at_check = ops.take(is_check, s["i"])
        k = ops.cast(ops.take(interval, s["i"]), loss.dtype)
        oscillating = out["increases"] <= k * rho
        no_gain = ~s["reduced_check"] & (s["loss_best_check"] >= out["loss_best"])
        reduce = at_check & (oscillating | no_gain)
        out["step"] = ops.where(reduce, out["step"] / 2.0, out["step"])
        out["x_adv"] = pick(reduce, out["x_best"], out["x_adv"])
        out["grad"] = pick(reduce, out["grad_best"], out["grad"])
        out["reduced_check"] = ops.where(at_check, reduce, s["reduced_check"])
        out["loss_best_check"] = ops.where(at_check, out["loss_best"], s["loss_best_check"])
        out["increases"] = ops.where(at_check, ops.zeros_like(out["increases"]), out["increases"])
        return (out,)

    (final,) = ops.while_loop(lambda s: s["i"] < steps, body, (state,))
    return pick(final["fooled"], final["x_fool"], final["x_best"])


def apgd(model, x, y, eps, norm="linf", seed=None, **options):
    """Auto-PGD (Croce & Hein 2020): APGD-CE, APGD-DLR or APGD-T (`targeted=True`), L∞, L2 or L1.

    L1 is L1-APGD (Croce & Hein 2021, `apgd_l1`): sparse steps, the exact projection onto the L1 ball
    and the box, and with `large_reps` AutoAttack's 3ε → 2ε → ε schedule.

    Each run starts from a random point on the ε-sphere, and keeps per image the
    first iterate that fools the model, or else the iterate of highest loss.
    Later restarts (and, for APGD-T, later target classes) run only on the
    images still classified correctly, so more restarts never weaken the result.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: clean images (B, H, W, C) in [0,1]; y: integer or one-hot labels.
        eps: radius in pixel units (e.g. 8/255 L∞, 0.5 L2).
        norm: "linf", "l2" or "l1".
        seed: int for repeatable starts (None draws one). An image's start depends on the seed and its
            key only.
        **options: the attack's options (`kerasll.attacks.catalog.APGD`'s: loss, steps, restarts, rho,
            eot_iter, large_reps; with `targeted=True`, `APGDT`'s: target_classes instead of loss), and how
            it runs (`kerasll.attacks.attack.Runtime`: keys, batch_size, progress, stage).

    Returns:
        Adversarial images, a float tensor shaped like `x`.

    Example:
        >>> x_adv = kerasll.apgd(model, x, y, eps=8/255, loss="dlr")
    """
    return call_with(APGDT if options.pop("targeted", False) else APGD, model, x, y, eps, norm, seed, options)


def run_apgd(attack, model, x, y, eps, norm, seed, runtime):
    """Run `attack` (an `APGD` or `APGDT`) as `Attack.__call__` does."""
    targeted = isinstance(attack, APGDT)
    p = prologue(x, y, seed, runtime.keys)
    x = p.x
    check_budget(eps, eps, attack.steps, norm, attack.restarts)
    kind = "targeted" if targeted else attack.loss
    need = 4 if targeted else (3 if kind == "dlr" else 2)
    classes = num_classes(model, x)
    if classes < need:
        what = "the targeted DLR loss" if targeted else f"the {kind.upper()} loss"
        raise KerasllError(f"{what} needs at least {need} classes; the model has {classes}")
    is_check, interval = checkpoints(int(attack.steps))
    schedule = Schedule(ops.convert_to_tensor(eps, x.dtype), ops.convert_to_tensor(int(attack.steps), "int32"),
                        ops.convert_to_tensor(is_check), ops.convert_to_tensor(interval),
                        ops.convert_to_tensor(attack.rho, "float32"))
    ranked, targets = targets_of(model, x, attack.target_classes) if targeted else (None, 0)
    large_reps = norm == "l1" if attack.large_reps is None else bool(attack.large_reps) and norm == "l1"
    eot = int(attack.eot_iter)
    step = compiled(model, ("apgd", norm, kind, eot, large_reps),
                    lambda m, *a: _apgd_batch(m, *a, norm, kind, eot, large_reps),
                    [Batch.signature(x), Schedule.signature(x.dtype)])

    def one(ids, rank, restart):
        batch = Batch.of(p, ids, ranked[ids, rank] if targeted else p.y[ids], run_seed(p.seed, rank, restart))
        adv = step(batch, schedule)
        return backend.to_numpy(adv), margin_and_fooled(model, adv, batch.y)[0]  # the margin: below 0 once fooled

    x_adv, _ = over_runs(x, runs_of(targeted, targets, attack.restarts), one, lambda m: m < 0, runtime.batch_size,
                         runtime.progress, runtime.stage)
    return ops.convert_to_tensor(x_adv)
