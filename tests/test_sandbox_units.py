"""The sandbox's plain parts: the wire format the judge decodes, the seccomp program, the
cgroup description. No candidate runs here."""
import collections
import decimal
import fractions
import math
import struct

import pytest

from verifiers import seccomp, wire


@pytest.mark.parametrize("value", [
    None, True, False, 0, -1, 2 ** 200, -(2 ** 70), 1.5, float("inf"), -0.0, 1 + 2j, "", "héllo\n", b"\x00\xff",
    bytearray(b"ab"), [1, [2, [3]]], (1, "a", None), {1, 2}, frozenset({"x"}), {"a": [1], 2: (3,)},
    range(1, 10, 3), fractions.Fraction(3, 4), decimal.Decimal("1.10"), collections.deque([1, 2], 5),
    collections.Counter("abca"), collections.OrderedDict([("b", 1), ("a", 2)]),
    collections.defaultdict(list, {"k": [1]}), Ellipsis])
def test_plain_values_round_trip_as_exact_types(value):
    out = wire.decode(wire.dump(value))
    assert type(out) is type(value)
    assert out == value
    if isinstance(value, collections.defaultdict):
        assert out.default_factory is list


def test_nan_and_views_and_iterators_keep_their_semantics():
    assert math.isnan(wire.decode(wire.dump(float("nan"))))
    d = {"a": 1, "b": 2}
    keys = wire.decode(wire.dump(d.keys()))
    assert keys == {"a", "b"} and type(keys) is type(d.keys())
    values = wire.decode(wire.dump(d.values()))
    assert list(values) == [1, 2] and values != [1, 2]  # values views compare by identity
    items = wire.decode(b"I" + wire.dump([1, 2]))
    assert next(items) == 1 and list(items) == [2]


@pytest.mark.parametrize("value", [
    list(range(-5, 100_000)), [2 ** 63 - 1, -(2 ** 63)] * 8, [0.5, float("inf"), -0.0, 1e308] * 4,
    [2 ** 63] + [1] * 20, [True] + [1] * 20, [1.0] + [1] * 20, [1] * 15, [[1] * 20] * 3])
def test_long_lists_of_numbers_cross_packed_and_exact(value):
    data = wire.dump(value)
    packable = len(value) >= 16 and len(set(map(type, value))) == 1 and type(value[0]) in (int, float) \
        and all(type(v) is float or -(2 ** 63) <= v < 2 ** 63 for v in value)
    assert (data[:1] in (b"L", b"G")) == packable
    out = wire.decode(data)
    assert type(out) is list and out == value
    assert [type(v) for v in out] == [type(v) for v in value]
    assert [math.copysign(1, v) for v in out if type(v) is float] == [math.copysign(1, v) for v in value if type(v) is float]
    it = wire.decode(b"I" + data)  # an iterator the candidate drew, and an array's items
    assert list(it) == value


def test_packed_lists_keep_nan_and_refuse_short_or_overlong_messages():
    out = wire.decode(wire.dump([float("nan")] * 20))
    assert len(out) == 20 and all(math.isnan(v) for v in out)
    good = wire.dump(list(range(20)))
    with pytest.raises(wire.WireError, match="truncated"):
        wire.decode(good[:-1])
    with pytest.raises(wire.WireError, match="truncated"):
        wire.decode(b"L" + struct.pack("<I", 1 << 30) + good[5:])
    with pytest.raises(wire.WireError, match="too many items"):
        wire.decode(b"L" + struct.pack("<I", wire.MAX_ITEMS + 1) + bytes(8 * (wire.MAX_ITEMS + 1)))


def test_opaque_values_equal_nothing_and_keep_their_truth():
    data = b"o" + wire.dump(7)[1:] + wire.dump("Widget")[1:] + b"F"
    o = wire.decode(data)
    assert isinstance(o, wire.Opaque) and o.handle == 7 and not o
    assert o != o and not (o == o) and o != 0 and o not in [0, 1]
    # passed back to the candidate, it names the candidate's object
    obj = object()
    back = wire.dump([o], unknown=lambda x, depth: b"h" + wire.dump(x.handle)[1:])
    assert wire.decode(back, handles={7: obj}) == [obj]


