"""Final-answer extraction and comparison for GSM8K (numbers) and MATH (LaTeX).

GSM8K rule, first match wins: the number after the last `####`; else after the last
"the (final) answer is"; else the last number in the text. Numbers compare exactly as
decimals after dropping `,`, `$`, `%` and a trailing `.0`. The reference may be the number
or the dataset's own answer text (read after its last `####`).

MATH: the content of the last `\\boxed{...}` (or `\\fbox{...}`), compared with the reference by
math-verify (numeric and symbolic equivalence, intervals, sets, matrices). Parsing
model-written LaTeX goes through sympy (any time, any memory), so the comparison itself runs
walled in, in a child of the judge's math zygote.
"""
from __future__ import annotations

import logging
import re
from decimal import Decimal, InvalidOperation

NUMBER = r"-?\$?\s*\d[\d,]*(?:\.\d+)?|-?\$?\s*\.\d+"
_HASHES = re.compile(r"####\s*(" + NUMBER + ")")
_ANSWER_IS = re.compile(r"answer\s+is\s*:?\s*\**\s*(" + NUMBER + ")", re.I)
_ANY = re.compile(NUMBER)


def clean_number(s: str) -> str | None:
    """'1,234.50' -> '1234.5'; '$18' -> '18'; '-0.0' -> '0'. None when not a number."""
    s = s.replace(",", "").replace("$", "").replace("%", "").replace(" ", "").strip().rstrip(".")
    try:
        d = Decimal(s)
    except InvalidOperation:
        return None
    if not d.is_finite():
        return None
    d = d.normalize()
    if d == 0:
        return "0"
    text = format(d, "f")
    return text


def extract_gsm8k(text: str) -> str | None:
    for pattern in (_HASHES, _ANSWER_IS):
        found = pattern.findall(text)
        if found:
            return clean_number(found[-1])
    found = _ANY.findall(text)
    return clean_number(found[-1]) if found else None


def reference_number(answer) -> str | None:
    """A GSM8K reference as a clean number: '18', '1,200', or the dataset's own answer text
    ('... #### 18', read after the last '####'). None when it is neither."""
    text = str(answer)
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    return clean_number(text)


def check_gsm8k(text: str, ref: dict) -> tuple[bool, str | None, str]:
    got = extract_gsm8k(text)
    if got is None:
        return False, None, "no answer found"
    want = reference_number(ref["answer"])
    if want is None:  # refused before verification starts (api.reference_problem); kept as a guard
        return False, got, f"reference is not a number: {ref['answer']!r}"
    return got == want, got, "correct" if got == want else f"expected {want}"


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} / \\fbox{...} (balanced braces), or `\\boxed x` form."""
    starts = [m for m in re.finditer(r"\\(?:boxed|fbox)\s*(\{)?", text)]
    for m in reversed(starts):
        if m.group(1) is None:
            tail = re.match(r"\s*([^\s$]+)", text[m.end():])
            if tail:
                return tail.group(1)
            continue
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            return text[m.end():i - 1].strip()
    return None


def extract_math(text: str) -> str | None:
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    m = re.findall(r"answer\s+is\s*:?\s*\$([^$]+)\$", text, re.I)
    return m[-1].strip() if m else None


_loaded: dict = {}


def load_math_verify():
    """Import math-verify once per process (the math zygote does so before it forks)."""
    if not _loaded:
        from math_verify import parse, verify  # noqa: PLC0415
        from math_verify.parser import ExprExtractionConfig, LatexExtractionConfig  # noqa
        logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns when we disable its alarm timeout
        _loaded.update(parse=parse, verify=verify,
                       cfg=[LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()])
    return _loaded


def equivalent(answer: str, reference: str) -> bool:
    """math-verify on two bare answers (no surrounding prose). Trusted code, untrusted data."""
    if answer.strip() == reference.strip():
        return True
    mv = load_math_verify()
    gold = mv["parse"]("$" + reference + "$", extraction_config=mv["cfg"], parsing_timeout=None)
    pred = mv["parse"]("$" + answer + "$", extraction_config=mv["cfg"], parsing_timeout=None)
    if not gold or not pred:
        return False
    return bool(mv["verify"](gold, pred, timeout_seconds=None))


def check_math(text: str, ref: dict, timeout: float) -> tuple[bool, str | None, str]:
    from . import judge  # noqa: PLC0415
    got = extract_math(text)
    if got is None:
        return False, None, "no answer found"
    want = str(ref["answer"])
    if got.strip() == want.strip():
        return True, got, "correct"
    res = judge.run_math(judge.sandbox(), got, want, timeout)
    if res == "timeout":
        return False, got, "comparison timed out"
    ok = res == "equal"
    return ok, got, "correct" if ok else f"expected {want}"
