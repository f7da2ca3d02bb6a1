"""A reference the verifier cannot read stops verification with one line naming the problem and
the field; GSM8K references are read in the dataset's own form too."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from experiments import config, rundir
from verifiers.api import reference_problem
from verifiers.math_answer import check_gsm8k, reference_number

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("ref, want", [
    ("18", "18"), (18, "18"), ("1,200", "1200"), ("$18.00", "18"), ("-3", "-3"),
    ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 18", "18"),   # the dataset's own answer text
    ("#### 1,024", "1024"), ("eighteen", None), ("", None), ("#### ?", None),
])
def test_gsm8k_reference_forms(ref, want):
    assert reference_number(ref) == want
    if want is not None:
        ok, got, detail = check_gsm8k(f"so the answer is {want}", {"answer": ref})
        assert ok and got == want, detail


@pytest.mark.parametrize("kind, ref, field", [
    ("gsm8k", {"answer": "eighteen"}, "'answer'"),
    ("gsm8k", {}, "'answer'"),
    ("gsm8k", {"answer": None}, "'answer'"),
    ("math", {"answer": "  "}, "'answer'"),
    ("humaneval", {"prompt": "def f():\n", "test": "def check(c): pass", "entry_point": ""}, "'entry_point'"),
    ("mbpp", {"test_list": []}, "'test_list'"),
    ("stdio", {"tests": [{"input": "1"}]}, "'tests'"),
    ("lean", {}, "unknown verifier"),
])
def test_unreadable_references_are_named(kind, ref, field):
    assert field in reference_problem(kind, ref)


def test_readable_references_pass():
    assert reference_problem("gsm8k", {"answer": "… #### 18"}) is None
    assert reference_problem("math", {"answer": "\\frac{1}{2}"}) is None
    assert reference_problem("humaneval", {"prompt": "def f():\n", "test": "def check(c): pass",
                                           "entry_point": "f"}) is None
    assert reference_problem("mbpp", {"test_list": ["assert f() == 1"]}) is None
    assert reference_problem("stdio", {"tests": [{"input": "1", "output": "2"}]}) is None


def monkeys(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_verify_stops_before_verifying_anything(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cfg = config.check({"name": "r", "model": "m", "task": {"name": "gsm8k"}, "sampling": {"n": 1}}, "t")
    (run / "config.toml").write_text(config.dumps(cfg))
    refs = [{"answer": "#### 18"}, {"answer": "about eighteen"}]
    rundir.write_problems(run, pa.table({"problem_id": ["gsm8k/0", "gsm8k/1"], "task": ["gsm8k"] * 2,
                                         "prompt": ["q0", "q1"], "reference": [json.dumps(r) for r in refs],
                                         "verifier": ["gsm8k"] * 2, "source_index": [0, 1]}))
    rundir.write_samples(run, [{"problem_id": p, "sample_index": 0, "seed": 0, "text": "The answer is 18.",
                                "prompt_tokens": 1, "completion_tokens": 5, "finish_reason": "stop", "worker": "w",
                                "elapsed_s": 0.1, "engine": "e", "engine_seed": 0} for p in ("gsm8k/0", "gsm8k/1")])
    code, out, err = monkeys("verify", run)
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "'gsm8k/1'" in last and "'answer'" in last and "Traceback" not in err
    assert not (run / "verdicts").exists() or not list((run / "verdicts").glob("part-*"))   # nothing verified


def test_verify_file_stops_before_verifying_anything(tmp_path):
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "a", "completion": "The answer is 18.", "reference": "#### 18"}) + "\n"
                       + json.dumps({"task_id": "b", "completion": "The answer is 7.", "reference": "seven"}) + "\n")
    code, out, err = monkeys("verify-file", "--task", "gsm8k", "--samples", samples, "--out", tmp_path / "r.jsonl")
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "s.jsonl:2" in last and "'b'" in last and "'answer'" in last
    assert not (tmp_path / "r.jsonl").exists()
    samples.write_text(json.dumps({"task_id": "a", "completion": "The answer is 18.", "reference": "#### 18"}) + "\n")
    code, out, err = monkeys("verify-file", "--task", "gsm8k", "--samples", samples, "--out", tmp_path / "r.jsonl",
                             "--workers", "1", "--k", "1")
    assert code == 0, err
    assert json.loads((tmp_path / "r.jsonl").read_text())["passed"] is True   # "... #### 18" read as 18
