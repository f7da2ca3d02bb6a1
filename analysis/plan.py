"""`monkeys plan`: from a pilot, what coverage a larger budget buys and what a target costs.

    monkeys plan RUN_DIR --target 0.6
    monkeys plan --counts per_problem_counts.csv --model "Pythia 160M" --target 50%

Prints the forecast of these problems' coverage at k = 100, 1,000 and 10,000 samples per
problem (or --k) with intervals, then the samples per problem that reach the target coverage
and, from the pilot's own samples, the tokens, GPU-hours and dollars that takes. A counts file
has no tokens or timings: the budget is then given in samples only, and the output says so.
The command itself is in analysis/cli.py.
"""
from __future__ import annotations

import numpy as np

from .compute import axes_at, measured_gpu_hours, problem_costs
from .firstk import first_success
from .forecast import METHODS, fit_forecast
from .passk import CountsError, coverage_curve

ADAPTIVE_MODES = ("solve", "forecast")


def pilot_from_run(run: dict) -> dict:
    """The pilot in a run's data (as for analyze_run): per-problem counts, the counts its
    coverage curve comes from, and what one sample cost.

    Uniform runs: all samples. Runs whose sampling followed the outcomes ([budget] mode solve
    or forecast) give every problem's first n0 samples as the curve (n0 = [budget] min_samples,
    else the fewest attempts of any problem), and all samples for the rest.
    """
    cfg = run["config"]
    budget = cfg.get("budget") or {}
    n, c = run["n"], run["c"]
    pilot = {"n": n, "c": c, "curve_n": None, "curve_c": None, "mode": budget.get("mode", "uniform")}
    if pilot["mode"] in ADAPTIVE_MODES:
        first, attempts = first_success(run["group"], run["sample_index"], run["correct"], len(run["problem_ids"]))
        n0 = int(budget.get("min_samples") or attempts.min())
        if attempts.min() < n0:
            n0 = int(attempts.min())
        if n0 < 2:
            raise CountsError(f"{run['run_dir']}: the {pilot['mode']}-mode pilot has only {n0} sample(s) for some "
                           "problem before sampling followed the outcomes; a forecast needs a uniform prefix of at "
                           "least 2 (set [budget] min_samples)")
        idx = np.asarray(run["sample_index"])
        prefix = idx < n0
        ok = np.asarray(run["correct"], dtype=np.float64)
        c0 = np.bincount(run["group"][prefix], weights=ok[prefix], minlength=len(n)).astype(np.int64)
        inside = idx < attempts[run["group"]]               # the gap-free prefix of each problem
        c_all = np.bincount(run["group"][inside], weights=ok[inside], minlength=len(n)).astype(np.int64)
        pilot.update(n=attempts.astype(np.int64), c=c_all, curve_n=np.full(len(n), n0), curve_c=c0)
    if "completion_tokens" in run:
        pilot["costs"] = problem_costs(run["prompt_tokens"], run["completion_tokens"], run["group"],
                                       len(run["problem_ids"]), _model_info(cfg))
        pricing = dict(cfg.get("pricing") or {})
        pilot["pricing"] = pricing
        hours = measured_gpu_hours(run["elapsed_s"], pricing.get("gpus_per_worker") or 1)
        pilot["gpu_hours_per_sample"] = hours / len(run["group"]) if len(run["group"]) else None
    return pilot


def _model_info(cfg: dict) -> dict | None:
    info = cfg.get("model_info") or {}
    return info if all(key in info for key in ("parameters", "layers", "d_model")) else None


def plan(pilot: dict, ks, target: float | None = None, method: str = "power_law", num_boot: int = 200,
         level: float = 0.9, seed: int = 0, gpu_hour_usd: float | None = None) -> dict:
    """Forecast table and, for a target, the budget that reaches it (see the module docstring)."""
    n, c = pilot["n"], pilot["c"]
    fc = fit_forecast(n, c, method, num_boot=num_boot, level=level, seed=seed,
                      curve_n=pilot.get("curve_n"), curve_c=pilot.get("curve_c"), intervals=("same",))
    if not fc.ok:
        raise CountsError(f"the {METHODS[method].label} cannot be fitted to this pilot ({int((c > 0).sum())} of "
                          f"{n.size} problems solved, {int(n.min())} samples for the fewest); sample more first")
    m = int(n.min())
    k_meas, cov_meas = coverage_curve(n, c)
    out = {"num_problems": int(n.size), "samples_per_problem": [int(n.min()), int(n.max())],
           "pilot_samples": int(n.sum()), "pilot_coverage": float(cov_meas[-1]), "level": level,
           "forecast": fc.describe(), "notes": []}
    rows = []
    for k in ks:
        if k <= m:
            rows.append({"k": k, "coverage": float(cov_meas[k - 1]), "low": None, "high": None, "measured": True})
        else:
            s = fc.same([k])
            rows.append({"k": k, "coverage": s["coverage"][0], "low": s["low"][0], "high": s["high"][0],
                         "measured": False})
    out["table"] = rows
    kf = np.unique(np.round(np.geomspace(m, max(max(ks), 100 * m), 120)).astype(np.int64))
    out["curve"] = {"pilot": {"k": k_meas.tolist(), "coverage": cov_meas.tolist()},
                    "forecast": {**fc.same(kf), "level": level, "method": fc.method.label}}
    if target is not None:
        need = fc.k_for(target)
        out["target"] = need
        out["budget"] = {key: _budget(pilot, need[key], gpu_hour_usd, out["notes"] if key == "k" else [])
                         for key in ("k", "low", "high")}
    if "costs" not in pilot:
        out["notes"].append("the pilot has no completion tokens or timings (a counts file): the budget is given "
                            "in samples only")
    return out


