"""A seccomp filter for candidates: a deny list in the spirit of the ones container tools use
by default (flatpak/bubblewrap, Docker, nsjail's examples), written as classic BPF.

Denied with EPERM: the kernel keyring (add_key, keyctl, request_key), debugging and other
processes' memory (ptrace, process_vm_*, pidfd_getfd, kcmp), bpf, perf_event_open,
userfaultfd, io_uring, namespaces and mounts (setns, unshare, clone with a CLONE_NEW* flag,
mount and the new mount API, pivot_root, chroot), modules
and kexec, NUMA memory policy, quotas, accounting, swap, reboot, clocks, syslog, personality,
handles to files by number, fanotify, vhangup. clone3 answers ENOSYS (its flags sit behind a
pointer the filter cannot read; the C library then falls back to clone). A call made through
another architecture's entry point (i386 or x32 on x86_64) kills the process.

The zygote builds the filter once; each candidate installs it as the last step of its set-up
(one system call), after its own unshare of an IPC namespace and its chroot, so neither call
needs to stay open. The zygote itself runs without it: it mounts a new tmpfs after every
candidate.
Numbers for x86_64 and aarch64 come from the kernel's uapi headers (asm/unistd_64.h and
asm-generic/unistd.h); None marks a call the architecture does not have.
"""
from __future__ import annotations

import ctypes
import errno
import platform
import struct

#                               x86_64  aarch64
DENIED = {
    "syslog":                   (103, 116),
    "uselib":                   (134, None),
    "acct":                     (163, 89),
    "modify_ldt":               (154, None),
    "quotactl":                 (179, 60),
    "quotactl_fd":              (443, 443),
    "add_key":                  (248, 217),
    "keyctl":                   (250, 219),
    "request_key":              (249, 218),
    "move_pages":               (279, 239),
    "mbind":                    (237, 235),
    "get_mempolicy":            (239, 236),
    "set_mempolicy":            (238, 237),
    "set_mempolicy_home_node":  (450, 450),
    "migrate_pages":            (256, 238),
    "setns":                    (308, 268),
    "unshare":                  (272, 97),
    "chroot":                   (161, 51),
    "mount":                    (165, 40),
    "umount2":                  (166, 39),
    "pivot_root":               (155, 41),
    "open_tree":                (428, 428),
    "move_mount":               (429, 429),
    "fsopen":                   (430, 430),
    "fsconfig":                 (431, 431),
    "fsmount":                  (432, 432),
    "fspick":                   (433, 433),
    "mount_setattr":            (442, 442),
    "perf_event_open":          (298, 241),
    "ptrace":                   (101, 117),
    "personality":              (135, 92),
    "userfaultfd":              (323, 282),
    "open_by_handle_at":        (304, 265),
    "name_to_handle_at":        (303, 264),
    "kexec_load":               (246, 104),
    "kexec_file_load":          (320, 294),
    "init_module":              (175, 105),
    "finit_module":             (313, 273),
    "delete_module":            (176, 106),
    "create_module":            (174, None),
    "get_kernel_syms":          (177, None),
    "query_module":             (178, None),
    "bpf":                      (321, 280),
    "io_uring_setup":           (425, 425),
    "io_uring_enter":           (426, 426),
    "io_uring_register":        (427, 427),
    "process_vm_readv":         (310, 270),
    "process_vm_writev":        (311, 271),
    "pidfd_getfd":              (438, 438),
    "kcmp":                     (312, 272),
    "lookup_dcookie":           (212, 18),
    "nfsservctl":               (180, 42),
    "swapon":                   (167, 224),
    "swapoff":                  (168, 225),
    "reboot":                   (169, 142),
    "settimeofday":             (164, 170),
    "clock_settime":            (227, 112),
    "clock_adjtime":            (305, 266),
    "adjtimex":                 (159, 171),
    "iopl":                     (172, None),
    "ioperm":                   (173, None),
    "_sysctl":                  (156, None),
    "ustat":                    (136, None),
    "sysfs":                    (139, None),
    "fanotify_init":            (300, 262),
    "vhangup":                  (153, 58),
}
CLONE = (56, 220)
CLONE3 = (435, 435)
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (and NEWTIME)
CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 \
    | 0x40000000 | 0x00000080
ARCHES = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}  # column, AUDIT_ARCH_*
X32_BIT = 0x40000000

RET_KILL_PROCESS, RET_ERRNO, RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
OFF_NR, OFF_ARCH, OFF_ARG0 = 0, 4, 16  # struct seccomp_data; args[0]'s low word (little-endian)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2


def machine() -> str | None:
    m = platform.machine().lower()
    m = {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)
    return m if m in ARCHES else None


def program(arch: str) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions for `arch` ("x86_64" or "aarch64")."""
    col, audit_arch = ARCHES[arch]
    denied = sorted({nrs[col] for nrs in DENIED.values() if nrs[col] is not None})
    # Labels resolved after layout: each entry is (code, jt-label, jf-label, k).
    body: list = [(LD_W_ABS, None, None, OFF_ARCH),
                  (JEQ_K, None, "kill", audit_arch),
                  (LD_W_ABS, None, None, OFF_NR)]
    if arch == "x86_64":
        body.append((JGE_K, "kill", None, X32_BIT))
    body.append((JEQ_K, "enosys", None, CLONE3[col]))
    body.append((JEQ_K, "clone", None, CLONE[col]))
    body += [(JEQ_K, "eperm", None, nr) for nr in denied]
    body.append((RET_K, None, None, RET_ALLOW))
    labels = {}
    tail = [("clone", (LD_W_ABS, None, None, OFF_ARG0)), (None, (JSET_K, "eperm", None, CLONE_NEW_FLAGS)),
            (None, (RET_K, None, None, RET_ALLOW)),
            ("eperm", (RET_K, None, None, RET_ERRNO | errno.EPERM)),
            ("enosys", (RET_K, None, None, RET_ERRNO | errno.ENOSYS)),
            ("kill", (RET_K, None, None, RET_KILL_PROCESS))]
    for name, ins in tail:
        if name:
            labels[name] = len(body)
        body.append(ins)
    out = []
    for i, (code, jt, jf, k) in enumerate(body):
        rel = lambda lab: 0 if lab is None else labels[lab] - i - 1  # noqa: E731
        t, f = rel(jt), rel(jf)
        assert 0 <= t < 256 and 0 <= f < 256, "jump out of range"
        out.append((code, t, f, k))
    return out


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def compiled(arch: str | None = None):
    """The filter for this machine, ready to apply (a zygote builds it once), or None where
    there is no filter for the architecture."""
    arch = arch or machine()
    if arch is None:
        return None
    ins = program(arch)
    raw = b"".join(struct.pack("<HBBI", *i) for i in ins)
    buf = ctypes.create_string_buffer(raw, len(raw))
    return buf, _SockFprog(len(ins), ctypes.addressof(buf))


def apply(filt) -> None:
    """Apply a `compiled` filter to this process (and everything it starts from now on). Sets
    no_new_privs, which an unprivileged process needs for this. OSError if the kernel refuses."""
    _, prog = filt
    if _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "prctl(PR_SET_NO_NEW_PRIVS)")
    if _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "prctl(PR_SET_SECCOMP)")


def install(arch: str | None = None) -> None:
    """Build and apply the filter for `arch` (default: this machine's)."""
    filt = compiled(arch)
    if filt is None:
        raise OSError(errno.ENOSYS, f"no seccomp filter for {platform.machine()}")
    apply(filt)
