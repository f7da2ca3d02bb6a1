"""CodeContests (Li et al. 2022, DeepMind's AlphaCode data) as Large Language Monkeys ran it:
the test split without problems that have images (140 of 165), Python 3 programs judged on
the public, private and generated tests with each problem's own time limit plus a buffer, and
outputs compared like DeepMind's checker (verifiers/checker.py).

Rows follow DeepMind's schema (contest_problem.proto; the hub dataset `deepmind/code_contests`,
or a local Parquet/JSONL with the same columns): name, description, public_tests /
private_tests / generated_tests as {"input": [...], "output": [...]}, time_limit as
{"seconds", "nanos"} (or null), solutions as {"language": [...], "solution": [...]}, and
difficulty, cf_tags, is_description_translated, untranslated_description, ... (unused here).

Images: the schema has no image field; a statement's images survive only as placeholders in
`description`. A problem whose description holds "<image>" or "[Image]" is skipped, the test
the paper's code uses (large_language_monkeys, llmonk/generate/code_contests.py,
has_image_tags). `is_description_translated` says nothing about images and is not used.

Few-shot examples (the paper used 2) are train-split problems without images that have a
Python 3 solution (language 3) in ASCII, each shown with its first such solution. The raw
prompt is the paper's ("Q: Write python code ... A: ```<code>```"); generation stops at the
next "Q:" (the paper's stop strings, commands.md).

Each problem's reference: {"tests": [{"input", "output"}...], "time_limit_s": the problem's
limit in seconds (0 when it has none: the verifier then uses [verify] timeout),
"time_buffer_s": [task] time_buffer}. The paper's evaluation allowed the limit plus 10 s
(llmonk/evaluate/code_contests.py), the default here.
"""
from __future__ import annotations

from ._base import Task, TaskError, load_rows, text_field, train_rows

IMAGE_TAGS = ("<image>", "[Image]")
PYTHON3 = 3  # Solution.Language.PYTHON3 in contest_problem.proto
TIME_BUFFER_S = 10.0
# The paper's CodeContests prompt (llmonk/generate/code_contests.py, CODELLAMA_PROMPT).
QUESTION = ("Q: Write python code to solve the following coding problem that obeys the constraints and "
            "passes the example test cases. The output code needs to read from and write to standard IO. "
            "Please wrap your code answer using ```:")
INSTRUCTION = (
    "Solve the following programming problem in Python 3. Read the input from standard input and "
    "write the answer to standard output. Reply with the whole program in a single ```python code "
    "block.\n\n{problem}"
)
RAW_STOP = ("Q:", "Question:")
TEST_SETS = ("public_tests", "private_tests", "generated_tests")


def has_image(description: str) -> bool:
    return any(tag in description for tag in IMAGE_TAGS)


def tests(row: dict, where: str) -> list[dict]:
    """Public, then private, then generated tests, as [{"input", "output"}]."""
    out = []
    for key in TEST_SETS:
        block = row.get(key) or {}
        if not isinstance(block, dict):
            raise TaskError(f"{where}: {key} should be {{'input': [...], 'output': [...]}}")
        ins, outs = block.get("input") or [], block.get("output") or []
        if not (isinstance(ins, list) and isinstance(outs, list) and len(ins) == len(outs)
                and all(isinstance(x, str) for x in ins + outs)):
            raise TaskError(f"{where}: {key} needs 'input' and 'output' lists of strings of the same length")
        out += [{"input": a, "output": b} for a, b in zip(ins, outs)]
    if not out:
        raise TaskError(f"{where}: no tests in {', '.join(TEST_SETS)}; every problem needs at least one")
    return out


def time_limit_s(row: dict, where: str) -> float:
    """`time_limit` {seconds, nanos} in seconds; 0.0 when the problem has none."""
    limit = row.get("time_limit")
    if limit is None:
        return 0.0
    if not isinstance(limit, dict):
        raise TaskError(f"{where}: time_limit should be {{'seconds': int, 'nanos': int}} or null")
    seconds, nanos = limit.get("seconds") or 0, limit.get("nanos") or 0
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in (seconds, nanos)):
        raise TaskError(f"{where}: time_limit seconds and nanos should be numbers >= 0")
    return seconds + nanos / 1e9


def load(source: str, options: dict) -> list[dict]:
    buffer = float(options.get("time_buffer", TIME_BUFFER_S))
    rows = load_rows(source, split="test")
    out = []
    for i, row in enumerate(rows):
        where = f"{source} row {i + 1}"
        description = text_field(row, "description", where)
        if has_image(description):
            continue
        out.append({"problem_id": text_field(row, "name", where), "index": i, "text": description,
                    "reference": {"tests": tests(row, where), "time_limit_s": time_limit_s(row, where),
                                  "time_buffer_s": buffer},
                    "gold": python3_solution(row)})
    return out


def python3_solution(row: dict) -> str | None:
    """The first ASCII Python 3 solution of a row, as the paper picks few-shot solutions."""
    sols = row.get("solutions") or {}
    for lang, code in zip(sols.get("language") or [], sols.get("solution") or []):
        if lang == PYTHON3 and isinstance(code, str) and code.isascii():
            return code
    return None


def examples(source: str, shots_source: str) -> list[dict]:
    rows = train_rows("codecontests", source, shots_source, columns=["name", "description", "solutions"])
    out = []
    for i, row in enumerate(rows):
        description, code = row.get("description"), python3_solution(row)
        if isinstance(description, str) and description.strip() and code and not has_image(description):
            out.append({"id": str(row.get("name") or f"train/{i}"), "text": description, "solution": code})
    return out


def render(problem: dict, shots: list[dict]) -> tuple[list[dict], str]:
    messages = []
    for ex in shots:
        messages += [{"role": "user", "content": INSTRUCTION.format(problem=ex["text"])},
                     {"role": "assistant", "content": f"```python\n{ex['solution'].strip()}\n```"}]
    messages.append({"role": "user", "content": INSTRUCTION.format(problem=problem["text"])})
    blocks = [f"{QUESTION}\n{ex['text']}\nA: ```{ex['solution'].strip()}```" for ex in shots]
    return messages, "\n".join(blocks + [f"{QUESTION}\n{problem['text']}\nA:"])


TASK = Task("codecontests", "codecontests", "deepmind/code_contests", load, render,
            "CodeContests test problems without images, Python 3 programs on all tests with each problem's time limit",
            examples=examples, stop={"chat": (), "raw": RAW_STOP}, options={"time_buffer": TIME_BUFFER_S})
