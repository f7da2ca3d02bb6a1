"""Hostile candidates: every one must be judged failed, contained and cleaned up in time.

Each attack is written so that it is "correct" only if the attack works: if the sandbox let
it through, the verdict would be a pass. The reference problem is add(a, b) -> a + b.
"""
import os
import sys
import sysconfig
import time

import pytest

from verifiers import sandbox, verify
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
    "patch_harness_module": (
        "    return Eq(0)\nimport verifiers.harness as h\nh._is_plain = lambda *a, **k: True\n"
        "h._unchanged = lambda *a: True\n"
        "class Eq(int):\n    def __eq__(self, o): return True\n    def __sub__(self, o): return 0\n"
        "    def __float__(self): return 6.0\n"),
    "rewrite_guard_defaults": (
        "    return Eq(0)\nimport sys\nh = sys.modules.get('verifiers.harness')\n"
        "if h is None:\n    import verifiers.harness as h\n"
        "h._guard.__defaults__ = (lambda *a, **k: True,) + h._guard.__defaults__[1:]\n"
        "class Eq(int):\n    def __eq__(self, o): return True\n    def __sub__(self, o): return 0\n"
        "    def __float__(self): return 6.0\n"),
}


@pytest.fixture(scope="module", autouse=True)
def warm_pool():
    os.environ["MONKEYS_TEST_SECRET"] = SECRET
    level = isolation_level(2)
    yield level
    os.environ.pop("MONKEYS_TEST_SECRET", None)


