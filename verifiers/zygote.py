"""The zygote: a clean, warm process that forks one walled-in candidate at a time.

Started by a judge (verifiers/judge.py) with exec, so its memory, stack and environment hold
only what it was given: the scrubbed environment, a few paths and limits. It never receives a
test, an expected output, a verdict channel or a secret; the only things that reach it are
spawn and kill requests, with the file descriptors the candidate will use.

Layout, once per zygote:

    judge --exec--> zygote (enters mount, net, UTS, IPC and PID namespaces; builds the skeleton)
                      --fork--> zygote proper: PID 1 of the new PID namespace, in the cgroup,
                                imports what candidates use, then serves spawn requests

Per candidate the proper forks once. The child gets its own mount namespace with a fresh
tmpfs and a fresh IPC namespace, moves its standard streams and its socket to the judge into
place, closes everything else, chroots into the skeleton, sets rlimits, drops every
privilege, installs the seccomp filter and runs `inmate.serve`. The candidate is an ordinary
process (PID 2 or more): a signal it sends itself acts as it would anywhere. When it ends, or
the judge asks, the proper kills every process of the namespace but itself (kill(-1) from PID
1) and reaps them; only then does it take the next request, so no process of one candidate
ever meets the next.

Protocol (SOCK_SEQPACKET, JSON, trusted both ways):
    zygote -> judge   {"op": "ready", "level", "cgroup", "seccomp", "threads"} | {"op": "error", "why"}
    judge  -> zygote  {"op": "spawn", "seq", "mode", "timeout"} + fds [socket, stdin, stdout, stderr]
    judge  -> zygote  {"op": "kill", "seq"}               (optional: ends that candidate now)
    zygote -> judge   {"op": "ended", "seq", "status": "exited"|"signaled", "code", "oom"}
Exactly one "ended" answers each spawn; a kill for a candidate that has already ended is
ignored. Nothing waits for the fork itself: the judge has put the program in the candidate's
socket before asking for it.
"""
from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time

from . import cgroups, seccomp, walls

_fork_gil = ctypes.PyDLL(None, use_errno=True).fork  # PyDLL: called with the GIL held
_fork_gil.restype = ctypes.c_int
_FILTER = seccomp.compiled()  # built once; each candidate only installs it


def _send(sock: socket.socket, msg: dict) -> None:
    sock.send(json.dumps(msg).encode())


def main() -> None:
    """Entry point: `python -I -c "...; zygote.main()" CONFIG_JSON` with the judge's socket."""
    cfg = json.loads(sys.argv[-1])
    cfg["uid"] = walls.UID_BASE + os.getpid()  # this zygote's candidates' uid (as root)
    sock = socket.socket(fileno=cfg["fd"])
    walls.prctl(walls.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != cfg["judge"]:  # the judge died before we could ask to die with it
        os._exit(1)
    level = cfg["level"]
    try:
        if level != "basic":
            walls.enter(level)
            walls.build_skeleton(cfg["root"], cfg["limits"]["tmpfs_mb"])
    except OSError as e:
        _send(sock, {"op": "error", "why": f"{level} isolation unavailable: {e}"})
        os._exit(1)
    if level != "basic":
        pid = os.fork()  # the first child of the new PID namespace: its PID 1
        if pid:
            sock.close()
            while True:
                try:
                    _, st = os.waitpid(pid, 0)
                    break
                except InterruptedError:
                    continue
            os._exit(max(0, os.waitstatus_to_exitcode(st)))
        walls.prctl(walls.PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        walls.prctl(walls.PR_SET_CHILD_SUBREAPER, 1)
    try:
        _serve(sock, cfg)
    finally:
        os._exit(0)


def _prepare(cfg: dict) -> dict:
    """Join the cgroup, import what candidates use, set the limits; what was reached."""
    group = cfg.get("cgroup")
    facts = {"level": cfg["level"], "cgroup": cfg.get("cgroup_why", "no cgroup")}
    if group:
        cgroups.join(group)
    try:
        walls.write("/proc/self/oom_score_adj", "-1000")  # root only: never the OOM killer's pick
    except OSError:
        pass
    for name in cfg["preload"]:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  (a missing optional package is not an error)
            pass
    if cfg.get("math"):
        from . import math_answer  # noqa: PLC0415
        math_answer.load_math_verify()
    from . import inmate  # noqa: F401, PLC0415  (imported before any fork)
    gc.collect()
    gc.freeze()  # candidates' collections then leave the inherited objects (and pages) alone
    if group:
        cgroups.limit(group, cfg["limits"]["memory_mb"] << 20)
    arch = seccomp.machine()
    facts["seccomp"] = f"seccomp {arch}" if arch else "no seccomp filter for " + os.uname().machine
    facts["threads"] = _threads()
    return facts


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def _serve(sock: socket.socket, cfg: dict) -> None:
    facts = _prepare(cfg)
    _send(sock, dict(op="ready", **facts))
    single = facts["threads"] == 1
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 65536, 8)
        except InterruptedError:
            continue
        if not data:
            return  # the judge is gone
        msg = json.loads(data)
        if msg.get("op") != "spawn" or len(fds) != 4:
            for fd in fds:
                os.close(fd)
            continue
        workdir = None
        if cfg["level"] == "basic":
            workdir = tempfile.mkdtemp(prefix="monkeys-cand-")
            if os.geteuid() == 0:
                os.chown(workdir, cfg["uid"], cfg["uid"])
        pid = _fork(single)
        if pid == 0:
            _candidate(fds, msg, cfg, workdir)
        for fd in fds:
            os.close(fd)
        ended = _supervise(sock, pid, cfg, msg.get("seq"))
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        if ended is None:
            return
        if cfg["level"] != "basic":
            walls.clear_sandbox(cfg["root"])
        _send(sock, ended)


def _fork(single: bool) -> int:
    """fork(2) without Python's at-fork handling when this process is single-threaded: those
    hooks re-initialise thread state that only matters with other threads, and cost about as
    much as the fork itself on a virtual machine. random's reseeding is done by hand."""
    if not single:
        return os.fork()
    pid = _fork_gil()
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"fork: {os.strerror(err)}")
    if pid == 0 and "random" in sys.modules:
        sys.modules["random"].seed()
    return pid


