"""Verifiers: score samples with exact match, math equivalence, and sandboxed code tests.

The names below load their modules on first use: the sandbox's zygote imports a few modules of
this package (walls, seccomp, cgroups, wire, inmate), and every module it holds makes each
candidate's fork and exit dearer (loading the whole package cost the zygote 1-2 MiB more).
"""
from __future__ import annotations

import importlib

_EXPORTS = {"KINDS": "api", "check_one": "api", "verify": "api", "extract_gsm8k": "math_answer",
            "extract_math": "math_answer", "isolation_level": "pool", "shutdown": "pool"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
