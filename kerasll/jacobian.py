"""Squared Jacobian norms by random projection (METHOD.md §Regularisers).

For v uniform on the unit sphere of R^C, E[v vᵀ] = I/C, so for any C×D matrix M,
‖M‖²_F = C · E_v ‖vᵀM‖². `vᵀM` for a whole batch is one vector-Jacobian product,
`tape.gradient(logits, x, output_gradients=v)`. Three targets share this code:

- ``"jacobian"``: ‖J‖²_F with cotangent v (Hoffman et al. 2019).
- ``"weighted"``: ‖diag(p) J‖²_F with cotangent v ⊙ p (AMSReg, paper Eq. 24).
- ``"exact"``: ‖Jᵀp‖² = ‖∇x log p(x)‖² with cotangent p — exact, no projection.
"""

import tensorflow as tf

from kerasll.errors import check_choice

TARGETS = ("jacobian", "weighted", "exact")


def unit_vectors(shape, seed):
    """Rows uniform on the unit sphere: normalised standard normal draws.

    `seed` is a `keras.random.SeedGenerator` or a stateless seed pair (2 ints or a tensor).
    """
    import keras

    if isinstance(seed, keras.random.SeedGenerator):
        v = keras.random.normal(shape, seed=seed)
    else:
        v = tf.random.stateless_normal(shape, seed=seed)
    return v / tf.norm(v, axis=-1, keepdims=True)


def _sq_norm(g):
    axes = tf.range(1, tf.rank(g))
    return tf.reduce_sum(tf.square(g), axis=axes)


def projected_sq_norm(tape, logits, x, target, projections=1, seed=(0, 0), probs=None):
    """Per-sample estimate of the squared norm named by `target`, shape (B,).

    Args:
        tape: the GradientTape that watched `x` and recorded `logits`
            (persistent when `projections > 1`). Called inside an outer tape,
            the result is differentiable in the weights (double backprop).
        logits: (B, C) float logits computed from `x` under `tape`.
        x: the watched input batch.
        target: "jacobian", "weighted" or "exact" (see module docstring).
        projections: number of random vectors per sample (ignored by "exact").
        seed: a `keras.random.SeedGenerator` or a stateless seed pair (projection i
            draws with `stateless_fold_in(seed, i)`).
        probs: softmax(logits) to weight with; pass a stop-gradient copy to keep
            p from carrying gradient to the weights. Default: softmax(logits).

    Returns:
        ‖J‖²_F, ‖diag(p)J‖²_F (both unbiased estimates) or ‖Jᵀp‖² (exact).
    """
    check_choice("Jacobian target", target, TARGETS)
    if probs is None and target != "jacobian":
        probs = tf.nn.softmax(logits)
    if target == "exact":
        return _sq_norm(tape.gradient(logits, x, output_gradients=probs))
    num_classes = logits.shape[-1]
    total = 0.0
    for i in range(projections):
        draw_seed = seed if hasattr(seed, "next") else tf.random.experimental.stateless_fold_in(
            tf.cast(seed, tf.int64), i)
        v = tf.cast(unit_vectors(tf.shape(logits), draw_seed), logits.dtype)
        cotangent = v if target == "jacobian" else v * probs
        total += _sq_norm(tape.gradient(logits, x, output_gradients=cotangent))
    return (num_classes / projections) * total
