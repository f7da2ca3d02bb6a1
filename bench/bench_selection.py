"""Selection curves for a run directory of 1,000,000 samples: the goal is under 30 s.

Builds (or reuses, --keep DIR) the GSM8K run directory of bench_scale.py (100 problems x 10,000
real worked answers), verifies it if it has no verdicts yet, and adds two scores as shards:
`logprob` and `judge`, synthetic but shaped like real ones (a right sample scores a little
higher on average, so the curves differ). Then, in a fresh process and twice (the first
compiles the vote kernel unless numba's cache already holds it), it times what `monkeys analyze`
does for selection: read verdicts and scores from the run directory (experiments.rundir),
then majority vote@k, best-of-k by each score and the vote weighted by each
score (5 curves, 30 values of k, 200 random orders).

Usage: python bench/bench_selection.py [--samples 1000000] [--problems 100] [--keep DIR]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

GOAL_S = 30.0

TIMED = """
import json, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
from analysis.report import selection_report
from experiments.rundir import read_run
t_import = time.perf_counter()
run = read_run({run!r})
t_read = time.perf_counter()
sel, notes = selection_report(run, run["scores"], seed=0)
t_sel = time.perf_counter()
print(json.dumps({{"import_s": t_import - t0, "read_s": t_read - t_import, "curves_s": t_sel - t_read,
                  "methods": sorted(sel), "samples": int(len(run["group"])), "notes": notes,
                  "at_n": {{m: v["accuracy"][-1] for m, v in sel.items()}}, "k_max": sel["majority"]["k"][-1],
                  "coverage_at_n": float((run["c"] > 0).mean())}}))
"""


def add_scores(run_dir: Path) -> None:
    """logprob and judge for every verified sample, 10,000 rows a shard, unless already there."""
    import numpy as np
    import pyarrow as pa

    from experiments import rundir

    if set(rundir.score_names(run_dir)) >= {"logprob", "judge"}:
        return
    verdicts = rundir.read_verdicts(run_dir, ["problem_id", "sample_index", "correct"])
    right = verdicts["correct"].to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(0)
    logprob = -np.abs(rng.normal(0.55 - 0.1 * right, 0.15))
    judge = rng.beta(2 + right, 3, len(right))
    for start in range(0, verdicts.num_rows, 10_000):
        part = slice(start, start + 10_000)
        rundir.write_scores(run_dir, pa.table({"problem_id": verdicts["problem_id"][part],
                                               "sample_index": verdicts["sample_index"][part],
                                               "logprob": logprob[part], "judge": judge[part]}), ["logprob", "judge"])


def main() -> int:
    from bench_scale import scale_run

    setup = scale_run(__doc__.splitlines()[0], "monkeys-selection-")
    if setup is None:
        return 0
    args, base, run_dir = setup
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    if not list((run_dir / "verdicts").glob("part-*.parquet")):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "experiments.cli", "verify", str(run_dir)], check=True, cwd=ROOT, env=env)
        print(f"verified in {time.monotonic() - t0:.0f} s")
    t0 = time.monotonic()
    add_scores(run_dir)
    print(f"scores (logprob, judge) stored in {time.monotonic() - t0:.1f} s")
    results = []
    for attempt in ("first", "second"):
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", TIMED.format(root=str(ROOT), run=str(run_dir))],
                              capture_output=True, text=True, cwd=ROOT, env=env)
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-4000:])
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["wall_s"] = wall
        results.append(res)
        print(f"{attempt} run: read {res['read_s']:.1f} s + curves {res['curves_s']:.1f} s "
              f"(imports {res['import_s']:.1f} s; process wall {wall:.1f} s)")
    res = results[-1]
    print(f"\n{res['samples']:,} verified samples, {args.problems} problems, {os.cpu_count()} CPUs; "
          f"{len(res['methods'])} curves: {', '.join(res['methods'])}")
    print(f"at k = {res['k_max']}: coverage {100 * res['coverage_at_n']:.1f}%, "
          + ", ".join(f"{m} {100 * v:.1f}%" for m, v in sorted(res["at_n"].items())))
    for label, r in zip(("first (kernel compiled)", "cached kernel"), results):
        total = r["read_s"] + r["curves_s"]
        print(f"{label:<24} read + curves {total:6.1f} s   goal < {GOAL_S:.0f} s   ratio {total / GOAL_S:.2f}")
    if not args.keep:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
