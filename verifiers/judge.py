"""The judge: trusted code in a trusted process, deciding verdicts about candidates it never runs.

A judge (one per pool worker) keeps one zygote per flavour (verifiers/zygote.py), started on
first use. For each candidate it asks the zygote for a fresh walled-in process, sends it the
compiled program, and then:

  function mode (HumanEval, MBPP)  runs the dataset's test code here, in a namespace of its own
      whose `candidate` (and every other name the tests use that the program defines, such as
      HumanEval's `poly` or MBPP's function) is a proxy: a call sends the arguments as plain
      data and gets back a plain value or the name of the exception raised (verifiers/wire.py).
  stdio mode   feeds the input, waits for the process to end and compares its output here;
               the expected output never leaves this process.
  math mode    has the walled-in process compare two answers with math-verify (no untrusted
               code, but parsing untrusted LaTeX can take any time or memory).

The verdict is computed here only. The deadline covers the whole run: the candidate's work
and the tests' (an alarm interrupts test code that loops on what the candidate returned).
"""
from __future__ import annotations

import builtins
import contextlib
import json
import logging
import marshal
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types
import warnings

from . import cgroups, walls, wire

log = logging.getLogger(__name__)

PRELOAD = ("math", "cmath", "re", "string", "collections", "itertools", "functools", "heapq",
           "bisect", "operator", "typing", "fractions", "decimal", "random", "statistics",
           "hashlib", "copy", "datetime", "json", "array", "textwrap", "unicodedata", "dataclasses",
           "enum", "abc", "numbers", "io", "struct", "queue", "sys")
FLAVOURS = {"base": PRELOAD, "numpy": PRELOAD + ("numpy",), "pandas": PRELOAD + ("numpy", "pandas"),
            "math": PRELOAD}
_NUMPY_USERS = {"numpy", "scipy"}
_BOOT = ("import sys; sys.path[:0] = {paths!r}; import verifiers.zygote as z; "
         "assert z.__file__.startswith({path!r}), z.__file__; z.main()")
_LEN = struct.Struct("<I")
_BUILTIN_NAMES = frozenset(builtins.__dict__)
_JUDGE_MODULES = frozenset(PRELOAD) | {"numpy", "pandas"}


class ZygoteDied(Exception):
    """The zygote stopped answering: not the candidate's doing as far as we can tell."""


class JudgeTimeout(BaseException):
    """The run's deadline passed (BaseException: test code's `except Exception` cannot hide it)."""


class CandidateGone(BaseException):
    """The candidate's process ended or broke the protocol in the middle of the tests."""


class BadReply(CandidateGone):
    """The candidate broke the protocol (a malformed or oversized message): its own fault."""


class CandidateExit(BaseException):
    """The candidate raised SystemExit, KeyboardInterrupt or GeneratorExit in a call."""


class CandidateError(Exception):
    """An exception of a class that is not built in, raised by the candidate in a call."""


# --------------------------------------------------------------------------------- zygotes

def _package_parent() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


ROOT_PREFIX = "monkeys-root-"  # + the judge's pid: the skeleton's mount point, in the host's temp folder


