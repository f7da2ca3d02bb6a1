"""pass@k for every k at once, exact to floating-point rounding.

The unbiased estimator of Chen et al. (2021) for one problem with c correct out of n samples is

    pass@k = 1 - C(n-c, k) / C(n, k) = 1 - prod_{i=0}^{k-1} (1 - c / (n - i)),

so the ratio for k+1 is the ratio for k times one more factor. A cumulative sum of
log1p(-c / (n - i)) therefore yields the log-ratio for k = 1..n in one pass, and -expm1 of it
gives pass@k without the cancellation that `1 - exp` or differences of log-gammas suffer.

Unequal n across problems: pass@k is only defined for k <= n_i, so the coverage curve (the mean
over problems) is reported for k = 1..min(n_i). Every problem counts at every reported k; no
problem silently drops out of the average as k grows.
"""
from __future__ import annotations

import numpy as np

__all__ = ["validate_counts", "pass_at_k_matrix", "coverage_curve", "unique_counts"]


class CountsError(ValueError):
    """Raised for counts that cannot be samples (c > n, negatives, non-integers, empty)."""


def validate_counts(n, c) -> tuple[np.ndarray, np.ndarray]:
    """Return (n, c) as int64 arrays or raise CountsError saying what is wrong and where."""
    n_arr = np.asarray(n)
    c_arr = np.asarray(c)
    if n_arr.shape != c_arr.shape or n_arr.ndim != 1:
        raise CountsError(f"n and c must be 1-D arrays of equal length, got shapes {n_arr.shape} and {c_arr.shape}")
    if n_arr.size == 0:
        raise CountsError("no problems: the counts are empty")
    out = []
    for name, arr in (("n", n_arr), ("c", c_arr)):
        if arr.dtype == bool:
            arr = arr.astype(np.int64)
        try:
            f = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise CountsError(f"{name} must be numeric, got dtype {arr.dtype}") from None
        bad = ~np.isfinite(f) | (f != np.round(f))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise CountsError(f"{name} must be whole numbers; row {i} has {arr[i]!r}")
        out.append(f.astype(np.int64))
    n_i, c_i = out
    for name, arr in (("n", n_i), ("c", c_i)):
        if (arr < 0).any():
            i = int(np.flatnonzero(arr < 0)[0])
            raise CountsError(f"{name} must be >= 0; row {i} has {arr[i]}")
    if (n_i == 0).any():
        i = int(np.flatnonzero(n_i == 0)[0])
        raise CountsError(f"every problem needs at least one sample; row {i} has n = 0")
    if (c_i > n_i).any():
        i = int(np.flatnonzero(c_i > n_i)[0])
        raise CountsError(f"c > n in row {i}: {c_i[i]} correct out of {n_i[i]} samples")
    return n_i, c_i


def unique_counts(n, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (n, c) pairs, and for each problem the index of its pair.

    Problems with equal (n, c) have identical pass@k rows, so the work (and the bootstrap)
    scales with the number of distinct pairs, not of problems.
    """
    pairs = np.stack([n, c], axis=1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    return uniq[:, 0], uniq[:, 1], inverse.reshape(-1)


def _rows(n: np.ndarray, c: np.ndarray, k_max: int) -> np.ndarray:
    """pass@k rows for already validated counts (NaN where k > n)."""
    out = np.zeros((n.size, k_max))
    i = np.arange(k_max, dtype=np.float64)
    live = c > 0                                                  # c == 0 rows stay 0
    if live.any():
        denom = n[live, None].astype(np.float64) - i[None, :]    # n - i, for i = 0..k_max-1
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = c[live, None] / denom
            np.minimum(frac, 1.0, out=frac)
            np.negative(frac, out=frac)
            np.log1p(frac, out=frac)                              # -inf once n - i <= c
            np.cumsum(frac, axis=1, out=frac)
            np.expm1(frac, out=frac)
            np.negative(frac, out=frac)
        out[live] = frac
    out[i[None, :] >= n[:, None]] = np.nan                        # k = i + 1 > n
    return out


def pass_at_k_matrix(n, c, k_max: int | None = None) -> np.ndarray:
    """Per-problem pass@k for k = 1..k_max as a (problems, k_max) float64 array.

    Entries with k > n_i are NaN (undefined). k_max defaults to max(n). Each distinct (n, c)
    pair is computed once and copied to the problems that share it.
    """
    n, c = validate_counts(n, c)
    k_max = int(n.max()) if k_max is None else int(k_max)
    if k_max < 1:
        raise CountsError(f"k_max must be >= 1, got {k_max}")
    un, uc, inv = unique_counts(n, c)
    return _rows(un, uc, k_max)[inv]


def coverage_curve(n, c, k_max: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean pass@k over problems for k = 1..min(n) (or k_max if smaller). Returns (k, coverage)."""
    n, c = validate_counts(n, c)
    k_top = int(n.min()) if k_max is None else min(int(k_max), int(n.min()))
    un, uc, inv = unique_counts(n, c)
    weights = np.bincount(inv, minlength=len(un)).astype(np.float64)
    cov = np.zeros(k_top)
    step = max(1, 2_000_000 // k_top)                              # bound memory to ~16 MB a chunk
    for lo in range(0, len(un), step):
        rows = _rows(un[lo:lo + step], uc[lo:lo + step], k_top)
        cov += weights[lo:lo + step] @ rows
    return np.arange(1, k_top + 1), cov / weights.sum()
