"""The real thing, once: Ray + vLLM engine + sandboxed unit tests + analysis, via the CLI.

2 HumanEval problems x 4 samples with the embedded model, eager mode, a small KV cache. The
same run directory then checks resume (a finished run does no work; a lost shard is redone,
only it) and that a damaged shard stops the run with its name while keeping every file.
"""
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.engine

CONFIG = """
name = "e2e"
model = "embedded:smollm2-135m-instruct"
seed = 3
[task]
name = "humaneval"
limit = 2
[sampling]
n = 4
temperature = 0.8
top_p = 0.95
max_tokens = 96
[engine]
enforce_eager = true
max_model_len = 1024
kv_cache_gib = 1
unit_size = 2
[verify]
timeout = 5
"""


def monkeys(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=900)
    return proc.returncode, proc.stdout, proc.stderr


def rows(folder: Path) -> list[dict]:
    out = []
    for part in sorted(folder.glob("part-*.parquet")):
        out += pq.read_table(part).to_pylist()
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    cfg = base / "e2e.toml"
    cfg.write_text(CONFIG)
    code, out, err = monkeys("run", cfg, "--out", base / "run")
    assert code == 0, err[-3000:]
    return {"dir": base / "run", "config": cfg, "stdout": out, "stderr": err}


def test_samples_verdicts_report_and_plot(run):
    d = run["dir"]
    samples = rows(d / "samples")
    assert sorted((r["problem_id"], r["sample_index"]) for r in samples) == [
        (f"HumanEval/{p}", i) for p in (0, 1) for i in range(4)]
    for r in samples:
        assert r["prompt_tokens"] > 20 and 0 < r["completion_tokens"] <= 96
        assert r["finish_reason"] in ("stop", "length") and r["elapsed_s"] > 0 and r["worker"]
        # the sampled tokens' log-probabilities, total and per token
        assert r["cumulative_logprob"] < 0 and r["mean_logprob"] == pytest.approx(
            r["cumulative_logprob"] / r["completion_tokens"])
        if r["finish_reason"] == "length":
            assert r["completion_tokens"] == 96
    assert len({r["seed"] for r in samples}) == 8
    verdicts = rows(d / "verdicts")
    assert sorted((r["problem_id"], r["sample_index"]) for r in verdicts) == sorted(
        (r["problem_id"], r["sample_index"]) for r in samples)
    assert all(isinstance(r["correct"], bool) and r["detail"] for r in verdicts)
    report = json.loads((d / "report.json").read_text())
    assert report["num_problems"] == 2 and report["samples_per_problem"] == 4
    solved = {r["problem_id"] for r in verdicts if r["correct"]}
    assert report["coverage"]["pass_at_k"][-1] == pytest.approx(len(solved) / 2)
    assert (d / "coverage.png").stat().st_size > 10_000
    problems = pq.read_table(d / "problems.parquet").to_pylist()
    assert [p["problem_id"] for p in problems] == ["HumanEval/0", "HumanEval/1"]
    assert "<|im_start|>assistant" in problems[0]["prompt"]  # the model's chat template
    info = tomllib.loads((d / "config.toml").read_text())["model_info"]
    # what the engine loaded, counted from its config: SmolLM2-135M's tied embeddings count once
    assert info["parameters"] == 134515008 and info["layers"] == 30 and info["d_model"] == 576
    assert info["device"] == "cpu" and info["gpus_per_engine"] == 0
    assert {r["engine"] for r in samples} == {"engine-0"} and len({r["engine_seed"] for r in samples}) == 1
    assert "coverage" in run["stdout"] and "coverage.png" in run["stdout"]


def test_finished_run_does_no_work(run):
    d = run["dir"]
    before = sorted(p.name for p in (d / "samples").iterdir()) + sorted(p.name for p in (d / "verdicts").iterdir())
    code, out, err = monkeys("run", run["config"], "--out", d)
    assert code == 0, err[-2000:]
    assert "samples: 0 new, 8 already stored" in err and "verdicts: 0 new" in err
    after = sorted(p.name for p in (d / "samples").iterdir()) + sorted(p.name for p in (d / "verdicts").iterdir())
    assert after == before


def test_lost_shard_is_redone_and_damage_is_named(run):
    d = run["dir"]
    # Split the stored samples into one shard per problem, as a longer run would have written
    # them, then lose the first problem's shard.
    from experiments.rundir import SAMPLES_SCHEMA, write_shard

    originals = sorted((d / "samples").glob("part-*.parquet"))
    stored = rows(d / "samples")
    for pid in ("HumanEval/0", "HumanEval/1"):
        write_shard(d / "samples", [r for r in stored if r["problem_id"] == pid], SAMPLES_SCHEMA)
    for path in originals:
        path.unlink()
    shards = sorted((d / "samples").glob("part-*.parquet"))
    assert len(shards) == 2
    lost = shards[0]
    lost_keys = {(r["problem_id"], r["sample_index"]) for r in pq.read_table(lost).to_pylist()}
    kept = {p.name: p.read_bytes() for p in shards[1:]}
    lost.unlink()
    code, out, err = monkeys("sample", d)
    assert code == 0, err[-2000:]
    assert f"samples: {len(lost_keys)} new" in out
    assert {p.name: p.read_bytes() for p in shards[1:]} == kept  # untouched
    keys = [(r["problem_id"], r["sample_index"]) for r in rows(d / "samples")]
    assert len(keys) == len(set(keys)) == 8

    damaged = sorted((d / "samples").glob("part-*.parquet"))[-1]
    damaged.write_bytes(damaged.read_bytes()[:50])
    code, out, err = monkeys("verify", d)
    assert code == 2 and "Traceback" not in err
    assert damaged.name in err.strip().splitlines()[-1]
    assert (d / "report.json").exists() and any((d / "verdicts").glob("part-*.parquet"))
