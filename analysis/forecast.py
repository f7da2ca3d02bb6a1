"""Forecast coverage at K far beyond the samples drawn, with intervals.

A pilot gives per-problem counts: n_i samples, c_i correct. A forecaster fits a model of the
share of problems still unsolved after k samples, M(k), and answers two questions at any K:

- **these problems**, extended to K samples each (the pilot's samples among them): a problem
  already solved stays solved, and one with no success in n_i samples stays unsolved with
  probability M(K) / M(n_i). So

      coverage@K = 1 - mean_i [c_i = 0] * M(K) / M(n_i)        (K >= n_i)

  and for K <= n_i the unbiased pass@K of its samples (Chen et al. 2021) is used as measured.
- **new problems** from the same population: coverage@K = 1 - M(K).

Forecasters (METHODS):

- ``power_law`` — the exponentiated power law log c = a k^b (Brown et al. 2024) fitted to the
  pilot's coverage curve (k = 1..min n, 40 log-spaced points, ordinary least squares of
  log(-log c) on log k), M(k) = 1 - exp(a k^b).
- ``beta_binomial`` — per-problem success rates p ~ Beta(alpha, beta), fitted by maximum
  likelihood of the counts (a problem with no success contributes B(alpha, beta + n) /
  B(alpha, beta), exactly), M(k) = B(alpha, beta + k) / B(alpha, beta) (Schaeffer et al. 2025,
  Kazdan et al. 2025).

On the Pythia MATH forecast check (docs/forecast.md) the power law is the better of the two and
of every other family tried; it is the default.

Intervals (docs/forecast.md has the calibration measurements):

- these problems: a parametric bootstrap of the pilot's outcomes. Each replicate draws every
  problem's rate from its empirical-Bayes posterior Beta(alpha + c_i, beta + n_i - c_i) (the
  beta-binomial fit above), redraws its n_i outcomes and refits the forecaster. Each replicate's
  unsolved share M(K) / M(n) is reflected about the point fit's (the basic bootstrap), and the
  number of the pilot's unsolved problems that get solved is drawn as Binomial(unsolved,
  1 - that share) (normal approximation, one draw per replicate for all K, so the band is
  smooth): the interval is predictive. Solved problems stay solved, so it never falls
  below the pilot's own coverage and has no width at K = n.
- new problems: a bootstrap over problems (resample problems with replacement, refit); for a set
  of `size` new problems, each replicate's coverage is drawn as Binomial(size, coverage) / size.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from .fit import fit_loglog_batch, log_grid
from .passk import _rows, coverage_curve, validate_counts

__all__ = ["METHODS", "Forecast", "fit_forecast", "fit_beta", "beta_coverage", "fit_beta_batch",
           "pilot_curves"]

CURVE_POINTS = 40                     # log-spaced k of the pilot curve the power law is fitted on
LOG_ALPHA = (np.log(1e-3), np.log(1e4))
LOG_BETA = (np.log(1e-3), np.log(1e7))


# ---------------------------------------------------------------- the pilot's coverage curves

def pilot_curves(curve_n, curve_c, ks) -> np.ndarray:
    """Coverage (mean over problems of pass@k) at each k in ks, for one or many count vectors.

    curve_n, curve_c: (N,) or (B, N) integer arrays; every k must be <= min n of its row.
    Returns (B, len(ks)). Rows are computed once per distinct (n, c) pair.
    """
    n2 = np.atleast_2d(curve_n).astype(np.int64)
    c2 = np.atleast_2d(curve_c).astype(np.int64)
    n2 = np.broadcast_to(n2, c2.shape)
    ks = np.asarray(ks, dtype=np.int64)
    pairs, inv = np.unique(np.stack([n2.ravel(), c2.ravel()], axis=1), axis=0, return_inverse=True)
    inv = inv.reshape(c2.shape)
    k_top = int(ks.max())
    rows = np.empty((len(pairs), len(ks)))
    step = max(1, 2_000_000 // k_top)
    for lo in range(0, len(pairs), step):
        rows[lo:lo + step] = _rows(pairs[lo:lo + step, 0], pairs[lo:lo + step, 1], k_top)[:, ks - 1]
    out = np.empty((c2.shape[0], len(ks)))
    chunk = max(1, 4_000_000 // (c2.shape[1] * len(ks)))
    for lo in range(0, c2.shape[0], chunk):
        out[lo:lo + chunk] = rows[inv[lo:lo + chunk]].mean(axis=1)
    return out


# ---------------------------------------------------------------- beta-binomial maximum likelihood

def _trigamma(x):
    """psi'(x) for x > 0: recurrence up to x >= 6, then the asymptotic series (|error| < 1e-10).
    scipy's polygamma goes through the general Hurwitz zeta and is several times slower."""
    x = np.array(x, dtype=np.float64, copy=True)
    acc = np.zeros_like(x)
    for _ in range(6):
        small = x < 6.0
        if not small.any():
            break
        acc[small] += 1.0 / x[small] ** 2
        x[small] += 1.0
    r = 1.0 / x
    r2 = r * r
    return acc + r + r2 / 2 + r * r2 * (1 / 6 - r2 * (1 / 30 - r2 * (1 / 42 - r2 / 30)))


