"""The zygote: a clean, warm process that forks one walled-in candidate at a time.

Started by a judge (verifiers/judge.py) with exec, so its memory, stack and environment hold
only what it was given: the scrubbed environment, a few paths and limits. It never receives a
test, an expected output, a verdict channel or a secret; the only things that reach it are
spawn and kill requests, with the file descriptors the candidate will use.

Layout, once per zygote:

    judge --exec--> zygote (enters mount, net, UTS, IPC and PID namespaces; builds the skeleton)
                      --fork--> zygote proper: PID 1 of the new PID namespace, in the cgroup,
                                imports what candidates use, then serves spawn requests

Per candidate the proper forks once. The child gets a fresh IPC namespace, moves its
standard streams and its socket to the judge into place, closes everything else, chroots
into the skeleton, sets rlimits, drops every privilege, installs the seccomp filter (built
once by the proper) and runs `inmate.serve`. The candidate is an ordinary process (PID 2 or
more): a signal it sends itself acts as it would anywhere. When it ends, or the judge asks,
the proper kills every process of the namespace but itself (kill(-1) from PID 1), reaps them
and mounts a new tmpfs over the writable folder; only then does it take the next request, so
no process or file of one candidate ever meets the next.

Protocol (SOCK_SEQPACKET, JSON, trusted both ways):
    zygote -> judge   {"op": "ready", "level", "cgroup", "seccomp", "threads", "pids"} | {"op": "error", "why"}
    judge  -> zygote  {"op": "spawn", "seq", "mode", "timeout"} + fds [socket, stdin, stdout, stderr]
    zygote -> judge   {"op": "started", "seq"} + a pidfd of the candidate's process
    zygote -> judge   {"op": "ended", "seq", "status": "exited"|"signaled", "code", "oom"}
The judge ends a candidate itself with pidfd_send_signal; the zygote, waiting on it, then
ends whatever the candidate left and answers "ended" (exactly once per spawn). Nothing waits
for the fork: the judge has put the program in the candidate's socket before asking.
"""
from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import signal
import socket
import sys
import time

from . import cgroups, seccomp, walls

_fork_gil = ctypes.PyDLL(None, use_errno=True).fork  # PyDLL: called with the GIL held
_fork_gil.restype = ctypes.c_int


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
            cfg["work"] = walls.build_skeleton(cfg["root"], cfg["limits"]["tmpfs_mb"], cfg["limits"]["tmpfs_inodes"])
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
    from . import inmate  # noqa: PLC0415  (imported before any fork)
    inmate.rehearse()
    gc.collect()
    gc.freeze()  # candidates' collections then leave the inherited objects (and pages) alone
    if group:
        cgroups.limit(group, cfg["limits"]["memory_mb"] << 20)
    if cfg["level"] != "basic":
        cfg["pids"] = walls.pid_counter()
        facts["pids"] = "reset" if cfg["pids"] is not None else "counting"
    facts["threads"] = _threads()
    filt = seccomp.compiled()
    if filt is None:
        facts["seccomp"] = "no seccomp filter for " + os.uname().machine
    else:
        # Built once; each candidate installs it (one system call, no compiling), since this
        # process still mounts: a new tmpfs after every candidate.
        cfg["seccomp"] = filt
        facts["seccomp"] = f"seccomp {seccomp.machine()}"
    return facts


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def _serve(sock: socket.socket, cfg: dict) -> None:
    # Python's one handler (SIGINT) would let a candidate of the same uid (user-namespace
    # level) interrupt us: as PID 1 of the namespace, a signal without a handler is dropped.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    facts = _prepare(cfg)
    _send(sock, dict(op="ready", **facts))
    single = facts["threads"] == 1
    group = cfg.get("cgroup")
    ooms = cgroups.oom_kills(group) if group else 0
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
        seq = msg.get("seq")
        workdir = None
        if cfg["level"] == "basic":
            # Imported here only: it brings shutil and three compression libraries, more for
            # every fork to copy at the other levels.
            import tempfile  # noqa: PLC0415
            workdir = tempfile.mkdtemp(prefix="monkeys-cand-")
            if os.geteuid() == 0:
                os.chown(workdir, cfg["uid"], cfg["uid"])
        if cfg.get("pids") is not None:
            walls.reset_pids(cfg["pids"])
        pid = _fork(single)
        if pid == 0:
            _candidate(fds, msg, cfg, workdir)
        # Until the candidate ends, this process touches as little as it can: every page it
        # writes while the child lives is copied. The judge ends the candidate itself, through
        # the pidfd sent here; we only wait.
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        try:
            socket.send_fds(sock, [b'{"op": "started", "seq": %d}' % seq], [pidfd])
        except OSError:
            return  # the judge is gone (our death ends the namespace, the candidate with it)
        finally:
            os.close(pidfd)
        st = _wait(pid)
        _kill_all(pid, cfg)
        _reap_all(cfg)
        code = os.waitstatus_to_exitcode(st)
        oom = False
        if group and code < 0:
            now = cgroups.oom_kills(group)
            oom, ooms = now > ooms, now
        # Before answering: the judge starts the next candidate's clock on our answer, and the
        # kernel's teardown of what this one left (up to the tmpfs's inode limit) must never
        # run on that clock.
        if workdir:
            walls.clear_dir(workdir)
            os.rmdir(workdir)
        if cfg["level"] != "basic":
            walls.fresh_work(cfg["work"])
        _send(sock, {"op": "ended", "seq": seq, "status": "signaled" if code < 0 else "exited",
                     "code": abs(code), "oom": oom})


def _wait(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


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
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in any Python program
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
        if cfg.get("seccomp") is not None:
            seccomp.apply(cfg["seccomp"])
        if level == "basic":  # elsewhere the zygote is PID 1: its death ends the namespace
            walls.prctl(walls.PR_SET_PDEATHSIG, signal.SIGKILL)
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
