"""Experiment configs: every mistake is named, defaults are filled, the run copy round-trips."""
import tomllib

import pytest

from experiments import config
from experiments.cli import CONFIGS

GOOD = """
name = "x"
model = "embedded:smollm2-135m-instruct"
[task]
name = "humaneval"
limit = 2
[sampling]
n = 4
temperature = 0.8
"""


def _load(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return config.load(path)


def test_defaults_and_round_trip(tmp_path):
    cfg = _load(tmp_path, GOOD)
    assert cfg.sampling.top_p == 1.0 and cfg.seed == 0 and cfg.engine.num_engines == 1
    again = config.check(tomllib.loads(config.dumps(cfg)), "copy")
    assert again == cfg


def test_shipped_configs_load():
    names = {config.load(p).task.name for p in CONFIGS.glob("*.toml")}
    assert {"humaneval", "gsm8k", "math500", "codecontests"} <= names


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_passes_validation(path):
    from experiments import tasks

    cfg = tasks.resolve(config.load(path))  # the task's own checks too (shots, task options)
    if path.stem.startswith("paper-"):
        assert cfg.name == path.stem
    assert isinstance(cfg.sampling.stop, list)


@pytest.mark.parametrize("text, words", [
    (GOOD.replace('name = "x"\n', ""), ["missing required key 'name'"]),
    (GOOD.replace("n = 4", ""), ["missing required key 'sampling.n'", "[sampling]"]),
    (GOOD.replace("temperature", "temprature"), ["unknown key 'sampling.temprature'", "temperature"]),
    (GOOD.replace("n = 4", 'n = "4"'), ["sampling.n", "int"]),
    (GOOD.replace("n = 4", "n = 0"), ["sampling.n", "at least 1"]),
    (GOOD.replace("n = 4", "n = true"), ["sampling.n", "int"]),
    (GOOD.replace("temperature = 0.8", "temperature = nan"), ["temperature", "finite"]),
    (GOOD + "\n[sampler]\nn = 3\n", ["unknown section [sampler]"]),
    (GOOD.replace('name = "x"', 'name = "../x"'), ["plain directory name"]),
    (GOOD + '\n[engine]\nper_sample_seeds = "yes"\n', ["per_sample_seeds"]),
    (GOOD.replace('model = "embedded:smollm2-135m-instruct"', 'model = "m"\nbackend = "openai"'), ["base_url"]),
    (GOOD.replace("[task]", "[task\n"), ["invalid TOML"]),
    (GOOD.replace("limit = 2", "subset = -1"), ["task.subset", ">= 0"]),
    (GOOD.replace("limit = 2", "subset = 1.5"), ["task.subset", "int"]),
    (GOOD.replace("limit = 2", "time_buffer = -1"), ["task.time_buffer", ">= 0"]),
    (GOOD.replace("limit = 2", 'shots_seed = "0"'), ["task.shots_seed", "int"]),
    (GOOD.replace("temperature = 0.8", 'stop = ["a", ""]'), ["sampling.stop", "non-empty strings"]),
    (GOOD + '\n[score]\nscorers = ["logprob", "oracle"]\n', ["score.scorers", "logprob, judge, reward"]),
    (GOOD + '\n[score]\nscorers = ["reward"]\n', ["score.reward_model", "is required"]),
    (GOOD + '\n[score]\nbatch = 0\n', ["score.batch"]),
])
def test_mistakes_are_named(tmp_path, text, words):
    with pytest.raises(config.ConfigError) as err:
        _load(tmp_path, text)
    for word in words:
        assert word in str(err.value)
    assert "c.toml" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml")


def test_identity_ignores_n_but_not_temperature(tmp_path):
    a = _load(tmp_path, GOOD)
    assert config.differences(a, _load(tmp_path, GOOD.replace("n = 4", "n = 64"))) == []
    diff = config.differences(a, _load(tmp_path, GOOD.replace("0.8", "1.0")))
    assert diff == ["sampling.temperature: 0.8 in the run, 1.0 now"]


def test_identity_keeps_the_draws_but_not_the_sizes(tmp_path):
    a = _load(tmp_path, GOOD.replace("limit = 2", "subset = 32"))
    assert config.differences(a, _load(tmp_path, GOOD.replace("limit = 2", "subset = 128"))) == []
    assert config.differences(a, _load(tmp_path, GOOD.replace("limit = 2", "subset = 32\nsubset_seed = 1"))) == [
        "task.subset_seed: 0 in the run, 1 now"]
    assert config.differences(a, _load(tmp_path, GOOD.replace("limit = 2", "subset = 32\nshots_seed = 2"))) == [
        "task.shots_seed: 0 in the run, 2 now"]


def test_set_overrides_are_toml_values_and_checked_like_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(GOOD)
    cfg = config.load(path, ["sampling.n=64", "engine.num_engines=4", "task.source=data/x.jsonl",
                             'sampling.stop=["\\n\\n", "Q:"]', "engine.resources={node2 = 1}", "verify.timeout=2.5"])
    assert (cfg.sampling.n, cfg.engine.num_engines, cfg.task.source) == (64, 4, "data/x.jsonl")  # not TOML: text
    assert cfg.sampling.stop == ["\n\n", "Q:"] and cfg.engine.resources == {"node2": 1} and cfg.verify.timeout == 2.5
    assert cfg.sampling.temperature == 0.8                     # the file's other values stay
    for item, words in [("sampling.nn=3", ["c.toml", "unknown key 'sampling.nn'", "temperature"]),
                        ("sampling.n=lots", ["c.toml", "sampling.n = 'lots' should be int"]),
                        ("sampling.n=0", ["sampling.n = 0 must be at least 1"]),
                        ("sampler.n=3", ["unknown section [sampler]"]),
                        ("sampling.n", ["expected KEY=VALUE"]),
                        ("name.x=1", ["name is not a table"])]:
        with pytest.raises(config.ConfigError) as err:
            config.load(path, [item])
        for word in words:
            assert word in str(err.value), (item, str(err.value))


def test_run_set_changes_the_run_config(tmp_path, monkeypatch, capsys):
    """`monkeys run CONFIG --set KEY=VALUE`: the run directory records the overridden values."""
    from experiments import cli, pipeline

    data = tmp_path / "gsm.jsonl"
    data.write_text('{"question": "1+1?", "answer": "#### 2"}\n{"question": "2+2?", "answer": "#### 4"}\n')
    path = tmp_path / "c.toml"
    path.write_text(f'name = "x"\nmodel = "m"\nbackend = "openai"\n[engine]\nbase_url = "http://127.0.0.1:9/v1"\n'
                    f'[task]\nname = "gsm8k"\nsource = "{data}"\n[sampling]\nn = 4\n')
    monkeypatch.setattr(pipeline, "run", lambda cfg, run_dir: {"report": pipeline.prepare(cfg, run_dir)})
    monkeypatch.setattr(cli, "_print_report", lambda rep, run_dir: None)
    run = tmp_path / "run"
    assert cli.main(["run", str(path), "--out", str(run), "--set", "sampling.n=64", "--set", "task.limit=1",
                     "--set", "engine.concurrency=2"]) == 0
    recorded = tomllib.loads((run / "config.toml").read_text())
    assert (recorded["sampling"]["n"], recorded["task"]["limit"], recorded["engine"]["concurrency"]) == (64, 1, 2)
    assert len(pipeline.read_problems(run)) == 1
    assert cli.main(["run", str(path), "--out", str(run), "--set", "engine.concurency=2"]) == 2
    assert "unknown key 'engine.concurency'" in capsys.readouterr().err


OLD_RUN_COPY = """name = "paper-gsm8k"
seed = 0
backend = "vllm"

[model]
name = "embedded:smollm2-135m-instruct"
path = "/cache/smollm2-135m-instruct"

[task]
name = "gsm8k"
subset = 32
shots = 5
prompt = "raw"

[sampling]
n = 32
temperature = 1
top_p = 0.95
stop = ["Q:", "Question:"]

[engine]
resources = {node2 = 1}
placement_timeout = 600

[verify]
timeout = 5

[pricing]

[model_info]
layers = 30
gpus_per_engine = 0

[versions]
monkeys = "0.1.0"
"""


def test_a_run_directory_written_before_still_reads(tmp_path):
    """A run's config.toml as an earlier monkeys wrote it: [model] as a table, integers where
    numbers may be fractional, [model_info] and [versions] beside the experiment."""
    from experiments import pipeline, rundir

    (tmp_path / "config.toml").write_text(OLD_RUN_COPY)
    cfg = pipeline.read_run_config(tmp_path)
    assert (cfg.model, cfg.task.subset, cfg.sampling.temperature, cfg.engine.resources) == (
        "embedded:smollm2-135m-instruct", 32, 1.0, {"node2": 1.0})
    assert cfg.score.scorers == ["logprob"] and rundir.model_path(tmp_path) == "/cache/smollm2-135m-instruct"
    again = _load(tmp_path, OLD_RUN_COPY.split("[model_info]")[0].replace(
        '[model]\nname = "embedded:smollm2-135m-instruct"\npath = "/cache/smollm2-135m-instruct"',
        'model = "embedded:smollm2-135m-instruct"'))
    assert config.differences(cfg, again) == [] and config.check(tomllib.loads(config.dumps(cfg)), "copy") == cfg


def test_strings_survive_toml_escaping():
    doc = {"name": 'quote " back \\ newline \n tab \t unicode é', "t": {"stop": ["\n\n", "```"]}}
    assert tomllib.loads(config.dumps(doc)) == doc
