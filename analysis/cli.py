"""`monkeys analyze`, `monkeys compare` and `monkeys plan`: their arguments and what they do.

experiments/cli.py builds the one parser tree with the add_*_args functions here and calls a
command with the parsed arguments and `read_run` (a run directory -> its data, as
experiments.rundir.read_run gives it): nothing here reads a run directory itself. A command
returns its exit status; bad input prints one line naming the problem and the fix to stderr
and returns 2. The heavy modules are imported when a command runs, not when the tree is built.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


# ------------------------------------------------------------------------------------ analyze


def add_analyze_args(p) -> None:
    p.add_argument("run_dir", nargs="?", help="run directory (runs/<name>); writes report.json and coverage.png/.svg into it")
    p.add_argument("--counts", metavar="CSV", help="per-problem counts: problem_id, n, c [, model] "
                   "(orig_dset_idx, num_samples, num_correct also accepted)")
    p.add_argument("--out", metavar="DIR", help="where --counts writes coverage.png/.svg and report.json (default: .)")
    p.add_argument("--json", metavar="PATH", help="with --counts: per model, coverage at every k and the fit's a and b")
    p.add_argument("--benchmark", help="benchmark name for frontier lines (default: from config.toml / the CSV)")
    p.add_argument("--frontier", metavar="CSV", help="extra frontier rows: model, benchmark, score (percent), source")
    p.add_argument("--frontier-run", metavar="RUN_DIR", action="append", default=[],
                   help="single-shot run of a frontier model; its pass@1 becomes a frontier line (repeatable)")
    p.add_argument("--forecast-check", type=int, metavar="M",
                   help="draw M of each problem's n outcomes (20 times) and check every forecaster's coverage@K "
                        "and interval against all n outcomes, on the same problems and on held-out problems")
    p.add_argument("--target", type=int, metavar="K", help="with --forecast-check: the K forecast (default: the fewest n)")
    p.add_argument("--repeats", type=int, default=20, help="with --forecast-check: draws (default 20)")
    p.add_argument("--methods", help="with --forecast-check: forecasters, comma-separated (default: every one)")
    p.add_argument("--forecast-bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap replicates behind each forecast interval (default 200)")
    p.add_argument("--level", type=float, default=0.9, help="forecast interval level (default 0.9)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals (default 1000)")
    p.add_argument("--seed", type=int, default=0)


def _check(n, c, args) -> dict:
    """Run the forecast check with the command line's settings."""
    from .forecast import METHODS
    from .forecast_check import forecast_check
    from .passk import CountsError

    if args.forecast_bootstrap < 10:
        raise CountsError(f"--forecast-bootstrap must be >= 10, got {args.forecast_bootstrap}")
    if args.repeats < 1:
        raise CountsError(f"--repeats must be >= 1, got {args.repeats}")
    methods = [x.strip() for x in (args.methods or ",".join(METHODS)).split(",") if x.strip()]
    return forecast_check(n, c, m=args.forecast_check, target=args.target, repeats=args.repeats, seed=args.seed,
                          methods=methods, num_boot=args.forecast_bootstrap, level=args.level)


