"""Power-law fit, Beta fit and FLOPs formula (forecasters: test_analysis_forecast.py)."""
import math

import numpy as np
import pytest

from analysis.compute import axes_at, flops_per_token, measured_gpu_hours, problem_costs, span_flops
from analysis.fit import fit_power_law, power_law_coverage
from analysis.forecast import beta_coverage, fit_beta


@pytest.mark.parametrize("a,b", [(-5.0, -0.3), (-2.0, -0.6), (-8.0, -0.19)])
def test_fit_recovers_known_power_law(a, b):
    k = np.arange(1, 10_001)
    fit = fit_power_law(k, np.exp(a * k ** b))
    assert fit["a"] == pytest.approx(a, rel=1e-9)
    assert fit["b"] == pytest.approx(b, rel=1e-9)
    assert fit["rmse_coverage"] < 1e-12 and fit["k_min"] == 1 and fit["k_max"] == 10_000


def test_fit_recovers_power_law_under_noise():
    rng = np.random.default_rng(0)
    k = np.arange(1, 2001)
    cov = np.exp(-4.0 * k ** -0.35 * np.exp(rng.normal(0, 0.01, k.size)))
    fit = fit_power_law(k, cov)
    assert fit["a"] == pytest.approx(-4.0, rel=0.02)
    assert fit["b"] == pytest.approx(-0.35, rel=0.02)


def test_fit_respects_range_and_skips_degenerate_points():
    k = np.arange(1, 101)
    cov = np.exp(-3.0 * k ** -0.5)
    cov[:5] = 0.0
    fit = fit_power_law(k, cov, k_range=(10, 100))
    assert (fit["k_min"], fit["k_max"]) == (10, 100)
    assert fit["b"] == pytest.approx(-0.5, rel=1e-9)
    assert fit_power_law([1, 2], [0.0, 0.0])["a"] is None


def test_beta_coverage_matches_closed_form_and_sum():
    alpha, beta, K = 0.5, 4.0, 7
    # E[(1-p)^K] = prod_{j<K} (beta + j) / (alpha + beta + j)
    expected = 1 - math.prod((beta + j) / (alpha + beta + j) for j in range(K))
    assert beta_coverage(K, alpha, beta) == pytest.approx(expected, rel=1e-12)


def test_fit_beta_recovers_parameters():
    rng = np.random.default_rng(1)
    p = rng.beta(0.3, 5.0, size=4000)
    c = rng.binomial(200, p)
    fit = fit_beta(np.full(4000, 200), c)
    assert fit["alpha"] == pytest.approx(0.3, rel=0.1)
    assert fit["beta"] == pytest.approx(5.0, rel=0.2)


def test_flops_formula_on_known_config():
    params, layers, d = 1_000_000, 2, 8
    assert flops_per_token(params, layers, d, 0) == 2_000_000
    assert flops_per_token(params, layers, d, 10) == 2 * (1_000_000 + 2 * 2 * 8 * 10)
    # prompt of 3 tokens (positions 0..2), then samples of 2 and 4 tokens from position 3
    by_hand_prompt = sum(flops_per_token(params, layers, d, L) for L in range(3))
    s1 = sum(flops_per_token(params, layers, d, L) for L in range(3, 5))
    s2 = sum(flops_per_token(params, layers, d, L) for L in range(3, 7))
    assert span_flops(params, layers, d, 0, 3) == by_hand_prompt
    info = {"parameters": params, "layers": layers, "d_model": d}
    costs = problem_costs([3, 3], [2, 4], [0, 0], 1, info)
    assert costs["prompt_flops"][0] == by_hand_prompt
    assert costs["mean_completion_flops"][0] == (s1 + s2) / 2
    axes = axes_at([1, 2], costs)
    assert axes["flops"] == [by_hand_prompt + (s1 + s2) / 2, by_hand_prompt + (s1 + s2)]
    assert axes["tokens"] == [3.0, 6.0]


def test_dollars_from_api_prices_and_from_measured_hours():
    costs = problem_costs([100, 100], [10, 30], [0, 0], 1)
    api = axes_at([1, 2], costs, {"input_usd_per_mtok": 2.0, "output_usd_per_mtok": 10.0})
    assert api["dollars"] == pytest.approx([100 * 2e-6 + 20 * 10e-6, 100 * 2e-6 + 40 * 10e-6])
    hours = measured_gpu_hours([1800.0, 1800.0, 900.0, 900.0])
    assert hours == pytest.approx(1.5)
    assert measured_gpu_hours([1800.0, 1800.0], gpus_per_worker=4) == pytest.approx(4.0)
    hosted = axes_at([1, 2], costs, {"gpu_hour_usd": 4.0}, gpu_hours_per_sample=0.25)
    assert hosted["dollars"] == pytest.approx([1.0, 2.0])
    assert "dollars" not in axes_at([1], costs)
