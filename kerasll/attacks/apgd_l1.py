"""L1-APGD (Croce & Hein, ICML 2021, "Mind the box: ℓ1-APGD for sparse adversarial attacks").

One run differs from APGD's L∞/L2 run in three ways, all as in the reference (fra31/auto-attack):
- the step moves only the coordinates with the largest gradients, a share `topk` of them (20% at
  first), by equal amounts summing to the step size, then projects exactly onto the L1 ball ∩ [0,1]
  box (`l1.project_l1_box`); there is no momentum;
- every k = max(⌊0.04·N⌋, 1) iterations the share becomes the sparsity of the best point so far over
  1.5; where that sparsity fell by more than 5%, the step size is reset to ε and the iterate goes back
  to the best point, elsewhere the step size is divided by 1.5 (kept within [ε/10, ε]);
- "large reps" (AutoAttack's L1 setting): a Gaussian start projected onto the 3ε ball, then
  30%, 30% and 40% of the iterations at 3ε, 2ε and ε, each stage starting from the best point of the
  one before, projected onto the smaller ball; only the last stage's finds count.
"""

import math

from keras import ops

from kerasll import backend
from kerasll.attacks import noise
from kerasll.attacks.geometry import pick, project
from kerasll.attacks.l1 import project_l1_box
from kerasll.attacks.losses import fooled

SPARSITY_START = 0.2  # share of the coordinates the first steps move
SPARSITY_SLACK = 1.5  # the share is the best point's sparsity over this; also the step's divisor
STEP_FLOOR = 10.0  # the step size stays within [ε / STEP_FLOOR, ε]
LARGE_REPS = (3.0, 2.0, 1.0)  # the stages' radii, in multiples of ε
LARGE_REPS_SHARE = 0.3  # each stage but the last runs ⌈0.3·N⌉ iterations; the last runs the rest


def _nonzero(t):
    return ops.sum(ops.cast(ops.not_equal(ops.reshape(t, (ops.shape(t)[0], -1)), 0), "float32"), axis=1)


def _sparse_step(grad, topk, size):
    """sign(g) on the coordinates whose |g| reaches the (1 − topk)-quantile, scaled to L1 norm `size`."""
    dim = math.prod(grad.shape[1:])
    flat = ops.abs(ops.reshape(grad, (-1, dim)))
    at = ops.clip(ops.cast((1.0 - topk) * float(dim), "int32"), 0, dim - 1)
    # The value at ascending rank `at` is the (dim − at)-th largest: only the top few are needed, not a sort.
    largest, _ = backend.top_k_within(flat, ops.max(dim - at), dim)
    threshold = ops.take_along_axis(largest, (dim - at - 1)[:, None], axis=1)
    rank = len(grad.shape)
    chosen = ops.sign(grad) * ops.cast(ops.abs(grad) >= ops.reshape(threshold, [-1] + [1] * (rank - 1)),
                                       grad.dtype)
    count = ops.sum(ops.abs(chosen), axis=list(range(1, rank)), keepdims=True)
    return ops.reshape(size, [-1] + [1] * (rank - 1)) * chosen / (count + 1e-10)


def l1_run(objective, x, y, x0, eps, steps, from_start=False):
    """One L1-APGD run of `steps` iterations from `x0`: the final state (x_best, fooled, x_fool, …).
    `objective(x)` → (loss, gradient, logits) per image.

    `from_start`: `x0` is a given start (large reps), so the first share of coordinates is the start's
    sparsity over 1.5 rather than 20%.
    """
    dim = float(math.prod(x.shape[1:]))
    loss0, grad0, logits0 = objective(x0)
    fooled0 = fooled(logits0, y)
    if from_start:
        sparsity = _nonzero(x0 - x)
        topk = sparsity / dim / SPARSITY_SLACK
    else:
        sparsity = ops.full_like(loss0, dim)
        topk = ops.full_like(loss0, SPARSITY_START)
    top_step = ops.cast(eps, x.dtype)
    k = ops.maximum(ops.cast(ops.cast(steps, backend.ops().WIDE) * 0.04, "int32"), 1)  # as the reference's float64
    state = dict(i=ops.convert_to_tensor(0, "int32"), x_adv=x0, grad=grad0, step=ops.full_like(loss0, top_step),
                 topk=topk, sparsity=sparsity, x_best=x0, grad_best=grad0, loss_best=loss0, x_fool=x0, fooled=fooled0)

    def body(s):
        x_new = project(s["x_adv"] + _sparse_step(s["grad"], s["topk"], s["step"]), x, eps, "l1")
        loss, grad, logits = objective(x_new)
        fooled_now = fooled(logits, y)
        improved = loss > s["loss_best"]
        out = dict(s, i=s["i"] + 1, x_adv=x_new, grad=grad,
                   x_best=pick(improved, x_new, s["x_best"]), grad_best=pick(improved, grad, s["grad_best"]),
                   loss_best=ops.where(improved, loss, s["loss_best"]),
                   x_fool=pick(fooled_now & ~s["fooled"], x_new, s["x_fool"]), fooled=s["fooled"] | fooled_now)
        # Checkpoint: follow the best point's sparsity; restart from it where it became sparser.
        at_check = ops.equal(ops.mod(s["i"] + 1, k), 0)
        sparsity = _nonzero(out["x_best"] - x)
        sparser = at_check & (sparsity / s["sparsity"] < 0.95)
        step = ops.where(sparser, top_step, out["step"] / SPARSITY_SLACK)
        step = ops.clip(step, top_step / STEP_FLOOR, top_step)
        out["step"] = ops.where(at_check, step, out["step"])
        out["topk"] = ops.where(at_check, sparsity / dim / SPARSITY_SLACK, s["topk"])
        out["sparsity"] = ops.where(at_check, sparsity, s["sparsity"])
        out["x_adv"] = pick(sparser, out["x_best"], out["x_adv"])
        out["grad"] = pick(sparser, out["grad_best"], out["grad"])
        return (out,)

    (final,) = ops.while_loop(lambda s: s["i"] < steps, body, (state,))
    return final


def l1_batch(objective, batch, eps, steps, large_reps=False):
    """L1-APGD on a `driver.Batch` (labels as integers): per image the first iterate that fools the model, else
    the one of highest loss."""
    x, y = batch.x, batch.y
    shape = list(x.shape[1:])
    draw = noise.normal(batch.seed, batch.keys, 0, shape, x.dtype)
    if not large_reps:
        final = l1_run(objective, x, y, project(x + draw, x, eps, "l1"), eps, steps)
        return pick(final["fooled"], final["x_fool"], final["x_best"])
    x0 = x + project_l1_box(x, draw, LARGE_REPS[0] * eps)
    early = ops.cast(ops.ceil(LARGE_REPS_SHARE * ops.cast(steps, backend.ops().WIDE)), "int32")
    for stage, multiple in enumerate(LARGE_REPS):
        n = early if stage < len(LARGE_REPS) - 1 else steps - (len(LARGE_REPS) - 1) * early
        x0 = project(x0, x, multiple * eps, "l1")
        final = l1_run(objective, x, y, x0, multiple * eps, n, from_start=True)
        x0 = final["x_best"]
    return pick(final["fooled"], final["x_fool"], final["x_best"])
