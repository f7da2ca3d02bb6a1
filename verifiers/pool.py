"""A pool of judge processes, and the dispatcher that feeds them.

Each judge is started with exec (not multiprocessing: no __main__ re-import, nothing inherited
but what is passed), pinned to one core, and talks to the dispatcher over its own socket.
The dispatcher keeps every judge busy with at most two candidates in flight, and watches them:
a judge that dies or stops answering is replaced, and the candidates it held are checked again
once, each alone in a fresh judge. Only a candidate that also takes its second judge down
fails for it; the others get their own verdicts. Nothing is shared between judges, so the pool
works inside any long-lived process (a Ray actor holds its own) and can be used again and
again; `shutdown()` ends it, and so does the interpreter's exit.
"""
from __future__ import annotations

import atexit
import json
import os
import pickle
import re
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time

_LEN = struct.Struct("<I")
_BOOT = ("import sys; sys.path[:0] = {paths!r}; import verifiers.pool as p; "
         "assert p.__file__.startswith({path!r}), p.__file__; p.worker_main()")
IN_FLIGHT = 2
GRACE = 60.0  # seconds past an item's own time limit (zygote starts included) before its judge counts as hung
START_TIMEOUT = 600.0

_lock = threading.RLock()
_pool: dict = {}


def _send(sock: socket.socket, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_LEN.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _recv(sock: socket.socket):
    head = _recv_exact(sock, 4)
    if head is None:
        return None
    data = _recv_exact(sock, _LEN.unpack(head)[0])
    return None if data is None else pickle.loads(data)


# ---------------------------------------------------------------------------- the judge

def _introspect(name: str, *args):
    """Facts about a judge, for isolation_level() and the tests."""
    import time as _t  # noqa: PLC0415
    from . import judge  # noqa: PLC0415
    if name == "describe":
        return judge.sandbox().describe()
    if name == "placement":
        _t.sleep(args[0] if args else 0.0)
        return os.getpid(), sorted(os.sched_getaffinity(0))
    if name == "zygote":
        z = judge.sandbox().zygote(args[0] if args else "base")
        return dict(z.facts, pid=z.proc.pid, root=z.root, group=z.group)
    if name == "settle":
        judge.sandbox().settle()
        return True
    if name == "cpu":
        return judge.sandbox().cpu_seconds()
    raise ValueError(name)


def worker_main() -> None:
    """A judge: `python -I -c "...; pool.worker_main()" CONFIG_JSON`, talking on fd CONFIG.fd."""
    cfg = json.loads(sys.argv[-1])
    sock = socket.socket(fileno=cfg["fd"])
    if cfg.get("cpu") is not None:
        try:
            os.sched_setaffinity(0, {cfg["cpu"]})
        except OSError:
            pass
    from . import api, judge  # noqa: PLC0415
    judge.configure(cfg.get("level"), cfg.get("limits"))
    try:
        while True:
            msg = _recv(sock)
            if msg is None or msg[0] == "exit":
                return
            if msg[0] == "check":
                _, index, kind, text, ref, timeout = msg
                _send(sock, ("done", index, api.check_safely(kind, text, ref, timeout)))
            elif msg[0] == "ask":
                try:
                    _send(sock, ("answer", _introspect(*msg[1:])))
                except Exception as e:  # noqa: BLE001
                    _send(sock, ("answer", e))
    finally:
        judge.close()


# ------------------------------------------------------------------------- the dispatcher

def _package_parent() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def import_path() -> list[str]:
    """Where a process we exec finds its modules: first the directory this package was
    imported from (never whatever an editable install points at), then this process's own
    path (a Ray runtime environment may have put packages there). `-I` drops the rest."""
    out = [_package_parent()]
    for p in sys.path:
        if p and os.path.isabs(p) and os.path.isdir(p) and p not in out:
            out.append(p)
    return out


class _Judge:
    def __init__(self, slot: int, cpu: int | None, level: str | None, limits: dict | None):
        self.slot = slot
        self.sock, child = socket.socketpair()
        cfg = {"fd": child.fileno(), "cpu": cpu, "level": level, "limits": limits}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT.format(paths=import_path(), path=_package_parent()),
                 json.dumps(cfg)],
                pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, cwd="/")
        finally:
            child.close()
        self.flight: list[int] = []  # indices sent and not yet answered, oldest first
        self.since = time.monotonic()  # when the oldest in flight became the oldest
        self.alone = False  # holds a retried candidate, which runs with nothing else in flight

    def kill(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            self.proc.kill()
        except OSError:
            pass
        self.proc.wait()

    def close(self) -> None:
        try:
            _send(self.sock, ("exit",))
            self.sock.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


_LOOP = re.compile(r"\bwhile\b")


def _likely_long(item) -> bool:
    """Longest first: a program with a `while` loop is the kind that runs to its timeout (a
    loop that never ends), and a slot it holds for the whole timeout is best taken at the
    start, when the other slots still have plenty to do. Changes the order, never a verdict."""
    kind, text, _ = item
    return kind in ("humaneval", "mbpp", "stdio") and isinstance(text, str) and _LOOP.search(text) is not None


def run_order(items: list) -> list[int]:
    """The order items are handed out in: those likely to run long first, else as given."""
    return sorted(range(len(items)), key=lambda i: (not _likely_long(items[i]), i))


class Pool:
    def __init__(self, workers: int, level: str | None = None, limits: dict | None = None):
        self.workers, self.level, self.limits = workers, level, limits
        cpus = sorted(os.sched_getaffinity(0))
        self.cpus = [cpus[i % len(cpus)] for i in range(workers)] if len(cpus) > 1 else [None] * workers
        self.judges = [self._start(i) for i in range(workers)]

    def _start(self, slot: int) -> _Judge:
        return _Judge(slot, self.cpus[slot], self.level, self.limits)

    def ask(self, *question) -> list:
        """The answer of every judge to an introspection question (see `_introspect`)."""
        out = []
        for j in self.judges:
            _send(j.sock, ("ask",) + question)
        for j in self.judges:
            j.sock.settimeout(START_TIMEOUT)
            try:
                msg = _recv(j.sock)
            finally:
                j.sock.settimeout(None)
            if msg is None:
                raise RuntimeError("a verifier worker died while starting")
            if isinstance(msg[1], Exception):
                raise msg[1]
            out.append(msg[1])
        return out

    def run(self, items: list, timeout: float, on_done=None) -> list:
        """Verdicts for items (kind, text, ref), in order; `on_done()` after each one."""
        results: list = [None] * len(items)
        tries = [0] * len(items)
        queue = run_order(items)[::-1]  # pop() takes the next one
        retry: list[int] = []
        remaining = len(items)
        sel = selectors.DefaultSelector()
        for j in self.judges:
            sel.register(j.sock, selectors.EVENT_READ, j)

        def limit_of(i: int) -> float:
            kind, _, ref = items[i]
            n = len(ref.get("tests") or []) if kind == "stdio" and isinstance(ref, dict) else 1
            return timeout * max(1, n) + GRACE

        def feed(j: _Judge) -> None:
            if j.alone and j.flight:
                return
            j.alone = False
            # A second candidate waits behind the first only while there is plenty left for
            # every judge: near the end each one goes to a judge with nothing to do, so that
            # no candidate waits behind a slow one while another judge idles.
            depth = IN_FLIGHT if len(queue) > IN_FLIGHT * len(self.judges) else 1
            while len(j.flight) < depth and (retry or queue):
                if retry:
                    if j.flight:
                        return  # a retried candidate waits for a judge with nothing in flight
                    i = retry.pop()
                    j.alone = True
                else:
                    i = queue.pop()
                tries[i] += 1
                kind, text, ref = items[i]
                if not j.flight:
                    j.since = time.monotonic()
                j.flight.append(i)
                try:
                    _send(j.sock, ("check", i, kind, text, ref, timeout))
                except OSError:
                    return  # noticed as a dead judge by the selector
                if j.alone:
                    return

        def replace(j: _Judge) -> _Judge:
            sel.unregister(j.sock)
            j.kill()
            for i in j.flight:
                if tries[i] >= 2:
                    nonlocal remaining
                    results[i] = (False, None, "verifier worker died twice while checking it")
                    remaining -= 1
                    if on_done:
                        on_done()
                else:
                    retry.append(i)
            fresh = self._start(j.slot)
            self.judges[j.slot] = fresh
            sel.register(fresh.sock, selectors.EVENT_READ, fresh)
            return fresh

        try:
            for j in list(self.judges):
                feed(j)
            while remaining:
                events = sel.select(timeout=1.0)
                for key, _ in events:
                    j = key.data
                    try:
                        msg = _recv(j.sock)
                    except OSError:
                        msg = None
                    if msg is None or msg[0] != "done":
                        j = replace(j)
                    else:
                        _, i, verdict = msg
                        if i in j.flight:
                            j.flight.remove(i)
                            j.since = time.monotonic()
                            results[i] = verdict
                            remaining -= 1
                            if on_done:
                                on_done()
                    feed(j)
                now = time.monotonic()
                for j in list(self.judges):
                    if j.flight and now - j.since > limit_of(j.flight[0]):
                        feed(replace(j))
                    elif not j.flight and (retry or queue):
                        feed(j)
        finally:
            sel.close()
        self.ask("settle")  # every candidate of this run has ended and been reaped
        return results

    def close(self) -> None:
        for j in self.judges:
            j.close()
        self.judges = []


def get(workers: int | None = None, level: str | None = None, limits: dict | None = None) -> Pool:
    """The shared pool with `workers` judges (default: all CPUs); rebuilt if that changes.
    `level` forces a weaker isolation level and `limits` other resource limits (tests)."""
    workers = max(1, workers or os.cpu_count() or 1)
    key = (workers, level, json.dumps(limits, sort_keys=True))
    with _lock:
        if _pool.get("key") == key and _pool.get("pid") == os.getpid():
            return _pool["pool"]
        shutdown()
        _pool.update(key=key, pool=Pool(workers, level, limits), pid=os.getpid())
        return _pool["pool"]


def isolation_level(workers: int | None = None) -> str:
    """What the pool's judges reached: the level ("full", "userns" or "basic"), then the
    cgroup and the seccomp filter, e.g. "full; cgroup v1 memory+pids; seccomp x86_64"."""
    with _lock:
        return get(workers).ask("describe")[0]


def shutdown() -> None:
    with _lock:
        pool = _pool.pop("pool", None)
        owner = _pool.pop("pid", None)
        _pool.pop("key", None)
        if pool is not None and owner == os.getpid():
            pool.close()


atexit.register(shutdown)
