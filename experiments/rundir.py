"""The run directory: the one module that reads and writes it.

```
runs/<name>/
  config.toml              the resolved experiment, plus [model] path, [model_info] and [versions]
  problems.parquet         problem_id, task, prompt (as sent), reference (JSON text), verifier,
                           source_index (the problem's row in its dataset)
                           [, gold (a reference solution, as a sample's text), messages (JSON chat turns)]
  samples/part-*.parquet   SAMPLES_SCHEMA
  verdicts/part-*.parquet  VERDICTS_SCHEMA
  scores/part-*.parquet    problem_id, sample_index, one float column per scorer (score_schema)
  audit.json               `monkeys audit`: the verifier checked against gold solutions and re-runs
  report.json, coverage.png / .svg
```

Shards are written under a hidden temporary name, flushed and renamed, so a reader (or a
resumed run) only ever sees complete shards; readers ignore every other file, and nothing
rewrites a shard. Shard names start with the time they were written, so name order is
write order. A (problem_id, sample_index) found in two shards (a chunk redone after a crash
that came between the write and the bookkeeping) counts once: the first written wins, for
every reader. `problem_id` is a string everywhere.
"""
from __future__ import annotations

import json
import os
import re
import time
import tomllib
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

PROBLEMS_SCHEMA = pa.schema([("problem_id", pa.string()), ("task", pa.string()), ("prompt", pa.string()),
                             ("reference", pa.string()), ("verifier", pa.string()),
                             ("source_index", pa.int64())])  # the problem's row in the task's source
