"""Experiment configs: TOML in, checked and filled with defaults, TOML out.

A config names one experiment. Everything that changes the samples (model, task, prompt,
few-shot draw, subset seed, sampling parameters other than `n`, seed, budget mode) is its
identity; a run directory refuses a config whose identity differs from the one it was started
with, so a directory never mixes two experiments. `n`, `limit`, `subset`, engine and verifier
settings may change between runs: raising `n`, `limit` or `subset` adds only the missing
samples (a seeded subset of 32 is the first 32 of the subset of 128; see experiments/tasks).

Left out, [sampling] stop is the task's default for the prompt style and task-specific keys
(task.time_buffer) take the task's default; experiments.tasks.resolve fills both in before a
run starts, and the run directory's config.toml records them.
"""
from __future__ import annotations

import copy
import json
import math
import tomllib
from pathlib import Path


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, the key and the fix."""


# section -> key -> (type(s), default); a default of ... means required.
SCHEMA: dict[str, dict[str, tuple]] = {
    "": {"name": (str, ...), "model": (str, ...), "seed": (int, 0), "backend": (str, "vllm")},
    "task": {"name": (str, ...), "source": (str, ""), "limit": (int, 0), "subset": (int, 0),
             "subset_seed": (int, 0), "shots": (int, 0), "shots_seed": (int, 0), "shots_source": (str, ""),
             "prompt": (str, "chat"), "time_buffer": ((int, float), None)},
    "sampling": {"n": (int, ...), "temperature": ((int, float), 1.0), "top_p": ((int, float), 1.0),
                 "top_k": (int, -1), "max_tokens": (int, 512), "stop": (list, None),
                 "logprobs": (bool, True)},
    "engine": {"num_engines": (int, 1), "kv_cache_gib": (int, 2), "enforce_eager": (bool, False),
               "max_model_len": (int, 0), "dtype": (str, "auto"), "tensor_parallel_size": (int, 1),
               "gpu_memory_utilization": ((int, float), 0.9), "unit_size": (int, 64),
               "inflight": (int, 256), "per_sample_seeds": (str, "off"), "ray_address": (str, ""),
               "cpus_per_engine": (int, 0), "resources": (dict, {}), "placement_timeout": ((int, float), 600),
               "start_timeout": ((int, float), 1800), "flush_seconds": ((int, float), 20),
               "base_url": (str, ""), "api_key_env": (str, "OPENAI_API_KEY"), "concurrency": (int, 8)},
    "verify": {"timeout": ((int, float), 10.0), "workers": (int, 0), "chunk": (int, 2000), "actors": (int, 0),
               "resources": (dict, {})},
    "score": {"scorers": (list, ["logprob"]), "judge_model": (str, ""), "reward_model": (str, ""),
              "reward_overrides": (dict, {}), "batch": (int, 256), "engines": (int, 1)},
    "budget": {"mode": (str, "uniform"), "stop_after": (int, 1), "cap": (int, 0), "total": (int, 0),
               "round": (int, 8), "growth": ((int, float), 0.0)},
    "pricing": {"gpu_hour_usd": ((int, float), None), "gpus_per_worker": ((int, float), None),
                "input_usd_per_mtok": ((int, float), None), "output_usd_per_mtok": ((int, float), None)},
}
# Written by the pipeline into the run directory's copy; accepted there, never required.
RECORDS = ("model_info", "versions", "resolved")
IDENTITY = (("", "model"), ("", "seed"), ("", "backend"), ("task", "name"), ("task", "source"),
            ("task", "subset_seed"), ("task", "shots"), ("task", "shots_seed"), ("task", "shots_source"),
            ("task", "prompt"), ("sampling", "temperature"), ("sampling", "top_p"),
            ("sampling", "top_k"), ("sampling", "max_tokens"), ("sampling", "stop"), ("budget", "mode"))
BACKENDS = ("vllm", "openai")
BUDGET_MODES = ("uniform", "solve")
PROMPTS = ("chat", "raw")


def _typename(t) -> str:
    return " or ".join(x.__name__ for x in (t if isinstance(t, tuple) else (t,)))


def check(raw: dict, where: str) -> dict:
    """Validate a parsed config and fill defaults; raise ConfigError naming the bad key."""
    for section in raw:
        if isinstance(raw[section], dict) and section not in SCHEMA and section not in RECORDS + ("model",):
            raise ConfigError(f"{where}: unknown section [{section}]; known sections: "
                              f"{', '.join(sorted(s for s in SCHEMA if s))}")
    cfg: dict = {}
    if isinstance(raw.get("model"), dict):  # a run directory's copy keeps the model as a table
        raw = dict(raw)
        raw["model"] = raw["model"].get("name")
    for section, keys in SCHEMA.items():
        src = raw if section == "" else raw.get(section, {})
        if not isinstance(src, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        dst = cfg if section == "" else cfg.setdefault(section, {})
        for key, value in src.items():
            if section == "" and (key in SCHEMA or key in RECORDS):
                continue
            if key not in keys:
                raise ConfigError(f"{where}: unknown key {_dotted(section, key)!r}; known keys in "
                                  f"{'the top level' if not section else '[' + section + ']'}: {', '.join(sorted(keys))}")
            kind = keys[key][0]
            if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
                raise ConfigError(f"{where}: {_dotted(section, key)} = {value!r} should be {_typename(kind)}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{where}: {_dotted(section, key)} = {value!r} must be finite")
            dst[key] = value
        for key, (_, default) in keys.items():
            if key not in dst:
                if default is ...:
                    raise ConfigError(f"{where}: missing required key {_dotted(section, key)!r}; add it"
                                      + (f" under [{section}]" if section else " at the top"))
                if default is not None:
                    dst[key] = copy.deepcopy(default)
    _check_values(cfg, where)
    return cfg


def _dotted(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _check_values(cfg: dict, where: str) -> None:
    def bad(key: str, why: str):
        raise ConfigError(f"{where}: {key} {why}")

    s, e = cfg["sampling"], cfg["engine"]
    if s["n"] < 1:
        bad("sampling.n", f"= {s['n']} must be at least 1")
    if s["max_tokens"] < 1:
        bad("sampling.max_tokens", f"= {s['max_tokens']} must be at least 1")
    if s["temperature"] < 0:
        bad("sampling.temperature", f"= {s['temperature']} must be >= 0")
    if not 0 < s["top_p"] <= 1:
        bad("sampling.top_p", f"= {s['top_p']} must be in (0, 1]")
    if not all(isinstance(x, str) and x for x in s.get("stop") or []):
        bad("sampling.stop", "must be a list of non-empty strings")
    t = cfg["task"]
    if t["limit"] < 0 or t["subset"] < 0 or t["shots"] < 0:
        bad("task.limit / task.subset / task.shots", "must be >= 0 (0 means all problems / all problems / zero-shot)")
    if t.get("time_buffer") is not None and t["time_buffer"] < 0:
        bad("task.time_buffer", f"= {t['time_buffer']} must be >= 0 seconds")
    if cfg["task"]["prompt"] not in PROMPTS:
        bad("task.prompt", f"= {cfg['task']['prompt']!r} must be one of {', '.join(PROMPTS)}")
    if cfg["backend"] not in BACKENDS:
        bad("backend", f"= {cfg['backend']!r} must be one of {', '.join(BACKENDS)}")
    if cfg["backend"] == "openai" and not e["base_url"]:
        bad("engine.base_url", "is required with backend = 'openai' (for example 'http://127.0.0.1:8000/v1')")
    if e["num_engines"] < 1 or e["unit_size"] < 1 or e["inflight"] < 1:
        bad("engine.num_engines / unit_size / inflight", "must be at least 1")
    if e["per_sample_seeds"] not in ("auto", "on", "off"):
        bad("engine.per_sample_seeds", f"= {e['per_sample_seeds']!r} must be 'off' (the default; 'auto' is the "
            "same) or 'on'")
    if e["cpus_per_engine"] < 0 or cfg["verify"]["actors"] < 0 or cfg["verify"]["workers"] < 0:
        bad("engine.cpus_per_engine / verify.actors / verify.workers", "must be >= 0 (0 means automatic)")
    for sec in ("engine", "verify"):
        for k, v in cfg[sec]["resources"].items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                bad(f"{sec}.resources.{k}", f"= {v!r} must be a positive number (a Ray custom resource amount)")
    for k in ("placement_timeout", "start_timeout", "flush_seconds"):
        if e[k] <= 0:
            bad(f"engine.{k}", "must be > 0 seconds")
    b = cfg["budget"]
    if b["mode"] not in BUDGET_MODES:
        bad("budget.mode", f"= {b['mode']!r} must be one of {', '.join(BUDGET_MODES)}")
    if b["stop_after"] < 1 or b["round"] < 1:
        bad("budget.stop_after / budget.round", "must be at least 1")
    if b["cap"] < 0 or b["total"] < 0 or b["growth"] < 0:
        bad("budget.cap / total / growth", "must be >= 0 (0 for cap and total means the default: "
            "4 x sampling.n per problem, and sampling.n x problems in all)")
    if b["cap"] and b["cap"] < s["n"]:
        bad("budget.cap", f"= {b['cap']} is below sampling.n = {s['n']}; the cap is the most samples one "
            "problem may get, so it should be at least n")
    if b["mode"] == "solve" and cfg["backend"] != "vllm":
        bad("budget.mode", "= 'solve' needs backend = 'vllm' (the verifier runs between sampling rounds)")
    _check_score(cfg, bad)
    if cfg["verify"]["timeout"] <= 0:
        bad("verify.timeout", "must be > 0 seconds")
    if not cfg["name"] or any(c in cfg["name"] for c in "/\\") or cfg["name"] in (".", ".."):
        bad("name", f"= {cfg['name']!r} must be a plain directory name")


SCORERS = ("logprob", "judge", "reward")


def _check_score(cfg: dict, bad) -> None:
    sc = cfg["score"]
    names = sc["scorers"]
    unknown = [x for x in names if x not in SCORERS]
    if unknown or len(set(names)) != len(names):
        bad("score.scorers", f"= {names!r} must list distinct scorers out of {', '.join(SCORERS)}")
    if "reward" in names and not sc["reward_model"]:
        bad("score.reward_model", "is required with 'reward' in score.scorers: a reward model's checkpoint "
            "directory (or hub name), e.g. a Skywork-Reward or ArmoRM checkpoint")
    if sc["batch"] < 1 or sc["engines"] < 1:
        bad("score.batch / score.engines", "must be at least 1")


def load(path) -> dict:
    """Read and check a config file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    return check(raw, str(path))


def identity(cfg: dict) -> dict:
    return {_dotted(sec, key): (cfg if not sec else cfg[sec]).get(key) for sec, key in IDENTITY}


def differences(old: dict, new: dict) -> list[str]:
    a, b = identity(old), identity(new)
    return [f"{key}: {a[key]!r} in the run, {b[key]!r} now" for key in a if a[key] != b[key]]


# ---------------------------------------------------------------------------------------------
# Writing: the subset of TOML these configs use (tables of scalars and lists).


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} to TOML")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps(doc: dict) -> str:
    lines = [f"{k} = {_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for name, table in doc.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"] + [f"{k} = {_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"
