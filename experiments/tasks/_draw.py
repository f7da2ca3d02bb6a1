"""Seeded random choices that are the same on every machine and every Python.

Both draws hash text with SHA-256 instead of using `random`, `hash()` or set order, so they
depend only on the seed and on problem ids:

- `subset`: a problem's place is the SHA-256 of "<seed>:<problem_id>"; the subset of size N is
  the N problems with the smallest values, in that order. So a problem's membership does not
  depend on row order or on the other problems, and for one seed the subset of size 32 is the
  first 32 of the subset of size 128 (raising `subset` only adds problems).
- `shots`: draw j for a problem picks pool entry SHA-256("<seed>:<problem_id>:<j>") mod pool
  size, for j = 0, 1, ..., skipping repeats and entries whose text is the problem's own, until
  k are chosen. A problem's examples do not depend on which other problems are in the run.
"""
from __future__ import annotations

import hashlib
from itertools import count

from ._base import TaskError


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def subset(problems: list[dict], size: int, seed: int) -> list[dict]:
    """`size` problems chosen at random with `seed`, in their random order."""
    if size > len(problems):
        raise TaskError(f"task.subset = {size} is more than the {len(problems)} problems the source has; "
                        "lower it, or set subset = 0 for all of them")
    ranked = sorted(range(len(problems)), key=lambda i: (_h(f"{seed}:{problems[i]['problem_id']}"), i))
    return [problems[i] for i in ranked[:size]]


def _norm(text: str) -> str:
    return " ".join(text.split())


def texts(pool: list[dict]) -> dict[str, list[int]]:
    """Pool positions by whitespace-normalised text: computed once per pool, used by `shots`."""
    out: dict[str, list[int]] = {}
    for i, ex in enumerate(pool):
        out.setdefault(_norm(ex["text"]), []).append(i)
    return out


def shots(problem: dict, pool: list[dict], k: int, seed: int, by_text: dict | None = None) -> list[dict]:
    """k examples from `pool` for `problem`, at random with `seed`, never the problem itself
    (no entry whose text equals the problem's, whitespace aside). `by_text` is `texts(pool)`."""
    if k == 0:
        return []
    own = set((by_text if by_text is not None else texts(pool)).get(_norm(problem["text"]), ()))
    if len(pool) - len(own) < k:
        raise TaskError(f"shots = {k} but only {len(pool) - len(own)} few-shot examples are available for "
                        f"{problem['problem_id']}; lower [task] shots")
    chosen: list[int] = []
    for j in count():
        i = _h(f"{seed}:{problem['problem_id']}:{j}") % len(pool)
        if i not in own and i not in chosen:
            chosen.append(i)
            if len(chosen) == k:
                return [pool[i] for i in chosen]
    raise AssertionError("unreachable")
