"""Programs that read stdin and write stdout, judged on hidden tests: any dataset with a
"problem" (or "description") and tests, compared by the `stdio` verifier under [verify]
timeout. For CodeContests as the paper ran it (its checker, per-problem time limits, images
skipped, few-shot) use the `codecontests` task. Zero-shot only."""
from __future__ import annotations

from ._base import Task, TaskError, load_rows

INSTRUCTION = (
    "Solve the following programming problem in Python 3. Read the input from standard input and "
    "write the answer to standard output. Reply with the whole program in a single ```python code "
    "block.\n\n{problem}"
)


def _tests(row: dict, where: str) -> list[dict]:
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


def _gold(row: dict) -> str | None:
    """A given 'solution', else CodeContests' first Python 3 solution (language 3)."""
    if isinstance(row.get("solution"), str):
        return row["solution"]
    sols = row.get("solutions") or {}
    for lang, code in zip(sols.get("language") or [], sols.get("solution") or []):
        if lang == 3:
            return code
    return None


def load(source: str, options: dict) -> list[dict]:
    rows = load_rows(source, split="test")
    out = []
    for i, row in enumerate(rows):
        where = f"{source} row {i + 1}"
        problem = row.get("problem") or row.get("description")
        if not isinstance(problem, str) or not problem.strip():
            raise TaskError(f"{where}: missing field 'problem' (or CodeContests' 'description')")
        out.append({"problem_id": str(row.get("problem_id") or row.get("name") or f"stdio/{i}"), "index": i,
                    "text": problem, "reference": {"tests": _tests(row, where)}, "gold": _gold(row)})
    return out


def render(problem: dict, shots: list[dict]) -> tuple[list[dict], str]:
    return ([{"role": "user", "content": INSTRUCTION.format(problem=problem["text"])}],
            f"{problem['text']}\n\n# Python 3 solution\n")


TASK = Task("stdio", "stdio", "deepmind/code_contests", load, render,
            "Programs reading stdin and writing stdout, judged on hidden tests (CodeContests style)",
            stop={"chat": (), "raw": ()})
