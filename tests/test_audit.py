"""`monkeys audit`: a problem whose gold solution the verifier rejects and a problem whose test
fails at random are flagged; coverage without them is reported beside the raw one."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from experiments import config, rundir
from experiments.audit import GOLD, judge, pick_rechecks, summary

ROOT = Path(__file__).resolve().parent.parent


def test_pick_rechecks_takes_every_pass_and_a_seeded_sample_of_failures():
    pids = ["a"] * 6 + ["b"] * 2
    idx = list(range(6)) + [0, 1]
    correct = [True, False, False, False, False, True, False, False]
    picked = pick_rechecks(pids, idx, correct, failing=2, seed=0)
    assert [(p, i) for p, i, ok in picked if ok] == [("a", 0), ("a", 5)]
    fails = [(p, i) for p, i, ok in picked if not ok]
    assert len([f for f in fails if f[0] == "a"]) == 2 and [f for f in fails if f[0] == "b"] == [("b", 0), ("b", 1)]
    assert picked == pick_rechecks(pids, idx, correct, failing=2, seed=0)
    assert len(pick_rechecks(pids, idx, correct, failing=0, seed=0)) == 2


def test_judge_flags_gold_failures_flaky_gold_and_flipped_verdicts():
    gold = {"wrong": [False] * 3, "shaky": [True, False, True], "good": [True] * 3, "flips": [True] * 3}
    rechecks = [("good", 0, True), ("good", 1, False), ("flips", 0, True), ("flips", 1, False)]
    reruns = {("good", 0): [True] * 3, ("good", 1): [False] * 3, ("flips", 0): [True, True, False],
              ("flips", 1): [False] * 3}
    per = judge(["wrong", "shaky", "good", "flips", "none"], gold, {"wrong": "expected 19"}, rechecks, reruns)
    assert per["wrong"]["flagged"] and per["wrong"]["gold"] == "failed" and per["wrong"]["gold_detail"] == "expected 19"
    assert per["shaky"]["flagged"] and per["shaky"]["gold"] == "flaky"
    assert not per["good"]["flagged"] and per["good"]["rechecked"] == 2
    assert per["flips"]["flagged"] and per["flips"]["flips"] == 1 and per["flips"]["flipped"] == [0]
    assert per["none"]["gold"] == "absent" and not per["none"]["flagged"]
    assert summary(per) == {"problems": 5, "flagged": 3, "gold_failed": 1, "flaky": 2, "no_gold": 1}


# A coin from the kernel: a clock's low digits are not random where its resolution is coarse.
FLAKY_TEST = """import os


def check(candidate):
    assert candidate(1) == 1
    assert os.urandom(1)[0] % 2 == 0, "an unlucky coin"
