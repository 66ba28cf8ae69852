"""Where attacks may go: norms, the projection onto the ε-ball and the [0,1] box, random starts in the
ball and on its sphere, and the per-sample choice between two candidates.

All budgets are in [0,1] pixel units.
"""

import numpy as np
from keras import ops

from kerasll.attacks import noise
from kerasll.attacks.l1 import project_l1_box


def _axes(t):
    return list(range(1, len(t.shape)))


def l2_norm(t, keepdims=True):
    """Per-sample L2 norm (shaped to broadcast against `t` by default)."""
    return ops.sqrt(ops.sum(ops.square(t), axis=_axes(t), keepdims=keepdims) + 1e-12)


def lp_norm(t, norm, keepdims=False):
    """Per-sample L∞, L2 or L1 norm of `t`."""
    if norm == "linf":
        return ops.max(ops.abs(t), axis=_axes(t), keepdims=keepdims)
    if norm == "l1":
        return ops.sum(ops.abs(t), axis=_axes(t), keepdims=keepdims)
    return ops.sqrt(ops.sum(ops.square(t), axis=_axes(t), keepdims=keepdims))


def normalize(t, norm):
    """`t` scaled to unit `norm` per sample (zero stays zero)."""
    return t / (lp_norm(t, norm, keepdims=True) + 1e-12)


def project(x_adv, x, eps, norm):
    """Project `x_adv` onto the `norm` ball of radius `eps` around `x` and the [0,1] box.

    L∞ and L2: onto the ball, then the box. L1: exactly onto their intersection (`l1.project_l1_box`), as
    Croce & Hein's L1-APGD does; the ball then the box would leave points the L1 attack should reach.
    """
    delta = x_adv - x
    if norm == "linf":
        delta = ops.clip(delta, -eps, eps)
    elif norm == "l1":
        delta = project_l1_box(x, delta, eps)
    else:
        delta = delta * ops.minimum(ops.cast(1.0, delta.dtype), eps / l2_norm(delta))
    return ops.clip(x + delta, 0.0, 1.0)


def pick(mask, a, b):
    """Per sample: `a` where `mask`, else `b`."""
    return ops.where(ops.reshape(mask, [-1] + [1] * (len(a.shape) - 1)), a, b)


def random_start(x, eps, norm, seed, keys=None, counter=0):
    """A uniform draw from the `norm` ball around `x`, clipped to the box.

    `seed` is an int (or a scalar integer tensor) and `keys` the images' content keys (`noise.image_keys`;
    a defense's training step passes the rows' positions, `noise.row_keys`), so each image's draw depends on
    (seed, key, counter) only and not on its batch or position.
    """
    per_sample = list(x.shape[1:])
    dtype = x.dtype
    uniform = lambda s, c: noise.uniform(seed, keys, c, s[1:], dtype)  # noqa: E731
    normal = lambda s, c: noise.normal(seed, keys, c, s[1:], dtype)  # noqa: E731
    shape = [None, *per_sample]
    if norm == "linf":
        delta = (2.0 * uniform(shape, 3 * counter) - 1.0) * eps
    else:
        # Uniform in the L2 ball: a uniform direction, radius eps·u^(1/D).
        direction = normal(shape, 3 * counter + 1)
        direction = direction / l2_norm(direction)
        dim = float(np.prod(per_sample))
        u = uniform([None] + [1] * len(per_sample), 3 * counter + 2)
        delta = direction * eps * u ** (1.0 / dim)
    return ops.clip(x + ops.cast(delta, dtype), 0.0, 1.0)


def sphere_start(x, eps, norm, seed, keys, counter=0, radius=1.0, corners=False):
    """A random point at distance `radius`·ε from `x` in `norm` (on the ε-sphere by default), clipped to the box.

    The direction is a per-image draw (`noise`, keyed by (seed, key, counter)): a Gaussian
    (L2) or uniform (L∞) vector scaled to unit norm, as AutoAttack's APGD and FAB starts;
    with `corners` (L∞), ±1 per pixel, a corner of the ball (the self-checks' noise).
    """
    shape = list(x.shape[1:])
    if norm == "linf":
        draw = noise.signs(seed, keys, counter, shape, x.dtype) if corners else \
            normalize(2.0 * noise.uniform(seed, keys, counter, shape, x.dtype) - 1.0, norm)
    else:
        draw = normalize(noise.normal(seed, keys, counter, shape, x.dtype), norm)
    return ops.clip(x + radius * eps * draw, 0.0, 1.0)
