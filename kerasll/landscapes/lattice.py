"""The 2D lattice of perturbed images shared by landscapes and Φ (docs/method.md#landscapes, #flatness-φ).

A lattice around an image x in the plane of directions (d, d⊥) is the set of
points x + e1·d + e2·d⊥ for paired offsets (e1, e2); `grid_offsets` gives the
`grid × grid` pairs over [−r, r]², row-major with e1 along axis 0.
"""

import numpy as np
from keras import ops


def grid_offsets(radius, grid):
    """Paired offsets (e1, e2), each (grid²,) float32: the grid over [−radius, radius]², 'ij' order."""
    axis = np.linspace(-radius, radius, grid, dtype=np.float32) if grid > 1 else np.zeros(1, np.float32)
    e1, e2 = np.meshgrid(axis, axis, indexing="ij")
    return e1.ravel(), e2.ravel()


def lattice_points(x, d, d_perp, e1, e2, clip=False):
    """Points x + e1·d + e2·d⊥, in `keras.ops` (any backend, inside a compiled function too).

    Args:
        x: images (k, ...); d, d_perp: directions (k, n, ...), n planes per image.
        e1, e2: paired offsets (m,).
        clip: clip the points to the [0,1] box.

    Returns:
        (k, n, m, ...) points.
    """
    shape, dtype = (1, 1, -1) + (1,) * (len(x.shape) - 1), ops.dtype(x)
    e1, e2 = ops.reshape(ops.cast(e1, dtype), shape), ops.reshape(ops.cast(e2, dtype), shape)
    points = ops.expand_dims(ops.expand_dims(x, 1), 1) + e1 * ops.expand_dims(d, 2) + e2 * ops.expand_dims(d_perp, 2)
    return ops.clip(points, 0.0, 1.0) if clip else points
