"""Verifiers: score samples with exact match, math equivalence, and sandboxed code tests."""
from .api import KINDS, check_one, verify
from .math_answer import extract_gsm8k, extract_math
from .pool import isolation_level, shutdown

__all__ = ["KINDS", "check_one", "verify", "extract_gsm8k", "extract_math", "isolation_level",
           "shutdown"]
