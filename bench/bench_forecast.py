"""Forecast check of the coverage forecasters on real outcomes, and the paper's power-law fit.

1. The power-law fit of the full Pythia MATH curves (k = 1..10,000; analysis.fit's paper rule)
   next to Brown et al. 2024, Fig. 5.
2. The forecast check (analysis.forecast_check): a pilot of m of each problem's outcomes,
   forecast of coverage@K, 20 draws; MAE, bias, interval hits and width per forecaster and
   model, on held-out samples and on held-out problems. Default checks: 100 -> 10,000 and
   10 -> 100 on the Pythia counts. Any run directory or counts file can be added with --data
   (for example a HumanEval run with 100 samples per problem: --data runs/<name> --m 10 --target 100).
3. The forecast-mode pilot (analysis.allocate) against a uniform pilot of the same total
   samples, replayed on each problem's real outcomes in a random order (--policy).
4. A figure: one 100-sample pilot of Pythia 160M, its forecast and band to 10,000, and the
   curve of all 10,000 samples.

Data: $MONKEYS_SHARED_DATA/monkeys_pythia_math/per_problem_counts.csv (default ../shared/data).
Usage: python bench/bench_forecast.py [--repeats 20] [--json out.json] [--figure docs/forecast_pythia160m.png]
                                      [--data RUN_OR_CSV --m 10 --target 100 [--data-figure PNG]] [--policy]
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from analysis.allocate import forecast_plan  # noqa: E402
from analysis.counts import read_counts  # noqa: E402
from analysis.fit import fit_power_law  # noqa: E402
from analysis.forecast import METHODS, fit_forecast  # noqa: E402
from analysis.forecast_check import forecast_check, format_check  # noqa: E402
from analysis.passk import coverage_curve  # noqa: E402
from experiments.rundir import read_run  # noqa: E402

PAPER = {"Pythia 70M": (-7.59, -0.18), "Pythia 12B": (-3.92, -0.35)}   # Brown et al. 2024, Fig. 5


def pythia_path() -> Path:
    base = Path(os.environ.get("MONKEYS_SHARED_DATA", ROOT.parent / "shared" / "data"))
    return base / "monkeys_pythia_math" / "per_problem_counts.csv"


def load(source: str) -> dict:
    path = Path(source)
    if path.is_dir():
        run = read_run(path)
        name = (run["config"].get("model") or {}).get("name") or path.name
        task = (run["config"].get("task") or {}).get("name")
        return {name: {"n": run["n"], "c": run["c"], "problem_ids": list(run["problem_ids"]),
                       "benchmark": task}}
    return read_counts(path)


def markdown(results: dict, kind: str) -> str:
    methods = list(next(iter(results.values()))[kind])
    floor = kind == "same"
    head = "| model | truth | " + ("floor | " if floor else "") + " | ".join(
        f"{METHODS[x].label} MAE | bias | hits | width" for x in methods) + " |"
    lines = [head, "|" + "---|" * (2 + floor + 4 * len(methods))]
    for name, res in results.items():
        truth = res["truth"] if kind == "same" else float(np.mean(res[kind][methods[0]]["truths"]))
        fl = res["floor"]["mean_abs"] if floor else None
        cells = [] if not floor else ["-" if fl is None else f"{100 * fl:.2f}"]
        for x in methods:
            s = res[kind][x]
            cells += [f"{100 * s['mean_abs_error']:.2f}", f"{100 * s['mean_error']:+.2f}",
                      f"{s['interval_hits']:.2f}", f"{100 * s['mean_width']:.1f}"]
        lines.append(f"| {name} | {100 * truth:.2f} | " + " | ".join(cells) + " |")
    pooled = []
    for x in methods:
        s = [res[kind][x] for res in results.values()]
        pooled += [f"{100 * np.mean([t['mean_abs_error'] for t in s]):.2f}", "",
                   f"{np.mean([t['interval_hits'] for t in s]):.2f}", ""]
    lines.append("| mean over models | | " + ("| " if floor else "") + " | ".join(pooled) + " |")
    return "\n".join(lines)


def paper_fit(data: dict) -> str:
    lines = ["| model | a | b | paper a | paper b |", "|---|---|---|---|---|"]
    for name, rec in data.items():
        k, cov = coverage_curve(rec["n"], rec["c"])
        fit = fit_power_law(k, cov)
        pa, pb = PAPER.get(name, (None, None))
        lines.append(f"| {name} | {fit['a']:.3f} | {fit['b']:.4f} | {'' if pa is None else pa} | "
                     f"{'' if pb is None else pb} |")
    return "\n".join(lines)


def replay_policy(n, c, total: int, min_samples: int, cap: int, stop_after: int, step: int, rng):
    """Per-problem (attempts, successes, successes in the first min_samples) after spending
    `total` samples with analysis.allocate.forecast_plan, each problem's outcomes in a random order."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Tally:
        attempts: int
        successes: int
        pending: int = 0

    N = n.size
    order = [rng.permutation(np.r_[np.ones(ci, bool), np.zeros(ni - ci, bool)]) for ni, ci in zip(n, c)]
    cum = [np.r_[0, np.cumsum(o)] for o in order]
    attempts = np.zeros(N, dtype=np.int64)
    state = {i: Tally(0, 0) for i in range(N)}
    while True:
        got = forecast_plan(state, total=total, min_samples=min_samples, cap=cap, stop_after=stop_after, step=step)
        if not got:
            break
        for i, more in got.items():
            attempts[i] = min(attempts[i] + more, n[i])
            state[i] = Tally(int(attempts[i]), int(cum[i][attempts[i]]))
    succ = np.array([cum[i][attempts[i]] for i in range(N)])
    prefix = np.array([cum[i][min_samples] for i in range(N)])
    return attempts, succ, prefix


