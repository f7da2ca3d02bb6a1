"""Turn counts, or a run's data, into the report dict, report.json and the plots."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .intervals import bootstrap_coverage
from .compute import axes_at, measured_gpu_hours, problem_costs
from .counts import read_counts
from .firstk import UNSOLVED, bootstrap_first_k, first_k_curve, first_success, k_limit
from .fit import fit_power_law, log_grid
from .forecast import fit_forecast
from .frontier import attach_frontier, frontier_for, load_frontier, measured_score
from .passk import CountsError, coverage_curve, validate_counts
from .plots import plot_coverage
from .selection import best_of_k, default_ks, votes_at_k

FIRST_K_RULE = ("solve mode: sampling stopped on success, so coverage at k is the share of problems solved "
                "within their first k samples, for k up to the fewest attempts of an unsolved problem")
N_RULE = ("coverage at k averages pass@k over all problems and is reported for k = 1..min(n); "
          "problems with more samples contribute their unbiased estimate at each such k")


def report_grid(n_min: int) -> np.ndarray:
    """k values reported with intervals: every k up to 100, powers of 2, a log grid, and n."""
    pts = [np.arange(1, min(n_min, 100) + 1), log_grid(1, n_min, 200),
           2 ** np.arange(0, int(np.log2(n_min)) + 1), [n_min]]
    return np.unique(np.concatenate([np.asarray(p, dtype=np.int64) for p in pts]))


def curve_report(n, c, num_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Coverage curve with bootstrap interval on the report grid, every-k values and the fit."""
    n, c = validate_counts(n, c)
    k_all, cov_all = coverage_curve(n, c)
    grid = report_grid(int(n.min()))
    low, high = bootstrap_coverage(n, c, grid, num_boot=num_boot, level=level, seed=seed)
    return {**_curve_block(n, c, k_all, cov_all, grid, (low, high), N_RULE, num_boot, level),
            **forecast_report(n, c, seed=seed)}


def _curve_block(n, c, k_all, cov_all, grid, interval, rule: str, num_boot: int, level: float) -> dict:
    low, high = interval
    return {
        "num_problems": int(n.size),
        "samples_per_problem": int(k_all[-1]),
        "samples_per_problem_range": [int(n.min()), int(n.max())],
        "total_correct": int(c.sum()),
        "n_rule": rule,
        "coverage": {"k": grid.tolist(), "pass_at_k": cov_all[grid - 1].tolist(),
                     "ci_low": low.tolist(), "ci_high": high.tolist(), "level": level,
                     "interval": f"percentile bootstrap over problems, {num_boot} resamples"},
        "coverage_every_k": cov_all.tolist(),
        "fit": fit_power_law(k_all, cov_all),
    }


