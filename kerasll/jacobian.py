"""Squared Jacobian norms by random projection (docs/method.md#the-regularisers).

Two projections estimate the same quantities:

- ``"vjp"`` (reverse mode): random unit vectors v in the C-dimensional output
  space, one vector-Jacobian product each (below).
- ``"jvp"`` (forward mode): random tangents u in input space with E[u uᵀ] = I
  (Rademacher ±1), ‖M‖²_F = E‖M u‖², one Jacobian-vector product each through
  `tf.autodiff.ForwardAccumulator` — the same forward pass also gives the logits.

For v uniform on the unit sphere of R^C, E[v vᵀ] = I/C, so for any C×D matrix M,
‖M‖²_F = C · E_v ‖vᵀM‖². `vᵀM` for a whole batch is one vector-Jacobian product,
`tape.gradient(logits, x, output_gradients=v)`. Three targets share this code:

- ``"jacobian"``: ‖J‖²_F with cotangent v (Hoffman et al. 2019).
- ``"weighted"``: ‖diag(p) J‖²_F with cotangent v ⊙ p (AMSReg, paper Eq. 24).
- ``"exact"``: ‖Jᵀp‖² = ‖∇x log p(x)‖² with cotangent p — exact, no projection.
"""


from kerasll._lazy import Deferred
from kerasll.errors import check_choice

tf = Deferred("tensorflow")  # training code: TensorFlow's so far; loading and calling need none

TARGETS = ("jacobian", "weighted", "exact")
PROJECTIONS = ("vjp", "jvp")


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
            tf.cast(seed, tf.int64), i)  # projection i
        v = tf.cast(unit_vectors(tf.shape(logits), draw_seed), logits.dtype)
        cotangent = v if target == "jacobian" else v * probs
        total += _sq_norm(tape.gradient(logits, x, output_gradients=cotangent))
    return (num_classes / projections) * total


def wide(t):
    """Half-precision (mixed precision) values in float32; float32 and float64 unchanged."""
    return tf.cast(t, tf.float32) if t.dtype in (tf.float16, tf.bfloat16) else t


def rademacher(shape, seed, dtype="float32"):
    """±1 entries with equal probability (E[u uᵀ] = I): a `keras.random.SeedGenerator` or a stateless pair."""
    import keras

    if isinstance(seed, keras.random.SeedGenerator):
        bits = keras.random.randint(shape, 0, 2, seed=seed)
    else:
        bits = tf.random.stateless_uniform(shape, seed=seed, minval=0, maxval=2, dtype=tf.int32)
    return tf.cast(2 * bits - 1, dtype)


def jvp_sq_norm(model_fn, x, target, projections=1, seed=(0, 0), probs_fn=None):
    """Forward-mode estimate of the squared norm named by `target`, and the logits.

    Args:
        model_fn: x ↦ logits (e.g. `lambda z: model(z, training=True)`), run once on the batch
            repeated `projections` times.
        x: the input batch.
        target: "jacobian" (‖Ju‖²), "weighted" (‖p ⊙ Ju‖²) or "exact" ((pᵀJu)², unbiased for ‖Jᵀp‖²).
        projections: tangents per sample.
        seed: a `keras.random.SeedGenerator` or a stateless pair (one draw for all projections).
        probs_fn: logits ↦ p (default softmax); return a stop-gradient copy to keep p from
            carrying gradient to the weights.

    Returns:
        (per-sample estimate (B,), float32 logits of the first projection's forward pass).
        Differentiable in the weights under an outer `GradientTape`.
    """
    check_choice("Jacobian target", target, TARGETS)
    probs_fn = probs_fn or tf.nn.softmax
    n = int(projections)
    # All projections in one forward pass: the batch repeated n times, one tangent per copy.
    tiled = tf.tile(x, tf.concat([[n], tf.ones([tf.rank(x) - 1], tf.int32)], 0)) if n > 1 else x
    u = rademacher(tf.shape(tiled), seed, x.dtype)
    with tf.autodiff.ForwardAccumulator(tiled, u) as acc:
        logits = model_fn(tiled)
    ju = acc.jvp(logits)
    if ju is None:
        raise_forward_mode_gap()
    logits, ju = wide(logits), wide(ju)
    if target == "jacobian":
        per_copy = tf.reduce_sum(tf.square(ju), -1)
    elif target == "weighted":
        per_copy = tf.reduce_sum(tf.square(probs_fn(logits) * ju), -1)
    else:
        per_copy = tf.square(tf.reduce_sum(probs_fn(logits) * ju, -1))
    batch = tf.shape(x)[0]
    return tf.reduce_mean(tf.reshape(per_copy, [n, batch]), 0), logits[:batch]


def raise_forward_mode_gap():
    from kerasll.errors import KerasllError

    raise KerasllError("this model has an operation without a forward-mode (jvp) rule in TensorFlow; "
                       "use projection='vjp'")


def jacobian_sq_norm(model, x, target="jacobian", projections=1, projection="vjp", seed=None, training=False):
    """Per-sample estimate (B,) of a squared Jacobian norm of `model` at `x`.

    Args:
        model: a Keras classifier (or any callable), inputs → logits.
        x: an input batch.
        target: "jacobian" — ‖J‖²_F; "weighted" — ‖diag(p) J‖²_F (AMSReg's bound);
            "exact" — ‖Jᵀp‖² = ‖∇x log p̃(x)‖² (exact with "vjp", unbiased with "jvp").
        projections: random vectors per sample.
        projection: "vjp" (random output vectors, reverse mode) or "jvp" (random
            input tangents, forward mode); both are unbiased.
        seed: an int, a stateless pair, a `keras.random.SeedGenerator`, or None (random).
        training: call the model in training mode.

    Called under a `tf.GradientTape`, the result is differentiable in the weights.

    Example:
        >>> kerasll.jacobian_sq_norm(model, x_test[:8], "exact")   # ‖∇x log p̃‖² per image
    """
    import numpy as np

    check_choice("Jacobian target", target, TARGETS)
    check_choice("projection", projection, PROJECTIONS)
    if int(projections) < 1:
        from kerasll.errors import KerasllError

        raise KerasllError(f"projections must be ≥ 1, got {projections}")
    if seed is None:
        seed = (int(np.random.randint(2**31 - 1)), 0)
    elif isinstance(seed, int):
        seed = (seed, 0)
    x = tf.convert_to_tensor(x)
    if projection == "jvp":
        return jvp_sq_norm(lambda z: model(z, training=training), x, target, int(projections), seed)[0]
    with tf.GradientTape(persistent=int(projections) > 1) as tape:
        tape.watch(x)
        logits = wide(model(x, training=training))
    return projected_sq_norm(tape, logits, x, target, int(projections), seed=seed)
