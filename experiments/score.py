"""The score stage: a score per sample, for picking one answer without an oracle (`monkeys score`).

Scorers, chosen by [score] scorers:

  logprob  the sample's mean token log-probability, as the sampler recorded it (no model call)
  judge    an LLM judge's P(Yes) for "Is this answer correct?" ([score] judge_model; default: the
           run's own model), sampler/scorer.py
  reward   a reward model's score through vLLM's pooling runner ([score] reward_model)

Each scorer writes scores/part-*.parquet shards (problem_id, sample_index, <scorer>) as its
batches finish; a re-run scores only the samples that have no value for it yet, so an
interrupted pass resumes and a scorer added later runs alone.
"""
from __future__ import annotations

import json
import sys

import pyarrow as pa

from . import rundir
from .config import ConfigError, Experiment

COLUMNS = ["problem_id", "sample_index", "text", "mean_logprob"]


def _say(msg: str) -> None:
    print(f"[monkeys] {msg}", file=sys.stderr, flush=True)


def question_of(problem: dict) -> str:
    """What a judge or reward model is shown as the question: the last user turn of the chat
    the prompt was rendered from; for a run directory written without those turns, the prompt
    as it was sent."""
    messages = problem.get("messages")
    if messages:
        turns = json.loads(messages)
        users = [t.get("content", "") for t in turns if isinstance(t, dict) and t.get("role") == "user"]
        if users:
            return users[-1]
    return problem["prompt"]


def unscored(run_dir, name: str, problem_ids: list[str], batch: int):
    """Batches {"problem_id", "sample_index", "text", "mean_logprob"} (lists) of the samples that
    have no `name` score yet, in write order (a key stored twice is handed out once)."""
    done = rundir.scored_keys(run_dir, name, rundir.KeySet(problem_ids))
    for rb in rundir.iter_rows(rundir.samples_dir(run_dir), COLUMNS, problem_ids, batch, skip=done):
        yield {c: (rb.column(c).to_pylist() if c in rb.schema.names else [None] * rb.num_rows) for c in COLUMNS}


def _score_logprob(run_dir, ids: list[str], batch: int, bar) -> dict:
    stats = {"scored": 0, "missing": 0}
    for rows in unscored(run_dir, "logprob", ids, batch):
        have = [i for i, v in enumerate(rows["mean_logprob"]) if v is not None]
        stats["missing"] += len(rows["mean_logprob"]) - len(have)
        if have:
            rundir.write_scores(run_dir, pa.table({"problem_id": [rows["problem_id"][i] for i in have],
                                                   "sample_index": [rows["sample_index"][i] for i in have],
                                                   "logprob": [float(rows["mean_logprob"][i]) for i in have]}),
                                ["logprob"])
        stats["scored"] += len(have)
        bar.update(len(rows["problem_id"]))
    return stats


def _model_path(run_dir, cfg: Experiment, name: str) -> str:
    from sampler.model import resolve_model

    from .pipeline import local_model

    if name == "judge":
        return resolve_model(cfg.score.judge_model) if cfg.score.judge_model else local_model(run_dir, cfg.model)
    return resolve_model(cfg.score.reward_model)


def _score_model(run_dir, cfg: Experiment, name: str, problems: dict, ids: list[str], bar) -> dict:
    from sampler.scorer import ScorerPool

    from .pipeline import connect, engine_args

    sc, e = cfg.score, cfg.engine
    batches = ((rows, [{"question": problems[p], "answer": t or ""} for p, t in zip(rows["problem_id"], rows["text"])])
               for rows in unscored(run_dir, name, ids, sc.batch))
    first = next(batches, None)
    if first is None:
        return {"scored": 0, "missing": 0}
    model = _model_path(run_dir, cfg, name)
    connect(cfg)
    _say(f"{name}: loading {model}")
    pool = ScorerPool(model, name, engines=sc.engines, engine_args=engine_args(e), kv_cache_gib=e.kv_cache_gib,
                      cpus_per_engine=e.cpus_per_engine, resources=e.resources,
                      hf_overrides=sc.reward_overrides if name == "reward" else None, seed=cfg.seed,
                      placement_timeout=e.placement_timeout, start_timeout=e.start_timeout)
    stats = {"scored": 0, "missing": 0, "model": model}

    def all_batches():
        yield first
        yield from batches

    try:
        for rows, values in pool.run(all_batches()):
            rundir.write_scores(run_dir, pa.table({"problem_id": rows["problem_id"],
                                                   "sample_index": rows["sample_index"],
                                                   name: [float(v) for v in values]}), [name])
            stats["scored"] += len(values)
            bar.update(len(values))
    finally:
        pool.close()
    return stats


def stage_score(run_dir, scorers: list[str] | None = None, progress: bool = True) -> dict:
    """Score every sample that lacks a score, for each scorer ([score] scorers unless given)."""
    from tqdm.auto import tqdm

    from .config import SCORERS
    from .pipeline import read_problems, read_run_config

    cfg = read_run_config(run_dir)
    names = list(cfg.score.scorers if scorers is None else scorers)
    for name in names:
        if name not in SCORERS:
            raise ConfigError(f"unknown scorer {name!r}; known scorers: {', '.join(SCORERS)}")
    if "reward" in names and not cfg.score.reward_model:
        raise ConfigError(f"{rundir.config_path(run_dir)}: the reward scorer needs [score] reward_model (a reward "
                          "model's checkpoint directory); add it to the run's config.toml")
    if not rundir.shard_paths(rundir.samples_dir(run_dir)):
        raise ConfigError(f"{run_dir}/samples holds no samples; run `monkeys sample {run_dir}` first")
    problems = read_problems(run_dir)
    ids = [p["problem_id"] for p in problems]
    if any(not p.get("messages") for p in problems) and set(names) & {"judge", "reward"}:
        _say("problems.parquet has no chat turns (written by an older monkeys); the judge sees each prompt as sent")
    questions = {p["problem_id"]: question_of(p) for p in problems}
    out = {}
    for name in names:
        bar = tqdm(desc=f"score {name}", unit="sample", disable=not progress, dynamic_ncols=True)
        try:
            if name == "logprob":
                out[name] = _score_logprob(run_dir, ids, cfg.score.batch * 64, bar)
            else:
                out[name] = _score_model(run_dir, cfg, name, questions, ids, bar)
        finally:
            bar.close()
        if name == "logprob" and out[name]["missing"]:
            _say(f"logprob: {out[name]['missing']} samples carry no log-probability ([sampling] logprobs = false, or "
                 "a server backend); selection by log-probability leaves them out")
    return out
