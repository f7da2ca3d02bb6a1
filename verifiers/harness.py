"""What runs inside the sandboxed process: execute candidate code, then the tests, then report.

The verdict is one line `<nonce> PASS` or `<nonce> FAIL <reason>` written to a pipe whose
number the candidate is not told. Only the harness knows the nonce, and the audit hook
installed before any candidate code runs closes the doors to it: frame introspection
(sys._getframe, tracebacks' and generators' frames, settrace/setprofile), the garbage
collector's object lists, and ctypes. /proc is not mounted in the sandbox.

A pass additionally requires that the tests ran to their end in a namespace of their own
(a snapshot taken before the candidate could act, with a private copy of the builtins),
that every value the candidate returned to the tests is plain data of exact built-in types
(an object with a forged __eq__ cannot be compared), and that the builtins and the modules
the tests use are the same objects after the tests as before.
"""
from __future__ import annotations

import builtins
import collections
import decimal
import fractions
import os
import re
import sys

PLAIN_SCALARS = (int, float, complex, str, bytes, bool, type(None), range, re.Match, re.Pattern,
                 decimal.Decimal, fractions.Fraction)
PLAIN_CONTAINERS = (list, tuple, set, frozenset, collections.deque)
PLAIN_MAPPINGS = (dict, collections.Counter, collections.OrderedDict, collections.defaultdict)
# Library classes defined in Python: their methods could be reassigned, so they are checked too.
PROTECTED_CLASSES = (collections.Counter, collections.OrderedDict, fractions.Fraction)

_BLOCKED_EXACT = {"sys._getframe", "sys._current_frames", "sys._current_exceptions",
                  "sys.settrace", "sys.setprofile", "sys.addaudithook", "gc.get_objects",
                  "gc.get_referrers", "gc.get_referents", "object.__getattr__",
                  "cpython.PyInterpreterState_New", "cpython._PySys_ClearAuditHooks"}


class SandboxViolation(PermissionError, ValueError):
    """Raised by the audit hook. Subclasses the errors stdlib code already expects from the
    blocked calls (e.g. namedtuple's frame lookup), so ordinary programs keep working."""


def _audit(event: str, args) -> None:
    if event in _BLOCKED_EXACT or event.startswith("ctypes."):
        raise SandboxViolation(f"{event} is not allowed in the sandbox")
    if event == "open" and args and isinstance(args[0], str) and args[0].startswith("/proc"):
        raise SandboxViolation("/proc is not available in the sandbox")


def _is_plain(value, depth: int = 0) -> bool:
    t = type(value)
    if t in PLAIN_SCALARS:
        return True
    if depth >= 50:
        return False
    if t in PLAIN_MAPPINGS:
        return all(_is_plain(k, depth + 1) and _is_plain(v, depth + 1) for k, v in value.items())
    if t in PLAIN_CONTAINERS:
        return all(_is_plain(v, depth + 1) for v in value)
    return False


def _guard(fn):
    """Wrap the candidate function so the tests only ever see plain data from it."""
    is_plain, call = _is_plain, fn

    def candidate(*args, **kwargs):
        out = call(*args, **kwargs)
        if not is_plain(out):
            raise TypeError(f"candidate returned a {type(out).__name__}, not plain data")
        return out
    return candidate


def _fingerprint(modules) -> list:
    return [(m, sorted((k, id(v)) for k, v in m.__dict__.items() if not k.startswith("__")))
            for m in modules]


def run_tests(vfd: int, nonce: str, code: str, test: str, entry: str | None, call: str) -> None:
    """Run `code`, then `test` in its own snapshot namespace, then `call` (e.g. check(candidate)).

    `entry` names the function the tests receive as `candidate`, guarded; None for tests
    that call functions by name (MBPP). Never returns.
    """
    write, exit_, fp = os.write, os._exit, _fingerprint
    reason = "FAIL internal"
    try:
        pristine = dict(builtins.__dict__)
        protected = [builtins, *PROTECTED_CLASSES] + [sys.modules[m] for m in ("math", "re", "string", "collections",
                                  "itertools", "functools", "heapq", "operator", "cmath")
                                  if m in sys.modules]
        before = fp(protected)
        sys.addaudithook(_audit)
        cand_globals = {"__name__": "__main__", "__builtins__": builtins}
        try:
            exec(compile(code, "<candidate>", "exec"), cand_globals)
            test_globals = dict(cand_globals)
            test_globals["__builtins__"] = pristine
            exec(compile(test, "<test>", "exec"), test_globals)
            protected += [v for v in test_globals.values()
                          if type(v) is type(sys) and v not in protected]
            before = before + fp(protected[len(before):])
            if entry is not None:
                fn = cand_globals.get(entry)
                if not callable(fn):
                    raise NameError(f"{entry} is not defined")
                test_globals["candidate"] = _guard(fn)
                if entry in test_globals:
                    test_globals[entry] = test_globals["candidate"]
            exec(compile(call, "<check>", "exec"), test_globals)
            if fp(protected) != before:
                reason = "FAIL tampered with builtins or modules"
            else:
                reason = "PASS"
        except BaseException as e:  # SystemExit, KeyboardInterrupt included: never a pass
            name = type(e).__name__ if type(type(e)) is type else "exception"
            reason = f"FAIL {name}"
    finally:
        try:
            write(vfd, f"{nonce} {reason}\n".encode())
        finally:
            exit_(0)


def run_script(vfd: int, nonce: str, code: str) -> None:
    """Run a whole program as __main__ on the stdin/stdout the sandbox set up. Never returns.

    The verdict here only reports how the program ended; its output is judged by the
    supervisor, outside the sandbox.
    """
    write, exit_ = os.write, os._exit
    reason = "FAIL internal"
    try:
        sys.addaudithook(_audit)
        try:
            exec(compile(code, "<candidate>", "exec"), {"__name__": "__main__", "__builtins__": builtins})
            reason = "PASS"
        except SystemExit as e:
            reason = "PASS" if e.code in (None, 0) else "FAIL SystemExit"
        except BaseException as e:
            reason = f"FAIL {type(e).__name__}"
        try:
            sys.stdout.flush()
        except BaseException:
            reason = "FAIL flush"
    finally:
        try:
            write(vfd, f"{nonce} {reason}\n".encode())
        finally:
            exit_(0)


def run_call(vfd: int, nonce: str, fn) -> None:
    """Run trusted `fn()` on untrusted data (e.g. a LaTeX parser); PASS when it returns True."""
    write, exit_ = os.write, os._exit
    reason = "FAIL internal"
    try:
        try:
            reason = "PASS" if fn() is True else "FAIL not equivalent"
        except BaseException as e:
            reason = f"FAIL {type(e).__name__}"
    finally:
        try:
            write(vfd, f"{nonce} {reason}\n".encode())
        finally:
            exit_(0)
