"""The L1 threat model's exact projection: onto {δ : ‖δ‖₁ ≤ ε} ∩ {δ : 0 ≤ x + δ ≤ 1}.

Croce & Hein (ICML 2021, "Mind the box") project onto the intersection of the L1 ball
and the pixel box, not onto the ball and then the box (which can leave the ball or
move further than needed). The problem is separable once a multiplier λ ≥ 0 of the L1
constraint is fixed: each coordinate is soft-thresholded by λ and clipped to its box,
so |δᵢ(λ)| = clamp(|yᵢ| − λ, 0, cᵢ), where cᵢ is how far the box lets δᵢ go in yᵢ's
direction. g(λ) = Σ |δᵢ(λ)| is piecewise linear and decreasing, with breakpoints at
|yᵢ| − cᵢ (the coordinate leaves its box face) and |yᵢ| (it reaches 0). The projection
uses the smallest λ ≥ 0 with g(λ) ≤ ε, found exactly by sorting the 2d breakpoints
and walking g along them (O(d log d) per image), as the reference's `L1_projection`.
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
    # In float64: g sums up to d terms, and float32 would leave ‖δ‖₁ above ε by ~1e-4 at d = 784.
    x = tf.reshape(tf.cast(x, tf.float64), [shape[0], -1])
    y = tf.reshape(tf.cast(y, tf.float64), [shape[0], -1])
    eps = tf.broadcast_to(tf.reshape(tf.cast(eps, tf.float64), [-1]), [shape[0]])
    a = tf.abs(y)
    cap = tf.where(y >= 0, 1.0 - x, x)  # how far the box lets δ go in y's direction
    cap = tf.maximum(cap, 0.0)
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
    before = tf.stack([tf.range(shape[0]), k - 1], axis=1)
    t0, g0, s0 = tf.gather_nd(t, before), tf.gather_nd(g, before), tf.gather_nd(slope, before)
    lam = t0 + (g0 - eps) / tf.maximum(-s0, 1.0)
    g_at_zero = tf.reduce_sum(tf.minimum(a, cap), axis=1)
    lam = tf.where(g_at_zero <= eps, tf.zeros_like(lam), tf.maximum(lam, 0.0))
    size = tf.clip_by_value(a - lam[:, None], 0.0, cap)
    return tf.cast(tf.reshape(tf.sign(y) * size, shape), dtype)
