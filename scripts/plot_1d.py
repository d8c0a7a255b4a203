"""Draw a 1-D weight-decay fit, its knots and the impulses of f'' (docs/figures/fit_1d.png).

The knot dictionary is exact in one dimension: the fit is linear trend filtering on the uneven
grid and f'' is a sum of impulses v_k |w_k| delta(x - t_k) at a few of the data points.
Run ``python scripts/plot_1d.py [--lam 0.5] [--out docs/figures/fit_1d.png]`` (needs the
``plot`` extra: matplotlib).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import nnlasso as nl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lam", type=float, default=0.5)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1]
                                             / "docs" / "figures" / "fit_1d.png"))
    args = parser.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-3, 3, 60))
    y = np.sin(x) + 0.3 * np.abs(x) + 0.15 * rng.standard_normal(60)
    fit = nl.fit_shallow(x, y, args.lam, dictionary="knots")
    net = fit.net
    grid = np.linspace(x.min() - 0.5, x.max() + 0.5, 800)
    knots = net.b / net.W[:, 0]
    jumps = net.V[:, 0] * np.abs(net.W[:, 0])

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1.3]})
    ax1.plot(x, y, "o", ms=3.5, color="0.5", label="data")
    ax1.plot(grid, net.predict(grid[:, None]).reshape(-1), color="C0", lw=2,
             label=f"fit: {net.n_neurons} neurons, TV2 = {net.tv2():.3f}")
    ax1.plot(knots, net.predict(knots[:, None]).reshape(-1), "s", color="C3", ms=6,
             label="knots")
    ax1.set_title(f"1-D weight-decay fit = trend filtering (lam = {args.lam}, "
                  f"rel gap {fit.rel_gap:.1e})")
    ax1.legend(loc="best", fontsize=9)
    ax2.vlines(knots, 0, jumps, color="C3", lw=2)
    ax2.axhline(0, color="0.3", lw=0.8)
    ax2.set_ylabel("f'' impulses")
    ax2.set_xlabel("x")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}: {net.n_neurons} knots, TV2 = {net.tv2():.4f}, "
          f"objective = {fit.objective:.6f}, rel gap = {fit.rel_gap:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
