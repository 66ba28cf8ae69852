"""Square Attack (Andriushchenko et al., ECCV 2020): score-based, forward passes only.

Random search on the margin loss z_y − max_{i≠y} z_i: each query changes one
random square window of the current best perturbation (L∞: the window is set to
±ε per channel; L2: mass is moved from a second window into a new pattern in the
first, keeping ‖δ‖₂ = ε; L1: the same in L1 mass, then the exact projection onto the L1 ball and the box,
as the reference), and the change is kept when the margin drops. The
window's area follows the schedule p(i) of the paper, started at `p_init`.
No gradient is ever taken, so gradient masking cannot stop it.

Two variants of where the windows go (`variant`):

- "reference" (the default): as fra31/auto-attack, one window position and one
  sign per channel at each query, shared by every image, and never on the last
  row or column (positions 0..H−s−1). The draws are keyed by (seed, query) only,
  so an image meets the same windows whatever batch or chunk it is attacked in.
- "strong": each image draws its own window and signs from its own stream
  (seed, key, query), anywhere in the image (0..H−s), and the window schedule is
  stretched over the queries. It breaks a few more images of small models than the
  reference does (docs/evaluation.md measures how many); the registered attack
  "square-strong".

The window schedule p(i) is the paper's over 10,000 queries. AutoAttack runs it
unscaled, so 5,000 queries stop at p_init/128 (the reference's AutoAttack:
`resc_schedule=False`); `rescale_schedule` stretches it over `queries` (the
reference's default for Square on its own, and the strong variant's).
"""

import math
from typing import NamedTuple

import numpy as np
from keras import ops

from kerasll import backend
from kerasll._tensors import batches
from kerasll.attacks import noise
from kerasll.attacks.attack import call_with
from kerasll.attacks.budgets import check_budget
from kerasll.attacks.catalog import Square
from kerasll.attacks.driver import Batch, prologue
from kerasll.attacks.geometry import normalize
from kerasll.attacks.l1 import project_l1_box
from kerasll.attacks.losses import labels_of, margin
from kerasll.attacks.compiled import batch_spec, compiled, spec
from kerasll.errors import KerasllError

CHUNK = 250  # queries per compiled call; images that are fooled drop out between calls
SEGMENT = 1000  # queries per stage an evaluation keeps (`Runtime.stage`): where an interrupted run resumes


def p_schedule(i, queries, p_init, rescale=True):
    """The fraction of pixels the window covers at query i: the reference's schedule over 10,000 queries,
    with i rescaled from `queries` to 10,000 when `rescale`."""
    it = int(i / queries * 10000) if rescale else i
    for bound, div in ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128),
                       (8000, 256)):
        if it <= bound:
            return p_init / div
    return p_init / 512


def window_sizes(queries, p_init, height, width, norm, rescale=True):
    """Side of the square window at each query."""
    sizes = []
    for i in range(queries):
        s = int(round(math.sqrt(p_schedule(i, queries, p_init, rescale) * height * width)))
        if norm != "linf":
            s = max(s, 3)
            s += 1 - s % 2
        sizes.append(min(max(s, 1), height, width))
    return np.array(sizes, np.int32)


# The window patterns' nested squares weigh 1/(k+1)^POWER, and the pattern has unit `norm`.
_POWER = {"l2": 2, "l1": 4}


def _unit(delta, norm):
    return delta / (np.sqrt((delta**2).sum()) if norm == "l2" else np.abs(delta).sum())


def _rectangles(rows, cols, norm):
    delta = np.zeros((rows, cols))
    rc, cc = rows // 2 + 1, cols // 2 + 1
    r0, c0 = rc - 1, cc - 1
    for k in range(max(rc, cc)):
        delta[max(r0, 0):min(r0 + 2 * k + 1, rows), max(c0, 0):min(c0 + 2 * k + 1, cols)] += 1.0 / (k + 1) ** _POWER[norm]
        r0, c0 = r0 - 1, c0 - 1
    return _unit(delta, norm)


