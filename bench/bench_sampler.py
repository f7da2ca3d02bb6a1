"""Sampler throughput: this engine (Ray actor, step-driven, shards on disk) against a raw
`LLM.generate` and against the Large Language Monkeys method, over the same prompts, same
model, same sampling settings, in the same run.

    python bench/bench_sampler.py [--problems 16] [--n 16] [--max-tokens 128] [--pool 4] [--no-http]

Sides, each in its own fresh process, one after the other, so they do not share cores:
  LLM.generate  the bound: the same engine with nothing around it, all prompts in one call.
  http-pool     the original paper code's method: a vLLM OpenAI-compatible server and one
                request of n samples per problem, sent problem by problem from a small pool of
                worker threads (--pool).
  monkeys       this project's sampler.
All count output tokens. "gen" throughput divides by generation time only (model load and
server start excluded); "e2e" by the whole wall time including engine or server start.
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
    llm = LLM(model=args.model_path, seed=0, enforce_eager=args.eager, max_model_len=2048, dtype=args.dtype)
    t1 = time.perf_counter()
    params = SamplingParams(n=args.n, temperature=0.8, top_p=0.95, max_tokens=args.max_tokens)
    outs = llm.generate([{"prompt_token_ids": p} for p in ids], params, use_tqdm=False)
    t2 = time.perf_counter()
    tokens = sum(len(c.token_ids) for o in outs for c in o.outputs)
    return {"tokens": tokens, "samples": sum(len(o.outputs) for o in outs), "gen_s": t2 - t1, "wall_s": t2 - t0}


def run_ours(args, engines: int = 1) -> dict:
    """This sampler; rows go through the run directory's store into a temporary folder."""
    from experiments.rundir import SAMPLES_SCHEMA, write_shard
    from sampler.driver import sample

    ids = prompts(args.model_path, args.problems)
    requests = [{"problem_id": f"p{i}", "n": args.n, "prompt_token_ids": p} for i, p in enumerate(ids)]
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        stats = sample(requests, sink=lambda rows: write_shard(out, rows, SAMPLES_SCHEMA), model=args.model_path,
                       sampling={"temperature": 0.8, "top_p": 0.95, "max_tokens": args.max_tokens},
                       engine_args={"enforce_eager": args.eager, "max_model_len": 2048, "dtype": args.dtype}, seed=0,
                       kv_cache_gib=args.kv_cache_gib, num_engines=engines, cpus_per_engine=max(1, cores // engines),
                       progress=False)
        wall = time.perf_counter() - t0
    # With several engines, generation time is the wall time once the last engine was ready
    # (their busy times overlap); with one it is the engine's own busy time, as before.
    gen = stats["engine_s"] if engines == 1 else wall - stats["ready_s"]
    return {"tokens": stats["completion_tokens"], "samples": stats["sampled"], "gen_s": gen, "wall_s": wall,
            "after_ready_s": wall - stats["ready_s"]}


def run_ours2(args) -> dict:
    return run_ours(args, engines=2)


def run_http(args) -> dict:
    """vLLM server + a pool of workers, one n-sample request per problem (completions API)."""
    import signal
    import socket
    import urllib.request

    from transformers import AutoTokenizer

    from sampler.openai_backend import sample_openai

    ids = prompts(args.model_path, args.problems)
    tok = AutoTokenizer.from_pretrained(args.model_path)
    texts = [tok.decode(p) for p in ids]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, VLLM_CPU_NUM_OF_RESERVED_CPU="0", VLLM_CPU_KVCACHE_SPACE=str(args.kv_cache_gib),
               VLLM_CPU_OMP_THREADS_BIND=f"0-{(os.cpu_count() or 1) - 1}")
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", args.model_path, "--host",
           "127.0.0.1", "--port", str(port), "--max-model-len", "2048", "--seed", "0",
           "--dtype", args.dtype]
    if args.eager:
        cmd.append("--enforce-eager")
    t0 = time.perf_counter()
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit("vllm server exited during start-up")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        t1 = time.perf_counter()
        reqs = [{"problem_id": f"p{i}", "prompt": t, "count": args.n} for i, t in enumerate(texts)]
        out = sample_openai(f"http://127.0.0.1:{port}/v1", args.model_path, reqs, temperature=0.8, top_p=0.95,
                            max_tokens=args.max_tokens, chat=False, concurrency=args.pool, max_n=args.n,
                            extra_body={"return_token_ids": True}, timeout=3600)
        t2 = time.perf_counter()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    return {"tokens": sum(s["completion_tokens"] for s in out), "samples": len(out), "gen_s": t2 - t1,
            "wall_s": t2 - t0}


