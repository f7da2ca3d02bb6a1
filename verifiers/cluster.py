"""Verification as Ray work: actors on the cluster's nodes, each holding a local sandbox pool.

`VerifyPool` starts `actors` Ray actors (spread over the nodes; custom `resources` pin them to
a kind of node), hands each chunks of samples, and gives back each chunk's verdicts as they
finish. The problems' references travel once, through Ray's object store, to every actor; a
chunk carries only (problem_id, sample_index, text). An actor that dies, with its node or
alone, has its chunks handed to a fresh actor, so every chunk is verified exactly once as far
as the caller sees: a chunk's verdicts come back once, or the pool raises. On one machine it
is the same code, with the local Ray cluster's one node.
"""
from __future__ import annotations

import os
import time
from collections import deque


class VerifyError(RuntimeError):
    """Verification cannot go on; the message names the cause."""


class VerifyActor:
    """One node's verifier: a pool of `workers` sandbox supervisors (default: the node's cores)."""

    def __init__(self, problems: dict, workers: int = 0, timeout: float = 10.0):
        self.problems = problems        # problem_id -> {"verifier", "reference"}
        self.workers = workers or os.cpu_count() or 1
        self.timeout = timeout

    def ready(self) -> dict:
        import socket

        from .pool import isolation_level

        return {"host": f"{socket.gethostname()}:{os.getpid()}", "workers": self.workers,
                "isolation": isolation_level(self.workers)}

    def verify(self, chunk: dict) -> list[dict]:
        """chunk: {"problem_id": [...], "sample_index": [...], "text": [...]}; one verdict per row."""
        from .api import verify

        jobs = []
        for pid, idx, text in zip(chunk["problem_id"], chunk["sample_index"], chunk["text"]):
            prob = self.problems[pid]
            jobs.append({"problem_id": pid, "sample_index": idx, "verifier": prob["verifier"],
                         "text": text or "", "reference": prob["reference"]})
        return verify(jobs, workers=self.workers, timeout=self.timeout, progress=False)

    def shutdown(self) -> None:
        """Stop the sandbox pool cleanly (a killed actor leaves its pool's bookkeeping behind)."""
        from .pool import shutdown

        shutdown()


