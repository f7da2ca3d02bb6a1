"""Coverage plots: against k (log axis), FLOPs and dollars, with interval bands, the fitted
power law, the k = 1 level, frontier lines and crossovers. Written as PNG and SVG."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .fit import power_law_coverage  # noqa: E402

AXES = {"k": "samples per problem (k)", "flops": "inference FLOPs (whole benchmark)",
        "dollars": "cost, USD (whole benchmark)"}


def save(fig, stem, dpi: int) -> list[str]:
    """Write the figure as STEM.png and STEM.svg, close it, and return the paths (PNG first)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path, dpi=dpi)
        paths.append(str(path))
    plt.close(fig)
    return paths


def _x(curve: dict, axis: str):
    if axis == "k":
        return np.asarray(curve["k"], dtype=float)
    return np.asarray(curve["compute"][axis], dtype=float)


def spread(values, gap: float, low: float = 0.0, high: float = 1.0) -> list[float]:
    """Label positions as close to `values` as possible, in the same order, at least `gap`
    apart and within [low, high]: frontier scores are often within a point of each other."""
    order = np.argsort(values, kind="stable")
    pos = np.asarray(values, dtype=float)[order].copy()
    for i in range(1, len(pos)):
        pos[i] = max(pos[i], pos[i - 1] + gap)
    if len(pos) and pos[-1] > high:          # pushed past the top: lower the top of the stack only
        pos[-1] = high
        for i in range(len(pos) - 2, -1, -1):
            pos[i] = min(pos[i], pos[i + 1] - gap)
    pos = np.maximum(pos, low)
    out = np.empty_like(pos)
    out[order] = pos
    return out.tolist()


STYLES = {"majority": (0, (1, 1)), "best_of": "--", "weighted_vote": "-."}


def selection_label(method: str) -> str:
    kind, _, score = method.partition(":")
    return {"majority": "majority vote", "best_of": f"best-of-k by {score}",
            "weighted_vote": f"vote weighted by {score}"}.get(kind, method)


def _draw_selection(ax, selection: dict, gap: dict | None, palette: list) -> None:
    """Selection curves under the coverage curve (with a band of 2 standard errors where they
    are Monte Carlo), and the verification gap at the largest k as a labelled bar."""
    for j, (method, m) in enumerate(selection.items()):
        col = palette[j % len(palette)]
        k, acc = np.asarray(m["k"], dtype=float), np.asarray(m["accuracy"], dtype=float)
        ax.plot(k, acc, color=col, lw=1.5, ls=STYLES.get(method.partition(":")[0], "-"),
                label=selection_label(method))
        err = np.asarray(m.get("stderr") or np.zeros_like(acc), dtype=float)
        if err.any():
            ax.fill_between(k, acc - 2 * err, acc + 2 * err, color=col, alpha=0.12, lw=0)
    if gap:
        k = gap["k"]
        ax.annotate("", xy=(k, gap["coverage"]), xytext=(k, gap["accuracy"]),
                    arrowprops={"arrowstyle": "<->", "color": "0.15", "lw": 1.1, "shrinkA": 0, "shrinkB": 0})
        ax.annotate(f"verification gap\n{100 * gap['gap']:.1f} points at k = {k}\n(coverage vs "
                    f"{selection_label(gap['best_method'])})",
                    xy=(k, (gap["coverage"] + gap["accuracy"]) / 2), xytext=(6, 0), textcoords="offset points",
                    ha="left", va="center", fontsize=7.5, color="0.1",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.7", "alpha": 0.9})


def plot_coverage(curves: list[dict], stem, title: str = "", frontier: list[dict] | None = None,
                  axes: list[str] | None = None, caption: str = "") -> list[str]:
    """Draw one panel per axis; each curve dict holds label, k, pass_at_k, ci_low, ci_high and
    optionally fit {a, b}, forecast {k, coverage}, vote {k, vote_at_k}, compute {flops, dollars},
    selection {method: {k, accuracy, stderr}} and gap {k, coverage, accuracy, gap, best_method}
    (drawn for a single curve: selection curves under coverage, the gap at the largest k).
    Frontier lines are labelled at the right edge, spread so no two labels overlap; `caption`
    goes under the panels. Returns the written paths (PNG first)."""
    if axes is None:
        axes = ["k"] + [a for a in ("flops", "dollars") if all(a in (c.get("compute") or {}) for c in curves)]
    single = len(curves) == 1
    with_selection = single and bool(curves[0].get("selection"))
    lines = caption.count("\n") + 1 if caption else 0
    height = 4.6 + 0.17 * lines
    side = 2.3 if with_selection else 0.0                       # a legend column for the many curves
    fig, panels = plt.subplots(1, len(axes), figsize=(6.2 * len(axes) + side, height), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, axis in zip(panels[0], axes):
        for i, cv in enumerate(curves):
            col = colors[i % len(colors)]
            x = _x(cv, axis)
            y = np.asarray(cv["pass_at_k"], dtype=float)
            ax.plot(x, y, color=col, lw=1.8, label=cv["label"])
            if cv.get("ci_low") is not None:
                ax.fill_between(x, cv["ci_low"], cv["ci_high"], color=col, alpha=0.2, lw=0)
            ax.axhline(y[0], color=col, ls=":", lw=0.9, alpha=0.7 if single else 0.35)
            if single:
                ax.annotate(f"k=1: {100 * y[0]:.2f}%", (x[0], y[0]), textcoords="offset points",
                            xytext=(4, 4), fontsize=8, color=col)
            fit = cv.get("fit") or {}
            if axis == "k" and fit.get("a") is not None:
                kk = np.geomspace(1, x[-1], 200)
                ax.plot(kk, power_law_coverage(kk, fit["a"], fit["b"]), color=col, ls="--", lw=1,
                        alpha=0.8, label=f"fit a={fit['a']:.3g}, b={fit['b']:.3g}" if single else None)
            fc = cv.get("forecast")
            if axis == "k" and fc and fc.get("k"):
                ax.plot(fc["k"], fc["coverage"], color=col, ls="-.", lw=1, alpha=0.8,
                        label=f"{fc.get('method', '')} forecast".strip() if single or i == 0 else None)
                if single and fc.get("low") is not None:
                    ax.fill_between(fc["k"], fc["low"], fc["high"], color=col, alpha=0.1, lw=0)
                if single:
                    ax.axvline(fc["k"][0], color="0.4", ls=":", lw=0.9)     # where the extrapolation starts
            sel = cv.get("selection")
            if axis == "k" and single and sel:
                _draw_selection(ax, sel, cv.get("gap"), colors[1:])
            vote = cv.get("vote")
            if axis == "k" and vote and vote.get("k") and not (single and sel):
                ax.plot(vote["k"], vote["vote_at_k"], color=col, ls=(0, (1, 1)), lw=1.5,
                        label="majority vote@k" if single or i == 0 else None)
        frontier = frontier or []
        label_y = spread([fr["score"] for fr in frontier], gap=0.045, low=0.03, high=0.99)
        for fr, ly in zip(frontier, label_y):
            ax.axhline(fr["score"], color="0.3", ls="-", lw=0.8, alpha=0.8)
            ax.annotate(f"{fr['model']}: {100 * fr['score']:.1f}%", xy=(1.0, fr["score"]), xytext=(0.985, ly),
                        xycoords=("axes fraction", "data"), textcoords=("axes fraction", "data"), ha="right",
                        va="center", fontsize=7, color="0.2",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                        arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.6} if abs(ly - fr["score"]) > 0.01
                        else None)
        for fr in frontier:
            for cross in fr.get("crossovers", []):
                xv = cross.get("k") if axis == "k" else cross.get(axis)
                if xv is not None and cross.get("observed"):
                    ax.plot([xv], [fr["score"]], marker="o", ms=5, mfc="none", color="0.1")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(AXES[axis])
        ax.set_ylabel("coverage (pass@k)")
        ax.grid(True, which="major", alpha=0.3)
        if with_selection and axis == "k":
            fig.legend(*ax.get_legend_handles_labels(), fontsize=7.5, loc="upper right", framealpha=0.9,
                       bbox_to_anchor=(1.0, 0.93))
        else:
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(0.0, 0.42), framealpha=0.9)
    if title:
        fig.suptitle(title)
    if caption:
        fig.text(0.01, 0.01, caption, fontsize=8, color="0.25", ha="left", va="bottom", wrap=True)
    fig.tight_layout(rect=(0, (0.1 + 0.16 * lines) / height if lines else 0, 1 - side / fig.get_figwidth(), 1))
    return save(fig, stem, dpi=110)


