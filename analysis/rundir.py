"""Read a run directory: config.toml, samples/part-*.parquet, verdicts/part-*.parquet.

Only complete shards (named part-*.parquet) are read; temporary files of writes in progress
are ignored. A problem's n is the number of its samples that have a verdict.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


class RunError(ValueError):
    """A run directory that cannot be analysed; the message says what and how to fix it."""


SAMPLE_COLUMNS = ["problem_id", "sample_index", "prompt_tokens", "completion_tokens", "worker", "elapsed_s"]
VERDICT_COLUMNS = ["problem_id", "sample_index", "correct"]


def read_shards(folder: Path, columns: list[str], optional: list[str] = ()) -> pa.Table | None:
    """Concatenate the part-*.parquet shards in folder (None if there are none)."""
    files = sorted(folder.glob("part-*.parquet"))
    if not files:
        return None
    tables = []
    for f in files:
        try:
            schema = pq.read_schema(f)
        except Exception as e:  # pyarrow raises several types for a broken file
            raise RunError(f"{f}: not a readable parquet file ({e}); delete or rewrite the shard") from None
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise RunError(f"{f}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}")
        cols = columns + [c for c in optional if c in schema.names]
        t = pq.read_table(f, columns=cols)
        t = t.set_column(t.schema.get_field_index("problem_id"), "problem_id", t["problem_id"].cast(pa.string()))
        t = t.set_column(t.schema.get_field_index("sample_index"), "sample_index", t["sample_index"].cast(pa.int64()))
        tables.append(t)
    return pa.concat_tables(tables, promote_options="default")


def _dedupe(table: pa.Table) -> pa.Table:
    """Keep one row per (problem_id, sample_index): the first shard's (the run directory's rule)."""
    pid = table["problem_id"].to_numpy(zero_copy_only=False).astype(str)
    idx = table["sample_index"].to_numpy()
    _, code = np.unique(pid, return_inverse=True)
    keys = code.reshape(-1).astype(np.int64) * (int(idx.max()) + 1 - min(int(idx.min()), 0)) + (idx - min(int(idx.min()), 0))
    _, first = np.unique(keys, return_index=True)
    return table.take(pa.array(np.sort(first)))


def read_config(run_dir: Path) -> dict:
    path = run_dir / "config.toml"
    if not path.exists():
        return {}
    try:
        cfg = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise RunError(f"{path}: invalid TOML ({e})") from None
    if isinstance(cfg.get("model"), str):  # a hand-written config names the model; a run's copy has a table
        cfg["model"] = {"name": cfg["model"]}
    return cfg


def read_run(run_dir) -> dict:
    """Load what the analyzer needs from a run directory as plain numpy arrays.

    Returns problem_ids, n, c (per problem), and per-sample arrays aligned with each other:
    group (problem index), correct, extracted_answer (or None), prompt_tokens,
    completion_tokens, worker, elapsed_s (the sample columns are None when no samples shards).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: not a directory; pass the run directory (runs/<name>)")
    verdicts = read_shards(run_dir / "verdicts", VERDICT_COLUMNS, optional=["extracted_answer"])
    if verdicts is None or verdicts.num_rows == 0:
        raise RunError(f"{run_dir}: no verdicts (verdicts/part-*.parquet); run verification first")
    verdicts = _dedupe(verdicts)
    samples = read_shards(run_dir / "samples", SAMPLE_COLUMNS)
    if samples is not None:
        samples = _dedupe(samples)
        samples = samples.rename_columns([f"s_{c}" if c not in ("problem_id", "sample_index") else c
                                          for c in samples.column_names])
        joined = verdicts.join(samples, keys=["problem_id", "sample_index"], join_type="left outer")
    else:
        joined = verdicts
    joined = joined.sort_by([("problem_id", "ascending"), ("sample_index", "ascending")])
    pid = joined["problem_id"].to_numpy(zero_copy_only=False).astype(str)
    problem_ids, group = np.unique(pid, return_inverse=True)
    correct_col = joined["correct"]
    if correct_col.null_count:
        raise RunError(f"{run_dir}/verdicts: {correct_col.null_count} verdict(s) with null 'correct'; re-run verification")
    correct = correct_col.to_numpy(zero_copy_only=False).astype(bool)
    n = np.bincount(group, minlength=len(problem_ids))
    c = np.bincount(group, weights=correct, minlength=len(problem_ids)).astype(np.int64)
    out = {"run_dir": str(run_dir), "config": read_config(run_dir), "problem_ids": problem_ids,
           "n": n, "c": c, "group": group, "correct": correct,
           "sample_index": joined["sample_index"].to_numpy(),
           "extracted_answer": (joined["extracted_answer"].to_pylist()
                                if "extracted_answer" in joined.column_names else None)}
    sample_cols = {}
    if samples is not None:
        for col in ("prompt_tokens", "completion_tokens", "worker", "elapsed_s"):
            arr = joined[f"s_{col}"]
            sample_cols[col] = arr
        if sample_cols["completion_tokens"].null_count == 0:
            out["prompt_tokens"] = sample_cols["prompt_tokens"].to_numpy(zero_copy_only=False).astype(np.float64)
            out["completion_tokens"] = sample_cols["completion_tokens"].to_numpy(zero_copy_only=False).astype(np.float64)
            out["worker"] = sample_cols["worker"].to_pylist()
            out["elapsed_s"] = sample_cols["elapsed_s"].to_numpy(zero_copy_only=False).astype(np.float64)
        else:
            out["note_samples"] = (f"{sample_cols['completion_tokens'].null_count} verdict(s) have no matching "
                                   "sample row; token, FLOPs and dollar axes omitted")
    return out
