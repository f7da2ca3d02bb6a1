"""Forecasters, their intervals, the forecast check, `monkeys plan` and the forecast-mode policy."""
import json
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import optimize, special

from analysis.allocate import forecast_plan
from analysis.counts import read_counts
from analysis.fit import fit_loglog_batch, fit_power_law, log_grid, power_law_coverage
from analysis.forecast import (METHODS, beta_coverage, fit_beta_batch, fit_forecast, pilot_curves)
from analysis.forecast_check import forecast_check, format_check, realisation_spread, same_problem_truth
from analysis.passk import coverage_curve, pass_at_k_matrix
from analysis.plots import plot_forecast
from analysis_fixtures import make_run, pythia_counts_path
from experiments.cli import main

CONFIG = """
[model]
name = "tiny"
[pricing]
gpu_hour_usd = 4.0
"""


def write_counts(path, n, c, model="m"):
    rows = ["model,problem_id,n,c"] + [f"{model},p{i},{a},{b}" for i, (a, b) in enumerate(zip(n, c))]
    path.write_text("\n".join(rows) + "\n")
    return path


def beta_pilot(alpha, beta, problems, m, seed):
    rng = np.random.default_rng(seed)
    p = rng.beta(alpha, beta, size=problems)
    return p, np.full(problems, m), rng.binomial(m, p)


# ---------------------------------------------------------------- power-law fit

def test_paper_rule_and_loglog_rule_recover_an_exact_power_law():
    k = np.arange(1, 10_001)
    for space in ("log", "loglog"):
        fit = fit_power_law(k, np.exp(-5.0 * k ** -0.3), space=space)
        assert fit["a"] == pytest.approx(-5.0, rel=1e-7) and fit["b"] == pytest.approx(-0.3, rel=1e-7)
    with pytest.raises(ValueError, match="space"):
        fit_power_law(k, np.exp(-5.0 * k ** -0.3), space="linear")


def test_loglog_batch_fit_agrees_with_the_single_fit_and_flags_empty_curves():
    k = log_grid(1, 500)
    rng = np.random.default_rng(3)
    curves = np.exp(-np.array([[4.0], [6.0]]) * k[None, :] ** -0.35 * np.exp(rng.normal(0, 0.02, (2, k.size))))
    a, b = fit_loglog_batch(k, np.vstack([curves, np.zeros((1, k.size))]))
    for i in range(2):
        one = fit_power_law(k, curves[i], space="loglog")
        assert a[i] == pytest.approx(one["a"], rel=1e-9) and b[i] == pytest.approx(one["b"], rel=1e-9)
    assert np.isnan(b[2])


def test_power_law_fit_reproduces_the_paper_on_pythia_math():
    path = pythia_counts_path()
    if not path.is_file():
        pytest.skip(f"shared Pythia counts not found at {path}; set MONKEYS_SHARED_DATA to the shared data folder")
    data = read_counts(path)
    # Brown et al. 2024, Fig. 5 (Pythia on MATH): 70M a = -7.59, b = -0.18; 12B a = -3.92, b = -0.35
    for model, (a, b) in {"Pythia 70M": (-7.59, -0.18), "Pythia 12B": (-3.92, -0.35)}.items():
        k, cov = coverage_curve(data[model]["n"], data[model]["c"])
        fit = fit_power_law(k, cov)
        assert abs(fit["a"] - a) <= 0.25 and abs(fit["b"] - b) <= 0.02, (model, fit["a"], fit["b"])


# ---------------------------------------------------------------- beta-binomial maximum likelihood

def test_batch_beta_binomial_fit_reaches_the_maximum_found_by_scipy():
    rows = [beta_pilot(a, b, 150, 60, seed)[1:] for seed, (a, b) in enumerate([(0.2, 10), (1.5, 3), (0.5, 20)])]
    n = np.stack([r[0] for r in rows])
    c = np.stack([r[1] for r in rows])
    alpha, beta, ll = fit_beta_batch(n, c)
    for i in range(3):
        def nll(t, i=i):
            return -np.sum(special.betaln(c[i] + np.exp(t[0]), n[i] - c[i] + np.exp(t[1])) - special.betaln(*np.exp(t)))
        ref = min((optimize.minimize(nll, s, method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-11,
                                                                              "maxiter": 4000})
                   for s in ([np.log(0.1), np.log(5)], [0.0, 0.0], [np.log(2), np.log(100)])), key=lambda r: r.fun)
        assert ll[i] >= -ref.fun - 1e-6
        assert ll[i] == pytest.approx(-nll(np.log([alpha[i], beta[i]])), rel=1e-12)