def plot_forecast(pilot: dict, forecast: dict, stem, title: str = "", measured: dict | None = None,
                  target: float | None = None) -> list[str]:
    """The pilot's measured curve, the forecast beyond it with its band, and a line where the
    extrapolation starts. pilot: {k, coverage}; forecast: {k, coverage, low, high, level, method};
    measured (optional): a curve to check against, e.g. all samples of a forecast check.
    Returns the written paths (PNG first)."""
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    kp = np.asarray(pilot["k"], dtype=float)
    if measured is not None:
        ax.plot(measured["k"], measured["coverage"], color="0.55", lw=2.4, alpha=0.7,
                label=measured.get("label", "measured, all samples"))
    ax.plot(kp, pilot["coverage"], color="C0", lw=2.0, label=pilot.get("label", f"pilot ({int(kp[-1])} samples/problem)"))
    kf = np.asarray(forecast["k"], dtype=float)
    level = forecast.get("level", 0.9)
    ax.plot(kf, forecast["coverage"], color="C3", lw=1.8, ls="--", label=f"{forecast.get('method', '')} forecast")
    if forecast.get("low") is not None:
        ax.fill_between(kf, forecast["low"], forecast["high"], color="C3", alpha=0.18, lw=0,
                        label=f"{round(100 * level)}% interval")
    ax.axvline(kp[-1], color="0.3", ls=":", lw=1.2)
    ax.annotate("extrapolation starts", (kp[-1], 0.97), xytext=(5, 0), textcoords="offset points",
                fontsize=9, color="0.25", va="top")
    if target is not None:
        ax.axhline(target, color="C2", lw=1, ls="-.", alpha=0.8, label=f"target {100 * target:.0f}%")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.0)
    ax.set_xlim(1, max(kf[-1], kp[-1]) * 1.05)
    ax.set_xlabel("samples per problem (k)", fontsize=11)
    ax.set_ylabel("coverage (pass@k)", fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", framealpha=0.9)
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return save(fig, stem, dpi=120)
