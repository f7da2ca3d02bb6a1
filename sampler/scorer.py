"""Scoring answers with a model: an LLM judge and a reward model, as Ray actors on vLLM.

A scorer turns (question, answer) pairs into one float each, higher meaning "more likely right",
for picking one answer out of many without an oracle.

- judge: a generative model is shown the question, the answer, and "Is this answer correct?
  Answer Yes or No."; the score is P(Yes) / (P(Yes) + P(No)) at the first generated token.
  P(Yes) sums the probabilities of the single-token spellings "Yes", " Yes", "yes", " yes",
  "YES", " YES" (those the tokenizer has as one token), P(No) those of "No" and its variants.
  vLLM returns the log-probabilities of exactly these tokens (`logprob_token_ids`), from the full
  softmax, so the score does not depend on which tokens happen to be in a top-k.
- reward: a sequence-classification (reward) model through vLLM's pooling runner; the score is
  the last class probability it returns (for a one-label reward head, the sigmoid of the reward).

Prompts use the scoring model's own chat template (a model without one gets a plain-text form),
are sent as token ids, and an answer too long for the model keeps its end (where the final
answer is). Each actor holds one vLLM `LLM` in a placement group of its own, placed, pinned to
its cores and given its dtype like the sampler's engines (sampler/cluster.py, sampler/engine.py).
"""
from __future__ import annotations

import math
import os
import socket
import time
from collections import deque

from . import cluster
from .cluster import SamplerError
from .engine import engine_dtype, pin_cpu_cores

YES = ("Yes", " Yes", "yes", " yes", "YES", " YES")
NO = ("No", " No", "no", " no", "NO", " NO")
JUDGE_QUESTION = "Is this answer correct? Answer Yes or No."
MODES = ("judge", "reward")


def single_tokens(tokenizer, words) -> list[int]:
    """Token ids of those words that the tokenizer encodes as exactly one token."""
    out = []
    for word in words:
        ids = tokenizer.encode(word, add_special_tokens=False)
        if len(ids) == 1 and ids[0] not in out:
            out.append(ids[0])
    return out


def p_yes(logprobs: dict, yes_ids, no_ids) -> float:
    """P(Yes) / (P(Yes) + P(No)) from {token id: log-probability (or an object with .logprob)}.
    0.5 when both are zero (nothing to tell them apart)."""
    def prob(ids):
        total = 0.0
        for t in ids:
            lp = logprobs.get(t)
            if lp is not None:
                total += math.exp(getattr(lp, "logprob", lp))
        return total

    y, n = prob(yes_ids), prob(no_ids)
    return y / (y + n) if y + n > 0 else 0.5


def _chat(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def judge_text(tokenizer, question: str, answer: str) -> str:
    if _chat(tokenizer):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": question}, {"role": "assistant", "content": answer},
             {"role": "user", "content": JUDGE_QUESTION}], tokenize=False, add_generation_prompt=True)
    return f"Question: {question}\n\nProposed answer: {answer}\n\n{JUDGE_QUESTION}\nAnswer:"


def reward_text(tokenizer, question: str, answer: str) -> str:
    if _chat(tokenizer):
        return tokenizer.apply_chat_template([{"role": "user", "content": question},
                                              {"role": "assistant", "content": answer}], tokenize=False)
    return f"{question}\n\n{answer}"