def _sandbox_processes() -> list[int]:
    """Processes running under a sandbox uid (full isolation), or leftovers we started."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                uid = next(int(line.split()[1]) for line in fh if line.startswith("Uid:"))
        except (OSError, StopIteration, ValueError):
            continue
        if sandbox.UID_BASE <= uid < sandbox.UID_BASE + (1 << 23):
            found.append(int(entry))
    return found


def test_suite_is_large_enough():
    assert len(ATTACKS) >= 25


def test_isolation_is_full_as_root(warm_pool):
    if os.geteuid() != 0:
        pytest.skip("full isolation needs root; this run is not root")
    assert warm_pool == "full"


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_contained(name):
    body = ATTACKS[name]
    text = body if not body.startswith("    ") else body
    job = {"problem_id": f"attack/{name}", "sample_index": 0, "verifier": "humaneval", "text": text,
           "reference": {"prompt": PROMPT, "test": TEST, "entry_point": "add"}}
    t0 = time.monotonic()
    [res] = verify([job], workers=2, timeout=TIMEOUT, progress=False)
    elapsed = time.monotonic() - t0
    assert res["correct"] is False, res
    assert elapsed <= TIMEOUT + 1.0, (elapsed, res)
    time.sleep(0.1 if name != "daemon_survivor" else 2.0)
    for path in ESCAPES:
        assert not os.path.exists(path), f"{name} wrote {path}"
    left = _sandbox_processes()
    assert left == [], (f"{name} left processes behind", [open(f"/proc/{p}/status").read()[:300] for p in left if os.path.exists(f"/proc/{p}")])


def test_honest_candidate_passes():
    """The control: the same harness passes a correct answer, so failures above are real."""
    job = {"problem_id": "honest", "sample_index": 0, "verifier": "humaneval", "text": "    return a + b\n",
           "reference": {"prompt": PROMPT, "test": TEST, "entry_point": "add"}}
    [res] = verify([job], workers=2, timeout=TIMEOUT, progress=False)
    assert res["correct"] is True, res


STDIO_REF = {"tests": [{"input": "2 3\n", "output": "5\n"}, {"input": "10 -4\n", "output": "6\n"}]}
STDIO_ATTACKS = {
    "stdio_exit_early": "import os\nos._exit(0)\n",
    "stdio_print_passed": "print('passed')\n",
    "stdio_flood_stdout": "import sys\nwhile True: sys.stdout.write('5\\n' * 10000)\n",
    "stdio_fork_then_print_late": (
        "import os, time\nif os.fork() == 0:\n    time.sleep(0.5)\n    print(sum(map(int, input().split())))\n"),
}


@pytest.mark.parametrize("name", sorted(STDIO_ATTACKS))
def test_stdio_attack_is_contained(name):
    job = {"problem_id": name, "sample_index": 0, "verifier": "stdio", "text": STDIO_ATTACKS[name],
           "reference": STDIO_REF}
    t0 = time.monotonic()
    [res] = verify([job], workers=2, timeout=TIMEOUT, progress=False)
    assert res["correct"] is False, res
    assert time.monotonic() - t0 <= 2 * (TIMEOUT + 1.0)  # at most one timeout per test case
    time.sleep(0.1)
    assert _sandbox_processes() == []


def test_single_fork_path_as_root(warm_pool):
    """As root the candidate is forked straight into its PID namespace (no keeper process)."""
    from verifiers import pool
    if os.geteuid() != 0:
        pytest.skip("the single-fork path needs root")
    assert pool.get(2).submit(pool._direct).result() is True


def test_workers_hold_one_core_each(warm_pool):
    """Each supervisor is pinned to one allowed core, round robin, so its candidates start
    where it sleeps; with as many workers as cores, no two share one."""
    from verifiers import pool
    allowed = sorted(os.sched_getaffinity(0))
    ex = pool.get(2)
    placed = dict(f.result() for f in [ex.submit(pool._placement, 0.3) for _ in range(4)])
    assert len(placed) == 2
    assert all(len(cpus) == 1 and cpus[0] in allowed for cpus in placed.values())
    if len(allowed) >= 2:
        assert len({cpus[0] for cpus in placed.values()}) == 2


def test_workers_are_single_threaded_so_candidates_get_the_cheap_fork(warm_pool):
    """The fork without Python's at-fork handling is only taken by a single-threaded supervisor;
    a pool worker that grew a thread (a queue feeder, a library's helper) would silently lose it."""
    from verifiers import pool, sandbox
    ex = pool.get(2)
    assert all(f.result() for f in [ex.submit(sandbox._single_threaded) for _ in range(4)])


KEEPER_ATTACKS = ["fork_bomb", "daemon_survivor", "kill_parent", "infinite_loop", "escape_files",
                  "forge_verdict_all_fds", "os_exit_in_call", "read_host_files", "network_probe"]


def test_keeper_path_still_contains_attacks():
    """The two-fork layout (used without root) must hold against the same attacks."""
    from verifiers import api, pool
    ref = {"prompt": PROMPT, "test": TEST, "entry_point": "add"}
    items = [("humaneval", ATTACKS[n], ref) for n in KEEPER_ATTACKS] + [("humaneval", "    return a + b\n", ref)]
    try:
        ex = pool.get(2, keeper=True)
        assert ex.submit(pool._direct).result() is False
        t0 = time.monotonic()
        verdicts = ex.submit(api._batch, items, TIMEOUT).result()
        assert time.monotonic() - t0 <= len(items) * (TIMEOUT + 1.0)
    finally:
        pool.shutdown()
    assert [v[0] for v in verdicts] == [False] * len(KEEPER_ATTACKS) + [True], verdicts
    time.sleep(2.0)  # daemon_survivor's late write
    for path in ESCAPES:
        assert not os.path.exists(path)
    assert _sandbox_processes() == []


def test_programs_a_candidate_starts_see_only_the_scrubbed_environment():
    """The C-level environment, which subprocesses inherit, is scrubbed too, not only
    os.environ. A pass here needs both a working subprocess and no secret in what it sees."""
    program = (
        "import subprocess\n"
        "out = subprocess.run(['env'], capture_output=True, text=True).stdout\n"
        f"print('clean' if 'PATH=' in out and {SECRET!r} not in out else 'leak')\n")
    ref = {"tests": [{"input": "", "output": "clean\n"}]}
    job = {"problem_id": "env", "sample_index": 0, "verifier": "stdio", "text": program, "reference": ref}
    [res] = verify([job], workers=2, timeout=TIMEOUT, progress=False)
    assert res["correct"] is True, res
