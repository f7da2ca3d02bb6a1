"""Majority vote@k: the chance that the most common answer among k random samples is correct.

Samples whose extracted answer is null abstain. Each k is estimated by Monte Carlo: `draws`
random orders of a problem's n samples, whose first k samples are a uniform k-subset for
every k at once; the winner is the most common answer among them, a tie counts as the share of
right answers among the tied (the expectation of a uniform tie-break), all-abstain as wrong.
Counting a prefix for all draws is one bincount, so a problem with thousands of distinct
answers costs no more than one with two.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .fit import log_grid

def answer_codes(group, answers, correct) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's answer as an integer (0: abstains; one code per (problem, answer) text), and
    per code whether it is a correct answer of its problem."""
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


def _vote_problem(codes, colors, right, ks, draws, rng) -> list[float]:
    """codes: the problem's samples as answer indices (0 = abstain); right[c]: answer c is correct."""
    order = rng.permuted(np.broadcast_to(codes, (draws, len(codes))), axis=1)
    offset = (np.arange(draws) * colors)[:, None]
    out = []
    for k in ks:
        counts = np.bincount((order[:, :k] + offset).ravel(), minlength=draws * colors).reshape(draws, colors)
        counts[:, 0] = 0   # abstentions do not vote
        best = counts.max(axis=1)
        winners = (counts == best[:, None]) & (best[:, None] > 0)
        share = (winners & right).sum(axis=1) / np.maximum(winners.sum(axis=1), 1)
        out.append(float(share.mean()))
    return out


def vote_curve(group, answers, correct, ks=None, draws: int = 200, seed: int = 0) -> dict | None:
    """Mean vote@k over problems at ks (default: a log grid up to the smallest n), or None
    when no sample has an extracted answer."""
    if answers is None:
        return None
    group = np.asarray(group, dtype=np.int64)
    codes, right = answer_codes(group, answers, correct)
    if not codes.any():
        return None
    num = int(group.max()) + 1
    n = np.bincount(group, minlength=num)
    ks = log_grid(1, int(n.min()), 30) if ks is None else np.asarray(ks, dtype=np.int64)
    rng = np.random.default_rng(seed)
    order = np.argsort(group, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(n)])
    per_problem = []
    for p in range(num):
        mine = codes[order[bounds[p]:bounds[p + 1]]]
        used, local = np.unique(mine, return_inverse=True)   # this problem's answers, 0 first if present
        if used[0] != 0:
            used, local = np.concatenate([[0], used]), local + 1
        per_problem.append(_vote_problem(local, len(used), right[used], ks, draws, rng))
    return {"k": ks.tolist(), "vote_at_k": np.mean(per_problem, axis=0).tolist(),
            "rule": f"majority of extracted answers, ties split evenly, {draws} random draws per k and problem"}