def _bb_loglik(la, lb, n, c):
    """Log-likelihood (without C(n, c)) of each row of counts under Beta(e^la, e^lb)."""
    a, b = np.exp(la)[:, None], np.exp(lb)[:, None]
    return (special.betaln(c + a, n - c + b) - special.betaln(a, b)).sum(axis=1)


def fit_beta_batch(n, c, iters: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum-likelihood Beta(alpha, beta) for each row of counts, all rows at once.

    n, c: (B, N). Newton steps in (log alpha, log beta) with a backtracking line search (a
    gradient step where the Hessian is not negative definite), started from the best point of
    a coarse grid. alpha is kept in [1e-3, 1e4] and beta in [1e-3, 1e7]: at the upper ends the
    rates barely vary between problems (the binomial limit), at the lower ends they pile up at
    0 or 1. Returns alpha, beta, log-likelihood (each of length B).
    """
    n = np.atleast_2d(np.asarray(n, dtype=np.float64))
    c = np.atleast_2d(np.asarray(c, dtype=np.float64))
    n = np.broadcast_to(n, c.shape)
    B0, N = c.shape
    grid = [(np.log(a0), np.log(b0)) for a0 in (0.03, 0.2, 1.0, 5.0) for b0 in (0.3, 3.0, 30.0, 300.0, 3000.0)]
    lls = np.stack([_bb_loglik(np.full(B0, g0), np.full(B0, g1), n, c) for g0, g1 in grid], axis=1)
    # the likelihood can have a second hill towards the binomial limit: climb from the 3 best starts
    top = np.argsort(-lls, axis=1)[:, :3]
    starts = np.array(grid)[top]                                   # (B0, 3, 2)
    la, lb = starts[:, :, 0].ravel(), starts[:, :, 1].ravel()
    best = np.take_along_axis(lls, top, axis=1).ravel()
    n, c = np.repeat(n, 3, axis=0), np.repeat(c, 3, axis=0)
    B = B0 * 3
    live = np.ones(B, dtype=bool)
    for _ in range(iters):
        idx = np.flatnonzero(live)
        if idx.size == 0:
            break
        nn, cc = n[idx], c[idx]
        a, b = np.exp(la[idx]), np.exp(lb[idx])
        A, Bt = a[:, None], b[:, None]
        s1 = _trigamma(nn + A + Bt)
        s0 = special.digamma(nn + A + Bt)
        d_ab, t_ab = special.digamma(a + b), _trigamma(a + b)
        ga = (special.digamma(cc + A) - s0).sum(1) + N * (d_ab - special.digamma(a))
        gb = (special.digamma(nn - cc + Bt) - s0).sum(1) + N * (d_ab - special.digamma(b))
        haa = (_trigamma(cc + A) - s1).sum(1) + N * (t_ab - _trigamma(a))
        hbb = (_trigamma(nn - cc + Bt) - s1).sum(1) + N * (t_ab - _trigamma(b))
        hab = -s1.sum(1) + N * t_ab
        g1, g2 = ga * a, gb * b                                  # gradient in log parameters
        h11, h22, h12 = haa * a * a + g1, hbb * b * b + g2, hab * a * b
        det = h11 * h22 - h12 * h12
        newton = (h11 < 0) & (det > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            d1 = np.where(newton, -(h22 * g1 - h12 * g2) / det, g1 / (np.abs(h11) + np.abs(h12) + 1.0))
            d2 = np.where(newton, -(h11 * g2 - h12 * g1) / det, g2 / (np.abs(h22) + np.abs(h12) + 1.0))
        scale = np.minimum(1.0, 3.0 / np.maximum(np.abs(d1), np.abs(d2)))
        d1, d2 = d1 * scale, d2 * scale
        slope = g1 * d1 + g2 * d2
        step = np.ones(idx.size)
        moved = np.zeros(idx.size, dtype=bool)
        for _try in range(12):
            todo = ~moved
            if not todo.any():
                break
            na = np.clip(la[idx] + step * d1, *LOG_ALPHA)
            nb = np.clip(lb[idx] + step * d2, *LOG_BETA)
            ll = np.full(idx.size, -np.inf)
            ll[todo] = _bb_loglik(na[todo], nb[todo], nn[todo], cc[todo])
            ok = todo & (ll >= best[idx] + 1e-4 * step * slope)
            sel = idx[ok]
            la[sel], lb[sel], best[sel] = na[ok], nb[ok], ll[ok]
            moved |= ok
            step[todo & ~ok] *= 0.3
        small = (np.abs(g1) + np.abs(g2)) < 1e-6 * (1.0 + np.abs(best[idx]))
        live[idx[~moved | small]] = False
    pick = np.argmax(best.reshape(B0, 3), axis=1) + 3 * np.arange(B0)
    return np.exp(la[pick]), np.exp(lb[pick]), best[pick]


def fit_beta(n, c) -> dict:
    """Maximum-likelihood Beta(alpha, beta) for the per-problem success rates behind counts."""
    n, c = validate_counts(n, c)
    a, b, ll = fit_beta_batch(n[None, :], c[None, :])
    return {"alpha": float(a[0]), "beta": float(b[0]), "loglik": float(ll[0]), "num_problems": int(n.size)}


def beta_coverage(K, alpha: float, beta: float) -> np.ndarray:
    """coverage@K = 1 - B(alpha, beta + K) / B(alpha, beta) of problems with p ~ Beta(alpha, beta)."""
    K = np.asarray(K, dtype=float)
    return -np.expm1(special.betaln(alpha, beta + K) - special.betaln(alpha, beta))


# ---------------------------------------------------------------- the forecasters

class PowerLaw:
    name = "power_law"
    label = "power law"
    description = ("log coverage = a k^b fitted to the pilot's coverage curve (k = 1..min n, 40 log-spaced "
                   "points, least squares of log(-log coverage) on log k); unsolved share M(k) = 1 - exp(a k^b)")

    def fit(self, n, c, curve_n, curve_c) -> np.ndarray:
        m = int(np.min(curve_n))
        if m < 2:
            return np.full((np.atleast_2d(c).shape[0], 2), np.nan)
        g = log_grid(1, m, CURVE_POINTS)
        a, b = fit_loglog_batch(g, pilot_curves(curve_n, curve_c, g))
        bad = ~(a < 0) | ~(b < 0)
        return np.where(bad[:, None], np.nan, np.stack([a, b], axis=1))

    def unsolved(self, params, k) -> np.ndarray:
        a, b = params[:, :1], params[:, 1:]
        return -np.expm1(a * np.asarray(k, dtype=np.float64)[None, :] ** b)

    def describe(self, p) -> dict:
        return {"a": float(p[0]), "b": float(p[1])}


class BetaBinomial:
    name = "beta_binomial"
    label = "beta-binomial"
    description = ("per-problem rates p ~ Beta(alpha, beta) fitted by maximum likelihood of the counts; "
                   "unsolved share M(k) = B(alpha, beta + k) / B(alpha, beta)")

    def fit(self, n, c, curve_n, curve_c) -> np.ndarray:
        c2 = np.atleast_2d(c)
        a, b, _ = fit_beta_batch(n, c2)
        none = c2.sum(axis=1) == 0            # no success anywhere: nothing to fit a tail to
        return np.where(none[:, None], np.nan, np.stack([a, b], axis=1))

    def unsolved(self, params, k) -> np.ndarray:
        a, b = params[:, :1], params[:, 1:]
        return np.exp(special.betaln(a, b + np.asarray(k, dtype=np.float64)[None, :]) - special.betaln(a, b))

    def describe(self, p) -> dict:
        return {"alpha": float(p[0]), "beta": float(p[1])}


METHODS = {m.name: m for m in (PowerLaw(), BetaBinomial())}


def _same_parts(method, params, n, c, K):
    """These problems extended to K samples, in parts: (known, groups).

    known (len K): the share of problems whose outcome at K is already known from the pilot
    counted as solved (a solved problem for K >= n_i; the measured pass@K for K <= n_i).
    groups: for each sample size n_j of unsolved problems, (count, ratio) where ratio (B, len K)
    is M(K) / M(n_j), the chance under each parameter row that such a problem stays unsolved.
    """
    K = np.asarray(K, dtype=np.int64)
    N = n.size
    known = np.zeros(len(K))
    groups = []
    for size in np.unique(n).tolist():
        at = n == size
        beyond = K > size
        known[beyond] += np.count_nonzero(at & (c > 0))
        if (~beyond).any():                                       # K within the samples: measured
            kin = K[~beyond]
            known[~beyond] += _rows(n[at], c[at], int(kin.max()))[:, kin - 1].sum(axis=0)
        zeros = int(np.count_nonzero(at & (c == 0)))
        if zeros and beyond.any():
            ratio = np.ones((params.shape[0], len(K)))
            ratio[:, beyond] = method.unsolved(params, K[beyond]) / method.unsolved(params, [size])
            groups.append((zeros, ratio))
    return known / N, groups


class Forecast:
    """A fitted forecaster and its bootstrap replicates; ask it for coverage at any K."""

    def __init__(self, method, n, c, params, same_params, pop_params, level, seed=0):
        self.method = method
        self.n, self.c = n, c
        self.params = params                       # (1, p)
        self.same_params = same_params             # (B, p): refits on redrawn outcomes
        self.pop_params = pop_params               # (B, p): refits on resampled problems
        self.level = level
        self.seed = seed

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.params).all())

    def describe(self) -> dict:
        return {"method": self.method.name, "description": self.method.description,
                **(self.method.describe(self.params[0]) if self.ok else {})}

    def _tails(self):
        return (1 - self.level) / 2, (1 + self.level) / 2

    def same(self, K) -> dict:
        """These problems extended to K samples each: point forecast and predictive interval.

        The interval draws, for each replicate, how many of the unsolved problems get solved
        (Binomial(unsolved, 1 - its reflected M(K) / M(n))) and takes the quantiles of the result.
        """
        K = np.atleast_1d(np.asarray(K, dtype=np.int64))
        N = self.n.size
        known, groups = _same_parts(self.method, self.params, self.n, self.c, K)
        point = known + sum(z * (1.0 - r[0]) for z, r in groups) / N
        keep = np.isfinite(self.same_params).all(axis=1)
        if keep.sum() >= 10 and np.isfinite(point).all():
            _, reps = _same_parts(self.method, self.same_params[keep], self.n, self.c, K)
            rng = np.random.default_rng(self.seed)
            draws = np.broadcast_to(known, (int(keep.sum()), len(K))).copy()
            for (z, r0), (_, r) in zip(groups, reps):
                # basic bootstrap: a replicate's ratio above the point says the point is that much low
                ratio = np.clip(2.0 * r0 - r, 0.0, 1.0)
                # Binomial(z, 1 - ratio) by its normal approximation, one normal per replicate for
                # every K, so that the band is smooth in K
                xi = rng.standard_normal((r.shape[0], 1))
                solved = z * (1.0 - ratio) + xi * np.sqrt(z * ratio * (1.0 - ratio))
                draws += np.clip(solved, 0.0, z) / N
            low, high = np.quantile(draws, self._tails(), axis=0)
        else:
            low = high = np.full(len(K), np.nan)
        return {"k": K.tolist(), "coverage": point.tolist(), "low": low.tolist(), "high": high.tolist(),
                "replicates_used": int(keep.sum())}

    def population(self, K, size: int | None = None, seed: int | None = None) -> dict:
        """New problems from the same population: coverage 1 - M(K), interval from the bootstrap
        over problems; with size, the coverage of a set of that many new problems."""
        K = np.atleast_1d(np.asarray(K, dtype=np.int64))
        point = 1.0 - self.method.unsolved(self.params, K)[0]
        keep = np.isfinite(self.pop_params).all(axis=1)
        if keep.sum() >= 10 and np.isfinite(point).all():
            reps = 1.0 - self.method.unsolved(self.pop_params[keep], K)
            if size:
                rng = np.random.default_rng(self.seed if seed is None else seed)
                reps = rng.binomial(int(size), np.clip(reps, 0, 1)) / float(size)
            low, high = np.quantile(reps, self._tails(), axis=0)
        else:
            low = high = np.full(len(K), np.nan)
        return {"k": K.tolist(), "coverage": point.tolist(), "low": low.tolist(), "high": high.tolist(),
                "replicates_used": int(keep.sum())}

    def k_for(self, target: float, k_max: float = 1e9) -> dict:
        """Samples per problem at which these problems reach coverage `target`, with the
        interval of that k over the replicates (None where not reached by k_max).

        A target the pilot already reaches is read off its measured curve (observed = True).
        """
        m = int(self.n.min())
        k_meas, cov_meas = coverage_curve(self.n, self.c)
        hit = np.flatnonzero(cov_meas >= target)
        if hit.size:
            k = int(k_meas[hit[0]])
            return {"target": target, "k": k, "low": k, "high": k, "observed": True}
        out = {"target": target, "k": None, "low": None, "high": None, "observed": False}
        if not self.ok:
            return out
        grid = np.unique(np.round(np.geomspace(m, k_max, 1500)).astype(np.int64))
        band = self.same(grid)

        def first(cov):
            reached = np.flatnonzero(np.asarray(cov) >= target)
            return int(grid[reached[0]]) if reached.size else None

        # the interval of k is where the coverage band crosses the target: its upper edge first
        out.update(k=first(band["coverage"]), low=first(band["high"]), high=first(band["low"]))
        return out


def fit_forecast(n, c, method: str = "power_law", num_boot: int = 200, level: float = 0.9, seed: int = 0,
                 curve_n=None, curve_c=None, intervals: tuple = ("same", "population")) -> Forecast:
    """Fit `method` to the pilot's counts and draw the bootstrap replicates for its intervals.

    curve_n, curve_c: the counts the coverage curve is computed from (default n, c). For a run
    whose sampling followed the outcomes, pass the uniform prefix (every problem's first n0
    samples) here and all samples as n, c. intervals: which bootstraps to draw ("same": these
    problems, "population": new problems); a forecast without one has no interval of that kind.
    """
    if method not in METHODS:
        raise ValueError(f"unknown forecast method {method!r}; choose from {', '.join(METHODS)}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    meth = METHODS[method]
    n, c = validate_counts(n, c)
    curve_n, curve_c = (n, c) if curve_n is None else validate_counts(curve_n, curve_c)
    N = n.size
    params = meth.fit(n[None, :], c[None, :], curve_n[None, :], curve_c[None, :])
    rng = np.random.default_rng(seed)
    same_params = pop_params = np.full((0, params.shape[1]), np.nan)
    if num_boot > 0 and c.sum() > 0 and "same" in intervals:
        # these problems: redraw outcomes from each problem's empirical-Bayes posterior
        alpha, beta, _ = fit_beta_batch(n[None, :], c[None, :])
        p = rng.beta(alpha[0] + c, beta[0] + n - c, size=(num_boot, N))
        same_n = np.broadcast_to(n, (num_boot, N))
        same_c = rng.binomial(same_n, p)
        if curve_n is n:
            cn, cc = same_n, same_c
        else:                              # the prefix: a draw without replacement from the sample
            cn = np.broadcast_to(curve_n, (num_boot, N))
            cc = rng.hypergeometric(same_c, same_n - same_c, cn)
        same_params = meth.fit(same_n, same_c, cn, cc)
    if num_boot > 0 and c.sum() > 0 and "population" in intervals:
        # new problems: resample problems
        idx = rng.integers(0, N, size=(num_boot, N))
        pop_params = meth.fit(n[idx], c[idx], curve_n[idx], curve_c[idx])
    return Forecast(meth, n, c, params, same_params, pop_params, level, seed)
