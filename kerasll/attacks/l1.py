"""The L1 threat model's exact projection: onto {δ : ‖δ‖₁ ≤ ε} ∩ {δ : 0 ≤ x + δ ≤ 1}.

Croce & Hein (ICML 2021, "Mind the box") project onto the intersection of the L1 ball
and the pixel box, not onto the ball and then the box (which can leave the ball or
move further than needed). The problem is separable once a multiplier λ ≥ 0 of the L1
constraint is fixed: each coordinate is soft-thresholded by λ and clipped to its box,
so |δᵢ(λ)| = clamp(|yᵢ| − λ, 0, cᵢ), where cᵢ is how far the box lets δᵢ go in yᵢ's
direction. g(λ) = Σ |δᵢ(λ)| is piecewise linear and decreasing, with breakpoints at
|yᵢ| − cᵢ (the coordinate leaves its box face) and |yᵢ| (it reaches 0). The projection
uses the smallest λ ≥ 0 with g(λ) ≤ ε, found exactly by sorting the breakpoints and
walking g along them, as the reference's `L1_projection`. Only y's nonzero coordinates are
sorted (a zero one adds nothing to g at λ ≥ 0): the attacks' iterates are sparse, so a step
sorts a few hundred breakpoints, not 2d (on JAX, whose compiled shapes are static, all d:
`kerasll.backend.top_k_within`).

The sums are in the backend's widest float (float64; float32 on JAX without x64), and a result whose sum
comes within rounding of ε is scaled a few ulps below it (`SLACK`), so that ‖δ‖₁ ≤ ε holds on every backend.
"""

import math

from keras import ops

from kerasll import backend

# How far below ε a sum near it is put, by the float it was summed in: float64 sums of float32 values are exact
# but for the products' rounding (a few float32 ulps); a float32 sum of d values (a tree of adds) is off by
# about log2(d) ulps, so 64 ulps cover d up to the CIFAR-sized 3,072 with room.
SLACK = {"float64": 2.0**-21, "float32": 2.0**-18}


def project_l1_box(x, y, eps):
    """The point of {δ : ‖δ‖₁ ≤ ε, 0 ≤ x + δ ≤ 1} nearest to `y` in L2, per image.

    Args:
        x: images in [0, 1], (B, ...).
        y: perturbations to project, shaped like x.
        eps: the L1 radius, a scalar or (B,).

    Returns:
        δ shaped like x, with ‖δ‖₁ ≤ ε and x + δ in [0, 1].
    """
    shape, dtype, dim = ops.shape(x), x.dtype, math.prod(x.shape[1:])
    wide = backend.ops().WIDE
    x, y = ops.reshape(x, (-1, dim)), ops.reshape(ops.cast(y, dtype), (-1, dim))
    # Only y's nonzero coordinates (a zero one adds nothing to g at any λ ≥ 0), in the widest float: g sums
    # many terms, and float32 would leave ‖δ‖₁ above ε by ~1e-4 at d = 784.
    support = ops.maximum(ops.max(ops.count_nonzero(y, axis=1)), 1)
    _, where = backend.top_k_within(ops.abs(y), support, dim)
    ys, xs = (ops.cast(ops.take_along_axis(t, where, axis=1), wide) for t in (y, x))
    a = ops.abs(ys)
    cap = ops.maximum(ops.where(ys >= 0, 1.0 - xs, xs), 0.0)  # how far the box lets δ go in y's direction
    eps = ops.reshape(ops.cast(eps, wide), (-1,)) + ops.zeros_like(a[:, 0])  # (B,)
    lam = ops.cast(_threshold(a, cap, eps), dtype)[:, None]
    # Every coordinate soft-thresholded by λ and kept in its box (a zero one stays zero).
    size = ops.clip(ops.abs(y) - lam, 0.0, ops.maximum(ops.where(y >= 0, 1.0 - x, x), 0.0))
    # Where the sum may be above ε by rounding, shrink towards x to a little below ε (`SLACK`, more than the
    # rounding of the sum and of the products): still in the box, now surely in the ball.
    total, slack = ops.sum(ops.cast(size, wide), axis=1), SLACK[wide]
    shrink = ops.where(total > eps * (1.0 - slack), eps * (1.0 - slack) / ops.maximum(total, 1e-30), 1.0)
    size = size * ops.cast(shrink, dtype)[:, None]
    return ops.reshape(ops.sign(y) * size, shape)


def _threshold(a, cap, eps):
    """The multiplier λ ≥ 0 per row: the smallest with g(λ) = Σ clamp(a − λ, 0, cap) ≤ ε (a, cap: (rows, K))."""
    # Breakpoints of g: at a − cap a coordinate starts to shrink (slope −1), at a it is 0 (slope +1).
    points = ops.concatenate([a - cap, a], axis=1)
    change = ops.concatenate([-ops.ones_like(a), ops.ones_like(a)], axis=1)
    order = ops.argsort(points, axis=1)
    t = ops.take_along_axis(points, order, axis=1)
    slope = ops.cumsum(ops.take_along_axis(change, order, axis=1), axis=1)  # g's slope right of each breakpoint
    gaps = t[:, 1:] - t[:, :-1]
    # g at each sorted breakpoint, summed from the right (g = 0 past the last one), where the values near ε
    # are: every term is ≥ 0, so nothing cancels and float32 sums are good to a few ulps of g itself.
    rise = ops.flip(ops.cumsum(ops.flip(-slope[:, :-1] * gaps, axis=1), axis=1), axis=1)
    g = ops.concatenate([rise, ops.zeros_like(t[:, :1])], axis=1)
    # The first breakpoint where g ≤ ε; λ lies on the segment before it (g falls there: slope < 0).
    k = ops.argmax(ops.cast(g <= eps[:, None], "int32"), axis=1)
    before = ops.maximum(ops.cast(k, "int32"), 1)[:, None] - 1
    t0, g0, s0 = (ops.take_along_axis(v, before, axis=1)[:, 0] for v in (t, g, slope))
    lam = t0 + (g0 - eps) / ops.maximum(-s0, 1.0)
    g_at_zero = ops.sum(ops.minimum(a, cap), axis=1)
    return ops.where(g_at_zero <= eps, ops.zeros_like(lam), ops.maximum(lam, 0.0))
