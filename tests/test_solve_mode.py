"""Solve mode: the verifier between sampling rounds, and the coverage estimator it needs."""
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.firstk import UNSOLVED, first_k_curve, first_success, k_limit
from analysis.passk import coverage_curve
from analysis_fixtures import make_run
from experiments import config as configs
from experiments.config import ConfigError
from experiments.cli import main
from experiments.pipeline import Verification, next_solve_round, stage_analyze
from experiments.rundir import PROBLEMS_SCHEMA, SAMPLES_SCHEMA, read_table, write_shard


def solve_sequences(rates, cap, step, rng):
    """Sample each problem in rounds of `step` until its first success or the cap."""
    out = []
    for p in rates:
        seq = []
        while len(seq) < cap and not any(seq):
            seq += list(rng.random(step) < p)
        out.append(seq)
    return out


def test_first_success_and_attempts_stop_at_a_gap():
    group = [0, 0, 0, 1, 1, 1, 2]
    index = [0, 1, 2, 0, 2, 3, 1]   # problem 1 lacks index 1, problem 2 lacks index 0
    correct = [False, True, True, False, True, False, True]
    first, attempts = first_success(group, index, correct, 4)
    assert first.tolist() == [1, UNSOLVED, UNSOLVED, UNSOLVED]
    assert attempts.tolist() == [3, 1, 0, 0]
    assert k_limit(first, attempts) == 0
    with pytest.raises(ValueError, match="no verified sample"):
        first_k_curve(first, attempts)


def test_first_k_curve_counts_problems_solved_within_k():
    first, attempts = np.array([0, 3, UNSOLVED, 1]), np.array([2, 4, 6, 5])
    k, cov = first_k_curve(first, attempts)
    assert k.tolist() == [1, 2, 3, 4, 5, 6]     # known up to the unsolved problem's 6 attempts
    assert cov.tolist() == [0.25, 0.5, 0.5, 0.75, 0.75, 0.75]
    with pytest.raises(ValueError, match="exceeds 6"):
        first_k_curve(first, attempts, k_max=7)


def test_first_k_is_unbiased_where_the_fixed_n_estimator_is_not():
    rng = np.random.default_rng(7)
    rates = np.array([0.02, 0.05, 0.1, 0.3, 0.6, 0.9])
    truth = 1 - (1 - rates[:, None]) ** np.arange(1, 9)[None, :]
    est_first, est_naive = [], []
    for _ in range(3000):
        seqs = solve_sequences(rates, cap=8, step=2, rng=rng)
        group = [p for p, s in enumerate(seqs) for _ in s]
        index = [i for s in seqs for i in range(len(s))]
        first, attempts = first_success(group, index, [x for s in seqs for x in s], len(seqs))
        est_first.append(first_k_curve(first, attempts, k_max=2)[1])
        n = np.array([len(s) for s in seqs])
        c = np.array([sum(s) for s in seqs])
        est_naive.append(coverage_curve(n, c, k_max=2)[1])
    want = truth[:, :2].mean(axis=0)
    first_mean, naive_mean = np.mean(est_first, axis=0), np.mean(est_naive, axis=0)
    se = np.std(est_first, axis=0) / np.sqrt(len(est_first))
    assert np.all(np.abs(first_mean - want) < 4 * se)
    assert naive_mean[0] > want[0] + 10 * se[0]   # stopping on success inflates c / n


def solve_config(**budget):
    raw = {"name": "solve", "model": "m", "task": {"name": "gsm8k"}, "sampling": {"n": 8},
           "budget": {"mode": "solve", **budget}}
    return configs.check(raw, "test.toml")


def make_solve_run(root: Path, cfg: dict, samples: dict) -> Path:
    """A run directory of GSM8K problems (answer 18) with the given sample texts."""
    root.mkdir(parents=True)
    (root / "config.toml").write_text(configs.dumps(cfg))
    ids = list(samples)
    pq.write_table(pa.table({"problem_id": ids, "task": ["gsm8k"] * len(ids), "prompt": ["q"] * len(ids),
                             "reference": [json.dumps({"answer": "18"})] * len(ids),
                             "verifier": ["gsm8k"] * len(ids), "source_index": list(range(len(ids)))},
                            schema=PROBLEMS_SCHEMA), root / "problems.parquet")
    rows = [{"problem_id": pid, "sample_index": i, "seed": i, "text": text, "prompt_tokens": 5,
             "completion_tokens": 3, "finish_reason": "stop", "worker": "w", "elapsed_s": 0.1}
            for pid, texts in samples.items() for i, text in enumerate(texts)]
    write_shard(root / "samples", rows, SAMPLES_SCHEMA)
    return root


def round_of(run, cfg, requests):
    """One solve round through the real verification stage (verify actors on a local Ray cluster)."""
    verification = Verification(run, cfg, progress=False)
    try:
        return next_solve_round(verification, cfg, requests)
    finally:
        verification.close()


