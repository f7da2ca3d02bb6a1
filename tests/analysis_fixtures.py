"""Build small run directories that follow the run-directory contract."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """Shared real data: $MONKEYS_SHARED_DATA, else ../shared/data next to the repository."""
    return Path(os.environ.get("MONKEYS_SHARED_DATA", REPO.parent / "shared" / "data"))


def pythia_counts_path() -> Path:
    return shared_data() / "monkeys_pythia_math" / "per_problem_counts.csv"


def make_run(root: Path, correct: dict, config: str | None = None, answers: dict | None = None,
             shards: int = 2, seed: int = 0) -> Path:
    """correct: problem_id -> list of bools (one per sample). Writes samples and verdicts."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "samples").mkdir(parents=True, exist_ok=True)
    (root / "verdicts").mkdir(parents=True, exist_ok=True)
    if config is not None:
        (root / "config.toml").write_text(config)
    srows, vrows = [], []
    for pi, (pid, flags) in enumerate(correct.items()):
        for j, ok in enumerate(flags):
            unit = j // 2
            srows.append(dict(problem_id=pid, sample_index=j, seed=1000 * pi + j, text=f"s{j}",
                              prompt_tokens=10 + pi, completion_tokens=int(rng.integers(5, 20)),
                              finish_reason="stop", worker=f"w{unit % 2}", elapsed_s=1.5 + pi + unit))
            ans = answers[pid][j] if answers else ("right" if ok else f"wrong{j % 2}")
            vrows.append(dict(problem_id=pid, sample_index=j, correct=bool(ok), extracted_answer=ans, detail=""))
    for name, rows in (("samples", srows), ("verdicts", vrows)):
        parts = np.array_split(np.arange(len(rows)), shards)
        for s, idx in enumerate(parts):
            cols = {key: [rows[i][key] for i in idx] for key in rows[0]}
            pq.write_table(pa.table(cols), root / name / f"part-{s:05d}.parquet")
    return root
