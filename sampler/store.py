"""The sample store: Parquet shards in a folder of the run directory.

A shard is written under a hidden temporary name, flushed to disk and then renamed to
`part-*.parquet`, so a reader (or a resumed run) only ever sees complete shards. Readers
ignore every other file. The store never rewrites a shard; a re-run adds new ones.
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SAMPLES_SCHEMA = pa.schema([
    ("problem_id", pa.string()),
    ("sample_index", pa.int64()),
    ("seed", pa.int64()),
    ("text", pa.string()),
    ("prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()),
    ("finish_reason", pa.string()),
    ("worker", pa.string()),
    ("elapsed_s", pa.float64()),
])


class StoreError(ValueError):
    """A shard that cannot be read; the message names the file and what to do."""


def write_shard(folder, rows: list[dict], schema: pa.Schema) -> Path | None:
    """Write rows as one new complete shard in folder; returns its path (None for no rows)."""
    if not rows:
        return None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
    tmp = folder / f".{name}.tmp"
    with open(tmp, "wb") as fh:
        pq.write_table(table, fh, compression="zstd")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / name)
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return folder / name


def shard_paths(folder) -> list[Path]:
    return sorted(Path(folder).glob("part-*.parquet"))


def read_shards(folder, columns: list[str] | None = None) -> pa.Table | None:
    """All complete shards of folder as one table (None when there are none)."""
    tables = []
    for path in shard_paths(folder):
        try:
            tables.append(pq.read_table(path, columns=columns))
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise StoreError(f"{path}: damaged shard ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                             f"move it out of {Path(folder).name}/ and re-run: only its rows will be redone") from None
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default")


def existing(folder) -> dict[str, set[int]]:
    """problem_id -> the sample indices already stored."""
    table = read_shards(folder, ["problem_id", "sample_index"])
    done: dict[str, set[int]] = {}
    if table is None:
        return done
    for pid, idx in zip(table["problem_id"].to_pylist(), table["sample_index"].to_pylist()):
        done.setdefault(str(pid), set()).add(int(idx))
    return done
