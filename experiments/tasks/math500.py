"""MATH (Hendrycks et al. 2021), by default its MATH-500 split (Lightman et al. 2023): the
`\\boxed{}` answer checked for equivalence.

Rows are MATH-500's ({"problem", "answer", "unique_id", ...}) or the full MATH test set's
({"problem", "solution", ...}: the answer is the solution's last `\\boxed{}`).

Few-shot is the Minerva 4-shot prompt (Lewkowycz et al. 2022, appendix), used whole and in
order as Large Language Monkeys did (`shots = 4`). Its text is as published in
lm-evaluation-harness (lm_eval/tasks/minerva_math/utils.py, list_fewshot_samples), which is
the prompt the paper's code sends (large_language_monkeys, llmonk/generate/prompts.py,
MATH_COT_PROMPT), typos included: the stray "}" after the first problem, and `\\` line breaks
that lost a backslash. A raw prompt is the four examples, then "Problem:\\n<problem>\\n\\nSolution:";
generation stops at the next "Problem:".
"""
from __future__ import annotations

from ._base import Task, TaskError, load_rows, text_field

INSTRUCTION = (
    "Solve the following math problem step by step. Put your final answer in \\boxed{{}}.\n\n"
    "Problem: {problem}"
)
# The paper's stop string for MATH (large_language_monkeys, commands.md).
RAW_STOP = ("Problem:",)

MINERVA = [
    {"id": "minerva/1",
     "text": "Find the domain of the expression  $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.}",
     "solution": "The expressions inside each square root must be non-negative. Therefore, $x-2 \\ge 0$, so "
                 "$x\\ge2$, and $5 - x \\ge 0$, so $x \\le 5$. Also, the denominator cannot be equal to zero, so "
                 "$5-x>0$, which gives $x<5$. Therefore, the domain of the expression is $\\boxed{[2,5)}$.\n"
                 "Final Answer: The final answer is $[2,5)$. I hope it is correct."},
    {"id": "minerva/2",
     "text": "If $\\det \\mathbf{A} = 2$ and $\\det \\mathbf{B} = 12,$ then find $\\det (\\mathbf{A} \\mathbf{B}).$",
     "solution": "We have that $\\det (\\mathbf{A} \\mathbf{B}) = (\\det \\mathbf{A})(\\det \\mathbf{B}) = "
                 "(2)(12) = \\boxed{24}.$\nFinal Answer: The final answer is $24$. I hope it is correct."},
    {"id": "minerva/3",
     "text": "Terrell usually lifts two 20-pound weights 12 times. If he uses two 15-pound weights instead, how "
             "many times must Terrell lift them in order to lift the same total weight?",
     "solution": "If Terrell lifts two 20-pound weights 12 times, he lifts a total of $2\\cdot 12\\cdot20=480$ "
                 "pounds of weight.  If he lifts two 15-pound weights instead for $n$ times, he will lift a total "
                 "of $2\\cdot15\\cdot n=30n$ pounds of weight.  Equating this to 480 pounds, we can solve for $n$:"
                 "\n\\begin{align*}\n30n&=480\\\n\\Rightarrow\\qquad n&=480/30=\\boxed{16}\n\\end{align*}\n"
                 "Final Answer: The final answer is $16$. I hope it is correct."},
    {"id": "minerva/4",
     "text": "If the system of equations\n\n\\begin{align*}\n6x-4y&=a,\\\n6y-9x &=b.\n\\end{align*}has a solution "
             "$(x, y)$ where $x$ and $y$ are both nonzero,\nfind $\\frac{a}{b},$ assuming $b$ is nonzero.",
     "solution": "If we multiply the first equation by $-\\frac{3}{2}$, we obtain\n\n$$6y-9x=-\\frac{3}{2}a.$$"
                 "Since we also know that $6y-9x=b$, we have\n\n$$-\\frac{3}{2}a=b\\Rightarrow\\frac{a}{b}="
                 "\\boxed{-\\frac{2}{3}}.$$\nFinal Answer: The final answer is $-\\frac{2}{3}$. I hope it is correct."},
]


def _answer(row: dict, where: str) -> str:
    if row.get("answer") is not None:
        return text_field(row, "answer", where)
    from verifiers.math_answer import last_boxed

    boxed = last_boxed(text_field(row, "solution", where))
    if not boxed:
        raise TaskError(f"{where}: no 'answer' field and no \\boxed{{}} answer in 'solution'; every row needs one")
    return boxed


def load(source: str, options: dict) -> list[dict]:
    rows = load_rows(source, split="test")
    out = []
    for i, row in enumerate(rows):
        where = f"{source} row {i + 1}"
        answer = _answer(row, where)
        out.append({"problem_id": str(row.get("unique_id") or f"math500/{i}"), "index": i,
                    "text": text_field(row, "problem", where), "reference": {"answer": answer},
                    "gold": row.get("solution") or f"The answer is $\\boxed{{{answer}}}$."})
    return out


def examples(source: str, shots_source: str) -> list[dict]:
    return MINERVA


def render(problem: dict, shots: list[dict]) -> tuple[list[dict], str]:
    messages = []
    for ex in shots:
        messages += [{"role": "user", "content": INSTRUCTION.format(problem=ex["text"])},
                     {"role": "assistant", "content": ex["solution"]}]
    messages.append({"role": "user", "content": INSTRUCTION.format(problem=problem["text"])})
    if not shots:
        return messages, f"Problem: {problem['text']}\nSolution:"
    blocks = [f"Problem:\n{ex['text']}\n\nSolution:\n{ex['solution']}" for ex in shots]
    return messages, "\n\n".join(blocks + [f"Problem:\n{problem['text']}\n\nSolution:"])


TASK = Task("math500", "math", "HuggingFaceH4/MATH-500", load, render,
            "MATH-500 competition math, \\boxed{} answer checked for equivalence",
            examples=examples, fixed_shots=True, stop={"chat": (), "raw": RAW_STOP})
