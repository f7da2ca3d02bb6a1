"""The other forecasters tried while choosing one: point forecasts only, on the Pythia counts.

Each draws m of each problem's 10,000 outcomes (the same draws for every family), fits, and
forecasts these problems' coverage at K (docs/forecast.md, "What else was tried"). Families:

- power_law, beta_binomial: as in analysis.forecast (the reference points);
- power_law_logspace: the power law fitted by the paper rule (least squares of log coverage);
- beta_binomial_bayes: posterior mean over (alpha, beta) on a grid, flat in log alpha, log beta;
- distributions of the per-problem rate on a fine grid, fitted by maximum likelihood of the
  counts: logit_normal (logit p ~ Normal), gamma_hazard (lambda = -log(1 - p) ~ Gamma, close to
  a Beta near 0), weibull_hazard (lambda ~ Weibull), gengamma_hazard (generalised gamma: free
  left tail and cutoff, 3 parameters), scaled_beta (p / s ~ Beta on [0, s], 3 parameters,
  Schaeffer et al. 2025), two_piece (gamma above 1/m, a power-law tail with its own exponent
  below).

Usage: python bench/forecast_families.py [--m 100] [--target 10000] [--repeats 10] [--families a,b]
Slow on purpose-free generality (numerical gradients on a 1,500-point grid): minutes per family.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import optimize, special

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from analysis.counts import read_counts  # noqa: E402
from analysis.fit import fit_power_law, power_law_coverage  # noqa: E402
from analysis.forecast import fit_forecast  # noqa: E402
from analysis.forecast_check import same_problem_truth  # noqa: E402
from analysis.passk import coverage_curve, unique_counts  # noqa: E402

U = np.linspace(np.log(1e-10), np.log(30.0), 1500)    # grid of log hazard, lambda = -log(1 - p)
LAM = np.exp(U)
LOGP = np.log(-np.expm1(-LAM))


def conditional(K, m, c, unsolved_K, unsolved_m):
    """These problems at K from a model's unsolved shares M(K), M(m)."""
    return float(np.mean(np.where(c > 0, 1.0, 1.0 - unsolved_K / unsolved_m)))


def grid_family(logw, starts, bounds):
    """A rate distribution given by log weights on the hazard grid, fitted by maximum likelihood."""
    def forecast(n, c, K):
        un, uc, inv = unique_counts(n, c)
        w = np.bincount(inv, minlength=len(un)).astype(float)
        L = uc[:, None] * LOGP[None, :] - (un - uc)[:, None] * LAM[None, :]
        E = np.exp(L - L.max(axis=1, keepdims=True))

        def weights(th):
            lg = logw(th, int(n.min()))
            g = np.exp(lg - lg.max())
            return g / g.sum()

        def nll(th):
            return -np.sum(w * np.log(E @ weights(th) + 1e-300))

        best = min((optimize.minimize(nll, s, method="L-BFGS-B", bounds=bounds) for s in starts), key=lambda r: r.fun)
        g = weights(best.x)
        m = int(n.min())
        return conditional(K, m, c, np.exp(-K * LAM) @ g, np.exp(-m * LAM) @ g)
    return forecast


def _gengamma(th, m):
    d, ls, lq = th
    return d * U - np.exp(np.exp(lq) * (U - ls))


def _two_piece(th, m):
    a, ls, s = th
    u0 = np.log(1.0 / m)
    base = a * U - np.exp(U - ls)
    return np.where(U < u0, a * u0 - np.exp(u0 - ls) + s * (U - u0), base)


def _scaled_beta(th, m):
    la, lb, ls = th
    a, b, s = np.exp(la), np.exp(lb), special.expit(ls)
    p = -np.expm1(-LAM)
    inside = p < s
    out = np.full(U.size, -1e300)
    # density of lambda on the grid (per unit log lambda): f(p) dp/dlog(lambda) = f(p) (1 - p) lambda
    out[inside] = ((a - 1) * np.log(p[inside]) + (b - 1) * np.log(s - p[inside])
                   + np.log1p(-p[inside]) + U[inside])
    return out


def _logit_normal(th, m):
    mu, ls = th
    p = -np.expm1(-LAM)
    z = special.logit(np.clip(p, 1e-300, 1 - 1e-16))
    # density in log lambda: Normal(z) dz/dlog(lambda), dz/dlog(lambda) = lambda / (p (1 - p)) * (1 - p)
    return -0.5 * ((z - mu) / np.exp(ls)) ** 2 + U - np.log(p)


