"""Forecast-mode pilot sampling: which problems get the next samples when the goal is a forecast.

After a uniform pilot, the coverage forecast at large K is uncertain because of the hard
problems: a solved problem stays solved, so only the unsolved ones carry uncertainty about
these problems' coverage, and the tail of small success rates decides how coverage keeps
growing. Kazdan et al. 2025 ("Efficient Prediction of Pass@k Scaling in Large Language Models")
make the same point and spend more of the sampling budget on harder problems. The policy here:

1. every problem first gets `min_samples` (the uniform pilot; its coverage curve is what the
   power law is fitted to, so it must be the same length for all problems);
2. then each round, the open problems with the fewest successes so far (ties: fewest samples,
   then problem id) get `step` more samples each, while the budget lasts. A problem closes at
   `stop_after` successes (its rate is then known well enough for the forecast) or at `cap`
   samples.

Pure and engine-agnostic, like sampler/budget.py's `plan`: plain data in, counts out, no
randomness. The state maps problem_id to anything with `attempts`, `successes` and `pending`
(sampler.budget.Tally fits); a problem with pending samples waits for their verdicts.
"""
from __future__ import annotations

from typing import Any, Mapping


def forecast_plan(state: Mapping[str, Any], *, total: int, min_samples: int, cap: int,
                  stop_after: int = 3, step: int = 1) -> dict[str, int]:
    """How many more samples to request per problem now; problems not listed get none.

    total: samples in all (every problem, requested so far included). An empty result while
    samples are pending means: wait for verdicts; with none pending: the pilot is finished.
    """
    if total < 0 or min_samples < 1 or cap < min_samples or stop_after < 1 or step < 1:
        raise ValueError(f"invalid forecast budget: total={total}, min_samples={min_samples}, cap={cap}, "
                         f"stop_after={stop_after}, step={step}; need total >= 0, 1 <= min_samples <= cap, "
                         "stop_after >= 1, step >= 1")
    used = {pid: t.attempts + t.pending for pid, t in state.items()}
    remaining = total - sum(used.values())
    if remaining <= 0:
        return {}
    out: dict[str, int] = {}
    # 1. the uniform pilot, least-used first (it does not depend on outcomes: no waiting)
    short = sorted((u, pid) for pid, u in used.items() if u < min_samples)
    if short:
        level = _fill_level([u for u, _ in short], min_samples, remaining)
        for u, pid in short:
            want = max(0, min(level, min_samples) - u)
            if want:
                out[pid] = want
                remaining -= want
        for u, pid in short:                      # what the level left over, one sample each
            if remaining <= 0:
                break
            if u + out.get(pid, 0) < min_samples:
                out[pid] = out.get(pid, 0) + 1
                remaining -= 1
        return out
    # 2. the hard problems: fewest successes first
    open_ = sorted((t.successes, t.attempts, pid) for pid, t in state.items()
                   if not t.pending and t.successes < stop_after and t.attempts < cap)
    for _, attempts, pid in open_:
        if remaining <= 0:
            break
        give = min(step, cap - attempts, remaining)
        out[pid] = give
        remaining -= give
    return dict(sorted(out.items()))


def _fill_level(used: list[int], ceiling: int, budget: int) -> int:
    """Highest common level (<= ceiling) the least-used problems can be raised to within budget."""
    lo, hi = min(used), ceiling
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(max(0, mid - u) for u in used) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo
