"""Sampler throughput: this engine (Ray actor, step-driven, shards on disk) against a raw
`LLM.generate` over the same prompts, same model, same sampling settings, in the same run.

    python bench/bench_sampler.py [--problems 16] [--n 16] [--max-tokens 128] [--model ...]

Each side runs in its own fresh process, one after the other, so they do not share cores.
Both numbers count output tokens; "engine" throughput divides by generation time only (model
load excluded), "end to end" by the whole wall time including engine start. The raw side is
the bound: the same engine with nothing around it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def prompts(model_path: str, count: int) -> list[list[int]]:
    """Chat-templated HumanEval prompts as token ids, exactly as a demo run sends them."""
    from transformers import AutoTokenizer

    from experiments.tasks import load_humaneval

    tok = AutoTokenizer.from_pretrained(model_path)
    probs = load_humaneval(limit=count)
    texts = [tok.apply_chat_template(p["messages"], tokenize=False, add_generation_prompt=True) for p in probs]
    return [tok(t, add_special_tokens=False)["input_ids"] for t in texts]


def run_raw(args) -> dict:
    from vllm import LLM, SamplingParams

    os.environ.update({"VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_CPU_KVCACHE_SPACE": str(args.kv_cache_gib),
                       "VLLM_CPU_OMP_THREADS_BIND": f"0-{(os.cpu_count() or 1) - 1}"})
    ids = prompts(args.model_path, args.problems)
    t0 = time.perf_counter()
    llm = LLM(model=args.model_path, seed=0, enforce_eager=args.eager, max_model_len=2048)
    t1 = time.perf_counter()
    params = SamplingParams(n=args.n, temperature=0.8, top_p=0.95, max_tokens=args.max_tokens)
    outs = llm.generate([{"prompt_token_ids": p} for p in ids], params, use_tqdm=False)
    t2 = time.perf_counter()
    tokens = sum(len(c.token_ids) for o in outs for c in o.outputs)
    return {"tokens": tokens, "samples": sum(len(o.outputs) for o in outs), "gen_s": t2 - t1, "wall_s": t2 - t0}


def run_ours(args) -> dict:
    from sampler.driver import sample

    ids = prompts(args.model_path, args.problems)
    requests = [{"problem_id": f"p{i}", "n": args.n, "prompt_token_ids": p} for i, p in enumerate(ids)]
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        stats = sample(requests, out, model=args.model_path,
                       sampling={"temperature": 0.8, "top_p": 0.95, "max_tokens": args.max_tokens},
                       engine_args={"enforce_eager": args.eager, "max_model_len": 2048}, seed=0,
                       kv_cache_gib=args.kv_cache_gib, progress=False)
        wall = time.perf_counter() - t0
    return {"tokens": stats["completion_tokens"], "samples": stats["sampled"], "gen_s": stats["engine_s"],
            "wall_s": wall}


def side(name: str, args) -> dict:
    """Run one side in a fresh interpreter and return its JSON line."""
    cmd = [sys.executable, __file__, "--side", name, "--model-path", args.model_path, "--problems", str(args.problems),
           "--n", str(args.n), "--max-tokens", str(args.max_tokens), "--kv-cache-gib", str(args.kv_cache_gib)]
    if not args.eager:
        cmd.append("--compiled")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    sys.exit(f"{name} side failed:\n{proc.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded:smollm2-135m-instruct")
    ap.add_argument("--model-path", help=argparse.SUPPRESS)
    ap.add_argument("--side", choices=["raw", "ours"], help=argparse.SUPPRESS)
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--kv-cache-gib", type=int, default=2)
    ap.add_argument("--compiled", dest="eager", action="store_false", help="let vLLM compile (slower start)")
    args = ap.parse_args()
    if args.side:
        print(json.dumps(run_raw(args) if args.side == "raw" else run_ours(args)))
        return
    from sampler.model import resolve_model

    args.model_path = resolve_model(args.model)
    print(f"{args.problems} HumanEval prompts x n={args.n}, max_tokens={args.max_tokens}, "
          f"{'eager' if args.eager else 'compiled'}, {os.cpu_count()} CPUs")
    raw, ours = side("raw", args), side("ours", args)
    print(f"{'':12}{'samples':>8}{'tokens':>9}{'gen s':>8}{'tok/s':>8}{'wall s':>8}{'tok/s e2e':>11}")
    for name, r in (("LLM.generate", raw), ("monkeys", ours)):
        print(f"{name:12}{r['samples']:>8}{r['tokens']:>9}{r['gen_s']:>8.1f}{r['tokens'] / r['gen_s']:>8.0f}"
              f"{r['wall_s']:>8.1f}{r['tokens'] / r['wall_s']:>11.0f}")
    gen = (ours["tokens"] / ours["gen_s"]) / (raw["tokens"] / raw["gen_s"])
    e2e = (ours["tokens"] / ours["wall_s"]) / (raw["tokens"] / raw["wall_s"])
    print(f"ratio monkeys / LLM.generate: engine tok/s {gen:.2f}, end-to-end tok/s {e2e:.2f}")


if __name__ == "__main__":
    main()