def _candidate(fds: list, msg: dict, cfg: dict, workdir: str | None) -> None:
    """In the new child: wall it in, then hand over to the inmate. Never returns."""
    try:
        sock_fd, in_fd, out_fd, err_fd = fds
        level, limits, uid = cfg["level"], cfg["limits"], cfg["uid"]
        os.setsid()
        if level != "basic":
            walls.fresh_ipc()
        try:
            fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
            os.write(fd, b"1000")  # first in line for any OOM killer
            os.close(fd)
        except OSError:
            pass
        os.dup2(in_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.dup2(sock_fd, 3)
        os.closerange(4, 1 << 16)
        if level != "basic":
            os.chroot(cfg["root"])
            os.chdir("/sandbox")
        else:
            os.chdir(workdir)
            os.environ.update(HOME=workdir, TMPDIR=workdir)
        walls.set_limits(float(msg["timeout"]), limits, nproc=(level == "full" or os.geteuid() == 0) and level != "userns")
        walls.drop_privileges(level, uid)
        walls.prctl(walls.PR_SET_PDEATHSIG, signal.SIGKILL)
        if _FILTER:
            seccomp.apply(_FILTER)
        # sys.stdin/stdout/stderr already read and write fds 0-2; never used by the zygote, they
        # hold nothing buffered.
        from . import inmate  # noqa: PLC0415
        inmate.serve(msg["mode"])
    except BaseException:
        import traceback  # noqa: PLC0415
        os.write(2, traceback.format_exc().encode())
        raise
    finally:
        os._exit(70)


def _supervise(sock: socket.socket, pid: int, cfg: dict, seq) -> dict | None:
    """Wait until the candidate ends or the judge asks to end it; then end every process it
    left and reap them. The candidate's status, or None when the judge has gone away."""
    group = cfg.get("cgroup")
    oom_before = cgroups.oom_kills(group) if group else 0
    pidfd = os.pidfd_open(pid)
    st = None
    judge_gone = False
    try:
        while st is None:
            try:
                ready, _, _ = select.select([sock, pidfd], [], [])
            except InterruptedError:
                continue
            if pidfd in ready:
                _, st = os.waitpid(pid, 0)
                break
            data = sock.recv(65536)
            if not data:
                judge_gone = True
            if not data or json.loads(data) == {"op": "kill", "seq": seq}:
                _kill_all(pid, cfg)
                _, st = os.waitpid(pid, 0)
    finally:
        os.close(pidfd)
    _kill_all(pid, cfg)
    _reap_all(cfg)
    if judge_gone:
        return None
    code = os.waitstatus_to_exitcode(st)
    oom = bool(group) and code < 0 and cgroups.oom_kills(group) > oom_before
    return {"op": "ended", "seq": seq, "status": "signaled" if code < 0 else "exited", "code": abs(code),
            "oom": oom}


def _kill_all(pid: int, cfg: dict) -> None:
    if cfg["level"] != "basic":
        try:
            os.kill(-1, signal.SIGKILL)  # as PID 1: every process of the namespace but us
        except ProcessLookupError:
            pass
        return
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def _reap_all(cfg: dict, limit: float = 5.0) -> None:
    """Reap every child (orphans of the candidate come to us as PID 1 or subreaper)."""
    deadline = time.monotonic() + limit
    block = cfg["level"] != "basic"
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        if pid == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.001)