class VerifyPool:
    """Ray actors verifying chunks; `submit` and `poll` never block longer than asked."""

    def __init__(self, problems: dict, *, actors: int = 1, workers: int = 0, timeout: float = 10.0,
                 resources: dict | None = None, start_timeout: float = 600, max_restarts: int = 3,
                 per_actor: int = 2):
        import ray

        self.problems_ref = ray.put(problems)
        self.count, self.workers, self.timeout = max(1, actors), workers, timeout
        self.resources = {k: float(v) for k, v in (resources or {}).items()}
        self.start_timeout, self.max_restarts, self.per_actor = start_timeout, max_restarts, per_actor
        self.actors: dict[int, dict] = {}     # id -> {"handle", "ready", "since", "chunks": {ref: chunk}}
        self.queue: deque = deque()           # chunks waiting for an actor: (tag, chunk)
        self.refs: dict = {}                  # ObjectRef -> (actor id, "ready" | "verify", tag, chunk)
        self.restarts, self.next_id, self.info = 0, 0, []
        for _ in range(self.count):
            self._start()

    def _start(self) -> None:
        import ray

        opts = {"num_cpus": 1, "scheduling_strategy": "SPREAD",
                "runtime_env": {"env_vars": {"TOKENIZERS_PARALLELISM": "false"}}}
        if self.resources:
            opts["resources"] = self.resources
        handle = ray.remote(VerifyActor).options(**opts).remote(self.problems_ref, self.workers, self.timeout)
        aid, self.next_id = self.next_id, self.next_id + 1
        self.actors[aid] = {"handle": handle, "ready": False, "since": time.monotonic(), "busy": 0}
        self.refs[handle.ready.remote()] = (aid, "ready", None, None)

    def _lost(self, aid: int, why: str) -> None:
        import ray

        actor = self.actors.pop(aid, None)
        mine = [(ref, v) for ref, v in self.refs.items() if v[0] == aid]
        for ref, (_, kind, tag, chunk) in mine:
            self.refs.pop(ref)
            if kind == "verify":
                self.queue.appendleft((tag, chunk))
        if actor is not None:
            try:
                ray.kill(actor["handle"])
            except Exception:
                pass
        if self.restarts >= self.max_restarts and not self.actors:
            raise VerifyError(f"verify actors died {self.restarts + 1} times; last: {why}")
        if self.restarts < self.max_restarts:
            self.restarts += 1
            print(f"[monkeys] a verify actor was lost ({why}); its chunks go to a fresh one", flush=True)
            self._start()

    def has_room(self) -> bool:
        """Whether another chunk can be submitted without growing the queue past what the actors hold."""
        return len(self.queue) < self.per_actor * max(1, len(self.actors))

    def submit(self, tag, chunk: dict) -> None:
        self.queue.append((tag, chunk))
        self._dispatch()

    def pending(self) -> int:
        return len(self.queue) + sum(1 for v in self.refs.values() if v[1] == "verify")

    def _dispatch(self) -> None:
        for aid, actor in self.actors.items():
            while self.queue and actor["ready"] and actor["busy"] < self.per_actor:
                tag, chunk = self.queue.popleft()
                self.refs[actor["handle"].verify.remote(chunk)] = (aid, "verify", tag, chunk)
                actor["busy"] += 1

    def poll(self, timeout: float = 1.0) -> list[tuple]:
        """Finished chunks as (tag, chunk, verdicts); waits up to `timeout` for the first."""
        import ray

        done: list[tuple] = []
        self._dispatch()
        if not self.refs:
            return done
        ready, _ = ray.wait(list(self.refs), num_returns=len(self.refs), timeout=timeout)
        for ref in ready:
            if ref not in self.refs:
                continue
            aid, kind, tag, chunk = self.refs.pop(ref)
            actor = self.actors.get(aid)
            try:
                value = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                if getattr(exc, "actor_init_failed", False):
                    raise VerifyError(f"a verify actor failed to start: {exc}") from None
                if kind == "verify":  # this very chunk goes back first
                    self.queue.appendleft((tag, chunk))
                self._lost(aid, str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else "died")
                continue
            if kind == "ready":
                if actor is not None:
                    actor["ready"] = True
                    self.info.append(value)
                    print(f"[monkeys] verify actor ready on {value['host']} ({value['workers']} sandbox workers, "
                          f"isolation {value['isolation']})", flush=True)
            else:
                if actor is not None:
                    actor["busy"] -= 1
                done.append((tag, chunk, value))
        now = time.monotonic()
        for aid, actor in list(self.actors.items()):
            if not actor["ready"] and now - actor["since"] > self.start_timeout:
                others = [a for a in self.actors.values() if a["ready"]]
                why = (f"a verify actor (num_cpus 1, resources {self.resources or '{}'}) did not start within "
                       f"{self.start_timeout:.0f} s; no node with those resources is free, or the sandbox pool "
                       "failed to start there (see the driver's output / `ray job logs`)")
                if not others:
                    raise VerifyError(why)
                print(f"[monkeys] {why}; going on with {len(others)} verify actor(s)", flush=True)
                self.actors.pop(aid)
                for ref in [r for r, v in self.refs.items() if v[0] == aid]:
                    self.refs.pop(ref)
        self._dispatch()
        return done

    def close(self) -> None:
        import ray

        stops = [a["handle"].shutdown.remote() for a in self.actors.values() if a["ready"]]
        if stops:
            ray.wait(stops, num_returns=len(stops), timeout=30)
        for actor in self.actors.values():
            try:
                ray.kill(actor["handle"])
            except Exception:
                pass
        self.actors.clear()
        self.refs.clear()
