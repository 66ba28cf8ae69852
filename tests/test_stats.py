"""kerasll.stats against closed forms, exact sums, SciPy where it is installed, and its coverage."""

from math import comb

import numpy as np
import pytest

from kerasll import stats


def exact_cdf(k, n, p):
    return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(0, k + 1))


def test_binomial_cdf_matches_the_exact_sum():
    for k, n, p in ((0, 10, 0.5), (3, 10, 0.5), (10, 10, 0.3), (40, 100, 0.5), (-1, 5, 0.5)):
        assert stats.binomial_cdf(k, n, p) == pytest.approx(exact_cdf(k, n, p) if k >= 0 else 0.0, rel=1e-10)


def test_binomial_test_is_the_two_sided_exact_test_at_one_half():
    assert stats.binomial_test(0, 10) == pytest.approx(2 / 2**10)
    assert stats.binomial_test(10, 10) == stats.binomial_test(0, 10)
    assert stats.binomial_test(5, 10) == 1.0 and stats.binomial_test(0, 0) == 1.0
    assert stats.binomial_test(3, 4) == pytest.approx(2 * 5 / 16)  # 2 · P(K ≤ 1), K ~ Binomial(4, 1/2)
    np.testing.assert_allclose(stats.binomial_test([60, 55], [100, 100]),
                               [2 * exact_cdf(40, 100, 0.5), 2 * exact_cdf(45, 100, 0.5)], rtol=1e-10)
    assert stats.binomial_test(2, 4) == stats.sign_test(2, 2) == 1.0


def test_clopper_pearson_lower_bound_has_its_closed_forms():
    n, alpha = np.array([1, 10, 100, 100_000]), 0.001
    # k = n: P(K ≥ n | p) = pⁿ = α;  k = 1: 1 − (1 − p)ⁿ = α;  k = 0: the bound is 0.
    np.testing.assert_allclose(stats.clopper_pearson_lower(n, n, alpha), alpha ** (1 / n), rtol=1e-12)
    np.testing.assert_allclose(stats.clopper_pearson_lower(1, n, alpha), -np.expm1(np.log1p(-alpha) / n), rtol=1e-9)
    assert (stats.clopper_pearson_lower(0, n, alpha) == 0).all()
    with pytest.raises(ValueError, match="alpha must be in"):
        stats.clopper_pearson_lower(1, 2, 1.5)


def test_clopper_pearson_lower_bound_equals_scipys():
    scipy_stats = pytest.importorskip("scipy.stats")
    k, n, alpha = np.array([1, 37, 500, 99_123]), np.array([3, 40, 1000, 100_000]), 0.001
    theirs = scipy_stats.beta.ppf(alpha, k, n - k + 1)  # statsmodels' proportion_confint(k, n, 2α, "beta")[0]
    np.testing.assert_allclose(stats.clopper_pearson_lower(k, n, alpha), theirs, rtol=1e-9)
    assert stats.binomial_test(37, 60) == pytest.approx(scipy_stats.binomtest(37, 60, 0.5).pvalue, rel=1e-9)


def covers(lower_bound, p=0.9, n=100, alpha=0.05, draws=20_000, seed=0):
    """Whether `lower_bound(k, n, alpha)` stays at or below the true p in at least 1 − α of binomial draws."""
    k = np.random.default_rng(seed).binomial(n, p, draws)
    return np.mean(lower_bound(k, n, alpha) > p) <= alpha


def test_the_lower_bound_covers_the_true_proportion_and_a_wrong_bound_does_not():
    assert covers(stats.clopper_pearson_lower)
    assert not covers(lambda k, n, alpha: k / n)  # the point estimate: above p about half the time
    assert not covers(lambda k, n, alpha: stats.clopper_pearson_lower(k, n, 4 * alpha))  # the wrong level


def test_rank_correlation_p_value_counts_the_pairings_as_extreme_as_the_observed_one():
    from kerasll.stats import rank_correlation_p_value

    assert rank_correlation_p_value([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]) == pytest.approx(2 / 120)  # ρ = ±1: 2 of 5!
    assert rank_correlation_p_value([1, 2, 3], [1, 3, 2]) == 1.0  # every pairing of 3 has |ρ| ≥ 0.5
    # n = 4, ρ = 0.8 (one swap of neighbours): |ρ| ≥ 0.8 for the order, its 3 neighbour swaps, and their reversals
    assert rank_correlation_p_value([1, 2, 3, 4], [2, 1, 3, 4]) == pytest.approx(8 / 24)
    sampled = rank_correlation_p_value(np.arange(12), np.r_[np.arange(10), 11, 10], exact_up_to=8)
    assert sampled < 0.001  # random permutations past `exact_up_to`


def test_the_incomplete_beta_function_equals_tensorflows_over_small_and_certification_sized_arguments():
    """kerasll's NumPy I_x(a, b) (no backend needed) against TensorFlow's Cephes one, from a, b < 1 to the
    a, b ≈ 10⁵ of a certification with n = 100,000 draws."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(0.1, 50, 500), rng.integers(1, 100_001, 500).astype(float)])
    b = np.concatenate([rng.uniform(0.1, 50, 500), rng.integers(1, 100_001, 500).astype(float)])
    x = rng.uniform(0, 1, 1000)
    x[:5] = [0.0, 1.0, 1e-12, 1 - 1e-12, 0.5]
    ours = stats._betainc(a, b, x)
    theirs = tf.math.betainc(tf.constant(a), tf.constant(b), tf.constant(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-9)
    assert ours[0] == 0.0 and ours[1] == 1.0
    assert stats._betainc(1.0, 1.0, 0.3) == pytest.approx(0.3, abs=1e-15)  # I_x(1, 1) = x
    assert stats._betainc(2.0, 1.0, 0.3) == pytest.approx(0.09, abs=1e-15)  # I_x(a, 1) = x^a
