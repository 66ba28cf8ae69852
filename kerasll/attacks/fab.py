"""FAB, the fast adaptive boundary attack (Croce & Hein, ICML 2020), L∞, L2 and L1.

A minimum-norm attack: each step linearises the decision boundary between the
true class and a target class at the current point, projects both the current
point and the original image onto that hyperplane inside the [0,1] box, and
moves to a convex combination of the two projections (extrapolated by η, biased
towards the original by at most α_max). Once a point is adversarial it is
recorded if it is the closest so far, and pulled back towards the original by β.
FAB-T (AutoAttack) targets the 9 highest-scoring wrong classes in turn.
"""

from typing import NamedTuple

import numpy as np
from keras import ops

from kerasll import backend
from kerasll.attacks.attack import split_runtime
from kerasll.attacks.budgets import check_budget
from kerasll.attacks.catalog import FAB, FABT
from kerasll.attacks.compiled import compiled, spec
from kerasll.attacks.driver import Batch, over_runs, prologue, run_seed, runs_of, targets_of
from kerasll.attacks.geometry import lp_norm, sphere_start
from kerasll.attacks.losses import fooled, labels_of
from kerasll.errors import KerasllError

_BIG = 1e30


def project_onto_hyperplane(t, w, b, norm, iterations=100):
    """The smallest `d` (L∞, L2 or L1) with w·(t + d) = b and 0 ≤ t + d ≤ 1, per row.

    L1 (`_l1_onto_hyperplane`): the coordinates with the largest |w_i| move first, each to its box limit,
    until the plane is reached (a fractional knapsack: exact after one sort).

    `t`, `w`: (B, D); `b`: (B,). Along the direction that reaches the plane,
    coordinate i moves by sign(w_i)·min(λ·r_i, u_i), with r_i = 1 (L∞) or |w_i|
    (L2) and u_i the room left in the box. λ solves G(λ) = |b − w·t| for the
    concave, piecewise-linear G(λ) = Σ|w_i|·min(λ·r_i, u_i): Newton's method from
    λ = 0 climbs it from below and is exact once it stops (each step passes at
    least one kink), usually in a few steps — no sort of the D coordinates.
    Where the box cannot reach the plane, every coordinate moves to its box
    limit (the closest the box gets).
    """
    c = b - ops.sum(w * t, axis=1)
    w = w * ops.expand_dims(ops.sign(c), 1)
    c = ops.expand_dims(ops.abs(c), 1)
    absw = ops.abs(w)
    room = ops.where(w > 0, 1.0 - t, t)
    if norm == "l1":
        return _l1_onto_hyperplane(w, c, absw, room)
    rate = ops.ones_like(w) if norm == "linf" else absw
    active = absw > 0
    kink = ops.where(active, room / ops.where(active, rate, 1.0), _BIG)  # where coordinate i saturates
    capped, slope = absw * room, absw * rate
    reachable = ops.sum(capped, axis=1, keepdims=True) >= c

    def step(i, lam, _):
        free = kink > lam
        reached = ops.sum(ops.where(free, 0.0, capped), axis=1, keepdims=True)
        gain = ops.sum(ops.where(free, slope, 0.0), axis=1, keepdims=True)
        new = ops.where(gain > 0, (c - reached) / ops.maximum(gain, 1e-30), lam)
        new = ops.maximum(new, lam)  # numerical guard: Newton from below never goes back
        return i + 1, new, ops.any(new > lam)

    lam0 = ops.zeros_like(c)
    _, lam, _ = ops.while_loop(lambda i, lam, moving: ops.logical_and(i < iterations, moving), step,
                               (ops.convert_to_tensor(0, "int32"), lam0, ops.convert_to_tensor(True)))
    lam = ops.where(reachable, lam, _BIG)
    return ops.sign(w) * ops.minimum(lam * rate, room)


