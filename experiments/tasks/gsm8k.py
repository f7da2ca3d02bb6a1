"""GSM8K (Cobbe et al. 2021): grade-school math, the final number checked by exact match.

Few-shot examples are drawn at random for each problem from the train split (Large Language
Monkeys used 5). Raw prompts use the `Question:` / `Answer:` form of lm-evaluation-harness's
gsm8k task, with each example's answer as the dataset gives it (calculator marks and the
`#### N` line included), as the paper's code builds them (ScalingIntelligence/
large_language_monkeys, llmonk/generate/gsm8k.py); generation stops at the next question.
"""
from __future__ import annotations

import re

from ._base import Task, TaskError, is_local, load_rows, text_field, train_rows

INSTRUCTION = (
    "Solve the following math problem step by step. End your reply with 'The answer is N.', "
    "where N is the final number.\n\nQuestion: {question}"
)
# The paper's stop strings for GSM8K (large_language_monkeys, commands.md).
RAW_STOP = ("Q:", "Question:")
_CALC = re.compile(r"<<[^>]*>>")


def gold(answer: str) -> str:
    """The number after '####', without thousands separators."""
    if "####" not in answer:
        raise TaskError("GSM8K answer has no '#### N' final line")
    return answer.split("####")[-1].strip().replace(",", "")


def _worked(answer: str) -> str:
    """A gold solution as a chat answer: calculator marks removed, standard last line."""
    body, final = answer.split("####", 1)
    return _CALC.sub("", body).strip() + f"\nThe answer is {final.strip()}."


def _rows(rows: list[dict], source: str) -> list[tuple[str, str]]:
    out = []
    for i, row in enumerate(rows):
        where = f"{source} row {i + 1}"
        answer = text_field(row, "answer", where)
        if "####" not in answer:
            raise TaskError(f"{where}: GSM8K answer has no '#### N' final line")
        out.append((text_field(row, "question", where), answer))
    return out


def load(source: str, options: dict) -> list[dict]:
    rows = load_rows(source, split="test", config=None if is_local(source) else "main")
    return [{"problem_id": f"gsm8k/{i}", "index": i, "text": q, "reference": {"answer": gold(a)},
             "gold": a}
            for i, (q, a) in enumerate(_rows(rows, source))]


def examples(source: str, shots_source: str) -> list[dict]:
    rows = train_rows("gsm8k", source, shots_source, config="main")
    where = shots_source or f"the train split beside {source}"
    return [{"id": f"train/{i}", "text": q, "answer": a} for i, (q, a) in enumerate(_rows(rows, where))]


def render(problem: dict, shots: list[dict]) -> tuple[list[dict], str]:
    messages = []
    for ex in shots:
        messages += [{"role": "user", "content": INSTRUCTION.format(question=ex["text"])},
                     {"role": "assistant", "content": _worked(ex["answer"])}]
    messages.append({"role": "user", "content": INSTRUCTION.format(question=problem["text"])})
    raw = "".join(f"Question: {ex['text']}\nAnswer: {ex['answer']}\n\n" for ex in shots)
    return messages, raw + f"Question: {problem['text']}\nAnswer:"


TASK = Task("gsm8k", "gsm8k", "openai/gsm8k", load, render,
            "GSM8K grade-school math, numeric exact match on the final answer",
            examples=examples, stop={"chat": (), "raw": RAW_STOP})