class Zygote:
    """Client of one zygote process (see zygote.py for the protocol)."""

    def __init__(self, flavour: str, level: str, limits: dict):
        self.flavour, self.level = flavour, level
        self.seq, self.unread, self.pidfds = 0, [], {}
        self.root = tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}-")
        cgroups.sweep(tempfile.gettempdir(), ROOT_PREFIX)
        self.group, why = cgroups.create(limits["memory_mb"] << 20, limits["nproc"] + 8)
        self.sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cfg = {"fd": child.fileno(), "judge": os.getpid(), "level": level, "root": self.root,
               "preload": list(FLAVOURS[flavour]), "math": flavour == "math", "limits": limits,
               "cgroup": self.group, "cgroup_why": why}
        from .pool import import_path  # noqa: PLC0415
        boot = _BOOT.format(paths=import_path(), path=_package_parent())
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", "-c", boot, json.dumps(cfg)],
                                         pass_fds=[child.fileno()], env=dict(walls.SAFE_ENV),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         cwd="/")
        finally:
            child.close()
        msg = self._recv(time.monotonic() + 300)
        if msg is None or msg.get("op") != "ready":
            why = (msg or {}).get("why", "the zygote did not start")
            self.close()
            raise OSError(why)
        self.facts = msg

    def _recv(self, deadline: float) -> dict | None:
        """The next message (a pidfd it carries under "fd"), None if the deadline passes;
        ZygoteDied if the zygote is gone."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        self.sock.settimeout(remaining)
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, 65536, 1)
        except socket.timeout:
            return None
        except OSError as e:
            raise ZygoteDied(str(e)) from None
        if not data:
            raise ZygoteDied("the zygote closed its socket")
        msg = json.loads(data)
        if fds:
            msg["fd"] = fds[0]
        return msg

    def settle(self) -> None:
        """Wait for the end of every candidate asked for so far (normally already reported)."""
        while self.unread:
            if self._ended(self.unread[0], time.monotonic() + 60) is None:
                raise ZygoteDied("no answer to a kill request")

    def spawn(self, mode: str, timeout: float, fds: list[int]) -> int:
        """Ask for a candidate process; its sequence number. Does not wait for the fork."""
        self.settle()
        self.seq += 1
        try:
            self.sock.settimeout(10)
            msg = {"op": "spawn", "seq": self.seq, "mode": mode, "timeout": timeout}
            socket.send_fds(self.sock, [json.dumps(msg).encode()], fds)
        except OSError as e:
            raise ZygoteDied(str(e)) from None
        self.unread.append(self.seq)
        return self.seq

    def _ended(self, seq: int, deadline: float) -> dict | None:
        """Read messages until candidate `seq` has ended; its status, None past `deadline`."""
        while True:
            msg = self._recv(deadline)
            if msg is None:
                return None
            if msg.get("op") == "started":
                self.pidfds[msg.get("seq")] = msg.get("fd")
            elif msg.get("op") == "ended" and msg.get("seq") in self.unread:
                self.unread.remove(msg["seq"])
                fd = self.pidfds.pop(msg["seq"], None)
                if fd is not None:
                    os.close(fd)
                if msg["seq"] == seq:
                    return msg

    def wait(self, seq: int, deadline: float) -> dict | None:
        """Candidate `seq`'s end ({"status", "code", "oom"}), or None if it runs past `deadline`."""
        return self._ended(seq, deadline)

    def kill(self, seq: int, wait: bool = True) -> dict | None:
        """End candidate `seq` now (the zygote then ends all it started); with `wait`, its
        status. Without, the status is read (and dropped) before the next spawn."""
        deadline = time.monotonic() + 30
        while seq in self.unread and seq not in self.pidfds:
            msg = self._recv(deadline)
            if msg is None:
                raise ZygoteDied("no pidfd for a candidate")
            if msg.get("op") == "started":
                self.pidfds[msg.get("seq")] = msg.get("fd")
            elif msg.get("op") == "ended" and msg.get("seq") in self.unread:
                self.unread.remove(msg["seq"])
                return msg
        if seq not in self.unread:
            return None
        try:
            signal.pidfd_send_signal(self.pidfds[seq], signal.SIGKILL)
        except ProcessLookupError:
            pass
        if not wait:
            return None
        msg = self._ended(seq, deadline)
        if msg is None:
            raise ZygoteDied("a killed candidate did not end")
        return msg

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        for fd in self.pidfds.values():
            os.close(fd)
        self.pidfds = {}
        try:
            self.sock.close()
        except OSError:
            pass
        proc = getattr(self, "proc", None)
        if proc is not None:
            try:
                proc.kill()
            except OSError:
                pass
            proc.wait()
        if self.group:
            deadline = time.monotonic() + 5
            while True:  # the group can only go once its last process has been reaped
                cgroups.remove(self.group)
                if not any(os.path.isdir(d) for d in self.group["dirs"]) or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
        try:
            os.rmdir(self.root)
        except OSError:
            pass


