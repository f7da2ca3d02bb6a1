"""Bootstrap confidence intervals for the coverage curve, resampling problems.

Problems are the random unit: a benchmark is a draw of problems, and each problem's pass@k
estimate travels with it. Resampling N problems uniformly is a multinomial draw over the
distinct (n, c) pairs, so the cost scales with the number of distinct pairs.
"""
from __future__ import annotations

import numpy as np

from .passk import pass_at_k_matrix, unique_counts, validate_counts


def bootstrap_coverage(n, c, ks, num_boot: int = 1000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap interval of coverage at each k in ks (all k <= min n).

    Returns (low, high) arrays aligned with ks.
    """
    n, c = validate_counts(n, c)
    ks = np.asarray(ks, dtype=np.int64)
    if ks.size == 0:
        return np.array([]), np.array([])
    if ks.min() < 1 or ks.max() > n.min():
        raise ValueError(f"bootstrap k must lie in 1..{int(n.min())}")
    un, uc, inv = unique_counts(n, c)
    weights = np.bincount(inv, minlength=len(un)).astype(np.float64)
    num = weights.sum()
    rows = pass_at_k_matrix(un, uc, int(ks.max()))[:, ks - 1]      # (pairs, len(ks))
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(int(num), weights / num, size=num_boot).astype(np.float64)
    curves = draws @ rows / num                                      # (num_boot, len(ks))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(curves, [alpha, 1.0 - alpha], axis=0)
    return low, high
