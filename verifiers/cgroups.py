"""A memory + pids control group for one zygote and the candidates it forks, v1 or v2.

Created by the judge under the cgroup it runs in (so the machine's own accounting of the
judge's process tree still covers everything below), joined by the zygote, limited to the
zygote's own footprint plus one candidate's allowance. Candidates inherit it, so every process
a candidate starts is inside: a fork bomb of many small processes meets the pids limit and the
OOM killer of this group, never the machine's. Where the files are not writable (no root, no
delegation) `create` returns None with the reason, and the caller reports it.
"""
from __future__ import annotations

import os
import secrets

CONTROLLERS = ("memory", "pids")
PREFIX = "monkeys-"


def _mounts() -> dict:
    """controller -> (version, mount point); v1 wins where a controller is mounted there."""
    found: dict = {}
    v2 = None
    try:
        lines = open("/proc/self/mountinfo").read().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        point, fstype, opts = fields[4], rfields[0], rfields[2].split(",")
        if fstype == "cgroup":
            for c in CONTROLLERS:
                if c in opts:
                    found.setdefault(c, (1, point))
        elif fstype == "cgroup2" and v2 is None:
            v2 = point
    if v2:
        try:
            available = open(os.path.join(v2, "cgroup.controllers")).read().split()
        except OSError:
            available = []
        for c in CONTROLLERS:
            if c in available:
                found.setdefault(c, (2, v2))
    return found


def _own_paths() -> dict:
    """controller (or "" for v2) -> this process's cgroup path."""
    out = {}
    try:
        for line in open("/proc/self/cgroup").read().splitlines():
            _, ctrls, path = line.split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                out[c] = path
    except OSError:
        pass
    return out


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def sweep(parent: str, prefix: str = PREFIX) -> None:
    """Remove the empty folders `<prefix><pid>-...` in `parent` whose owning process is gone:
    cgroups here, and the judges' skeleton mount points (a process killed outright never
    removes its own)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        try:
            owner = int(name[len(prefix):].split("-")[0])
        except ValueError:
            continue
        if not pid_alive(owner):
            try:
                os.rmdir(os.path.join(parent, name))
            except OSError:
                pass


def create(memory_bytes: int, pids: int) -> tuple[dict | None, str]:
    """(group, description) or (None, why not). The group is plain data: {"dirs": [...],
    "version": "v1"|"v2", "memory": dir, "pids": dir, "memory_bytes", "pids_max"}."""
    mounts = _mounts()
    missing = [c for c in CONTROLLERS if c not in mounts]
    if missing:
        return None, "no cgroup " + "+".join(missing) + " controller"
    own = _own_paths()
    name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    dirs: dict = {}
    made: list = []
    try:
        for c in CONTROLLERS:
            version, point = mounts[c]
            rel = own.get(c if version == 1 else "", "/").lstrip("/")
            parent = os.path.join(point, rel)
            path = os.path.join(parent, name)
            if version == 2:
                _enable_v2(parent)
            if path not in made:
                sweep(parent)
                os.mkdir(path)
                made.append(path)
            dirs[c] = path
    except OSError as e:
        for path in reversed(made):
            try:
                os.rmdir(path)
            except OSError:
                pass
        return None, f"cgroups not writable ({e.strerror or e})"
    versions = sorted({f"v{mounts[c][0]}" for c in CONTROLLERS})
    group = {"dirs": made, "memory": dirs["memory"], "pids": dirs["pids"],
             "version": "+".join(versions), "v2": {c: mounts[c][0] == 2 for c in CONTROLLERS},
             "memory_bytes": memory_bytes, "pids_max": pids}
    return group, f"cgroup {group['version']} memory+pids"


def _enable_v2(parent: str) -> None:
    have = open(os.path.join(parent, "cgroup.subtree_control")).read().split()
    want = [c for c in CONTROLLERS if c not in have]
    if want:
        with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
            f.write(" ".join("+" + c for c in want))


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def join(group: dict) -> None:
    """Move the calling process into the group (its future children follow)."""
    for path in group["dirs"]:
        _write(os.path.join(path, "cgroup.procs"), "0")


def usage(group: dict) -> int:
    name = "memory.current" if group["v2"]["memory"] else "memory.usage_in_bytes"
    try:
        return int(open(os.path.join(group["memory"], name)).read())
    except (OSError, ValueError):
        return 0


def limit(group: dict, extra_bytes: int) -> None:
    """Set the limits: what the group uses now (the zygote) plus one candidate's allowance;
    no swap; the pids limit."""
    mem = usage(group) + extra_bytes
    d = group["memory"]
    if group["v2"]["memory"]:
        _write(os.path.join(d, "memory.max"), str(mem))
        if os.path.exists(os.path.join(d, "memory.swap.max")):
            _write(os.path.join(d, "memory.swap.max"), "0")
    else:
        _write(os.path.join(d, "memory.limit_in_bytes"), str(mem))
        if os.path.exists(os.path.join(d, "memory.memsw.limit_in_bytes")):
            _write(os.path.join(d, "memory.memsw.limit_in_bytes"), str(mem))
        if os.path.exists(os.path.join(d, "memory.swappiness")):
            try:
                _write(os.path.join(d, "memory.swappiness"), "0")
            except OSError:
                pass
    _write(os.path.join(group["pids"], "pids.max"), str(group["pids_max"]))


def oom_kills(group: dict) -> int:
    """How many processes the group's OOM killer has killed so far (0 if not reported)."""
    name = "memory.events" if group["v2"]["memory"] else "memory.oom_control"
    try:
        for line in open(os.path.join(group["memory"], name)):
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def remove(group: dict) -> None:
    for path in reversed(group["dirs"]):
        try:
            os.rmdir(path)
        except OSError:
            pass
