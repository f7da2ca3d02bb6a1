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
  every k at once, with a fixed seed and a stated standard error. Counting a prefix for all
  draws is one bincount, so a problem with thousands of distinct answers costs no more than
  one with two.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import gammaln

from .fit import log_grid


def _log_comb(n, k):
    n, k = np.asarray(n, dtype=np.float64), np.asarray(k, dtype=np.float64)
    ok = (k >= 0) & (k <= n)
    out = np.full(np.broadcast(n, k).shape, -np.inf)
    nn, kk = np.broadcast_arrays(n, k)
    out[ok] = gammaln(nn[ok] + 1) - gammaln(kk[ok] + 1) - gammaln(nn[ok] - kk[ok] + 1)
    return out


def _groups(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order that sorts samples by problem, start offsets of each problem in it)."""
    num = int(group.max()) + 1
    n = np.bincount(group, minlength=num)
    return np.argsort(group, kind="stable"), np.concatenate([[0], np.cumsum(n)])


def best_of_k(group, score, correct, ks) -> np.ndarray:
    """Exact mean accuracy over problems of picking the top-scoring of k random samples, per k.
    A k larger than a problem's n is undefined (nan) for the mean; pass ks <= min n."""
    group = np.asarray(group, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    ks = np.asarray(ks, dtype=np.int64)
    if np.isnan(score).any():
        raise ValueError("scores contain NaN; give every sample a score (or drop the scorer)")
    order, bounds = _groups(group)
    acc = np.zeros(len(ks))
    for a, b in zip(bounds[:-1], bounds[1:]):
        idx = order[a:b]
        s, c = score[idx], correct[idx]
        srt = np.argsort(s, kind="stable")
        s, c = s[srt], c[srt]
        # tie groups of equal score, ascending: start offsets and sizes
        starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
        sizes = np.diff(np.concatenate([starts, [len(s)]]))
        right = np.add.reduceat(c, starts)
        n = len(s)
        lk = ks[:, None]
        top = np.exp(_log_comb(starts[None, :] + sizes[None, :], lk) - _log_comb(n, lk))
        below = np.exp(_log_comb(starts[None, :], lk) - _log_comb(n, lk))
        acc += ((top - below) * (right / sizes)[None, :]).sum(axis=1)
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


def _vote_problem(codes, weights, colors, right, ks, draws, rng) -> np.ndarray:
    """Per k, the per-draw accuracy (draws,) of one problem; codes are local (0 = abstain)."""
    perm = rng.permuted(np.broadcast_to(np.arange(len(codes)), (draws, len(codes))), axis=1)
    lab = codes[perm]
    w = None if weights is None else weights[perm]
    offset = (np.arange(draws) * colors)[:, None]
    out = np.empty((len(ks), draws))
    for i, k in enumerate(ks):
        flat = (lab[:, :k] + offset).ravel()
        tot = np.bincount(flat, weights=None if w is None else w[:, :k].ravel(), minlength=draws * colors)
        tot = tot.reshape(draws, colors)
        present = np.bincount(flat, minlength=draws * colors).reshape(draws, colors) > 0
        present[:, 0] = False              # abstentions do not vote
        tot = np.where(present, tot, -np.inf)
        best = tot.max(axis=1)
        if w is None:
            winners = (tot == best[:, None]) & present
        else:  # sums of float scores: equal up to rounding counts as a tie
            winners = (tot >= best[:, None] - 1e-9 * np.maximum(1.0, np.abs(best))[:, None]) & present
        out[i] = (winners & right).sum(axis=1) / np.maximum(winners.sum(axis=1), 1)
    return out


def vote_at_k(group, answers, correct, ks, weights=None, draws: int = 200, seed: int = 0) -> dict | None:
    """Monte Carlo majority (or weighted) vote@k: {"accuracy", "stderr"} per k, or None when no
    sample has an answer. weights: per-sample vote weights (a score) for a weighted vote."""
    group = np.asarray(group, dtype=np.int64)
    codes, right = answer_codes(group, answers, correct)
    if not codes.any():
        return None
    ks = np.asarray(ks, dtype=np.int64)
    wts = None if weights is None else np.asarray(weights, dtype=np.float64)
    if wts is not None and np.isnan(wts).any():
        raise ValueError("vote weights contain NaN; give every sample a score")
    rng = np.random.default_rng(seed)
    order, bounds = _groups(group)
    means, variances = [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        idx = order[a:b]
        used, local = np.unique(codes[idx], return_inverse=True)   # this problem's answers
        if used[0] != 0:
            used, local = np.concatenate([[0], used]), local + 1
        per_draw = _vote_problem(local.reshape(-1), None if wts is None else wts[idx], len(used), right[used], ks,
                                 draws, rng)
        means.append(per_draw.mean(axis=1))
        variances.append(per_draw.var(axis=1, ddof=1) / draws)
    num = len(means)
    return {"accuracy": np.mean(means, axis=0), "stderr": np.sqrt(np.sum(variances, axis=0)) / num,
            "draws": draws, "seed": seed}


def default_ks(n_min: int, points: int = 30) -> np.ndarray:
    return log_grid(1, int(n_min), points)