def _budget(pilot: dict, k: int | None, gpu_hour_usd: float | None, notes: list) -> dict | None:
    """Samples (in all and beyond the pilot), tokens, GPU-hours and dollars of k samples per problem."""
    if k is None:
        return None
    n = pilot["n"]
    out = {"samples_per_problem": int(k), "samples": int(k) * int(n.size),
           "samples_beyond_pilot": int(np.maximum(k - n, 0).sum())}
    costs = pilot.get("costs")
    if costs is None:
        return out
    pricing = dict(pilot.get("pricing") or {})
    if gpu_hour_usd is not None:
        pricing["gpu_hour_usd"] = gpu_hour_usd
        pricing.pop("input_usd_per_mtok", None)
        pricing.pop("output_usd_per_mtok", None)
    per_sample = pilot.get("gpu_hours_per_sample")
    axes = axes_at([k], costs, pricing, per_sample)
    out["tokens"] = axes["tokens"][0]
    if "flops" in axes:
        out["flops"] = axes["flops"][0]
    if per_sample:
        out["gpu_hours"] = per_sample * k * n.size
    if "dollars" in axes:
        out["dollars"] = axes["dollars"][0]
        if not any(x.startswith("dollars:") for x in notes):
            notes.append(f"dollars: {axes['dollars_rule']}")
    elif not any(x.startswith("dollars:") for x in notes):
        notes.append("dollars: no price and no measured time in the run; dollars omitted")
    return out


def _pct(x) -> str:
    return "   -  " if x is None else f"{100 * x:6.2f}"


def _num(x) -> str:
    if x is None:
        return "not reached"   # an interval edge that never crosses the target
    x = float(x)
    return f"{x:,.0f}" if x < 1e7 else f"{x:.3g}"


def format_plan(name: str, res: dict) -> str:
    lo, hi = res["samples_per_problem"]
    per = f"{lo:,} samples each" if lo == hi else f"{lo:,} to {hi:,} samples each"
    lines = [f"pilot {name}: {res['num_problems']} problems, {per} ({res['pilot_samples']:,} in all); "
             f"measured coverage@{lo:,} = {100 * res['pilot_coverage']:.2f}%",
             f"forecast of these problems with k samples each ({METHODS[res['forecast']['method']].label}; "
             f"{round(100 * res['level'])}% interval):",
             f"{'k':>12}  {'coverage':>8}  {'interval':>17}"]
    for r in res["table"]:
        iv = "measured" if r["measured"] else f"[{_pct(r['low'])}, {_pct(r['high'])}]"
        lines.append(f"{r['k']:>12,}  {100 * r['coverage']:7.2f}%  {iv:>17}")
    if "target" in res:
        t = res["target"]
        if t["k"] is None:
            lines.append(f"target {100 * t['target']:.1f}% coverage: not reached by the forecast within 1e9 samples "
                         "per problem")
        elif t.get("observed"):
            lines.append(f"target {100 * t['target']:.1f}% coverage: {_num(t['k'])} samples per problem (measured)")
        else:
            lines.append(f"target {100 * t['target']:.1f}% coverage: {_num(t['k'])} samples per problem "
                         f"[{_num(t['low'])}, {_num(t['high'])}]")
        b = res["budget"]
        if b["k"] is not None:
            def span(key, fmt=_num):
                vals = [None if b[x] is None else b[x].get(key) for x in ("k", "low", "high")]
                if t.get("observed"):
                    return fmt(vals[0])
                return f"{fmt(vals[0])} [{fmt(vals[1])}, {fmt(vals[2])}]"
            lines.append(f"  samples in all:  {span('samples')}  ({_num(b['k']['samples_beyond_pilot'])} beyond the pilot)")
            for key, label in (("tokens", "tokens"), ("gpu_hours", "GPU-hours"), ("dollars", "dollars")):
                if key in b["k"]:
                    fmt = (lambda v: "not reached" if v is None else f"{v:,.2f}") if key != "tokens" else _num
                    lines.append(f"  {label + ':':<16} {span(key, fmt)}")
    for note in res["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)
