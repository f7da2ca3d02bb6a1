"""The `codecontests` verifier: a Python 3 program judged on every test of a CodeContests problem.

    check_codecontests(text, ref, timeout) -> (correct, detail)

ref = {"tests": [{"input": str, "output": str}, ...],   public, private and generated tests
       "time_limit_s": float,                           the problem's own limit (0: none given)
       "time_buffer_s": float}                          added to it ([task] time_buffer)

- The program is the sample's first fenced block (a leading "python"/"python3"/"py" line
  dropped), or the whole sample when it has none, as the paper's code takes it
  (large_language_monkeys, llmonk/evaluate/code_contests.py, extract_first_code); the raw
  few-shot prompt's answers open the fence and the code on one line ("A: ```n = int(...").
- Each test runs the program once with the test's input on stdin. Its limit is the problem's
  time limit plus the buffer; a problem without one gets `timeout` ([verify] timeout).
- The first test that times out, ends with an error (non-zero exit, uncaught exception,
  signal) or prints an output that DeepMind's checker rejects (verifiers/checker.py) fails
  the sample; stderr is ignored.

The program runs walled in, through the judge's stdio mode (verifiers/judge.py, as
check_stdio does): the expected outputs never enter the candidate's process; the judge compares.
"""
from __future__ import annotations

import re

from . import checker, judge
from .code import STDOUT_CAP

_BLOCK = re.compile(r"```(.*?)(?:```|\Z)", re.S)
_LANG_LINE = re.compile(r"[ \t]*(?:python3?|py)[ \t]*\n", re.I)


def program(text: str) -> str:
    m = _BLOCK.search(text)
    if m is None:
        return text
    body = m.group(1)
    lang = _LANG_LINE.match(body)
    return body[lang.end():] if lang else body.lstrip("\n")


def time_limit(ref: dict, timeout: float) -> float:
    """Seconds each test may take: the problem's limit plus the buffer, else `timeout`."""
    own = float(ref.get("time_limit_s") or 0)
    return own + float(ref.get("time_buffer_s") or 0) if own > 0 else timeout


def run_test(code, stdin: str, limit: float) -> tuple[str, str]:
    """Run the compiled program on one input: ("ok", stdout), ("timeout", ""), or ("error", why)."""
    res = judge.run_stdio(judge.sandbox(), code, stdin, limit, STDOUT_CAP)
    if res["status"] == "timeout":
        return "timeout", ""
    if res["status"] != "exited" or res["code"] != 0:
        return "error", res["error"] or ("out of memory" if res.get("oom") else f"status {res['code']}")
    return "ok", res["stdout"].decode("utf-8", "replace")


def check_codecontests(text: str, ref: dict, timeout: float) -> tuple[bool, str]:
    source = program(text)
    tests = ref.get("tests") or []
    if not tests:
        return False, "no tests in reference"
    compiled = judge.compile_untrusted(source)
    if isinstance(compiled, Exception):  # fails without a sandbox
        return False, f"failed: {type(compiled).__name__}"
    limit = time_limit(ref, timeout)
    for i, t in enumerate(tests):
        status, out = run_test(compiled, t["input"], limit)
        if status == "timeout":
            return False, f"timed out on test {i} (limit {limit:g} s)"
        if status == "error":
            return False, f"runtime error on test {i}: {out}"
        if not checker.matches(t["output"], out):
            return False, f"wrong answer on test {i}"
    return True, "passed"