def test_counts_without_overdispersion_go_to_the_binomial_limit():
    rng = np.random.default_rng(12)
    n = np.full(300, 50)
    c = rng.binomial(n, 0.02)                    # every problem has the same rate
    alpha, beta, _ = fit_beta_batch(n, c)
    assert alpha[0] > 50 and beta[0] > 50 * 40   # concentrated: rates barely vary
    assert alpha[0] / (alpha[0] + beta[0]) == pytest.approx(c.sum() / n.sum(), rel=0.02)


def test_beta_coverage_matches_the_product_form():
    alpha, beta, K = 0.5, 4.0, 7
    expected = 1 - np.prod([(beta + j) / (alpha + beta + j) for j in range(K)])
    assert beta_coverage(K, alpha, beta) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- forecasters on known truth

def test_beta_binomial_forecaster_recovers_a_beta_population():
    p, n, c = beta_pilot(0.3, 8.0, 3000, 100, seed=1)
    fc = fit_forecast(n, c, "beta_binomial", num_boot=50, intervals=("population",))
    for K in (1000, 10_000):
        pop = fc.population([K])
        truth = beta_coverage(K, 0.3, 8.0)
        assert pop["coverage"][0] == pytest.approx(truth, abs=0.02)
        assert pop["low"][0] <= truth <= pop["high"][0]


def test_power_law_forecaster_fits_the_pilot_curve():
    # a large population, so the pilot's curve is close to the exact one at k <= m
    rng = np.random.default_rng(2)
    p = rng.beta(0.25, 3.0, size=20_000)
    m = 200
    c = rng.binomial(m, p)
    fc = fit_forecast(np.full(p.size, m), c, "power_law", num_boot=0)
    k = log_grid(1, m)
    exact = 1 - np.mean((1 - p[:, None]) ** k[None, :], axis=0)
    ref = fit_power_law(k, exact, space="loglog")
    got = fc.describe()
    assert got["a"] == pytest.approx(ref["a"], rel=0.02) and got["b"] == pytest.approx(ref["b"], rel=0.02)
    # new problems follow the fitted law itself
    assert fc.population([5000])["coverage"][0] == pytest.approx(power_law_coverage(5000, got["a"], got["b"]))


@pytest.mark.parametrize("method", list(METHODS))
def test_these_problems_keep_their_successes(method):
    _, n, c = beta_pilot(0.3, 6.0, 200, 50, seed=4)
    fc = fit_forecast(n, c, method, num_boot=60, seed=1)
    measured = coverage_curve(n, c)[1]
    same = fc.same([10, 50, 500, 5000])
    assert same["coverage"][:2] == pytest.approx([measured[9], measured[49]], rel=1e-12)
    assert same["low"][1] == same["high"][1] == pytest.approx(measured[49])     # known at k = n: no width
    solved = np.mean(c > 0)
    cov = same["coverage"]
    assert solved < cov[2] < cov[3] <= 1
    for lo, x, hi in zip(same["low"][2:], cov[2:], same["high"][2:]):
        assert solved <= lo <= x <= hi <= 1


def test_unequal_samples_use_measured_pass_at_k_where_available():
    n = np.array([10, 10, 40, 40])
    c = np.array([0, 3, 0, 8])
    fc = fit_forecast(n, c, "beta_binomial", num_boot=0)
    alpha, beta = fc.params[0]
    at20 = fc.same([20])["coverage"][0]
    stay = np.exp(special.betaln(alpha, beta + 20) - special.betaln(alpha, beta + 10))
    pass20_of_8_in_40 = 1 - special.comb(32, 20) / special.comb(40, 20)
    assert at20 == pytest.approx((1 - stay + 1 + 0 + pass20_of_8_in_40) / 4, rel=1e-9)


def test_pilot_without_successes_cannot_be_forecast():
    n, c = np.full(30, 20), np.zeros(30, dtype=int)
    for method in METHODS:
        fc = fit_forecast(n, c, method, num_boot=20)
        assert not fc.ok
        assert np.isnan(fc.same([100])["low"][0])