def analyze_command(args, read_run) -> int:
    from .counts import read_counts
    from .forecast_check import format_check
    from .passk import CountsError
    from .report import analyze_counts, analyze_run, format_models, format_table

    try:
        if bool(args.run_dir) == bool(args.counts):
            raise CountsError("give either RUN_DIR or --counts CSV (exactly one)")
        if args.bootstrap < 1:
            raise CountsError(f"--bootstrap must be >= 1, got {args.bootstrap}")
        if args.run_dir:
            run = read_run(args.run_dir)
            rep = analyze_run(run, num_boot=args.bootstrap, seed=args.seed, benchmark=args.benchmark,
                              frontier_csv=args.frontier, frontier_runs=[read_run(d) for d in args.frontier_run])
            print(format_table(rep))
            for fr in rep.get("frontier", []):
                cross = fr["crossovers"][0]
                where = ("not reached" if cross.get("k") is None else
                         f"passed at k = {cross['k']}" + ("" if cross["observed"] else f" ({cross.get('method')})"))
                print(f"frontier {fr['model']} {100 * fr['score']:.1f}%: {where}")
            for note in rep["notes"]:
                print(f"note: {note}")
            if args.forecast_check:
                mode = (rep.get("budget") or {}).get("mode")
                if mode:
                    raise CountsError(f"{args.run_dir}: a {mode}-mode run stops sampling on the outcomes; the "
                                      "forecast check needs a run with the same samples for every problem")
                res = {rep["model"]: _check(run["n"], run["c"], args)}
                print(format_check(res))
                rep["forecast_check"] = res[rep["model"]]
                (Path(args.run_dir) / "report.json").write_text(json.dumps(rep, indent=1))
            print(f"wrote {Path(args.run_dir) / 'report.json'}, {rep['plots'][0]}, {rep['plots'][1]}")
            return 0
        out_dir = Path(args.out or ".")
        result = analyze_counts(args.counts, out_dir, num_boot=args.bootstrap, seed=args.seed,
                                frontier_csv=args.frontier, benchmark=args.benchmark)
        print(format_models(result))
        if args.forecast_check:
            data = read_counts(args.counts)
            res = {name: _check(rec["n"], rec["c"], args) for name, rec in data.items()}
            print(format_check(res))
            for name, fc in res.items():
                result["models"][name]["forecast_check"] = fc
        (out_dir / "report.json").write_text(json.dumps(result, indent=1))
        if args.json:
            slim = {name: {"k": list(range(1, len(r["coverage_every_k"]) + 1)), "coverage": r["coverage_every_k"],
                           "a": r["fit"]["a"], "b": r["fit"]["b"]} for name, r in result["models"].items()}
            Path(args.json).write_text(json.dumps(slim))
            print(f"wrote {args.json}")
        print(f"wrote {out_dir / 'report.json'}, {result['plots'][0]}, {result['plots'][1]}")
        return 0
    except (ValueError, OSError) as e:   # CountsError and the run directory's errors are ValueErrors
        return _fail(str(e))


# ------------------------------------------------------------------------------------ compare


def add_compare_args(p) -> None:
    p.add_argument("inputs", nargs="+", help="run directories and/or counts CSV files")
    p.add_argument("--out", metavar="STEM", default="compare", help="output path without extension (default: ./compare)")
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)


def compare_command(args, read_run) -> int:
    """Overlay coverage curves of several run directories and/or counts CSVs (one curve per model)."""
    from .counts import read_counts
    from .passk import CountsError
    from .plots import plot_coverage
    from .report import curve_report, format_table, run_curve

    try:
        curves = []
        for item in args.inputs:
            path = Path(item)
            if path.is_dir():
                run = read_run(path)
                rep = run_curve(run, num_boot=args.bootstrap, seed=args.seed)   # first-k for solve-mode runs
                label = (run["config"].get("model") or {}).get("name") or path.name
                sources = [(label, rep)]
            elif path.is_file():
                sources = [(name, curve_report(r["n"], r["c"], num_boot=args.bootstrap, seed=args.seed))
                           for name, r in read_counts(path).items()]
            else:
                raise CountsError(f"{item}: neither a run directory nor a counts CSV")
            for label, rep in sources:
                rep["model"] = label
                print(format_table(rep))
                curves.append(dict(rep["coverage"], label=label, fit=rep["fit"]))
        paths = plot_coverage(curves, Path(args.out), title="coverage comparison", axes=["k"])
        print(f"wrote {paths[0]}, {paths[1]}")
        return 0
    except (ValueError, OSError) as e:
        return _fail(str(e))


# ------------------------------------------------------------------------------------ plan


