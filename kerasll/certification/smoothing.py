"""Randomized smoothing (Cohen, Rosenfeld & Kolter, ICML 2019): certified L2 robustness for any classifier.

The smoothed classifier g(x) = argmax_c P(f(x + δ) = c), δ ~ N(0, σ²I), is robust
within L2 radius σ·Φ⁻¹(p_A) around x when its top class has probability p_A > ½.
`certify` is the paper's CERTIFY: the top class from `n0` noisy copies, then a
one-sided (1 − α) Clopper–Pearson lower bound p̲_A from `n` fresh ones; the radius
is σ·Φ⁻¹(p̲_A), and the image is abstained on when p̲_A ≤ ½. With probability at
least 1 − α over the noise, a returned class and radius hold for g. `predict` is
PREDICT: the top class when a two-sided binomial test separates it from the
runner-up at level α, else abstain.

As in the authors' code, the noise is added in the model's input units (here
[0, 1] pixels) and *not* clipped to [0, 1]. Every noisy copy is a function of
(seed, the image's content key — `kerasll.attacks.noise.image_keys` — and its
draw number), so the counts, and so the result, do not depend on batch size,
order, subsets or chunking. Draws come in blocks of `BLOCK`: Philox normals
shared by the images of a group, times a ±1 pattern per image and block
(`_noisy_counts`), so the Gaussian draws cost a fraction of the forward passes.
"""

from dataclasses import dataclass, field, replace
from statistics import NormalDist

import numpy as np
from keras import ops

from kerasll import backend
from kerasll._tensors import as_float
from kerasll.attacks import noise
from kerasll.attacks.attack import Runtime, split_runtime
from kerasll.attacks.driver import num_classes
from kerasll.attacks.losses import labels_of
from kerasll.attacks.compiled import batch_spec, compiled, spec
from kerasll.errors import KerasllError
from kerasll.options import known
from kerasll.stats import binomial_test, clopper_pearson_lower

ABSTAIN = -1
RADII = (0.0, 0.25, 0.5, 0.75, 1.0)  # where certified accuracy is reported (Cohen et al.'s Table 1 steps)
BLOCK = 100  # noisy copies drawn together: the noise of draws 100b..100b+99 of an image is one block
# The smoothing noise's streams, apart from the attacks' counters under the same seed: selection, estimation.
STREAM = 1 << 24
SELECT, ESTIMATE = 0, 1


def _noisy_counts(call, x, keys, block, stream, rows, classes):
    """(G, classes) counts of f's class on the first `rows` copies of noise block `block` of each image
    (`stream`: the draws' phase, σ and seed).

    Block b of image i is N(0, I) rows from the backend's generator keyed by (seed, phase, b)
    (`kerasll.backend.block_normal`), shared by all images, times a random ±1 pattern keyed by (seed, the
    image's key, phase, b): each image's rows are independent N(0, σ²I) draws, and the block's Gaussian
    draws are made once for the whole group of images."""
    phase, sigma, seed = stream
    shape, dtype = [int(d) for d in x.shape[1:]], ops.dtype(x)
    base = backend.block_normal(seed, STREAM + phase, block, [BLOCK, *shape], dtype)[:rows]  # (rows, ...)
    signs = noise.signs(seed, keys, STREAM + phase * (1 << 20) + block, shape, dtype)  # (G, ...)
    noisy = ops.expand_dims(x, 1) + sigma * ops.expand_dims(signs, 1) * ops.expand_dims(base, 0)  # (G, rows, ...)
    seen = ops.argmax(call(ops.reshape(noisy, (-1, *shape))), -1)
    return ops.sum(ops.reshape(ops.one_hot(seen, classes, dtype="int32"), (-1, rows, classes)), 1)


