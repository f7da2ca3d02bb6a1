"""Selection curves in the report: every method the data allows, on one k grid, aligned with the
samples whatever order the scores come in; the verification gap; scores read by the experiments
layer; the logprob scorer, resumable."""
import json

import numpy as np
import pyarrow as pa
import pytest

from analysis.report import align_scores, analyze_run, format_table, selection_report, verification_gap
from analysis.selection import best_of_k
from analysis_fixtures import make_run
from experiments import config, pipeline, rundir
from experiments.rundir import read_run
from experiments.score import stage_score


def _run(tmp_path, problems=8, n=24, seed=0):
    rng = np.random.default_rng(seed)
    correct = {f"p{i}": list(rng.random(n) < rng.uniform(0.05, 0.6)) for i in range(problems)}
    answers = {pid: [("right" if ok else f"w{rng.integers(0, 3)}") for ok in flags] for pid, flags in correct.items()}
    return make_run(tmp_path / "run", correct, answers=answers, seed=seed), correct


def _scores(run, informative: bool, seed=1):
    """A judge that knows the answer (right: 0.9 +- noise) or not, and log-probs, shuffled."""
    rng = np.random.default_rng(seed)
    r = read_run(run)
    ids = r["problem_ids"][r["group"]]
    judge = np.where(r["correct"], 0.9, 0.1) if informative else np.full(len(ids), 0.5)
    judge = np.clip(judge + rng.normal(0, 0.05, len(ids)), 0, 1)
    order = rng.permutation(len(ids))
    return {"problem_id": list(ids[order]), "sample_index": r["sample_index"][order],
            "judge": judge[order], "logprob": -rng.random(len(ids))[order]}, r, judge


def test_every_method_on_one_grid_and_scores_aligned_whatever_their_order(tmp_path):
    run, correct = _run(tmp_path)
    scores, r, judge = _scores(run, informative=True)
    aligned = align_scores(r, scores)
    assert np.allclose(aligned["judge"], judge)           # back in the run's sample order
    sel, notes = selection_report(r, scores, seed=0)
    assert set(sel) == {"majority", "best_of:judge", "best_of:logprob", "weighted_vote:judge",
                        "weighted_vote:logprob"} and notes == []
    ks = sel["majority"]["k"]
    assert ks[0] == 1 and ks[-1] == 24 and all(m["k"] == ks for m in sel.values())
    cov = np.array(read_run(run)["c"] / 24)
    exact = best_of_k(r["group"], judge, r["correct"], ks)
    assert sel["best_of:judge"]["accuracy"] == pytest.approx(exact.tolist(), abs=1e-12)
    assert sel["best_of:judge"]["accuracy"][0] == pytest.approx(cov.mean(), abs=1e-12)    # k = 1 is pass@1
    # a judge that knows the answer picks right wherever a right sample exists: selection = coverage
    every = analyze_run(dict(r, scores=scores), num_boot=20)["coverage_every_k"]
    assert sel["best_of:judge"]["accuracy"][-1] == pytest.approx(every[-1], abs=1e-12)
    for m in sel.values():   # picking one can never beat "any of k is right" (Monte Carlo: up to its error)
        assert all(a <= every[k - 1] + 4 * s + 0.01 for k, a, s in zip(m["k"], m["accuracy"], m["stderr"]))


def test_a_judge_that_cannot_tell_picks_at_random_and_the_gap_is_reported(tmp_path):
    run, _ = _run(tmp_path, seed=3)
    scores, r, _ = _scores(run, informative=False)
    scores["judge"] = np.full(len(scores["judge"]), 0.5)       # every sample tied: a uniform pick
    rep = analyze_run(dict(r, scores=scores), num_boot=20)
    sel = rep["selection"]
    pass1 = rep["coverage_every_k"][0]
    assert sel["best_of:judge"]["accuracy"] == pytest.approx([pass1] * len(sel["best_of:judge"]["k"]), abs=1e-12)
    gap = rep["verification_gap"]
    best = max(sel, key=lambda m: sel[m]["accuracy"][-1])
    assert gap["best_method"] == best and gap["k"] == 24
    assert gap["gap"] == pytest.approx(rep["coverage_every_k"][23] - sel[best]["accuracy"][-1])
    assert verification_gap(rep) == gap
    on_disk = json.loads((run / "report.json").read_text())
    assert on_disk["selection"]["majority"]["accuracy"] == sel["majority"]["accuracy"]
    assert on_disk["vote"]["vote_at_k"] == sel["majority"]["accuracy"]       # the earlier key stays
    assert "verification gap at k = 24" in format_table(rep)


