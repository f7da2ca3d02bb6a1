"""Solve mode for real: Ray + vLLM engine + sandbox in a loop, the engine loaded once.

2 HumanEval problems, rounds of 2 samples, at most 6 per problem and 10 in all. Whatever the
model gets right, the run must obey the budget and keep each problem's samples a gap-free
prefix that stops with the round of its first success.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.engine

CONFIG = """
name = "solve"
model = "embedded:smollm2-135m-instruct"
seed = 5
[task]
name = "humaneval"
limit = 2
[sampling]
n = 2
temperature = 0.8
top_p = 0.95
max_tokens = 96
[engine]
enforce_eager = true
max_model_len = 1024
kv_cache_gib = 1
[verify]
timeout = 5
[budget]
mode = "solve"
round = 2
cap = 6
total = 10
"""


def rows(folder: Path) -> list[dict]:
    return [r for part in sorted(folder.glob("part-*.parquet")) for r in pq.read_table(part).to_pylist()]


def test_solve_mode_run(tmp_path):
    cfg = tmp_path / "solve.toml"
    cfg.write_text(CONFIG)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", "run", str(cfg), "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    d = tmp_path / "run"
    samples, verdicts = rows(d / "samples"), rows(d / "verdicts")
    keys = sorted((r["problem_id"], r["sample_index"]) for r in samples)
    assert keys == sorted((r["problem_id"], r["sample_index"]) for r in verdicts)
    assert len(keys) == len(set(keys)) <= 10
    by_problem = {}
    for r in sorted(verdicts, key=lambda r: r["sample_index"]):
        by_problem.setdefault(r["problem_id"], []).append(r)
    assert set(by_problem) == {"HumanEval/0", "HumanEval/1"}
    for pid, vs in by_problem.items():
        assert [v["sample_index"] for v in vs] == list(range(len(vs)))       # gap-free prefix
        assert 2 <= len(vs) <= 6                                               # under the cap
        # Whole rounds, except the last when the total ran out.
        assert len(vs) % 2 == 0 or len(keys) == 10
        hits = [v["sample_index"] for v in vs if v["correct"]]
        if hits:
            assert len(vs) <= (hits[0] // 2 + 1) * 2                           # stopped with the round that solved it
    unsolved = [vs for vs in by_problem.values() if not any(v["correct"] for v in vs)]
    if unsolved:   # the budget went on until the cap or the total ran out
        assert all(len(vs) == 6 for vs in unsolved) or len(keys) == 10
    rounds = proc.stderr.count("solve round")
    assert rounds >= max(len(vs) for vs in by_problem.values()) // 2
    report = json.loads((d / "report.json").read_text())
    assert report["budget"]["samples_spent"] == len(keys)
    first_k = [min((v["sample_index"] for v in vs if v["correct"]), default=None) for vs in by_problem.values()]
    k_max = report["samples_per_problem"]
    assert report["coverage_every_k"][-1] == pytest.approx(sum(f is not None and f < k_max for f in first_k) / 2)
    # A finished solve-mode run does no work.
    again = subprocess.run([sys.executable, "-m", "experiments.cli", "run", str(cfg), "--out", str(d)],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "samples: 0 new" in again.stderr and len(rows(d / "samples")) == len(keys)