def power_law_logspace(n, c, K):
    k, cov = coverage_curve(n, c)
    fit = fit_power_law(k, cov, space="log")
    if fit["a"] is None:
        return np.nan
    m = int(n.min())
    return conditional(K, m, c, -np.expm1(fit["a"] * K ** fit["b"]), -np.expm1(fit["a"] * m ** fit["b"]))


LA, LB = np.meshgrid(np.linspace(np.log(0.005), np.log(20), 70), np.linspace(np.log(0.01), np.log(1e5), 90),
                     indexing="ij")


def beta_binomial_bayes(n, c, K):
    un, uc, inv = unique_counts(n, c)
    w = np.bincount(inv, minlength=len(un))
    A, B = np.exp(LA), np.exp(LB)
    ll = sum(wi * (special.betaln(ci + A, ni - ci + B) - special.betaln(A, B)) for ni, ci, wi in zip(un, uc, w))
    post = np.exp(ll - ll.max())
    post /= post.sum()
    m = int(n.min())
    stay = np.exp(special.betaln(A, B + K) - special.betaln(A, B + m))
    return float(np.sum(post * (1 - np.mean(c == 0) * stay)))


def reference(method):
    return lambda n, c, K: fit_forecast(n, c, method, num_boot=0).same([K])["coverage"][0]


FAMILIES = {
    "power_law": reference("power_law"),
    "beta_binomial": reference("beta_binomial"),
    "power_law_logspace": power_law_logspace,
    "beta_binomial_bayes": beta_binomial_bayes,
    "logit_normal": grid_family(_logit_normal, [[-6.0, 1.0], [-3.0, 0.5], [-10.0, 1.5]], [(-21, 10), (-3, 2.5)]),
    "gamma_hazard": grid_family(lambda th, m: _gengamma([th[0], th[1], 0.0], m), [[0.2, -3.0], [0.5, -1.0]],
                                [(0.005, 5), (-23, 3)]),
    "weibull_hazard": grid_family(lambda th, m: _gengamma([th[0], th[1], np.log(th[0])], m),
                                  [[0.2, -8.0], [0.5, -4.0]], [(0.01, 5), (-23, 3)]),
    "gengamma_hazard": grid_family(_gengamma, [[0.2, -8.0, np.log(0.2)], [0.3, -3.0, 0.0], [0.3, -5, np.log(0.5)]],
                                   [(0.005, 5), (-23, 3), (np.log(0.02), np.log(5))]),
    "scaled_beta": grid_family(_scaled_beta, [[np.log(0.2), np.log(5.0), -2.0], [np.log(0.1), 0.0, -1.0],
                                              [np.log(0.3), np.log(20.0), 0.0]], [(-7, 3), (-5, 8), (-8, 8)]),
    "two_piece": grid_family(_two_piece, [[0.3, -3, 0.3], [0.1, -1, 0.1], [0.5, -4, 0.0]],
                             [(0.005, 5), (-23, 3), (-1.0, 3)]),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--m", type=int, default=100)
    ap.add_argument("--target", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--families", default=",".join(FAMILIES))
    args = ap.parse_args()
    base = Path(os.environ.get("MONKEYS_SHARED_DATA", ROOT.parent / "shared" / "data"))
    data = read_counts(base / "monkeys_pythia_math" / "per_problem_counts.csv")
    names = [x for x in args.families.split(",") if x]
    print(f"MAE (bias) of coverage@{args.target} from {args.m} samples per problem, {args.repeats} draws, points")
    print("| model | truth | " + " | ".join(names) + " |\n|" + "---|" * (2 + len(names)))
    total = {x: [] for x in names}
    t0 = time.time()
    for model, rec in data.items():
        n, c = rec["n"], rec["c"]
        errs = {x: [] for x in names}
        for r in range(args.repeats):
            rng = np.random.default_rng([0, r])
            c_sub = rng.hypergeometric(c, n - c, args.m)
            truth = same_problem_truth(n, c, c_sub, args.m, args.target)
            for x in names:
                errs[x].append(FAMILIES[x](np.full(n.size, args.m), c_sub, args.target) - truth)
        cells = []
        for x in names:
            e = np.array(errs[x], dtype=float)
            total[x].append(np.nanmean(np.abs(e)))
            cells.append(f"{100 * np.nanmean(np.abs(e)):.2f} ({100 * np.nanmean(e):+.1f})")
        print(f"| {model} | {100 * coverage_curve(n, c, args.target)[1][-1]:.2f} | " + " | ".join(cells) + " |", flush=True)
    print("| mean | | " + " | ".join(f"{100 * np.mean(total[x]):.2f}" for x in names) + " |")
    print(f"({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