@pytest.mark.parametrize("data, why", [
    (b"", "truncated"), (b"\x00", "unknown tag"), (b"s" + struct.pack("<I", 10) + b"ab", "truncated"),
    (b"l" + struct.pack("<I", 1 << 31), "truncated"), (b"i" + struct.pack("<I", 1 << 20) + b"\x01", "integer too large"),
    (b"s" + struct.pack("<I", 2) + b"\xff\xfe", "malformed text"), (b"NN", "trailing bytes"),
    (b"S" + struct.pack("<I", 1) + b"l" + struct.pack("<I", 0), "malformed value"),  # a list in a set
    (b"Q" + wire.dump(2)[1:] + wire.dump(4)[1:], "lowest terms"), (b"Q" + wire.dump(1)[1:] + wire.dump(0)[1:], "lowest terms"),
    (b"h" + wire.dump(1)[1:], "handle sent to the judge"), ((b"l" + struct.pack("<I", 1)) * 200 + b"N", "nested"),
    (b"D" + wire.dump("nan?")[1:], "malformed value"), (b"y" + wire.dump("eval") + wire.dump({}), "factory"),
    (b"o" + wire.dump(1)[1:] + wire.dump("x")[1:] + b"i" + struct.pack("<I", 1) + b"\x01", "bad opaque"),
    (b"a" + wire.dump("|O")[1:] + wire.dump((1,)) + wire.dump([None]), "dtype not allowed"),
    (b"a" + wire.dump("<i8")[1:] + wire.dump((3,)) + wire.dump([1]), "bad array items"),
])
def test_malformed_messages_are_refused(data, why):
    with pytest.raises(wire.WireError, match=why):
        wire.decode(data)


def test_size_and_item_limits():
    with pytest.raises(wire.WireError, match="too large"):
        wire.decode(b"N" * (wire.MAX_MESSAGE + 1))
    many = b"l" + struct.pack("<I", wire.MAX_ITEMS + 1) + b"N" * (wire.MAX_ITEMS + 1)
    with pytest.raises(wire.WireError, match="too many items"):
        wire.decode(many)


def test_numpy_values_are_rebuilt_by_the_judge():
    np = pytest.importorskip("numpy")
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    out = wire.decode(wire.numpy_value(a))
    assert type(out) is np.ndarray and out.dtype == np.int32 and (out == a).all()
    big = np.arange(40, dtype=np.int64).reshape(5, 8) - 7  # its items cross packed
    prefix = b"a" + wire.dump(big.dtype.str)[1:] + wire.dump((5, 8))
    assert wire.numpy_value(big)[len(prefix):len(prefix) + 1] == b"L"
    back = wire.decode(wire.numpy_value(big))
    assert back.dtype == np.int64 and back.shape == (5, 8) and (back == big).all()
    s = wire.decode(wire.numpy_value(np.float64(2.5)))
    assert type(s) is np.float64 and s == 2.5
    assert wire.numpy_value(np.array([object()], dtype=object)) is None
    assert wire.numpy_value([1, 2]) is None


@pytest.mark.parametrize("arch", sorted(seccomp.ARCHES))
def test_seccomp_program_checks_the_architecture_and_lists_every_denied_call(arch):
    ins = seccomp.program(arch)
    col, audit = seccomp.ARCHES[arch]
    assert ins[0] == (seccomp.LD_W_ABS, 0, 0, seccomp.OFF_ARCH)
    assert ins[1][0] == seccomp.JEQ_K and ins[1][3] == audit
    kill_at = 2 + ins[1][2]
    assert ins[kill_at] == (seccomp.RET_K, 0, 0, seccomp.RET_KILL_PROCESS)
    tested = {k for code, _, _, k in ins if code == seccomp.JEQ_K}
    want = {nrs[col] for nrs in seccomp.DENIED.values() if nrs[col] is not None}
    assert want <= tested
    assert ins[-1][0] == seccomp.RET_K and len(ins) < 256
    for i, (code, jt, jf, k) in enumerate(ins):  # every jump lands on an instruction
        if code & 0x07 == 0x05:
            assert i + 1 + max(jt, jf) < len(ins)


