"""The LLM judge and the reward path for real: the embedded model behind both, as Ray actors on
the local cluster the pipeline starts, through `monkeys score` and `monkeys analyze`.

No reward checkpoint ships offline, so the reward path runs the embedded model converted to a
one-label classifier by vLLM (score = sigmoid(logit "Yes" - logit "No") at the last token);
tests/test_reward_gpu.py runs a real reward model on GPU machines."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from experiments import config, rundir

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.engine

PROBLEMS = [("What is 2 + 3?", "5"), ("What is 10 - 4?", "6"), ("What is 3 times 3?", "9")]


def monkeys(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=1200)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = tmp_path_factory.mktemp("score") / "run"
    run.mkdir()
    cfg = config.check({
        "name": "score", "model": "embedded:smollm2-135m-instruct", "task": {"name": "gsm8k"}, "sampling": {"n": 2},
        "engine": {"enforce_eager": True, "max_model_len": 1024, "kv_cache_gib": 1},
        "score": {"scorers": ["logprob", "judge", "reward"], "reward_model": "embedded:smollm2-135m-instruct",
                  "reward_overrides": {"classifier_from_token": ["No", "Yes"], "method": "from_2_way_softmax"},
                  "batch": 4}}, "fixture")
    (run / "config.toml").write_text(config.dumps(cfg))
    ids = [f"gsm8k/{i}" for i in range(len(PROBLEMS))]
    rundir.write_problems(run, pa.table({
        "problem_id": ids, "task": ["gsm8k"] * 3, "prompt": [q for q, _ in PROBLEMS],
        "reference": [json.dumps({"answer": a}) for _, a in PROBLEMS], "verifier": ["gsm8k"] * 3,
        "source_index": list(range(3)), "messages": [json.dumps([{"role": "user", "content": q}]) for q, _ in PROBLEMS]}))
    samples, verdicts = [], []
    for pid, (q, a) in zip(ids, PROBLEMS):
        for i, text in enumerate([f"The answer is {a}.", f"The answer is {int(a) + 7}."]):
            samples.append({"problem_id": pid, "sample_index": i, "seed": i, "text": text, "prompt_tokens": 9,
                            "completion_tokens": 6, "finish_reason": "stop", "worker": "w", "elapsed_s": 0.1,
                            "engine": "e", "engine_seed": 0, "cumulative_logprob": -3.0 - i, "mean_logprob": -0.5 - i})
            verdicts.append({"problem_id": pid, "sample_index": i, "correct": i == 0,
                             "extracted_answer": text.split()[-1].rstrip("."), "detail": ""})
    rundir.write_samples(run, samples)
    rundir.write_verdicts(run, verdicts)
    code, out, err = monkeys("score", run)
    assert code == 0, err[-4000:]
    return {"dir": run, "stdout": out}


def test_every_sample_gets_a_judge_and_a_reward_probability(run):
    assert "scores (judge): 6 new" in run["stdout"] and "scores (reward): 6 new" in run["stdout"]
    rows = rundir.read_scores(run["dir"]).to_pylist()
    assert len(rows) == 6
    for name in ("judge", "reward"):
        values = [r[name] for r in rows]
        assert all(0.0 < v < 1.0 for v in values), (name, values)
        assert len({round(v, 6) for v in values}) > 1, (name, values)     # it reads the answers
    assert sorted(r["logprob"] for r in rows) == [-1.5] * 3 + [-0.5] * 3


def test_scoring_again_does_nothing_and_analyze_draws_every_method(run):
    code, out, err = monkeys("score", run["dir"])
    assert code == 0, err[-3000:]
    assert "scores (judge): 0 new" in out and "scores (reward): 0 new" in out and "loading" not in err
    code, out, err = monkeys("analyze", run["dir"], "--bootstrap", "20")
    assert code == 0, err[-3000:]
    rep = json.loads((run["dir"] / "report.json").read_text())
    assert {"majority", "best_of:logprob", "best_of:judge", "best_of:reward", "weighted_vote:judge"} <= set(
        rep["selection"])
    assert rep["selection"]["best_of:logprob"]["accuracy"] == [0.5, 1.0]     # higher log-prob is the right one
    assert "verification gap" in out
