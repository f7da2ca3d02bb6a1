"""Task registry: a task is data — how to load problems, how to ask, which verifier checks.

Each module in this package (other than those starting with "_") defines one benchmark as
`TASK = Task(...)` (see _base.Task); it is found by its module, so adding a benchmark means
adding one module. `load_problems(task, options)` turns the [task] table into problems:

    {"problem_id": str, "index": int, "messages": [{"role", "content"}, ...], "raw": str,
     "reference": dict, "gold": str | None, "shots": [example ids]}

`messages` is the chat form (rendered with the model's chat template); `raw` is the plain
completion prompt for base models; `index` is the problem's row in its source.

Which problems, in order:
1. the task's loader reads every problem of `source` (CodeContests drops problems with images);
2. `subset = N` keeps N of them chosen at random with `subset_seed`, in that random order
   (see _draw.py: stable across runs, machines and Python versions; nested in N);
3. `limit = M` keeps the first M of what is left. With a subset that is the first M of the
   subset, which is the subset of size M: `subset = 128, limit = 8` runs the same 8 problems
   as `subset = 8`.
Then `shots` examples are drawn for each problem with `shots_seed` (never the problem itself),
or the task's fixed prompt is used (MATH: Minerva, shots = 4), or shots > 0 is refused.
"""
from __future__ import annotations

from collections import Counter
import importlib
import pkgutil

from ..config import TaskConfig
from . import _draw
from ._base import Task, TaskError, is_local, load_rows, train_rows
from .gsm8k import gold as gsm8k_gold

__all__ = ["Task", "TaskError", "TASKS", "get_task", "resolve", "load_problems", "load_rows", "is_local",
           "train_rows", "load_humaneval", "load_gsm8k", "load_mbpp", "load_math500", "load_stdio",
           "load_codecontests", "gsm8k_gold"]


def _discover() -> dict[str, Task]:
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        task = getattr(importlib.import_module(f"{__name__}.{info.name}"), "TASK", None)
        if not isinstance(task, Task):
            raise ImportError(f"experiments/tasks/{info.name}.py defines no TASK = Task(...)")
        if task.name in found:
            raise ImportError(f"two task modules define the task {task.name!r}")
        found[task.name] = task
    return found


TASKS: dict[str, Task] = _discover()
# [task] keys that only some tasks take; each such task gives its default in Task.options.
TASK_OPTIONS = sorted({key for task in TASKS.values() for key in task.options})
# The [task] table's defaults as the config declares them (a task's own options default in Task.options).
DEFAULTS = {key: f.default for key, f in TaskConfig.model_fields.items()
            if not f.is_required() and f.default is not None}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None


def check_options(task: Task, options: dict) -> None:
    """Refuse [task] settings this task cannot honour, naming the key and the fix."""
    shots = options.get("shots", 0)
    if shots and task.examples is None:
        raise TaskError(f"task.shots = {shots}: task {task.name!r} has no few-shot examples; set shots = 0")
    if task.fixed_shots and shots not in (0, len(task.examples("", ""))):
        n = len(task.examples("", ""))
        raise TaskError(f"task.shots = {shots}: task {task.name!r} has one fixed {n}-shot prompt; "
                        f"set shots = {n} for it or 0 for none")
    if options.get("shots_source") and (task.examples is None or task.fixed_shots):
        raise TaskError(f"task.shots_source: task {task.name!r} draws no examples from a dataset; remove it")
    for key in TASK_OPTIONS:
        if options.get(key) is not None and key not in task.options:
            users = ", ".join(t.name for t in TASKS.values() if key in t.options)
            raise TaskError(f"task.{key} applies only to {users}, not {task.name!r}; remove it")


def resolve(cfg):
    """The experiment (a config.Experiment) as it will run: the task's settings checked, its own
    [task] options and its default stop strings filled in. An explicit [sampling] stop (even [])
    replaces the task's default for the prompt style; left out, the default is used. The result
    is a new Experiment, what config.toml records."""
    cfg = cfg.model_copy(deep=True)
    task = get_task(cfg.task.name)
    check_options(task, cfg.task.model_dump())
    for key, default in task.options.items():
        if getattr(cfg.task, key) is None:
            setattr(cfg.task, key, default)
    if cfg.sampling.stop is None:
        cfg.sampling.stop = list(task.stop.get(cfg.task.prompt, ()))
    return cfg


def load_problems(task: Task | str, options: dict | None = None) -> list[dict]:
    """The problems a [task] table (or any part of one) selects, with their prompts."""
    task = get_task(task) if isinstance(task, str) else task
    opts = {**DEFAULTS, **task.options, **{k: v for k, v in (options or {}).items() if v is not None}}
    check_options(task, opts)
    source = opts["source"] or task.default_source
    problems = task.load(source, opts)
    ids = [p["problem_id"] for p in problems]
    if len(set(ids)) != len(ids):
        dup = next(i for i, c in Counter(ids).items() if c > 1)
        raise TaskError(f"task {task.name!r}: problem_id {dup!r} appears twice in {source!r}; ids must be unique")
    if opts["subset"]:
        problems = _draw.subset(problems, opts["subset"], opts["subset_seed"])
    if opts["limit"]:
        problems = problems[:opts["limit"]]
    pool = task.examples(source, opts["shots_source"]) if opts["shots"] and problems else []
    by_text = _draw.texts(pool)
    out = []
    for p in problems:
        if task.fixed_shots and opts["shots"]:
            if _draw.texts([p]).keys() & by_text.keys():
                raise TaskError(f"{p['problem_id']} is one of the examples in {task.name}'s fixed prompt; "
                                "drop it from the source or set shots = 0")
            shots = pool
        else:
            shots = _draw.shots(p, pool, opts["shots"], opts["shots_seed"], by_text)
        messages, raw = task.render(p, shots)
        out.append({"problem_id": p["problem_id"], "index": p["index"], "messages": messages, "raw": raw,
                    "reference": p["reference"], "gold": p.get("gold"), "shots": [ex["id"] for ex in shots]})
    return out


# ---------------------------------------------------------------------------------------------
# One function per task, as before the registry: (source, limit, shots) -> problems.


def _loader(name: str):
    def load(source: str | None = None, limit: int | None = None, shots: int = 0, **options) -> list[dict]:
        return load_problems(name, {"source": source or "", "limit": limit or 0, "shots": shots, **options})
    load.__name__ = f"load_{name}"
    load.__doc__ = f"Problems of {name}: load_problems({name!r}, {{source, limit, shots, ...}})."
    return load


load_humaneval = _loader("humaneval")
load_gsm8k = _loader("gsm8k")
load_mbpp = _loader("mbpp")
load_math500 = _loader("math500")
load_stdio = _loader("stdio")
load_codecontests = _loader("codecontests")
