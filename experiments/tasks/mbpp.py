"""MBPP, sanitized (Austin et al. 2021): Python functions checked by their asserts.
Zero-shot only: the prompt already shows the tests the function must pass."""
from __future__ import annotations

from ._base import Task, TaskError, is_local, load_rows, text_field

INSTRUCTION = (
    "{prompt}\nYour code should pass these tests:\n\n{tests}\n\nReply with the complete function "
    "in a single ```python code block."
)


def load(source: str, options: dict) -> list[dict]:
    rows = load_rows(source, split="test", config=None if is_local(source) else "sanitized")
    out = []
    for i, row in enumerate(rows):
        where = f"{source} row {i + 1}"
        prompt = text_field(row, "prompt", where)
        tests = row.get("test_list")
        if not isinstance(tests, list) or not tests:
            raise TaskError(f"{where}: missing or empty field 'test_list'; every row needs it")
        out.append({"problem_id": f"mbpp/{row.get('task_id', i)}", "index": i, "text": prompt, "tests": list(tests),
                    "reference": {"test_list": list(tests), "test_imports": list(row.get("test_imports") or [])},
                    "gold": row.get("code")})
    return out


def render(problem: dict, shots: list[dict]) -> tuple[list[dict], str]:
    prompt, tests = problem["text"], problem["tests"]
    return ([{"role": "user", "content": INSTRUCTION.format(prompt=prompt, tests="\n".join(tests))}],
            f'"""\n{prompt}\n{tests[0]}\n"""\n')


TASK = Task("mbpp", "mbpp", "google-research-datasets/mbpp", load, render,
            "MBPP sanitized, 427 Python functions checked by their asserts",
            stop={"chat": (), "raw": ()})
