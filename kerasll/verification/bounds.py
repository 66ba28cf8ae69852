"""Sound lower bounds on a classifier's margins over an L∞ ball: IBP and CROWN, in float64 NumPy.

- IBP (Gowal et al. 2018): intervals pushed forward, an affine map in centre-radius form
  (W c + b ± |W| r), ReLU and max-pool monotone; the last layer folded into the margins ("elision").
- CROWN (Zhang et al. 2018): each margin bounded by a linear function of the input, built backwards through
  the chain with a linear relaxation of every unstable ReLU (upper: the chord u(x − l)/(u − l); lower: x or
  0, whichever is closer, "adaptive") and of every max-pool (lower: its element with the largest lower bound;
  upper: that element where its lower bound beats every other's upper bound, else the largest upper bound);
  the intermediate bounds each nonlinear step needs are CROWN's own, each intersected with IBP's image of the
  tightened interval before it, and the linear function is minimised over the box; the final bound is raised
  to IBP's from the tightened intervals where that is higher. This is auto_LiRPA's CROWN ("backward") with
  `compare_crown_with_ibp=True`: the same numbers (scripts/compare_lirpa.py), and never below IBP's.

The input box is the ε-ball intersected with [0, 1]. Margins are z_y − z_j for every class j (0 at j = y).
"""

import numpy as np
from scipy import sparse

from kerasll.verification.network import Affine, MaxPool, ReLU


def input_box(x, eps):
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    return np.clip(x - eps, 0.0, 1.0), np.clip(x + eps, 0.0, 1.0)


def margin_spec(last, y, classes):
    """The margins z_y − z_j as one affine map of the last layer's input: (B, C, n) and (B, C)."""
    spec = np.eye(classes)[y][:, None, :] - np.eye(classes)[None, :, :]  # (B, C, C): row j is e_y − e_j
    return spec @ last.weight, spec @ last.bias


def _forward_intervals(steps, lower, upper):
    """IBP through `steps`: the intervals of every step's input, and of the last step's output."""
    seen = []
    for step in steps:
        seen.append((lower, upper))
        if isinstance(step, Affine):
            centre, radius = step.interval((upper + lower) / 2, (upper - lower) / 2)
            lower, upper = centre - radius, centre + radius
        else:
            lower, upper = _through(step, lower, upper)
    return seen, (lower, upper)


def _through(step, lower, upper):
    """The interval of a nonlinear step's output from its input's (both monotone)."""
    if isinstance(step, ReLU):
        on = step.on
        return np.where(on, np.maximum(lower, 0), lower), np.where(on, np.maximum(upper, 0), upper)
    return lower[:, step.windows].max(-1), upper[:, step.windows].max(-1)


def ibp_margins(steps, x, y, eps):
    """IBP lower bounds (B, C) on the margins z_y − z_j over the box."""
    _, interval = _forward_intervals(steps[:-1], *input_box(x, eps))
    return _elided(steps[-1], y, interval)


def crown_ibp_margins(steps, x, y, eps):
    """CROWN-IBP lower bounds (B, C) on the margins (Zhang et al. 2020): one CROWN pass back from the margins
    on IBP's intermediate intervals — the bound `--defense crown-ibp` trains on (`backward.crown_ibp_margins`,
    in keras.ops), here in float64 on the explicit chain. Not always above IBP's bound."""
    box = input_box(x, eps)
    seen, _ = _forward_intervals(steps[:-1], *box)
    weight, bias = margin_spec(steps[-1], np.asarray(y), steps[-1].weight.shape[0])
    return _backward(weight, bias, steps[:-1], seen, box)


def _elided(last, y, interval):
    """Lower bounds (B, C) on the margins over the last affine step's input `interval`, the margins' rows
    folded into its matrix (elision)."""
    lower, upper = interval
    weight, bias = margin_spec(last, np.asarray(y), last.weight.shape[0])
    centre, radius = (upper + lower) / 2, (upper - lower) / 2
    return np.einsum("bcn,bn->bc", weight, centre) + bias - np.einsum("bcn,bn->bc", np.abs(weight), radius)


