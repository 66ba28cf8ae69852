"""Squared Jacobian norms by random projection (docs/method.md#the-regularisers), on every Keras backend.

Two projections estimate the same quantities:

- ``"vjp"`` (reverse mode): random unit vectors v in the C-dimensional output
  space, one vector-Jacobian product each (below).
- ``"jvp"`` (forward mode): random tangents u in input space with E[u uᵀ] = I
  (Rademacher ±1), ‖M‖²_F = E‖M u‖², one Jacobian-vector product each
  (`kerasll.backend.jvp`) — the same forward pass also gives the logits.

For v uniform on the unit sphere of R^C, E[v vᵀ] = I/C, so for any C×D matrix M,
‖M‖²_F = C · E_v ‖vᵀM‖². `vᵀM` for a whole batch is one vector-Jacobian product
(`kerasll.backend.vjp`). Three targets share this code:

- ``"jacobian"``: ‖J‖²_F with cotangent v (Hoffman et al. 2019).
- ``"weighted"``: ‖diag(p) J‖²_F with cotangent v ⊙ p (AMSReg, paper Eq. 24).
- ``"exact"``: ‖Jᵀp‖² = ‖∇x log p(x)‖² with cotangent p — exact, no projection.

Inside a defense's training step the products stay differentiable in the weights (double backprop).
The draws are `kerasll.attacks.noise`'s keyed ones: row b of projection i depends on (seed, keys[b], i) only.
"""

from keras import ops

from kerasll import backend
from kerasll.attacks import noise
from kerasll.errors import KerasllError, check_choice

TARGETS = ("jacobian", "weighted", "exact")
PROJECTIONS = ("vjp", "jvp")


def unit_vectors(seed, keys, counter, classes, dtype="float32"):
    """(B, classes) rows uniform on the unit sphere: normalised standard normal draws, row b keyed by keys[b]."""
    v = noise.normal(seed, keys, counter, (classes,), "float32")
    return ops.cast(v / ops.sqrt(ops.sum(ops.square(v), axis=-1, keepdims=True)), dtype)


def rademacher(seed, keys, counter, shape, dtype="float32"):
    """(B, *shape) ±1 entries with equal probability (E[u uᵀ] = I), row b keyed by keys[b]."""
    return noise.signs(seed, keys, counter, shape, dtype)


def sq_norm(g):
    """Per-sample squared L2 norm (B,) of a batch of any rank."""
    return ops.sum(ops.reshape(ops.square(g), (ops.shape(g)[0], -1)), axis=-1)


def wide(t):
    """Half-precision (mixed precision) values in float32; float32 and float64 unchanged."""
    import keras

    return ops.cast(t, "float32") if keras.backend.standardize_dtype(t.dtype) in ("float16", "bfloat16") else t


def projected_sq_norm(pull, logits, target, projections=1, seed=0, keys=None, probs=None):
    """Per-sample estimate of the squared norm named by `target`, shape (B,).

    Args:
        pull: `cotangent (B, C) ↦ Jᵀ·cotangent`, shaped like the input: the vector-Jacobian product of the
            logits (`kerasll.backend.vjp`); inside a training step, differentiable in the weights.
        logits: (B, C) float logits the products are taken of.
        target: "jacobian", "weighted" or "exact" (see module docstring).
        projections: number of random vectors per sample (ignored by "exact").
        seed, keys: the draws' seed word and per-row keys (`noise.row_keys(B)` when None);
            projection i uses counter i.
        probs: softmax(logits) to weight with; pass a stop-gradient copy to keep
            p from carrying gradient to the weights. Default: softmax(logits).

    Returns:
        ‖J‖²_F, ‖diag(p)J‖²_F (both unbiased estimates) or ‖Jᵀp‖² (exact).
    """
    check_choice("Jacobian target", target, TARGETS)
    if probs is None and target != "jacobian":
        probs = ops.softmax(logits)
    if target == "exact":
        return sq_norm(pull(probs))
    keys = noise.row_keys(ops.shape(logits)[0]) if keys is None else keys
    num_classes = logits.shape[-1]
    total = 0.0
    for i in range(projections):
        v = unit_vectors(seed, keys, i, num_classes, logits.dtype)
        total += sq_norm(pull(v if target == "jacobian" else v * probs))
    return (num_classes / projections) * total