def _l1_onto_hyperplane(w, c, absw, room):
    """The smallest-L1 move reaching the plane: whole coordinates by decreasing |w_i|, then part of one.
    Where the box cannot reach the plane, every coordinate goes to its box limit."""
    order = ops.argsort(-absw, axis=1)  # stable: equal |w_i| keep their order, as the reference's sort
    gain = ops.take_along_axis(absw * room, order, axis=1)  # how far each coordinate, moved fully, takes w·x
    reached = ops.cumsum(gain, axis=1)
    before = ops.concatenate([ops.zeros_like(gain[:, :1]), reached[:, :-1]], axis=1)  # what those ahead reach
    full = before + gain <= c  # coordinates moved all the way
    partial = ~full & (before < c)  # the one that finishes the move
    wsorted = ops.take_along_axis(absw, order, axis=1)
    share = ops.where(partial, (c - before) / ops.where(partial, wsorted, 1.0), 0.0)
    size = ops.where(full, ops.take_along_axis(room, order, axis=1), share)
    reachable = ops.sum(absw * room, axis=1, keepdims=True) >= c
    size = ops.take_along_axis(size, ops.argsort(order, axis=1), axis=1)  # back to the coordinates' own order
    size = ops.where(reachable, size, room)
    return ops.sign(w) * ops.where(absw > 0, size, 0.0)


def _boundary(model, x, y, target, targeted, norm):
    """(f, ∇f) of the boundary function f = z_t − z_y at `x`: the target's, or the nearest class's."""
    def of(t, index):  # row b's entry index[b] of t (B, C, ...)
        index = ops.reshape(index, (-1, 1) + (1,) * (len(t.shape) - 2))
        return ops.squeeze(ops.take_along_axis(t, ops.cast(index, "int32"), axis=1), 1)

    if targeted:
        def boundary(xb):
            logits = ops.cast(model(xb, training=False), "float32")
            return of(logits, target) - of(logits, y)
        return backend.value_and_input_grad(boundary)(x)
    logits, jac = backend.input_jacobian(lambda xb: ops.cast(model(xb, training=False), "float32"))(x)
    classes = int(logits.shape[1])
    jac = ops.reshape(jac, (ops.shape(x)[0], classes, -1))  # (B, C, D)
    diff_f = logits - ops.expand_dims(of(logits, y), 1)
    diff_g = jac - ops.expand_dims(of(jac, y), 1)
    dual = {"linf": lambda g: ops.sum(ops.abs(g), -1), "l2": lambda g: ops.norm(g, axis=-1),
            "l1": lambda g: ops.max(ops.abs(g), -1)}[norm](diff_g)  # the dual norm of the gradient
    dist = ops.where(ops.one_hot(y, classes) > 0, np.inf, ops.abs(diff_f) / (dual + 1e-12))
    nearest = ops.cast(ops.argmin(dist, axis=1), "int32")
    return of(diff_f, nearest), ops.reshape(of(diff_g, nearest), ops.shape(x))


class Steps(NamedTuple):
    """FAB's constants for one call: the budget, the iterations, and the step's bias bound, overshoot and
    pull-back."""

    eps: object
    steps: object
    alpha_max: object
    eta: object
    beta: object

    @classmethod
    def signature(cls, dtype):
        return cls(spec(dtype), spec("int32"), spec(dtype), spec(dtype), spec(dtype))


def _fab_batch(model, batch, constants, random, norm, targeted):
    x, target, keys, seed = batch.x, batch.target, batch.keys, batch.seed
    eps, steps, alpha_max, eta, beta = constants
    y = labels_of(batch.y)
    dtype, shape = ops.dtype(x), ops.shape(x)
    batch = shape[0]
    flat = lambda t: ops.reshape(t, (batch, -1))  # noqa: E731
    x0 = flat(x)
    if random:  # restarts after the first start inside half the ε-ball, as the reference does
        x1 = sphere_start(x, eps, norm, seed, keys, radius=0.5)
    else:
        x1 = x
    best = ops.full((batch,), np.inf, dtype=dtype)
    state = (ops.convert_to_tensor(0, "int32"), flat(x1), x0, best)

    def body(i, x1, x_best, best):
        f, g = _boundary(model, ops.reshape(x1, shape), y, target, targeted, norm)
        g = ops.cast(flat(g), dtype)
        b = ops.sum(g * x1, axis=1) - ops.cast(f, dtype)
        d = project_onto_hyperplane(ops.concatenate([x1, x0], 0), ops.concatenate([g, g], 0),
                                    ops.concatenate([b, b], 0), norm)
        d1, d2 = d[:batch], d[batch:]
        a1 = ops.maximum(lp_norm(d1, norm), 1e-8)
        a2 = ops.maximum(lp_norm(d2, norm), 1e-8)
        alpha = ops.expand_dims(ops.clip(a1 / (a1 + a2), 0.0, alpha_max), 1)
        x1 = ops.clip((x1 + eta * d1) * (1 - alpha) + (x0 + eta * d2) * alpha, 0.0, 1.0)
        logits = model(ops.reshape(x1, shape), training=False)
        adv = fooled(logits, y)
        size = lp_norm(x1 - x0, norm)
        closer = ops.logical_and(adv, size < best)
        x_best = ops.where(ops.expand_dims(closer, 1), x1, x_best)
        best = ops.where(closer, size, best)
        x1 = ops.where(ops.expand_dims(adv, 1), x0 + (x1 - x0) * beta, x1)
        return i + 1, x1, x_best, best

    _, _, x_best, best = ops.while_loop(lambda i, *_: i < steps, body, state)
    return ops.reshape(x_best, shape), best


