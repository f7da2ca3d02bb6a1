"""A run directory at the paper's scale, verified and analysed: wall time and peak driver memory.

Builds a GSM8K run directory of 1,000,000 samples (100 test problems x 10,000; the texts are
real worked answers, the train split's cycled, with each problem's own gold answer mixed in
at about 2% so coverage is not trivial), written through the store in 10,000-row shards as a
sampler would. Then, each in a fresh process:

  verify   `monkeys verify RUN_DIR`: verify actors on the local Ray cluster, shards streamed
  analyze  `monkeys analyze RUN_DIR`: coverage curve, intervals, compute axes, fits, plot

and prints each one's wall time and peak resident memory of the driver process (the verify
actors' own processes are not the driver), against the goals (verify <= 2 GiB; analyze
<= 60 s and <= 4 GiB) and against a peer: the driver of the earlier design, which built the
list of every verification job in memory before verifying (measured here by building that
list from the same run directory).

Usage: python bench/bench_scale.py [--samples 1000000] [--problems 100] [--keep DIR]
Data: $MONKEYS_SHARED_DATA/gsm8k (default ../shared/data).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GIB = 1 << 30


def shared_data() -> Path:
    return Path(os.environ.get("MONKEYS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def build(run_dir: Path, samples: int, problems: int) -> None:
    import numpy as np
    import pyarrow as pa

    from experiments import config, pipeline, rundir

    data = shared_data() / "gsm8k"
    cfg = config.check({"name": "scale", "model": "embedded:smollm2-135m-instruct",
                        "task": {"name": "gsm8k", "source": str(data / "test.jsonl"), "limit": problems,
                                 "prompt": "raw"},
                        "sampling": {"n": samples // problems, "temperature": 0.6, "max_tokens": 256},
                        "verify": {"chunk": 20000}}, "bench")
    pipeline.prepare(cfg, run_dir)
    train = [json.loads(line)["answer"] for line in open(data / "train.jsonl")]
    gold = [json.loads(line)["answer"] for line in open(data / "test.jsonl")][:problems]
    pids = [p["problem_id"] for p in pipeline.read_problems(run_dir)]
    per = samples // problems
    rng = np.random.default_rng(0)
    shard = 10_000
    from tqdm import tqdm

    with tqdm(total=per * problems, desc="building", unit="sample") as bar:
        for p, pid in enumerate(pids):
            for start in range(0, per, shard):
                idx = np.arange(start, min(per, start + shard))
                pick = rng.integers(0, len(train), len(idx))
                own = rng.random(len(idx)) < 0.02
                texts = [gold[p] if o else train[j] for j, o in zip(pick, own)]
                lens = np.array([len(t) // 4 for t in texts])
                n = len(idx)
                rundir.write_samples(run_dir, pa.table({
                    "problem_id": [pid] * n, "sample_index": idx, "seed": idx, "text": texts,
                    "prompt_tokens": [120] * n, "completion_tokens": lens, "finish_reason": ["stop"] * n,
                    "worker": ["bench:0"] * n, "elapsed_s": lens * 1e-4, "engine": ["engine-0"] * n,
                    "engine_seed": [0] * n, "cumulative_logprob": [None] * n, "mean_logprob": [None] * n},
                    schema=rundir.SAMPLES_SCHEMA))
                bar.update(n)


# Runs one module or snippet as __main__ and reports this process's own peak RSS (the driver
# alone: Ray's actors are other processes).
WRAP = """
import resource, runpy, sys
sys.argv = {argv!r}
try:
    {body}
finally:
    print(f"PEAK_RSS_KB={{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}", file=sys.stderr, flush=True)
"""


def timed(argv: list[str], body: str = "runpy.run_module(sys.argv[0], run_name='__main__')") -> tuple:
    """(wall seconds, the child's own peak RSS in GiB, output tail)."""
    code = WRAP.format(argv=argv, body=body)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false"))
    wall = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 or "PEAK_RSS_KB=" not in out:
        raise SystemExit(f"{' '.join(argv)} failed:\n{out[-4000:]}")
    peak = int(out.rsplit("PEAK_RSS_KB=", 1)[1].split()[0])
    return wall, peak * 1024 / GIB, proc.stdout


PEER = """
import json, resource, sys
sys.path.insert(0, {root!r})
from experiments import pipeline, rundir
run = {run!r}
problems = {{p["problem_id"]: p for p in pipeline.read_problems(run)}}
samples = rundir.read_samples(run, ["problem_id", "sample_index", "text"])
refs, jobs = {{}}, []
for pid, idx, text in zip(samples["problem_id"].to_pylist(), samples["sample_index"].to_pylist(),
                          samples["text"].to_pylist()):
    if pid not in refs:
        refs[pid] = json.loads(problems[pid]["reference"])
    jobs.append({{"problem_id": pid, "sample_index": idx, "verifier": problems[pid]["verifier"], "text": text,
                 "reference": refs[pid]}})
print(len(jobs))
"""


def scale_run(description: str, prefix: str):
    """The command line shared by the scale benches: (args, base folder, run directory), the
    run built if it is not there yet; None when the GSM8K data is missing (the bench skips)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--problems", type=int, default=100)
    ap.add_argument("--keep", metavar="DIR", help="build the run directory here and keep it")
    args = ap.parse_args()
    if not (shared_data() / "gsm8k" / "train.jsonl").is_file():
        print(f"skip: {shared_data() / 'gsm8k'} not found; set MONKEYS_SHARED_DATA")
        return None
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix=prefix))
    run_dir = base / "run"
    if not (run_dir / "samples").exists():
        t0 = time.monotonic()
        build(run_dir, args.samples, args.problems)
        print(f"built {args.samples:,} samples in {time.monotonic() - t0:.0f} s: {run_dir}")
    return args, base, run_dir


def main() -> int:
    setup = scale_run(__doc__.splitlines()[0], "monkeys-scale-")
    if setup is None:
        return 0
    args, base, run_dir = setup
    wall_p, rss_p, _ = timed(["peer"], body=PEER.format(root=str(ROOT), run=str(run_dir)).replace("\n", "\n    "))
    wall_v, rss_v, tail_v = timed(["experiments.cli", "verify", str(run_dir)])
    print([ln for ln in tail_v.splitlines() if ln.startswith("verdicts:")][-1])
    wall_a, rss_a, _ = timed(["experiments.cli", "analyze", str(run_dir)])
    rep = json.loads((run_dir / "report.json").read_text())
    print(f"coverage@1 {100 * rep['coverage']['pass_at_k'][0]:.2f}%, "
          f"coverage@{rep['samples_per_problem']} {100 * rep['coverage']['pass_at_k'][-1]:.2f}%")
    print(f"\n{args.samples:,} GSM8K samples, {args.problems} problems, {os.cpu_count()} CPUs")
    print(f"{'stage':<10}{'wall s':>9}{'peak driver RSS':>18}{'goal':>22}{'RSS / goal':>12}")
    print(f"{'verify':<10}{wall_v:9.1f}{rss_v:15.2f} GiB{'RSS <= 2 GiB':>22}{rss_v / 2:12.2f}")
    print(f"{'analyze':<10}{wall_a:9.1f}{rss_a:15.2f} GiB{'<= 60 s, <= 4 GiB':>22}{rss_a / 4:12.2f}"
          f"   (wall / goal {wall_a / 60:.2f})")
    print(f"peer: the earlier verify driver's job list alone: {rss_p:.2f} GiB peak, {wall_p:.1f} s "
          f"(streamed driver / peer: {rss_v / rss_p:.2f}x memory)")
    if not args.keep:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