def sample_counts(model, x, num, sigma, seed=0, phase=SELECT, runtime=None):
    """Per image, how often `model` predicts each class on `num` noisy copies: (N, classes) int64.

    The copies of image i are draws 0..num−1 of its noise stream `phase` (selection or estimation),
    in blocks of `BLOCK`; about `runtime.batch_size` noisy images go through the model per call, and
    `runtime.progress(done, total)` hears of finished images. The counts depend on (seed, the image's
    key — `runtime.keys`, default its content — phase, num) only, not on the batch size or the other images.
    """
    runtime = runtime or Runtime()
    x = as_float(x)
    n, classes, word = int(x.shape[0]), num_classes(model, x[:1]), backend.ops().WORD
    keys = noise.keys_of(backend.to_numpy(x), runtime.keys)
    counts = np.zeros((n, classes), np.int64)
    const = tuple(ops.convert_to_tensor(np.asarray(v, t)) for v, t in ((phase, word), (sigma, ops.dtype(x)),
                                                                        (seed, word)))
    blocks = [(b, min(BLOCK, int(num) - b * BLOCK)) for b in range(-(-int(num) // BLOCK))]
    group = max(1, int(runtime.batch_size) // min(BLOCK, int(num)))
    signature = [batch_spec(x), spec("int64", [None]), spec("int64"), (spec("int64"), spec(ops.dtype(x)), spec("int64"))]
    runs = {rows: compiled(model, ("smoothing-counts", classes, rows),  # one per block size: a full and a last block
                           lambda m, *a, rows=rows: _noisy_counts(m, *a, rows, classes), signature)
            for rows in {rows for _, rows in blocks}}
    for start in range(0, n, group):
        ids = slice(start, min(start + group, n))
        xb, kb = x[ids], ops.convert_to_tensor(noise.key_words(keys[ids]))
        for b, rows in blocks:
            counts[ids] += backend.to_numpy(runs[rows](xb, kb, ops.convert_to_tensor(np.asarray(b, word)), const))
        if runtime.progress is not None:
            runtime.progress(min(start + group, n), n)
    return counts


def check_settings(sigma, n0, n, alpha):
    try:
        sigma, alpha = float(sigma), float(alpha)
    except (TypeError, ValueError):
        raise KerasllError(f"sigma and alpha must be numbers, got sigma={sigma!r}, alpha={alpha!r}") from None
    if not sigma > 0:
        raise KerasllError(f"sigma must be > 0 (the noise's standard deviation in pixel units, e.g. 0.25), got {sigma:g}")
    if int(n0) < 1 or int(n) < 1:
        raise KerasllError(f"n0 and n must be ≥ 1, got n0={n0}, n={n}")
    if not 0 < alpha < 1:
        raise KerasllError(f"alpha must be in (0, 1) (e.g. 0.001), got {alpha:g}")
    return sigma, int(n0), int(n), alpha


@dataclass(frozen=True)
class CertifyResult:
    """Per image: the smoothed classifier's class (`ABSTAIN` = −1) and certified L2 radius (0 when abstained).

    Attributes:
        prediction, radius, correct: (N,) arrays; `correct` is prediction == label.
        p_lower: the Clopper–Pearson lower bound on the top class's probability.
        counts_top: how many of the n estimation draws gave the selected class.
        settings: sigma, n0, n, alpha, seed.
    """

    prediction: np.ndarray
    radius: np.ndarray
    correct: np.ndarray
    p_lower: np.ndarray
    counts_top: np.ndarray
    settings: dict = field(default_factory=dict)

    def arrays(self):
        """The per-image arrays, by name (what an evaluation's records keep)."""
        return {k: getattr(self, k) for k in ("prediction", "radius", "correct", "p_lower", "counts_top")}

    @classmethod
    def from_arrays(cls, arrays, settings):
        return cls(**{k: np.asarray(arrays[k]) for k in ("prediction", "radius", "correct", "p_lower", "counts_top")},
                   settings=settings)

    def certified_accuracy(self, radius):
        """The share of images classified correctly with a certified radius of at least `radius`
        (at 0: the smoothed classifier's accuracy, abstentions counting as wrong)."""
        return float(np.mean(self.correct & (self.radius >= radius)))

    @property
    def abstention_rate(self):
        return float(np.mean(self.prediction == ABSTAIN))

    def summary(self, radii=RADII):
        """{"certified_accuracy": {r: acc}, "abstention_rate", "clean_accuracy", "mean_radius", "samples"}."""
        return {"certified_accuracy": {float(r): self.certified_accuracy(r) for r in radii},
                "abstention_rate": self.abstention_rate, "clean_accuracy": self.certified_accuracy(0.0),
                "mean_radius": float(np.mean(np.where(self.correct, self.radius, 0.0))), "samples": len(self.radius)}


def certify(model, x, y, sigma, n0=100, n=100_000, alpha=0.001, seed=0, **runtime):
    """Cohen et al.'s CERTIFY on each image: the smoothed classifier's class and certified L2 radius.

    Args:
        model: a Keras classifier, [0,1] images → logits (or probabilities: only argmax is used).
        x: images (N, H, W, C); y: integer or one-hot labels.
        sigma: the noise's standard deviation, in the model's input units (pixels in [0, 1]).
        n0: noisy copies for selecting the top class. n: fresh copies for estimating its probability.
        alpha: the certificate fails with probability at most alpha.
        seed: seed of the noise.
        **runtime: how the call runs (`kerasll.attacks.Runtime`'s fields): `keys`, the images' noise keys
            (default: their content); `batch_size`, noisy images per forward call (default 1000);
            `progress(done, total)` as images finish (selection, then estimation).

    Returns:
        A `CertifyResult`.

    Example:
        >>> result = kerasll.certify(model, x_test[:500], y_test[:500], sigma=0.25, n=10_000)
        >>> result.summary()["certified_accuracy"][0.5]
    """
    sigma, n0, n, alpha = check_settings(sigma, n0, n, alpha)
    run, _ = split_runtime(known("certify", runtime, ("n0", "n", "alpha", "seed", "keys", "batch_size", "progress")))
    x = np.asarray(x, np.float32)
    y = backend.to_numpy(labels_of(ops.convert_to_tensor(np.asarray(y))))
    total, progress = 2 * len(x), run.progress
    run = replace(run, keys=noise.keys_of(x, run.keys), progress=None)
    select = sample_counts(model, x, n0, sigma, seed, SELECT,
                           replace(run, progress=(lambda d, t: progress(d, total)) if progress else None))
    top = select.argmax(-1)
    counts = sample_counts(model, x, n, sigma, seed, ESTIMATE,
                           replace(run, progress=(lambda d, t: progress(len(x) + d, total)) if progress else None))
    n_top = counts[np.arange(len(x)), top]
    p_lower = clopper_pearson_lower(n_top, n, alpha)
    certified = p_lower > 0.5
    radius = np.where(certified, sigma * _ndtri(np.where(certified, p_lower, 0.75)), 0.0)
    prediction = np.where(certified, top, ABSTAIN)
    return CertifyResult(prediction, radius, prediction == y, p_lower, n_top,
                         {"sigma": sigma, "n0": n0, "n": n, "alpha": alpha, "seed": int(seed)})


def predict(model, x, sigma, n=100_000, alpha=0.001, seed=0, batch_size=1000, keys=None):
    """Cohen et al.'s PREDICT: per image the smoothed classifier's class, or `ABSTAIN` (−1) when a two-sided
    binomial test cannot tell the top class from the runner-up at level `alpha`. (N,) int."""
    sigma, _, n, alpha = check_settings(sigma, 1, n, alpha)
    counts = sample_counts(model, np.asarray(x, np.float32), n, sigma, seed, ESTIMATE, Runtime(keys, batch_size))
    order = np.argsort(-counts, axis=-1, kind="stable")
    n_a = counts[np.arange(len(counts)), order[:, 0]]
    n_b = counts[np.arange(len(counts)), order[:, 1]] if counts.shape[1] > 1 else np.zeros(len(counts), np.int64)
    return np.where(binomial_test(n_a, n_a + n_b) <= alpha, order[:, 0], ABSTAIN)


_NDTRI = np.vectorize(NormalDist().inv_cdf, otypes=[np.float64])


def _ndtri(p):
    """Φ⁻¹ elementwise, in float64 (the standard library's; no backend needed)."""
    return _NDTRI(np.asarray(p, np.float64))
