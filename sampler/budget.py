"""Adaptive sampling budget ("solve" mode): stop on success, give the savings to unsolved problems.

Coverage only asks whether a problem has at least one verified success, so samples spent on a
problem after that are wasted for it. After each batch of verdicts the driver asks `plan` how
many more samples each problem should get: solved problems (at `stop_after` successes) get
none, the rest share what is left of the total budget, least-tried first, never beyond the
per-problem cap. Least-tried first is the greedy choice because a problem's chance of being
solved by its next sample only falls as failures pile up.

Every attempt keeps its sample index (0, 1, 2 … per problem, no gaps), so each problem's
samples are a prefix of the sequence uniform sampling would have drawn. "Solved within the
first k samples" is then exact for every problem tried at least k times or solved before k;
the unbiased pass@k estimator over all n samples does not apply, because n itself depends on
the outcomes.

Pure and engine-agnostic: plain data in, counts out, no randomness.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Budget:
    """How much to spend. `total` counts every sample requested, across all problems."""

    total: int
    cap: int                # most samples any one problem gets
    stop_after: int = 1     # verified successes that retire a problem
    step: int = 1           # fewest samples a problem gets per round (engine batch granularity)
    growth: float = 0.0     # a round asks growth x samples already spent, if more than `step`

    def __post_init__(self):
        if self.total < 0 or self.cap < 1 or self.stop_after < 1 or self.step < 1 or self.growth < 0:
            raise ValueError(f"invalid budget {self}: need total >= 0, cap >= 1, stop_after >= 1, "
                             "step >= 1, growth >= 0")


@dataclass(frozen=True)
class Tally:
    """One problem so far: verified attempts, verified successes, requested but unverified."""

    attempts: int = 0
    successes: int = 0
    pending: int = 0

    @property
    def next_index(self) -> int:
        """Sample index the next request starts at."""
        return self.attempts + self.pending


def tally(problem_ids: Iterable, verdicts: Iterable[dict] = (), pending: dict | None = None) -> dict[str, Tally]:
    """State from verdict rows ({problem_id, correct}), with every problem present, even untried."""
    state = {str(pid): Tally() for pid in problem_ids}
    for v in verdicts:
        pid = str(v["problem_id"])
        t = state.get(pid, Tally())
        state[pid] = replace(t, attempts=t.attempts + 1, successes=t.successes + bool(v["correct"]))
    for pid, count in (pending or {}).items():
        t = state.get(str(pid), Tally())
        state[str(pid)] = replace(t, pending=t.pending + int(count))
    return state


def record(state: dict[str, Tally], counts: dict[str, int], verdicts: Iterable[dict] = ()) -> dict[str, Tally]:
    """New state after requesting `counts` (now pending) and/or receiving `verdicts`."""
    new = dict(state)
    for pid, count in counts.items():
        t = new.get(pid, Tally())
        new[pid] = replace(t, pending=t.pending + count)
    for v in verdicts:
        pid = str(v["problem_id"])
        t = new.get(pid, Tally())
        new[pid] = Tally(t.attempts + 1, t.successes + bool(v["correct"]), max(0, t.pending - 1))
    return new


def spent(state: dict[str, Tally]) -> int:
    """Samples requested so far, verified or not."""
    return sum(t.attempts + t.pending for t in state.values())


def solved(state: dict[str, Tally]) -> int:
    """Problems with at least one verified success."""
    return sum(1 for t in state.values() if t.successes > 0)


def plan(state: dict[str, Tally], budget: Budget) -> dict[str, int]:
    """How many more samples to request per problem now; problems not listed get none.

    A problem is open while it has fewer than `stop_after` successes, is under the cap and has
    no pending samples (its next round waits for the verdicts of the last, so a success stops
    it exactly). Each open problem wants max(step, growth x spent) more, up to the cap; when
    the remaining budget cannot cover every want, the least-tried get theirs first (ties by
    problem_id). An empty result with open problems pending means: wait for verdicts.
    """
    remaining = budget.total - spent(state)
    if remaining <= 0:
        return {}
    wants = {}
    for pid, t in state.items():
        used = t.attempts + t.pending
        if t.successes >= budget.stop_after or used >= budget.cap or t.pending:
            continue
        want = max(budget.step, math.ceil(budget.growth * used))
        wants[pid] = min(want, budget.cap - used)
    if sum(wants.values()) <= remaining:
        return dict(sorted(wants.items()))
    used = {pid: state[pid].attempts for pid in wants}
    return _water_fill(wants, used, remaining)


def _water_fill(wants: dict[str, int], used: dict[str, int], remaining: int) -> dict[str, int]:
    """Raise the least-used problems first to a common level, spending exactly `remaining`."""
    def cost(level: int) -> int:
        return sum(min(w, max(0, level - used[p])) for p, w in wants.items())

    lo, hi = min(used.values()), max(used[p] + w for p, w in wants.items())
    while lo < hi:  # highest level whose cost fits
        mid = (lo + hi + 1) // 2
        if cost(mid) <= remaining:
            lo = mid
        else:
            hi = mid - 1
    alloc = {p: min(w, max(0, lo - used[p])) for p, w in wants.items()}
    left = remaining - sum(alloc.values())
    for p in sorted(wants, key=lambda p: (used[p] + alloc[p], p)):
        if left <= 0:
            break
        if alloc[p] < wants[p]:
            alloc[p] += 1
            left -= 1
    return {p: c for p, c in sorted(alloc.items()) if c > 0}


def work_units(state: dict[str, Tally], counts: dict[str, int]) -> list[dict]:
    """Turn a plan into requests {problem_id, start, count} with contiguous sample indices."""
    return [{"problem_id": pid, "start": state[pid].next_index if pid in state else 0, "count": c}
            for pid, c in counts.items() if c > 0]


def simulate(rates: Sequence[float], budget: Budget, seed: int = 0,
             stop_at_solved: float | None = None) -> list[tuple[int, int]]:
    """Run the policy against known per-problem success rates; return (samples spent, problems
    solved) after each round, every round fully verified before the next. Stops when the plan
    is empty or `stop_at_solved` problems are solved. For choosing step/growth before spending
    compute, and for the budget benchmark.

    Sample j of problem i succeeds iff the j-th draw of `outcome_stream(seed, i)` is below
    rates[i], so every policy (and uniform sampling) sees the same outcomes for a given seed.
    """
    streams = [outcome_stream(seed, i) for i in range(len(rates))]
    ids = [f"{i:06d}" for i in range(len(rates))]
    index = {pid: i for i, pid in enumerate(ids)}
    state = tally(ids)
    trace = [(0, 0)]
    while True:
        counts = plan(state, budget)
        if not counts:
            return trace
        for pid, c in counts.items():
            i, t = index[pid], state[pid]
            draw = streams[i].random
            wins = sum(1 for _ in range(c) if draw() < rates[i])
            state[pid] = Tally(t.attempts + c, t.successes + wins, 0)
        trace.append((spent(state), solved(state)))
        if stop_at_solved is not None and trace[-1][1] >= stop_at_solved:
            return trace


def outcome_stream(seed: int, problem: int) -> random.Random:
    """The uniform draws deciding problem `problem`'s samples, in sample-index order."""
    return random.Random(f"{seed}/{problem}")
