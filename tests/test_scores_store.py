"""Scores beside the samples: one column per scorer, each scorer's first written value wins,
scorers written at different times never overwrite each other, resume knows what is scored."""
import pyarrow as pa
import pytest

from experiments.rundir import (KeySet, StoreError, iter_rows, read_scores, score_names, scored_keys,
                                scores_dir, write_scores, write_shard, SAMPLES_SCHEMA)


def _scores(pid, idx, **cols):
    return pa.table({"problem_id": [pid] * len(idx), "sample_index": idx, **cols})


def test_scorers_written_apart_read_as_one_row_per_sample(tmp_path):
    assert read_scores(tmp_path) is None
    write_scores(tmp_path, _scores("p", [0, 1], logprob=[-0.5, -1.5]), ["logprob"])
    write_scores(tmp_path, _scores("p", [1, 0], judge=[0.9, 0.2]), ["judge"])       # later, other order
    write_scores(tmp_path, _scores("p", [0], logprob=[-9.0]), ["logprob"])           # a redone batch: loses
    write_scores(tmp_path, _scores("q", [0], judge=[0.4]), ["judge"])                # judge only
    assert score_names(tmp_path) == ["logprob", "judge"]
    rows = {(r["problem_id"], r["sample_index"]): r for r in read_scores(tmp_path).to_pylist()}
    assert rows[("p", 0)] == {"problem_id": "p", "sample_index": 0, "logprob": -0.5, "judge": 0.2}
    assert rows[("p", 1)]["logprob"] == -1.5 and rows[("p", 1)]["judge"] == 0.9
    assert rows[("q", 0)]["logprob"] is None and rows[("q", 0)]["judge"] == 0.4
    assert len(rows) == 3
    only = read_scores(tmp_path, ["judge"])
    assert only.column_names == ["problem_id", "sample_index", "judge"] and only.num_rows == 3


def test_a_null_value_does_not_count_as_scored(tmp_path):
    write_scores(tmp_path, _scores("p", [0, 1], logprob=pa.array([None, -2.0], pa.float64())), ["logprob"])
    write_scores(tmp_path, _scores("p", [0], logprob=[-3.0]), ["logprob"])
    keys = scored_keys(tmp_path, "logprob", KeySet(["p"]))
    assert len(keys) == 2
    assert {r["sample_index"]: r["logprob"] for r in read_scores(tmp_path).to_pylist()} == {0: -3.0, 1: -2.0}
    assert len(scored_keys(tmp_path, "judge", KeySet(["p"]))) == 0


def test_score_names_must_be_plain(tmp_path):
    with pytest.raises(StoreError, match="identifier"):
        write_scores(tmp_path, _scores("p", [0], **{"Judge-1": [1.0]}), ["Judge-1"])
    with pytest.raises(StoreError, match="identifier"):
        write_scores(tmp_path, _scores("p", [0], sample_index=[1.0]), ["sample_index"])


def test_a_damaged_score_shard_is_named(tmp_path):
    write_scores(tmp_path, _scores("p", [0], logprob=[-1.0]), ["logprob"])
    bad = scores_dir(tmp_path) / "part-99999999999999999999-deadbeef.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(StoreError, match="deadbeef"):
        read_scores(tmp_path)


def test_iter_rows_hands_out_each_key_once_in_write_order(tmp_path):
    def rows(pid, idx, tag):
        return [{"problem_id": pid, "sample_index": i, "seed": i, "text": f"{tag}{i}", "prompt_tokens": 1,
                 "completion_tokens": 1, "finish_reason": "stop", "worker": "w", "elapsed_s": 0.1,
                 "engine": "e", "engine_seed": 0} for i in idx]
    folder = tmp_path / "samples"
    write_shard(folder, rows("p", [0, 1], "a"), SAMPLES_SCHEMA)
    write_shard(folder, rows("p", [1, 2], "b") + rows("x", [0], "z"), SAMPLES_SCHEMA)   # x: not a problem
    got = [(r["sample_index"], r["text"]) for rb in iter_rows(folder, ["problem_id", "sample_index", "text"], ["p"],
                                                               batch=1) for r in rb.to_pylist()]
    assert got == [(0, "a0"), (1, "a1"), (2, "b2")]
    skip = KeySet(["p"])
    skip.add(skip.encode(["p"], [0]))
    only = KeySet(["p"])
    only.add(only.encode(["p", "p"], [0, 1]))
    got = [r["text"] for rb in iter_rows(folder, ["problem_id", "sample_index", "text"], ["p"], skip=skip, only=only)
           for r in rb.to_pylist()]
    assert got == ["a1"]      # the second shard's copy of p/1 is never handed out
