"""Single-shot frontier scores and where repeated sampling overtakes them.

Scores come from a cited table (analysis/data/frontier.csv; users add rows with their own CSV of
the same columns: model, benchmark, score in percent, source) or are measured: a run directory
of a frontier model sampled once per problem (for example through the OpenAI-compatible
backend) gives its pass@1.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .passk import CountsError

TABLE = Path(__file__).with_name("data") / "frontier.csv"


def load_frontier(extra=None) -> list[dict]:
    """Rows of the bundled table plus those of an optional user CSV; score as a fraction."""
    rows = []
    for path in [TABLE] + ([Path(extra)] if extra else []):
        if not path.is_file():
            raise CountsError(f"{path}: no such frontier table; expected columns model, benchmark, score, source")
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"model", "benchmark", "score", "source"} - set(reader.fieldnames or [])
            if missing:
                raise CountsError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            for line, r in enumerate(reader, start=2):
                try:
                    score = float(r["score"])
                except ValueError:
                    raise CountsError(f"{path}, line {line}: score {r['score']!r} is not a number") from None
                if not 0 <= score <= 100:
                    raise CountsError(f"{path}, line {line}: score {score} is not a percentage in [0, 100]")
                problems = (r.get("problems") or "").strip()
                if problems and not problems.isdigit():
                    raise CountsError(f"{path}, line {line}: problems {problems!r} is not a whole number "
                                      "(how many problems the score was measured on; leave it empty if unknown)")
                rows.append({"model": r["model"], "benchmark": r["benchmark"], "score": score / 100.0,
                             "source": r["source"], "problems": int(problems) if problems else None})
    return rows


def _norm(name: str) -> str:
    return "".join(ch for ch in (name or "").lower() if ch.isalnum())


def frontier_for(benchmark: str | None, rows: list[dict]) -> list[dict]:
    """Rows whose benchmark matches (case and punctuation ignored)."""
    if not benchmark:
        return []
    return [dict(r) for r in rows if _norm(r["benchmark"]) == _norm(benchmark)]


def measured_score(run: dict) -> dict:
    """pass@1 of a run (mean over problems of c/n; its data as for analyze_run), as a frontier row."""
    model = (run["config"].get("model") or {}).get("name") or Path(run["run_dir"]).name
    score = float(np.mean(run["c"] / run["n"]))
    return {"model": model, "benchmark": None, "score": score, "source": f"measured: {run['run_dir']}"}


def crossover(report: dict, score: float) -> dict:
    """Smallest k whose coverage reaches score, with its cost on each compute axis.

    Observed when it lies within the measured k; else read off the report's forecast curve
    (up to 100 times the samples drawn), marked observed = False; k = None when neither reaches it.
    """
    every = np.asarray(report.get("coverage_every_k") or [])
    hit = np.flatnonzero(every >= score)
    out = {"observed": bool(hit.size)}
    if hit.size:
        k = int(hit[0]) + 1
    else:
        fc = report.get("forecast_curve") or {}
        reach = np.flatnonzero(np.asarray(fc.get("coverage") or [], dtype=float) >= score)
        if not reach.size:
            return {"observed": False, "k": None}
        k = int(fc["k"][reach[0]])
        out["method"] = f"{fc.get('method', '')} forecast".strip()
    out["k"] = k
    grid = np.asarray(report["coverage"]["k"], dtype=float)
    for axis in ("tokens", "flops", "dollars"):
        vals = (report.get("compute") or {}).get(axis)
        if vals is not None and len(grid) > 1:
            # every axis is affine in k, so the line through two grid points is exact anywhere
            slope = (vals[-1] - vals[0]) / (grid[-1] - grid[0])
            out[axis] = float(vals[0] + slope * (k - grid[0]))
    return out


def attach_frontier(report: dict, rows: list[dict]) -> list[dict]:
    """Add each row's crossover to a copy of it; store the list in report['frontier']."""
    out = []
    for r in rows:
        r = dict(r)
        r["crossovers"] = [crossover(report, r["score"])]
        out.append(r)
    report["frontier"] = out
    return out