def _relu_relaxation(lower, upper, on=True):
    """Per neuron (B, n): lower slope, upper slope, upper intercept (the lower intercept is 0). Coordinates
    where `on` is False pass through (slopes 1)."""
    active, dead = (lower >= 0) | ~np.asarray(on), (upper <= 0) & on
    unstable = ~(active | dead)
    width = np.where(unstable, upper - lower, 1.0)
    up_slope = np.where(active, 1.0, np.where(unstable, upper / width, 0.0))
    up_intercept = np.where(unstable, -lower * upper / width, 0.0)
    low_slope = np.where(active, 1.0, np.where(unstable, (upper >= -lower).astype(np.float64), 0.0))
    return low_slope, up_slope, up_intercept


def _backward(coef, const, steps, bounds, box):
    """min over the box of coef·(the output of `steps`) + const — CROWN's backward pass.

    `coef` (B, m, n) multiplies the output of the last step in `steps`; `bounds[i]` are the intervals of
    step i's input. Returns lower bounds (B, m).

    The coefficients travel as one sparse (B·m, n) matrix: a convolution's rows touch a small patch of its
    input and a dead ReLU zeroes a column, so on a LeNet most entries are zero (each ReLU and pool is an
    operation on the stored entries, each affine step a sparse product)."""
    batch, rows_per_image, _ = coef.shape
    image = np.repeat(np.arange(batch), rows_per_image)
    return _backward_rows(sparse.csr_matrix(coef.reshape(batch * rows_per_image, -1)), const.reshape(-1), steps,
                          bounds, box, image).reshape(batch, rows_per_image)


def _backward_rows(coef, const, steps, bounds, box, image):
    """`_backward` on the sparse (R, n) `coef` and its (R,) `const`, row r bounding a function of image
    `image[r]`'s network; returns (R,) lower bounds."""
    const, coef = np.array(const, np.float64), coef.copy()  # its entries are changed in place below
    for i in range(len(steps) - 1, -1, -1):
        step, (lower, upper) = steps[i], bounds[i]
        if isinstance(step, Affine):
            const = const + coef @ step.bias
            coef = step.times(coef)
            continue
        row, at, value = _entries(coef, image)
        neg = value < 0
        if isinstance(step, ReLU):
            low_slope, up_slope, up_intercept = (a.ravel()[at] for a in _relu_relaxation(lower, upper, step.on))
            const = const + _row_sums(coef, row, np.where(neg, value * up_intercept, 0.0))
            coef.data = value * np.where(neg, up_slope, low_slope)
            coef.eliminate_zeros()  # dead neurons
        else:
            chosen, decided, top = (a.ravel()[at] for a in _pool_relaxation(step.windows, lower, upper))
            loose = neg & ~decided
            const = const + _row_sums(coef, row, np.where(loose, value * top, 0.0))
            coef = sparse.csr_matrix((np.where(loose, 0.0, value), chosen, coef.indptr),
                                     shape=(coef.shape[0], lower.shape[1]))
    row, at, value = _entries(coef, image)
    box_lower, box_upper = box
    corner = np.where(value > 0, box_lower.ravel()[at], box_upper.ravel()[at])
    return const + _row_sums(coef, row, value * corner)


def _entries(coef, image):
    """Per stored entry of the CSR `coef`: its row, its place in a flattened (B, n) array of per-image values
    (its row's image, then its column) and its value."""
    row = np.repeat(np.arange(coef.shape[0]), np.diff(coef.indptr))
    return row, image[row] * coef.shape[1] + coef.indices, coef.data


def _row_sums(coef, row, values):
    return np.bincount(row, weights=values, minlength=coef.shape[0])


def _pool_relaxation(windows, lower, upper):
    """Per image and pool output (B, out): the input chosen for the lower bound (the largest lower bound),
    whether it is the max everywhere in the box, and the largest upper bound (the upper bound's constant)."""
    window_lower, window_upper = lower[:, windows], upper[:, windows]  # (B, out, k)
    best = window_lower.argmax(-1)[..., None]
    chosen = np.take_along_axis(np.broadcast_to(windows, window_lower.shape), best, -1)[..., 0]
    best_lower = np.take_along_axis(window_lower, best, -1)[..., 0]
    others = np.where(np.arange(windows.shape[1]) == best, -np.inf, window_upper).max(-1)
    return chosen, best_lower >= others, window_upper.max(-1)