class Sandbox:
    """The zygotes of one judge, by flavour, started on first use and restarted when dead."""

    def __init__(self, level: str | None = None, limits: dict | None = None):
        self.wanted = level or ("full" if os.geteuid() == 0 else "userns")
        self.limits = dict(walls.DEFAULT_LIMITS, **(limits or {}))
        self.zygotes: dict[str, Zygote] = {}
        self.level = None

    def zygote(self, flavour: str) -> Zygote:
        z = self.zygotes.get(flavour)
        if z is not None and z.alive():
            return z
        if z is not None:
            z.close()
        level = self.level or self.wanted
        try:
            z = Zygote(flavour, level, self.limits)
        except OSError as e:
            if self.level is not None or level == "basic":
                raise
            log.warning("sandbox: %s; running candidates with rlimits, seccomp, a private temp dir "
                        "and a scrubbed environment only", e)
            z = Zygote(flavour, "basic", self.limits)
        self.level = z.facts["level"]
        self.zygotes[flavour] = z
        return z

    def settle(self) -> None:
        """Wait until every candidate started so far has ended and been reaped."""
        for flavour, z in list(self.zygotes.items()):
            try:
                z.settle()
            except ZygoteDied:
                self.retire(flavour)

    def retire(self, flavour: str) -> None:
        z = self.zygotes.pop(flavour, None)
        if z is not None:
            z.close()

    def cpu_seconds(self) -> float:
        """CPU time used so far by this judge and its zygotes, candidates included (a zygote
        reaps its candidates, so their time is in its children's)."""
        import resource  # noqa: PLC0415
        r = resource.getrusage(resource.RUSAGE_SELF)
        total = r.ru_utime + r.ru_stime
        tick = os.sysconf("SC_CLK_TCK")
        for z in self.zygotes.values():
            pids = [z.proc.pid]
            try:
                pids += [int(p) for p in open(f"/proc/{z.proc.pid}/task/{z.proc.pid}/children").read().split()]
            except OSError:
                pass
            for pid in pids:
                try:
                    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
        return total

    def describe(self) -> str:
        f = self.zygote("base").facts
        return "; ".join([f["level"], f["cgroup"], f["seccomp"]])

    def close(self) -> None:
        for flavour in list(self.zygotes):
            self.retire(flavour)


_current: dict = {}


def sandbox() -> Sandbox:
    """This process's sandbox (one per judge process)."""
    if "sandbox" not in _current:
        _current["sandbox"] = Sandbox()
    return _current["sandbox"]


def configure(level: str | None = None, limits: dict | None = None) -> None:
    close()
    _current["sandbox"] = Sandbox(level, limits)


def close() -> None:
    sb = _current.pop("sandbox", None)
    if sb is not None:
        sb.close()


# ------------------------------------------------------------------------------ programs

_last_compiled: dict = {}


