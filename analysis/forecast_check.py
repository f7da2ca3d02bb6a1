"""How well does a pilot of m samples per problem forecast coverage at a larger K?

Take a data set where every problem has n >= K real outcomes. Each repeat draws m of each
problem's n outcomes without replacement (c' correct, a hypergeometric draw: the outcomes are
exchangeable), fits every forecaster to those counts and compares with the truth two ways:

- **held-out samples** (same problems): the forecast of these problems extended to K samples,
  the pilot's among them, against the same thing computed from all n outcomes: a problem solved
  in the pilot is solved; one that is not is solved with the probability that K - m further
  draws from its remaining n - m outcomes hold a success. At K = n that is "c > 0".
- **held-out problems**: a random half of the problems is the pilot; the forecast for new
  problems (a set of the other half's size) is compared with the other half's coverage at K
  from all its outcomes.

Reported per forecaster: mean absolute error, mean signed error, and how often the interval at
the given level held the truth, with its mean width. Reported once per data set: the floor, how
far the realised coverage at K sits from the coverage a forecaster that knew every problem's rate
would give (``realisation_spread``). Which of the hard problems happen to get a success in K
samples is itself random, so no forecaster's error on one data set can be expected below it.
"""
from __future__ import annotations

import numpy as np

from scipy import special, stats

from .forecast import METHODS, fit_beta_batch, fit_forecast
from .passk import _rows, coverage_curve, validate_counts


def same_problem_truth(n, c, c_pilot, m: int, K: int) -> float:
    """Coverage at K of these problems when the K samples include the pilot's m."""
    rest_n, rest_c = n - m, c - c_pilot
    unsolved = c_pilot == 0
    if K <= m:
        raise ValueError(f"target K = {K} must exceed the pilot's m = {m}")
    p_rest = np.zeros(n.size)
    live = unsolved & (rest_c > 0)
    if live.any():
        p_rest[live] = _rows(rest_n[live], rest_c[live], K - m)[:, K - m - 1]
    return float(np.mean(np.where(unsolved, p_rest, 1.0)))


def realisation_spread(n, c, K: int) -> dict:
    """How far chance alone puts this check's truth at K from a forecaster that knew every rate.

    The check's truth for a problem is the unbiased pass@K of all its n outcomes (at K = n:
    solved or not). A forecaster that knew the problem's rate p would forecast 1 - (1 - p)^K, and
    the truth scatters about it because the n outcomes are themselves a random draw:

        Var[truth | p] = sum_j h_j s^(2K - j) - s^(2K),     s = 1 - p,

    where h_j is the chance that two random K-subsets of the n outcomes share j of them
    (hypergeometric; at K = n always j = n, and the variance is q (1 - q), q = 1 - s^n). The rates
    are unknown, so s^t is averaged over each problem's empirical-Bayes posterior
    Beta(alpha + c_i, beta + n_i - c_i) (the beta-binomial fit of (n, c)) in closed form, and the
    problems' variances add (divided by N^2). Returns {"sd", "mean_abs" (= sd * sqrt(2 / pi):
    the expected absolute error of that forecaster on one data set), "alpha", "beta"}; all None
    where nothing is solved. Needs K <= min n.
    """
    n, c = validate_counts(n, c)
    K = int(K)
    if not 1 <= K <= n.min():
        raise ValueError(f"K = {K} must lie in [1, {int(n.min())}] (the fewest samples of any problem)")
    if c.sum() == 0:
        return {"sd": None, "mean_abs": None, "alpha": None, "beta": None}
    alpha, beta, _ = fit_beta_batch(n[None, :], c[None, :])
    a, b = alpha[0] + c, beta[0] + n - c

    def moment(t, rows):                                    # E[s^t] under each problem's posterior
        return np.exp(special.betaln(a[rows, None], b[rows, None] + t) - special.betaln(a[rows, None], b[rows, None]))

    var = 0.0
    for size in np.unique(n).tolist():
        rows = np.flatnonzero(n == size)
        j = np.arange(max(0, 2 * K - size), K + 1)
        h = stats.hypergeom(size, K, K).pmf(j)
        keep = h > 1e-15 * h.max()
        j, h = j[keep], h[keep] / h[keep].sum()
        var += float(np.sum(moment(2 * K - j, rows) @ h - moment(np.array([2 * K]), rows)[:, 0]))
    sd = float(np.sqrt(max(var, 0.0))) / n.size
    return {"sd": sd, "mean_abs": sd * float(np.sqrt(2 / np.pi)), "alpha": float(alpha[0]), "beta": float(beta[0])}


