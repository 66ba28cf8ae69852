"""Signed perturbation directions (docs/method.md#landscapes).

Directions are ±1 per pixel, so a step of size e along d moves every pixel by e
(an L∞ step of e). A pair (d, d⊥) is exactly orthogonal: d⊥ = d ⊙ s with s a
±1 vector holding as many +1 as −1 entries (one 0 when the count is odd).
"""

import numpy as np
from keras import ops

from kerasll import backend


def _balanced_signs(n, rng):
    """n entries: ⌊n/2⌋ of +1, ⌊n/2⌋ of −1 and (n odd) one 0, randomly placed."""
    half = n // 2
    signs = np.concatenate([np.ones(half), -np.ones(half), np.zeros(n - 2 * half)]).astype(np.float32)
    return rng.permutation(signs)


def orthogonal_signed(d, rng):
    """A ±1 vector d⊥ (0 only where unavoidable) with d · d⊥ = 0 exactly.

    On the support of d, d⊥ = d ⊙ s with balanced signs s; where d is 0
    (a zero gradient, in FGSM directions), d⊥ is a free random sign.
    """
    d = np.asarray(d, np.float32).ravel()
    d_perp = rng.choice(np.array([-1.0, 1.0], np.float32), size=d.size)
    support = np.flatnonzero(d)
    d_perp[support] = d[support] * _balanced_signs(support.size, rng)
    return d_perp


def random_directions(shape, seed):
    """Two signed, exactly orthogonal random directions of `shape` (one image).

    Args:
        shape: the image shape (H, W, channels).
        seed: an int or a sequence of ints for `numpy.random.default_rng`.

    Returns:
        (d, d⊥), float32 arrays of `shape` with entries in {−1, +1} (d⊥ has one 0
        if the size is odd).
    """
    rng = np.random.default_rng(seed)
    d = rng.choice(np.array([-1.0, 1.0], np.float32), size=int(np.prod(shape)))
    return d.reshape(shape), orthogonal_signed(d, rng).reshape(shape)


def fgsm_directions(model, x, y, seed):
    """d = sign(∇x CE(f(x), y)) for one image, and a signed random d⊥ orthogonal to it."""
    from kerasll.attacks.losses import fgsm_direction

    xb = ops.convert_to_tensor(np.asarray(x, np.float32)[None])
    y = np.asarray(y)
    yb = ops.convert_to_tensor(y[None] if y.ndim else y.reshape(1).astype(np.int64))  # label or one-hot
    d = backend.to_numpy(fgsm_direction(model, xb, yb))[0].astype(np.float32)
    return d, orthogonal_signed(d, np.random.default_rng(seed)).reshape(d.shape)
