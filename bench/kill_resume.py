"""Fault injection on the real stack: SIGKILL a run at random moments, kill an engine actor
mid-run, and check that resuming ends with exactly problems x n samples, none twice.

    python bench/kill_resume.py [--kills 5] [--problems 12] [--n 32] [--seed 0]

Part 1 runs `monkeys run` in its own process group and SIGKILLs the whole group (driver, Ray,
engine) at a random moment, `--kills` times, then lets a last run finish. Part 2 calls the
sampler in-process and `ray.kill`s the engine actor once its first shard is on disk; the
driver must re-queue the lost units on a new actor and complete. Slow (engine starts dominate:
about a minute each), so it is a script rather than part of the test suite.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIG = """
name = "kill-resume"
model = "embedded:smollm2-135m-instruct"
seed = {seed}
[task]
name = "humaneval"
limit = {problems}
[sampling]
n = {n}
temperature = 0.8
max_tokens = 128
[engine]
enforce_eager = true
max_model_len = 1024
kv_cache_gib = 1
unit_size = 4
inflight = 64
[verify]
timeout = 5
"""


def keys(folder: Path) -> list[tuple]:
    import pyarrow.parquet as pq

    out = []
    for part in sorted(folder.glob("part-*.parquet")):
        t = pq.read_table(part, columns=["problem_id", "sample_index"])
        out += list(zip(t["problem_id"].to_pylist(), t["sample_index"].to_pylist()))
    return out


def clean_up() -> None:
    """Leftovers of a SIGKILLed run: Ray's local cluster and vLLM engine processes."""
    subprocess.run([str(Path(sys.executable).parent / "ray"), "stop", "--force"], capture_output=True)
    subprocess.run(["pkill", "-9", "-f", "VLLM::"], capture_output=True)


def check(run_dir: Path, problems: int, n: int, what: str) -> None:
    expected = {(f"HumanEval/{p}", i) for p in range(problems) for i in range(n)}
    for folder in ("samples", "verdicts"):
        got = keys(run_dir / folder)
        dupes = [k for k, c in Counter(got).items() if c > 1]
        ok = set(got) == expected and not dupes
        print(f"{what}: {folder}: {len(got)} rows, {len(set(got))} distinct of {len(expected)} expected, "
              f"{len(dupes)} duplicated -> {'OK' if ok else 'FAIL'}")
        if not ok:
            sys.exit(1)


def kill_and_resume(args, base: Path) -> None:
    cfg = base / "exp.toml"
    cfg.write_text(CONFIG.format(seed=args.seed, problems=args.problems, n=args.n))
    run_dir = base / "run"
    cmd = [sys.executable, "-m", "experiments.cli", "run", str(cfg), "--out", str(run_dir)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    rng = random.Random(args.seed)
    for k in range(args.kills):
        log = open(base / f"attempt{k}.log", "wb")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        delay = rng.uniform(20, 100)
        try:
            code = proc.wait(timeout=delay)
            print(f"kill {k + 1}: run ended by itself (exit {code}) before {delay:.0f} s")
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            have = len(keys(run_dir / "samples")) if (run_dir / "samples").exists() else 0
            verdicts = len(keys(run_dir / "verdicts")) if (run_dir / "verdicts").exists() else 0
            print(f"kill {k + 1}: SIGKILL after {delay:.0f} s; {have} samples, {verdicts} verdicts on disk")
        clean_up()
    final = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if final.returncode != 0:
        sys.exit(f"final run failed:\n{final.stderr[-3000:]}")
    check(run_dir, args.problems, args.n, "after kills and resume")


def actor_kill(args, base: Path) -> None:
    import ray

    from experiments.tasks import load_humaneval
    from sampler.driver import sample
    from sampler.model import EMBEDDED, resolve_model

    problems = load_humaneval(limit=args.problems)
    reqs = [{"problem_id": p["problem_id"], "n": args.n, "prompt": p["raw"]} for p in problems]
    out = base / "actor"
    killed = {}

    def killer():
        while not list((out / "samples").glob("part-*.parquet")):
            time.sleep(0.5)
        killed["samples_before"] = len(keys(out / "samples"))
        ray.kill(ray.get_actor("engine-0"))

    threading.Thread(target=killer, daemon=True).start()
    from experiments.rundir import SAMPLES_SCHEMA, write_shard

    stats = sample(reqs, sink=lambda rows: write_shard(out / "samples", rows, SAMPLES_SCHEMA),
                   model=resolve_model(EMBEDDED), sampling={"temperature": 0.8, "max_tokens": 128},
                   engine_args={"enforce_eager": True, "max_model_len": 1024}, seed=args.seed, unit_size=4,
                   kv_cache_gib=1, flush_s=1.0, progress=False)
    ray.shutdown()
    print(f"ray.kill(engine-0) with {killed.get('samples_before')} samples on disk; restarts {stats['restarts']}")
    if stats["restarts"] < 1:
        sys.exit("FAIL: the actor was not killed mid-run")
    got = keys(out / "samples")
    expected = {(p["problem_id"], i) for p in problems for i in range(args.n)}
    ok = set(got) == expected and len(got) == len(expected)
    print(f"after actor kill: {len(got)} rows, {len(set(got))} distinct of {len(expected)} -> {'OK' if ok else 'FAIL'}")
    if not ok:
        sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--problems", type=int, default=12)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-kills", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_kills:
            kill_and_resume(args, Path(tmp))
        actor_kill(args, Path(tmp))


if __name__ == "__main__":
    main()
