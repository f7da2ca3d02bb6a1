"""Bad input ends in one line naming the problem, exit status 2, and no lost data."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

BASE = """
name = "bad"
model = "{model}"
[task]
name = "{task}"
source = "{source}"
limit = 2
[sampling]
n = 2
"""


def monkeys(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def config(tmp_path, model="embedded:smollm2-135m-instruct", task="gsm8k", source=""):
    path = tmp_path / "exp.toml"
    path.write_text(BASE.format(model=model, task=task, source=source))
    return path


def assert_user_error(result, *words):
    code, out, err = result
    assert code == 2, (code, out, err)
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ")
    for word in words:
        assert word in last, last


def test_unknown_task(tmp_path):
    assert_user_error(monkeys("run", config(tmp_path, task="humaneva"), "--out", tmp_path / "r"),
                      "unknown task 'humaneva'", "humaneval")


def test_missing_data_file(tmp_path):
    assert_user_error(monkeys("run", config(tmp_path, source=str(tmp_path / "gone.jsonl")), "--out", tmp_path / "r"),
                      "gone.jsonl", "does not exist")


def test_malformed_dataset_row(tmp_path):
    data = tmp_path / "gsm.jsonl"
    data.write_text('{"question": "1+1?", "answer": "#### 2"}\n{"question": "oops"\n')
    assert_user_error(monkeys("run", config(tmp_path, source=data), "--out", tmp_path / "r"), "gsm.jsonl:2", "malformed JSON")


def test_missing_gold_answer(tmp_path):
    data = tmp_path / "gsm.jsonl"
    data.write_text('{"question": "1+1?", "answer": "two, no marker"}\n')
    assert_user_error(monkeys("run", config(tmp_path, source=data), "--out", tmp_path / "r"), "gsm.jsonl", "row 1")


def test_missing_model_directory(tmp_path, data_file):
    cfg = config(tmp_path, model=str(tmp_path / "no-such-checkpoint"), source=data_file("gsm8k/test.jsonl"))
    assert_user_error(monkeys("run", cfg, "--out", tmp_path / "r"), "no-such-checkpoint", "does not exist")


def test_model_directory_without_config(tmp_path, data_file):
    (tmp_path / "ckpt").mkdir()
    cfg = config(tmp_path, model=str(tmp_path / "ckpt"), source=data_file("gsm8k/test.jsonl"))
    assert_user_error(monkeys("run", cfg, "--out", tmp_path / "r"), "config.json")


def test_broken_config(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text("name = 'x'\nmodel = 'm'\n[task]\nname = 'gsm8k'\n")
    assert_user_error(monkeys("run", path), "sampling.n")
    assert_user_error(monkeys("run", tmp_path / "absent.toml"), "absent.toml", "does not exist")


def test_stage_on_a_directory_that_is_not_a_run(tmp_path):
    assert_user_error(monkeys("verify", tmp_path), "no config.toml")
    assert_user_error(monkeys("sample", tmp_path), "no config.toml")


def test_refuses_to_mix_experiments_and_keeps_data(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "keep.txt").write_text("results")
    assert_user_error(monkeys("run", config(tmp_path, task="gsm8k"), "--out", run), "not empty")
    assert (run / "keep.txt").read_text() == "results"


def test_unknown_command_and_help():
    code, _, err = monkeys("smaple")
    assert code == 2 and "invalid choice" in err and "Traceback" not in err
    code, out, _ = monkeys("--help")
    assert code == 0 and "demo" in out and "verify" in out


def test_every_command_is_in_the_one_tree_with_its_help_and_the_version():
    for command, option in (("analyze", "--forecast-check"), ("compare", "--bootstrap"), ("plan", "--target"),
                            ("verify-file", "--samples"), ("run", "--set")):
        code, out, err = monkeys(command, "--help")
        assert code == 0 and f"usage: monkeys {command}" in out and option in out, (command, err)
    assert_user_error(monkeys("analyze", "--bogus"), "--bogus", "monkeys analyze --help")
    assert_user_error(monkeys("verify-file", "--task", "gsm8k"), "--samples", "monkeys verify-file --help")
    code, out, _ = monkeys("--version")
    assert code == 0 and re.fullmatch(r"monkeys \d+\.\d+\S*", out.strip()), out


def test_version_without_an_installed_package_is_pyprojects(monkeypatch):
    import tomllib

    from experiments import cli

    def not_installed(name):
        raise cli.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(cli.metadata, "version", not_installed)
    assert cli.version() == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_set_names_an_unknown_key_or_a_bad_value(tmp_path):
    path = config(tmp_path)
    assert_user_error(monkeys("run", path, "--set", "sampling.nn=64"), "exp.toml", "unknown key 'sampling.nn'")
    assert_user_error(monkeys("run", path, "--set", "engine.num_engines=four"), "engine.num_engines = 'four'", "int")
    assert_user_error(monkeys("run", path, "--set", "sampling.n"), "expected KEY=VALUE")


def test_more_engines_than_the_machine_has(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(BASE.format(model="embedded:smollm2-135m-instruct", task="humaneval", source="")
                    + "[engine]\nnum_engines = 512\n")
    assert_user_error(monkeys("run", path, "--out", tmp_path / "r"), "num_engines = 512", "lower [engine] num_engines")
    assert (tmp_path / "r" / "problems.parquet").exists()  # what was prepared stays


def test_task_settings_the_task_cannot_honour(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(BASE.format(model="embedded:smollm2-135m-instruct", task="humaneval", source="")
                    .replace("limit = 2", "shots = 3"))
    assert_user_error(monkeys("run", path, "--out", tmp_path / "r"), "task.shots = 3", "set shots = 0")
    data = tmp_path / "gsm.jsonl"
    data.write_text('{"question": "1+1?", "answer": "#### 2"}\n{"question": "2+2?", "answer": "#### 4"}\n')
    path.write_text(BASE.format(model="embedded:smollm2-135m-instruct", task="gsm8k", source=data)
                    .replace("limit = 2", "subset = 5"))
    assert_user_error(monkeys("run", path, "--out", tmp_path / "r"), "task.subset = 5 is more than the 2 problems")
    assert not (tmp_path / "r").exists()
