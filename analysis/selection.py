"""Selection@k: the expected accuracy of picking ONE answer out of k random samples, without an
oracle verifier; the honest curve beside coverage (which asks only whether any of the k is right).

For each k the k samples are a uniformly random k-subset of a problem's n samples, and the
accuracy is averaged over problems.

- best_of_k(score): the sample with the highest score is picked (a tie among the top is broken
  uniformly at random). Exact, in closed form: with the samples sorted by score, a group of t
  tied samples with a samples strictly below holds the subset's top with probability
  (C(a + t, k) - C(a, k)) / C(n, k), shared evenly among its t members.
- vote_at_k(answer, weight): the answer with the most samples (or the largest sum of weights,
  for a score-weighted vote) is picked; a tie is broken uniformly at random (weighted sums
  within 1e-9, relative, are tied); samples with no answer abstain, and all-abstain is wrong.
  No closed form is known to us for many distinct answers, so this is Monte Carlo: `draws`
  random orders of each problem's samples, whose first k samples are a uniform k-subset for
  every k at once, with a fixed seed and a stated standard error. A compiled kernel (numba)
  walks each order once, counting as it goes and scanning only the answers seen so far at each
  k; majority and every weighted vote read the same orders (votes_at_k), so the methods'
  differences carry less noise than their levels.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .fit import log_grid


def _groups(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order that sorts samples by problem, start offsets of each problem in it)."""
    num = int(group.max()) + 1
    n = np.bincount(group, minlength=num)
    return np.argsort(group, kind="stable"), np.concatenate([[0], np.cumsum(n)])