def policy_check(data: dict, repeats: int, m: int = 100, min_samples: int = 50, stop_after: int = 3,
                 step: int = 10, methods=("power_law", "beta_binomial")) -> str:
    """Uniform pilot of m per problem against the forecast-mode pilot of the same total."""
    lines = [f"| model | truth | " + " | ".join(f"{METHODS[x].label} uniform {m} MAE | forecast-mode MAE"
                                               for x in methods) + " |", "|" + "---|" * (2 + 2 * len(methods))]
    for name, rec in data.items():
        n, c = rec["n"], rec["c"]
        K = int(n.min())
        truth = float(np.mean(c > 0))
        errs = {(x, kind): [] for x in methods for kind in ("uniform", "forecast")}
        for r in range(repeats):
            rng = np.random.default_rng([11, r])
            att, succ, prefix = replay_policy(n, c, total=m * n.size, min_samples=min_samples, cap=K,
                                              stop_after=stop_after, step=step, rng=rng)
            c_uni = np.random.default_rng([12, r]).hypergeometric(c, n - c, m)
            for x in methods:
                uni = fit_forecast(np.full(n.size, m), c_uni, x, num_boot=0).same([K])["coverage"][0]
                fm = fit_forecast(att, succ, x, num_boot=0, curve_n=np.full(n.size, min_samples),
                                  curve_c=prefix).same([K])["coverage"][0]
                errs[(x, "uniform")].append(uni - truth)
                errs[(x, "forecast")].append(fm - truth)
        cells = []
        for x in methods:
            for kind in ("uniform", "forecast"):
                e = np.array(errs[(x, kind)], dtype=float)
                cells.append(f"{100 * np.nanmean(np.abs(e)):.2f} ({100 * np.nanmean(e):+.1f})")
        lines.append(f"| {name} | {100 * truth:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(data: dict, path: Path, model: str = "Pythia 160M", m: int = 100, seed: int = 2024,
           title: str | None = None):
    from analysis.plots import plot_forecast

    rec = data[model]
    n, c = rec["n"], rec["c"]
    c_sub = np.random.default_rng(seed).hypergeometric(c, n - c, m)
    fc = fit_forecast(np.full(n.size, m), c_sub, "power_law", num_boot=200, seed=seed, intervals=("same",))
    K = int(n.min())
    kf = np.unique(np.round(np.geomspace(m, K, 120)).astype(np.int64))
    band = {**fc.same(kf), "level": fc.level, "method": fc.method.label}
    kp, cp = coverage_curve(np.full(n.size, m), c_sub)
    kt, ct = coverage_curve(n, c)
    sel = np.unique(np.round(np.geomspace(1, K, 400)).astype(np.int64)) - 1
    return plot_forecast({"k": kp.tolist(), "coverage": cp.tolist()}, band, path.with_suffix(""),
                         title=title or f"{model} on MATH: forecast from {m} samples per problem",
                         measured={"k": kt[sel].tolist(), "coverage": ct[sel].tolist(),
                                   "label": f"measured, all {K:,} samples"})