def test_partial_or_negative_scores_are_left_out_with_a_note(tmp_path):
    run, _ = _run(tmp_path)
    scores, r, _ = _scores(run, informative=True)
    keep = np.arange(len(scores["judge"])) > 0                  # one sample lacks a judge score
    part = {k: (np.asarray(v)[keep] if k != "logprob" else np.asarray(v)) for k, v in scores.items()}
    part["logprob"] = np.asarray(scores["logprob"])[keep]
    part["reward"] = -np.ones(keep.sum())                       # a reward head's raw logits
    sel, notes = selection_report(r, part, seed=0)
    assert "best_of:judge" not in sel and any("judge" in n and "1 of" in n for n in notes)
    assert "best_of:reward" not in sel and "best_of:logprob" not in sel    # they miss the same sample
    part = {k: v for k, v in scores.items()}
    part["reward"] = -np.ones(len(scores["judge"]))
    sel, notes = selection_report(r, part, seed=0)
    assert "best_of:reward" in sel and "weighted_vote:reward" not in sel
    assert any("weighted_vote:reward" in n and "negative" in n for n in notes)


def _samples(pid, n, logprob):
    return [{"problem_id": pid, "sample_index": i, "seed": i, "text": f"t{i}", "prompt_tokens": 3,
             "completion_tokens": 2, "finish_reason": "stop", "worker": "w", "elapsed_s": 0.1, "engine": "e",
             "engine_seed": 0, "cumulative_logprob": None if logprob is None else 2 * logprob(i),
             "mean_logprob": None if logprob is None else logprob(i)} for i in range(n)]


def test_logprob_scorer_resumes_and_the_analyzer_gets_its_scores(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cfg = config.check({"name": "s", "model": "m", "task": {"name": "gsm8k"}, "sampling": {"n": 4}}, "t")
    (run / "config.toml").write_text(config.dumps(cfg))
    rundir.write_problems(run, pa.table({"problem_id": ["a", "b"], "task": ["gsm8k"] * 2, "prompt": ["q", "q"],
                                         "reference": ['{"answer": "1"}'] * 2, "verifier": ["gsm8k"] * 2,
                                         "source_index": [0, 1]}))
    rundir.write_samples(run, _samples("a", 4, lambda i: -0.1 * (i + 1)))
    out = stage_score(run, progress=False)                       # [score] scorers defaults to logprob
    assert out == {"logprob": {"scored": 4, "missing": 0}}
    rundir.write_samples(run, _samples("b", 4, None))            # drawn without log-probabilities
    assert stage_score(run, progress=False) == {"logprob": {"scored": 0, "missing": 4}}
    rundir.write_samples(run, _samples("a", 4, lambda i: -9.0))  # a duplicate shard: first written wins
    assert stage_score(run, progress=False)["logprob"]["scored"] == 0
    got = {(r["problem_id"], r["sample_index"]): r["logprob"] for r in rundir.read_scores(run).to_pylist()}
    assert got == {("a", i): pytest.approx(-0.1 * (i + 1)) for i in range(4)}
    rundir.write_verdicts(run, [{"problem_id": p, "sample_index": i, "correct": i == 0, "extracted_answer": str(i),
                                 "detail": ""} for p in ("a", "b") for i in range(4)])
    rep = pipeline.stage_analyze(run, num_boot=10)
    assert "majority" in rep["selection"] and "best_of:logprob" not in rep["selection"]   # b has none
    assert any("logprob" in n and "4 of 8" in n for n in rep["notes"])
    with pytest.raises(config.ConfigError, match="unknown scorer 'oracle'"):
        stage_score(run, ["oracle"], progress=False)