def fit_prompt(tokenizer, render, question: str, answer: str, limit: int) -> list[int]:
    """The rendered prompt's token ids, at most `limit`: an answer that does not fit keeps its
    last tokens (then the question its first, if even that is not enough)."""
    ids = tokenizer(render(tokenizer, question, answer), add_special_tokens=False)["input_ids"]
    if len(ids) <= limit:
        return ids
    overhead = len(tokenizer(render(tokenizer, question, ""), add_special_tokens=False)["input_ids"])
    room = limit - overhead - 8          # decoding and re-encoding may shift a few tokens
    a = tokenizer.encode(answer, add_special_tokens=False)
    if room > 16:
        ids = tokenizer(render(tokenizer, question, tokenizer.decode(a[-room:])), add_special_tokens=False)["input_ids"]
        if len(ids) <= limit:
            return ids
    q = tokenizer.encode(question, add_special_tokens=False)
    short_q = tokenizer.decode(q[: max(16, limit // 2)])
    short_a = tokenizer.decode(a[-max(16, limit // 4):])
    return tokenizer(render(tokenizer, short_q, short_a), add_special_tokens=False)["input_ids"][-limit:]


class Scorer:
    """One vLLM `LLM` scoring (question, answer) pairs; run as a Ray actor by ScorerPool."""

    def __init__(self, model: str, mode: str, *, engine_args: dict | None = None, seed: int = 0,
                 cpu_slot: tuple[int, int] = (0, 0), kv_cache_gib: float = 2, hf_overrides: dict | None = None,
                 name: str = "scorer"):
        if mode not in MODES:
            raise ValueError(f"scorer mode {mode!r} is not one of {MODES}")
        if cpu_slot[1]:
            pin_cpu_cores(*cpu_slot, kv_cache_gib=kv_cache_gib)
        from vllm import LLM
        from vllm.platforms import current_platform

        self.mode, self.name = mode, name
        self.host = f"{socket.gethostname()}:{os.getpid()}"
        args = dict(engine_args or {})
        args["dtype"] = engine_dtype(args.get("dtype", "auto"))
        if current_platform.is_cpu():
            args.pop("gpu_memory_utilization", None)
        if mode == "reward":
            args.update(runner="pooling", convert="classify" if hf_overrides else "auto")
            if hf_overrides:
                args["hf_overrides"] = dict(hf_overrides)
        self.llm = LLM(model=model, seed=int(seed), **args)
        self.tok = self.llm.get_tokenizer()
        self.limit = int(self.llm.llm_engine.model_config.max_model_len) - 1
        self.yes, self.no = single_tokens(self.tok, YES), single_tokens(self.tok, NO)
        if mode == "judge" and (not self.yes or not self.no):
            raise ValueError(f"{model}: its tokenizer has no single-token 'Yes'/'No'; it cannot be the judge")

    def info(self) -> dict:
        return {"name": self.name, "host": self.host, "mode": self.mode,
                "yes_tokens": self.yes, "no_tokens": self.no, "max_model_len": self.limit + 1}

    def score(self, items: list[dict]) -> list[float]:
        """items: [{"question", "answer"}]; one score per item, same order."""
        if not items:
            return []
        render = judge_text if self.mode == "judge" else reward_text
        prompts = [{"prompt_token_ids": fit_prompt(self.tok, render, it["question"], it["answer"] or "", self.limit)}
                   for it in items]
        if self.mode == "reward":
            outs = self.llm.classify(prompts, use_tqdm=False)
            return [float(o.outputs.probs[-1]) for o in outs]
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=self.yes + self.no)
        outs = self.llm.generate(prompts, params, use_tqdm=False)
        return [p_yes(o.outputs[0].logprobs[0], self.yes, self.no) for o in outs]


class ScorerPool:
    """`engines` Scorer actors, each in its own placement group like a sampling engine; `run`
    hands them batches and yields each batch's scores as it finishes. An actor that dies has
    its batch handed to a fresh one (up to `max_restarts`); placing, loading and every batch
    have deadlines that say what is pending."""

    def __init__(self, model: str, mode: str, *, engines: int = 1, engine_args: dict | None = None,
                 kv_cache_gib: float = 2, cpus_per_engine: int = 0, resources: dict | None = None,
                 hf_overrides: dict | None = None, seed: int = 0, placement_timeout: float = 600,
                 start_timeout: float = 1800, step_timeout: float = 1800, max_restarts: int = 3):
        import ray

        if not ray.is_initialized():
            cluster.connect()
        engine_args = dict(engine_args or {})
        tp = int(engine_args.get("tensor_parallel_size", 1))
        self.kind, self.bundles, self.cpus = cluster.engine_layout(
            engines, tensor_parallel=tp, cpus_per_engine=cpus_per_engine, resources=resources,
            what=f"[score] engines for the {mode}", fix="lower [score] engines (or [engine] cpus_per_engine), "
            "or add nodes")
        if self.kind == "gpu" and tp > 1:
            engine_args["distributed_executor_backend"] = "ray"
        self.spec = {"model": model, "mode": mode, "engine_args": engine_args, "kv_cache_gib": kv_cache_gib,
                     "hf_overrides": hf_overrides, "seed": seed}
        self.placement_timeout, self.start_timeout, self.step_timeout = placement_timeout, start_timeout, step_timeout
        self.max_restarts, self.restarts = max_restarts, 0
        self.actors: dict[int, dict] = {}
        self.info: list[dict] = []
        for slot in range(engines):
            self._start(slot)

    def _start(self, slot: int) -> None:
        import ray
        from ray.util.placement_group import placement_group

        s = self.spec
        name = f"scorer-{s['mode']}-{slot}" + (f".{self.restarts}" if self.restarts else "")
        group = placement_group(self.bundles, strategy="STRICT_PACK", name=f"monkeys-{name}")
        opts = cluster.actor_options(self.bundles, group, cluster.engine_env())
        actor = ray.remote(Scorer).options(**opts).remote(
            s["model"], s["mode"], engine_args=s["engine_args"], seed=s["seed"] + slot,
            cpu_slot=(slot, self.cpus) if self.kind == "cpu" else (0, 0), kv_cache_gib=s["kv_cache_gib"],
            hf_overrides=s["hf_overrides"], name=name)
        self.actors[slot] = {"name": name, "actor": actor, "group": group, "phase": "placing",
                             "since": time.monotonic(), "placed": group.ready(), "ready": actor.info.remote(),
                             "job": None}

    def _retire(self, slot: int) -> None:
        import ray
        from ray.util.placement_group import remove_placement_group

        a = self.actors.pop(slot, None)
        if a is None:
            return
        for action in (lambda: ray.kill(a["actor"]), lambda: remove_placement_group(a["group"])):
            try:
                action()
            except Exception:  # already gone with its node
                pass

    def _lost(self, slot: int, why: str, queue: deque) -> None:
        a = self.actors[slot]
        if a["job"] is not None:
            queue.appendleft((a["job"][1], a["job"][2]))
        self._retire(slot)
        if self.restarts >= self.max_restarts:
            if not self.actors:
                raise SamplerError(f"scorer actors died {self.restarts + 1} times; last: {a['name']}: {why}")
            return
        self.restarts += 1
        print(f"[monkeys] {a['name']} lost ({why}); its batch goes to a fresh scorer", flush=True)
        self._start(slot)

    def _deadlines(self, queue: deque) -> None:
        now = time.monotonic()
        for slot, a in list(self.actors.items()):
            late = now - a["since"]
            if a["phase"] == "placing" and late > self.placement_timeout:
                raise SamplerError(f"{a['name']}: its placement group {self.bundles} is still pending after "
                                   f"{late:.0f} s (alive nodes: {cluster.alive_nodes_text()}); free those resources "
                                   "or raise [engine] placement_timeout")
            if a["phase"] == "loading" and late > self.start_timeout:
                raise SamplerError(f"{a['name']} was placed but did not load {self.spec['model']} within {late:.0f} s; "
                                   "see its log, or raise [engine] start_timeout")
            if a["job"] is not None and now - a["job"][3] > self.step_timeout:
                self._lost(slot, f"no answer for a batch of {len(a['job'][2])} in {now - a['job'][3]:.0f} s", queue)

    def run(self, batches):
        """batches: iterable of (tag, items); yields (tag, scores) as batches finish (any order)."""
        import ray

        source = iter(batches)
        queue: deque = deque()
        exhausted = False
        while True:
            for slot, a in self.actors.items():
                if a["phase"] == "ready" and a["job"] is None:
                    if not queue and not exhausted:
                        nxt = next(source, None)
                        if nxt is None:
                            exhausted = True
                        else:
                            queue.append(nxt)
                    if queue:
                        tag, items = queue.popleft()
                        a["job"] = (a["actor"].score.remote(items), tag, items, time.monotonic())
            busy = any(a["job"] is not None for a in self.actors.values())
            if exhausted and not queue and not busy:
                return
            refs = {}
            for slot, a in self.actors.items():
                if a["phase"] == "placing":
                    refs[a["placed"]] = (slot, "placed")
                elif a["phase"] == "loading":
                    refs[a["ready"]] = (slot, "ready")
                elif a["job"] is not None:
                    refs[a["job"][0]] = (slot, "score")
            if not refs:
                raise SamplerError("no scorer actor is left to score the remaining batches")
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
            self._deadlines(queue)
            for ref in ready:
                slot, kind = refs[ref]
                a = self.actors.get(slot)
                if a is None:
                    continue
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    if getattr(exc, "actor_init_failed", False):
                        raise SamplerError(f"the {self.spec['mode']} model {self.spec['model']} failed to load "
                                           f"({_gist(exc)}); check [score] and [engine] settings") from None
                    self._lost(slot, _gist(exc), queue)
                    continue
                except ray.exceptions.RayTaskError as exc:
                    raise SamplerError(f"{a['name']} failed: {_gist(exc)}") from None
                except ray.exceptions.RayError as exc:
                    self._lost(slot, _gist(exc), queue)
                    continue
                if kind == "placed":
                    a["phase"], a["since"] = "loading", time.monotonic()
                elif kind == "ready":
                    a["phase"], a["since"] = "ready", time.monotonic()
                    self.info.append(value)
                    print(f"[monkeys] {a['name']} ready on {value['host']}", flush=True)
                else:
                    _, tag, _, _ = a["job"]
                    a["job"] = None
                    yield tag, value

    def close(self) -> None:
        for slot in list(self.actors):
            self._retire(slot)


def _gist(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else type(exc).__name__