def write_pilot(data: dict, path: Path, m: int = 100, seed: int = 2024):
    """m of each problem's outcomes, drawn without replacement, as a counts CSV."""
    rng = np.random.default_rng(seed)
    lines = ["model,problem_id,n,c"]
    for name, rec in data.items():
        c_sub = rng.hypergeometric(rec["c"], rec["n"] - rec["c"], m)
        lines += [f"{name},{pid},{m},{int(ci)}" for pid, ci in zip(rec["problem_ids"], c_sub)]
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--level", type=float, default=0.9)
    ap.add_argument("--data", action="append", default=[], help="extra run directory or counts CSV to check")
    ap.add_argument("--m", type=int, default=10, help="pilot size for --data (default 10)")
    ap.add_argument("--target", type=int, help="K for --data (default: the fewest samples of any problem)")
    ap.add_argument("--no-pythia", action="store_true", help="skip the Pythia checks")
    ap.add_argument("--policy", action="store_true", help="also replay the forecast-mode pilot policy")
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--figure", metavar="PNG", help="one 100-sample pilot of Pythia 160M, forecast to 10,000")
    ap.add_argument("--data-figure", metavar="PNG", help="the same for the first --data, from a pilot of --m")
    ap.add_argument("--pilot-csv", metavar="PATH", help="write a 100-sample pilot of every Pythia model (seed 2024) "
                    "as a counts file, the input of the `monkeys plan` example in docs/forecast.md")
    args = ap.parse_args()
    out = {}
    checks = []
    if not args.no_pythia:
        path = pythia_path()
        if not path.is_file():
            print(f"{path} not found; set MONKEYS_SHARED_DATA (or pass --no-pythia with --data)")
            return 1
        pythia = read_counts(path)
        print("## power-law fit, paper rule (k = 1..10,000)\n" + paper_fit(pythia) + "\n", flush=True)
        checks += [("pythia", pythia, 100, 10_000), ("pythia", pythia, 10, 100)]
        if args.figure:
            print("wrote", figure(pythia, Path(args.figure))[0])
        if args.pilot_csv:
            write_pilot(pythia, Path(args.pilot_csv))
            print("wrote", args.pilot_csv)
    for src in args.data:
        checks.append((src, load(src), args.m, args.target))
    if args.data and args.data_figure:
        data = checks[-len(args.data)][1]
        name = next(iter(data))
        task = f" on {data[name]['benchmark']}" if data[name].get("benchmark") else ""
        print("wrote", figure(data, Path(args.data_figure), model=name, m=args.m,
                              title=f"{name}{task}\nforecast from {args.m} samples per problem")[0])
    for label, data, m, target in checks:
        t0 = time.time()
        res = {name: forecast_check(rec["n"], rec["c"], m=m, target=target, repeats=args.repeats,
                                    num_boot=args.bootstrap, level=args.level) for name, rec in data.items()}
        key = f"{label}: {m} -> {next(iter(res.values()))['target_k']}"
        out[key] = res
        print(f"## {key} ({time.time() - t0:.0f} s)\n{format_check(res)}\n")
        for kind, title in (("same", "held-out samples"), ("held_out", "held-out problems")):
            print(f"### {title}\n{markdown(res, kind)}\n", flush=True)
    if args.policy and not args.no_pythia:
        t0 = time.time()
        print("## forecast-mode pilot against a uniform pilot of the same total (12,800 samples), "
              f"MAE (bias) at coverage@10,000 ({args.repeats} replays)")
        print(policy_check(pythia, args.repeats))
        print(f"({time.time() - t0:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
