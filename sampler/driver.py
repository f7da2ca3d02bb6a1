"""The driver: hand work units to engine actors, keep them full, stream results to a sink.

`sample()` is the whole sampling stage. The caller says which samples are stored already
and gives a `sink` that stores rows; the driver asks only for the missing (problem, sample
index) pairs, splits them into units, and keeps every engine actor topped up with about
`inflight` sequences. Finished rows are handed to the sink every `flush_s` seconds, at the
end, and on the way out of an interrupted run. An engine that dies (its process, or its
node) has its unfinished units re-queued and is replaced by a fresh engine with a fresh
random stream, in a fresh placement group; an engine that cannot be placed, does not load,
or stops answering runs into a deadline that names it.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Callable

from tqdm.auto import tqdm

from . import cluster
from .cluster import SamplerError
from .seeds import engine_seed, sample_seed

__all__ = ["SamplerError", "plan_units", "sample"]


def _gist(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


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


class _Engine:
    """The driver's record of one engine actor: its slot, placement group, work and phase."""

    def __init__(self, slot: int, restart: int, seed: int, actor, group):
        self.slot, self.restart, self.seed, self.actor, self.group = slot, restart, seed, actor, group
        self.name = f"engine-{slot}" + (f".{restart}" if restart else "")
        self.phase, self.since = "placing", time.monotonic()
        self.assigned: dict[str, dict] = {}   # unit_id -> unit in flight there
        self.partial = 0                       # samples finished in its unfinished units (progress bar)
        self.info: dict | None = None

    def load(self) -> int:
        return sum(len(u["indices"]) for u in self.assigned.values())


