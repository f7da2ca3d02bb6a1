"""Majority vote over extracted answers, so vote@k can be drawn beside coverage@k."""
from __future__ import annotations

from collections import Counter


def majority(answers) -> str | None:
    """Most common non-empty answer; ties go to the answer seen first. None if there is none."""
    answers = [a for a in answers if a is not None and a != ""]
    if not answers:
        return None
    counts = Counter(answers)
    best = max(counts.values())
    return next(a for a in answers if counts[a] == best)


def vote_correct(verdicts, k: int | None = None) -> bool:
    """Whether the majority answer of the first k verdicts (dicts with "extracted_answer" and
    "correct") is a correct one. Answers are grouped by their exact extracted text."""
    rows = list(verdicts)[:k] if k else list(verdicts)
    winner = majority(r.get("extracted_answer") for r in rows)
    return winner is not None and any(r["correct"] for r in rows if r.get("extracted_answer") == winner)


def vote_at_k(verdicts, ks) -> dict[int, bool]:
    rows = list(verdicts)
    return {k: vote_correct(rows, k) for k in ks}
