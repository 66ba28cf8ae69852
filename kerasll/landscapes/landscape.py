"""Relative likelihood landscapes around an image (paper §3.2, Fig. 1, 2, 3, 5).

For a clean image x and signed directions (d, d⊥), the landscape is
`Δlog p(x + e1·d + e2·d⊥) = logsumexp f(x') − logsumexp f(x)` on a grid of
(e1, e2) ∈ [−r, r]², in pixel units. Perturbed points are *not* clipped to
[0,1] by default (docs/method.md#landscapes): the landscape shows the model's function, not
only the valid-image box; pass `clip=True` to clip.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from keras import ops

from kerasll import backend

from kerasll.datasets.registry import dataset_info, list_datasets
from kerasll.landscapes.directions import fgsm_directions, random_directions
from kerasll.errors import KerasllError
from kerasll.landscapes.lattice import grid_offsets, lattice_points
from kerasll.likelihood import log_px
from kerasll.options import Options, option

DIRECTIONS = ("random", "fgsm")
DEFAULT_GRID = 21


@dataclass(frozen=True)
class Surface(Options):
    """What a landscape (`likelihood_surface`) looks at: its options, declared once."""

    directions: str = option("random", "\"random\": two signed, exactly orthogonal random vectors; \"fgsm\": "
                             "d = sign(∇x CE) and a signed random d⊥ orthogonal to it", choices=DIRECTIONS)
    grid: int = option(DEFAULT_GRID, "points per axis (odd, so the clean image is a grid point)", low=3)
    radius: float | None = option(None, "half-width in pixel units (default: the data set's preset, its "
                                  "evaluation ε)", low=0, open_low=True)
    seed: int = option(0, "seed of the random direction(s)")
    clip: bool = option(False, "clip perturbed points to [0,1] (default: no, see the module doc)")


def default_radius(radius=None, dataset=None):
    """`radius` as a float, else the landscape radius preset of `dataset` (its evaluation ε).

    No data set is guessed from the image shape: without either, a one-line error
    asks for one.
    """
    if radius is not None:
        return float(radius)
    if dataset is None:
        raise KerasllError("pass radius= (pixel units, e.g. 8/255) or dataset= "
                           f"({', '.join(list_datasets())}) for its preset")
    return dataset_info(dataset).landscape_radius


@dataclass
class LikelihoodSurface:
    """Δlog p on a grid around one image; `values[i, j]` is at (offsets[i], offsets[j]).

    Axis 0 runs along `d` (e1), axis 1 along `d⊥` (e2); the centre value is 0.
    """

    values: np.ndarray  # (grid, grid)
    offsets: np.ndarray  # (grid,) pixel units, shared by both axes
    d: np.ndarray  # image-shaped ±1 direction
    d_perp: np.ndarray  # image-shaped ±1 direction, d·d⊥ = 0
    log_px_center: float  # log p̃(x) of the clean image
    metadata: dict = field(default_factory=dict)  # radius, directions, seed, clip, labels...

    def save(self, path):
        """Write to `.npz` (arrays plus JSON metadata) so plots can be redrawn."""
        arrays = {k: v for k, v in asdict(self).items() if k != "metadata"}
        np.savez_compressed(path, **arrays, metadata=json.dumps(self.metadata))
        return Path(path)

    @classmethod
    def load(cls, path):
        with np.load(path) as data:
            fields = {k: data[k] for k in ("values", "offsets", "d", "d_perp")}
            return cls(**fields, log_px_center=float(data["log_px_center"]),
                       metadata=json.loads(str(data["metadata"])))


def _lattice_log_px(call, x, d, d_perp, e1, e2, clip):
    """log p̃ at x + e1·d + e2·d⊥ for one image x and paired offset vectors e1, e2 (K,)."""
    points = lattice_points(x[None], d[None, None], d_perp[None, None], e1, e2, clip)[0, 0]
    return log_px(call(points))


def _log_px_at(model, x, d, d_perp, e1, e2, clip, batch_size):
    x, d, d_perp = (ops.convert_to_tensor(np.asarray(a, np.float32)) for a in (x, d, d_perp))
    fn = backend.model_function(model, ("landscape-lattice", bool(clip)),
                                lambda call, *a: _lattice_log_px(call, *a, bool(clip)))
    return np.concatenate([
        backend.to_numpy(fn(x, d, d_perp, ops.convert_to_tensor(e1[s:s + batch_size], "float32"),
                            ops.convert_to_tensor(e2[s:s + batch_size], "float32")))
        for s in range(0, len(e1), batch_size)
    ])


def _directions(model, x, y, kind, seed):
    if kind == "random":
        return random_directions(x.shape, seed)
    if y is None:
        raise KerasllError("directions='fgsm' needs the label y")
    return fgsm_directions(model, x, y, seed)


def likelihood_surface(model, x, y=None, *, dataset=None, batch_size=1024, **options):
    """Δlog p on a `grid × grid` lattice over [−radius, radius]² around one image.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: one image (H, W, C) in [0,1].
        y: its label (needed for `directions="fgsm"`).
        dataset: the registered data set whose radius preset to use.
        batch_size: lattice points per forward pass.
        **options: the `Surface` options — directions, grid, radius, seed, clip.

    Returns:
        A `LikelihoodSurface`.

    Example:
        >>> s = likelihood_surface(model, x_test[0], y_test[0], directions="fgsm", dataset="fashion_mnist")
        >>> s.values.shape   # (21, 21), s.values[10, 10] == 0
    """
    o = Surface.create(**options)
    directions, grid, seed, clip = o.directions, o.grid, o.seed, o.clip
    x = np.asarray(x, np.float32)
    if grid % 2 == 0:
        raise KerasllError(f"grid must be an odd number ≥ 3, got {grid}")
    radius = default_radius(o.radius, dataset)
    if not radius > 0:
        raise KerasllError(f"radius must be > 0 pixel units, got {radius}")
    d, d_perp = _directions(model, x, y, directions, seed)
    offsets = np.linspace(-radius, radius, grid, dtype=np.float32)
    e1, e2 = grid_offsets(radius, grid)
    log_px = _log_px_at(model, x, d, d_perp, e1, e2, clip, batch_size).reshape(grid, grid)
    center = log_px[grid // 2, grid // 2]
    meta = {"radius": radius, "grid": grid, "directions": directions, "seed": seed, "clip": clip}
    return LikelihoodSurface(log_px - center, offsets, d, d_perp, float(center), meta)


def likelihood_slice(model, x, direction, radius=None, points=41, clip=False, batch_size=1024, dataset=None):
    """Δlog p along one direction: (offsets, values) for x + t·direction, t ∈ [−r, r]."""
    x = np.asarray(x, np.float32)
    radius = default_radius(radius, dataset)
    offsets = np.linspace(-radius, radius, points, dtype=np.float32)
    zero = np.zeros_like(offsets)
    log_px = _log_px_at(model, x, direction, np.zeros_like(x), offsets, zero, clip, batch_size)
    center = _log_px_at(model, x, direction, np.zeros_like(x), np.zeros(1, np.float32),
                        np.zeros(1, np.float32), clip, 1)[0]
    return offsets, log_px - center


@dataclass
class LikelihoodHistogram:
    """log p̃ of clean images and of randomly perturbed copies (paper Fig. 3)."""

    clean: np.ndarray  # (N,)
    perturbed: np.ndarray  # (N · samples,)
    radius: float


def likelihood_histogram(model, x, radius=None, samples=1, seed=0, clip=False, batch_size=1024, dataset=None):
    """log p̃ for clean images and for `x + radius·r`, r a random ±1 vector per copy.

    Args:
        model: a Keras classifier; x: images (N, H, W, C) in [0,1].
        radius: perturbation size per pixel (default: `dataset`'s evaluation ε).
        samples: perturbed copies per image.
        seed: seed of the signs; clip: clip copies to [0,1].
        dataset: the registered data set whose radius preset to use.

    Returns:
        A `LikelihoodHistogram` of arrays, ready for `figures.plot_histograms`.
    """
    from kerasll.likelihood import log_px

    x = np.asarray(x, np.float32)
    radius = default_radius(radius, dataset)
    rng = np.random.default_rng(seed)
    clean = backend.to_numpy(log_px(model.predict(x, batch_size=batch_size, verbose=0)))
    noisy = np.repeat(x, samples, axis=0)
    noisy = noisy + radius * rng.choice(np.array([-1.0, 1.0], np.float32), size=noisy.shape)
    if clip:
        noisy = np.clip(noisy, 0.0, 1.0)
    perturbed = backend.to_numpy(log_px(model.predict(noisy, batch_size=batch_size, verbose=0)))
    return LikelihoodHistogram(clean, perturbed, radius)