def forecast_check(n, c, m: int, target: int | None = None, repeats: int = 20, seed: int = 0,
                   methods=tuple(METHODS), num_boot: int = 200, level: float = 0.9,
                   holdout: bool = True) -> dict:
    """Forecast check of `methods` on counts (n, c); see the module docstring.

    Returns {"m", "target_k", "repeats", "level", "truth" (full-data coverage at target), "floor"
    (realisation_spread of all outcomes at target), "same": {method: stats}, "held_out": {method:
    stats}} where stats holds mean_abs_error,
    mean_error, interval_hits (share of repeats whose interval held the truth), mean_width,
    failed (repeats where the forecaster could not be fitted) and the per-repeat forecasts.
    """
    n, c = validate_counts(n, c)
    target = int(n.min()) if target is None else int(target)
    if m < 2:
        raise ValueError(f"the pilot needs at least 2 samples per problem, got m = {m}")
    if m > n.min():
        raise ValueError(f"m = {m} exceeds the fewest samples of any problem ({int(n.min())})")
    if not m < target <= n.min():
        raise ValueError(f"target K = {target} must lie in ({m}, {int(n.min())}]: above the pilot, "
                         "within the samples every problem has")
    unknown = [x for x in methods if x not in METHODS]
    if unknown:
        raise ValueError(f"unknown forecast method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    N = n.size
    if holdout and N < 4:
        raise ValueError(f"held-out problems need at least 4 problems, got {N}")
    truth_full = float(coverage_curve(n, c, target)[1][-1])
    rows = {kind: {meth: [] for meth in methods} for kind in ("same", "held_out")}
    for r in range(repeats):
        rng = np.random.default_rng([seed, r])
        c_sub = rng.hypergeometric(c, n - c, m)
        n_sub = np.full(N, m)
        truth = same_problem_truth(n, c, c_sub, m, target)
        perm = rng.permutation(N)
        half_a, half_b = np.sort(perm[: N // 2]), np.sort(perm[N // 2:])
        truth_b = float(coverage_curve(n[half_b], c[half_b], target)[1][-1])
        for meth in methods:
            fc = fit_forecast(n_sub, c_sub, meth, num_boot=num_boot, level=level, seed=seed * 7919 + r,
                              intervals=("same",))
            s = fc.same([target])
            rows["same"][meth].append((s["coverage"][0], s["low"][0], s["high"][0], truth))
            if holdout:
                fa = fit_forecast(n_sub[half_a], c_sub[half_a], meth, num_boot=num_boot, level=level,
                                  seed=seed * 7919 + r, intervals=("population",))
                p = fa.population([target], size=half_b.size, seed=seed * 7919 + r)
                rows["held_out"][meth].append((p["coverage"][0], p["low"][0], p["high"][0], truth_b))
    out = {"m": m, "target_k": target, "repeats": repeats, "level": level, "truth": truth_full,
           "floor": realisation_spread(n, c, target), "num_problems": N, "same": {}, "held_out": {}}
    for kind in ("same", "held_out") if holdout else ("same",):
        for meth in methods:
            out[kind][meth] = _stats(np.array(rows[kind][meth], dtype=np.float64))
    return out


def _stats(arr: np.ndarray) -> dict:
    """arr: (repeats, 4) of forecast, low, high, truth."""
    f, lo, hi, t = arr.T
    ok = np.isfinite(f)
    iv = ok & np.isfinite(lo) & np.isfinite(hi)
    err = f[ok] - t[ok]
    return {"mean_abs_error": float(np.mean(np.abs(err))) if ok.any() else None,
            "mean_error": float(np.mean(err)) if ok.any() else None,
            "interval_hits": float(np.mean((lo[iv] <= t[iv]) & (t[iv] <= hi[iv]))) if iv.any() else None,
            "mean_width": float(np.mean(hi[iv] - lo[iv])) if iv.any() else None,
            "failed": int((~ok).sum()),
            "forecasts": [None if not np.isfinite(x) else float(x) for x in f],
            "truths": t.tolist()}


def format_check(results: dict[str, dict]) -> str:
    """A table per check: one row per model, per forecaster MAE / bias / interval hits / width (points)."""
    first = next(iter(results.values()))
    methods = list(first["same"])
    lines = [f"forecast check: coverage@{first['target_k']} from {first['m']} samples per problem, "
             f"{first['repeats']} draws, {round(100 * first['level'])}% intervals; errors in percentage points"]
    width = max(len(name) for name in results) + 2
    for kind, title in (("same", "held-out samples (same problems)"),
                        ("held_out", "held-out problems (fit on a random half, forecast the other half)")):
        if not first.get(kind):
            continue
        lines.append(title + ":")
        floor = kind == "same" and all("floor" in res for res in results.values())
        head = f"{'model':<{width}}{'truth':>7}" + (f"{'floor':>7}" if floor else "") + "".join(
            f" | {METHODS[x].label:>13} MAE  bias  hits width" for x in methods)
        lines.append(head)
        for name, res in results.items():
            truth = res["truth"] if kind == "same" else np.mean(res[kind][methods[0]]["truths"])
            cells = [] if not floor else [f"{'-':>7}" if res["floor"]["mean_abs"] is None
                                          else f"{100 * res['floor']['mean_abs']:7.2f}"]
            for x in methods:
                s = res[kind][x]
                if s["mean_abs_error"] is None:
                    cells.append(f" | {'(no fit)':>30}")
                    continue
                hits = "  -  " if s["interval_hits"] is None else f"{s['interval_hits']:5.2f}"
                wid = "  -  " if s["mean_width"] is None else f"{100 * s['mean_width']:5.1f}"
                fail = f" ({s['failed']} failed)" if s["failed"] else ""
                cells.append(f" | {100 * s['mean_abs_error']:17.2f} {100 * s['mean_error']:+5.1f} {hits} {wid}{fail}")
            lines.append(f"{name:<{width}}{100 * truth:7.2f}" + "".join(cells))
        if floor:
            lines.append("(floor: the mean absolute error of a forecaster that knew every problem's rate, from "
                         "the chance in which hard problems the full sample happened to solve)")
    return "\n".join(lines)
