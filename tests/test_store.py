"""The sample store: complete shards only, damage reported by name, resume bookkeeping."""
import os

import pyarrow as pa
import pytest

from sampler.driver import plan_units
from sampler.seeds import sample_seed
from sampler.store import SAMPLES_SCHEMA, StoreError, existing, read_shards, shard_paths, write_shard


def _rows(pid, indices):
    return [{"problem_id": pid, "sample_index": i, "seed": i, "text": f"t{i}", "prompt_tokens": 3,
             "completion_tokens": 2, "finish_reason": "stop", "worker": "w", "elapsed_s": 0.5} for i in indices]


def test_write_read_and_existing(tmp_path):
    folder = tmp_path / "samples"
    assert read_shards(folder) is None and existing(folder) == {}
    assert write_shard(folder, [], SAMPLES_SCHEMA) is None
    a = write_shard(folder, _rows("p0", [0, 1]), SAMPLES_SCHEMA)
    b = write_shard(folder, _rows("p1", [3]), SAMPLES_SCHEMA)
    assert a != b and sorted(shard_paths(folder)) == sorted([a, b])
    assert [p.name for p in folder.iterdir() if not p.name.startswith("part-")] == []  # no temp files left
    table = read_shards(folder)
    assert table.num_rows == 3 and table.schema.equals(SAMPLES_SCHEMA)
    assert existing(folder) == {"p0": {0, 1}, "p1": {3}}


def test_half_written_shard_is_ignored(tmp_path):
    folder = tmp_path / "samples"
    write_shard(folder, _rows("p0", [0]), SAMPLES_SCHEMA)
    (folder / ".part-999.parquet.tmp").write_bytes(b"PAR1 half a shard")  # a crash mid-write
    assert existing(folder) == {"p0": {0}}


def test_damaged_shard_is_named(tmp_path):
    folder = tmp_path / "samples"
    good = write_shard(folder, _rows("p0", [0, 1]), SAMPLES_SCHEMA)
    bad = folder / "part-99999999999999999999-deadbeef.parquet"
    bad.write_bytes(good.read_bytes()[:40])  # truncated copy
    with pytest.raises(StoreError) as err:
        read_shards(folder)
    assert bad.name in str(err.value) and "move it out" in str(err.value)
    assert good.exists() and bad.exists()  # reporting never deletes data


def test_rows_must_match_schema(tmp_path):
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, TypeError)):
        write_shard(tmp_path, [{"problem_id": "p", "sample_index": "not a number"}], SAMPLES_SCHEMA)
    assert not any(tmp_path.glob("part-*"))


def test_seeds_are_a_pure_function():
    assert sample_seed(0, "HumanEval/1", 5) == sample_seed(0, "HumanEval/1", 5)
    seeds = {sample_seed(s, p, i) for s in (0, 1) for p in ("a", "b") for i in range(50)}
    assert len(seeds) == 200 and all(0 <= x < 2**31 for x in seeds)


def test_plan_units_covers_only_missing_indices():
    reqs = [{"problem_id": "a", "n": 10, "prompt": "x"}, {"problem_id": "b", "n": 3, "prompt_token_ids": [1, 2]}]
    units = plan_units(reqs, {"a": {0, 1, 5}, "b": {0, 1, 2}}, seed=7, unit_size=4)
    assert [u["indices"] for u in units] == [[2, 3, 4, 6], [7, 8, 9]]
    assert all(u["problem_id"] == "a" and u["prompt"] == "x" for u in units)
    assert units[0]["seeds"] == [sample_seed(7, "a", i) for i in (2, 3, 4, 6)]
    assert len({u["unit_id"] for u in units}) == 2
    fresh = plan_units(reqs, {}, seed=7, unit_size=64)
    assert [len(u["indices"]) for u in fresh] == [10, 3] and fresh[1]["prompt_token_ids"] == [1, 2]
