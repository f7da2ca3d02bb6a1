"""`monkeys audit RUN_DIR`: check the checker.

Coverage is only as good as the verifier behind it (Brown et al. 2024 found CodeContests
problems whose tests reject correct solutions, and SWE-bench problems whose tests are flaky).
Two checks, through the same verifier and settings as `monkeys verify`:

- false negatives: each problem's gold solution (problems.parquet `gold`: HumanEval's canonical
  completion, MBPP's code, GSM8K's worked answer, MATH's solution) is verified as if it were a
  sample, `repeats` times. A problem whose gold fails every time is flagged "gold fails"; one
  whose gold passes only sometimes is flagged flaky.
- flakiness: every passing sample, and up to `failing` failing samples per problem (drawn with
  `seed`), are verified again `repeats` times. A problem where any verdict differs from the
  stored one is flagged flaky.

The result goes to audit.json in the run directory (experiments/rundir owns it); `analyze` then
reports coverage with the flagged problems left out beside the raw one, and the plot's caption
says what was flagged. Stored verdicts are never changed.
"""
from __future__ import annotations

import sys
import time
from collections import defaultdict

import numpy as np

from . import rundir
from .config import ConfigError, Experiment

GOLD = -1    # the sample_index under which a gold solution travels through the verifier


def pick_rechecks(pids, idx, correct, failing: int, seed: int) -> list[tuple[str, int, bool]]:
    """(problem_id, sample_index, stored verdict) to verify again: every passing sample, and up
    to `failing` failing samples of each problem, drawn at random with `seed`."""
    rng = np.random.default_rng(seed)
    fails: dict[str, list[int]] = defaultdict(list)
    out = []
    for p, i, c in zip(pids, idx, correct):
        if c:
            out.append((p, int(i), True))
        else:
            fails[p].append(int(i))
    for p in sorted(fails):
        chosen = fails[p] if len(fails[p]) <= failing else rng.choice(fails[p], failing, replace=False).tolist()
        out += [(p, int(i), False) for i in sorted(chosen)]
    return out


def judge(problem_ids: list[str], gold: dict[str, list[bool]], gold_detail: dict[str, str],
          rechecks: list[tuple[str, int, bool]], reruns: dict[tuple[str, int], list[bool]]) -> dict:
    """Per problem: {"gold": "passed" | "failed" | "flaky" | "absent", "gold_detail", "rechecked",
    "flips", "flipped": [sample indices], "flagged", "why"}. gold: problem -> its gold's verdict
    in each round (absent when the problem has no gold); reruns: key -> verdict in each round."""
    out = {}
    for pid in problem_ids:
        runs = gold.get(pid)
        state = "absent" if runs is None else "passed" if all(runs) else "failed" if not any(runs) else "flaky"
        out[pid] = {"gold": state, "gold_detail": gold_detail.get(pid), "rechecked": 0, "flips": 0, "flipped": []}
    for pid, i, stored in rechecks:
        rec = out[pid]
        rec["rechecked"] += 1
        if any(v != stored for v in reruns[(pid, i)]):
            rec["flips"] += 1
            if len(rec["flipped"]) < 20:
                rec["flipped"].append(i)
    for rec in out.values():
        why = []
        if rec["gold"] == "failed":
            why.append("the verifier rejects the gold solution")
        if rec["gold"] == "flaky":
            why.append("the gold solution passes only sometimes")
        if rec["flips"]:
            why.append(f"{rec['flips']} of {rec['rechecked']} re-verified samples changed verdict")
        rec["flagged"], rec["why"] = bool(why), why
    return out


def summary(problems: dict) -> dict:
    recs = problems.values()
    return {"problems": len(problems), "flagged": sum(r["flagged"] for r in recs),
            "gold_failed": sum(r["gold"] == "failed" for r in recs),
            "flaky": sum(bool(r["flips"]) or r["gold"] == "flaky" for r in recs),
            "no_gold": sum(r["gold"] == "absent" for r in recs)}


