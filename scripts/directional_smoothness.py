"""Directional smoothness: networks vs thin-plate splines and kernel ridge on ridge functions.

Usage::

    python scripts/directional_smoothness.py [--quick] [--seed 0] [--dims 2 5]
        [--Ns 100 200 400 800] [--target ridge|multi] [--rounds 50] [--bound-time 2]
        [--figure docs/figures/directional_smoothness.png]

Claim: weight-decay networks adapt to functions that vary along few directions; linear methods
(kernels, thin-plate splines) do not. For the network class the minimax rate of the squared
error is ~ N^(-(d+3)/(2d+3)), for any linear method N^(-3/(d+3)).

Target (``--target ridge``): the ridge function f(x) = sin(2 u.x) + 0.5 |u.x|,
u = (1, ..., 1)/sqrt(d); (``--target multi``) the two-direction function
f(x) = sin(2 u1.x) + 0.5 |u2.x|, u1 = (e1 + e2)/sqrt(2), u2 = (e1 - e2)/sqrt(2);
x ~ N(0, I_d), y = f(x) + 0.1 noise; test error = mean (f_hat - f)^2 on 2000 fresh points.

Methods (hyperparameters by cross-validation / validation on the training set only):

* nnlasso, sampled dictionary: ``fit_shallow(dictionary=NeuronDictionary)`` with 20 N sampled
  data neurons (at most 4000); lam from {0.03, 0.1, 0.3, 1} * sqrt(N) * 0.1 chosen on an 80/20
  split, refit on all data.
* nnlasso, adaptive: :func:`nnlasso.representer.column_generation` at the same lam, 200
  initial neurons (d = 2: exact oracle, stops when certified; d >= 3: the ascent oracle, stops
  when the relative gap estimated from its lower bound is <= 1e-2, then a branch-and-bound
  certificate of at most ``--bound-time`` seconds), at most ``--rounds`` rounds; reported with
  the lower bound L <= sup |eta| / lam, the certified upper bound U and the certified gap.
* thin-plate spline: ``scipy.interpolate.RBFInterpolator(kernel="thin_plate_spline")``,
  smoothing from a grid by 3-fold CV.
* kernel ridge: ``sklearn.kernel_ridge.KernelRidge(kernel="rbf")`` with ``GridSearchCV``
  (3-fold) over alpha and gamma.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnlasso import fit_shallow  # noqa: E402
from nnlasso import representer as R  # noqa: E402
from nnlasso.dictionary import sample_neurons  # noqa: E402

NOISE = 0.1


def target(X: np.ndarray, kind: str = "ridge") -> np.ndarray:
    if kind == "multi":
        z1 = (X[:, 0] + X[:, 1]) / np.sqrt(2)
        z2 = (X[:, 0] - X[:, 1]) / np.sqrt(2)
        return np.sin(2 * z1) + 0.5 * np.abs(z2)
    z = X @ (np.ones(X.shape[1]) / np.sqrt(X.shape[1]))
    return np.sin(2 * z) + 0.5 * np.abs(z)


def make(N: int, d: int, rng: np.random.Generator, kind: str = "ridge"):
    X = rng.normal(size=(N, d))
    return X, target(X, kind) + NOISE * rng.normal(size=N)


def nn_sampled(X, y, seed):
    """Lam on an 80/20 split over a grid, refit on all data; returns (predict, lam, info)."""
    N = X.shape[0]
    dic = sample_neurons(X, min(20 * N, 4000), seed=seed)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(N)
    tr, va = perm[: int(0.8 * N)], perm[int(0.8 * N):]
    best = None
    for c in (0.03, 0.1, 0.3, 1.0):
        lam = c * NOISE * np.sqrt(N)
        f = fit_shallow(X[tr], y[tr], lam=lam * np.sqrt(0.8), dictionary=dic, tol=1e-7)
        err = float(np.mean((f.net.predict(X[va]).ravel() - y[va]) ** 2))
        if best is None or err < best[0]:
            best = (err, lam)
    lam = best[1]
    fit = fit_shallow(X, y, lam=lam, dictionary=dic, tol=1e-7)
    return (lambda Z: fit.net.predict(Z).ravel()), lam, {"K": int(fit.net.W.shape[0]),
                                                       "gap": fit.gap}


def tps(X, y, seed):
    from scipy.interpolate import RBFInterpolator
    from sklearn.model_selection import KFold
    grid = [1e-3, 1e-2, 1e-1, 1, 10, 100]
    scores = []
    for s in grid:
        err = 0.0
        for tr, va in KFold(3, shuffle=True, random_state=seed).split(X):
            m = RBFInterpolator(X[tr], y[tr], kernel="thin_plate_spline", smoothing=s)
            err += float(np.mean((m(X[va]) - y[va]) ** 2))
        scores.append(err)
    s = grid[int(np.argmin(scores))]
    m = RBFInterpolator(X, y, kernel="thin_plate_spline", smoothing=s)
    return m, s


def krr(X, y):
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV
    g = GridSearchCV(KernelRidge(kernel="rbf"),
                     {"alpha": [1e-3, 1e-2, 1e-1, 1.0], "gamma": [0.01, 0.03, 0.1, 0.3, 1.0]},
                     cv=3, scoring="neg_mean_squared_error")
    g.fit(X, y)
    return g.best_estimator_, g.best_params_


def certificate_text(r: dict) -> str:
    """The adaptive fit's certificate: exact ratio, or lower bound / certified upper bound / gap."""
    if r["certified"]:
        return f"certified, ratio {r['ratio']:.4g} ({r['rounds']} rounds)"
    if r["ratio_exact"]:
        return f"ratio {r['ratio']:.4g} ({r['rounds']} rounds)"
    up = "none" if not np.isfinite(r["upper"]) else format(r["upper"], ".3g")
    gap = "none" if r["cert_rel_gap"] is None else format(r["cert_rel_gap"], ".2g")
    return (f"{r['ratio']:.4g} <= ratio <= {up}; est. gap {r['est_rel_gap']:.1e}, certified "
            f"gap {gap} ({r['rounds']} rounds)")