def side(name: str, args) -> dict:
    """Run one side in a fresh interpreter and return its JSON line."""
    cmd = [sys.executable, __file__, "--side", name, "--model-path", args.model_path, "--problems", str(args.problems),
           "--n", str(args.n), "--max-tokens", str(args.max_tokens), "--kv-cache-gib", str(args.kv_cache_gib),
           "--pool", str(args.pool), "--dtype", args.dtype]
    if not args.eager:
        cmd.append("--compiled")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            print(f"  {name} side done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            return json.loads(line)
    sys.exit(f"{name} side failed:\n{proc.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded:smollm2-135m-instruct")
    ap.add_argument("--model-path", help=argparse.SUPPRESS)
    ap.add_argument("--side", choices=["raw", "ours", "ours2", "http"], help=argparse.SUPPRESS)
    ap.add_argument("--pool", type=int, default=4, help="worker threads of the http-pool side")
    ap.add_argument("--no-http", dest="http", action="store_false", help="skip the http-pool side")
    ap.add_argument("--no-split", dest="split", action="store_false",
                    help="skip the two-engines side (two engines of half the cores each, same work)")
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--kv-cache-gib", type=int, default=2)
    ap.add_argument("--dtype", default="auto", help="model dtype for every side (auto: as the sampler picks it)")
    ap.add_argument("--compiled", dest="eager", action="store_false", help="let vLLM compile (slower start)")
    args = ap.parse_args()
    if args.side:
        print(json.dumps({"raw": run_raw, "ours": run_ours, "ours2": run_ours2, "http": run_http}[args.side](args)))
        return
    from sampler.engine import engine_dtype
    from sampler.model import resolve_model

    args.model_path = resolve_model(args.model)
    args.dtype = engine_dtype(args.dtype)
    print(f"{args.problems} HumanEval prompts x n={args.n}, max_tokens={args.max_tokens}, "
          f"{'eager' if args.eager else 'compiled'}, {args.dtype}, {os.cpu_count()} CPUs")
    results = {"LLM.generate": side("raw", args)}
    if args.http:
        results[f"http-pool {args.pool}"] = side("http", args)
    results["monkeys"] = ours = side("ours", args)
    if args.split:
        results["monkeys 2 eng"] = side("ours2", args)
    print(f"{'':14}{'samples':>8}{'tokens':>9}{'gen s':>8}{'tok/s':>8}{'wall s':>8}{'tok/s e2e':>11}")
    for name, r in results.items():
        print(f"{name:14}{r['samples']:>8}{r['tokens']:>9}{r['gen_s']:>8.1f}{r['tokens'] / r['gen_s']:>8.0f}"
              f"{r['wall_s']:>8.1f}{r['tokens'] / r['wall_s']:>11.0f}")
    for name, r in results.items():
        if name.startswith("monkeys"):
            continue
        gen = (ours["tokens"] / ours["gen_s"]) / (r["tokens"] / r["gen_s"])
        e2e = (ours["tokens"] / ours["wall_s"]) / (r["tokens"] / r["wall_s"])
        print(f"ratio monkeys / {name}: gen tok/s {gen:.2f}, e2e tok/s {e2e:.2f}")
    raw = results["LLM.generate"]
    for name, r in results.items():
        if name.startswith("http-pool"):
            # No engine outruns LLM.generate on the same engine, so this caps monkeys / http-pool.
            print(f"ceiling for monkeys / {name} on this machine (LLM.generate / {name}): "
                  f"gen tok/s {(raw['tokens'] / raw['gen_s']) / (r['tokens'] / r['gen_s']):.2f}")

    if "monkeys 2 eng" in results:
        two = results["monkeys 2 eng"]
        half = (os.cpu_count() or 2) // 2
        print(f"two engines x {half} cores / one engine x {2 * half} cores, same work: tok/s once every engine "
              f"is loaded {(two['tokens'] / two['after_ready_s']) / (ours['tokens'] / ours['after_ready_s']):.2f}, "
              f"e2e {(two['tokens'] / two['wall_s']) / (ours['tokens'] / ours['wall_s']):.2f}")


if __name__ == "__main__":
    main()