def test_syscall_numbers_match_the_kernel_headers_where_present():
    import os
    import re
    headers = {"x86_64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "aarch64": "/usr/include/asm-generic/unistd.h"}
    checked = 0
    for arch, path in headers.items():
        if not os.path.exists(path):
            continue
        table = dict((m.group(1), int(m.group(2))) for m in re.finditer(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", open(path).read()))
        col = seccomp.ARCHES[arch][0]
        for name, nrs in list(seccomp.DENIED.items()) + [("clone", seccomp.CLONE), ("clone3", seccomp.CLONE3)]:
            if nrs[col] is not None and name in table:
                assert table[name] == nrs[col], (arch, name)
                checked += 1
    if not checked:
        pytest.skip("no kernel headers here")


def test_numpy_arrays_cannot_make_the_judge_allocate_without_bound():
    pytest.importorskip("numpy")
    huge_item = b"a" + wire.dump("<U1000000")[1:] + wire.dump((1,)) + wire.dump(["x"])
    with pytest.raises(wire.WireError, match="dtype too large"):
        wire.decode(huge_item)
    many = b"a" + wire.dump("<U100000")[1:] + wire.dump((200,)) + wire.dump(["x"] * 200)
    with pytest.raises(wire.WireError, match="arrays too large"):
        wire.decode(many)
    # The bound is per message: many arrays under it each, together over it, are refused.
    one = b"a" + wire.dump("|S1048576")[1:] + wire.dump((40,)) + wire.dump([b""] * 40)  # 40 MiB
    assert wire.decode(one).nbytes == 40 << 20
    with pytest.raises(wire.WireError, match="arrays too large"):
        wire.decode(b"l" + struct.pack("<I", 2) + one[:] + one)


def test_mapping_replies_with_colliding_keys_are_built_one_key_at_a_time(monkeypatch):
    """Every hashed container is filled by `_fill` (or the set loop), one key per call, so the
    judge's alarm can stop a reply whose keys share one hash; none in one C call."""
    seen = []
    real = wire._fill
    monkeypatch.setattr(wire, "_fill", lambda out, pairs: seen.append(type(out).__name__) or real(out, pairs))
    keys = [i * ((1 << 61) - 1) for i in range(50)]  # one hash for all
    assert len({hash(k) for k in keys}) == 1
    d = dict.fromkeys(keys, 1)
    for value, kind in [(d.keys(), "dict"), (d.items(), "dict"), (collections.Counter(d), "Counter"),
                        (collections.OrderedDict(d), "OrderedDict"), (collections.defaultdict(int, d), "defaultdict")]:
        seen.clear()
        out = wire.decode(wire.dump(value))
        assert out == value and seen == [kind], (kind, seen)


def test_without_writable_cgroups_the_sandbox_says_so_and_still_runs(monkeypatch, tmp_path):
    """Where the cgroup files cannot be written (not root, no delegation) the level says so,
    and candidates still run behind the other walls."""
    from verifiers import cgroups, judge
    monkeypatch.setattr(cgroups, "_mounts", lambda: {"memory": (1, str(tmp_path / "gone")),
                                                      "pids": (1, str(tmp_path / "gone"))})
    group, why = cgroups.create(1 << 30, 64)
    assert group is None and why.startswith("cgroups not writable")
    monkeypatch.setattr(cgroups, "_mounts", lambda: {})
    assert cgroups.create(1 << 30, 64) == (None, "no cgroup memory+pids controller")
    sb = judge.Sandbox()
    try:
        level, cg, filt = [p.strip() for p in sb.describe().split(";")]
        assert cg == "no cgroup memory+pids controller"
        test = judge.compile_trusted("def check(candidate):\n    assert candidate(2) == 4\n", "<test>")
        call = judge.compile_trusted("check(candidate)\n", "<check>")
        verdicts = [judge.run_functions(sb, judge.compile_untrusted(f"def f(x):\n    return {body}\n"), test, call, "f", 5)
                    for body in ("x * 2", "x + 3")]
        assert verdicts == [(True, "passed"), (False, "failed: AssertionError")]
    finally:
        sb.close()


def test_mount_points_of_judges_that_are_gone_are_swept():
    """A judge killed outright (the dispatcher's SIGKILL) never removes its skeleton's mount
    point; the next zygote started removes those of dead judges, and only those."""
    import os
    import tempfile

    from verifiers import judge
    tmp = tempfile.gettempdir()
    dead = os.path.join(tmp, f"{judge.ROOT_PREFIX}{(1 << 22) + 1}-test")  # above any pid_max
    alive = os.path.join(tmp, f"{judge.ROOT_PREFIX}{os.getpid()}-test")
    full = os.path.join(tmp, f"{judge.ROOT_PREFIX}{(1 << 22) + 2}-test")
    for d in (dead, alive, full):
        os.makedirs(d, exist_ok=True)
    open(os.path.join(full, "keep"), "w").close()  # never a mount point: left alone
    sb = judge.Sandbox()
    try:
        sb.zygote("base")
        assert not os.path.exists(dead)
        assert os.path.isdir(alive) and os.path.isfile(os.path.join(full, "keep"))
    finally:
        sb.close()
        os.rmdir(alive)
        os.remove(os.path.join(full, "keep"))
        os.rmdir(full)
