"""pass@k estimator: exact against rational arithmetic, unequal n, hostile counts, intervals."""
import math
from fractions import Fraction

import numpy as np
import pytest

from analysis.intervals import bootstrap_coverage
from analysis.forecast import beta_coverage
from analysis.passk import CountsError, coverage_curve, pass_at_k_matrix


def exact_pass_at_k(n, c, k):
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


@pytest.mark.parametrize("n,c", [(1, 0), (1, 1), (5, 2), (10, 10), (37, 1), (200, 3), (200, 197), (1000, 17)])
def test_matches_exact_rational_for_every_k(n, c):
    row = pass_at_k_matrix([n], [c])[0]
    exact = [float(exact_pass_at_k(n, c, k)) for k in range(1, n + 1)]
    np.testing.assert_allclose(row, exact, rtol=0, atol=1e-12)


def test_large_n_against_exact_at_sampled_k():
    n, c = 10_000, 8
    row = pass_at_k_matrix([n], [c])[0]
    for k in (1, 2, 10, 100, 999, 5000, 9992, 9993, 10_000):
        assert abs(row[k - 1] - float(exact_pass_at_k(n, c, k))) < 1e-12


def test_tiny_values_keep_relative_precision():
    n, c = 10_000, 1
    row = pass_at_k_matrix([n], [c])[0]
    assert row[0] == pytest.approx(1e-4, rel=1e-13)


def test_coverage_is_mean_over_problems():
    n = [12, 12, 12, 12]
    c = [0, 1, 6, 12]
    k, cov = coverage_curve(n, c)
    assert k.tolist() == list(range(1, 13))
    for kk in k:
        exact = sum(exact_pass_at_k(ni, ci, kk) for ni, ci in zip(n, c)) / 4
        assert abs(cov[kk - 1] - float(exact)) < 1e-12


def test_unequal_n_reports_up_to_min_n_with_every_problem():
    n = [5, 9, 30]
    c = [1, 4, 2]
    k, cov = coverage_curve(n, c)
    assert k[-1] == 5
    for kk in k:
        exact = sum(exact_pass_at_k(ni, ci, kk) for ni, ci in zip(n, c)) / 3
        assert abs(cov[kk - 1] - float(exact)) < 1e-12
    m = pass_at_k_matrix(n, c)
    assert np.isnan(m[0, 5:]).all() and not np.isnan(m[2]).any()


def test_chunking_does_not_change_result():
    rng = np.random.default_rng(3)
    n = np.full(3000, 1000)
    c = rng.integers(0, 1001, size=3000)
    _, cov = coverage_curve(n, c)
    direct = np.nanmean(pass_at_k_matrix(n, c), axis=0)
    np.testing.assert_allclose(cov, direct, atol=1e-12)


@pytest.mark.parametrize("n,c,msg", [
    ([5], [6], "c > n"),
    ([5], [-1], ">= 0"),
    ([-5], [0], ">= 0"),
    ([5.5], [1], "whole numbers"),
    ([5], [1.25], "whole numbers"),
    ([5], [np.nan], "whole numbers"),
    ([0], [0], "at least one sample"),
    ([], [], "empty"),
    ([5, 6], [1], "equal length"),
    (["x"], [1], "whole numbers|numeric"),
])
def test_hostile_counts_raise_clear_errors(n, c, msg):
    with pytest.raises(CountsError, match=msg):
        coverage_curve(n, c)


def test_integral_floats_are_accepted():
    k, cov = coverage_curve([4.0, 4.0], [1.0, 0.0])
    assert cov[0] == pytest.approx(0.125)


def test_bootstrap_intervals_cover_truth():
    """95% intervals contain the population coverage in at least 90% of simulated benchmarks."""
    rng = np.random.default_rng(7)
    alpha, beta, problems, n = 0.4, 3.0, 80, 25
    ks = np.array([1, 5, 25])
    truth = beta_coverage(ks, alpha, beta)
    hits = np.zeros(len(ks))
    trials = 300
    for t in range(trials):
        p = rng.beta(alpha, beta, size=problems)
        c = rng.binomial(n, p)
        low, high = bootstrap_coverage(np.full(problems, n), c, ks, num_boot=400, seed=t)
        hits += (low <= truth) & (truth <= high)
    assert (hits / trials >= 0.90).all(), hits / trials


def test_bootstrap_degenerate_small_run():
    low, high = bootstrap_coverage([4, 4], [4, 4], [1, 2, 4], num_boot=50)
    assert np.allclose(low, 1) and np.allclose(high, 1)
