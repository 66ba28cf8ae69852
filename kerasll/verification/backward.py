"""CROWN-IBP's bound (Zhang et al. 2020, "Towards stable and efficient training of verifiably robust neural
networks") through a Keras classifier's own layers, in `keras.ops`: differentiable in the weights on every
backend, what `--defense crown-ibp` trains on.

The intermediate intervals are IBP's (`intervals.graph_intervals`); the margins z_y − z_j are then bounded
by one CROWN pass backwards from the last layer: linear coefficients A (B, C, *shape) carried through each
layer's transpose (a Dense's kernelᵀ, a Conv2D's transposed convolution, an elementwise affine layer's scale,
a reshape's inverse; a merge of branches passes each input its share), every ReLU replaced by its linear
relaxation on IBP's pre-activation interval (upper: the chord; lower: x or 0, whichever is closer) and every
non-overlapping max-pool by its element with the largest lower bound (kept for both signs where it provably
wins, else the window's largest upper bound as the upper bound's constant), and finally minimised over the box.
The float64 NumPy twin on the explicit chain is `bounds.crown_ibp_margins`; the two agree to float32 rounding
(tests/test_certified_training.py).
"""

from keras import ops

from kerasll.errors import KerasllError
from kerasll.verification.intervals import ELEMENTWISE, classifier_graph, elided, graph_intervals, margin_rows

LINEAR = ("Flatten", "Reshape", "Dropout")


def check_backward(layers):
    """Refuse, naming it, a layer the keras.ops backward pass has no transpose for."""
    for layer in layers:
        kind = type(layer).__name__
        if kind == "Conv1D" or kind == "AveragePooling2D":
            raise KerasllError(f"crown-ibp cannot go back through layer {layer.name!r} ({kind}): supported are "
                               "Dense, Conv2D, ReLU, MaxPooling2D, Flatten, Reshape, Dropout, Rescaling, "
                               "Normalization, BatchNormalization; use --defense ibp")
        if kind == "Conv2D" and (tuple(layer.dilation_rate) != (1, 1) or getattr(layer, "groups", 1) != 1
                                 or layer.data_format != "channels_last"):
            raise KerasllError(f"crown-ibp cannot go back through layer {layer.name!r}: a dilated, grouped or "
                               "channels-first convolution; use --defense ibp")


def _relaxed(coef, const, lower, upper):
    """Through a ReLU with pre-activation interval [lower, upper]: coef's columns times the relaxation's slopes
    (the lower one where the coefficient is ≥ 0, the upper one where < 0) and the upper intercept into const."""
    active, unstable = lower >= 0, ops.logical_and(lower < 0, upper > 0)
    width = ops.where(unstable, upper - lower, ops.ones_like(upper))
    up_slope = ops.where(active, 1.0, ops.where(unstable, upper / width, 0.0))
    up_intercept = ops.where(unstable, -lower * up_slope, 0.0)
    low_slope = ops.where(active, 1.0, ops.where(unstable, ops.cast(upper >= -lower, upper.dtype), 0.0))
    pos, neg = ops.relu(coef), ops.minimum(coef, 0.0)
    const = const + _dot(neg, up_intercept)
    return pos * low_slope[:, None] + neg * up_slope[:, None], const


def _dot(coef, values):
    """Σ over the per-image dimensions of coef (B, C, *shape) · values (B, *shape): (B, C)."""
    return _total(coef * ops.expand_dims(values, 1))


def _total(coef):
    """Σ over the per-image dimensions of coef (B, C, *shape): (B, C)."""
    return ops.sum(coef, axis=tuple(range(2, len(coef.shape))))


def _pool(layer, coef, const, lower, upper):
    """Back through a non-overlapping max-pool whose input interval is [lower, upper] (B, H, W, ch)."""
    ph, pw = layer.pool_size
    height, width, channels = (int(d) for d in lower.shape[1:])  # the batch may be unknown (a traced step)
    oh, ow = height // ph, width // pw
    rows = int(coef.shape[1])

    def windows(t):  # (B, H, W, ch) → (B, oh, ow, ch, ph·pw)
        t = ops.reshape(t[:, :oh * ph, :ow * pw], (-1, oh, ph, ow, pw, channels))
        return ops.reshape(ops.transpose(t, (0, 1, 3, 5, 2, 4)), (-1, oh, ow, channels, ph * pw))

    low, up = windows(lower), windows(upper)
    chosen = ops.one_hot(ops.argmax(low, axis=-1), ph * pw, dtype=lower.dtype)  # the largest lower bound
    best_lower = ops.sum(low * chosen, axis=-1)
    others = ops.max(ops.where(chosen > 0, ops.full_like(up, -1e30), up), axis=-1)
    decided = ops.cast(best_lower >= others, lower.dtype)  # that element is the max everywhere in the box
    top = ops.max(up, axis=-1)
    pos, neg = ops.relu(coef), ops.minimum(coef, 0.0)
    const = const + _dot(neg * (1.0 - decided)[:, None], top)
    moved = (pos + neg * decided[:, None])[..., None] * chosen[:, None]  # (B, C, oh, ow, ch, k)
    moved = ops.reshape(moved, (-1, rows, oh, ow, channels, ph, pw))
    moved = ops.reshape(ops.transpose(moved, (0, 1, 2, 5, 3, 6, 4)), (-1, rows, oh * ph, ow * pw, channels))
    if (oh * ph, ow * pw) != (height, width):  # rows and columns the pool drops get no coefficient
        moved = ops.pad(moved, ((0, 0), (0, 0), (0, height - oh * ph), (0, width - ow * pw), (0, 0)))
    return moved, const