def fab(model, x, y, eps, norm="linf", seed=None, **options):
    """FAB (Croce & Hein, ICML 2020): minimum-norm adversarial examples by steps towards the linearised
    decision boundary; FAB-T (`targeted=True`, the default, as in AutoAttack) or untargeted FAB.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: clean images (B, H, W, C) in [0,1]; y: integer or one-hot labels.
        eps: the budget in pixel units; also the radius of the random starts.
        norm: "linf", "l2" or "l1".
        seed: int for repeatable random restarts.
        **options: the attack's options (`kerasll.attacks.catalog.FABT`'s: steps, restarts, target_classes,
            alpha_max, eta, beta; with `targeted=False`, `FAB`'s: the same without target_classes), how it
            runs (`kerasll.attacks.attack.Runtime`: keys, batch_size, progress, stage), and `return_norms`:
            also return the per-image norm of the closest adversarial example found (inf where none was).

    Returns:
        Adversarial images shaped like `x`: the closest adversarial example
        where it is within `eps`, else the clean image. With `return_norms`,
        (images, norms).

    Example:
        >>> x_adv = kerasll.fab(model, x, y, eps=8/255)
    """
    return_norms = options.pop("return_norms", False)
    runtime, options = split_runtime(options)
    attack = (FABT if options.pop("targeted", True) else FAB).create(**options)
    if norm not in attack.norms:
        raise KerasllError(f"FAB supports norm {', '.join(attack.norms)}, not {norm!r}")
    x_adv, norms = fab_with_norms(attack, model, x, y, eps, norm, seed, runtime)
    return (x_adv, norms) if return_norms else x_adv


def run_fab(attack, model, x, y, eps, norm, seed, runtime):
    """Run `attack` (a `FAB` or `FABT`) as `Attack.__call__` does."""
    return fab_with_norms(attack, model, x, y, eps, norm, seed, runtime)[0]


def fab_with_norms(attack, model, x, y, eps, norm, seed, runtime):
    """(adversarial images, the norm of the closest adversarial example per image, inf where none was found)."""
    targeted = isinstance(attack, FABT)
    check_budget(eps, eps, attack.steps, norm, attack.restarts)
    p = prologue(x, y, seed, runtime.keys)
    x = p.x
    ranked, targets = targets_of(model, x, attack.target_classes) if targeted else (None, 0)
    dtype = ops.dtype(x)
    constants = Steps(*(ops.convert_to_tensor(v, dtype) if i != 1 else ops.convert_to_tensor(int(v), "int32")
                        for i, v in enumerate((eps, attack.steps, attack.alpha_max, attack.eta, attack.beta))))
    signature = [Batch.signature(x), Steps.signature(dtype)]
    runs = {random: compiled(model, ("fab", norm, targeted, random),
                             lambda m, *a, r=random: _fab_batch(m, *a, r, norm, targeted), signature)
            for random in (False, True)}  # the first run starts at x, later restarts at random

    def one(ids, rank, restart):
        batch = Batch.of(p, ids, ranked[ids, rank] if targeted else p.y[ids], run_seed(p.seed, rank, restart))
        adv, size = runs[restart > 0](batch, constants)
        return backend.to_numpy(adv), backend.to_numpy(size)  # the closest adversarial example's norm (inf: none)

    x_adv, norms = over_runs(x, runs_of(targeted, targets, attack.restarts), one, lambda size: size <= eps,
                             runtime.batch_size, runtime.progress, runtime.stage)
    x_adv[norms > eps] = backend.to_numpy(x)[norms > eps]
    return ops.convert_to_tensor(x_adv), norms