def test_pilot_curves_average_pass_at_k_per_row():
    n = np.array([[5, 5], [5, 5]])
    c = np.array([[0, 5], [1, 2]])
    got = pilot_curves(n, c, [1, 2])
    assert got[0] == pytest.approx([0.5, 0.5])
    assert got[1] == pytest.approx([(0.2 + 0.4) / 2, (0.4 + (1 - 3 / 10)) / 2])


# ---------------------------------------------------------------- calibration and the check

def test_same_problem_truth_by_enumeration():
    # one problem: 6 outcomes, 2 correct; the pilot drew 2 failures; K = 3 adds one of the other 4
    assert same_problem_truth(np.array([6]), np.array([2]), np.array([0]), 2, 3) == pytest.approx(0.5)
    assert same_problem_truth(np.array([6]), np.array([2]), np.array([1]), 2, 3) == 1.0
    n, c = np.array([100, 100, 100]), np.array([0, 3, 50])
    assert same_problem_truth(n, c, np.array([0, 0, 2]), 10, 100) == pytest.approx(np.mean(c > 0))


def test_intervals_are_calibrated_when_the_model_is_right():
    # rates really are Beta: the beta-binomial's 80% intervals should hold the truth about 80% of the time
    rng = np.random.default_rng(7)
    p = rng.beta(0.5, 6.0, size=300)
    n = np.full(p.size, 400)
    c = rng.binomial(n, p)
    res = forecast_check(n, c, m=40, target=400, repeats=20, methods=("beta_binomial",), num_boot=100, level=0.8)
    for kind in ("same", "held_out"):
        stats = res[kind]["beta_binomial"]
        assert 0.6 <= stats["interval_hits"] <= 0.97, (kind, stats["interval_hits"])
        assert stats["mean_abs_error"] < 0.04
    # a too-narrow level covers less often: the hit rate follows the level
    narrow = forecast_check(n, c, m=40, target=400, repeats=20, methods=("beta_binomial",), num_boot=100,
                            level=0.3, holdout=False)
    assert narrow["same"]["beta_binomial"]["interval_hits"] < res["same"]["beta_binomial"]["interval_hits"]


@pytest.mark.parametrize("K", [1000, 100])
def test_realisation_spread_matches_fresh_runs_of_known_rates(K):
    # 300 problems with known rates, 1,000 outcomes each, drawn afresh many times: the check's
    # truth (the unbiased pass@K of all outcomes; at K = n, solved or not) scatters about what a
    # forecaster that knew the rates would say, mean(1 - (1 - p)^K), by what the floor computes
    # from one draw's counts
    rng = np.random.default_rng(11)
    p = rng.beta(0.3, 3.0, size=300)
    n = np.full(p.size, 1000)
    q = -np.expm1(K * np.log1p(-p))
    truths = np.array([pass_at_k_matrix(n, rng.binomial(n, p), K)[:, K - 1].mean() for _ in range(500)])
    floor = realisation_spread(n, rng.binomial(n, p), K)
    assert floor["sd"] == pytest.approx(truths.std(), rel=0.2)
    assert floor["mean_abs"] == pytest.approx(np.mean(np.abs(truths - q.mean())), rel=0.2)


def test_realisation_spread_edge_cases():
    n = np.full(300, 1000)
    # every rate far above 1/K: every problem is solved in any draw, nothing is left to chance
    assert realisation_spread(n, np.random.default_rng(1).binomial(n, 0.2), 1000)["sd"] < 1e-6
    # a truth averaged over many K-subsets of the outcomes (K << n) scatters less than a single draw (K = n)
    c = np.random.default_rng(2).binomial(n, np.random.default_rng(3).beta(0.3, 3.0, size=300))
    assert realisation_spread(n, c, 100)["sd"] < realisation_spread(n, c, 1000)["sd"]
    assert realisation_spread(np.full(5, 10), np.zeros(5, dtype=int), 10)["sd"] is None
    with pytest.raises(ValueError, match="fewest"):
        realisation_spread(n, c, 2000)