class _Sampling:
    """One call of `sample()`: the queue, the engines, the refs in flight, the sink buffer."""

    def __init__(self, units, *, spec: dict, sink, stored, refill, plan, flush_s, progress, stats):
        self.queue = deque(units)
        self.spec, self.sink, self.stored, self.refill, self.plan = spec, sink, stored, refill, plan
        self.flush_s, self.stats = flush_s, stats
        self.t0 = time.monotonic()
        self.engines: dict[int, _Engine] = {}   # slot -> engine
        self.refs: dict = {}                     # ObjectRef -> (slot, "placed" | "ready" | "advance", t0)
        self.buffer: list[dict] = []
        self.last_flush = self.first_answer = self.last_check = time.monotonic()
        self.live_tokens = 0
        self.bar = tqdm(total=sum(len(u["indices"]) for u in units), desc="sampling", unit="sample",
                        disable=not progress, dynamic_ncols=True, position=0)

    # -- engines -----------------------------------------------------------------------------

    def start(self, slot: int, restart: int) -> None:
        import ray
        from ray.util.placement_group import placement_group

        from .engine import Engine

        s = self.spec
        seed = engine_seed(s["seed"], slot, restart)
        group = placement_group(s["bundles"], strategy="STRICT_PACK", name=f"monkeys-engine-{slot}.{restart}")
        opts = cluster.actor_options(s["bundles"], group, cluster.engine_env())
        eng = _Engine(slot, restart, seed, None, group)
        # Named so that operators (and the fault-injection script) can find it: ray.get_actor("engine-0").
        eng.actor = ray.remote(Engine).options(name=eng.name, **opts).remote(
            s["model"], sampling=s["sampling"], engine_args=s["engine_args"], seed=seed,
            per_sample_seeds=s["per_sample_seeds"], name=eng.name,
            cpu_slot=(slot, s["cpus"]) if s["kind"] == "cpu" else (0, 0), kv_cache_gib=s["kv_cache_gib"])
        self.engines[slot] = eng
        self.refs[group.ready()] = (slot, "placed", time.monotonic())
        self.refs[eng.actor.info.remote()] = (slot, "ready", time.monotonic())
        self.stats["engines"].append({"name": eng.name, "slot": slot, "restart": restart, "seed": seed})

    def retire(self, eng: _Engine) -> None:
        """Kill an engine and give its placement group back, so a replacement can be placed."""
        import ray
        from ray.util.placement_group import remove_placement_group

        self.engines.pop(eng.slot, None)
        for ref in [r for r, (slot, _, _) in self.refs.items() if slot == eng.slot]:
            self.refs.pop(ref)
        for action in (lambda: ray.kill(eng.actor), lambda: remove_placement_group(eng.group)):
            try:
                action()
            except Exception:  # already gone with its node
                pass

    def lost(self, eng: _Engine, why: str) -> None:
        """An engine died or was given up: re-queue its units, start a replacement."""
        self.queue.extendleft(reversed(list(eng.assigned.values())))
        self.bar.update(-eng.partial)  # those samples will be drawn again
        self.retire(eng)
        if self.stats["restarts"] >= self.spec["max_restarts"]:
            if not self.engines:
                raise SamplerError(f"engine actors died {self.stats['restarts'] + 1} times; last: {eng.name}: {why}")
            return
        self.stats["restarts"] += 1
        print(f"[monkeys] {eng.name} lost ({why}); its units are re-queued on a fresh engine", flush=True)
        self.start(eng.slot, eng.restart + 1)

    def check_deadlines(self) -> None:
        now = time.monotonic()
        for eng in list(self.engines.values()):
            late = now - eng.since
            if eng.phase == "placing" and late > self.spec["placement_timeout"]:
                self.give_up(eng, f"its placement group {self.spec['bundles']} is still pending after {late:.0f} s "
                             f"(alive nodes: {cluster.alive_nodes_text()}); free those resources, lower "
                             "[engine] num_engines, or raise [engine] placement_timeout")
            elif eng.phase == "loading" and late > self.spec["start_timeout"]:
                self.give_up(eng, f"it was placed but did not finish loading the model within {late:.0f} s; "
                             "see its log (`ray job logs`, or the driver's output), or raise [engine] start_timeout")
        for ref, (slot, kind, t0) in list(self.refs.items()):
            eng = self.engines.get(slot)
            if kind == "advance" and eng is not None and now - t0 > self.spec["step_timeout"]:
                self.refs.pop(ref, None)
                self.lost(eng, f"no answer from its engine step for {now - t0:.0f} s")

    def give_up(self, eng: _Engine, why: str) -> None:
        others = [e for e in self.engines.values() if e is not eng and e.phase == "ready"]
        if not others:
            raise SamplerError(f"{eng.name}: {why}")
        print(f"[monkeys] {eng.name} given up: {why}; going on with {len(others)} engine(s)", flush=True)
        self.queue.extendleft(reversed(list(eng.assigned.values())))
        self.retire(eng)

    # -- work --------------------------------------------------------------------------------

    def top_up(self, eng: _Engine) -> None:
        if eng.phase != "ready" or any(s == eng.slot and k == "advance" for s, k, _ in self.refs.values()):
            return
        load, batch = eng.load(), []
        while self.queue and load < self.spec["inflight"]:
            unit = self.queue.popleft()
            eng.assigned[unit["unit_id"]] = unit
            batch.append(unit)
            load += len(unit["indices"])
        if batch or eng.assigned:
            self.refs[eng.actor.advance.remote(batch)] = (eng.slot, "advance", time.monotonic())

    def finished(self, eng: _Engine, result: dict) -> None:
        rows_done = 0
        for fin in result["finished"]:
            eng.assigned.pop(fin["unit_id"], None)
            self.buffer.extend(fin["rows"])
            rows_done += len(fin["rows"])
            self.stats["sampled"] += len(fin["rows"])
            self.stats["completion_tokens"] += sum(r["completion_tokens"] for r in fin["rows"])
            self.stats["engine_s"] += sum(r["elapsed_s"] for r in fin["rows"])
        # The bar moves with each finished sample, not each finished unit, so it is live even
        # when units are large; tokens/s counts from the first answer (start-up excluded).
        completed = result.get("completed", 0)
        self.bar.update(completed)
        eng.partial += completed - rows_done
        if not self.live_tokens:
            self.first_answer = time.monotonic()
        self.live_tokens += result.get("completed_tokens", 0)
        if time.monotonic() - self.last_flush >= self.flush_s:
            self.flush()
        span = time.monotonic() - self.first_answer
        if span > 0 and self.live_tokens:
            self.bar.set_postfix_str(f"{self.live_tokens / span:.0f} tok/s")

    def flush(self) -> None:
        if self.buffer:
            self.sink(self.buffer)
            for r in self.buffer:
                self.stored.setdefault(r["problem_id"], set()).add(int(r["sample_index"]))
            self.stats["shards"] += 1
        self.buffer, self.last_flush = [], time.monotonic()

    def next_round(self) -> bool:
        """Everything so far is stored: ask refill for more work; False when done."""
        if self.refill is None:
            return False
        self.flush()
        more = self.refill()
        new = self.plan(more, self.stored) if more else []
        if not new:  # nothing new asked (which also ends a refill that keeps asking the same)
            return False
        self.stats["rounds"] += 1
        self.stats["requested"] += sum(len(u["indices"]) for u in new)
        self.queue.extend(new)
        self.bar.total += sum(len(u["indices"]) for u in new)
        self.bar.refresh()
        return True

    def idle(self) -> bool:
        return not self.queue and not any(k == "advance" for _, k, _ in self.refs.values()) \
            and not any(e.assigned for e in self.engines.values())

    def run(self) -> None:
        import ray

        for slot in range(self.spec["num_engines"]):
            self.start(slot, 0)
        while True:
            if self.idle() and not self.next_round():
                return
            for eng in list(self.engines.values()):
                self.top_up(eng)
            if not self.refs:
                raise SamplerError("no engine is left to run the remaining units")
            ready, _ = ray.wait(list(self.refs), num_returns=1, timeout=1.0)
            if time.monotonic() - self.last_check > 5 or not ready:
                self.last_check = time.monotonic()
                self.check_deadlines()
            if not ready:
                continue
            if ready[0] not in self.refs:  # dropped by a deadline just now
                continue
            slot, kind, _ = self.refs.pop(ready[0])
            eng = self.engines.get(slot)
            if eng is None:
                continue
            try:
                value = ray.get(ready[0])
            except ray.exceptions.RayActorError as exc:
                if getattr(exc, "actor_init_failed", False) and eng.phase != "ready":
                    raise SamplerError(f"the vLLM engine failed to start ({_gist(exc)}); check the model and "
                                       "[engine] settings") from None
                self.lost(eng, _gist(exc))   # its process or its node died
                continue
            except ray.exceptions.RayTaskError as exc:  # the engine itself raised: a restart would too
                raise SamplerError(f"{eng.name} failed: {_gist(exc)}") from None
            except ray.exceptions.RayError as exc:  # its placement group or an object was lost
                self.lost(eng, _gist(exc))
                continue
            if kind == "placed":
                if eng.phase == "placing":
                    eng.phase, eng.since = "loading", time.monotonic()
            elif kind == "ready":
                eng.phase, eng.since, eng.info = "ready", time.monotonic(), value
                self.stats["ready_s"] = time.monotonic() - self.t0
                self.bar.write(f"[monkeys] {eng.name} ready on {value['host']} (engine seed {eng.seed})")
                if self.spec["on_engine"] is not None:
                    self.spec["on_engine"](value)
            else:
                self.finished(eng, value)

    def close(self) -> None:
        self.flush()
        self.bar.close()
        for eng in list(self.engines.values()):
            self.retire(eng)


