"""Majority vote@k: the chance that the most common answer among k random samples is correct.

Samples whose extracted answer is null abstain. Each k is estimated by drawing k of a
problem's n samples without replacement (multivariate hypergeometric over its distinct
answers), many times; ties are broken uniformly at random; all-abstain counts as wrong.
"""
from __future__ import annotations

import numpy as np

from .fit import log_grid


def vote_curve(group, answers, correct, ks=None, draws: int = 200, seed: int = 0) -> dict | None:
    """Mean vote@k over problems at ks (default: a log grid up to the smallest n), or None
    when no sample has an extracted answer."""
    group = np.asarray(group)
    correct = np.asarray(correct, dtype=bool)
    if answers is None or all(a is None for a in answers):
        return None
    num = int(group.max()) + 1
    n = np.bincount(group, minlength=num)
    ks = log_grid(1, int(n.min()), 30) if ks is None else np.asarray(ks, dtype=np.int64)
    rng = np.random.default_rng(seed)
    per_problem = []
    order = np.argsort(group, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(n)])
    for p in range(num):
        idx = order[bounds[p]:bounds[p + 1]]
        tally: dict = {}
        for j in idx:
            a = answers[j]
            key = None if a is None else str(a)
            cnt, ok = tally.get(key, (0, False))
            tally[key] = (cnt + 1, ok or bool(correct[j]))
        keys = list(tally)
        colors = np.array([tally[k][0] for k in keys], dtype=np.int64)
        right = np.array([tally[k][1] and k is not None for k in keys])
        voting = np.array([k is not None for k in keys])
        row = []
        for k in ks:
            drawn = rng.multivariate_hypergeometric(colors, int(k), size=draws).astype(float)
            drawn[:, ~voting] = 0
            has_vote = drawn.sum(axis=1) > 0
            winner = np.argmax(drawn + rng.random(drawn.shape) * 0.5 * (drawn > 0), axis=1)
            row.append(np.mean(right[winner] & has_vote))
        per_problem.append(row)
    return {"k": ks.tolist(), "vote_at_k": np.mean(per_problem, axis=0).tolist(),
            "rule": f"majority of extracted answers, {draws} random draws per k and problem"}
