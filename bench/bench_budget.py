"""Adaptive budget against uniform sampling on the Large Language Monkeys Pythia counts.

For each model and k, the target is uniform sampling's expected coverage at k,
mean(1 - (1 - p)^k), computed exactly from each problem's real rate p = num_correct /
num_samples. Both policies are then simulated on the same Bernoulli draws (per seed, sample j
of problem i has the same outcome under either policy): uniform gives every problem one more
sample per round, the adaptive policy (sampler.budget) follows its plan. Each one's spend is
taken when its solved count first reaches the target (interpolated within the last round), so
both carry the same first-passage noise. Printed: mean adaptive spend / mean uniform spend
over seeds (± the standard deviation of the per-seed ratio). Lower is better; 1.0 means no
saving. The "uniform" column is uniform's simulated spend / (problems x k), near 1 by design.

"bound" is the expected ratio of stop-at-first-success one sample at a time,
mean(E[min(T, k)]) / k with T the first success: problems that are never solved cost k
samples whatever the policy, so the saving is limited by how many problems get solved.

Data: $MONKEYS_SHARED_DATA/monkeys_pythia_math/per_problem_counts.csv (default ../shared/data).
Usage: python bench/bench_budget.py [--seeds 20] [--k 100 1000]
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.counts import read_counts  # noqa: E402
from sampler.budget import Budget, outcome_stream, simulate  # noqa: E402

POLICIES = {  # name: (step, growth)
    "one-at-a-time": (1, 0.0),
    "rounds-of-8": (8, 0.0),
    "doubling": (4, 1.0),
}


def samples_to_reach(trace, target: float) -> float:
    """Samples spent when the solved count first reaches `target`, linear within a round."""
    prev_spent, prev_solved = trace[0]
    for spent, solved in trace[1:]:
        if solved >= target:
            frac = (target - prev_solved) / (solved - prev_solved)
            return prev_spent + frac * (spent - prev_spent)
        prev_spent, prev_solved = spent, solved
    return float("nan")


def uniform_trace(p: np.ndarray, seed: int, cap: int, target: float):
    """(spent, solved) after each uniform round, on the draws `simulate` uses for this seed."""
    first = np.full(p.size, np.inf)
    for i, rate in enumerate(p):
        if rate > 0:
            draw = outcome_stream(seed, i).random
            for j in range(1, cap + 1):
                if draw() < rate:
                    first[i] = j
                    break
    rounds = np.arange(0, cap + 1)
    solved = np.searchsorted(np.sort(first), rounds, side="right")
    last = int(np.searchsorted(solved, target)) + 1
    return list(zip((rounds[:last] * p.size).tolist(), solved[:last].tolist()))


def bound(p: np.ndarray, k: int) -> float:
    safe = np.where(p > 0, p, 1.0)
    expected = np.where(p > 0, (1 - (1 - p) ** k) / safe, k)
    return float(expected.mean() / k)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--k", type=int, nargs="+", default=[100, 1000])
    args = ap.parse_args()
    shared = Path(os.environ.get("MONKEYS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    path = shared / "monkeys_pythia_math" / "per_problem_counts.csv"
    if not path.is_file():
        print(f"skip: {path} not found; set MONKEYS_SHARED_DATA to the shared data folder")
        return 0
    models = read_counts(path)
    t0 = time.perf_counter()
    print(f"{len(models)} models; target = uniform's exact expected coverage at k; uniform and adaptive "
          f"simulated on the same draws, {args.seeds} seeds; ratio = adaptive samples / uniform samples")
    totals = {(k, name): [0.0, 0.0] for k in args.k for name in POLICIES}
    for k in args.k:
        header = (f"{'model':<12} {'k':>5} {'coverage':>8} {'bound':>6} {'uniform':>7} "
                  + " ".join(f"{n:>14}" for n in POLICIES))
        print("\n" + header)
        for model, rec in models.items():
            p = np.asarray(rec["c"], float) / np.asarray(rec["n"], float)
            cap = int(np.max(rec["n"]))
            target = float(np.sum(1 - (1 - p) ** k))
            uniform = np.array([samples_to_reach(uniform_trace(p, s, cap, target), target)
                                for s in range(args.seeds)])
            cells = []
            for name, (step, growth) in POLICIES.items():
                budget = Budget(total=p.size * cap, cap=cap, step=step, growth=growth)
                adaptive = np.array([samples_to_reach(simulate(p.tolist(), budget, seed=s, stop_at_solved=target),
                                                      target) for s in range(args.seeds)])
                totals[(k, name)][0] += adaptive.mean()
                totals[(k, name)][1] += uniform.mean()
                cells.append(f"{adaptive.mean() / uniform.mean():>7.3f} ±{np.std(adaptive / uniform):.3f}")
            print(f"{model:<12} {k:>5} {target / p.size:>8.3f} {bound(p, k):>6.3f} "
                  f"{uniform.mean() / (p.size * k):>7.3f} " + " ".join(f"{c:>14}" for c in cells))
        pooled = " ".join(f"{totals[(k, n)][0] / totals[(k, n)][1]:>14.3f}" for n in POLICIES)
        print(f"{'all (pooled)':<12} {k:>5} {'':>8} {'':>6} {'':>7} {pooled}")
    print(f"\n{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
