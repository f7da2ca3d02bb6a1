"""Exponentiated power law: log(coverage) = a * k^b (Brown et al. 2024, §3), a < 0, b < 0.

Taking logs twice makes it a line, log(-log c) = log(-a) + b log k, fitted by least squares
over log-spaced k so that each decade of k weighs the same (a uniform grid of k = 1..10,000
would let the last decade decide the fit).
"""
from __future__ import annotations

import numpy as np


def log_grid(k_lo: int, k_hi: int, points: int = 100) -> np.ndarray:
    """Distinct integers spread evenly in log k over [k_lo, k_hi], both ends included."""
    g = np.unique(np.round(np.geomspace(k_lo, k_hi, points)).astype(np.int64))
    return g[(g >= k_lo) & (g <= k_hi)]


def fit_power_law(k, coverage, k_range: tuple[int, int] | None = None, points: int = 100) -> dict:
    """Fit log c = a k^b to a coverage curve given at k (1-based integers, coverage[k-1] style
    arrays are not assumed: k and coverage are aligned).

    Points with coverage 0 or 1 carry no information for the transform and are skipped.
    Returns a, b, the k range used, the number of points, and residuals (RMS in log(-log c)
    and in coverage units). Returns a dict with a = b = None when fewer than 2 points qualify.
    """
    k = np.asarray(k, dtype=np.int64)
    cov = np.asarray(coverage, dtype=np.float64)
    lo, hi = (int(k.min()), int(k.max())) if k_range is None else (int(k_range[0]), int(k_range[1]))
    grid = log_grid(max(lo, int(k.min())), min(hi, int(k.max())), points)
    lookup = dict(zip(k.tolist(), cov.tolist()))
    kk = np.array([g for g in grid if g in lookup], dtype=np.float64)
    cc = np.array([lookup[int(g)] for g in kk])
    ok = (cc > 0) & (cc < 1)
    kk, cc = kk[ok], cc[ok]
    result = {"a": None, "b": None, "k_min": lo, "k_max": hi, "points": int(kk.size),
              "rmse_loglog": None, "rmse_coverage": None}
    if kk.size < 2:
        return result
    x, y = np.log(kk), np.log(-np.log(cc))
    b, intercept = np.polyfit(x, y, 1)
    a = -float(np.exp(intercept))
    resid = y - (intercept + b * x)
    pred = np.exp(a * kk ** b)
    result.update(a=a, b=float(b), rmse_loglog=float(np.sqrt(np.mean(resid ** 2))),
                  rmse_coverage=float(np.sqrt(np.mean((pred - cc) ** 2))))
    return result


def power_law_coverage(k, a: float, b: float) -> np.ndarray:
    """Coverage predicted by the fit at k (works for k beyond the data)."""
    return np.exp(a * np.asarray(k, dtype=np.float64) ** b)
