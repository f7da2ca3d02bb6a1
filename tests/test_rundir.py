"""The run directory's one owner: complete shards only, the one dedupe rule, damage reported by
name, resume bookkeeping, and seeds that never change."""
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from experiments.rundir import (SAMPLES_SCHEMA, VERDICTS_SCHEMA, KeySet, StoreError, first_rows, folder_keys,
                                read_table, shard_paths, stored_keys, write_shard)
from sampler.driver import plan_units
from sampler.seeds import engine_seed, sample_seed


def _rows(pid, indices, text="t"):
    return [{"problem_id": pid, "sample_index": i, "seed": i, "text": f"{text}{i}", "prompt_tokens": 3,
             "completion_tokens": 2, "finish_reason": "stop", "worker": "h:1", "elapsed_s": 0.5,
             "engine": "engine-0", "engine_seed": 9} for i in indices]


def test_write_read_and_stored_keys(tmp_path):
    folder = tmp_path / "samples"
    assert read_table(folder) is None and stored_keys(folder) == {}
    assert write_shard(folder, [], SAMPLES_SCHEMA) is None and not folder.exists()
    a = write_shard(folder, _rows("p0", [0, 1]), SAMPLES_SCHEMA)
    b = write_shard(folder, _rows("p1", [3]), SAMPLES_SCHEMA)
    assert a != b and shard_paths(folder) == sorted([a, b])
    assert [p.name for p in folder.iterdir() if not p.name.startswith("part-")] == []  # no temp files left
    table = read_table(folder)
    assert table.num_rows == 3 and table.schema.equals(SAMPLES_SCHEMA)
    assert stored_keys(folder) == {"p0": {0, 1}, "p1": {3}}


def test_the_first_written_row_wins_for_every_reader(tmp_path):
    folder = tmp_path / "verdicts"
    write_shard(folder, [{"problem_id": "p", "sample_index": 0, "correct": True, "extracted_answer": None,
                          "detail": "first"}], VERDICTS_SCHEMA)
    write_shard(folder, [{"problem_id": "p", "sample_index": 0, "correct": False, "extracted_answer": None,
                          "detail": "second"},
                         {"problem_id": "p", "sample_index": 1, "correct": False, "extracted_answer": None,
                          "detail": "only"}], VERDICTS_SCHEMA)
    rows = read_table(folder).to_pylist()
    assert [(r["sample_index"], r["detail"]) for r in rows] == [(0, "first"), (1, "only")]
    # the same rule on a table built by hand, keys interleaved
    t = pa.table({"problem_id": ["a", "b", "a", "b", "a"], "sample_index": [0, 0, 0, 1, 0], "v": [1, 2, 3, 4, 5]})
    assert first_rows(t)["v"].to_pylist() == [1, 2, 4]


def test_older_shards_without_new_columns_read_as_nulls(tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    old = pa.Table.from_pylist([{k: v for k, v in r.items() if k not in ("engine", "engine_seed")}
                                for r in _rows("p", [0])])
    pq.write_table(old, folder / "part-00000000000000000001-aaaaaaaa.parquet")
    write_shard(folder, _rows("p", [1]), SAMPLES_SCHEMA)
    table = read_table(folder, ["problem_id", "sample_index", "engine"], SAMPLES_SCHEMA)
    assert table["engine"].to_pylist() == [None, "engine-0"]


def test_half_written_shard_is_ignored(tmp_path):
    folder = tmp_path / "samples"
    write_shard(folder, _rows("p0", [0]), SAMPLES_SCHEMA)
    (folder / ".part-999.parquet.tmp").write_bytes(b"PAR1 half a shard")  # a crash mid-write
    assert stored_keys(folder) == {"p0": {0}}


def test_damaged_shard_is_named_and_kept(tmp_path):
    folder = tmp_path / "samples"
    good = write_shard(folder, _rows("p0", [0, 1]), SAMPLES_SCHEMA)
    bad = folder / "part-99999999999999999999-deadbeef.parquet"
    bad.write_bytes(good.read_bytes()[:40])  # truncated copy
    with pytest.raises(StoreError) as err:
        read_table(folder)
    assert bad.name in str(err.value) and "move it out" in str(err.value)
    assert good.exists() and bad.exists()  # reporting never deletes data


def test_rows_must_match_schema(tmp_path):
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, TypeError)):
        write_shard(tmp_path, [{"problem_id": "p", "sample_index": "not a number"}], SAMPLES_SCHEMA)
    assert not any(tmp_path.glob("part-*"))


def test_keyset_membership(tmp_path):
    folder = tmp_path / "verdicts"
    write_shard(folder, [{"problem_id": p, "sample_index": i, "correct": False, "extracted_answer": None,
                          "detail": None} for p, i in [("a", 0), ("a", 7), ("b", 1)]], VERDICTS_SCHEMA)
    keys = folder_keys(folder, KeySet(["a", "b"]))
    assert len(keys) == 3
    codes = keys.encode(["a", "a", "b", "b", "zz"], [0, 1, 1, 7, 0])
    assert keys.contains(codes).tolist() == [True, False, True, False, False]
    assert codes[-1] == -1  # a problem the run does not have is never a member


def test_seeds_never_change():
    """Seeds are recorded and re-derived on resume, on any machine and version: pinned values."""
    assert sample_seed(0, "HumanEval/1", 5) == 850555002
    assert [engine_seed(0, 0, 0), engine_seed(0, 1, 0), engine_seed(0, 0, 1)] == [2142337288, 191651144, 254485831]
    seeds = {sample_seed(s, p, i) for s in (0, 1) for p in ("a", "b") for i in range(50)}
    assert len(seeds) == 200 and all(0 <= x < 2**31 for x in seeds)


def test_every_engine_and_restart_has_its_own_stream():
    seeds = [engine_seed(run, slot, restart) for run in (0, 1) for slot in range(8) for restart in range(4)]
    assert len(set(seeds)) == len(seeds)


def test_plan_units_covers_only_missing_indices():
    reqs = [{"problem_id": "a", "n": 10, "prompt": "x"}, {"problem_id": "b", "n": 3, "prompt_token_ids": [1, 2]}]
    units = plan_units(reqs, {"a": {0, 1, 5}, "b": {0, 1, 2}}, seed=7, unit_size=4)
    assert [u["indices"] for u in units] == [[2, 3, 4, 6], [7, 8, 9]]
    assert all(u["problem_id"] == "a" and u["prompt"] == "x" for u in units)
    assert units[0]["seeds"] == [sample_seed(7, "a", i) for i in (2, 3, 4, 6)]
    assert len({u["unit_id"] for u in units}) == 2
    fresh = plan_units(reqs, {}, seed=7, unit_size=64)
    assert [len(u["indices"]) for u in fresh] == [10, 3] and fresh[1]["prompt_token_ids"] == [1, 2]