def test_forecast_check_reports_what_it_measured():
    _, n, c = beta_pilot(0.4, 3.0, 120, 500, seed=5)
    res = forecast_check(n, c, m=25, repeats=4, num_boot=30)
    assert res["truth"] == pytest.approx(coverage_curve(n, c)[1][-1])
    assert res["floor"] == realisation_spread(n, c, 500)
    assert "floor" in format_check({"m": res})
    for kind in ("same", "held_out"):
        for method in METHODS:
            s = res[kind][method]
            f, t = np.array(s["forecasts"], dtype=float), np.array(s["truths"])
            assert s["mean_abs_error"] == pytest.approx(np.mean(np.abs(f - t)))
            assert s["mean_error"] == pytest.approx(np.mean(f - t))
            assert 0 <= s["interval_hits"] <= 1 and s["mean_width"] > 0
    with pytest.raises(ValueError, match="exceeds"):
        forecast_check(n, c, m=600)
    with pytest.raises(ValueError, match="target"):
        forecast_check(n, c, m=25, target=20)
    with pytest.raises(ValueError, match="unknown forecast"):
        forecast_check(n, c, m=25, methods=("oracle",))


# ---------------------------------------------------------------- command line

def run_cli(command, argv, capsys):
    code = main([command, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_error(result, *words):
    code, out, err = result
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], lines[0]


def test_analyze_forecast_check_on_counts_and_bad_input(tmp_path, capsys):
    _, n, c = beta_pilot(0.4, 3.0, 60, 200, seed=6)
    path = str(write_counts(tmp_path / "counts.csv", n, c))
    code, out, _ = run_cli("analyze", ["--counts", path, "--out", str(tmp_path), "--bootstrap", "20",
                                          "--forecast-check", "20", "--repeats", "2", "--forecast-bootstrap", "20"],
                           capsys)
    assert code == 0 and "held-out problems" in out and "power law" in out
    rep = json.loads((tmp_path / "report.json").read_text())
    assert set(rep["models"]["m"]["forecast_check"]["same"]) == set(METHODS)
    base = ["--counts", path, "--out", str(tmp_path)]
    assert_error(run_cli("analyze", base + ["--forecast-check", "500"], capsys), "exceeds")
    assert_error(run_cli("analyze", base + ["--forecast-check", "20", "--methods", "crystal_ball"], capsys),
                 "crystal_ball")
    assert_error(run_cli("analyze", base + ["--forecast-check", "20", "--target", "10"], capsys), "target")
    assert_error(run_cli("analyze", base + ["--forecast-check", "20", "--repeats", "0"], capsys), "--repeats")


def test_analyze_forecast_check_on_a_run_directory(tmp_path, capsys):
    rng = np.random.default_rng(8)
    correct = {f"p{i}": list(rng.random(40) < rate) for i, rate in enumerate(rng.beta(0.5, 4.0, size=24))}
    run = make_run(tmp_path / "run", correct, config=CONFIG)
    code, out, _ = run_cli("analyze", [str(run), "--bootstrap", "20", "--forecast-check", "8", "--repeats", "2",
                                          "--forecast-bootstrap", "20"], capsys)
    assert code == 0 and "coverage@40 from 8 samples" in out
    assert "forecast_check" in json.loads((run / "report.json").read_text())


def test_plan_from_counts_prints_forecasts_and_samples_only(tmp_path, capsys):
    _, n, c = beta_pilot(0.3, 5.0, 150, 100, seed=9)
    path = str(write_counts(tmp_path / "pilot.csv", n, c))
    code, out, _ = run_cli("plan", ["--counts", path, "--target", "80%", "--bootstrap", "40",
                                       "--plot", str(tmp_path / "fc"), "--json", str(tmp_path / "plan.json")], capsys)
    assert code == 0
    assert "100  " in out and "measured" in out and "10,000" in out and "target 80.0% coverage" in out
    assert "samples only" in out
    res = json.loads((tmp_path / "plan.json").read_text())["m"]
    k = res["target"]["k"]
    assert k is not None and k > 100
    assert res["budget"]["k"]["samples"] == k * 150 and res["budget"]["k"]["samples_beyond_pilot"] == (k - 100) * 150
    assert "tokens" not in res["budget"]["k"]
    assert (tmp_path / "fc.png").stat().st_size > 0


def test_plan_from_a_run_directory_costs_tokens_hours_and_dollars(tmp_path, capsys):
    rng = np.random.default_rng(10)
    correct = {f"p{i}": list(rng.random(30) < rate) for i, rate in enumerate(rng.beta(0.6, 4.0, size=20))}
    run = make_run(tmp_path / "run", correct, config=CONFIG)
    code, out, _ = run_cli("plan", [str(run), "--target", "0.7", "--k", "10,100,1000", "--bootstrap", "30",
                                       "--json", str(tmp_path / "plan.json")], capsys)
    assert code == 0 and "GPU-hours" in out and "dollars" in out and "tokens" in out
    res = json.loads((tmp_path / "plan.json").read_text())["tiny"]
    b = res["budget"]["k"]
    assert b["gpu_hours"] > 0 and b["dollars"] == pytest.approx(4.0 * b["gpu_hours"])
    assert b["tokens"] > 0 and b["samples"] == res["target"]["k"] * 20


def test_plan_bad_input_gives_one_error_line(tmp_path, capsys):
    _, n, c = beta_pilot(0.3, 5.0, 40, 50, seed=11)
    path = str(write_counts(tmp_path / "pilot.csv", n, c))
    zeros = str(write_counts(tmp_path / "zeros.csv", n, np.zeros_like(c)))
    assert_error(run_cli("plan", [], capsys), "RUN_DIR")
    assert_error(run_cli("plan", [str(tmp_path), "--counts", path], capsys), "exactly one")
    assert_error(run_cli("plan", ["--counts", path, "--target", "lots"], capsys), "--target")
    assert_error(run_cli("plan", ["--counts", path, "--target", "150%"], capsys), "between")
    assert_error(run_cli("plan", ["--counts", path, "--model", "gpt-7"], capsys), "gpt-7")
    assert_error(run_cli("plan", ["--counts", path, "--method", "tea_leaves"], capsys), "tea_leaves")
    assert_error(run_cli("plan", ["--counts", path, "--k", "ten"], capsys), "--k")
    assert_error(run_cli("plan", ["--counts", zeros], capsys), "cannot be fitted")
    assert_error(run_cli("plan", ["--counts", str(tmp_path / "missing.csv")], capsys), "missing.csv")
    assert_error(run_cli("plan", [str(tmp_path / "no-run")], capsys), "no-run")


def test_forecast_plot_is_written(tmp_path):
    paths = plot_forecast({"k": [1, 10, 100], "coverage": [0.1, 0.2, 0.3]},
                          {"k": [100, 1000], "coverage": [0.3, 0.5], "low": [0.3, 0.4], "high": [0.3, 0.6],
                           "level": 0.9, "method": "power law"}, tmp_path / "f", measured={"k": [1, 1000],
                                                                                           "coverage": [0.1, 0.55]})
    assert paths[0].endswith(".png") and (tmp_path / "f.png").stat().st_size > 10_000


# ---------------------------------------------------------------- forecast-mode pilot policy

@dataclass(frozen=True)
class T:
    attempts: int = 0
    successes: int = 0
    pending: int = 0


def test_policy_first_fills_the_uniform_pilot():
    state = {"a": T(), "b": T(4, 1), "c": T(1, 0, 2)}
    assert forecast_plan(state, total=100, min_samples=5, cap=50) == {"a": 5, "b": 1, "c": 2}
    # not enough for everyone: the least-used first
    assert forecast_plan(state, total=7 + 3, min_samples=5, cap=50) == {"a": 3}


def test_policy_then_gives_samples_to_the_hardest_open_problems():
    state = {"easy": T(10, 6), "one": T(10, 1), "zero": T(10, 0), "zero_long": T(30, 0), "busy": T(10, 0, 4),
             "capped": T(40, 0)}
    got = forecast_plan(state, total=110 + 4 + 3, min_samples=10, cap=40, stop_after=3, step=2)
    assert got == {"zero": 2, "zero_long": 1}              # fewest successes, then fewest samples
    got = forecast_plan(state, total=200, min_samples=10, cap=40, stop_after=3, step=20)
    assert got == {"one": 20, "zero": 20, "zero_long": 10}   # cap respected; solved-enough and busy wait
    assert forecast_plan(state, total=114, min_samples=10, cap=40) == {}


def test_policy_rejects_a_bad_budget():
    with pytest.raises(ValueError, match="min_samples"):
        forecast_plan({}, total=10, min_samples=5, cap=2)
