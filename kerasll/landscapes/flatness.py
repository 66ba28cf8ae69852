"""Φ-flatness (paper §3.3, Eq. 7–8; docs/method.md#flatness-φ).

For each image x and each of n random direction pairs (d_j, d⊥_j), the AMS score
s(x') = −‖∇x log p(x')‖₂ is taken at every point x' of the lattice
N_j(x) = {x + e1·d_j + e2·d⊥_j : (e1, e2) on a grid over [−r, r]²}, then

    φ(x) = (1/n) Σ_j reduce_{x'∈N_j(x)} s(x'),     Φ = (1/N) Σ_i φ(x_i).

`reduction="mean"` (default) averages over the lattice, so φ does not depend on
the grid size; `reduction="sum"` is the paper's sum, for comparison with its
tables. Higher (closer to 0) is flatter. Points are not clipped to [0,1].
"""

from dataclasses import dataclass, field

import numpy as np
from keras import ops

from kerasll import backend

from kerasll.landscapes.directions import orthogonal_signed, random_directions
from kerasll.attacks.noise import keys_of
from kerasll.errors import KerasllError
from kerasll.landscapes.landscape import default_radius
from kerasll.landscapes.lattice import grid_offsets, lattice_points
from kerasll.likelihood import log_px
from kerasll.options import Options, option

REDUCTIONS = ("mean", "sum")
DEFAULT_PAIRS = 2
DEFAULT_GRID = 5


@dataclass(frozen=True)
class Lattice(Options):
    """What Φ (`flatness`) measures on: its options, declared once."""

    pairs: int = option(DEFAULT_PAIRS, "direction pairs per image (n)", low=1)
    grid: int = option(DEFAULT_GRID, "lattice points per axis (grid² points per pair)", low=1)
    radius: float | None = option(None, "lattice half-width in pixel units (default: the data set's preset, its "
                                  "evaluation ε: 25/255 Fashion-MNIST, 8/255 CIFAR-10)", low=0)
    reduction: str = option("mean", "\"mean\" over lattice points, or \"sum\" (the paper's)", choices=REDUCTIONS)
    seed: int = option(0, "seed of the directions; image i always gets the same ones")
    clip: bool = option(False, "clip lattice points to [0,1]")
    directions: str = option("random", "\"random\" (two random signed directions per pair) or \"fgsm\" "
                             "(d = sign ∇x CE(f(x), y), the attack's direction, and a random d⊥ ⟂ d)",
                             choices=("random", "fgsm"))


@dataclass
class FlatnessResult:
    """Φ over a batch: `.phi` (float) and `.per_sample` φ(x_i) (N,)."""

    phi: float
    per_sample: np.ndarray
    settings: dict = field(default_factory=dict)


def _lattice_ams(call, x, d, d_perp, e1, e2, clip):
    """AMS scores at every lattice point: x (k, ...), d/d⊥ (k, n, ...), e1/e2 (m,) → (k, n, m)."""
    points = lattice_points(x, d, d_perp, e1, e2, clip)  # (k, n, m, ...)
    lattice_shape = ops.shape(points)[:3]
    points = ops.reshape(points, (-1, *x.shape[1:]))
    grad = backend.value_and_input_grad(lambda p: log_px(call(p)))(points)[1]
    grad = ops.reshape(grad, (ops.shape(grad)[0], -1))
    return ops.reshape(-ops.norm(grad, axis=-1), lattice_shape)


def _image_directions(shape, pairs, seed, key):
    """The `pairs` direction pairs of the image with content key `key`: independent of batching and order."""
    ds = [random_directions(shape, (seed, int(key), j)) for j in range(pairs)]
    return np.stack([a for a, _ in ds]), np.stack([b for _, b in ds])


def _fgsm_directions(model, x, y, pairs, seed, keys):
    """Per image: d = sign ∇x CE (the same in every pair), d⊥ a signed random vector orthogonal to it."""
    from kerasll.attacks.losses import fgsm_direction

    d = backend.to_numpy(fgsm_direction(model, ops.convert_to_tensor(x), ops.convert_to_tensor(y))).astype(np.float32)
    d_perp = [[orthogonal_signed(d[i], np.random.default_rng((seed, int(keys[i]), j))).reshape(d.shape[1:])
               for j in range(pairs)] for i in range(len(x))]
    return np.repeat(d[:, None], pairs, axis=1), np.asarray(d_perp, np.float32)


def flatness(model, x, y=None, *, dataset=None, keys=None, batch_size=1024, progress=None, **options):
    """Φ-flatness of `model` over images `x` (see module doc).

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: images (N, H, W, C) in [0,1].
        y: their labels, needed for `directions="fgsm"`.
        dataset: the registered data set whose radius preset to use.
        keys: the images' random-draw keys (default: from their content,
            `kerasll.attacks.noise.image_keys`): an image gets the same directions in
            any chunk, order or subset, so Φ over chunks of a set equals Φ over the whole.
        batch_size: lattice points per gradient pass (rounded to whole images).
        progress: optional callable(done, total) called after each batch.
        **options: the `Lattice` options — pairs, grid, radius, reduction ("mean" over
            lattice points, the default, or "sum", the paper's), seed, clip, directions
            ("random", or "fgsm": Φ along the direction attacks use).

    Returns:
        A `FlatnessResult` with `.phi` and `.per_sample`.

    Example:
        >>> kerasll.landscapes.flatness(model, x_test[:500], dataset="fashion_mnist").phi   # e.g. −1.3; 0 = flat
    """
    o = Lattice.create(**options)
    pairs, grid, reduction, seed, clip, directions = o.pairs, o.grid, o.reduction, o.seed, o.clip, o.directions
    x = np.asarray(x, np.float32)
    if directions == "fgsm":
        if y is None:
            raise KerasllError("directions='fgsm' needs the labels y")
        y = np.asarray(y)
    radius = default_radius(o.radius, dataset)
    e1, e2 = (ops.convert_to_tensor(a) for a in grid_offsets(radius, grid))
    lattice = backend.model_function(model, ("flatness-lattice", bool(clip)),
                                     lambda call, *a: _lattice_ams(call, *a, bool(clip)))
    per_image = max(1, batch_size // (pairs * grid * grid))
    phis = []
    keys = keys_of(x, keys)
    for start in range(0, len(x), per_image):
        chunk = x[start:start + per_image]
        if directions == "fgsm":
            d, d_perp = _fgsm_directions(model, chunk, y[start:start + per_image], pairs, seed,
                                         keys[start:start + per_image])
        else:
            dirs = [_image_directions(x.shape[1:], pairs, seed, k) for k in keys[start:start + per_image]]
            d, d_perp = np.stack([a for a, _ in dirs]), np.stack([b for _, b in dirs])
        scores = backend.to_numpy(lattice(*(ops.convert_to_tensor(a) for a in (chunk, d, d_perp)), e1, e2))
        reduced = scores.mean(-1) if reduction == "mean" else scores.sum(-1)
        phis.append(reduced.mean(-1))  # average over the n pairs
        if progress is not None:
            progress(min(start + per_image, len(x)), len(x))
    per_sample = np.concatenate(phis)
    settings = {"pairs": pairs, "grid": grid, "radius": radius, "reduction": reduction,
                "seed": seed, "clip": clip, "samples": len(x), "directions": directions}
    return FlatnessResult(float(per_sample.mean()), per_sample, settings)
