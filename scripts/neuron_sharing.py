"""Neuron sharing: joint multi-output fits vs separate single-output fits.

Usage::

    python scripts/neuron_sharing.py [--quick] [--seed 0] [--figure docs/figures/neuron_sharing.png]

Claim (weight decay favours outputs that share neurons). The joint program over a dictionary
``{phi_k}``

    J(V) = 1/2 |Y - Phi V - skip|_F^2 + lam sum_k |V_k|_2          (group norm over outputs)

is compared with D separate single-output fits at the same lam over the *same* dictionary

    S = sum_j [ 1/2 |y_j - Phi v_j - skip_j|^2 + lam sum_k |v_kj| ].

Stacking the separate solutions gives a feasible point of the joint program whose penalty is
not larger (|V_k|_2 <= sum_j |V_kj|), so J_opt <= J(V_sep) <= S: the honest comparison reports
all three. Neurons used: joint = active rows of V; separate = the union of the active sets
(same dictionary, so the same indices); in 1-D distinct knots are counted.

Targets: a planted network with 4 neurons (d = 1: knots; d = 2: random directions through the
data) mixed into D outputs by a random (4, D) matrix, plus noise 0.05. Dictionaries: d = 1 the
exact knot dictionary (``knot_neurons``); d = 2 a sampled one (``sample_neurons``).

Angle check: two outputs y_j = relu(w(a_j) . x) with w(a) = (cos a, sin a) at angle theta =
|a_1 - a_2|, dictionary = 61 directions on the arc around them; the relative objective drop
(S - J_opt) / S and whether the joint optimum uses a neuron active in both outputs, vs theta.

Prints the tables; returns them from :func:`main` (the test asserts on the numbers).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnlasso import fit_shallow  # noqa: E402
from nnlasso.dictionary import NeuronDictionary, knot_neurons, sample_neurons  # noqa: E402
from nnlasso.solution import active_set  # noqa: E402

TOL = 1e-9


def planted(rng: np.random.Generator, N: int, d: int, D: int, noise: float = 0.05):
    """X (N, d) uniform in [-1, 1]^d, Y = relu(X W0^T - b0) A + noise, 4 planted neurons."""
    X = rng.uniform(-1, 1, size=(N, d))
    W0 = rng.normal(size=(4, d))
    W0 /= np.linalg.norm(W0, axis=1, keepdims=True)
    b0 = np.einsum("kd,kd->k", W0, X[rng.choice(N, 4, replace=False)])
    A = rng.normal(size=(4, D))
    Y = np.maximum(X @ W0.T - b0, 0) @ A
    return X, Y + noise * rng.normal(size=Y.shape)


def _active(fit) -> np.ndarray:
    return active_set(np.asarray(fit.solution.V))


def joint_objective(fit_parts, Y, lam) -> float:
    """J at the stacked separate solutions: 1/2 |Y - F|^2 + lam sum_k |V_k|_2."""
    F = np.column_stack([f.net.predict(f.X).reshape(-1) for f in fit_parts])
    V = np.column_stack([np.asarray(f.solution.V)[:, 0] for f in fit_parts])
    return float(0.5 * np.sum((Y - F) ** 2) + lam * np.sum(np.linalg.norm(V, axis=1)))


def compare(X, Y, dic: NeuronDictionary, lam: float, knots: bool) -> dict:
    """Joint vs separate fits over ``dic`` at ``lam``: neurons, objectives, training MSE."""
    t0 = time.perf_counter()
    joint = fit_shallow(X, Y, lam=lam, dictionary=dic, tol=TOL)
    sep = [fit_shallow(X, Y[:, j], lam=lam, dictionary=dic, tol=TOL) for j in range(Y.shape[1])]
    aj = _active(joint)
    asep = [_active(f) for f in sep]
    union = np.unique(np.concatenate(asep))
    if knots:  # distinct knot positions (w = +-1: knot b / w)
        kpos = np.round(dic.b / dic.W[:, 0], 12)
        n_joint, n_union = np.unique(kpos[aj]).size, np.unique(kpos[union]).size
    else:
        n_joint, n_union = aj.size, union.size
    Fj = joint.net.predict(X).reshape(Y.shape)
    Fs = np.column_stack([f.net.predict(X).reshape(-1) for f in sep])
    return {"D": Y.shape[1], "K_dict": dic.K, "joint_neurons": int(n_joint),
            "separate_union": int(n_union), "separate_sum": int(sum(a.size for a in asep)),
            "shared_by_separate": int(sum(a.size for a in asep) - union.size),
            "joint_obj": joint.objective, "separate_obj_sum": float(sum(f.objective for f in sep)),
            "separate_in_joint_obj": joint_objective(sep, Y, lam),
            "joint_gap": joint.gap, "separate_gap": float(max(f.gap for f in sep)),
            "mse_joint": float(np.mean((Y - Fj) ** 2)), "mse_separate": float(np.mean((Y - Fs) ** 2)),
            "time": time.perf_counter() - t0, "fit": joint, "sep": sep}


def sharing_table(quick: bool, seed: int) -> list[dict]:
    """Joint vs separate for d = 1 (knots) and d = 2 (sampled), D in the output grid."""
    rows = []
    Ds = (2, 5) if quick else (2, 4, 6, 10)
    for d in (1, 2):
        for D in Ds:
            rng = np.random.default_rng(seed + 100 * d + D)
            N = (40 if d == 1 else 60) if quick else (100 if d == 1 else 150)
            X, Y = planted(rng, N, d, D)
            if d == 1:
                dic = knot_neurons(X[:, 0])
            else:
                dic = sample_neurons(X, 300 if quick else 1500, seed=seed + D)
            # one lam for all fits: 5% of the joint program's lam_max (columns' correlations)
            # (features and targets with the free skip C x + c0 projected out)
            Phi = dic.features(X)
            Q, _ = np.linalg.qr(np.column_stack([np.ones(N), X]))
            Pc, Yc = Phi - Q @ (Q.T @ Phi), Y - Q @ (Q.T @ Y)
            lam = 0.05 * float(np.max(np.linalg.norm(Pc.T @ Yc, axis=1)))
            r = compare(X, Y, dic, lam, knots=(d == 1))
            r.update(d=d, N=N, lam=lam, dictionary="knots" if d == 1 else "sampled")
            rows.append(r)
    return rows


def angle_check(quick: bool, seed: int, lam: float = 0.5) -> list[dict]:
    """Two outputs relu(w(a_j) . x), angle theta apart; relative drop (S - J) / S, sharing."""
    rng = np.random.default_rng(seed)
    N = 200 if quick else 400
    X = rng.normal(size=(N, 2))
    out = []
    for deg in (5, 15, 30, 60, 90):
        th = np.deg2rad(deg)
        a1, a2 = 0.0, th
        ang = np.linspace(a1 - 0.3, a2 + 0.3, 61 if quick else 121)
        ang = np.unique(np.concatenate([ang, [a1, a2]]))
        dic = NeuronDictionary(np.column_stack([np.cos(ang), np.sin(ang)]), np.zeros(ang.size))
        Y = np.column_stack([np.maximum(X @ [np.cos(a), np.sin(a)], 0) for a in (a1, a2)])
        joint = fit_shallow(X, Y, lam=lam, dictionary=dic, skip=False, tol=TOL)
        sep = [fit_shallow(X, Y[:, j], lam=lam, dictionary=dic, skip=False, tol=TOL)
               for j in range(2)]
        S = sum(f.objective for f in sep)
        V = np.asarray(joint.solution.V)
        big = np.abs(V) > 1e-3 * np.abs(V).max()
        out.append({"theta_deg": deg, "joint_obj": joint.objective, "separate_obj_sum": S,
                    "rel_drop": (S - joint.objective) / S,
                    "shared_neurons": int(np.sum(big.all(axis=1))),
                    "joint_neurons": int(_active(joint).size),
                    "gap": max(joint.gap, *(f.gap for f in sep))})
    return out


def figure(rows: list[dict], path: Path) -> bool:
    """Knots used by the joint fit vs each separate fit (d = 1, the largest D)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return False
    r = max((r for r in rows if r["d"] == 1), key=lambda r: r["D"])
    joint, sep = r["fit"], r["sep"]
    X = joint.X[:, 0]
    order = np.argsort(X)
    D = min(r["D"], 4)
    fig, axes = plt.subplots(D, 1, figsize=(7, 1.8 * D + 0.6), sharex=True)
    kj = joint.net.b[_active_net(joint)] / joint.net.W[_active_net(joint), 0]
    for j, ax in enumerate(np.atleast_1d(axes)):
        ax.plot(X, joint.Y[:, j], ".", color="0.6", ms=3)
        ax.plot(X[order], joint.net.predict(joint.X)[order, j], "C0-", lw=1.2, label="joint")
        ax.plot(X[order], sep[j].net.predict(sep[j].X).reshape(-1)[order], "C3--", lw=1,
                label="separate")
        for k in kj:
            ax.axvline(k, color="C0", lw=0.6, alpha=0.6)
        ks = sep[j].net.b[_active_net(sep[j])] / sep[j].net.W[_active_net(sep[j]), 0]
        ax.plot(ks, np.full(ks.size, ax.get_ylim()[0]), "C3^", ms=5)
        ax.set_ylabel(f"output {j + 1}")
    np.atleast_1d(axes)[0].legend(loc="upper right", fontsize=8)
    np.atleast_1d(axes)[0].set_title(
        f"d = 1, D = {r['D']}: joint knots (blue lines, {r['joint_neurons']} in all) vs "
        f"separate (red ticks, union {r['separate_union']})", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _active_net(fit) -> np.ndarray:
    return active_set(fit.net.V)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figure", type=Path, default=None,
                    help="write the knot figure here (e.g. docs/figures/neuron_sharing.png)")
    args = ap.parse_args(argv)
    rows = sharing_table(args.quick, args.seed)
    print("| d | dictionary | N | D | K | neurons joint | separate (union) | separate (sum) "
          "| joint obj | separate obj (sum) | separate in joint obj | train MSE joint "
          "| train MSE separate |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['d']} | {r['dictionary']} | {r['N']} | {r['D']} | {r['K_dict']} "
              f"| {r['joint_neurons']} | {r['separate_union']} | {r['separate_sum']} "
              f"| {r['joint_obj']:.4f} | {r['separate_obj_sum']:.4f} "
              f"| {r['separate_in_joint_obj']:.4f} | {r['mse_joint']:.5f} "
              f"| {r['mse_separate']:.5f} |")
    angles = angle_check(args.quick, args.seed)
    print("\n| angle (deg) | joint obj | separate obj (sum) | relative drop | shared neurons "
          "| joint neurons |")
    print("|---:|---:|---:|---:|---:|---:|")
    for a in angles:
        print(f"| {a['theta_deg']} | {a['joint_obj']:.4f} | {a['separate_obj_sum']:.4f} "
              f"| {a['rel_drop']:.2e} | {a['shared_neurons']} | {a['joint_neurons']} |")
    if args.figure is not None:
        figure(rows, args.figure)
    return {"rows": rows, "angles": angles}


if __name__ == "__main__":
    main()
