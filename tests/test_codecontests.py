"""CodeContests on a hand-written fixture in DeepMind's schema (tests/data/codecontests):
the loader, its few-shot pool, DeepMind's output checker and per-problem time limits."""
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from experiments.tasks import TaskError, load_problems
from experiments.tasks.codecontests import examples
from verifiers import verify
from verifiers.checker import matches, tokens, values_match

FIXTURE = Path(__file__).parent / "data" / "codecontests"
TEST = FIXTURE / "test.jsonl"
SUM, PIE, ECHO = "1500_A. Sum of Two", "1500_B. Share of the Pie", "1500_E. Echo"


def _rows():
    return [json.loads(line) for line in TEST.open()]


# ------------------------------------------------------------------------------------ loader


def test_loader_skips_images_and_keeps_every_test():
    problems = load_problems("codecontests", {"source": str(TEST), "time_buffer": 0.5})
    # 1500_C has "<image>" and 1500_D "[Image]" in their descriptions
    assert [p["problem_id"] for p in problems] == [SUM, PIE, ECHO]
    assert [p["index"] for p in problems] == [0, 1, 4]
    ref = problems[0]["reference"]
    assert [t["input"] for t in ref["tests"]] == ["1 2\n", "10 20\n", "-5 5\n", "1000000000 1000000000\n"]
    assert (ref["time_limit_s"], ref["time_buffer_s"]) == (1.0, 0.5)
    assert problems[1]["reference"]["time_limit_s"] == 2.5  # seconds 2, nanos 500000000
    assert problems[2]["reference"]["time_limit_s"] == 0.0  # time_limit null


def test_parquet_in_the_same_columns_loads_the_same(tmp_path):
    path = tmp_path / "test-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(_rows()), path)
    assert load_problems("codecontests", {"source": str(path)}) == load_problems("codecontests", {"source": str(TEST)})


def test_a_bad_row_is_named(tmp_path):
    rows = _rows()
    rows[1]["private_tests"]["output"] = []
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(TaskError, match="test.jsonl row 2: private_tests needs 'input' and 'output' lists"):
        load_problems("codecontests", {"source": str(path)})


def test_few_shot_pool_and_raw_prompt():
    problems = load_problems("codecontests", {"source": str(TEST), "shots": 2, "prompt": "raw"})
    # the pool (train.jsonl beside test.jsonl): problems with an ASCII Python 3 solution and no
    # image; "Only C++" and "Picture Frame" are out, and "Sum of Two, again" (the same statement
    # as 1500_A) never serves 1500_A
    used = {s for p in problems for s in p["shots"]}
    assert used <= {"1400_A. Double", "1400_D. Greeting", "1400_E. Sum of Two, again", "1400_F. Triple"}
    assert "1400_E. Sum of Two, again" not in problems[0]["shots"]
    for seed in range(20):
        first = load_problems("codecontests", {"source": str(TEST), "shots": 3, "shots_seed": seed, "limit": 1})[0]
        assert sorted(first["shots"]) == ["1400_A. Double", "1400_D. Greeting", "1400_F. Triple"]
    raw = problems[0]["raw"]
    q = ("Q: Write python code to solve the following coding problem that obeys the constraints and passes the "
         "example test cases. The output code needs to read from and write to standard IO. Please wrap your code "
         "answer using ```:")
    assert raw.count(q) == 3 and raw.endswith(f"{q}\n{_rows()[0]['description']}\nA:")
    # "Greeting": the first Python 3 solution in ASCII, not the one with "héllo"
    pool = {ex["id"]: ex["solution"] for ex in examples(str(TEST), "")}
    assert pool["1400_D. Greeting"] == "print('hello', input())\n"
    assert problems[0]["shots"][0] == "1400_D. Greeting"
    assert raw.startswith(f"{q}\nPrint a greeting for the name given.\nA: ```print('hello', input())```\n{q}\n")


# ------------------------------------------------------------------------------------ checker