def first_k_report(first, attempts, n, c, num_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """The curve of a solve-mode run: problems solved within their first k samples."""
    k_all, cov_all = first_k_curve(first, attempts)
    k_max = int(k_all[-1])
    grid = report_grid(k_max)
    low, high = bootstrap_first_k(first, grid, num_boot=num_boot, level=level, seed=seed)
    solved = int((first != UNSOLVED).sum())
    return {
        **_curve_block(n, c, k_all, cov_all, grid, (low, high), FIRST_K_RULE, num_boot, level),
        "budget": {"mode": "solve", "samples_spent": int(attempts.sum()), "problems_solved": solved,
                   "uniform_samples_at_k_max": k_max * int(n.size),
                   "spent_over_uniform": float(attempts.sum()) / (k_max * int(n.size)),
                   "solved_at_k_max": int(round(cov_all[-1] * n.size))},
        # The beta-binomial likelihood of the counts does not depend on the stopping rule, so its
        # fit stands; the power law would read a pass@k curve that stopping on success biases.
        **forecast_report(n, c, method="beta_binomial", seed=seed),
    }


def forecast_report(n, c, reach: int = 100, method: str = "power_law", num_boot: int = 200, level: float = 0.9,
                    seed: int = 0) -> dict:
    """Forecast of these problems' coverage from k = min n up to reach * min n, with its band
    (analysis/forecast.py; docs/forecast.md for how well it does)."""
    fc = fit_forecast(n, c, method, num_boot=num_boot, level=level, seed=seed)
    out = {"forecast_fit": fc.describe()}
    if not fc.ok:
        out["forecast_fit"]["note"] = "could not be fitted (too few solved problems or samples)"
        return out
    kf = log_grid(int(n.min()), int(n.min()) * reach, 120)
    band = fc.same(kf)
    out["forecast_curve"] = {"k": band["k"], "coverage": band["coverage"], "low": band["low"], "high": band["high"],
                             "level": level, "method": fc.method.label,
                             "interval": "parametric bootstrap of the pilot's outcomes (empirical-Bayes posterior), "
                                         f"{num_boot} replicates"}
    return out


LOG_SCORES = ("logprob",)   # scores that are log-probabilities: a vote weighs them as exp(score)
VOTE_RULE = ("Monte Carlo, {draws} random orders of each problem's samples (shared by every vote method and by "
             "problems with the same n), seed {seed}; ties split evenly; stderr is the standard error of the mean")


def align_scores(run: dict, scores: dict | None) -> dict:
    """Each score as an array aligned with the run's samples (NaN where a sample has none).
    scores: {"problem_id": [...], "sample_index": [...], <name>: [...], ...}."""
    if not scores:
        return {}
    pids = np.asarray(scores["problem_id"]).astype(str)
    idx = np.asarray(scores["sample_index"], dtype=np.int64)
    ids = np.asarray(run["problem_ids"]).astype(str)
    pos = np.searchsorted(ids, pids)
    known = (pos < len(ids)) & (ids[np.minimum(pos, len(ids) - 1)] == pids)
    span = int(max(run["sample_index"].max(), idx.max() if len(idx) else 0)) + 1
    run_key = run["group"].astype(np.int64) * span + run["sample_index"].astype(np.int64)
    order = np.argsort(run_key, kind="stable")
    key = pos[known].astype(np.int64) * span + idx[known]
    at = np.searchsorted(run_key[order], key)
    hit = (at < len(run_key)) & (run_key[order][np.minimum(at, len(run_key) - 1)] == key)
    out = {}
    for name, values in scores.items():
        if name in ("problem_id", "sample_index"):
            continue
        col = np.full(len(run_key), np.nan)
        vals = np.asarray(values, dtype=np.float64)[known]
        col[order[at[hit]]] = vals[hit]
        out[name] = col
    return out


def selection_report(run: dict, scores: dict | None, seed: int = 0, draws: int = 200) -> tuple[dict, list[str]]:
    """Selection@k for every method the run's data allows, and notes on what was left out:
    majority (extracted answers), best_of:<score> (exact), weighted_vote:<score> (answers and a
    score). {method: {"k", "accuracy", "stderr", "rule"}} on one k grid."""
    ks = default_ks(int(run["n"].min()))
    aligned = align_scores(run, scores)
    notes, usable = [], {}
    for name, col in aligned.items():
        missing = int(np.isnan(col).sum())
        if missing:
            notes.append(f"selection by {name} left out: {missing} of {len(col)} verified samples have no {name} "
                         f"score (run `monkeys score RUN_DIR`)")
        else:
            usable[name] = col
    out = {}
    answers = run.get("extracted_answer")
    weights = {}
    for name, col in usable.items():
        w = np.exp(col) if name in LOG_SCORES else col
        if (w < 0).any():
            notes.append(f"weighted_vote:{name} left out: negative scores cannot weigh a vote")
        else:
            weights[name] = w
    votes = (votes_at_k(run["group"], answers, run["correct"], ks, weights, draws=draws, seed=seed)
             if answers is not None else None)
    rule = VOTE_RULE.format(draws=draws, seed=seed)
    if votes is not None:
        out["majority"] = {"k": ks.tolist(), "accuracy": votes["majority"]["accuracy"].tolist(),
                           "stderr": votes["majority"]["stderr"].tolist(),
                           "rule": "the most frequent extracted answer; " + rule}
    for name, col in usable.items():
        acc = best_of_k(run["group"], col, run["correct"], ks)
        out[f"best_of:{name}"] = {"k": ks.tolist(), "accuracy": acc.tolist(), "stderr": [0.0] * len(ks),
                                  "rule": f"the sample with the highest {name} score; exact (closed form), ties "
                                          "split evenly"}
    for name in weights:
        if votes is not None:
            how = "exp(score) (its mean token probability)" if name in LOG_SCORES else "its score"
            out[f"weighted_vote:{name}"] = {
                "k": ks.tolist(), "accuracy": votes[name]["accuracy"].tolist(), "stderr": votes[name]["stderr"].tolist(),
                "rule": f"the extracted answer with the largest sum of weights, each sample weighing {how}; " + rule}
    return out, notes


def verification_gap(rep: dict) -> dict | None:
    """Coverage minus the best selection method's accuracy at the largest k both have."""
    sel = rep.get("selection") or {}
    if not sel:
        return None
    k = min(m["k"][-1] for m in sel.values())
    at = {name: m["accuracy"][m["k"].index(k)] for name, m in sel.items() if k in m["k"]}
    best = max(at, key=at.get)
    cov = rep["coverage_every_k"][k - 1]
    return {"k": k, "coverage": cov, "best_method": best, "accuracy": at[best], "gap": cov - at[best]}


def audit_report(audit: dict | None, run: dict, grid) -> dict | None:
    """What `monkeys audit` found, and coverage with its flagged problems left out beside the raw one."""
    if not audit:
        return None
    probs = audit.get("problems") or {}
    flagged = sorted(pid for pid, p in probs.items() if p.get("flagged"))
    ids = np.asarray(run["problem_ids"]).astype(str)
    keep = ~np.isin(ids, flagged)
    out = {k: audit[k] for k in ("repeats", "failing_per_problem", "created") if k in audit}
    out.update({"problems_checked": len(probs), "flagged": flagged,
                "gold_failed": sorted(pid for pid, p in probs.items() if p.get("gold") == "failed"),
                "flaky": sorted(pid for pid, p in probs.items() if p.get("flips") or p.get("gold") == "flaky"),
                "no_gold": sorted(pid for pid, p in probs.items() if p.get("gold") == "absent")})
    if keep.any():
        n, c = run["n"][keep], run["c"][keep]
        k_all, cov = coverage_curve(n, c)
        ks = [k for k in grid if k <= k_all[-1]]
        out["coverage_excluding_flagged"] = {"k": ks, "pass_at_k": [float(cov[k - 1]) for k in ks],
                                             "problems": int(keep.sum())}
    return out


def is_solve_mode(cfg: dict) -> bool:
    return (cfg.get("budget") or {}).get("mode") == "solve"


def run_curve(run: dict, num_boot: int = 1000, seed: int = 0) -> dict:
    """The curve a run supports: pass@k over all samples for a fixed-n run; for a solve-mode
    run, where sampling stopped on success and n depends on the outcomes, the share of problems
    solved within their first k samples (the fixed-n estimator is biased there)."""
    if not is_solve_mode(run["config"]):
        return curve_report(run["n"], run["c"], num_boot=num_boot, seed=seed)
    first, attempts = first_success(run["group"], run["sample_index"], run["correct"], len(run["problem_ids"]))
    if k_limit(first, attempts) < 1:
        raise CountsError(f"{run['run_dir']}: a problem has no verified sample yet; finish the run (`monkeys run`) "
                          "first")
    return first_k_report(first, attempts, run["n"], run["c"], num_boot=num_boot, seed=seed)


def gpus_per_engine(cfg: dict) -> float:
    """GPUs each engine held: [pricing] gpus_per_worker if set, else what the engines reported
    ([model_info] gpus_per_engine: tensor_parallel_size on GPUs), else 1 (a CPU engine's hours
    are counted as one device's)."""
    given = (cfg.get("pricing") or {}).get("gpus_per_worker")
    if given:
        return float(given)
    reported = (cfg.get("model_info") or {}).get("gpus_per_engine")
    return float(reported) if reported else 1.0


def _benchmark(cfg: dict) -> str | None:
    """The benchmark a run measured, from config.toml ([task] name, or a top-level key)."""
    task = cfg.get("task")
    if isinstance(task, dict):
        return task.get("name") or task.get("benchmark")
    return task if isinstance(task, str) else cfg.get("benchmark")


def _value_at(report: dict, k: int, key: str = "pass_at_k"):
    cov = report["coverage"]
    try:
        return cov[key][cov["k"].index(k)]
    except ValueError:
        every = report.get("coverage_every_k")
        return every[k - 1] if key == "pass_at_k" and every and k <= len(every) else None


def analyze_run(run: dict, out_dir=None, num_boot: int = 1000, seed: int = 0, benchmark: str | None = None,
                frontier_csv=None, frontier_runs=()) -> dict:
    """Analyse a run: write report.json, coverage.png and coverage.svg into out_dir (default:
    the run directory) and return the report dict.

    run: the run's data as experiments.rundir.read_run gives it: per-sample verdicts, costs,
    scores ({"problem_id", "sample_index", <scorer>: values ...}) and audit (what `monkeys
    audit` stored). Selection curves (majority, best_of:<score>, weighted_vote:<score>) go
    beside coverage.

    Frontier lines: rows of the cited table (plus frontier_csv) for the run's benchmark, and the
    pass@1 of each run in frontier_runs (the data of single-shot runs of frontier models).
    """
    run_dir = Path(run["run_dir"])
    cfg = run["config"]
    model = (cfg.get("model") or {}).get("name") or run_dir.name
    rep = {"run_dir": str(run_dir), "model": model, "notes": []}
    solve = is_solve_mode(cfg)
    rep.update(run_curve(run, num_boot=num_boot, seed=seed))
    if solve:
        rep["notes"].append(FIRST_K_RULE)
    if not solve and len(set(run["n"].tolist())) > 1:
        rep["notes"].append(f"unequal n across problems ({rep['samples_per_problem_range']}); " + N_RULE)
    if "note_samples" in run:
        rep["notes"].append(run["note_samples"])
    gpus = gpus_per_engine(cfg)
    if "completion_tokens" in run and solve:
        rep["budget"]["completion_tokens_spent"] = int(run["completion_tokens"].sum())
        rep["budget"]["gpu_hours_measured"] = measured_gpu_hours(run["elapsed_s"], gpus)
        rep["notes"].append("compute axes are per-k costs of uniform sampling; for this solve-mode run see "
                            "'budget' for what was spent")
    elif "completion_tokens" in run:
        info = cfg.get("model_info") or {}
        info = info if all(key in info for key in ("parameters", "layers", "d_model")) else None
        if info is None:
            rep["notes"].append("no [model_info] parameters/layers/d_model in config.toml; FLOPs axis omitted")
        costs = problem_costs(run["prompt_tokens"], run["completion_tokens"], run["group"],
                              len(run["problem_ids"]), info)
        pricing = cfg.get("pricing") or {}
        hours = measured_gpu_hours(run["elapsed_s"], gpus)
        per_sample = hours / len(run["group"]) if len(run["group"]) else None
        rep["compute"] = axes_at(rep["coverage"]["k"], costs, pricing, per_sample)
        rep["compute"]["gpu_hours_measured"] = hours
        if "dollars" not in rep["compute"]:
            rep["notes"].append("no price and no measured time; dollar axis omitted")
    if not solve:
        rep["selection"], notes = selection_report(run, run.get("scores"), seed)
        rep["notes"] += notes
        if "majority" in rep["selection"]:   # the earlier key, kept for readers of report.json
            maj = rep["selection"]["majority"]
            rep["vote"] = {"k": maj["k"], "vote_at_k": maj["accuracy"], "stderr": maj["stderr"], "rule": maj["rule"]}
        gap = verification_gap(rep)
        if gap is not None:
            rep["verification_gap"] = gap
    audited = audit_report(run.get("audit"), run, rep["coverage"]["k"])
    if audited is not None:
        rep["audit"] = audited
    rep["benchmark"] = benchmark or _benchmark(cfg)
    rows = frontier_for(rep["benchmark"], load_frontier(frontier_csv)) + [measured_score(d) for d in frontier_runs]
    attach_frontier(rep, rows)
    per = (f"solve mode, {rep['budget']['samples_spent']} samples" if solve else f"n = {rep['samples_per_problem']}")
    write_outputs(rep, run_dir if out_dir is None else out_dir,
                  title=f"{model} — {rep['num_problems']} problems, {per}")
    return rep


def plot_caption(rep: dict) -> str:
    """What the plot measured (task, problems, samples per problem) and, when frontier lines are
    drawn, where their scores come from: usually the whole benchmark, not this subset."""
    task = rep.get("benchmark") or "?"
    n = rep.get("samples_per_problem")
    line = f"{task}: {rep.get('num_problems')} problems, n = {n} samples each; band: 95% bootstrap over problems"
    published = [fr for fr in rep.get("frontier") or [] if fr.get("benchmark")]
    if published:
        sizes = sorted({fr["problems"] for fr in published if fr.get("problems")})
        where = (f"the full {published[0]['benchmark']} set ({', '.join(map(str, sizes))} problems)" if sizes
                 else f"{published[0]['benchmark']} as published")
        same = sizes == [rep.get("num_problems")]
        line += (f"\nFrontier lines: single-sample scores published for {where}"
                 + ("" if same else f", not these {rep.get('num_problems')}: compare levels, not crossovers exactly"))
    if rep.get("selection"):
        line += ("\nSelection: picking one of k samples without an oracle (Monte Carlo votes with 2-stderr bands; "
                 "best-of-k exact)")
    audit = rep.get("audit")
    if audit:
        excl = audit.get("coverage_excluding_flagged") or {}
        at = (f"; coverage@{excl['k'][-1]} {100 * rep['coverage_every_k'][excl['k'][-1] - 1]:.1f}% raw, "
              f"{100 * excl['pass_at_k'][-1]:.1f}% without them") if excl.get("k") else ""
        line += (f"\nAudit ({audit.get('repeats', '?')} re-runs): {len(audit['flagged'])} of {audit['problems_checked']} "
                 f"problems flagged ({len(audit['gold_failed'])} reject their gold solution, {len(audit['flaky'])} "
                 f"flaky{', ' + str(len(audit['no_gold'])) + ' without gold' if audit['no_gold'] else ''}){at}")
    return line


def write_outputs(rep: dict, out_dir, title: str = "", stem: str = "coverage") -> dict:
    """Draw the plots and write report.json next to them."""
    out_dir = Path(out_dir)
    curve = dict(rep["coverage"], label=rep.get("model", "coverage"), fit=rep.get("fit"),
                 compute=rep.get("compute"), forecast=rep.get("forecast_curve"), vote=rep.get("vote"),
                 selection=rep.get("selection"), gap=rep.get("verification_gap"))
    paths = plot_coverage([curve], out_dir / stem, title=title, frontier=rep.get("frontier"),
                          caption=plot_caption(rep))
    rep["plot"] = paths[0]
    rep["plots"] = paths
    (out_dir / "report.json").write_text(json.dumps(rep, indent=1))
    return rep


def _fmt_num(x: float) -> str:
    return f"{x:.3g}" if x < 1e4 else f"{x:.2e}"


def format_table(report: dict) -> str:
    """Coverage at k = 1, 2, 4, ... up to n (and n itself), with interval and compute columns."""
    n = report["samples_per_problem"]
    ks = sorted(set([2 ** i for i in range(int(np.log2(n)) + 1)] + [n]))
    comp = report.get("compute") or {}
    extra = [a for a in ("tokens", "flops", "dollars") if a in comp]
    head = f"{'k':>7}  {'coverage':>8}  {'95% CI':>17}" + "".join(f"  {a:>10}" for a in extra)
    lines = [f"{report.get('model', '')}: {report['num_problems']} problems, n = {n}", head]
    for k in ks:
        cov = _value_at(report, k)
        lo, hi = _value_at(report, k, "ci_low"), _value_at(report, k, "ci_high")
        ci = f"[{100 * lo:6.2f}, {100 * hi:6.2f}]" if lo is not None else ""
        row = f"{k:>7}  {100 * cov:7.2f}%  {ci:>17}"
        if extra:
            j = report["coverage"]["k"].index(k)
            row += "".join(f"  {_fmt_num(comp[a][j]):>10}" for a in extra)
        lines.append(row)
    fit = report.get("fit") or {}
    if fit.get("a") is not None:
        lines.append(f"power-law fit log c = a k^b over k in [{fit['k_min']}, {fit['k_max']}]: "
                     f"a = {fit['a']:.4f}, b = {fit['b']:.4f} (rms residual {fit['rmse_coverage']:.4f} in coverage)")
    lines += format_selection(report)
    return "\n".join(lines)


def format_selection(report: dict) -> list[str]:
    """Selection@k beside coverage at the k both report, the verification gap, the audit."""
    sel = report.get("selection") or {}
    lines = []
    if sel:
        grid = next(iter(sel.values()))["k"]
        ks = sorted({grid[0], grid[-1]} | {k for k in grid if k & (k - 1) == 0})
        names = list(sel)
        width = max(10, *(len(m) for m in names))
        lines.append("selection (one answer picked out of k, no oracle):")
        lines.append(f"{'k':>7}  {'coverage':>8}" + "".join(f"  {m:>{width}}" for m in names))
        for k in ks:
            j = grid.index(k)
            lines.append(f"{k:>7}  {100 * report['coverage_every_k'][k - 1]:7.2f}%"
                         + "".join(f"  {100 * sel[m]['accuracy'][j]:{width - 1}.2f}%" for m in names))
    gap = report.get("verification_gap")
    if gap:
        lines.append(f"verification gap at k = {gap['k']}: coverage {100 * gap['coverage']:.2f}% vs "
                     f"{100 * gap['accuracy']:.2f}% by {gap['best_method']}: {100 * gap['gap']:.2f} points")
    audit = report.get("audit")
    if audit:
        excl = audit.get("coverage_excluding_flagged") or {}
        lines.append(f"audit: {len(audit['flagged'])} of {audit['problems_checked']} problems flagged"
                     + (f"; coverage@{excl['k'][-1]} without them {100 * excl['pass_at_k'][-1]:.2f}% "
                        f"({excl['problems']} problems)" if excl.get("k") else ""))
    return lines


def analyze_counts(path, out_dir=None, num_boot: int = 1000, seed: int = 0, frontier_csv=None,
                   benchmark: str | None = None) -> dict:
    """Analyse a per-problem counts CSV (one or more models): one report per model, and one
    plot overlaying them (written to out_dir when given). Returns {"models": {...}, "plots": [...]}."""
    data = read_counts(path)
    table = load_frontier(frontier_csv)
    models = {}
    for name, rec in data.items():
        rep = {"model": name, "benchmark": benchmark or rec["benchmark"], "source": str(path)}
        rep.update(curve_report(rec["n"], rec["c"], num_boot=num_boot, seed=seed))
        attach_frontier(rep, frontier_for(rep["benchmark"], table))
        models[name] = rep
    out = {"models": models}
    if out_dir is not None:
        out_dir = Path(out_dir)
        curves = [dict(r["coverage"], label=name, fit=r["fit"],
                       forecast=r["forecast_curve"] if len(models) == 1 else None)
                  for name, r in models.items()]
        first = next(iter(models.values()))
        title = f"{Path(path).name}: {first['num_problems']} problems, n = {first['samples_per_problem']}"
        out["plots"] = plot_coverage(curves, out_dir / "coverage", title=title, frontier=first.get("frontier"))
    return out


def format_models(result: dict) -> str:
    """Per model: coverage at k = 1, 10, 100, ... up to n, and the power-law a and b."""
    models = result["models"]
    n = max(r["samples_per_problem"] for r in models.values())
    ks = [10 ** i for i in range(int(np.log10(n)) + 1)]
    ks = ks + [n] if ks[-1] != n else ks
    width = max(len(m) for m in models) + 2
    lines = [f"{'model':<{width}}" + "".join(f"{'@' + str(k):>9}" for k in ks) + f"{'a':>10}{'b':>9}"]
    for name, r in models.items():
        every = r["coverage_every_k"]
        cells = "".join(f"{100 * every[k - 1]:8.2f}%" if k <= len(every) else f"{'-':>9}" for k in ks)
        fit = r["fit"]
        ab = f"{fit['a']:10.4f}{fit['b']:9.4f}" if fit["a"] is not None else f"{'-':>10}{'-':>9}"
        lines.append(f"{name:<{width}}{cells}{ab}")
    lines.append("coverage in percent; fit log(coverage) = a * k^b over k = 1..n (log-spaced points)")
    return "\n".join(lines)
