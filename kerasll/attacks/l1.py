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
sorts a few hundred breakpoints, not 2d.
"""

import tensorflow as tf


def project_l1_box(x, y, eps):
    """The point of {δ : ‖δ‖₁ ≤ ε, 0 ≤ x + δ ≤ 1} nearest to `y` in L2, per image.

    Args:
        x: images in [0, 1], (B, ...).
        y: perturbations to project, shaped like x.
        eps: the L1 radius, a scalar or (B,).

    Returns:
        δ shaped like x, with ‖δ‖₁ ≤ ε (up to float rounding) and x + δ in [0, 1].
    """
    shape, dtype = tf.shape(x), y.dtype if isinstance(y, tf.Tensor) else tf.float32
    rows = shape[0]
    x, y = tf.reshape(x, [rows, -1]), tf.reshape(tf.cast(y, x.dtype), [rows, -1])
    # Only y's nonzero coordinates (a zero one adds nothing to g at any λ ≥ 0), in float64: g sums many
    # terms, and float32 would leave ‖δ‖₁ above ε by ~1e-4 at d = 784.
    support = tf.reduce_max(tf.math.count_nonzero(y, axis=1, dtype=tf.int32))
    _, where = tf.math.top_k(tf.abs(y), k=tf.maximum(support, 1), sorted=False)
    ys, xs = (tf.cast(tf.gather(t, where, batch_dims=1), tf.float64) for t in (y, x))
    a = tf.abs(ys)
    cap = tf.maximum(tf.where(ys >= 0, 1.0 - xs, xs), 0.0)  # how far the box lets δ go in y's direction
    eps = tf.broadcast_to(tf.reshape(tf.cast(eps, tf.float64), [-1]), [rows])
    lam = tf.cast(_threshold(a, cap, eps), x.dtype)[:, None]
    # Every coordinate soft-thresholded by λ and kept in its box (a zero one stays zero).
    size = tf.clip_by_value(tf.abs(y) - lam, 0.0, tf.maximum(tf.where(y >= 0, 1.0 - x, x), 0.0))
    return tf.cast(tf.reshape(tf.sign(y) * size, shape), dtype)


def _threshold(a, cap, eps):
    """The multiplier λ ≥ 0 per row: the smallest with g(λ) = Σ clamp(a − λ, 0, cap) ≤ ε (a, cap: (rows, K))."""
    rows = tf.shape(a)[0]
    # Breakpoints of g: at a − cap a coordinate starts to shrink (slope −1), at a it is 0 (slope +1).
    points = tf.concat([a - cap, a], axis=1)
    change = tf.concat([-tf.ones_like(a), tf.ones_like(a)], axis=1)
    order = tf.argsort(points, axis=1, stable=True)
    t = tf.gather(points, order, batch_dims=1)
    slope = tf.cumsum(tf.gather(change, order, batch_dims=1), axis=1)  # g's slope right of each breakpoint
    gaps = t[:, 1:] - t[:, :-1]
    g = tf.concat([tf.zeros_like(t[:, :1]), tf.cumsum(slope[:, :-1] * gaps, axis=1)], axis=1)
    g = g + tf.reduce_sum(cap, axis=1, keepdims=True)  # g at each sorted breakpoint (all saturated at −∞)
    # The first breakpoint where g ≤ ε; λ lies on the segment before it (g falls there: slope < 0).
    k = tf.argmax(tf.cast(g <= eps[:, None], tf.int32), axis=1, output_type=tf.int32)
    k = tf.maximum(k, 1)
    before = tf.stack([tf.range(rows), k - 1], axis=1)
    t0, g0, s0 = tf.gather_nd(t, before), tf.gather_nd(g, before), tf.gather_nd(slope, before)
    lam = t0 + (g0 - eps) / tf.maximum(-s0, 1.0)
    g_at_zero = tf.reduce_sum(tf.minimum(a, cap), axis=1)
    return tf.where(g_at_zero <= eps, tf.zeros_like(lam), tf.maximum(lam, 0.0))
