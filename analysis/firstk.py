"""Coverage from each problem's first k samples, for runs whose sample counts follow the outcomes.

In solve mode a problem stops being sampled once it is solved, so its n and c are not a draw
with n fixed in advance and 1 - C(n-c, k)/C(n, k) is biased. What stays exact: a problem's
samples are the first attempts of the sequence uniform sampling would have drawn, so "solved
within its first k samples" is known for every k up to its attempts (and for every k once it is
solved), and that indicator has expectation pass@k = 1 - (1 - p)^k. Coverage@k averages it over
problems, for k up to the fewest attempts of any unsolved problem. It is one draw per problem,
not an average over subsets, so its variance is higher than the fixed-n estimator's.
"""
from __future__ import annotations

import numpy as np

UNSOLVED = -1


def first_success(group, sample_index, correct, num_problems: int) -> tuple[np.ndarray, np.ndarray]:
    """Per problem: the index of its first correct sample (UNSOLVED if none) and its attempts.

    Attempts are the length of the gap-free prefix 0, 1, 2, ... of sample indices; samples after
    a gap (an interrupted round, to be filled by the next) are not counted yet.
    """
    group = np.asarray(group, dtype=np.int64)
    idx = np.asarray(sample_index, dtype=np.int64)
    ok = np.asarray(correct, dtype=bool)
    first = np.full(num_problems, UNSOLVED, dtype=np.int64)
    attempts = np.zeros(num_problems, dtype=np.int64)
    order = np.lexsort((idx, group))
    for p, i, c in zip(group[order].tolist(), idx[order].tolist(), ok[order].tolist()):
        if i != attempts[p]:      # a gap or a duplicate index: the prefix ends here
            continue
        attempts[p] += 1
        if c and first[p] == UNSOLVED:
            first[p] = i
    return first, attempts


def k_limit(first, attempts) -> int:
    """Largest k at which every problem's first-k outcome is known."""
    first, attempts = np.asarray(first), np.asarray(attempts)
    unsolved = attempts[first == UNSOLVED]
    if unsolved.size:
        return int(unsolved.min())
    return int(attempts.max()) if attempts.size else 0


def _solved_by(first, ks) -> np.ndarray:
    """(problems, len(ks)) 0/1 matrix: solved within the first k samples."""
    first = np.asarray(first)[:, None]
    return ((first != UNSOLVED) & (first < np.asarray(ks)[None, :])).astype(np.float64)


def first_k_curve(first, attempts, k_max: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """k = 1..k_max and the share of problems solved within their first k samples."""
    limit = k_limit(first, attempts)
    k_max = limit if k_max is None else int(k_max)
    if k_max < 1:
        raise ValueError("some problem has no verified sample; nothing to estimate")
    if k_max > limit:
        raise ValueError(f"k_max = {k_max} exceeds {limit}, the attempts of an unsolved problem")
    k = np.arange(1, k_max + 1)
    return k, _solved_by(first, k).mean(axis=0)


def bootstrap_first_k(first, ks, num_boot: int = 1000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap over problems of the first-k coverage at each k in ks."""
    rows = _solved_by(first, ks)
    num = rows.shape[0]
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(num, np.full(num, 1.0 / num), size=num_boot).astype(np.float64)
    curves = draws @ rows / num
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(curves, [alpha, 1.0 - alpha], axis=0)
    return low, high