# Optional problem columns, written when the task gives them: the gold solution (what `monkeys
# audit` runs through the verifier as if it were a sample) and the chat turns the prompt was
# rendered from (what a judge or reward model is shown as the question).
PROBLEM_EXTRAS = pa.schema([("gold", pa.string()), ("messages", pa.string())])
SAMPLES_SCHEMA = pa.schema([
    ("problem_id", pa.string()),
    ("sample_index", pa.int64()),
    ("seed", pa.int64()),            # the sample's own seed (sent with the request only with per-sample seeds)
    ("text", pa.string()),
    ("prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()),
    ("finish_reason", pa.string()),
    ("worker", pa.string()),         # host:pid of the engine's process
    ("elapsed_s", pa.float64()),     # the sample's share of its engine's busy time
    ("engine", pa.string()),         # which engine drew it: engine-<slot>[.<restart>]
    ("engine_seed", pa.int64()),     # that engine's random stream
    ("cumulative_logprob", pa.float64()),  # sum of the sampled tokens' log-probabilities (null if not asked)
    ("mean_logprob", pa.float64()),        # the same per token
])
VERDICTS_SCHEMA = pa.schema([("problem_id", pa.string()), ("sample_index", pa.int64()), ("correct", pa.bool_()),
                             ("extracted_answer", pa.string()), ("detail", pa.string())])
KEY = ["problem_id", "sample_index"]


class StoreError(ValueError):
    """A run directory or shard that cannot be read; the message names the file and the fix."""


# ------------------------------------------------------------------------------------ shards


def write_shard(folder, rows, schema: pa.Schema) -> Path | None:
    """Write rows (dicts, or a table) as one new complete shard in folder; its path, or None for no rows."""
    if isinstance(rows, pa.Table):
        table = rows.select(schema.names).cast(schema) if rows.num_rows else None
    else:
        table = pa.Table.from_pylist(rows, schema=schema) if rows else None
    if table is None:
        return None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
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


def _damaged(path: Path, exc: BaseException) -> StoreError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return StoreError(f"{path}: damaged shard ({first}); move it out of {path.parent.name}/ and re-run: only its "
                      "rows will be redone")


def read_shard(path: Path, columns: list[str] | None, schema: pa.Schema | None = None) -> pa.Table:
    """One shard's columns; a column that older shards lack comes back as nulls (schema given)."""
    try:
        names = pq.read_schema(path).names
        want = [c for c in columns if c in names] if columns is not None else None
        table = pq.read_table(path, columns=want)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise _damaged(Path(path), exc) from None
    missing = [c for c in (columns or []) if c not in table.column_names]
    for c in missing:
        if schema is None or c not in schema.names or c in KEY:
            raise StoreError(f"{path}: missing column {c!r}; this shard was not written by monkeys — move it out "
                             f"of {Path(path).parent.name}/")
        table = table.append_column(schema.field(c), pa.nulls(table.num_rows, schema.field(c).type))
    if "problem_id" in table.column_names and table.schema.field("problem_id").type != pa.string():
        table = table.set_column(table.column_names.index("problem_id"), "problem_id",
                                 table["problem_id"].cast(pa.string()))
    return table.select(columns) if columns is not None else table


def first_rows(table: pa.Table) -> pa.Table:
    """One row per (problem_id, sample_index): the first, in shard (write) order. The one rule."""
    if table.num_rows == 0:
        return table
    order = pa.array(np.arange(table.num_rows, dtype=np.int64))
    keyed = pa.table({"problem_id": table["problem_id"], "sample_index": table["sample_index"], "_row": order})
    first = keyed.group_by(KEY, use_threads=False).aggregate([("_row", "min")])["_row_min"]
    if len(first) == table.num_rows:
        return table
    return table.take(pa.array(np.sort(first.to_numpy())))


def read_table(folder, columns: list[str] | None = None, schema: pa.Schema | None = None) -> pa.Table | None:
    """All complete shards of folder as one table, deduplicated (None when there are none).
    columns must include problem_id and sample_index when given."""
    paths = shard_paths(folder)
    if not paths:
        return None
    tables = [read_shard(p, columns, schema) for p in paths]
    return first_rows(pa.concat_tables(tables, promote_options="default"))


def stored_keys(folder) -> dict[str, set[int]]:
    """problem_id -> the sample indices stored in folder."""
    table = read_table(folder, KEY)
    done: dict[str, set[int]] = {}
    if table is None:
        return done
    for pid, idx in zip(table["problem_id"].to_pylist(), table["sample_index"].to_pylist()):
        done.setdefault(pid, set()).add(int(idx))
    return done


class KeySet:
    """(problem_id, sample_index) pairs as sorted int64 codes: a million keys in 8 MB, where a
    Python set of tuples takes over 100 MB. Problem ids outside `problem_ids` are never members."""

    def __init__(self, problem_ids: list[str]):
        self.index = {pid: i for i, pid in enumerate(problem_ids)}
        self.codes = np.zeros(0, dtype=np.int64)

    def encode(self, problem_id: pa.ChunkedArray | pa.Array, sample_index) -> np.ndarray:
        pids = problem_id.to_pylist() if hasattr(problem_id, "to_pylist") else list(problem_id)
        pix = np.fromiter((self.index.get(p, -1) for p in pids), dtype=np.int64, count=len(pids))
        idx = np.asarray(sample_index.to_numpy() if hasattr(sample_index, "to_numpy") else sample_index, dtype=np.int64)
        return np.where(pix >= 0, (pix << 32) | idx, -1)

    def add(self, codes: np.ndarray) -> None:
        self.codes = np.union1d(self.codes, codes[codes >= 0])

    def contains(self, codes: np.ndarray) -> np.ndarray:
        return np.isin(codes, self.codes, assume_unique=False)

    def __len__(self) -> int:
        return len(self.codes)


def folder_keys(folder, keys: KeySet) -> KeySet:
    """Add every key stored in folder to keys (shard by shard: only two columns in memory)."""
    for path in shard_paths(folder):
        t = read_shard(path, KEY)
        keys.add(keys.encode(t["problem_id"], t["sample_index"]))
    return keys


def iter_rows(folder, columns: list[str], problem_ids: list[str], batch: int = 10_000,
              skip: KeySet | None = None, only: KeySet | None = None):
    """Record batches of folder's shards in write order, each key once (its first row, as every
    reader counts it), without the keys in `skip` and, when given, only the keys in `only`;
    shard by shard, so memory holds one batch. columns must include problem_id and sample_index."""
    seen = KeySet(problem_ids)
    for path in shard_paths(folder):
        try:
            pf = pq.ParquetFile(path)
            cols = [c for c in columns if c in pf.schema_arrow.names]
            batches = pf.iter_batches(batch_size=batch, columns=cols)
            for rb in batches:
                codes = seen.encode(rb.column("problem_id"), rb.column("sample_index"))
                _, first = np.unique(codes, return_index=True)
                keep = np.zeros(len(codes), dtype=bool)
                keep[first] = True
                keep &= (codes >= 0) & ~seen.contains(codes)
                seen.add(codes)
                if skip is not None:
                    keep &= ~skip.contains(codes)
                if only is not None:
                    keep &= only.contains(codes)
                if keep.any():
                    yield rb.filter(pa.array(keep))
        except StoreError:
            raise
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise _damaged(path, exc) from None


# ------------------------------------------------------------------------------------ run files


def samples_dir(run_dir) -> Path:
    return Path(run_dir) / "samples"


def verdicts_dir(run_dir) -> Path:
    return Path(run_dir) / "verdicts"


def write_samples(run_dir, rows) -> Path | None:
    return write_shard(samples_dir(run_dir), rows, SAMPLES_SCHEMA)


def write_verdicts(run_dir, rows) -> Path | None:
    return write_shard(verdicts_dir(run_dir), rows, VERDICTS_SCHEMA)


def read_samples(run_dir, columns: list[str] | None = None) -> pa.Table | None:
    return read_table(samples_dir(run_dir), columns, SAMPLES_SCHEMA)


def read_verdicts(run_dir, columns: list[str] | None = None) -> pa.Table | None:
    return read_table(verdicts_dir(run_dir), columns, VERDICTS_SCHEMA)


def write_problems(run_dir, table: pa.Table) -> None:
    tmp = Path(run_dir) / "problems.parquet.tmp"
    extras = [f for f in PROBLEM_EXTRAS if f.name in table.column_names]
    schema = pa.schema(list(PROBLEMS_SCHEMA) + extras)
    pq.write_table(table.select(schema.names).cast(schema), tmp)
    os.replace(tmp, Path(run_dir) / "problems.parquet")


def read_problems(run_dir) -> list[dict]:
    path = Path(run_dir) / "problems.parquet"
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise StoreError(f"{path} is missing; create the run with `monkeys run CONFIG --out {run_dir}`") from None
    except Exception as exc:
        raise StoreError(f"{path} is damaged ({exc}); re-create it with `monkeys run CONFIG --out {run_dir}`") from None
    missing = {"problem_id", "prompt", "reference", "verifier"} - set(table.column_names)
    if missing:
        raise StoreError(f"{path} lacks column(s) {sorted(missing)}; re-create it with `monkeys run`")
    return table.to_pylist()


# ------------------------------------------------------------------------------------ scores
#
# A scorer's column holds one float per sample (higher: more likely right). Each scoring pass
# writes shards holding the key and the columns it computed; a key's value for a scorer is the
# first non-null one written, so scorers run at different times (or resumed) never overwrite
# each other and a reader sees one row per key with every scorer's column.

SCORE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def score_schema(names) -> pa.Schema:
    for name in names:
        if not SCORE_NAME.match(name) or name in KEY:
            raise StoreError(f"score name {name!r} is not a plain lower-case identifier")
    return pa.schema([("problem_id", pa.string()), ("sample_index", pa.int64())]
                     + [(name, pa.float64()) for name in names])


def scores_dir(run_dir) -> Path:
    return Path(run_dir) / "scores"


def write_scores(run_dir, rows, names) -> Path | None:
    """One shard of scores: rows (dicts or a table) with problem_id, sample_index and `names`."""
    return write_shard(scores_dir(run_dir), rows, score_schema(names))


def score_names(run_dir) -> list[str]:
    """Every scorer column found in the scores shards, in first-seen order."""
    names: list[str] = []
    for path in shard_paths(scores_dir(run_dir)):
        try:
            cols = pq.read_schema(path).names
        except Exception as exc:
            raise _damaged(path, exc) from None
        names += [c for c in cols if c not in KEY and c not in names]
    return names


def scored_keys(run_dir, name: str, keys: KeySet) -> KeySet:
    """Add to keys every sample that has a `name` score (shard by shard)."""
    for path in shard_paths(scores_dir(run_dir)):
        try:
            if name not in pq.read_schema(path).names:
                continue
        except Exception as exc:
            raise _damaged(path, exc) from None
        t = read_shard(path, KEY + [name])
        t = t.filter(pc.is_valid(t[name]))
        keys.add(keys.encode(t["problem_id"], t["sample_index"]))
    return keys


def read_scores(run_dir, names: list[str] | None = None) -> pa.Table | None:
    """problem_id, sample_index and one column per scorer (all found, or `names`): one row per
    scored sample, each value the first non-null one written for its key (null where a scorer
    has not scored that sample). None when nothing is scored."""
    names = score_names(run_dir) if names is None else list(names)
    if not names or not shard_paths(scores_dir(run_dir)):
        return None
    schema = score_schema(names)
    # Not read_table: its dedupe keeps a key's first row, and a later shard of another scorer
    # holds the same keys. Here each scorer keeps its own first non-null value.
    table = pa.concat_tables([read_shard(p, None) for p in shard_paths(scores_dir(run_dir))],
                             promote_options="default")
    merged = None
    for name in names:
        if name not in table.column_names:
            continue
        col = table.select(KEY + [name])
        col = first_rows(col.filter(pc.is_valid(col[name])))
        merged = col if merged is None else merged.join(col, keys=KEY, join_type="full outer")
    if merged is None:
        return None
    for name in names:
        if name not in merged.column_names:
            merged = merged.append_column(name, pa.nulls(merged.num_rows, pa.float64()))
    return merged.select(schema.names).cast(schema)


# ------------------------------------------------------------------------------------ audit


def audit_path(run_dir) -> Path:
    return Path(run_dir) / "audit.json"


def write_audit(run_dir, doc: dict) -> Path:
    path = audit_path(run_dir)
    write_text_atomic(path, json.dumps(doc, indent=1))
    return path


def read_audit(run_dir) -> dict | None:
    """audit.json of a run directory (written by `monkeys audit`), or None when there is none."""
    path = audit_path(run_dir)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is damaged ({exc}); delete it and run `monkeys audit {run_dir}` again") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("problems"), dict):
        raise StoreError(f"{path} was not written by `monkeys audit`; delete it and run `monkeys audit {run_dir}`")
    return doc


# ------------------------------------------------------------------------------------ the run as data


def _scores_as_arrays(run_dir) -> dict | None:
    table = read_scores(run_dir)
    if table is None:
        return None
    scores = {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names}
    scores["problem_id"] = table["problem_id"].to_pylist()
    return scores


def read_run(run_dir) -> dict:
    """What the analyzer needs from a run directory, as plain data.

    run_dir; config: config.toml as parsed ({} without one; [model] always a table);
    problem_ids (sorted), n and c per problem; per verified sample, sorted by problem and
    sample index: group (the problem's index), sample_index, correct, extracted_answer (a list,
    None where there is none); from the samples shards, aligned with those: prompt_tokens,
    completion_tokens, elapsed_s (float arrays) and worker (a list), left out, with a
    note_samples saying why, when some verified sample has no sample row; scores
    ({"problem_id", "sample_index", <scorer>: values}, or None) and audit (audit.json, or None).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise StoreError(f"{run_dir}: not a directory; pass the run directory (runs/<name>)")
    optional = pa.schema([VERDICTS_SCHEMA.field("extracted_answer")])  # older verdicts may lack it
    verdicts = read_table(verdicts_dir(run_dir), KEY + ["correct", "extracted_answer"], optional)
    if verdicts is None or verdicts.num_rows == 0:
        raise StoreError(f"{run_dir}: no verdicts (verdicts/part-*.parquet); run verification first")
    cost = ["prompt_tokens", "completion_tokens", "worker", "elapsed_s"]
    samples = read_table(samples_dir(run_dir), KEY + cost, SAMPLES_SCHEMA)
    joined = verdicts if samples is None else verdicts.join(samples, keys=KEY, join_type="left outer")
    joined = joined.sort_by([("problem_id", "ascending"), ("sample_index", "ascending")])
    if joined["correct"].null_count:
        raise StoreError(f"{run_dir}/verdicts: {joined['correct'].null_count} verdict(s) with null 'correct'; "
                         "re-run verification")
    problem_ids, group = np.unique(joined["problem_id"].to_numpy(zero_copy_only=False).astype(str),
                                   return_inverse=True)
    correct = joined["correct"].to_numpy(zero_copy_only=False).astype(bool)
    doc = read_config_doc(run_dir) if config_path(run_dir).exists() else {}
    if isinstance(doc.get("model"), str):  # a hand-written config names the model; a run's copy has a table
        doc["model"] = {"name": doc["model"]}
    out = {"run_dir": str(run_dir), "config": doc, "problem_ids": problem_ids,
           "n": np.bincount(group, minlength=len(problem_ids)),
           "c": np.bincount(group, weights=correct, minlength=len(problem_ids)).astype(np.int64),
           "group": group, "correct": correct, "sample_index": joined["sample_index"].to_numpy(),
           "extracted_answer": joined["extracted_answer"].to_pylist(),
           "scores": _scores_as_arrays(run_dir), "audit": read_audit(run_dir)}
    if samples is not None:
        unmatched = joined["completion_tokens"].null_count
        if unmatched:
            out["note_samples"] = (f"{unmatched} verdict(s) have no matching sample row; token, FLOPs and "
                                   "dollar axes omitted")
        else:
            for col in ("prompt_tokens", "completion_tokens", "elapsed_s"):
                out[col] = joined[col].to_numpy(zero_copy_only=False).astype(np.float64)
            out["worker"] = joined["worker"].to_pylist()
    return out


# ------------------------------------------------------------------------------------ config


def config_path(run_dir) -> Path:
    return Path(run_dir) / "config.toml"


def read_config_doc(run_dir) -> dict:
    """config.toml of a run directory as parsed TOML (the experiment, [model], [model_info], [versions])."""
    path = config_path(run_dir)
    if not path.exists():
        raise StoreError(f"{run_dir} has no config.toml; it is not a run directory (start one with "
                         "`monkeys run CONFIG`)")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: invalid TOML ({exc}); restore it, or start a new run directory") from None


def model_path(run_dir) -> str | None:
    """The model's local path as config.toml's [model] table recorded it (None if it has none)."""
    model = read_config_doc(run_dir).get("model")
    return model.get("path") if isinstance(model, dict) else None


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
