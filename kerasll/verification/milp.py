"""Exact L∞ verification by mixed-integer linear programming (Tjeng, Xiao & Tedrake, ICLR 2019).

For one image and one other class j, the smallest margin z_y − z_j over the box (the ε-ball ∩ [0, 1]) is a
MILP: the input and every affine output are continuous variables tied by equalities; an unstable ReLU
(lower bound l < 0 < upper bound u) gets a binary d with

    a ≥ 0,  a ≥ z,  a ≤ u·d,  a ≤ z − l·(1 − d),

a stable one is z (active) or 0 (dead); a max-pool output m gets a binary e_i per window element that can be
the max, with m ≥ v_i, m ≤ v_i + (u_max − l_i)(1 − e_i), Σ e_i = 1. The bounds l, u are CROWN's
(`bounds.crown_intervals`): the tighter they are, the fewer binaries and the smaller the big-M constants.
Classes whose CROWN bound is already positive need no MILP. For the others SciPy's HiGHS
(`scipy.optimize.milp`) decides whether the margin can be ≤ `TOLERANCE` anywhere in the box, as a
feasibility problem (it stops at the first point; no point is a proof). An image is verified when no class
can, attackable when a point is found that the Keras model misclassifies (the counterexample), timed out when
the time limit ended the search first (or the point found is a tie within the solver's tolerance): counted
apart, never as verified. The lower bound on the margin stays CROWN's (or `TOLERANCE` where a class was
proven): deciding is cheaper than minimising.
"""

import time

import numpy as np

from kerasll._descriptors import muted
from kerasll.errors import KerasllError
from kerasll.verification.bounds import crown_intervals, crown_margins, ibp_margins, input_box, margin_spec
from kerasll.verification.network import Affine, ReLU, relu_count

MAX_RELUS = 5000  # a MILP beyond this many ReLUs is refused: use CROWN
TOLERANCE = 1e-6  # a class is proven when no point of the box has a margin ≤ this (HiGHS's feasibility tolerance)
CLEAR = 1e-4  # a margin this far below 0 is a counterexample the model's float32 arithmetic agrees with
VERIFIED, ATTACKABLE, TIMEOUT = "verified", "attackable", "timeout"


def _scipy_milp():
    try:
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_matrix
    except ImportError:  # a SciPy older than kerasll's requirement (milp arrived in 1.9)
        raise KerasllError("method 'milp' needs SciPy ≥ 1.9 (scipy.optimize.milp): pip install -U scipy, "
                           "or use --method crown") from None
    return milp, Bounds, LinearConstraint, coo_matrix


def check_size(steps):
    """Refuse, in one line, a network too large for an exact MILP."""
    count = relu_count(steps)
    if count > MAX_RELUS:
        raise KerasllError(f"method 'milp' decides networks of up to {MAX_RELUS:,} ReLUs; this one has {count:,}: "
                           "use --method crown (a sound lower bound) instead")