def crown_margins(steps, x, y, eps, intervals=None):
    """CROWN lower bounds (B, C) on the margins z_y − z_j over the box, each raised to the elided IBP bound
    from the tightened interval of the last step's input where that is higher (auto_LiRPA's
    `compare_crown_with_ibp`): never below `ibp_margins`. `intervals`: `crown_intervals` of this box, where the
    caller has them already (the MILP's big-M constants)."""
    box = input_box(x, eps)
    bounds = crown_intervals(steps, box) if intervals is None else intervals
    weight, bias = margin_spec(steps[-1], np.asarray(y), steps[-1].weight.shape[0])
    crown = _backward(weight, bias, steps[:-1], bounds, box)
    last_input = _next_input(steps, len(steps) - 1, bounds, box) if len(steps) > 1 else box
    return np.maximum(crown, _elided(steps[-1], y, last_input))


def crown_intervals(steps, box):
    """The interval of each step's input but the last's (a list of (B, n) pairs) over `box`: CROWN's bounds
    where a nonlinear step came before, never looser than IBP's (what CROWN's margins and the MILP's big-M
    constants rest on). Where an affine step's output is bounded, CROWN's interval is intersected with the
    step's interval image of its input's (already tightened) interval, as auto_LiRPA's
    `compare_crown_with_ibp` does: on IBP-trained networks IBP is often the tighter of the two, and by
    induction every interval lies inside plain IBP's."""
    ibp_seen, _ = _forward_intervals(steps[:1], *box)
    bounds = []  # the interval of each step's input
    for i in range(len(steps) - 1):
        if i == 0:
            bounds.append(box)
        elif all(isinstance(s, Affine) for s in steps[:i]):
            bounds.append(_forward_intervals(steps[i - 1:i], *bounds[i - 1])[1])  # an affine map of the box: exact
        elif not isinstance(steps[i - 1], Affine):  # after a ReLU or a pool: through it, monotone
            bounds.append(_next_input(steps, i, bounds, box))
        else:
            ibp_lower, ibp_upper = _forward_intervals(steps[i - 1:i], *bounds[i - 1])[1]
            lower, upper = _crown_interval(steps[:i], bounds, box, _needed(steps[i], ibp_upper))
            bounds.append((np.maximum(lower, ibp_lower), np.minimum(upper, ibp_upper)))  # IBP's where skipped
    return bounds


def _next_input(steps, i, bounds, box):
    """The interval of step i's input where step i − 1 is nonlinear: its output's, from its input's."""
    return _through(steps[i - 1], *bounds[i - 1])


def _needed(step, ibp_upper):
    """(B, n): the neurons of `step`'s input whose CROWN bounds can matter. One whose IBP upper bound is ≤ 0
    ahead of a ReLU is dead whatever CROWN says (its output is 0, and nothing later reads its input's
    interval), so its bounds are not computed: the results are the same, and on IBP-trained networks most
    neurons are dead (the LeNet's second convolution: 92% at ε = 0.1)."""
    if isinstance(step, ReLU):
        return ~((ibp_upper <= 0) & step.on)
    return np.ones(ibp_upper.shape, bool)


def _crown_interval(steps, bounds, box, needed):
    """CROWN's interval of the output of `steps` (their last one affine) where `needed` (B, out) is True: identity
    specs, both signs; (−inf, inf) elsewhere."""
    last = steps[-1]
    image, neuron = np.nonzero(needed)
    coef = last.rows(neuron)
    bias = last.bias[neuron]
    lower, upper = np.full(needed.shape, -np.inf), np.full(needed.shape, np.inf)
    lower[image, neuron] = _backward_rows(coef, bias, steps[:-1], bounds, box, image)
    upper[image, neuron] = -_backward_rows(-coef, -bias, steps[:-1], bounds, box, image)
    return lower, upper
