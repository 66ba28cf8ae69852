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

import numpy as np
import tensorflow as tf

from kerasll._tensors import batches
from kerasll.attacks import noise
from kerasll.attacks.budgets import check_budget
from kerasll.attacks.driver import prologue
from kerasll.attacks.geometry import normalize
from kerasll.attacks.l1 import project_l1_box
from kerasll.attacks.losses import labels_of, margin
from kerasll.attacks.compiled import batch_spec, compiled, spec
from kerasll.errors import KerasllError, check_choice

CHUNK = 250  # queries per compiled call; images that are fooled drop out between calls
VARIANTS = ("reference", "strong")


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
    rows = tf.range(height)[None, :, None, None]
    cols = tf.range(width)[None, None, :, None]
    top, left = top[:, None, None, None], left[:, None, None, None]
    return tf.cast((rows >= top) & (rows < top + s) & (cols >= left) & (cols < left + s), tf.float32)


def _placed(patterns, s, top, left, transpose, height, width):
    """The s×s pattern (transposed per image where `transpose`) placed at (top, left): (B, H, W, 1)."""
    pattern = patterns[s]  # (S, S), the pattern for side s in its top-left corner
    r = tf.clip_by_value(tf.range(height)[None, :, None] - top[:, None, None], 0, tf.shape(pattern)[0] - 1)
    c = tf.clip_by_value(tf.range(width)[None, None, :] - left[:, None, None], 0, tf.shape(pattern)[1] - 1)
    r, c = tf.broadcast_to(r, [tf.shape(top)[0], height, width]), tf.broadcast_to(c, [tf.shape(top)[0], height, width])
    rr = tf.where(transpose[:, None, None], c, r)
    cc = tf.where(transpose[:, None, None], r, c)
    values = tf.gather_nd(pattern, tf.stack([rr, cc], -1))
    return (values * _window(top, left, s, height, width)[..., 0])[..., None]


def _per_channel_l1(t):
    return tf.reduce_sum(tf.abs(t), axis=[1, 2], keepdims=True)


def _per_channel_norm(t):
    return tf.sqrt(tf.reduce_sum(tf.square(t), axis=[1, 2], keepdims=True))


def _square_chunk(model, x, y, keys, x_best, margin_best, start, stop, eps, sizes, patterns, seed, norm, variant):
    """Queries start..stop−1 for a batch; returns the new best images and margins."""
    y = labels_of(y)
    _, height, width, channels = x.shape
    dtype = x.dtype
    shared = variant == "reference"
    stream = tf.zeros_like(keys) if shared else keys  # shared: every image draws the same windows
    last = 0 if shared else 1  # the reference's windows never reach the last row or column

    def position(u, side, s):
        return tf.cast(tf.floor(u * tf.cast(tf.maximum(side - s + last, 1), tf.float32)), tf.int32)

    def body(i, x_best, margin_best):
        s = tf.gather(sizes, i)
        draw = noise.uniform(seed, stream, i + 1, [5 + channels], tf.float32)
        top, left = position(draw[:, 0], height, s), position(draw[:, 1], width, s)
        sign = tf.cast(tf.where(draw[:, 5:] < 0.5, -1.0, 1.0)[:, None, None, :], dtype)
        mask = tf.cast(_window(top, left, s, height, width), dtype)
        if norm == "linf":
            x_new = x_best * (1 - mask) + (x_best + 2.0 * eps * sign) * mask
            x_new = tf.clip_by_value(tf.clip_by_value(x_new, x - eps, x + eps), 0.0, 1.0)
        elif norm == "l1":  # mass moves as in L2, measured in L1, then the exact projection onto ball ∩ box
            top2, left2 = position(draw[:, 2], height, s), position(draw[:, 3], width, s)
            mask2 = tf.cast(_window(top2, left2, s, height, width), dtype)
            delta = x_best - x
            norm_image = tf.reduce_sum(tf.abs(delta), axis=[1, 2, 3], keepdims=True)
            norm_window1 = _per_channel_l1(delta * mask)
            norm_windows = _per_channel_l1(delta * tf.maximum(mask, mask2))
            pattern = tf.cast(_placed(patterns, s, top, left, draw[:, 4] < 0.5, height, width), dtype)
            new = pattern * sign + delta * mask / (1e-12 + norm_window1)
            budget = (tf.maximum(eps - norm_image, 0.0) / channels + norm_windows) * channels  # as the reference
            new = new / (1e-12 + _per_channel_l1(new)) * budget
            delta = delta * (1 - mask2) * (1 - mask) + new * mask
            x_new = tf.clip_by_value(x + project_l1_box(x, delta, eps * (1 - 1e-6)), 0.0, 1.0)
        else:
            top2, left2 = position(draw[:, 2], height, s), position(draw[:, 3], width, s)
            mask2 = tf.cast(_window(top2, left2, s, height, width), dtype)
            delta = x_best - x
            norm_image = tf.sqrt(tf.reduce_sum(tf.square(delta), axis=[1, 2, 3], keepdims=True))
            norm_window1 = _per_channel_norm(delta * mask)
            norm_windows = _per_channel_norm(delta * tf.maximum(mask, mask2))
            pattern = tf.cast(_placed(patterns, s, top, left, draw[:, 4] < 0.5, height, width), dtype)
            new = pattern * sign + delta * mask / (1e-12 + norm_window1)
            budget = tf.maximum(eps**2 - norm_image**2, 0.0) / channels + norm_windows**2
            new = new / (1e-12 + _per_channel_norm(new)) * tf.sqrt(budget)
            delta = delta * (1 - mask2) * (1 - mask) + new * mask
            x_new = tf.clip_by_value(x + normalize(delta, "l2") * eps, 0.0, 1.0)
        m = margin(y, model(x_new, training=False))
        better = (margin_best > 0) & (m < margin_best)
        x_best = tf.where(better[:, None, None, None], x_new, x_best)
        return i + 1, x_best, tf.where(better, m, margin_best)

    _, x_best, margin_best = tf.while_loop(lambda i, *_: i < stop, body, (start, x_best, margin_best),
                                           parallel_iterations=1)
    return x_best, margin_best


