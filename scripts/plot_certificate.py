"""Plot the continuous certificate of a 2-D fit before and after column generation.

For each direction w = (cos t, sin t) of the circle the curve shows

    r(t) = max_b |eta(w, b)| / lam,     eta(w, b) = sum_n q_n relu(w . x_n - b),

where q is the dual residual of the fit (y - f(x), with the affine part projected out). The fit
is optimal over *all* neurons iff r(t) <= 1 for every t (docs/math.md, "Certificates over all neurons").
Before: a lasso over a small sampled dictionary (the curve exceeds 1 where a missing neuron would
lower the objective). After: column generation (nnlasso.representer.column_generation) until the
exact arc certificate holds. Writes docs/figures/certificate.png.

Usage: python scripts/plot_certificate.py [--out docs/figures/certificate.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import nnlasso as nl  # noqa: E402
from nnlasso import representer as R  # noqa: E402
from nnlasso.dictionary import sample_neurons  # noqa: E402


def teacher(seed: int = 0, n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """A few ReLU ridges plus noise on [-1, 1]^2."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    W = np.array([[1.0, 0.5], [-0.3, 1.0], [0.7, -0.7]])
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    b = np.array([0.2, -0.1, 0.3])
    y = np.maximum(X @ W.T - b, 0.0) @ np.array([2.0, -1.5, 1.0]) + 0.05 * rng.standard_normal(n)
    return X, y


def profile(X: np.ndarray, y: np.ndarray, Phi: np.ndarray, sol: nl.Solution, lam: float,
            theta: np.ndarray) -> np.ndarray:
    """max_b |eta(w(t), b)| / lam over the directions w(t) = (cos t, sin t)."""
    Q, _, _ = R.dual_residual(sol.fitted(Phi, X), y, skip=X)
    vals, _ = R.sup_over_bias(X, Q, np.column_stack([np.cos(theta), np.sin(theta)]))
    return vals / lam


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "figures"
                                         / "certificate.png"))
    ap.add_argument("--lam", type=float, default=0.05)
    ap.add_argument("--n-init", type=int, default=20)
    args = ap.parse_args()

    X, y = teacher()
    lam = args.lam
    theta = np.linspace(-np.pi, np.pi, 4001)

    small = sample_neurons(X, args.n_init, method="data", seed=0)
    Phi0 = small.features(X)
    sol0 = nl.solve_lasso(Phi0, y, lam, skip=X)
    r0 = profile(X, y, Phi0, sol0, lam, theta)
    Q0, T0, _ = R.dual_residual(sol0.fitted(Phi0, X), y, skip=X)
    cert0, _ = R.certify_residual(X, Q0, lam, T=T0, objective=sol0.objective, skip=X)

    dic, sol1, rep = R.column_generation(X, y, lam, skip=True, n_init=args.n_init, seed=0)
    Phi1 = dic.features(X)
    r1 = profile(X, y, Phi1, sol1, lam, theta)
    cert1 = rep.certificate

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2),
                                  gridspec_kw={"width_ratios": [2.2, 1]})
    ax.plot(theta, r0, color="tab:red", lw=1.2,
            label=f"{args.n_init} sampled neurons: sup = {cert0.max_ratio:.3f}")
    ax.plot(theta, r1, color="tab:blue", lw=1.2,
            label=f"column generation ({rep.rounds} rounds, {sol1.n_active} active): "
                  f"sup = {cert1.max_ratio:.6f}")
    ax.axhline(1.0, color="k", ls="--", lw=0.8, label="lam (optimality threshold)")
    w0, _ = cert0.argmax
    ax.plot([np.arctan2(w0[1], w0[0])], [cert0.max_ratio], "o", color="tab:red", ms=5)
    act = dic.W[sol1.active]
    ax.plot(np.arctan2(act[:, 1], act[:, 0]), np.ones(len(act)), "|", color="tab:blue", ms=14,
            label="directions of the active neurons")
    ax.set_xlabel("direction angle t of w = (cos t, sin t)")
    ax.set_ylabel("max_b |eta(w, b)| / lam")
    ax.set_xlim(-np.pi, np.pi)
    ax.set_title("continuous certificate of a 2-D weight-decay fit")
    ax.legend(fontsize=8, loc="upper right")

    objs = [h["objective"] for h in rep.history]
    ratios = [h["max_ratio"] for h in rep.history]
    ax2.semilogy(range(1, len(ratios) + 1), np.maximum(np.array(ratios) - 1, 1e-12), "o-",
                 color="tab:blue", label="sup |eta| / lam - 1")
    ax2.semilogy(range(1, len(objs) + 1), np.array(objs) - objs[-1] + 1e-12, "s-",
                 color="tab:gray", label="objective - final")
    ax2.set_xlabel("round")
    ax2.set_title(f"column generation (gap {cert1.gap:.1e})")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    print(f"before: sup|eta|/lam = {cert0.max_ratio:.4f}, certified gap {cert0.gap:.3g}")
    print(f"after {rep.rounds} rounds: sup|eta|/lam = {cert1.max_ratio:.8f}, certified "
          f"{cert1.certified}, gap {cert1.gap:.3g}, objective {sol1.objective:.10g}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
