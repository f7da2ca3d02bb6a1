"""Run directories, counts CSVs, the command-line entry points and the real Pythia data."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.counts import read_counts
from analysis.frontier import load_frontier
from analysis.passk import CountsError
from analysis.report import format_table
from analysis_fixtures import make_run, pythia_counts_path
from experiments.cli import main
from experiments.pipeline import stage_analyze
from experiments.rundir import read_run

CONFIG = """
[model]
name = "tiny"
[model_info]
parameters = 135000000
layers = 30
d_model = 576
[pricing]
gpu_hour_usd = 3.0
"""


def test_tiny_run_two_problems_four_samples(tmp_path):
    run = make_run(tmp_path / "run", {"a": [True, False, False, False], "b": [False, False, True, True]},
                   config=CONFIG)
    (run / "verdicts" / "part-00009.parquet.tmp").write_bytes(b"half a shard")
    rep = stage_analyze(run, num_boot=50)
    assert rep["num_problems"] == 2 and rep["samples_per_problem"] == 4
    cov = dict(zip(rep["coverage"]["k"], rep["coverage"]["pass_at_k"]))
    assert cov[1] == pytest.approx((1 / 4 + 2 / 4) / 2)
    assert cov[4] == 1.0
    assert len(rep["coverage"]["ci_low"]) == len(rep["coverage"]["k"])
    assert set(rep["compute"]) >= {"tokens", "flops", "dollars"}
    assert (run / "coverage.png").stat().st_size > 0 and (run / "coverage.svg").exists()
    on_disk = json.loads((run / "report.json").read_text())
    assert on_disk["coverage"]["pass_at_k"] == rep["coverage"]["pass_at_k"]
    assert rep["plot"] == str(run / "coverage.png")
    table = format_table(rep)
    assert "37.50%" in table and "100.00%" in table


def test_unequal_n_and_missing_model_info(tmp_path):
    rng = np.random.default_rng(0)
    correct = {f"p{i}": list(rng.random(12 + 4 * i) < 0.3) for i in range(5)}
    rep = stage_analyze(make_run(tmp_path / "run", correct), num_boot=20)
    assert rep["samples_per_problem"] == 12 and rep["samples_per_problem_range"] == [12, 28]
    assert any("FLOPs axis omitted" in note for note in rep["notes"])
    assert "flops" not in rep["compute"]
    assert any("unequal n" in note for note in rep["notes"])


def test_vote_curve_present_and_bounded_by_coverage(tmp_path):
    rng = np.random.default_rng(1)
    correct = {f"p{i}": list(rng.random(16) < 0.4) for i in range(6)}
    rep = stage_analyze(make_run(tmp_path / "run", correct, config=CONFIG), num_boot=20)
    vote = rep["vote"]
    every = rep["coverage_every_k"]
    for k, v in zip(vote["k"], vote["vote_at_k"]):
        assert 0 <= v <= every[k - 1] + 0.05          # vote@k is a Monte Carlo estimate


def test_vote_exact_cases():
    from analysis.selection import vote_at_k
    # problem 0: 6 wrong "x", 4 right "y"; problem 1: all right "z"; problem 2: no answers at all
    group = [0] * 10 + [1] * 10 + [2] * 10
    answers = ["x"] * 6 + ["y"] * 4 + ["z"] * 10 + [None] * 10
    correct = [False] * 6 + [True] * 4 + [True] * 10 + [False] * 10
    out = vote_at_k(group, answers, correct, ks=[10])
    assert out["accuracy"].tolist() == [pytest.approx(1 / 3)] and out["stderr"][0] == 0
    assert vote_at_k([0, 0], [None, None], [False, True], ks=[1]) is None


def test_duplicate_sample_rows_count_once(tmp_path):
    run = make_run(tmp_path / "run", {"a": [True, False]}, shards=1)
    t = pq.read_table(run / "verdicts" / "part-00000.parquet")
    pq.write_table(t, run / "verdicts" / "part-00001.parquet")
    rep = stage_analyze(run, num_boot=10)
    assert rep["samples_per_problem"] == 2


def test_missing_column_and_missing_verdicts_are_clear(tmp_path):
    run = tmp_path / "run"
    (run / "verdicts").mkdir(parents=True)
    assert main(["analyze", str(run)]) == 2
    pq.write_table(pa.table({"problem_id": ["a"], "sample_index": [0]}), run / "verdicts" / "part-00000.parquet")
    with pytest.raises(ValueError, match="missing column"):
        stage_analyze(run)


def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("body,msg", [
    ("", "empty file"),
    ("problem_id,n,c\n", "no rows"),
    ("problem_id,n\n1,5\n", "missing column 'c'"),
    ("problem_id,n,c\n1,5,6\n", "exceeds"),
    ("problem_id,n,c\n1,5,-1\n", "negative"),
    ("problem_id,n,c\n1,5.5,1\n", "whole number"),
    ("problem_id,n,c\n1,five,1\n", "not a number"),
])
def test_counts_csv_hostile_input(tmp_path, capsys, body, msg):
    path = _write(tmp_path / "counts.csv", body)
    with pytest.raises(CountsError, match=msg):
        read_counts(path)
    assert main(["analyze", "--counts", path, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_counts_json_and_compare(tmp_path, capsys):
    rows = "model,problem_id,n,c\n" + "".join(f"m{m},{i},20,{(i * (m + 1)) % 7}\n" for m in range(2) for i in range(10))
    path = _write(tmp_path / "counts.csv", rows)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["analyze", "--counts", path, "--out", str(out), "--json", str(out / "slim.json"),
                 "--bootstrap", "20"]) == 0
    slim = json.loads((out / "slim.json").read_text())
    assert set(slim) == {"m0", "m1"} and len(slim["m0"]["coverage"]) == 20 and "a" in slim["m0"]
    assert (out / "coverage.png").exists()
    run = make_run(tmp_path / "run", {"a": [True, False], "b": [False, False]})
    assert main(["compare", str(run), path, "--out", str(tmp_path / "cmp"), "--bootstrap", "10"]) == 0
    assert (tmp_path / "cmp.png").exists()
    assert main(["compare", str(tmp_path / "nope")]) == 2
    assert main(["analyze"]) == 2
    assert main(["analyze", "--bogus"]) == 2


def test_frontier_table_is_cited_and_crossover_found(tmp_path):
    rows = load_frontier()
    assert rows and all(r["source"] and 0 < r["score"] <= 1 for r in rows)
    cfg = CONFIG + '\n[task]\nname = "MATH"\n'
    correct = {f"p{i}": [j % (i + 2) == 0 for j in range(64)] for i in range(6)}
    rep = stage_analyze(make_run(tmp_path / "run", correct, config=cfg), num_boot=20)
    names = {f["model"] for f in rep["frontier"]}
    assert "GPT-4o" in names
    for f in rep["frontier"]:
        cross = f["crossovers"][0]
        every = rep["coverage_every_k"]
        assert every[cross["k"] - 1] >= f["score"] and (cross["k"] == 1 or every[cross["k"] - 2] < f["score"])
        assert cross["observed"] and "dollars" in cross


def test_measured_frontier_run(tmp_path):
    single = make_run(tmp_path / "big", {"a": [True], "b": [False], "c": [True], "d": [True]},
                      config='[model]\nname = "big-api-model"\n')
    small = make_run(tmp_path / "small", {f"p{i}": [j % (i + 2) == 0 for j in range(32)] for i in range(4)})
    rep = stage_analyze(small, num_boot=10, frontier_runs=[read_run(single)])
    (fr,) = rep["frontier"]
    assert fr["model"] == "big-api-model" and fr["score"] == 0.75


@pytest.fixture
def pythia():
    path = pythia_counts_path()
    if not path.is_file():
        pytest.skip(f"shared Pythia counts not found at {path}; set MONKEYS_SHARED_DATA to the shared data folder")
    return read_counts(path)


def test_pythia_reproduces_paper_numbers(pythia):
    from analysis.report import curve_report
    assert len(pythia) == 7 and all(len(r["n"]) == 128 for r in pythia.values())
    rep = curve_report(pythia["Pythia 160M"]["n"], pythia["Pythia 160M"]["c"], num_boot=50)
    every = rep["coverage_every_k"]
    # Brown et al. 2024: Pythia-160M on MATH, 0.27% with one sample, 57% with 10,000
    assert round(100 * every[0], 2) == 0.27
    assert round(100 * every[-1]) == 57
    assert rep["fit"]["a"] < 0 and rep["fit"]["b"] < 0


def test_gpu_hours_count_every_gpu_of_a_tensor_parallel_engine(tmp_path):
    """The engines report the GPUs they hold ([model_info] gpus_per_engine); GPU-hours are
    engine-hours times that, unless [pricing] gpus_per_worker says otherwise."""
    flags = {"a": [True, False], "b": [False, False]}
    tp4_cfg = CONFIG.replace("d_model = 576", "d_model = 576\ngpus_per_engine = 4")
    one = stage_analyze(make_run(tmp_path / "one", flags, config=CONFIG), num_boot=10)
    tp4 = stage_analyze(make_run(tmp_path / "tp4", flags, config=tp4_cfg), num_boot=10)
    assert tp4["compute"]["gpu_hours_measured"] == pytest.approx(4 * one["compute"]["gpu_hours_measured"])
    assert tp4["compute"]["dollars"][-1] == pytest.approx(4 * one["compute"]["dollars"][-1])
    priced = tp4_cfg.replace("gpu_hour_usd = 3.0", "gpu_hour_usd = 3.0\ngpus_per_worker = 2")
    two = stage_analyze(make_run(tmp_path / "two", flags, config=priced), num_boot=10)
    assert two["compute"]["gpu_hours_measured"] == pytest.approx(2 * one["compute"]["gpu_hours_measured"])


def test_duplicate_rows_keep_the_first_written(tmp_path):
    """The run directory's one rule: a key in two shards counts once, as first written."""
    run = make_run(tmp_path / "run", {"a": [True, False]}, shards=1)
    t = pq.read_table(run / "verdicts" / "part-00000.parquet")
    wrong = t.set_column(t.column_names.index("correct"), "correct", pa.array([False, False]))
    pq.write_table(wrong, run / "verdicts" / "part-00001.parquet")   # written later: ignored
    assert stage_analyze(run, num_boot=10)["total_correct"] == 1
    pq.write_table(wrong, run / "verdicts" / "part-00000.parquet")   # now first: it wins
    pq.write_table(t, run / "verdicts" / "part-00001.parquet")
    assert stage_analyze(run, num_boot=10)["total_correct"] == 0


def test_frontier_labels_never_overlap_and_keep_their_order():
    from analysis.plots import spread

    scores = [0.920, 0.902, 0.890, 0.40, 0.99]
    pos = spread(scores, gap=0.045, low=0.03, high=0.99)
    order = np.argsort(scores)
    assert np.all(np.diff(np.asarray(pos)[order]) >= 0.045 - 1e-12)   # apart, same order as the scores
    assert min(pos) >= 0.03 and max(pos) <= 0.99 + 1e-12
    assert pos[3] == pytest.approx(0.40)                                # a lone label stays on its line
    assert spread([0.5], 0.05) == [0.5]


def test_caption_says_what_was_measured_and_where_frontier_scores_come_from(tmp_path):
    run = make_run(tmp_path / "run", {"a": [True, False], "b": [False, False]},
                   config=CONFIG + '\n[task]\nname = "humaneval"\n')
    rep = stage_analyze(run, num_boot=10)
    from analysis.report import plot_caption

    cap = plot_caption(rep)
    assert cap.startswith("humaneval: 2 problems, n = 2 samples each")
    assert "full HumanEval set (164 problems), not these 2" in cap
    rep["frontier"] = []
    assert "Frontier" not in plot_caption(rep)