def test_checker_rules():
    # whitespace: only space, \n, \t, \r, \v separate tokens; their amount does not matter
    assert matches("1 2\n3\n", " 1\t2\r\n\v3 ")
    assert tokens("a\fb c") == ["a\fb", "c"]
    # case-insensitive
    assert matches("YES\nNo", "yes\nnO")
    assert not matches("YES", "YE S")
    # numbers within 1e-5, absolutely, strictly
    assert matches("0.333333333333", "0.333333")
    assert not matches("0.333333333333", "0.3333")
    assert matches("1000000.0", "1000000.000009") and not matches("1000000.0", "1000000.00002")
    assert values_match("3", "3.000001") and values_match("1e3", "1000") and values_match("-0", "0")
    assert not values_match("1", "2")
    # not a number: compared as text
    assert not values_match("1_000", "1000") and not values_match("0x10", "16")
    assert not values_match("nan", "nan") and not values_match("inf", "inf")
    # token counts must agree
    assert not matches("1 2", "1 2 3") and matches("", "\n \n")


# ------------------------------------------------------------------------------------ verifier


def _ref(name, **over):
    problem = next(p for p in load_problems("codecontests", {"source": str(TEST), "time_buffer": 0}) if p["problem_id"] == name)
    return dict(problem["reference"], **over)


def _verify(pairs, timeout):
    jobs = [{"problem_id": f"p{i}", "sample_index": 0, "verifier": "codecontests", "text": text, "reference": ref}
            for i, (text, ref) in enumerate(pairs)]
    return verify(jobs, workers=2, timeout=timeout, progress=False)


RIGHT_SUM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
PIE_LOOSE = "```python\na, b = map(int, input().split())\nprint('Yes' if a < b else 'no')\nprint('%.7f' % (a / b))\n```"
PIE_COARSE = "```python\na, b = map(int, input().split())\nprint('YES' if a < b else 'NO')\nprint('%.3f' % (a / b))\n```"


def test_outputs_judged_like_deepminds_checker():
    res = _verify([(RIGHT_SUM, _ref(SUM)),
                   ("A: ```a, b = map(int, input().split())\nprint(a + b)```\n", _ref(SUM)),  # the raw prompt's form
                   ("```python\nprint(3)\n```", _ref(SUM)),
                   (PIE_LOOSE, _ref(PIE)),      # only case and float precision differ: accepted
                   (PIE_COARSE, _ref(PIE)),     # 0.333 is 3.3e-4 off: rejected
                   ("```python\nimport sys\nsys.exit(1)\n```", _ref(SUM)),
                   ("```python\nprint(\n```", _ref(SUM))], timeout=10)
    assert [r["correct"] for r in res] == [True, True, False, True, False, False, False]
    assert res[2]["detail"] == "wrong answer on test 1" and res[4]["detail"] == "wrong answer on test 0"
    assert res[5]["detail"].startswith("runtime error on test 0") and res[6]["detail"] == "failed: SyntaxError"


SLOW_SUM = "```python\nimport time\na, b = map(int, input().split())\ntime.sleep(1.3)\nprint(a + b)\n```"
SLOW_PIE = PIE_LOOSE.replace("print('Yes'", "__import__('time').sleep(1.3)\nprint('Yes'")
SLOW_ECHO = "```python\nimport time\nline = input()\ntime.sleep(1.3)\nprint(line)\n```"


def test_each_problem_has_its_own_time_limit():
    # 1500_A allows 1 s: a program that takes 1.3 s per test fails there although the global
    # timeout is 10 s ...
    res = _verify([(SLOW_SUM, _ref(SUM))], timeout=10)
    assert not res[0]["correct"] and res[0]["detail"] == "timed out on test 0 (limit 1 s)"
    # ... and 1500_B allows 2.5 s, plus a 0.5 s buffer: the same delay passes there although the
    # global timeout is 1 s
    res = _verify([(SLOW_PIE, _ref(PIE, time_buffer_s=0.5))], timeout=1)
    assert res[0]["correct"], res[0]["detail"]
    # the buffer counts: 1500_A with a 0.2 s buffer still fails, with a 1 s buffer it passes
    assert not _verify([(SLOW_SUM, _ref(SUM, time_buffer_s=0.2))], timeout=10)[0]["correct"]
    assert _verify([(SLOW_SUM, _ref(SUM, time_buffer_s=1.0))], timeout=1)[0]["correct"]
    # 1500_E gives no limit: the global timeout applies, both ways
    assert not _verify([(SLOW_ECHO, _ref(ECHO))], timeout=1)[0]["correct"]
    assert _verify([(SLOW_ECHO, _ref(ECHO))], timeout=4)[0]["correct"]
