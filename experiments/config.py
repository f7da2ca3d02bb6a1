"""Experiment configs: TOML in, one typed `Experiment` out, TOML back.

A config names one experiment. Everything that changes the samples (model, task, prompt,
few-shot draw, subset seed, sampling parameters other than `n`, seed, budget mode) is its
identity; a run directory refuses a config whose identity differs from the one it was started
with, so a directory never mixes two experiments. `n`, `limit`, `subset`, engine and verifier
settings may change between runs: raising `n`, `limit` or `subset` adds only the missing
samples (a seeded subset of 32 is the first 32 of the subset of 128; see experiments/tasks).

Left out, [sampling] stop is the task's default for the prompt style and task-specific keys
(task.time_buffer) take the task's default; experiments.tasks.resolve fills both in before a
run starts, and the run directory's config.toml records them.

The checks are pydantic's (strict types, unknown keys refused, numbers finite, the bounds and
rules below); its first error becomes one line naming the file, the key and the fix.
"""
from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, the key and the fix."""


class Bad(ValueError):
    """A broken rule, raised by a validator with the key it names (dotted from the top)."""

    def __init__(self, key: str, why: str):
        super().__init__(f"{key} {why}")
        self.key, self.why = key, why


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, validate_assignment=True)


def _resources(section: str, value: dict) -> dict:
    for k, v in value.items():
        if v <= 0:
            raise Bad(f"{section}.resources.{k}", f"= {v!r} must be a positive number (a Ray custom resource amount)")
    return value


# A description, where given, is the hint added to a message about the key's value.

class TaskConfig(_Table):
    name: str
    source: str = ""
    limit: int = Field(0, ge=0, description="0 means all problems")
    subset: int = Field(0, ge=0, description="0 means all problems")
    subset_seed: int = 0
    shots: int = Field(0, ge=0, description="0 means zero-shot")
    shots_seed: int = 0
    shots_source: str = ""
    prompt: Literal["chat", "raw"] = "chat"
    time_buffer: float | None = Field(None, ge=0, description="seconds")


class SamplingConfig(_Table):
    n: int = Field(ge=1)
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = -1
    max_tokens: int = Field(512, ge=1)
    stop: list[str] | None = None
    logprobs: bool = True

    @field_validator("stop")
    @classmethod
    def _stop(cls, value):
        if value is not None and not all(value):
            raise Bad("sampling.stop", "must be a list of non-empty strings")
        return value


class EngineConfig(_Table):
    num_engines: int = Field(1, ge=1)
    kv_cache_gib: int = 2
    enforce_eager: bool = False
    max_model_len: int = 0
    dtype: str = "auto"
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    unit_size: int = Field(64, ge=1)
    inflight: int = Field(256, ge=1)
    per_sample_seeds: Literal["off", "on", "auto"] = Field("off", description="'auto' is the same as 'off'")
    ray_address: str = ""
    cpus_per_engine: int = Field(0, ge=0, description="0 means automatic")
    resources: dict[str, float] = {}
    placement_timeout: float = Field(600, gt=0, description="seconds")
    start_timeout: float = Field(1800, gt=0, description="seconds")
    flush_seconds: float = Field(20, gt=0, description="seconds")
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8

    @field_validator("resources")
    @classmethod
    def _resources(cls, value):
        return _resources("engine", value)


class VerifyConfig(_Table):
    timeout: float = Field(10.0, gt=0, description="seconds")
    workers: int = Field(0, ge=0, description="0 means automatic")
    chunk: int = 2000
    actors: int = Field(0, ge=0, description="0 means automatic")
    resources: dict[str, float] = {}

    @field_validator("resources")
    @classmethod
    def _resources(cls, value):
        return _resources("verify", value)


SCORERS = ("logprob", "judge", "reward")


class ScoreConfig(_Table):
    scorers: list[str] = ["logprob"]
    judge_model: str = ""
    reward_model: str = ""
    reward_overrides: dict[str, Any] = {}
    batch: int = Field(256, ge=1)
    engines: int = Field(1, ge=1)

    @field_validator("scorers")
    @classmethod
    def _scorers(cls, value):
        if any(x not in SCORERS for x in value) or len(set(value)) != len(value):
            raise Bad("score.scorers", f"= {value!r} must list distinct scorers out of {', '.join(SCORERS)}")
        return value

    @model_validator(mode="after")
    def _reward_model(self):
        if "reward" in self.scorers and not self.reward_model:
            raise Bad("score.reward_model", "is required with 'reward' in score.scorers: a reward model's checkpoint "
                      "directory (or hub name), e.g. a Skywork-Reward or ArmoRM checkpoint")
        return self


class BudgetConfig(_Table):
    mode: Literal["uniform", "solve"] = "uniform"
    stop_after: int = Field(1, ge=1)
    cap: int = Field(0, ge=0, description="0 means 4 x sampling.n per problem")
    total: int = Field(0, ge=0, description="0 means sampling.n x problems in all")
    round: int = Field(8, ge=1)
    growth: float = Field(0.0, ge=0)


class PricingConfig(_Table):
    gpu_hour_usd: float | None = None
    gpus_per_worker: float | None = None
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None


class Experiment(_Table):
    """One experiment, checked and with its defaults. A run directory's config.toml holds it
    and what the run recorded ([model] path, [model_info], [versions]), which is not part of it."""

    name: str
    model: str
    seed: int = 0
    backend: Literal["vllm", "openai"] = "vllm"
    task: TaskConfig
    sampling: SamplingConfig
    engine: EngineConfig = Field(default_factory=EngineConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    pricing: PricingConfig = Field(default_factory=PricingConfig)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or any(c in value for c in "/\\") or value in (".", ".."):
            raise Bad("name", f"= {value!r} must be a plain directory name")
        return value

    @model_validator(mode="after")
    def _across_tables(self):
        if self.backend == "openai" and not self.engine.base_url:
            raise Bad("engine.base_url", "is required with backend = 'openai' (for example 'http://127.0.0.1:8000/v1')")
        b, n = self.budget, self.sampling.n
        if b.cap and b.cap < n:
            raise Bad("budget.cap", f"= {b.cap} is below sampling.n = {n}; the cap is the most samples one problem "
                      "may get, so it should be at least n")
        if b.mode == "solve" and self.backend != "vllm":
            raise Bad("budget.mode", "= 'solve' needs backend = 'vllm' (the verifier runs between sampling rounds)")
        return self


SECTIONS: dict[str, type[_Table]] = {name: f.annotation for name, f in Experiment.model_fields.items()
                                     if isinstance(f.annotation, type) and issubclass(f.annotation, _Table)}
TOP_KEYS = sorted(k for k in Experiment.model_fields if k not in SECTIONS)
# Written by the pipeline into the run directory's copy; accepted there, never part of the experiment.
RECORDS = ("model_info", "versions", "resolved")
IDENTITY = ("model", "seed", "backend", "task.name", "task.source", "task.subset_seed", "task.shots",
            "task.shots_seed", "task.shots_source", "task.prompt", "sampling.temperature", "sampling.top_p",
            "sampling.top_k", "sampling.max_tokens", "sampling.stop", "budget.mode")


# ------------------------------------------------------------------------------------ reading


_TYPES = {"int_type": "int", "float_type": "int or float", "string_type": "str", "bool_type": "bool",
          "list_type": "list", "dict_type": "dict"}


def _number(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _message(err: dict) -> str:
    """One pydantic error as a line naming the key, what is wrong with it and the fix."""
    loc = [str(x) for x in err["loc"] if not isinstance(x, int)]
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    key = ".".join(loc)
    section = loc[0] if len(loc) > 1 else ""
    if kind == "value_error" and isinstance(ctx.get("error"), Bad):
        return str(ctx["error"])
    if kind == "missing":
        return f"missing required key {key!r}; add it" + (f" under [{section}]" if section else " at the top")
    if kind == "extra_forbidden":
        if not section and isinstance(value, dict):
            return f"unknown section [{key}]; known sections: {', '.join(sorted(SECTIONS))}"
        known = sorted(SECTIONS[section].model_fields) if section else TOP_KEYS
        return (f"unknown key {key!r}; known keys in {'[' + section + ']' if section else 'the top level'}: "
                f"{', '.join(known)}")
    if kind in ("model_type", "model_attributes_type"):
        return f"[{key}] must be a table"
    if kind in _TYPES:
        return f"{key} = {value!r} should be {_TYPES[kind]}"
    if kind == "finite_number":
        return f"{key} = {value!r} must be finite"
    if kind == "greater_than_equal":
        rule = "at least 1" if ctx["ge"] == 1 else f">= {_number(ctx['ge'])}"
    elif kind == "greater_than":
        rule = f"> {_number(ctx['gt'])}"
    elif kind == "less_than_equal":
        rule = f"<= {_number(ctx['le'])}"
    elif kind == "literal_error":
        rule = ctx["expected"]
    else:
        return f"{key}: {err['msg']}"
    table = SECTIONS[section] if section else Experiment
    hint = table.model_fields[loc[-1]].description if loc and loc[-1] in table.model_fields else None
    if kind == "greater_than" and hint == "seconds":
        rule, hint = f"{rule} seconds", None
    return f"{key} = {value!r} must be {rule}" + (f" ({hint})" if hint else "")


def check(raw: dict, where: str) -> Experiment:
    """Validate a parsed config (a run directory's copy too) and fill its defaults; a
    ConfigError names `where`, the bad key and the fix."""
    raw = {k: v for k, v in raw.items() if k not in RECORDS}
    if isinstance(raw.get("model"), dict):  # a run directory's copy keeps the model as a table
        raw["model"] = raw["model"].get("name")
    for section in SECTIONS:  # a table left out holds only defaults (and names its missing keys)
        raw.setdefault(section, {})
    try:
        return Experiment.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_message(exc.errors()[0])}") from None


def read_toml(path) -> dict:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None


def load(path, overrides=()) -> Experiment:
    """Read and check a config file; `overrides` ("section.key=value", as `--set` gives them)
    replace the file's values first."""
    raw = read_toml(path)
    for item in overrides:
        set_key(raw, item)
    return check(raw, str(path))


def set_key(raw: dict, item: str) -> None:
    """Apply one "section.key=value" to a parsed config. The value is read as a TOML value
    (64, 0.6, true, "text", ["a", "b"], {node2 = 1}); what is not one is a string."""
    key, eq, text = item.partition("=")
    parts = key.strip().split(".")
    if not eq or not all(parts):
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, for example --set sampling.n=64")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    table = raw
    for i, part in enumerate(parts[:-1]):
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            raise ConfigError(f"--set {item!r}: {'.'.join(parts[:i + 1])} is not a table")
    table[parts[-1]] = value


def get(cfg: Experiment, dotted: str):
    value = cfg
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def identity(cfg: Experiment) -> dict:
    return {key: get(cfg, key) for key in IDENTITY}


def differences(old: Experiment, new: Experiment) -> list[str]:
    a, b = identity(old), identity(new)
    return [f"{key}: {a[key]!r} in the run, {b[key]!r} now" for key in a if a[key] != b[key]]


def to_doc(cfg: Experiment) -> dict:
    """The experiment as plain TOML-ready data (keys still unset, at None, left out)."""
    return cfg.model_dump(exclude_none=True)


# ---------------------------------------------------------------------------------------------
# Writing: the subset of TOML these configs use (tables of scalars, lists and inline tables).


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


def dumps(doc: Experiment | dict) -> str:
    """TOML text of an experiment, or of a document of top-level scalars and tables."""
    doc = to_doc(doc) if isinstance(doc, Experiment) else doc
    lines = [f"{k} = {_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for name, table in doc.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"] + [f"{k} = {_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"
