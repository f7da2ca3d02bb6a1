"""Per-sample seeds: a pure function of (run seed, problem_id, sample_index).

Deriving the seed instead of drawing it means a sample that is missing after a crash is
requested again with exactly the seed it would have had, on any machine, in any order.
"""
from __future__ import annotations

import hashlib


def sample_seed(run_seed: int, problem_id: str, sample_index: int) -> int:
    """A 31-bit seed: fits every backend's seed field (vLLM, OpenAI-compatible servers)."""
    key = f"{int(run_seed)}\x1f{problem_id}\x1f{int(sample_index)}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") & 0x7FFFFFFF