def best_of_k(group, score, correct, ks) -> np.ndarray:
    """Exact mean accuracy over problems of picking the top-scoring of k random samples, per k.
    Every k must be at most the fewest samples of any problem."""
    group = np.asarray(group, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    ks = np.asarray(ks, dtype=np.int64)
    if np.isnan(score).any():
        raise ValueError("scores contain NaN; give every sample a score (or drop the scorer)")
    order, bounds = _groups(group)
    if len(ks) and ks.max() > np.diff(bounds).min():
        raise ValueError(f"k = {ks.max()} is more than the fewest samples of a problem ({np.diff(bounds).min()})")
    lk = ks[:, None].astype(np.float64)
    acc = np.zeros(len(ks))
    for a, b in zip(bounds[:-1], bounds[1:]):
        idx = order[a:b]
        srt = np.argsort(score[idx], kind="stable")
        s, c = score[idx][srt], correct[idx][srt]
        # tie groups of equal score, ascending, between boundaries 0 = b_0 < b_1 < ... < b_G = n:
        # the top of a k-subset lies in group g with probability F(b_{g+1}) - F(b_g), where
        # F(m) = C(m, k) / C(n, k) = prod over i = m+1..n of (i - k) / i (a suffix product: exact
        # to a few ulps per factor, where differences of log-factorials of n lose ~1e-12)
        starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
        edges = np.concatenate([starts, [len(s)]])
        right = np.add.reduceat(c, starts) / np.diff(edges)
        i = np.arange(1, len(s) + 1, dtype=np.float64)[None, :]
        factors = np.maximum(i - lk, 0.0) / i
        suffix = np.cumprod(factors[:, ::-1], axis=1)[:, ::-1]
        f = np.concatenate([suffix, np.ones((len(ks), 1))], axis=1)[:, edges]
        acc += np.diff(f, axis=1) @ right
    return acc / (len(bounds) - 1)


def answer_codes(group, answers, correct) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's answer as an integer (0: abstains; one code per (problem, answer text)),
    and per code whether it is a correct answer of its problem."""
    arr = answers if isinstance(answers, (pa.Array, pa.ChunkedArray)) else pa.array(answers, type=pa.string())
    enc = pc.dictionary_encode(arr.cast(pa.string()))
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    text = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    voting = text >= 0
    key = np.where(voting, np.asarray(group, dtype=np.int64) * (len(enc.dictionary) + 1) + text + 1, 0)
    uniq, codes = np.unique(key, return_inverse=True)
    codes = codes.reshape(-1) + (0 if uniq[0] == 0 else 1)
    size = int(codes.max()) + 1
    right = np.bincount(codes, weights=np.asarray(correct, dtype=bool) & voting, minlength=size) > 0
    right[0] = False
    return codes, right


def _vote_walk(codes, weights, nonneg, right, perms, ks, colors, out):  # pragma: no cover (compiled)
    """Every draw's accuracy for one problem, majority (out[0]) and one weighted vote per column
    of `weights` (n, methods) (out[1 + m]), at each k (out[:, i, d]).

    codes: local answer codes (0 abstains); right: per code, 1 if it is a right answer; perms:
    (draws, n) random orders, the first k of a draw's order being its k-subset; nonneg: per
    weights column, whether no weight is negative. A draw's order is walked once: majority's leader
    and ties are kept as counts grow; a weighted vote keeps its largest sum (when no weight is
    negative) and, at each k, scans only the answers seen so far for the ties.
    """
    m_count = weights.shape[1]
    count = np.zeros(colors, np.int64)
    total = np.zeros((colors, m_count))
    top = np.empty(m_count)
    seen = np.empty(colors, np.int64)
    for d in range(perms.shape[0]):
        num_seen = 0
        best = 0
        wins = 0
        hits = 0
        for m in range(m_count):
            top[m] = -np.inf
        pos = 0
        for i in range(len(ks)):
            while pos < ks[i]:
                s = perms[d, pos]
                c = codes[s]
                pos += 1
                if c == 0:
                    continue
                if count[c] == 0:
                    seen[num_seen] = c
                    num_seen += 1
                v = count[c] + 1
                count[c] = v
                if v > best:
                    best, wins, hits = v, 1, right[c]
                elif v == best:
                    wins += 1
                    hits += right[c]
                for m in range(m_count):
                    t = total[c, m] + weights[s, m]
                    total[c, m] = t
                    if t > top[m]:
                        top[m] = t
            if num_seen == 0:                 # every sample so far abstains: wrong
                for m in range(m_count + 1):
                    out[m, i, d] = 0.0
                continue
            out[0, i, d] = hits / wins
            for m in range(m_count):
                high = top[m]
                if not nonneg[m]:             # a sum can fall: find the largest afresh
                    high = -np.inf
                    for j in range(num_seen):
                        high = max(high, total[seen[j], m])
                floor = high - 1e-9 * max(1.0, abs(high))   # sums of float scores: equal up to rounding tie
                w = 0
                h = 0
                for j in range(num_seen):
                    c = seen[j]
                    if total[c, m] >= floor:
                        w += 1
                        h += right[c]
                out[m + 1, i, d] = h / w
        for j in range(num_seen):             # reset only what this draw touched
            c = seen[j]
            count[c] = 0
            for m in range(m_count):
                total[c, m] = 0.0


_compiled = []


def _vote_kernel():
    """_vote_walk compiled by numba (imported here, on first use: it takes a second to import);
    numba caches the machine code beside this file, so only the first run anywhere compiles."""
    if not _compiled:
        from numba import njit

        _compiled.append(njit(cache=True, nogil=True)(_vote_walk))
    return _compiled[0]


def votes_at_k(group, answers, correct, ks, weights: dict | None = None, draws: int = 200,
               seed: int = 0) -> dict | None:
    """Monte Carlo majority vote@k and score-weighted votes@k, every method on the same random
    orders: {"majority": {"accuracy", "stderr"}, <name>: {...} per weights entry, "draws", "seed"},
    or None when no sample has an answer. weights: name -> per-sample vote weights.

    The `draws` random orders are drawn once per distinct n and shared by the problems with that
    n (each problem's estimate stays unbiased); the standard error is that of the mean over
    draws of the problem-averaged accuracy, which accounts for the sharing."""
    group = np.asarray(group, dtype=np.int64)
    codes, right = answer_codes(group, answers, correct)
    if not codes.any():
        return None
    ks = np.asarray(ks, dtype=np.int64)
    if len(ks) == 0 or np.any(np.diff(ks) <= 0) or ks[0] < 1:
        raise ValueError("ks must be positive and strictly increasing")
    names = list(weights or {})
    wts = np.array([np.asarray(weights[name], dtype=np.float64) for name in names]).reshape(len(names), len(codes))
    for name, w in zip(names, wts):
        if np.isnan(w).any():
            raise ValueError(f"vote weights {name!r} contain NaN; give every sample a score")
    nonneg = np.array([bool((w >= 0).all()) for w in wts], dtype=np.bool_)
    rng = np.random.default_rng(seed)
    order, bounds = _groups(group)
    sizes = np.diff(bounds)
    if ks[-1] > sizes.min():
        raise ValueError(f"k = {ks[-1]} is more than the fewest samples of a problem ({sizes.min()})")
    orders = {int(n): rng.permuted(np.broadcast_to(np.arange(n, dtype=np.int32), (draws, n)), axis=1)
              for n in np.unique(sizes)}
    kernel = _vote_kernel()

    def problem(bound):
        a, b = bound
        idx = order[a:b]
        used, local = np.unique(codes[idx], return_inverse=True)   # this problem's answers
        if used[0] != 0:
            used, local = np.concatenate([[0], used]), local + 1
        out = np.empty((1 + len(names), len(ks), draws))
        kernel(local.reshape(-1).astype(np.int64), np.ascontiguousarray(wts[:, idx].T), nonneg,
                     right[used].astype(np.int64), orders[b - a], ks, len(used), out)
        return out

    per_draw = np.zeros((1 + len(names), len(ks), draws))
    # The kernel releases the GIL: problems run on the machine's cores, summed in problem order.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for out in pool.map(problem, zip(bounds[:-1], bounds[1:])):
            per_draw += out
    per_draw /= len(sizes)
    acc = per_draw.mean(axis=2)
    # shifted by the first draw: equal draws (a k that leaves no choice) give exactly 0
    se = (per_draw - per_draw[:, :, :1]).std(axis=2, ddof=1) / np.sqrt(draws)
    result = {"draws": draws, "seed": seed}
    for j, name in enumerate(["majority"] + names):
        result[name] = {"accuracy": acc[j], "stderr": se[j]}
    return result


def vote_at_k(group, answers, correct, ks, weights=None, draws: int = 200, seed: int = 0) -> dict | None:
    """Monte Carlo majority (or weighted) vote@k: {"accuracy", "stderr"} per k, or None when no
    sample has an answer. weights: per-sample vote weights (a score) for a weighted vote."""
    out = votes_at_k(group, answers, correct, ks, None if weights is None else {"weighted": weights}, draws, seed)
    if out is None:
        return None
    return {**out["majority" if weights is None else "weighted"], "draws": draws, "seed": seed}


def default_ks(n_min: int, points: int = 30) -> np.ndarray:
    return log_grid(1, int(n_min), points)
