"""`monkeys analyze` and `monkeys compare`: argparse entry points returning exit codes.

Bad input prints one line naming the problem and the fix to stderr and returns 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .counts import read_counts
from .forecast import METHODS
from .forecast_check import forecast_check, format_check
from .passk import CountsError
from .plots import plot_coverage
from .report import analyze_counts, analyze_run, curve_report, format_models, format_table, run_curve
from .rundir import RunError, read_run


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CountsError(f"{self.prog}: {message} (see {self.prog} --help)")


def _analyze_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="monkeys analyze", description="Coverage (pass@k) curve, compute axes, fits and plots.")
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
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"with --forecast-check: forecasters, comma-separated (default {','.join(METHODS)})")
    p.add_argument("--forecast-bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap replicates behind each forecast interval (default 200)")
    p.add_argument("--level", type=float, default=0.9, help="forecast interval level (default 0.9)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    return p


def _check(n, c, args) -> dict:
    """Run the forecast check with the command line's settings."""
    if args.forecast_bootstrap < 10:
        raise CountsError(f"--forecast-bootstrap must be >= 10, got {args.forecast_bootstrap}")
    if args.repeats < 1:
        raise CountsError(f"--repeats must be >= 1, got {args.repeats}")
    methods = [x.strip() for x in args.methods.split(",") if x.strip()]
    return forecast_check(n, c, m=args.forecast_check, target=args.target, repeats=args.repeats, seed=args.seed,
                          methods=methods, num_boot=args.forecast_bootstrap, level=args.level)


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def main_analyze(argv: list[str], inputs=None, errors: tuple = ()) -> int:
    """inputs: run_dir -> extra keyword arguments of analyze_run (scores, audit), given by the
    layer that reads run directories (experiments); errors: its error types, reported in one line."""
    try:
        args = _analyze_parser().parse_args(argv)
        if bool(args.run_dir) == bool(args.counts):
            raise CountsError("give either RUN_DIR or --counts CSV (exactly one)")
        if args.bootstrap < 1:
            raise CountsError(f"--bootstrap must be >= 1, got {args.bootstrap}")
        if args.run_dir:
            extra = inputs(args.run_dir) if inputs is not None and Path(args.run_dir).is_dir() else {}
            rep = analyze_run(args.run_dir, num_boot=args.bootstrap, seed=args.seed, benchmark=args.benchmark,
                              frontier_csv=args.frontier, frontier_runs=args.frontier_run, **extra)
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
                run = read_run(args.run_dir)
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
    except (CountsError, RunError, ValueError, OSError, *errors) as e:
        return _fail(str(e))


def main_compare(argv: list[str]) -> int:
    """Overlay coverage curves of several run directories and/or counts CSVs (one curve per model)."""
    p = _Parser(prog="monkeys compare", description="Overlay the coverage curves of runs or models.")
    p.add_argument("inputs", nargs="+", help="run directories and/or counts CSV files")
    p.add_argument("--out", metavar="STEM", default="compare", help="output path without extension (default: ./compare)")
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    try:
        args = p.parse_args(argv)
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
    except (CountsError, RunError, ValueError, OSError) as e:
        return _fail(str(e))


if __name__ == "__main__":
    sys.exit(main_analyze(sys.argv[1:]))