def window_pattern(s, norm="l2"):
    """The L2 or L1 attack's s×s window pattern: two opposite-signed stacks of nested squares, unit norm."""
    if s < 2:
        return np.ones((s, s))
    delta = np.zeros((s, s))
    delta[:s // 2] = _rectangles(s // 2, s, norm)
    delta[s // 2:] = -_rectangles(s - s // 2, s, norm)
    return _unit(delta, norm)


def _window(top, left, s, height, width):
    """(B, H, W, 1) mask of the s×s window at (top, left) per image."""
    rows = ops.reshape(ops.arange(height, dtype="int32"), (1, -1, 1, 1))
    cols = ops.reshape(ops.arange(width, dtype="int32"), (1, 1, -1, 1))
    top, left = ops.reshape(top, (-1, 1, 1, 1)), ops.reshape(left, (-1, 1, 1, 1))
    inside = ops.logical_and(ops.logical_and(rows >= top, rows < top + s), ops.logical_and(cols >= left, cols < left + s))
    return ops.cast(inside, "float32")


def _placed(patterns, s, top, left, transpose, height, width):
    """The s×s pattern (transposed per image where `transpose`) placed at (top, left): (B, H, W, 1)."""
    side = int(patterns.shape[1])
    pattern = ops.reshape(ops.take(patterns, s, axis=0), (-1,))  # the pattern for side s in its top-left corner
    r = ops.clip(ops.reshape(ops.arange(height, dtype="int32"), (1, -1, 1)) - ops.reshape(top, (-1, 1, 1)), 0, side - 1)
    c = ops.clip(ops.reshape(ops.arange(width, dtype="int32"), (1, 1, -1)) - ops.reshape(left, (-1, 1, 1)), 0, side - 1)
    shape = (ops.shape(top)[0], height, width)
    r, c = ops.broadcast_to(r, shape), ops.broadcast_to(c, shape)
    transpose = ops.reshape(transpose, (-1, 1, 1))
    rr, cc = ops.where(transpose, c, r), ops.where(transpose, r, c)
    values = ops.take(pattern, rr * side + cc)
    return ops.expand_dims(values * _window(top, left, s, height, width)[..., 0], -1)


def _per_channel_l1(t):
    return ops.sum(ops.abs(t), axis=(1, 2), keepdims=True)


def _per_channel_norm(t):
    return ops.sqrt(ops.sum(ops.square(t), axis=(1, 2), keepdims=True))


class Best(NamedTuple):
    """Per image of a batch: the best image so far and its margin (≤ 0: fooled)."""

    x: object
    margin: object

    @classmethod
    def signature(cls, x):
        return cls(batch_spec(x), spec("float32", [None]))


class Windows(NamedTuple):
    """Square's constants for one call: the budget, the window side per query, the L2/L1 window patterns
    per side, and the queries to run (start..stop−1)."""

    eps: object
    sizes: object
    patterns: object
    start: object
    stop: object

    @classmethod
    def signature(cls, dtype, side):
        return cls(spec(dtype), spec("int32", [None]), spec("float32", [None, side, side]), spec("int32"),
                   spec("int32"))


def _square_chunk(model, batch, best, windows, norm, variant):
    """Queries windows.start..stop−1 for a `driver.Batch` (its seed: the attack's); the new `Best`."""
    x, keys, seed = batch.x, batch.keys, batch.seed
    eps, sizes, patterns, start, stop = windows
    x_best, margin_best = best
    y = labels_of(batch.y)
    _, height, width, channels = x.shape
    dtype = ops.dtype(x)
    shared = variant == "reference"
    stream = ops.zeros_like(keys) if shared else keys  # shared: every image draws the same windows
    last = 0 if shared else 1  # the reference's windows never reach the last row or column

    def position(u, side, s):
        return ops.cast(ops.floor(u * ops.cast(ops.maximum(side - s + last, 1), "float32")), "int32")

    def body(i, x_best, margin_best):
        s = ops.take(sizes, i)
        draw = noise.uniform(seed, stream, i + 1, [5 + channels], "float32")
        top, left = position(draw[:, 0], height, s), position(draw[:, 1], width, s)
        sign = ops.cast(ops.reshape(ops.where(draw[:, 5:] < 0.5, -1.0, 1.0), (-1, 1, 1, channels)), dtype)
        mask = ops.cast(_window(top, left, s, height, width), dtype)
        if norm == "linf":
            x_new = x_best * (1 - mask) + (x_best + 2.0 * eps * sign) * mask
            x_new = ops.clip(ops.clip(x_new, x - eps, x + eps), 0.0, 1.0)
        elif norm == "l1":  # mass moves as in L2, measured in L1, then the exact projection onto ball ∩ box
            top2, left2 = position(draw[:, 2], height, s), position(draw[:, 3], width, s)
            mask2 = ops.cast(_window(top2, left2, s, height, width), dtype)
            delta = x_best - x
            norm_image = ops.sum(ops.abs(delta), axis=(1, 2, 3), keepdims=True)
            norm_window1 = _per_channel_l1(delta * mask)
            norm_windows = _per_channel_l1(delta * ops.maximum(mask, mask2))
            pattern = ops.cast(_placed(patterns, s, top, left, draw[:, 4] < 0.5, height, width), dtype)
            new = pattern * sign + delta * mask / (1e-12 + norm_window1)
            budget = (ops.maximum(eps - norm_image, 0.0) / channels + norm_windows) * channels  # as the reference
            new = new / (1e-12 + _per_channel_l1(new)) * budget
            delta = delta * (1 - mask2) * (1 - mask) + new * mask
            x_new = ops.clip(x + project_l1_box(x, delta, eps * (1 - 1e-6)), 0.0, 1.0)
        else:
            top2, left2 = position(draw[:, 2], height, s), position(draw[:, 3], width, s)
            mask2 = ops.cast(_window(top2, left2, s, height, width), dtype)
            delta = x_best - x
            norm_image = ops.sqrt(ops.sum(ops.square(delta), axis=(1, 2, 3), keepdims=True))
            norm_window1 = _per_channel_norm(delta * mask)
            norm_windows = _per_channel_norm(delta * ops.maximum(mask, mask2))
            pattern = ops.cast(_placed(patterns, s, top, left, draw[:, 4] < 0.5, height, width), dtype)
            new = pattern * sign + delta * mask / (1e-12 + norm_window1)
            budget = ops.maximum(eps**2 - norm_image**2, 0.0) / channels + norm_windows**2
            new = new / (1e-12 + _per_channel_norm(new)) * ops.sqrt(budget)
            delta = delta * (1 - mask2) * (1 - mask) + new * mask
            x_new = ops.clip(x + normalize(delta, "l2") * eps, 0.0, 1.0)
        m = margin(y, model(x_new, training=False))
        better = ops.logical_and(margin_best > 0, m < margin_best)
        x_best = ops.where(ops.reshape(better, (-1, 1, 1, 1)), x_new, x_best)
        return i + 1, x_best, ops.where(better, m, margin_best)

    _, x_best, margin_best = ops.while_loop(lambda i, *_: i < stop, body, (start, x_best, margin_best))
    return x_best, margin_best


def _square_init(model, batch, eps, tiles, norm):
    """The start: vertical ±ε stripes (L∞), or a grid of ±pattern tiles scaled to ‖δ‖₂ = ε (L2)."""
    x, y, keys, seed = batch.x, batch.y, batch.keys, batch.seed
    _, height, width, channels = x.shape
    dtype = ops.dtype(x)
    if norm == "linf":
        x0 = x + eps * noise.signs(seed, keys, 0, [1, width, channels], dtype)
    else:
        sign = noise.signs(seed, keys, 0, [tiles.shape[0], channels], dtype)  # (B, T, C)
        delta = ops.einsum("thw,btc->bhwc", ops.cast(tiles, dtype), sign)
        x0 = x + (normalize(delta, "l2") * eps if norm == "l2" else project_l1_box(x, delta, eps * (1 - 1e-6)))
    x0 = ops.clip(x0, 0.0, 1.0)
    return x0, margin(labels_of(y), model(x0, training=False))


def _tiles(height, width, norm):
    """The L2 or L1 start's grid of ⌊H/5⌋-sided pattern tiles, one (H, W) map per tile."""
    s = max(height // 5, 1)
    first = (height - s * 5) // 2
    tiles = []
    for top in range(first, first + s * (height // s), s):
        for left in range(first, first + s * (width // s), s):
            if top + s <= height and left + s <= width:
                tile = np.zeros((height, width))
                tile[top:top + s, left:left + s] = window_pattern(s, norm)
                tiles.append(tile)
    return np.stack(tiles).astype(np.float32)


def square_attack(model, x, y, eps, norm="linf", seed=None, **options):
    """Square Attack (Andriushchenko et al. 2020): a black-box attack that only calls `model(x)`.

    Args:
        model: a Keras classifier, [0,1] images (B, H, W, C) → logits.
        x: clean images in [0,1]; y: integer or one-hot labels.
        eps: budget in pixel units (L∞ per pixel, L2 Euclidean, L1 summed).
        norm: "linf", "l2" or "l1".
        seed: int for repeatable draws (None draws one).
        **options: the attack's options (`kerasll.attacks.catalog.Square`'s: queries, p_init, variant,
            rescale_schedule) and how it runs (`kerasll.attacks.attack.Runtime`: keys, batch_size, progress,
            stage: each segment of `SEGMENT` queries is a stage).

    Returns:
        Adversarial images shaped like `x`: the first that fooled the model, or
        else the one of lowest margin.

    Example:
        >>> x_adv = kerasll.square_attack(model, x, y, eps=8/255, queries=1000)
    """
    return call_with(Square, model, x, y, eps, norm, seed, options)


def _plain_stage(name, fn):
    return fn(), 0.0


def run_square(attack, model, x, y, eps, norm, seed, runtime):
    """Run `attack` (a `Square`) as `Attack.__call__` does: the start, then the queries in segments of
    `SEGMENT`, each a stage (`Runtime.stage`) that keeps the images it attacked, so an interrupted run resumes
    at its first unfinished segment."""
    check_budget(eps, eps, attack.queries, norm, 1)
    p = prologue(x, y, seed, runtime.keys)
    x = p.x
    if len(x.shape) != 4:
        raise KerasllError(f"square_attack needs images (B, H, W, C), got shape {tuple(x.shape)}")
    n, height, width, _ = x.shape
    rescale = attack.variant == "strong" if attack.rescale_schedule is None else bool(attack.rescale_schedule)
    sizes = window_sizes(int(attack.queries), attack.p_init, height, width, norm, rescale)
    side = int(sizes.max())
    shape = "l1" if norm == "l1" else "l2"
    patterns = np.zeros((side + 1, side, side), np.float32)
    for s in set(sizes.tolist()):
        patterns[s, :s, :s] = window_pattern(s, shape)
    dtype = ops.dtype(x)
    eps_t, seed_t = ops.convert_to_tensor(eps, dtype), ops.convert_to_tensor(np.asarray(int(p.seed), backend.ops().WORD))
    tiles = _tiles(height, width, shape)
    init = compiled(model, ("square-init", norm),
                    lambda m, b, e: _square_init(m, b, e, ops.convert_to_tensor(tiles), norm),
                    [Batch.signature(x), spec(dtype)])
    chunk = compiled(model, ("square", norm, attack.variant), lambda m, *a: _square_chunk(m, *a, norm, attack.variant),
                     [Batch.signature(x), Best.signature(x), Windows.signature(dtype, side)])
    x_adv, best = np.empty(x.shape, np.dtype(dtype)), np.empty(n, np.float32)
    for s in batches(n, runtime.batch_size):
        ids = np.arange(s.start, s.stop)
        x0, m0 = init(Batch.of(p, ids, p.y[ids], seed_t), eps_t)
        x_adv[ids], best[ids] = backend.to_numpy(x0), backend.to_numpy(m0)
    total = int(attack.queries) - 1
    stage = runtime.stage or _plain_stage

    def segment(first, last):
        todo = np.flatnonzero(best > 0)
        for start in range(first, last, CHUNK):
            stop = min(start + CHUNK, last)
            left = np.flatnonzero(best > 0)
            for s in batches(len(left), runtime.batch_size):
                ids = left[s]
                windows = Windows(eps_t, ops.convert_to_tensor(sizes), ops.convert_to_tensor(patterns),
                                  ops.convert_to_tensor(np.int32(start)), ops.convert_to_tensor(np.int32(stop)))
                xb, mb = chunk(Batch.of(p, ids, p.y[ids], seed_t),
                               Best(ops.convert_to_tensor(x_adv[ids]), ops.convert_to_tensor(best[ids])), windows)
                x_adv[ids], best[ids] = backend.to_numpy(xb), backend.to_numpy(mb)
            if runtime.progress is not None:
                runtime.progress(stop, total, int(np.sum(best <= 0)))
            if not np.any(best > 0):
                break
        return {"ids": todo, "adv": x_adv[todo], "margin": best[todo]}

    for first in range(0, total, SEGMENT):
        if not np.any(best > 0):
            break
        last = min(first + SEGMENT, total)
        kept, _ = stage(f"queries {first + 1}-{last}", lambda first=first, last=last: segment(first, last))
        x_adv[kept["ids"]], best[kept["ids"]] = kept["adv"], kept["margin"]  # a kept segment (after an interruption)
    return ops.convert_to_tensor(x_adv)