def requests_for(ids):
    return [{"problem_id": pid, "n": 8, "prompt_token_ids": [1, 2, 3]} for pid in ids]


def test_next_round_verifies_then_retires_solved_and_feeds_the_rest(tmp_path):
    cfg = solve_config(round=4)
    wrong, right = "#### 17", "so the answer is 18"
    run = make_solve_run(tmp_path / "run", cfg, {"a": [wrong, wrong, right, wrong], "b": [wrong] * 4, "c": []})
    more, state = round_of(run, cfg, requests_for("abc"))
    verdicts = read_table(run / "verdicts", ["problem_id", "sample_index", "correct"]).to_pylist()
    assert len(verdicts) == 8 and sum(v["correct"] for v in verdicts) == 1
    assert state["a"].successes == 1 and state["b"].attempts == 4 and state["c"].attempts == 0
    assert {r["problem_id"]: r["n"] for r in more} == {"b": 8, "c": 4}
    assert all(r["prompt_token_ids"] == [1, 2, 3] for r in more)
    again, _ = round_of(run, cfg, requests_for("abc"))   # nothing new: same plan, no new verdicts
    assert again == more
    assert len(list((run / "verdicts").glob("part-*.parquet"))) == 1


def test_next_round_respects_total_cap_and_stop_after(tmp_path):
    cfg = solve_config(round=4, total=22, cap=10, stop_after=2)
    right, wrong = "#### 18", "#### 1"
    run = make_solve_run(tmp_path / "run", cfg, {"a": [right, wrong, wrong, wrong, wrong, wrong, wrong, wrong],
                                                 "b": [wrong] * 10, "c": [wrong] * 2})
    more, state = round_of(run, cfg, requests_for("abc"))
    # a has one success of the two asked; b is at the cap; 2 samples of budget are left for a and c,
    # least tried (c) first.
    assert {r["problem_id"]: r["n"] for r in more} == {"c": 4}


def test_solve_mode_report_uses_first_k(tmp_path):
    cfg = configs.dumps(solve_config())
    run = make_run(tmp_path / "run", {"p0": [False, True], "p1": [False] * 6, "p2": [True], "p3": [False] * 5 + [True]},
                   config=cfg)
    rep = stage_analyze(run, num_boot=200)
    assert rep["samples_per_problem"] == 6
    assert rep["coverage_every_k"] == [0.25, 0.5, 0.5, 0.5, 0.5, 0.75]
    assert rep["budget"]["samples_spent"] == 15 and rep["budget"]["problems_solved"] == 3
    assert rep["budget"]["uniform_samples_at_k_max"] == 24
    assert "vote" not in rep and any("solve mode" in note for note in rep["notes"])
    assert json.loads((run / "report.json").read_text())["budget"]["samples_spent"] == 15
    assert (run / "coverage.png").stat().st_size > 0


@pytest.mark.parametrize("budget, message", [
    ({"mode": "greedy"}, "budget.mode"),
    ({"cap": 4}, "budget.cap"),
    ({"round": 0}, "budget.round = 0 must be at least 1"),
    ({"total": -1}, "budget.total = -1 must be >= 0"),
])
def test_bad_budget_sections_are_named(budget, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("/", "/")):
        solve_config(**budget)


def test_solve_mode_needs_the_vllm_backend():
    raw = {"name": "s", "model": "m", "backend": "openai", "task": {"name": "gsm8k"}, "sampling": {"n": 2},
           "engine": {"base_url": "http://127.0.0.1:1/v1"}, "budget": {"mode": "solve"}}
    with pytest.raises(ConfigError, match="needs backend = 'vllm'"):
        configs.check(raw, "x.toml")


def test_budget_mode_is_part_of_a_runs_identity():
    uniform = configs.check({"name": "s", "model": "m", "task": {"name": "gsm8k"}, "sampling": {"n": 8}}, "u")
    assert configs.differences(uniform, solve_config()) == ["budget.mode: 'uniform' in the run, 'solve' now"]


def test_compare_draws_a_solve_mode_run_with_the_first_k_curve(tmp_path, capsys):
    """`monkeys compare` on a solve-mode run uses the same first-k curve as its report, not the
    fixed-n estimator (biased when sampling stops on success)."""
    cfg = configs.dumps(solve_config())
    run = make_run(tmp_path / "run", {"p0": [False, True], "p1": [False] * 6, "p2": [True], "p3": [False] * 5 + [True]},
                   config=cfg)
    assert main(["compare", str(run), "--out", str(tmp_path / "cmp"), "--bootstrap", "20"]) == 0
    table = capsys.readouterr().out
    # first-k coverage: k=1 0.25, k=2 0.5 (the fixed-n estimator gives 0.5 / 0.54 here)
    assert " 25.00%" in table.splitlines()[2] and " 50.00%" in table.splitlines()[3]
