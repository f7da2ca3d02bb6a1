"""What every task module shares: the `Task` record, `TaskError`, and reading dataset rows."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


class TaskError(ValueError):
    """A task name, data source, dataset row or task setting that cannot be used."""


@dataclass(frozen=True)
class Task:
    """A benchmark as data.

    load(source, options) -> problems: plain dicts {"problem_id": str, "index": int (the row's
        position in the source), "text": str (the statement, used to keep a problem out of its
        own few-shot examples), "reference": dict (what the verifier compares against), "gold":
        str | None (the dataset's own solution written as a sample would be; `monkeys audit` runs
        it through the verifier), plus whatever `render` needs}. `options` is the [task] table.
    render(problem, shots) -> (messages, raw): the chat turns and the plain completion prompt,
        with `shots` (examples from `examples`) in front.
    examples(source, shots_source) -> the few-shot pool: dicts {"id", "text", ...}. None means
        the task is zero-shot only, and `shots` > 0 is refused.
    fixed_shots: the pool is one fixed prompt (MATH's Minerva prompt), used whole and in order.
    stop: default stop strings per prompt style ("chat", "raw"); [sampling] stop replaces them.
    options: task-specific [task] keys and their defaults (CodeContests' `time_buffer`).
    """
    name: str
    verifier: str
    default_source: str
    load: Callable[[str, dict], list[dict]]
    render: Callable[[dict, list[dict]], tuple[list[dict], str]]
    about: str = ""
    examples: Callable[[str, str], list[dict]] | None = None
    fixed_shots: bool = False
    stop: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Reading rows


def is_local(source: str) -> bool:
    return source.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz", ".parquet", ".csv")) or Path(
        source
    ).exists()


def load_rows(source: str, split: str = "test", config: str | None = None,
              columns: list[str] | None = None) -> list[dict]:
    """Rows from a local JSON/JSONL/Parquet file or a hub dataset, through HF `datasets`.
    `columns`, when given, keeps only those (those the source has) before rows are built."""
    import datasets

    try:
        if is_local(source):
            path = Path(source).expanduser()
            if not path.is_file():
                raise TaskError(f"data file {source!r} does not exist; check the `source` setting")
            check_jsonl(path)
            fmt = "parquet" if path.suffix == ".parquet" else "csv" if path.suffix == ".csv" else "json"
            ds = datasets.load_dataset(fmt, data_files=str(path), split="train")
        else:
            ds = datasets.load_dataset(source, config, split=split)
    except TaskError:
        raise
    except Exception as exc:  # datasets raises many types; all mean "cannot read this source"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TaskError(f"cannot read dataset {source!r}: {first}; give a readable local file or a "
                        "hub name that is available offline") from None
    if columns:
        ds = ds.select_columns([c for c in columns if c in ds.column_names])
    return [dict(row) for row in ds]


def check_jsonl(path: Path) -> None:
    """Name the first malformed line of a JSONL file; `datasets` only says the file failed."""
    if path.suffix != ".jsonl":
        return
    try:
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        value = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise TaskError(f"{path}:{number}: malformed JSON ({exc.msg}); fix or remove that line") from None
                    if not isinstance(value, dict):
                        raise TaskError(f"{path}:{number}: expected a JSON object per line")
    except UnicodeDecodeError:
        raise TaskError(f"{path} is not UTF-8 text; give a JSONL file") from None
    except OSError as exc:
        raise TaskError(f"cannot read {path}: {exc.strerror}") from None


def train_rows(task: str, source: str, shots_source: str, config: str | None = None,
               columns: list[str] | None = None) -> list[dict]:
    """The rows few-shot examples come from: `shots_source` when set (a file, or a hub name whose
    train split is read); else the train split beside `source`: a hub dataset's "train" split,
    or for a local file the file of the same name with "test" replaced by "train"
    (gsm8k/test.jsonl -> gsm8k/train.jsonl)."""
    if shots_source:
        return load_rows(shots_source, split="train", config=None if is_local(shots_source) else config,
                         columns=columns)
    if not is_local(source):
        return load_rows(source, split="train", config=config, columns=columns)
    path = Path(source).expanduser()
    train = path.with_name(path.name.replace("test", "train"))
    if train == path or not train.is_file():
        raise TaskError(f"few-shot {task} needs training examples and found no {train.name!r} beside {source}; "
                        "set [task] shots_source to a file or hub dataset with them, or shots = 0")
    return load_rows(str(train), columns=columns)


def text_field(row: dict, key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TaskError(f"{where}: missing or empty field {key!r}; every row needs it")
    return value
