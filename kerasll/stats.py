"""Exact statistics: binomial tails, the sign test, Clopper–Pearson bounds, and rank correlation.

One home for the tests kerasll's claims rest on: the `square` flag's one-sided
binomial test, the reference-parity sign test, and randomized smoothing's
confidence bound and abstention test (Cohen et al. 2019), and Spearman's ρ with
its exact permutation p-value for the few models a finding rests on. The bounds use the
regularised incomplete beta function (`tf.math.betainc`, float64) and are exact
up to float64, for any n, vectorised over images.
"""

import itertools
import math

import numpy as np


def rank_correlation(a, b):
    """Spearman's rank correlation (average ranks for ties); nan for < 2 points or a constant side."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2:
        return float("nan")
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(v):
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(len(v))
    for value in np.unique(v):  # average the ranks of ties
        r[v == value] = r[v == value].mean()
    return r


def rank_correlation_p_value(a, b, exact_up_to=8):
    """Two-sided p-value of Spearman's ρ under independence: the share of the pairings of `b` with `a` whose
    |ρ| is at least the observed one. Exact (every permutation) for up to `exact_up_to` points, else
    100,000 seeded random permutations. nan where ρ is."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    observed = rank_correlation(a, b)
    if np.isnan(observed):
        return float("nan")
    ra, rb = _ranks(a), _ranks(b)
    if len(a) <= exact_up_to:
        orders = np.array(list(itertools.permutations(range(len(b)))))
    else:
        orders = np.random.default_rng(0).permuted(np.tile(np.arange(len(b)), (100_000, 1)), axis=1)
    ca, cb = ra - ra.mean(), rb[orders] - rb.mean()  # ranks' means do not change under permutation
    rho = (cb @ ca) / (np.linalg.norm(ca) * np.linalg.norm(cb, axis=1))
    return float(np.mean(np.abs(rho) >= abs(observed) - 1e-12))


def binomial_tail(k, n, p):
    """P(K ≥ k) for K ~ Binomial(n, p), summed in log space (exact for any n)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p)
            + (n - i) * math.log1p(-p) for i in range(k, n + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def sign_test(only_ours, only_theirs):
    """Two-sided exact sign test (McNemar's, exact) on the images only one side broke: how likely a split
    at least this uneven is if each such image were a fair coin between the sides. Small: a real gap."""
    n, k = only_ours + only_theirs, min(only_ours, only_theirs)
    return 1.0 if n == 0 else min(1.0, 2 * binomial_tail(n - k, n, 0.5))


_LGAMMA = np.frompyfunc(math.lgamma, 1, 1)
_TINY = 1e-300


def _continued_fraction(a, b, x, iterations=100_000):
    """The continued fraction of I_x(a, b) (modified Lentz), elementwise, to float64's precision; it converges
    in O(√max(a, b)) terms where x < (a + 1) / (a + b + 2)."""
    c, d = np.ones_like(x), 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
    h, active = d.copy(), np.ones(x.shape, bool)
    for m in range(1, iterations):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
            c = 1.0 + numerator / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            step = np.where(active, d * c, 1.0)
            h = h * step
        active &= np.abs(step - 1.0) > 1e-16
        if not active.any():
            return h
    raise ArithmeticError("the incomplete beta function's continued fraction did not converge")


def _betainc(a, b, x):
    """The regularised incomplete beta function I_x(a, b), elementwise in float64 (a, b > 0, 0 ≤ x ≤ 1):
    NumPy, so the statistics need no deep-learning backend (checked against TensorFlow's and SciPy's in
    tests/test_stats.py)."""
    a, b, x = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (a, b, x)))
    out = np.where(x <= 0, 0.0, 1.0)
    inside = (x > 0) & (x < 1)
    if not inside.any():
        return out
    a, b, x = a[inside], b[inside], x[inside]
    flip = x >= (a + 1.0) / (a + b + 2.0)  # the fraction converges fast only below this point: use symmetry
    a, b, x = np.where(flip, b, a), np.where(flip, a, b), np.where(flip, 1.0 - x, x)
    log_front = (_LGAMMA(a + b) - _LGAMMA(a) - _LGAMMA(b)).astype(np.float64) + a * np.log(x) + b * np.log1p(-x)
    value = np.exp(log_front) * _continued_fraction(a, b, x) / a
    out[inside] = np.where(flip, 1.0 - value, value)
    return out


def binomial_cdf(k, n, p):
    """P(K ≤ k) for K ~ Binomial(n, p), elementwise over arrays k, n: I_{1−p}(n − k, k + 1)."""
    k, n = np.asarray(k, np.float64), np.asarray(n, np.float64)
    k, n = np.broadcast_arrays(k, n)
    out = np.ones(k.shape)
    inside = k < n
    out[k < 0] = 0.0
    part = inside & (k >= 0)
    if part.any():
        out[part] = _betainc(n[part] - k[part], k[part] + 1, np.full(part.sum(), 1.0 - p))
    return out


def binomial_test(k, n):
    """Two-sided exact binomial test of K = k out of n against p = ½, elementwise: the p-value
    min(1, 2·P(K ≤ min(k, n − k))) (SciPy's `binomtest(k, n, 0.5)`; 1 when n = 0)."""
    k, n = np.broadcast_arrays(np.asarray(k, np.float64), np.asarray(n, np.float64))
    low = np.minimum(k, n - k)
    p = np.minimum(1.0, 2.0 * binomial_cdf(low, n, 0.5))
    return np.where(n > 0, p, 1.0)


def clopper_pearson_lower(k, n, alpha):
    """One-sided (1 − α) Clopper–Pearson lower bound on a binomial proportion, elementwise: the p with
    P(K ≥ k | p) = α, i.e. the α-quantile of Beta(k, n − k + 1); 0 when k = 0."""
    k, n = np.broadcast_arrays(np.asarray(k, np.float64), np.asarray(n, np.float64))
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    lo, hi = np.zeros(k.shape), np.ones(k.shape)
    some = k > 0
    if not some.any():
        return lo
    a, b = k[some], n[some] - k[some] + 1
    low, high = lo[some], hi[some]
    for _ in range(64):  # bisection on the regularised incomplete beta: 2^-64 < float64's resolution
        mid = (low + high) / 2
        below = _betainc(a, b, mid) < alpha  # P(K ≥ k | p = mid) = I_mid(k, n − k + 1)
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    lo[some] = low
    return lo