def adaptive_fit(X, y, lam, rounds, bound_time, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dic, sol, cg = R.column_generation(X, y, lam, n_init=200, max_rounds=rounds,
                                           solver_tol=1e-6, bound_time=bound_time, seed=seed)

    def predict(Z):
        out = dic.features(Z) @ sol.V[:, 0] + np.ravel(sol.intercept)[0]
        return out + (Z @ sol.skip_coef[:, 0] if sol.skip_coef is not None else 0.0)
    return predict, cg


def adaptive_lam(X, y, rounds, seed):
    """Lam for the adaptive fit chosen like the sampled fit's (same grid and 80/20 split), by
    validating adaptive fits (no branch and bound)."""
    N = X.shape[0]
    perm = np.random.default_rng(seed).permutation(N)
    tr, va = perm[: int(0.8 * N)], perm[int(0.8 * N):]
    best = None
    for c in (0.03, 0.1, 0.3, 1.0):
        lam = c * NOISE * np.sqrt(N)
        pred, _ = adaptive_fit(X[tr], y[tr], lam * np.sqrt(0.8), rounds, 0.0, seed)
        err = float(np.mean((pred(X[va]) - y[va]) ** 2))
        if best is None or err < best[0]:
            best = (err, lam)
    return best[1]


def run(dims, Ns, seed, rounds, kind="ridge", bound_time=2.0,
        methods=("sampled", "adaptive", "tps", "krr")) -> list[dict]:
    rows = []
    for d in dims:
        for N in Ns[d]:
            rng = np.random.default_rng(seed + 1000 * d + N)
            X, y = make(N, d, rng, kind)
            Xt = rng.normal(size=(2000, d))
            ft = target(Xt, kind)
            r = {"d": d, "N": N, "sampled": float("nan")}
            if "sampled" in methods:
                t0 = time.perf_counter()
                pred, lam, info = nn_sampled(X, y, seed)
                r["sampled"] = float(np.mean((pred(Xt) - ft) ** 2))
                r["t_sampled"] = time.perf_counter() - t0
            else:                      # lam validated on adaptive fits instead
                lam = adaptive_lam(X, y, rounds, seed)
            r["lam"] = lam
            t0 = time.perf_counter()
            pred, cg = adaptive_fit(X, y, lam, rounds, bound_time, seed)
            r["adaptive"] = float(np.mean((pred(Xt) - ft) ** 2))
            r["t_adaptive"] = time.perf_counter() - t0
            r["certified"] = bool(cg.certified)
            r["ratio"] = float(cg.max_ratio)
            r["ratio_exact"] = bool(cg.exact)
            r["rounds"] = int(cg.rounds)
            r["upper"] = float(cg.upper_ratio)
            r["cert_rel_gap"] = cg.certificate.rel_gap
            r["est_rel_gap"] = float(cg.history[-1].get("est_rel_gap", float("nan")))
            t0 = time.perf_counter()
            m, s = tps(X, y, seed)
            r["tps"] = float(np.mean((m(Xt) - ft) ** 2))
            r["t_tps"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            k, p = krr(X, y)
            r["krr"] = float(np.mean((k.predict(Xt) - ft) ** 2))
            r["t_krr"] = time.perf_counter() - t0
            rows.append(r)
            print(f"| {d} | {N} | {r['sampled']:.4f} | {r['adaptive']:.4f} | {r['tps']:.4f} "
                  f"| {r['krr']:.4f} | {r['t_adaptive']:.1f} | {certificate_text(r)} |",
                  flush=True)
    return rows


def slopes(rows) -> dict:
    out = {}
    for d in sorted({r["d"] for r in rows}):
        rs = [r for r in rows if r["d"] == d]
        if len(rs) < 2:
            continue
        lN = np.log([r["N"] for r in rs])
        out[d] = {m: (float(np.polyfit(lN, np.log([r[m] for r in rs]), 1)[0])
                      if all(np.isfinite(r[m]) for r in rs) else float("nan"))
                  for m in ("sampled", "adaptive", "tps", "krr")}
        out[d]["rate_network"] = -(d + 3) / (2 * d + 3)
        out[d]["rate_linear"] = -3 / (d + 3)
    return out


def figure(rows, path: Path, title: str = "ridge function") -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return False
    dims = sorted({r["d"] for r in rows})
    fig, axes = plt.subplots(1, len(dims), figsize=(5 * len(dims), 4))
    sl = slopes(rows)
    for ax, d in zip(np.atleast_1d(axes), dims):
        rs = [r for r in rows if r["d"] == d]
        N = np.array([r["N"] for r in rs])
        for m, lab in (("adaptive", "nnlasso adaptive"), ("sampled", "nnlasso sampled"),
                       ("tps", "thin-plate spline (CV)"), ("krr", "kernel ridge (CV)")):
            s = sl.get(d, {}).get(m, float("nan"))
            if not all(np.isfinite(r[m]) for r in rs):
                continue
            ax.loglog(N, [r[m] for r in rs], "o-", label=f"{lab}, slope {s:.2f}")
        e0 = rs[0]["tps"]
        for key, ls in (("rate_network", ":"), ("rate_linear", "--")):
            if d in sl:
                ax.loglog(N, e0 * (N / N[0]) ** sl[d][key], "k" + ls, lw=0.8,
                          label=f"N^{sl[d][key]:.2f} ({key[5:]} rate)")
        ax.set_title(f"{title}, d = {d}")
        ax.set_xlabel("N")
        ax.set_ylabel("test MSE")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 5])
    ap.add_argument("--Ns", type=int, nargs="+", default=None,
                    help="sample sizes (default 100 200 400 800; --quick: 100 150)")
    ap.add_argument("--target", choices=("ridge", "multi"), default="ridge")
    ap.add_argument("--rounds", type=int, default=None,
                    help="cap on column-generation rounds (default 50; --quick: 10)")
    ap.add_argument("--bound-time", type=float, default=2.0,
                    help="seconds for the branch-and-bound certificate (d >= 3)")
    ap.add_argument("--methods", nargs="+", default=["sampled", "adaptive", "tps", "krr"],
                    help="without 'sampled', the adaptive fit's lam is validated on adaptive "
                         "fits (same grid and split)")
    ap.add_argument("--figure", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write the rows and slopes here")
    args = ap.parse_args(argv)
    Ns_list = args.Ns or ((100, 150) if args.quick else (100, 200, 400, 800))
    Ns = {d: tuple(Ns_list) for d in args.dims}
    rounds = args.rounds or (10 if args.quick else 50)
    print("| d | N | nnlasso sampled | nnlasso adaptive | thin-plate spline | kernel ridge "
          "| adaptive time (s) | adaptive certificate |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    rows = run(args.dims, Ns, args.seed, rounds, args.target, args.bound_time, args.methods)
    sl = slopes(rows)
    print("\n| d | slope sampled | slope adaptive | slope TPS | slope KRR | network rate "
          "| linear rate |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for d, s in sl.items():
        print(f"| {d} | {s['sampled']:.2f} | {s['adaptive']:.2f} | {s['tps']:.2f} "
              f"| {s['krr']:.2f} | {s['rate_network']:.2f} | {s['rate_linear']:.2f} |")
    if args.json is not None:
        import json
        args.json.write_text(json.dumps({"rows": rows, "slopes": sl}, indent=1, default=float))
    if args.figure is not None:
        figure(rows, args.figure, "ridge function" if args.target == "ridge"
               else "two-direction function")
    return {"rows": rows, "slopes": sl}


if __name__ == "__main__":
    main()