def add_plan_args(p) -> None:
    p.add_argument("run_dir", nargs="?", help="the pilot's run directory (runs/<name>)")
    p.add_argument("--counts", metavar="CSV", help="per-problem counts instead: problem_id, n, c [, model]")
    p.add_argument("--model", help="with --counts: the model to plan for (default: every model in the file)")
    p.add_argument("--target", help="target coverage: a fraction (0.6) or a percentage (60 or 60%%)")
    p.add_argument("--k", default="100,1000,10000", help="samples per problem to forecast at (default 100,1000,10000)")
    p.add_argument("--method", default="power_law", help="forecaster: power_law (the default) or another of "
                   "docs/forecast.md's")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates for the intervals (default 200)")
    p.add_argument("--level", type=float, default=0.9, help="interval level (default 0.9)")
    p.add_argument("--gpu-hour-usd", type=float, help="price of one GPU-hour (default: [pricing] gpu_hour_usd of the "
                   "run, else an assumed price, which the output's dollars note states)")
    p.add_argument("--plot", metavar="STEM", help="write the forecast plot to STEM.png and STEM.svg")
    p.add_argument("--json", metavar="PATH", help="write the plan as JSON")
    p.add_argument("--seed", type=int, default=0)


def _target(raw: str | None) -> float | None:
    from .passk import CountsError

    if raw is None:
        return None
    text = raw.strip().rstrip("%")
    try:
        value = float(text)
    except ValueError:
        raise CountsError(f"--target {raw!r} is not a number; give a coverage like 0.6 or 60%") from None
    if raw.strip().endswith("%") or value > 1:
        value /= 100.0
    if not 0 < value < 1:
        raise CountsError(f"--target {raw!r} must be a coverage strictly between 0 and 100%")
    return value


def _ks(raw: str) -> list[int]:
    from .passk import CountsError

    try:
        ks = sorted({int(float(x)) for x in raw.split(",") if x.strip()})
    except ValueError:
        raise CountsError(f"--k {raw!r} must be comma-separated sample counts like 100,1000,10000") from None
    if not ks or ks[0] < 1:
        raise CountsError(f"--k {raw!r} must list sample counts >= 1")
    return ks


def plan_command(args, read_run) -> int:
    """From a pilot run (or counts), the forecast at larger k and what a target coverage costs."""
    from .counts import read_counts
    from .forecast import METHODS
    from .passk import CountsError
    from .plan import format_plan, pilot_from_run, plan

    try:
        if bool(args.run_dir) == bool(args.counts):
            raise CountsError("give either RUN_DIR or --counts CSV (exactly one)")
        if args.method not in METHODS:
            raise CountsError(f"--method {args.method!r} is not a forecaster; choose from {', '.join(METHODS)}")
        if args.bootstrap < 10:
            raise CountsError(f"--bootstrap must be >= 10, got {args.bootstrap}")
        if not 0 < args.level < 1:
            raise CountsError(f"--level must lie strictly between 0 and 1, got {args.level}")
        target, ks = _target(args.target), _ks(args.k)
        if args.run_dir:
            run = read_run(args.run_dir)
            name = (run["config"].get("model") or {}).get("name") or Path(args.run_dir).name
            pilots = {name: pilot_from_run(run)}
        else:
            data = read_counts(args.counts)
            if args.model is not None:
                if args.model not in data:
                    raise CountsError(f"{args.counts}: no model {args.model!r}; the file has {', '.join(data)}")
                data = {args.model: data[args.model]}
            pilots = {name: {"n": rec["n"], "c": rec["c"]} for name, rec in data.items()}
        results = {}
        for name, pilot in pilots.items():
            res = plan(pilot, ks, target, args.method, args.bootstrap, args.level, args.seed, args.gpu_hour_usd)
            results[name] = res
            print(format_plan(name, res))
        if args.plot:
            from .plots import plot_forecast

            for name, res in results.items():
                slug = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_").lower()
                stem = Path(args.plot) if len(results) == 1 else Path(f"{args.plot}-{slug}")
                title = f"{name}: forecast from {res['samples_per_problem'][0]} samples per problem"
                paths = plot_forecast(res["curve"]["pilot"], res["curve"]["forecast"], stem, title=title,
                                      target=target)
                print(f"wrote {paths[0]}, {paths[1]}")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
            print(f"wrote {args.json}")
        return 0
    except (ValueError, OSError) as e:
        return _fail(str(e))