"""


def _fixture(run: Path) -> dict:
    """Four problems, mixed verifiers: a test that fails at random, a wrong gold answer, a sound
    problem, and one with no gold stored. Verdicts written as a verifier run would have them."""
    run.mkdir()
    cfg = config.check({"name": "audit", "model": "m", "task": {"name": "gsm8k"}, "sampling": {"n": 8},
                        "verify": {"timeout": 5, "workers": 2}}, "fixture")
    (run / "config.toml").write_text(config.dumps(cfg))
    problems = [
        # no gold here: a gold under a coin-flip test fails all three rounds one time in eight
        ("flaky/0", "humaneval", {"prompt": "def f(x):\n", "test": FLAKY_TEST, "entry_point": "f"}, None),
        ("gsm8k/wrong-gold", "gsm8k", {"answer": "19"}, "She sold 9 + 9 = <<9+9=18>>18.\n#### 18"),
        ("gsm8k/sound", "gsm8k", {"answer": "5"}, "2 + 3 = <<2+3=5>>5\n#### 5"),
        ("gsm8k/no-gold", "gsm8k", {"answer": "7"}, None),
    ]
    rundir.write_problems(run, pa.table({
        "problem_id": [p[0] for p in problems], "task": ["fixture"] * 4, "prompt": ["q"] * 4,
        "reference": [json.dumps(p[2]) for p in problems], "verifier": [p[1] for p in problems],
        "source_index": list(range(4)), "gold": [p[3] for p in problems]}))
    texts = {"flaky/0": [f"    return x  # attempt {i}\n" for i in range(8)] + ["    return 0\n", "    return -1\n"],
             "gsm8k/wrong-gold": ["The answer is 19."] * 3 + ["The answer is 18."] * 7,
             "gsm8k/sound": ["The answer is 5."] * 4 + ["The answer is 6."] * 6,
             "gsm8k/no-gold": ["The answer is 7."] * 2 + ["The answer is 1."] * 8}
    correct = {"flaky/0": [True] * 8 + [False] * 2, "gsm8k/wrong-gold": [True] * 3 + [False] * 7,
               "gsm8k/sound": [True] * 4 + [False] * 6, "gsm8k/no-gold": [True] * 2 + [False] * 8}
    samples, verdicts = [], []
    for pid, ts in texts.items():
        for i, t in enumerate(ts):
            samples.append({"problem_id": pid, "sample_index": i, "seed": i, "text": t, "prompt_tokens": 5,
                            "completion_tokens": 5, "finish_reason": "stop", "worker": "w", "elapsed_s": 0.1,
                            "engine": "e", "engine_seed": 0, "cumulative_logprob": -1.0, "mean_logprob": -0.2})
            ans = t.split()[-1].rstrip(".") if pid.startswith("gsm8k") else None
            verdicts.append({"problem_id": pid, "sample_index": i, "correct": correct[pid][i],
                             "extracted_answer": ans, "detail": "stored"})
    rundir.write_samples(run, samples)
    rundir.write_verdicts(run, verdicts)
    return correct


def test_audit_flags_a_random_test_and_a_wrong_gold_answer(tmp_path):
    run = tmp_path / "run"
    correct = _fixture(run)
    before = rundir.read_verdicts(run).to_pylist()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", "audit", str(run), "--repeats", "3",
                           "--failing", "1"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 of 4 problems flagged" in proc.stdout, proc.stdout
    doc = rundir.read_audit(run)
    per = doc["problems"]
    assert per["flaky/0"]["flagged"] and per["flaky/0"]["flips"] >= 1          # 2^-24 to miss
    assert per["flaky/0"]["why"] == [f"{per['flaky/0']['flips']} of 9 re-verified samples changed verdict"]
    assert per["gsm8k/wrong-gold"]["flagged"] and per["gsm8k/wrong-gold"]["gold"] == "failed"
    assert "expected 19" in per["gsm8k/wrong-gold"]["gold_detail"]
    assert per["gsm8k/sound"] == {**per["gsm8k/sound"], "gold": "passed", "flips": 0, "flagged": False}
    assert per["gsm8k/sound"]["rechecked"] == 5                               # 4 passing + 1 failing
    assert per["gsm8k/no-gold"]["gold"] == "absent" and not per["gsm8k/no-gold"]["flagged"]
    assert doc["repeats"] == 3 and rundir.read_verdicts(run).to_pylist() == before   # verdicts untouched
    rep = json.loads((run / "report.json").read_text())
    audit = rep["audit"]
    assert audit["flagged"] == ["flaky/0", "gsm8k/wrong-gold"]
    assert audit["gold_failed"] == ["gsm8k/wrong-gold"] and audit["no_gold"] == ["flaky/0", "gsm8k/no-gold"]
    # coverage without the flagged problems: the two left, both solved by some sample at k = 10
    excl = audit["coverage_excluding_flagged"]
    assert excl["problems"] == 2 and excl["k"][-1] == 10 and excl["pass_at_k"][-1] == pytest.approx(1.0)
    assert excl["pass_at_k"][0] == pytest.approx((4 / 10 + 2 / 10) / 2)
    assert rep["coverage"]["pass_at_k"][0] == pytest.approx(sum(sum(c) / 10 for c in correct.values()) / 4)
    from analysis.report import plot_caption
    assert "Audit (3 re-runs): 2 of 4 problems flagged" in plot_caption(rep)
    assert GOLD < 0
