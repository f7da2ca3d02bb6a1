"""CodeContests output comparison, following DeepMind's checker.

Source read: google-deepmind/code_contests, execution/tester_sandboxer.cc at commit fa7a4f8
(functions SplitAndLowercase and ValuesMatch; the same commit the Large Language Monkeys code
cites in llmonk/evaluate/code_contests_utils/compare_results.py). The rules, as implemented:

1. Each output is split into tokens at any of the five characters space, \\n, \\t, \\r, \\v
   (absl::ByAnyChar(" \\n\\t\\r\\v") with SkipEmpty). Other whitespace (\\f, non-breaking space,
   ...) is part of a token, unlike Python's str.split().
2. Tokens are lowercased, ASCII letters only (absl::AsciiStrToLower).
3. The outputs match when they have the same number of tokens and every pair matches.
4. A pair matches if either token is not a number and the tokens are equal (after rule 2); or
   if both are numbers and they differ by less than 1e-5, absolutely (kDoublePrecision;
   strictly less). A number is what absl::SimpleAtod accepts: after stripping ASCII whitespace
   (only \\f can be left in a token), an optional sign, decimal digits with an optional point
   and exponent, or inf / infinity / nan. Integers fall here too, since SimpleAtod accepts them
   as well: "3" matches "3.000001", and integers past 2**53 compare as the doubles they round to.
   Kept from the C++: "nan" never matches "nan", nor "inf" "inf" (their difference is not
   below 1e-5).

The paper's Python port (compare_results.py) differs in two corners, where we follow the C++:
it compares two integers exactly as Python ints, and its int()/float() also take "1_000" and
non-ASCII digits as numbers.
"""
from __future__ import annotations

import re

DELIMITERS = re.compile("[ \n\t\r\v]+")
PRECISION = 1e-5
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|inf|infinity|nan)", re.ASCII)


def tokens(text: str) -> list[str]:
    return [t.translate(_LOWER) for t in DELIMITERS.split(text) if t]


def _number(token: str) -> float | None:
    token = token.strip(" \t\n\v\f\r")
    return float(token) if _NUMBER.fullmatch(token) else None


def values_match(a: str, b: str) -> bool:
    """One pair of (lowercased) tokens, as ValuesMatch."""
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return a == b
    return abs(x - y) < PRECISION


def matches(expected: str, actual: str) -> bool:
    """True when a program's output `actual` is accepted for the expected output."""
    a, b = tokens(expected), tokens(actual)
    return len(a) == len(b) and all(values_match(x, y) for x, y in zip(a, b))
