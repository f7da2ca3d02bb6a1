"""Distributional forecast of coverage at K far beyond the samples drawn.

Following Schaeffer et al. 2025 ("How Do Large Language Monkeys Get Their Power (Laws)?"), the
aggregate power law comes from the distribution of per-problem success probabilities p; its
left tail decides how coverage grows. Model p ~ Beta(alpha, beta), fit it by maximum likelihood
of the observed counts (beta-binomial likelihood, each problem with its own n), then

    coverage@K = 1 - E[(1 - p)^K] = 1 - B(alpha, beta + K) / B(alpha, beta),

exact for any K. Near p = 0 the Beta density ~ p^(alpha-1), so 1 - coverage ~ K^(-alpha):
the fitted alpha is the tail exponent.
"""
from __future__ import annotations

import math

import numpy as np

from .fit import fit_power_law, power_law_coverage
from .passk import coverage_curve, unique_counts, validate_counts

_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])


def _nelder_mead(f, x0, step=0.5, tol=1e-10, max_iter=2000):
    """Minimise f over R^d (d small) with the Nelder-Mead simplex; plain and dependency-free."""
    x0 = np.asarray(x0, dtype=float)
    d = x0.size
    simplex = [x0] + [x0 + step * np.eye(d)[i] for i in range(d)]
    values = [f(x) for x in simplex]
    for _ in range(max_iter):
        order = np.argsort(values)
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        if abs(values[-1] - values[0]) < tol * (1 + abs(values[0])) and \
                max(np.abs(s - simplex[0]).max() for s in simplex[1:]) < 1e-8:
            break
        centroid = np.mean(simplex[:-1], axis=0)
        worst = simplex[-1]
        xr = centroid + (centroid - worst)
        fr = f(xr)
        if fr < values[0]:
            xe = centroid + 2 * (centroid - worst)
            fe = f(xe)
            simplex[-1], values[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = xr, fr
        else:
            xc = centroid + 0.5 * (worst - centroid) if fr >= values[-1] else centroid + 0.5 * (xr - centroid)
            fc = f(xc)
            if fc < min(fr, values[-1]):
                simplex[-1], values[-1] = xc, fc
            else:
                best = simplex[0]
                simplex = [best] + [best + 0.5 * (s - best) for s in simplex[1:]]
                values = [values[0]] + [f(s) for s in simplex[1:]]
    i = int(np.argmin(values))
    return simplex[i], values[i]


def beta_binomial_loglik(alpha: float, beta: float, n, c, weights=None) -> float:
    """Log-likelihood of counts under p ~ Beta(alpha, beta), without the constant C(n, c)."""
    n = np.asarray(n, dtype=float)
    c = np.asarray(c, dtype=float)
    w = np.ones_like(n) if weights is None else np.asarray(weights, dtype=float)
    per = (_lgamma(c + alpha) + _lgamma(n - c + beta) - _lgamma(n + alpha + beta)
           + math.lgamma(alpha + beta) - math.lgamma(alpha) - math.lgamma(beta))
    return float(w @ per)


def fit_beta(n, c) -> dict:
    """Maximum-likelihood Beta(alpha, beta) for the per-problem success rates behind counts."""
    n, c = validate_counts(n, c)
    un, uc, inv = unique_counts(n, c)
    w = np.bincount(inv, minlength=len(un))

    def nll(theta):
        a, b = np.exp(np.clip(theta, -20, 20))
        return -beta_binomial_loglik(a, b, un, uc, w)

    starts = [np.log([a, b]) for a in (0.05, 0.5, 2.0) for b in (0.5, 5.0, 50.0)]
    best = min(starts, key=nll)
    theta, val = _nelder_mead(nll, best)
    a, b = np.exp(theta)
    return {"alpha": float(a), "beta": float(b), "loglik": float(-val), "num_problems": int(n.size)}


def beta_coverage(K, alpha: float, beta: float) -> np.ndarray:
    """coverage@K = 1 - B(alpha, beta + K) / B(alpha, beta), for any K >= 0 (vectorised)."""
    K = np.asarray(K, dtype=float)
    log_ratio = _lgamma(beta + K) + math.lgamma(alpha + beta) - math.lgamma(beta) - _lgamma(alpha + beta + K)
    return -np.expm1(log_ratio)


def forecast_check(n, c, m: int = 100, target: int | None = None, repeats: int = 20, seed: int = 0) -> dict:
    """How well do m samples per problem predict coverage at target (default: n)?

    Each repeat draws m of each problem's n outcomes without replacement (hypergeometric: c'
    correct), then forecasts coverage@target two ways: the power law fitted on k = 1..m and
    extrapolated, and the Beta fitted to the m-sample counts. Truth is the exact coverage at
    target from all n samples. Returns truth and, per method, the mean forecast, the mean
    signed error and the mean absolute error (coverage units).
    """
    n, c = validate_counts(n, c)
    target = int(n.min()) if target is None else int(target)
    if m > n.min():
        raise ValueError(f"m = {m} exceeds the smallest n ({int(n.min())})")
    truth = float(coverage_curve(n, c, target)[1][-1])
    rng = np.random.default_rng(seed)
    pl, bt = [], []
    for _ in range(repeats):
        c_sub = rng.hypergeometric(c, n - c, m)
        k, cov = coverage_curve(np.full_like(n, m), c_sub)
        fit = fit_power_law(k, cov)
        pl.append(float(power_law_coverage(target, fit["a"], fit["b"])) if fit["a"] is not None else np.nan)
        fb = fit_beta(np.full_like(n, m), c_sub)
        bt.append(float(beta_coverage(target, fb["alpha"], fb["beta"])))
    out = {"m": m, "target_k": target, "repeats": repeats, "truth": truth}
    for name, vals in (("power_law", np.array(pl)), ("beta", np.array(bt))):
        out[name] = {"mean_forecast": float(np.nanmean(vals)), "mean_error": float(np.nanmean(vals - truth)),
                     "mean_abs_error": float(np.nanmean(np.abs(vals - truth)))}
    return out