class _Program:
    """The constraints of one image's network over its box, shared by every class's objective."""

    def __init__(self, steps, lower, upper, intervals):
        self.rows, self.cols, self.vals, self.lb, self.ub = [], [], [], [], []
        self.var_lo, self.var_hi, self.integer = [], [], []
        current = self._variables(lower, upper)
        self.inputs = current
        for i, step in enumerate(steps[:-1]):
            if isinstance(step, Affine):
                lo, hi = intervals[i + 1]
                current = self._affine(step, current, lo, hi)
            elif isinstance(step, ReLU):
                current = self._relu(current, *intervals[i], step.on)
            else:
                current = self._max_pool(step.windows, current, *intervals[i])
        self.last = current  # the variables the logits' affine map reads

    def _variables(self, lo, hi, integer=False):
        start = len(self.var_lo)
        self.var_lo.extend(np.asarray(lo, np.float64).tolist())
        self.var_hi.extend(np.asarray(hi, np.float64).tolist())
        self.integer.extend([int(integer)] * len(lo))
        return np.arange(start, start + len(lo))

    def _row(self, cols, vals, lb, ub):
        """One constraint lb ≤ Σ vals·x[cols] ≤ ub per row: `cols`, `vals` (rows, k)."""
        first = len(self.lb)
        rows = np.arange(first, first + len(cols))
        self.rows.append(np.repeat(rows, cols.shape[1]))
        self.cols.append(cols.reshape(-1))
        self.vals.append(vals.reshape(-1).astype(np.float64))
        self.lb.extend(np.broadcast_to(lb, len(cols)).tolist())
        self.ub.extend(np.broadcast_to(ub, len(cols)).tolist())

    def _affine(self, step, inputs, lo, hi):
        out = self._variables(lo, hi)
        rows, cols = np.nonzero(step.weight)
        # z − W v = b, one row per output: written as triplets (the maps are sparse for convolutions).
        first = len(self.lb)
        self.rows += [first + np.arange(len(out)), first + rows]
        self.cols += [out, inputs[cols]]
        self.vals += [np.ones(len(out)), -step.weight[rows, cols]]
        self.lb.extend(step.bias.tolist())
        self.ub.extend(step.bias.tolist())
        return out

    def _relu(self, z, lo, hi, on):
        """a = max(z, 0) where `on` (a binary per unstable neuron), a = z elsewhere (a skip connection's copy)."""
        a = self._variables(np.where(on, np.maximum(lo, 0.0), lo), np.where(on, np.maximum(hi, 0.0), hi))
        active, unstable = (lo >= 0) | ~on, on & (lo < 0) & (hi > 0)
        if active.any():  # a = z
            self._row(np.stack([a[active], z[active]], 1), np.tile([1.0, -1.0], (active.sum(), 1)), 0.0, 0.0)
        if unstable.any():
            l, u = lo[unstable], hi[unstable]
            au, zu = a[unstable], z[unstable]
            d = self._variables(np.zeros(len(au)), np.ones(len(au)), integer=True)
            n = len(au)
            self._row(np.stack([au, zu], 1), np.tile([1.0, -1.0], (n, 1)), 0.0, np.inf)  # a ≥ z
            self._row(np.stack([au, d], 1), np.stack([np.ones(n), -u], 1), -np.inf, 0.0)  # a ≤ u d
            self._row(np.stack([au, zu, d], 1), np.stack([np.ones(n), -np.ones(n), -l], 1), -np.inf, -l)
        return a  # dead: a ∈ [0, 0] by its bounds

    def _max_pool(self, windows, v, lo, hi):
        w_lo, w_hi = lo[windows], hi[windows]  # (out, k)
        m = self._variables(w_lo.max(-1), w_hi.max(-1))
        top_lower = w_lo.max(-1, keepdims=True)
        for o in range(len(windows)):
            candidates = np.nonzero(w_hi[o] >= top_lower[o, 0])[0]  # elements that can be the max
            members = v[windows[o, candidates]]
            if len(candidates) == 1:
                self._row(np.array([[m[o], members[0]]]), np.array([[1.0, -1.0]]), 0.0, 0.0)
                continue
            e = self._variables(np.zeros(len(members)), np.ones(len(members)), integer=True)
            big = w_hi[o].max() - w_lo[o, candidates]
            k = len(members)
            self._row(np.stack([np.full(k, m[o]), members], 1), np.tile([1.0, -1.0], (k, 1)), 0.0, np.inf)
            self._row(np.stack([np.full(k, m[o]), members, e], 1), np.stack([np.ones(k), -np.ones(k), big], 1),
                      -np.inf, big)
            self._row(e[None], np.ones((1, k)), 1.0, 1.0)
        return m

    def solve(self, objective, below, time_limit, minimise=False):
        """Whether objective·x[self.last] ≤ `below` somewhere in the program, as a feasibility problem (it stops at
        the first point found; a proof that none exists is a proof about the margin), or with `minimise` the
        point where it is smallest: (status, input point or None). Status: 0 decided (point None: infeasible,
        a proof), 1 the time ran out first."""
        milp, Bounds, LinearConstraint, coo_matrix = _scipy_milp()
        n = len(self.var_lo)
        row = np.zeros(n)
        row[self.last] = objective
        if getattr(self, "_network", None) is None:  # the network's rows, built once for every class's question
            matrix = coo_matrix((np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
                                shape=(len(self.lb), n)).tocsr()
            self._network = LinearConstraint(matrix, self.lb, self.ub)
        constraints = [self._network, LinearConstraint(row[None], -np.inf, below)]
        with muted(1):  # HiGHS's C++ side can print to fd 1 despite disp=False: keep `--json -` clean
            result = milp(row if minimise else np.zeros(n), integrality=np.asarray(self.integer),
                          bounds=Bounds(self.var_lo, self.var_hi), constraints=constraints,
                          options={"time_limit": max(float(time_limit), 0.01), "disp": False})
        if result.status == 0:
            return 0, np.asarray(result.x)[self.inputs]
        return (0, None) if result.status == 2 else (1, None)  # 2: infeasible, a proof


def milp_verify(steps, x, y, eps, time_limit=60.0, predict=None, candidates=None):
    """Decide each image exactly: (status (N,) of "verified" / "attackable" / "timeout", a lower bound (N,) on the
    smallest margin, counterexamples (N, D) float32, NaN where none).

    `predict(points)` → logits, to check a counterexample on the model itself (float32): a MILP minimiser
    within the solver's tolerance of 0 that the model still classifies correctly is not counted attackable.
    `candidates` (N, D): points of the box found by an attack; an image whose candidate `predict` misclassifies
    is attackable without a MILP (the program is for the images an attack cannot break).
    """
    check_size(steps)
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y).reshape(-1)
    classes = steps[-1].weight.shape[0]
    status = np.full(len(x), VERIFIED, dtype=object)
    lowest = np.full(len(x), np.inf)
    found = np.full(x.shape, np.nan, np.float32)
    for b in range(len(x)):
        one, label = x[b:b + 1], y[b:b + 1]
        if candidates is not None and _fools(predict, np.asarray(candidates[b], np.float64).reshape(-1), y[b]):
            status[b], found[b] = ATTACKABLE, np.asarray(candidates[b]).reshape(-1)
            lowest[b] = np.delete(ibp_margins(steps, one, label, eps)[0], y[b]).min()  # a cheap sound bound will do
            continue
        box = input_box(one, eps)
        intervals = crown_intervals(steps, box)  # CROWN's margins and the program's big-M constants both rest on them
        crown = crown_margins(steps, one, label, eps, intervals)[0]
        low = crown.copy()  # per class, the best lower bound known on z_y − z_j
        low[y[b]] = np.inf
        started, program = time.monotonic(), None
        weight, bias = (v[0] for v in margin_spec(steps[-1], label, classes))
        for j in (j for j in np.argsort(crown) if j != y[b] and crown[j] <= 0):  # least certain first
            if program is None:
                program = _Program(steps, box[0][0], box[1][0], [(lo[0], hi[0]) for lo, hi in intervals])
            verdict = _decide(program, weight[j], bias[j], lambda: time_limit - (time.monotonic() - started),
                              lambda point: _fools(predict, point, y[b]))
            if isinstance(verdict, np.ndarray):
                status[b], found[b] = ATTACKABLE, verdict  # a counterexample ends the image
                break
            if verdict == VERIFIED:
                low[j] = max(low[j], TOLERANCE)  # proven: the margin is > TOLERANCE everywhere in the box
            else:
                status[b] = TIMEOUT
        lowest[b] = low.min()
    return status, lowest, found


def _decide(program, weight, bias, left, fools):
    """One class: VERIFIED, a counterexample (input point), or TIMEOUT (the time ran out, or a tie within the
    solver's tolerance). Can the margin be ≤ TOLERANCE? No: verified. A point the model misclassifies: found.
    Otherwise the point was at the cut, so ask for a clear counterexample (margin ≤ −CLEAR), and failing
    that, minimise the margin to settle the near-tie."""
    code, point = program.solve(weight, TOLERANCE - bias, left())
    if code or point is None:
        return TIMEOUT if code else VERIFIED
    if fools(point):
        return point
    code, point = program.solve(weight, -CLEAR - bias, left())
    if code == 0 and point is not None and fools(point):
        return point
    if code == 0 and point is None:
        code, point = program.solve(weight, TOLERANCE - bias, left(), minimise=True)
        if code == 0 and point is not None and fools(point):
            return point
    return TIMEOUT


def _fools(predict, point, label):
    if predict is None:
        return True
    return int(np.argmax(predict(point[None].astype(np.float32))[0])) != int(label)