def sample(requests: list[dict], *, sink: Callable[[list[dict]], None], stored: dict[str, set[int]] | None = None,
           model: str, sampling: dict, engine_args: dict | None = None, seed: int = 0, num_engines: int = 1,
           per_sample_seeds: bool = False, unit_size: int = 64, inflight: int = 256, kv_cache_gib: float = 2,
           cpus_per_engine: int = 0, resources: dict | None = None, placement_timeout: float = 600,
           start_timeout: float = 1800, step_timeout: float = 900, flush_s: float = 20.0, max_restarts: int = 3,
           progress: bool = True, refill: Callable[[], list[dict]] | None = None,
           on_engine: Callable[[dict], None] | None = None) -> dict:
    """Sample every requested index not in `stored` and hand the rows to `sink`; returns counts,
    timings and the engines started (name, slot, restart, seed).

    stored: problem_id -> sample indices already stored (updated as rows are sunk).
    refill: called, with every sample so far handed to the sink, each time the engines run out
    of work; it returns more requests (same form; a problem's n may grow) or [] to finish. It is
    how a caller closes a loop over the samples (verify them, decide what to draw next) while
    the engines stay loaded. With refill, `requests` may be empty.
    on_engine: called with each engine's `info()` once it has loaded (model sizes, GPUs, seed).
    Joins the Ray cluster already initialised, else starts or joins one (sampler.cluster.connect).
    """
    import ray

    stored = {} if stored is None else stored
    stats = {"requested": sum(int(r["n"]) for r in requests), "already_stored": sum(map(len, stored.values())),
             "sampled": 0, "completion_tokens": 0, "engine_s": 0.0, "wall_s": 0.0, "shards": 0, "restarts": 0,
             "rounds": 0, "engines": [], "ready_s": 0.0}

    def plan(reqs, done):
        return plan_units(reqs, done, seed, unit_size)

    units = plan(requests, stored)
    if not units and refill is not None:
        more = refill()
        units = plan(more, stored) if more else []
        stats["requested"] += sum(len(u["indices"]) for u in units)
    if not units:
        return stats
    if not ray.is_initialized():
        cluster.connect()
    t0 = time.monotonic()
    tp = int((engine_args or {}).get("tensor_parallel_size", 1))
    kind, bundles, cpus = cluster.engine_layout(num_engines, tensor_parallel=tp, cpus_per_engine=cpus_per_engine,
                                                resources=resources)
    if kind == "gpu" and tp > 1:
        engine_args = dict(engine_args, distributed_executor_backend="ray")
    spec = {"kind": kind, "bundles": bundles, "cpus": cpus, "model": model, "sampling": sampling,
            "engine_args": engine_args, "seed": seed, "per_sample_seeds": per_sample_seeds, "num_engines": num_engines,
            "inflight": inflight, "kv_cache_gib": kv_cache_gib, "max_restarts": max_restarts,
            "placement_timeout": placement_timeout, "start_timeout": start_timeout, "step_timeout": step_timeout,
            "on_engine": on_engine}
    run = _Sampling(units, spec=spec, sink=sink, stored=stored, refill=refill, plan=plan, flush_s=flush_s,
                    progress=progress, stats=stats)
    try:
        run.run()
    finally:
        run.close()
    stats["wall_s"] = time.monotonic() - t0
    return stats
