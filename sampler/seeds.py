"""Seeds as pure functions of the run seed, so that nothing random has to be stored to redo work.

- `sample_seed(run, problem_id, sample_index)`: a sample's own seed, sent with its request
  when per-sample seeds are on (a sample re-drawn after a crash is then the same sample).
- `engine_seed(run, engine_index, restart)`: the random stream of one engine actor. Every
  engine, and every restart of one, gets its own stream: vLLM draws the same samples from the
  same seed and the same batch, so two engines with one seed handed units of one problem
  would draw duplicates, and duplicates silently lower coverage.
"""
from __future__ import annotations

import hashlib


def _seed31(*parts) -> int:
    """A 31-bit seed from the parts: fits every backend's seed field (vLLM, OpenAI-compatible servers)."""
    key = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") & 0x7FFFFFFF


def sample_seed(run_seed: int, problem_id: str, sample_index: int) -> int:
    return _seed31(int(run_seed), problem_id, int(sample_index))


def engine_seed(run_seed: int, engine_index: int, restart: int) -> int:
    return _seed31("engine", int(run_seed), int(engine_index), int(restart))
