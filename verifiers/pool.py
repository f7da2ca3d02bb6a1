"""A persistent pool of supervisor processes, each holding its own sandbox namespaces.

Workers are started once (spawn, so they inherit no threads or state of the engine), enter
their private namespaces once, import what candidates commonly use, and then fork a contained
child per candidate. The pool lives until the interpreter exits or `shutdown()` is called.
"""
from __future__ import annotations

import atexit
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor

PRELOAD = ("math", "cmath", "re", "string", "collections", "itertools", "functools", "heapq",
           "bisect", "operator", "typing", "fractions", "decimal", "random", "statistics",
           "hashlib", "copy", "datetime", "json", "array", "textwrap", "unicodedata", "dataclasses",
           "enum", "abc", "numbers", "io", "struct", "queue", "sys")

_pool: dict = {}


def _init(root_dir: str, level: str | None, keeper: bool, cpus: tuple, counter) -> None:
    import importlib  # noqa: PLC0415
    # One core per worker, round robin: a candidate forked by this worker then starts on the
    # core its supervisor sleeps on, instead of waking another (on virtual machines a
    # cross-core wake-up is a large share of a short candidate's cost).
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    os.sched_setaffinity(0, {cpus[index % len(cpus)]})
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    from . import sandbox  # noqa: PLC0415
    sandbox.prepare_worker(root_dir, level, keeper)


def _level() -> str:
    from . import sandbox  # noqa: PLC0415
    return sandbox.level()


def get(workers: int | None = None, level: str | None = None, keeper: bool = False) -> ProcessPoolExecutor:
    """The shared pool with `workers` processes (default: all CPUs); rebuilt if that changes.

    `level` forces a weaker isolation level and `keeper=True` the two-fork layout (see
    sandbox.py); both exist so tests can exercise every path on one machine.
    """
    workers = max(1, workers or os.cpu_count() or 1)
    if _pool.get("key") == (workers, level, keeper) and not _pool["executor"]._broken:
        return _pool["executor"]
    shutdown()
    root = tempfile.mkdtemp(prefix="monkeys-sandbox-")
    ctx = multiprocessing.get_context("spawn")
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    ex = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init,
                             initargs=(root, level, keeper, cpus, ctx.Value("i", 0)))
    _pool.update(key=(workers, level, keeper), executor=ex, root=root)
    return ex


def isolation_level(workers: int | None = None) -> str:
    """The isolation level the pool's workers reached ("full", "userns" or "basic")."""
    return get(workers).submit(_level).result()


def _placement(hold: float = 0.0) -> tuple[int, list[int]]:
    """(pid, allowed CPUs) of the worker that runs this; `hold` keeps it busy so that a batch
    of calls reaches every worker."""
    import time  # noqa: PLC0415
    time.sleep(hold)
    return os.getpid(), sorted(os.sched_getaffinity(0))


def _direct() -> bool:
    from . import sandbox  # noqa: PLC0415
    return sandbox.direct()


def shutdown() -> None:
    ex = _pool.pop("executor", None)
    if ex is not None:
        ex.shutdown(wait=True, cancel_futures=True)
    root = _pool.pop("root", None)
    if root:
        shutil.rmtree(root, ignore_errors=True)
    _pool.pop("key", None)


atexit.register(shutdown)
