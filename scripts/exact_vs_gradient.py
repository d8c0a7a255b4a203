"""Exact vs gradient training of a 1-D shallow ReLU network with weight decay.

Usage::

    python scripts/exact_vs_gradient.py [--quick] [--seed 0] [--figure docs/figures/exact_vs_gradient.png]

Program (nnlasso's scaling), for a network f(x) = sum_k v_k relu(w_k x - b_k) + c:

    J = 1/2 sum_n (y_n - f(x_n))^2 + lam * sum_k |w_k| |v_k|

(the path norm, equal to the weight decay 1/2 sum_k (w_k^2 + v_k^2) after rebalancing; biases
are not penalized). scikit-learn's ``MLPRegressor`` minimizes

    L = 1/(2N) sum_n (y_n - f(x_n))^2 + alpha/(2N) (|W_1|_F^2 + |W_2|_F^2),

so N * L = 1/2 |y - f|^2 + alpha * 1/2 (|W_1|^2 + |W_2|^2): the same program with
**alpha = lam** (its minimum over rescalings is the path norm).

The exact optimum: ``fit_shallow`` over the knot dictionary with both orientations,
relu(x - t) and relu(t - x) for every data point t, and a free intercept (no linear skip, like
scikit-learn's network). In 1-D the certificate eta(t) = Phi_t^T R is piecewise linear in t
between data points (and constant outside the data when the intercept is free), so the lasso
over this finite dictionary is the optimum over *all* neurons; nnlasso's duality gap certifies it.

Gradient training at the same lam and width (``--width`` neurons): MLPRegressor with L-BFGS and
with Adam, and a plain NumPy full-batch gradient descent on L. Each network is evaluated in J
after rebalancing (|w_k| = |v_k|, same function). Knots t_k = b_k / w_k of the neurons with
|w_k v_k| > 1e-3 * max_j |w_j v_j| that lie inside the data range, knots within
1e-3 * (data range) merged: the number of kinks of the function on the data range.
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
from nnlasso.dictionary import NeuronDictionary  # noqa: E402

ACTIVE_REL = 1e-3
MERGE_REL = 1e-3
LAM = 0.1


def data(N: int, seed: int):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1, 1, N))
    y = np.sin(3 * x) + 0.5 * np.abs(x) + 0.1 * rng.normal(size=N)
    return x, y


def objective(x, y, w, b, v, c, lam) -> float:
    """J at (w, b, v, c): 1/2 |y - f|^2 + lam sum |w_k v_k|, f = relu(w x - b) v + c."""
    f = np.maximum(np.outer(x, w) - b, 0) @ v + c
    return float(0.5 * np.sum((y - f) ** 2) + lam * np.sum(np.abs(w * v)))


def knots(x, w, b, v) -> int:
    """Distinct kinks: active knots inside the data range, knots within 1e-3 * range merged."""
    s = np.abs(w * v)
    act = (s > ACTIVE_REL * s.max()) & (np.abs(w) > 0)
    t = b[act] / w[act]
    lo, hi = x.min(), x.max()
    ts = np.sort(t[(t > lo) & (t < hi)])
    return 0 if ts.size == 0 else 1 + int(np.sum(np.diff(ts) > MERGE_REL * (hi - lo)))


def exact(x, y, lam):
    """The certified optimum over the two-orientation knot dictionary (free intercept)."""
    t = np.unique(x)
    dic = NeuronDictionary(np.r_[np.ones(t.size), -np.ones(t.size)][:, None], np.r_[t, -t])
    fit = fit_shallow(x[:, None], y, lam=lam, dictionary=dic, skip="intercept", tol=1e-10)
    net = fit.net
    return fit, (net.W[:, 0], net.b, net.V[:, 0], float(np.ravel(net.intercept)[0]))


def sklearn_fit(x, y, lam, width, solver, seed, max_iter):
    from sklearn.neural_network import MLPRegressor
    est = MLPRegressor(hidden_layer_sizes=(width,), activation="relu", alpha=lam,
                       solver=solver, max_iter=max_iter, tol=1e-12, random_state=seed,
                       **({"max_fun": 10 * max_iter} if solver == "lbfgs" else
                          {"learning_rate_init": 1e-2, "n_iter_no_change": max_iter,
                           "batch_size": x.size}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(x[:, None], y)
    W1, W2 = est.coefs_
    # sklearn: relu(x W1 + b1) W2 + b2 -> w = W1, b = -b1
    return est, (W1[0], -est.intercepts_[0], W2[:, 0], float(est.intercepts_[1][0]))


def numpy_gd(x, y, lam, width, seed, iters, lr):
    """Full-batch gradient descent on 1/(2N)|y - f|^2 + lam/(2N)(|w|^2 + |v|^2)."""
    rng = np.random.default_rng(seed)
    N = x.size
    w = rng.normal(size=width)
    b = rng.uniform(-1, 1, width) * np.abs(w)
    v = rng.normal(size=width) / np.sqrt(width)
    c = float(np.mean(y))
    for _ in range(iters):
        Z = np.outer(x, w) - b
        H = np.maximum(Z, 0)
        r = H @ v + c - y                     # (N,)
        gv = H.T @ r / N + lam / N * v
        gc = r.mean()
        G = np.outer(r, v) * (Z > 0) / N      # d/dZ
        gw = x @ G + lam / N * w
        gb = -G.sum(0)
        w, b, v, c = w - lr * gw, b - lr * gb, v - lr * gv, c - lr * gc
    return (w, b, v, c)


def run(quick: bool, seed: int, width: int | None = None) -> dict:
    N = 30 if quick else 60
    width = width or (40 if quick else 100)
    lam = LAM
    x, y = data(N, seed)
    rows = []
    t0 = time.perf_counter()
    fit, p = exact(x, y, lam)
    rows.append({"method": "nnlasso exact (certified)", "params": p,
                 "time": time.perf_counter() - t0, "gap": fit.gap})
    it = 3000 if quick else 20000
    for solver in ("lbfgs", "adam"):
        t0 = time.perf_counter()
        _, p = sklearn_fit(x, y, lam, width, solver, seed, it)
        rows.append({"method": f"sklearn MLPRegressor ({solver})", "params": p,
                     "time": time.perf_counter() - t0, "gap": None})
    t0 = time.perf_counter()
    p = numpy_gd(x, y, lam, width, seed, 20000 if quick else 200000, 0.05)
    rows.append({"method": "NumPy gradient descent", "params": p,
                 "time": time.perf_counter() - t0, "gap": None})
    opt = None
    for r in rows:
        w, b, v, c = r["params"]
        r["objective"] = objective(x, y, w, b, v, c, lam)
        r["knots"] = knots(x, w, b, v)
        r["mse"] = float(np.mean((y - (np.maximum(np.outer(x, w) - b, 0) @ v + c)) ** 2))
        opt = r["objective"] if opt is None else opt
        r["excess"] = (r["objective"] - opt) / opt
    return {"x": x, "y": y, "lam": lam, "N": N, "width": width, "rows": rows}


def figure(res: dict, path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return False
    x, y = res["x"], res["y"]
    g = np.linspace(x.min() - 0.05, x.max() + 0.05, 800)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, y, "k.", ms=4, label="data")
    for i, r in enumerate(res["rows"]):
        w, b, v, c = r["params"]
        ax.plot(g, np.maximum(np.outer(g, w) - b, 0) @ v + c, f"C{i}",
                lw=2.2 if i == 0 else 1, ls="-" if i == 0 else "--",
                label=f"{r['method']}: J = {r['objective']:.4f}, {r['knots']} knots")
    w, b, v, c = res["rows"][0]["params"]
    for t in (b / w)[np.abs(w * v) > ACTIVE_REL * np.abs(w * v).max()]:
        ax.axvline(t, color="C0", lw=0.5, alpha=0.5)
    ax.set_title(f"N = {res['N']}, lam = {res['lam']}, width {res['width']} (gradient methods)",
                 fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figure", type=Path, default=None)
    args = ap.parse_args(argv)
    res = run(args.quick, args.seed)
    print(f"N = {res['N']}, lam = alpha = {res['lam']}, width = {res['width']}")
    print("| method | objective J | excess over optimum | knots | train MSE | time (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in res["rows"]:
        print(f"| {r['method']} | {r['objective']:.6f} | {100 * r['excess']:.3f}% "
              f"| {r['knots']} | {r['mse']:.5f} | {r['time']:.2f} |")
    print(f"certified duality gap of the exact fit: {res['rows'][0]['gap']:.2e}")
    if args.figure is not None:
        figure(res, args.figure)
    return res


if __name__ == "__main__":
    main()