def _verify_rounds(run_dir, cfg: Experiment, problems: dict, rows: list[tuple[str, int, str]], repeats: int,
                   progress: bool) -> dict[tuple[str, int], list]:
    """Verify rows (problem_id, sample_index, text) `repeats` times on the cluster's verify
    actors; (problem_id, sample_index) -> [verdict dict per round]."""
    from tqdm.auto import tqdm

    from verifiers.cluster import VerifyPool

    from .pipeline import _nodes_with, connect

    v = cfg.verify
    connect(cfg)
    pool = VerifyPool(problems, actors=v.actors or _nodes_with(v.resources), workers=v.workers, timeout=v.timeout,
                      resources=v.resources)
    size = max(1, v.chunk)
    out: dict = defaultdict(lambda: [None] * repeats)
    bar = tqdm(total=len(rows) * repeats, desc="audit", unit="check", disable=not progress, dynamic_ncols=True)
    try:
        for r in range(repeats):     # one round at a time: a round's repeats never share a chunk
            for start in range(0, len(rows), size):
                part = rows[start:start + size]
                pool.submit(r, {"problem_id": [p for p, _, _ in part], "sample_index": [i for _, i, _ in part],
                                "text": [t for _, _, t in part]})
            while pool.pending():
                for tag, chunk, results in pool.poll(1.0):
                    for res in results:
                        out[(res["problem_id"], res["sample_index"])][tag] = res
                    bar.update(len(results))
    finally:
        bar.close()
        pool.close()
    return out


def stage_audit(run_dir, repeats: int = 3, failing: int = 4, seed: int = 0, progress: bool = True) -> dict:
    """Audit the run's verifier; write audit.json and return it."""
    from .pipeline import read_problems, read_run_config, verifier_problems

    if repeats < 1 or failing < 0:
        raise ConfigError(f"--repeats must be >= 1 and --failing >= 0 (got {repeats} and {failing})")
    cfg = read_run_config(run_dir)
    problems = verifier_problems(run_dir)      # unreadable references stop here, as in verify
    golds = {p["problem_id"]: p.get("gold") for p in read_problems(run_dir)}
    ids = list(problems)
    table = rundir.read_verdicts(run_dir, ["problem_id", "sample_index", "correct"])
    if table is None or table.num_rows == 0:
        raise ConfigError(f"{run_dir}/verdicts holds no verdicts; run `monkeys verify {run_dir}` first")
    table = table.filter(table["correct"].is_valid())
    rechecks = pick_rechecks(table["problem_id"].to_pylist(), table["sample_index"].to_pylist(),
                             table["correct"].to_pylist(), failing, seed)
    keys = rundir.KeySet(ids)
    keys.add(keys.encode([p for p, _, _ in rechecks], [i for _, i, _ in rechecks]))
    texts = {}
    for rb in rundir.iter_rows(rundir.samples_dir(run_dir), ["problem_id", "sample_index", "text"], ids, only=keys):
        for p, i, t in zip(rb.column("problem_id").to_pylist(), rb.column("sample_index").to_pylist(),
                           rb.column("text").to_pylist()):
            texts[(p, i)] = t or ""
    rechecks = [r for r in rechecks if (r[0], r[1]) in texts]   # a verdict whose sample is gone is skipped
    rows = [(p, GOLD, g) for p, g in golds.items() if g and p in problems]
    rows += [(p, i, texts[(p, i)]) for p, i, _ in rechecks]
    print(f"[monkeys] audit: {sum(1 for g in golds.values() if g)} gold solutions and {len(rechecks)} samples "
          f"({sum(r[2] for r in rechecks)} passing), each verified {repeats} times", file=sys.stderr, flush=True)
    results = _verify_rounds(run_dir, cfg, problems, rows, repeats, progress)
    gold = {p: [bool(r["correct"]) for r in results[(p, GOLD)]] for p, i, _ in rows if i == GOLD}
    detail = {p: next((r["detail"] for r in results[(p, GOLD)] if not r["correct"]), results[(p, GOLD)][0]["detail"])
              for p in gold}
    reruns = {(p, i): [bool(r["correct"]) for r in results[(p, i)]] for p, i, _ in rechecks}
    per = judge(ids, gold, detail, rechecks, reruns)
    doc = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "repeats": repeats, "failing_per_problem": failing,
           "seed": seed, "timeout": cfg.verify.timeout, "summary": summary(per), "problems": per}
    rundir.write_audit(run_dir, doc)
    return doc
