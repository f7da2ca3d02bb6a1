"""Exponentiated power law: log(coverage) = a * k^b (Brown et al. 2024, §3), a < 0, b < 0.

Two ways to fit the same law, one per purpose, both on log-spaced k so that each decade of k
weighs the same (a uniform grid of k = 1..10,000 would let the last decade decide the fit):

- space="log" (the default, for describing a measured curve): least squares of log(coverage)
  against a * k^b over `points` log-spaced k. This is the rule that reproduces the paper's
  Pythia numbers (Fig. 5: 70M a = -7.59, b = -0.18; 12B a = -3.92, b = -0.35); it gives
  -7.67/-0.184 and -3.98/-0.352 on the released counts.
- space="loglog" (for extrapolating a pilot): taking logs twice makes the law a line,
  log(-log c) = log(-a) + b log k, fitted by ordinary least squares. On the Pythia forecast
  check this linear fit extrapolates coverage@10,000 from 100 samples better than the log-space
  fit (docs/forecast.md), so the power-law forecaster uses it.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize

RULES = {
    "log": "least squares of log(coverage) against a*k^b over log-spaced k",
    "loglog": "ordinary least squares of log(-log coverage) on log k over log-spaced k",
}


def log_grid(k_lo: int, k_hi: int, points: int = 40) -> np.ndarray:
    """Distinct integers spread evenly in log k over [k_lo, k_hi], both ends included."""
    g = np.unique(np.round(np.geomspace(k_lo, k_hi, points)).astype(np.int64))
    return g[(g >= k_lo) & (g <= k_hi)]


def fit_power_law(k, coverage, k_range: tuple[int, int] | None = None, points: int = 40,
                  space: str = "log") -> dict:
    """Fit log c = a k^b to a coverage curve given at k (k and coverage aligned).

    Points with coverage 0 or 1 carry no information for the transform and are skipped.
    Returns a, b, the k range used, the number of points, the rule, and residuals (RMS in
    log(-log c) and in coverage units). a = b = None when fewer than 2 points qualify.
    """
    if space not in RULES:
        raise ValueError(f"space must be one of {', '.join(RULES)}, got {space!r}")
    k = np.asarray(k, dtype=np.int64)
    cov = np.asarray(coverage, dtype=np.float64)
    lo, hi = (int(k.min()), int(k.max())) if k_range is None else (int(k_range[0]), int(k_range[1]))
    grid = log_grid(max(lo, int(k.min())), min(hi, int(k.max())), points)
    lookup = dict(zip(k.tolist(), cov.tolist()))
    kk = np.array([g for g in grid if g in lookup], dtype=np.float64)
    cc = np.array([lookup[int(g)] for g in kk])
    ok = (cc > 0) & (cc < 1)
    kk, cc = kk[ok], cc[ok]
    result = {"a": None, "b": None, "k_min": lo, "k_max": hi, "points": int(kk.size), "rule": RULES[space],
              "rmse_loglog": None, "rmse_coverage": None}
    if kk.size < 2:
        return result
    x, y = np.log(kk), np.log(-np.log(cc))
    b, intercept = np.polyfit(x, y, 1)
    if space == "log":
        logc = np.log(cc)
        sol = optimize.least_squares(lambda t: -np.exp(t[0]) * kk ** t[1] - logc, [intercept, b],
                                     xtol=1e-14, ftol=1e-14, gtol=1e-14)
        intercept, b = sol.x
    a = -float(np.exp(intercept))
    resid = y - (intercept + b * x)
    pred = np.exp(a * kk ** b)
    result.update(a=a, b=float(b), rmse_loglog=float(np.sqrt(np.mean(resid ** 2))),
                  rmse_coverage=float(np.sqrt(np.mean((pred - cc) ** 2))))
    return result


def fit_loglog_batch(k, curves) -> tuple[np.ndarray, np.ndarray]:
    """The space="loglog" fit of many curves at once: curves is (B, len(k)), aligned with k.

    Returns arrays a, b of length B; NaN where fewer than 2 points lie strictly inside (0, 1).
    """
    x = np.log(np.asarray(k, dtype=np.float64))
    cur = np.asarray(curves, dtype=np.float64)
    ok = (cur > 0) & (cur < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(ok, np.log(-np.log(np.where(ok, cur, 0.5))), 0.0)
    w = ok.astype(np.float64)
    sw, sx, sy = w.sum(1), w @ x, (w * y).sum(1)
    sxx, sxy = w @ (x * x), (w * y) @ x
    den = sw * sxx - sx ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(sw >= 2, (sw * sxy - sx * sy) / den, np.nan)
        intercept = (sy - b * sx) / sw
    b = np.where(np.abs(den) > 1e-12, b, np.nan)
    return -np.exp(intercept), b


def power_law_coverage(k, a: float, b: float) -> np.ndarray:
    """Coverage predicted by the fit at k (works for k beyond the data)."""
    return np.exp(a * np.asarray(k, dtype=np.float64) ** b)
