"""Selection@k against brute force: every k-subset of small problems enumerated."""
import itertools
from collections import defaultdict

import numpy as np
import pytest

from analysis.selection import best_of_k, vote_at_k


def enumerate_best_of(scores, correct, k):
    total, count = 0.0, 0
    for sub in itertools.combinations(range(len(scores)), k):
        top = max(scores[i] for i in sub)
        tied = [i for i in sub if scores[i] == top]
        total += sum(correct[i] for i in tied) / len(tied)
        count += 1
    return total / count


def enumerate_vote(answers, correct, k, weights=None):
    right = {a for a, c in zip(answers, correct) if c and a is not None}
    total, count = 0.0, 0
    for sub in itertools.combinations(range(len(answers)), k):
        tally = defaultdict(float)
        for i in sub:
            if answers[i] is not None:
                tally[answers[i]] += 1.0 if weights is None else weights[i]
        count += 1
        if not tally:
            continue
        best = max(tally.values())
        win = [a for a, v in tally.items() if v == best]
        total += sum(a in right for a in win) / len(win)
    return total / count


PROBLEMS = [  # (scores, correct, answers): ties in scores and answers, abstentions
    # scores in eighths: sums are exact in floating point, so ties are the same in both methods
    ([0.125, 0.5, 0.5, 0.875, 0.25, 0.5, 0.875, 0.375], [0, 1, 0, 0, 1, 1, 1, 0],
     ["a", "b", "a", None, "b", "b", "c", "a"]),
    ([3, 1, 2, 2, 2, 0, 5], [1, 0, 0, 1, 0, 0, 0], ["x", "y", "y", "x", "z", "y", "z"]),
    ([1, 1, 1, 1, 1, 1], [0, 0, 1, 0, 0, 0], [None, None, "q", "r", "r", "q"]),
]


def flat(problems, field):
    return [v for p in problems for v in p[field]]


def test_best_of_k_equals_enumeration_with_ties():
    group = [i for i, p in enumerate(PROBLEMS) for _ in p[0]]
    n_min = min(len(p[0]) for p in PROBLEMS)
    ks = list(range(1, n_min + 1))
    got = best_of_k(group, flat(PROBLEMS, 0), flat(PROBLEMS, 1), ks)
    want = [np.mean([enumerate_best_of(p[0], p[1], k) for p in PROBLEMS]) for k in ks]
    assert got == pytest.approx(want, abs=1e-12)
    assert got[0] == pytest.approx(np.mean([np.mean(p[1]) for p in PROBLEMS]))   # k = 1 is pass@1


def test_best_of_k_at_scale_is_finite_and_bounded():
    rng = np.random.default_rng(0)
    group = np.repeat(np.arange(50), 2000)
    correct = rng.random(group.size) < 0.1
    score = rng.normal(size=group.size) + 0.5 * correct      # an informative scorer
    acc = best_of_k(group, score, correct, [1, 10, 100, 2000])
    assert np.all(np.isfinite(acc)) and acc[0] == pytest.approx(correct.mean(), abs=1e-12)
    assert acc[1] > acc[0]                                   # it helps to pick by an informative score
    with pytest.raises(ValueError, match="NaN"):
        best_of_k([0, 0], [np.nan, 1.0], [True, False], [1])


@pytest.mark.parametrize("weighted", [False, True])
def test_vote_matches_enumeration_within_its_stated_error(weighted):
    group = [i for i, p in enumerate(PROBLEMS) for _ in p[0]]
    weights = flat(PROBLEMS, 0) if weighted else None
    ks = [1, 2, 3, 4, 6]
    out = vote_at_k(group, flat(PROBLEMS, 2), flat(PROBLEMS, 1), ks, weights=weights, draws=4000, seed=3)
    want = np.array([np.mean([enumerate_vote(p[2], p[1], k, p[0] if weighted else None) for p in PROBLEMS])
                     for k in ks])
    assert np.all(np.abs(out["accuracy"] - want) <= 4 * out["stderr"] + 1e-12), (out, want)
    assert np.all(out["stderr"] < 0.02)


def test_vote_is_repeatable_with_its_seed():
    group = [i for i, p in enumerate(PROBLEMS) for _ in p[0]]
    a = vote_at_k(group, flat(PROBLEMS, 2), flat(PROBLEMS, 1), [2, 4], seed=7)
    b = vote_at_k(group, flat(PROBLEMS, 2), flat(PROBLEMS, 1), [2, 4], seed=7)
    assert a["accuracy"].tolist() == b["accuracy"].tolist()