def compile_untrusted(src: str, name: str = "<candidate>"):
    """Model-written source compiled here (compiling runs none of it), or the error the child
    would have raised (SyntaxError; ValueError for NUL bytes; MemoryError or RecursionError
    from the parser's and compiler's depth limits). Python's default semantics: no future
    import of this module leaks in; compile-time warnings are not printed. The last result is
    kept: assembling a HumanEval program may have compiled the same source just before."""
    key = (src, name)
    if _last_compiled.get("key") == key:
        return _last_compiled["code"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = compile(src, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        code = e
    _last_compiled.update(key=key, code=code)
    return code


_trusted: dict = {}


def compile_trusted(src: str, name: str):
    """Dataset test code, compiled once per judge, with the names it uses; (None, error) if
    it does not compile."""
    key = (src, name)
    hit = _trusted.get(key)
    if hit is None:
        if len(_trusted) >= 1024:
            _trusted.clear()
        code = compile_untrusted(src, name)
        hit = _trusted[key] = (None, code) if isinstance(code, Exception) else (code, names_in(code))
    return hit


def names_in(code) -> frozenset:
    """Every global, attribute or imported name a code object (and those nested in it) uses."""
    out, stack = set(), [code]
    while stack:
        c = stack.pop()
        out.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return frozenset(out)


def flavour_of(code) -> str:
    names = names_in(code)
    if "pandas" in names:
        return "pandas"
    return "numpy" if names & _NUMPY_USERS else "base"


def _program_frame(code, extra) -> bytes:
    blob = marshal.dumps(code)
    return _LEN.pack(len(blob)) + blob + wire.dump(extra)


# ---------------------------------------------------------------------------- one run

class _Channel:
    """The judge's end of the socket to one candidate. Under `_alarm` the socket blocks and
    the alarm ends a wait at the deadline; elsewhere (not the main thread) each wait has a
    timeout."""

    def __init__(self, sock: socket.socket, deadline: float, state: dict):
        self.sock, self.deadline, self.state = sock, deadline, state
        self.buf = bytearray()

    def _arm(self) -> None:
        if self.state.get("alarm"):
            return
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise JudgeTimeout()
        self.sock.settimeout(left)

    def send(self, payload: bytes) -> None:
        self._arm()
        try:
            self.sock.sendall(wire.frame(payload))
        except socket.timeout:
            raise JudgeTimeout() from None
        except OSError:
            raise CandidateGone("the candidate's process is gone") from None

    def recv(self) -> bytes | None:
        """One whole message, or None when the candidate's end is closed."""
        need = 4
        while True:
            if len(self.buf) >= 4:
                n = _LEN.unpack_from(self.buf)[0]
                if n > wire.MAX_MESSAGE or n == 0:
                    raise BadReply("a message over the size limit")
                need = 4 + n
                if len(self.buf) >= need:
                    msg = bytes(self.buf[4:need])
                    del self.buf[:need]
                    return msg
            self._arm()
            try:
                chunk = self.sock.recv(max(65536, need - len(self.buf)))
            except socket.timeout:
                raise JudgeTimeout() from None
            except OSError:
                return None
            if not chunk:
                return None
            self.buf += chunk


_armed: dict = {}


def _ring(signum, frame):
    state = _armed.get("state")
    if state is not None:
        state["timed_out"] = True
        raise JudgeTimeout()


@contextlib.contextmanager
def _alarm(deadline: float, state: dict):
    """Interrupt whatever this thread does here (waiting for the candidate, or the trusted
    tests looping over what it returned) when the deadline passes. Only the main thread gets
    signals; elsewhere the channel's own timeouts bound the waits. The handler is installed
    once (and kept while it is ours); each run only arms the timer."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGALRM) is not _ring:
        signal.signal(signal.SIGALRM, _ring)
    _armed["state"] = state
    state["alarm"] = True
    signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 0.0001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _armed["state"] = None
        state["alarm"] = False


def _judge_unknown(obj, depth: int) -> bytes:
    if type(obj) is wire.Opaque:
        return b"h" + wire.dump(obj.handle)[1:]
    enc = wire.numpy_value(obj)
    if enc is not None:
        return enc
    raise wire.WireError(f"a {type(obj).__name__} cannot be passed to the candidate")


def _exception(info) -> BaseException:
    if type(info) is not tuple or len(info) != 3 or not all(type(x) is str for x in info):
        return BadReply("an unreadable exception")
    base, own, msg = info
    cls = getattr(builtins, base, None)
    if cls in (StopIteration, StopAsyncIteration):
        # raised here it would end the tests' own iteration (`all(map(candidate, cases))`
        # would hold): a RuntimeError, as PEP 479 makes of it in a generator
        e = RuntimeError(f"the candidate raised {base}")
    elif isinstance(cls, type) and issubclass(cls, BaseException):
        if not issubclass(cls, Exception):
            e = CandidateExit(msg)
        else:
            try:
                e = cls(msg)
            except Exception:  # noqa: BLE001  (classes whose constructor wants more)
                e = CandidateError(msg)
    else:
        e = CandidateError(msg)
    e.candidate_type = own  # type: ignore[attr-defined]
    return e


def _apply_changes(changed, args: tuple, kwargs: dict) -> None:
    """A function that changed a list (dict, set...) it was given changes the tests' own."""
    if type(changed) is not dict:
        return
    for key, new in changed.items():
        if type(key) is int and 0 <= key < len(args):
            target = args[key]
        elif type(key) is str:
            target = kwargs.get(key)
        else:
            continue
        if type(new) is not type(target):
            continue
        if type(target) in (list, bytearray):
            target[:] = new
        elif type(target) in (dict, set):
            target.clear()
            target.update(new)
        elif hasattr(target, "extend"):  # deque
            target.clear()
            target.extend(new)


class _Session:
    """Proxies for the names a candidate's program defines, over one channel."""

    def __init__(self, chan: _Channel, state: dict):
        self.chan, self.state = chan, state

    def call(self, name: str, args: tuple, kwargs: dict):
        if self.state.get("broken") or self.state.get("timed_out"):
            raise self.state.get("broken") or JudgeTimeout()
        try:
            # The judge's own values, to the candidate: marshal where it can (fast, exact
            # types; unmarshalling trusted bytes is safe), the wire format where not (values
            # that came from the candidate, numpy). Never marshal the other way.
            payload = b"M" + marshal.dumps((name, args, kwargs))
        except ValueError:
            try:
                payload = b"W" + wire.dump((name, args, kwargs), unknown=_judge_unknown)
            except (wire.WireError, RecursionError) as e:
                raise TypeError(str(e)) from None
        try:
            self.chan.send(payload)
            reply = self.chan.recv()
        except JudgeTimeout:
            self.state["timed_out"] = True
            raise
        except CandidateGone as e:
            self.state["broken"] = e
            raise
        if reply is None:
            raise self._broken(CandidateGone("the candidate's process ended during a call"))
        try:
            body = wire.decode(reply[1:])
        except wire.WireError as e:
            raise self._broken(BadReply(str(e))) from None
        if reply[:1] == b"V" and type(body) is tuple and len(body) == 2:
            _apply_changes(body[1], args, kwargs)
            return body[0]
        if reply[:1] == b"X":
            e = _exception(body)
            raise self._broken(e) if isinstance(e, BadReply) else e
        raise self._broken(BadReply("an unknown kind of reply"))

    def _broken(self, e: CandidateGone) -> CandidateGone:
        self.state["broken"] = e
        return e

    def proxy(self, name: str):
        call = self.call

        def proxy(*args, **kwargs):
            return call(name, args, kwargs)
        proxy.__name__ = proxy.__qualname__ = name
        return proxy


def _module_for_judge(name: str, claimed):
    """The judge's own copy of the module the program bound to a name the tests use: the
    module of that name where there is one (a program cannot make the tests' `math` another
    module), else the one it claims; either only from a short list of top-level modules,
    never a submodule of one (importing a module can have effects: `antigravity`,
    `numpy.f2py.__main__` runs a command line and exits)."""
    if name in _JUDGE_MODULES:
        claimed = name
    if type(claimed) is not str or claimed not in _JUDGE_MODULES:
        return None
    name = claimed
    mod = sys.modules.get(name)
    if mod is None:
        try:
            import importlib  # noqa: PLC0415
            mod = importlib.import_module(name)
        except Exception:  # noqa: BLE001
            return None
    return mod


def _ended_detail(ended: dict) -> str:
    if ended.get("oom"):
        return "killed: out of memory"
    if ended.get("status") == "signaled":
        return f"killed by signal {ended.get('code')}"
    return f"exited early (status {ended.get('code')})"


def run_functions(sb: Sandbox, code, test: tuple, call: tuple, entry: str | None,
                  timeout: float, bind: bool = True, prelude: tuple | None = None) -> tuple[bool, str]:
    """Run the program walled in, then the trusted `test` and `call` code here against it.
    `test`, `call` and `prelude` come from `compile_trusted`. `entry` names the function asked
    for: with `bind`, the tests receive it as `candidate` (HumanEval); either way it is the one
    name the program may define for the tests even where it shadows a builtin. `prelude` is
    trusted code run first in the tests' namespace (HumanEval's prompt): what it defines (its
    imports, helpers such as `poly`) is the tests', never the program's, but for `entry`."""
    flavour = flavour_of(code)
    for attempt in (1, 2):
        try:
            return _run_functions_once(sb.zygote(flavour), code, test, call, entry, timeout, bind, prelude)
        except ZygoteDied as e:
            sb.retire(flavour)
            if attempt == 2:
                return False, f"verifier error: the sandbox died twice ({e})"
    raise AssertionError("unreachable")


_NULL: list = []


def _devnull() -> int:
    """One /dev/null descriptor for the judge's lifetime (sent as the candidates' stdio)."""
    if not _NULL:
        _NULL.append(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
    return _NULL[0]


def _start(zyg: Zygote, mode: str, timeout: float, fds: list[int], program: bytes):
    """A candidate process with `program` waiting in its socket: (seq, our socket, rest of the
    program not yet sent, deadline). The clock starts once the previous candidate of this
    zygote is gone (a large one takes a while to tear down: never on this one's time). A
    program that fits the socket's buffer goes before the request, so nothing waits for the
    fork."""
    zyg.settle()
    deadline = time.monotonic() + timeout
    mine, theirs = socket.socketpair()
    head = wire.frame(program)
    sent = 0
    if len(head) <= 65536:
        mine.setblocking(False)
        try:
            sent = mine.send(head)
        except BlockingIOError:
            pass
        mine.setblocking(True)
    try:
        seq = zyg.spawn(mode, timeout, [theirs.fileno()] + fds)
    except BaseException:
        mine.close()
        raise
    finally:
        theirs.close()
    return seq, mine, head[sent:], deadline


def _run_functions_once(zyg: Zygote, code, test: tuple, call: tuple, entry: str | None,
                        timeout: float, bind: bool, prelude: tuple | None) -> tuple[bool, str]:
    (test_code, test_names), (call_code, call_names) = test, call
    names = sorted(test_names | call_names | ({entry} if entry else set()))
    null = _devnull()
    seq, mine, rest, deadline = _start(zyg, "function", timeout, [null, null, null], _program_frame(code, names))
    state: dict = {}
    try:
        try:
            with _alarm(deadline, state):
                chan = _Channel(mine, deadline, state)
                if rest:
                    mine.sendall(rest)
                verdict = _judge_functions(chan, state, test_code, call_code, entry, bind, deadline, prelude)
        except JudgeTimeout:
            verdict = False, "timed out"
        except BadReply as e:
            verdict = False, f"failed: bad reply ({e})"
        except (CandidateGone, OSError):
            verdict = None
        if verdict is None:
            return False, _ended_detail(zyg.kill(seq, wait=True))
        zyg.kill(seq, wait=False)
        return verdict
    finally:
        mine.close()


def _judge_functions(chan: _Channel, state: dict, test_code, call_code, entry, bind: bool,
                     deadline: float, prelude: tuple | None = None) -> tuple[bool, str] | None:
    reply = chan.recv()
    if reply is None:
        return None
    try:
        body = wire.decode(reply[1:])
    except wire.WireError as e:
        raise BadReply(str(e)) from None
    if reply[:1] == b"X":
        e = _exception(body)
        if isinstance(e, BadReply):
            raise e
        return False, f"failed: {getattr(e, 'candidate_type', type(e).__name__)}"
    if reply[:1] != b"R" or type(body) is not tuple or len(body) != 2 \
            or type(body[0]) is not dict or type(body[1]) is not dict:
        raise BadReply("not the program's names")
    if test_code is None or call_code is None or (prelude is not None and prelude[0] is None):
        return False, "failed: the tests do not compile"
    found, values = body
    session = _Session(chan, state)
    g: dict = {}
    if prelude is not None:
        try:
            with _alarm(deadline, state):
                exec(prelude[0], g)
        except JudgeTimeout:
            return False, "timed out"
        except Exception as e:  # noqa: BLE001  (the dataset's own prompt fails here: every candidate fails)
            return False, f"failed: the prompt raised {type(e).__name__}"
    trusted = frozenset(g)
    for name, desc in found.items():
        if type(name) is not str or type(desc) is not tuple or not desc:
            continue
        if (name in _BUILTIN_NAMES or name in trusted) and name != entry:
            continue  # the tests' builtins, and what the prompt defines, are never the program's
        if desc[0] == "f":
            g[name] = session.proxy(name)
        elif desc[0] == "m" and len(desc) == 2:
            mod = _module_for_judge(name, desc[1])
            if mod is not None:
                g[name] = mod
        elif desc[0] == "v" and name in values:
            g[name] = values[name]
    try:
        with _alarm(deadline, state):
            exec(test_code, g)
            if entry is not None and bind:
                if found.get(entry) != ("f",):
                    raise NameError(f"{entry} is not defined")
                g["candidate"] = g[entry] = session.proxy(entry)
            exec(call_code, g)
    except BaseException as e:  # noqa: BLE001  (the tests failed: any exception, SystemExit too)
        if state.get("timed_out") or isinstance(e, JudgeTimeout):
            return False, "timed out"
        if state.get("broken"):
            raise state["broken"] from None
        return False, f"failed: {getattr(e, 'candidate_type', type(e).__name__)}"
    if state.get("timed_out") or time.monotonic() > deadline:
        return False, "timed out"
    if state.get("broken"):  # the tests swallowed the exception that reported it
        raise state["broken"]
    return True, "passed"


def run_stdio(sb: Sandbox, code, stdin: str, timeout: float, out_cap: int) -> dict:
    """Run a whole program on `stdin`. {"status": "exited"|"signaled"|"timeout", "code",
    "stdout": bytes, "error": exception class name or None, "oom": bool}."""
    flavour = flavour_of(code)
    for attempt in (1, 2):
        try:
            return _run_stdio_once(sb.zygote(flavour), code, stdin, timeout, out_cap)
        except ZygoteDied as e:
            sb.retire(flavour)
            if attempt == 2:
                return {"status": "error", "code": -1, "stdout": b"", "error": f"the sandbox died twice ({e})",
                        "oom": False}
    raise AssertionError("unreachable")


def _memfd(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create(name, 0)
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _run_stdio_once(zyg: Zygote, code, stdin: str, timeout: float, out_cap: int) -> dict:
    in_fd, out_fd = _memfd("stdin", stdin.encode()), _memfd("stdout")
    null = _devnull()
    try:
        try:
            seq, mine, rest, deadline = _start(zyg, "stdio", timeout, [in_fd, out_fd, null], _program_frame(code, None))
        finally:
            os.close(in_fd)
        try:
            state: dict = {}
            chan = _Channel(mine, deadline, state)
            try:
                if rest:
                    mine.settimeout(max(0.001, deadline - time.monotonic()))
                    mine.sendall(rest)
            except OSError:  # timed out, or the candidate is gone: its status says which
                pass
            ended = zyg.wait(seq, deadline)
            timed_out = ended is None
            if timed_out:
                ended = zyg.kill(seq, wait=True)
            error = None
            if not timed_out:
                chan.deadline = time.monotonic() + 0.5  # the report, if any, is already there
                try:
                    reply = chan.recv()
                    if reply and reply[:1] == b"X":
                        info = wire.decode(reply[1:])
                        if type(info) is tuple and len(info) == 3 and type(info[1]) is str:
                            error = info[1]
                except (JudgeTimeout, CandidateGone, wire.WireError):
                    pass
        finally:
            mine.close()
        size = os.fstat(out_fd).st_size
        out = os.pread(out_fd, min(size, out_cap), 0)
        return {"status": "timeout" if timed_out else ended["status"], "code": ended["code"],
                "stdout": out, "error": error, "oom": ended.get("oom", False)}
    finally:
        os.close(out_fd)


def run_math(sb: Sandbox, answer: str, reference: str, timeout: float) -> str:
    """"equal", "different" or "timeout": math-verify's comparison, walled in."""
    for attempt in (1, 2):
        try:
            return _run_math_once(sb.zygote("math"), answer, reference, timeout)
        except ZygoteDied:
            sb.retire("math")
            if attempt == 2:
                return "different"
    raise AssertionError("unreachable")


def _run_math_once(zyg: Zygote, answer: str, reference: str, timeout: float) -> str:
    null = _devnull()
    seq, mine, rest, deadline = _start(zyg, "math", timeout, [null, null, null],
                             _program_frame(compile("", "<none>", "exec"), (answer, reference)))
    state: dict = {}
    try:
        try:
            with _alarm(deadline, state):
                chan = _Channel(mine, deadline, state)
                if rest:
                    mine.sendall(rest)
                reply = chan.recv()
            body = wire.decode(reply[1:]) if reply else None
            result = "equal" if reply and reply[:1] == b"V" and body == (True, {}) else "different"
        except JudgeTimeout:
            result = "timeout"
        except (CandidateGone, OSError, wire.WireError):
            result = "different"
        zyg.kill(seq, wait=False)
        return result
    finally:
        mine.close()