def _transposed(layer, coef, const, in_shape):
    """Back through an affine layer (its pre-activation map) whose input has shape `in_shape` (no batch)."""
    kind = type(layer).__name__
    rows = int(coef.shape[1])
    if kind in LINEAR or kind in ("Activation", "ReLU"):
        return ops.reshape(coef, (-1, rows, *in_shape)), const
    if kind in ELEMENTWISE:  # x ↦ s·x + t elementwise
        zero = layer(ops.zeros((1, *in_shape)), training=False)[0]
        scale = layer(ops.ones((1, *in_shape)), training=False)[0] - zero
        return coef * scale, const + _total(coef * zero)
    if layer.use_bias:
        const = const + _total(coef * layer.bias)
    if kind == "Dense":
        return ops.matmul(coef, ops.transpose(layer.kernel)), const
    out_shape = tuple(int(d) for d in coef.shape[2:])
    flat = ops.reshape(coef, (-1, *out_shape))
    stride = tuple(layer.strides)
    size = tuple(int((o - 1) * s + k if layer.padding == "valid" else o * s)
                 for o, s, k in zip(out_shape[:2], stride, layer.kernel_size))
    extra = tuple(int(i) - n for i, n in zip(in_shape[:2], size))  # input rows/columns no output reads
    back = ops.conv_transpose(flat, layer.kernel, strides=stride, padding=layer.padding,
                              output_padding=extra if any(extra) else None)
    return ops.reshape(back, (-1, rows, *in_shape)), const


def _split(layer, coef, inputs, known):
    """Back through a merge: each input's share of `coef` (B, C, *shape), in the order of `inputs`."""
    kind = type(layer).__name__
    if kind == "Add":
        return [coef] * len(inputs)
    if kind == "Subtract":
        return [coef, -coef]
    if kind == "Average":
        return [coef / len(inputs)] * len(inputs)
    axis = layer.axis if layer.axis < 0 else layer.axis + 1  # the tensors' axis, in coef's (B, C, *shape)
    sizes = [int(known[key][0].shape[layer.axis]) for key in inputs]
    bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    return [ops.take(coef, ops.arange(a, b), axis=axis) for a, b in zip(bounds[:-1], bounds[1:])]


def crown_ibp_margins(model, x, y, eps, num_classes, with_ibp=False):
    """CROWN-IBP lower bounds (B, C) on z_y − z_j over the L∞ ball of radius `eps` ∩ [0, 1] (0 at j = y):
    IBP's intermediate intervals, one CROWN pass back from the margins, through `model`'s own layers (a chain,
    or a graph whose merges pass each input its share of the coefficients: `_split`).
    `with_ibp`: also return IBP's bounds (`intervals.interval_margins`) from the same forward pass."""
    from kerasll.verification.network import MERGE

    nodes, input_key = classifier_graph(model)
    check_backward([layer for layer, _, _ in nodes])
    known, pre = graph_intervals(nodes, input_key, x, eps)
    last, (last_input,), _ = nodes[-1]
    ibp = elided(last, y, num_classes, known[last_input]) if with_ibp else None
    coef, const = margin_rows(last, y, num_classes)
    coefs = {last_input: coef}  # per tensor: the coefficients of what its consumers pass back, summed

    def add(key, value):
        coefs[key] = value if key not in coefs else coefs[key] + value

    for layer, inputs, out in reversed(nodes[:-1]):  # every consumer of a tensor comes before its producer
        lower, upper = known[out]
        coef = ops.reshape(coefs.pop(out), (-1, int(coef.shape[1]), *lower.shape[1:]))
        if out in pre:  # the layer ends in a ReLU: back through it first, on its pre-activation interval
            coef, const = _relaxed(coef, const, *pre[out])
        kind = type(layer).__name__
        if kind in MERGE:
            for key, share in zip(inputs, _split(layer, coef, inputs, known)):
                add(key, share)
            continue
        if kind == "MaxPooling2D":
            coef, const = _pool(layer, coef, const, *known[inputs[0]])
        else:
            coef, const = _transposed(layer, coef, const, tuple(int(d) for d in known[inputs[0]][0].shape[1:]))
        add(inputs[0], coef)
    coef = ops.reshape(coefs[input_key], (-1, int(coef.shape[1]), *x.shape[1:]))
    box_lower, box_upper = known[input_key]
    crown = const + _dot(ops.relu(coef), box_lower) + _dot(ops.minimum(coef, 0.0), box_upper)
    return (crown, ibp) if with_ibp else crown