def _square_init(model, x, y, keys, eps, seed, tiles, norm):
    """The start: vertical ±ε stripes (L∞), or a grid of ±pattern tiles scaled to ‖δ‖₂ = ε (L2)."""
    _, height, width, channels = x.shape
    if norm == "linf":
        x0 = x + eps * noise.signs(seed, keys, 0, [1, width, channels], x.dtype)
    else:
        sign = noise.signs(seed, keys, 0, [tiles.shape[0], channels], x.dtype)  # (B, T, C)
        delta = tf.einsum("thw,btc->bhwc", tf.cast(tiles, x.dtype), sign)
        x0 = x + (normalize(delta, "l2") * eps if norm == "l2" else project_l1_box(x, delta, eps * (1 - 1e-6)))
    x0 = tf.clip_by_value(x0, 0.0, 1.0)
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


def square_attack(model, x, y, eps, norm="linf", queries=5000, p_init=0.8, seed=None, batch_size=1000, keys=None,
                  progress=None, variant="reference", rescale_schedule=None):
    """Square Attack (Andriushchenko et al. 2020): a black-box attack that only calls `model(x)`.

    Args:
        model: a Keras classifier, [0,1] images (B, H, W, C) → logits.
        x: clean images in [0,1]; y: integer or one-hot labels.
        eps: budget in pixel units (L∞ per pixel, L2 Euclidean, L1 summed).
        norm: "linf", "l2" or "l1".
        queries: model queries per image (AutoAttack: 5,000).
        p_init: the first window's share of the image (AutoAttack: 0.8).
        seed: int for repeatable draws (None draws one).
        batch_size: images per compiled batch.
        keys: the images' random-draw keys (default: from their content, `noise.image_keys`).
        progress: `progress(done, total, fooled)` after each chunk of queries, `fooled`
            the number of images fooled so far.
        variant: "reference" (windows shared by all images, as fra31/auto-attack) or
            "strong" (each image its own windows; see the module doc).
        rescale_schedule: stretch the window schedule over `queries`; None: the variant's
            (reference: no, as in AutoAttack; strong: yes).

    Returns:
        Adversarial images shaped like `x`: the first that fooled the model, or
        else the one of lowest margin.

    Example:
        >>> x_adv = kerasll.square_attack(model, x, y, eps=8/255, queries=1000)
    """
    check_budget(eps, eps, queries, norm, 1)
    check_choice("variant", variant, VARIANTS)
    if not 0 < p_init <= 1:
        raise KerasllError(f"p_init must be in (0, 1], got {p_init}")
    p = prologue(x, y, seed, keys)
    x, y, seed, keys = p.x, p.y, p.seed, p.keys
    if x.shape.rank != 4:
        raise KerasllError(f"square_attack needs images (B, H, W, C), got shape {tuple(x.shape)}")
    n, height, width, _ = x.shape
    rescale = variant == "strong" if rescale_schedule is None else bool(rescale_schedule)
    sizes = window_sizes(int(queries), p_init, height, width, norm, rescale)
    side = int(sizes.max())
    patterns = np.zeros((side + 1, side, side), np.float32)
    for s in set(sizes.tolist()):
        patterns[s, :s, :s] = window_pattern(s, "l1" if norm == "l1" else "l2")
    xs = batch_spec(x)
    common = (tf.constant(eps, x.dtype), tf.constant(int(seed), tf.int64))
    init = compiled(model, ("square-init", norm), lambda m, *a: _square_init(m, *a, tf.constant(_tiles(height, width, "l1" if norm == "l1" else "l2")), norm),
                    [xs, spec(tf.int32, [None]), spec(tf.int64, [None]), spec(x.dtype), spec(tf.int64)])
    chunk = compiled(model, ("square", norm, variant), lambda m, *a: _square_chunk(m, *a, norm, variant),
                     [xs, spec(tf.int32, [None]), spec(tf.int64, [None]), xs, spec(tf.float32, [None]),
                      spec(tf.int32), spec(tf.int32), spec(x.dtype), spec(tf.int32, [None]),
                      spec(tf.float32, [None, side, side]), spec(tf.int64)])
    x_adv, best = np.empty(x.shape, x.dtype.as_numpy_dtype), np.empty(n, np.float32)
    for s in batches(n, batch_size):
        ids = np.arange(s.start, s.stop)
        x0, m0 = init(x[s], tf.constant(y[ids], tf.int32), tf.constant(keys[ids], tf.int64), *common)
        x_adv[ids], best[ids] = x0.numpy(), m0.numpy()
    consts = (common[0], tf.constant(sizes), tf.constant(patterns), common[1])
    total = int(queries) - 1
    for start in range(0, total, CHUNK):
        stop = min(start + CHUNK, total)
        todo = np.flatnonzero(best > 0)
        for s in batches(len(todo), batch_size):
            ids = todo[s]
            xb, mb = chunk(tf.gather(x, ids), tf.constant(y[ids], tf.int32), tf.constant(keys[ids], tf.int64),
                           tf.constant(x_adv[ids]), tf.constant(best[ids]), tf.constant(start), tf.constant(stop),
                           *consts)
            x_adv[ids], best[ids] = xb.numpy(), mb.numpy()
        if progress is not None:
            progress(stop, total, int(np.sum(best <= 0)))
        if not np.any(best > 0):
            break
    return tf.convert_to_tensor(x_adv)