def jvp_sq_norm(model_fn, x, target, projections=1, seed=0, probs_fn=None):
    """Forward-mode estimate of the squared norm named by `target`, and the logits.

    Args:
        model_fn: x ↦ logits (e.g. `lambda z: model(z, training=True)`), run once on the batch
            repeated `projections` times.
        x: the input batch.
        target: "jacobian" (‖Ju‖²), "weighted" (‖p ⊙ Ju‖²) or "exact" ((pᵀJu)², unbiased for ‖Jᵀp‖²).
        projections: tangents per sample.
        seed: the tangents' seed word (copy k of row b is keyed by k·B + b).
        probs_fn: logits ↦ p (default softmax); return a stop-gradient copy to keep p from
            carrying gradient to the weights.

    Returns:
        (per-sample estimate (B,), float32 logits of the first projection's forward pass).
        Differentiable in the weights inside a training step.
    """
    check_choice("Jacobian target", target, TARGETS)
    probs_fn = probs_fn or ops.softmax
    n = int(projections)
    batch = ops.shape(x)[0]
    # All projections in one forward pass: the batch repeated n times, one tangent per copy.
    tiled = ops.tile(x, [n] + [1] * (len(x.shape) - 1)) if n > 1 else x
    u = rademacher(seed, noise.row_keys(ops.shape(tiled)[0]), 0, tiled.shape[1:], x.dtype)
    logits, ju = backend.jvp(model_fn, tiled, u)
    logits, ju = wide(logits), wide(ju)
    if target == "jacobian":
        per_copy = ops.sum(ops.square(ju), -1)
    elif target == "weighted":
        per_copy = ops.sum(ops.square(probs_fn(logits) * ju), -1)
    else:
        per_copy = ops.square(ops.sum(probs_fn(logits) * ju, -1))
    return ops.mean(ops.reshape(per_copy, (n, batch)), 0), logits[:batch]


def jacobian_sq_norm(model, x, target="jacobian", projections=1, projection="vjp", seed=None, training=False):
    """Per-sample estimate (B,) of a squared Jacobian norm of `model` at `x`, on any Keras backend.

    Args:
        model: a Keras classifier (or any callable), inputs → logits.
        x: an input batch.
        target: "jacobian" — ‖J‖²_F; "weighted" — ‖diag(p) J‖²_F (AMSReg's bound);
            "exact" — ‖Jᵀp‖² = ‖∇x log p̃(x)‖² (exact with "vjp", unbiased with "jvp").
        projections: random vectors per sample.
        projection: "vjp" (random output vectors, reverse mode) or "jvp" (random
            input tangents, forward mode); both are unbiased.
        seed: an int, or None (random). Row b's draws depend on (seed, b) only.
        training: call the model in training mode.

    Example:
        >>> kerasll.jacobian_sq_norm(model, x_test[:8], "exact")   # ‖∇x log p̃‖² per image
    """
    import numpy as np

    check_choice("Jacobian target", target, TARGETS)
    check_choice("projection", projection, PROJECTIONS)
    if int(projections) < 1:
        raise KerasllError(f"projections must be ≥ 1, got {projections}")
    seed = int(np.random.randint(2**31 - 1)) if seed is None else int(seed)
    x = ops.convert_to_tensor(x)
    fn = lambda z: wide(model(z, training=training))  # noqa: E731
    if projection == "jvp":
        return jvp_sq_norm(fn, x, target, int(projections), seed)[0]
    logits, pull = backend.vjp(fn, x)
    return projected_sq_norm(pull, logits, target, int(projections), seed=seed)
