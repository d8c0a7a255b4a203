"""Compress the hidden layer of a weight-decay-trained MLP on scikit-learn's digits (issue 5).

Reproduces, on CPU, the seeds' claim "reformulate a trained ReLU layer as a convex multitask
lasso over its own neurons and get a much narrower layer with the same accuracy" (their
VGG-19 / CIFAR-10 table: 512 -> 47 neurons, 93.92% -> 93.88%).

    python scripts/compress_digits.py [--seed 0] [--out docs/compression.md] [--quick]

Trains ``MLPClassifier(hidden_layer_sizes=(256,), activation="relu", alpha=1.0)`` on digits
(70/30 stratified split, inputs scaled to [0, 1]), compresses the hidden layer with every
program of :func:`nnlasso.compress.compress_layer` (exact, eps, lam, label-aware), sweeps eps
(:func:`nnlasso.compress.compression_path`), compresses a two-hidden-layer network with
``compress(..., layers="all")``, prints the tables and writes ``docs/compression.md`` with the
figure ``docs/figures/compression_path.png``.

``train_digits_mlp(seed)`` and ``bench_modes()`` are importable (scripts/bench.py uses them).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nnlasso.compress import (CompressionPath, CompressionReport, compress,  # noqa: E402
                              compress_layer, compression_path)
from nnlasso.networks import MLP  # noqa: E402

#: weight decay of the trained network (scikit-learn's alpha); lam = ALPHA is the network's own
#: training objective in the label-aware program
ALPHA = 1.0
HIDDEN = (256,)
EPS_GRID = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


# =============================================================================================
# numerics
# =============================================================================================

def load_digits_split(seed: int = 0) -> dict[str, np.ndarray]:
    """Digits (1797 x 64, pixels / 16) with a stratified 70/30 split fixed by ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.3, random_state=seed,
                                          stratify=y)
    return {"Xtr": Xtr, "Xte": Xte, "ytr": ytr, "yte": yte}


def train_digits_mlp(seed: int = 0, hidden: tuple[int, ...] = HIDDEN, alpha: float = ALPHA,
                     max_iter: int = 200) -> tuple[MLP, dict[str, np.ndarray], dict[str, Any]]:
    """Train ``MLPClassifier(hidden, relu, alpha)`` with Adam on the digits split.

    scikit-learn minimizes (1/N) sum_n CE_n + alpha / (2N) sum_l |W_l|_F^2, i.e. (times N)
    sum CE + alpha * WD: the weight-decay objective of docs/math.md with lam = alpha.

    Returns
    -------
    (mlp, data, info) : the network as an nnlasso :class:`MLP`, the split, and
        ``{"train_time", "n_iter", "alpha", "hidden"}``.
    """
    from sklearn.neural_network import MLPClassifier
    data = load_digits_split(seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # ConvergenceWarning at max_iter
        est = MLPClassifier(hidden_layer_sizes=hidden, activation="relu", alpha=alpha,
                            max_iter=max_iter, random_state=seed).fit(data["Xtr"], data["ytr"])
    info = {"train_time": time.perf_counter() - t0, "n_iter": int(est.n_iter_), "alpha": alpha,
            "hidden": hidden}
    return MLP.from_sklearn(est), data, info


def _record(mode: str, param: str, rep: CompressionReport) -> dict[str, Any]:
    return {"mode": mode, "param": param, "neurons_before": rep.neurons_before,
            "neurons_after": rep.neurons_after, "time": rep.times["total"],
            "solve_time": rep.times["solve"], "solver": rep.solver, "status": rep.status,
            "train_acc_before": rep.score_train[0], "train_acc_after": rep.score_train[1],
            "test_acc_before": rep.score_test[0], "test_acc_after": rep.score_test[1],
            "max_output_change": rep.max_output_change,
            "psi_rel_change": rep.psi_rel_change, "objective": rep.objective,
            "trained_objective": rep.trained_objective, "rel_gap": rep.rel_gap,
            "wd_balanced": rep.weight_decay_balanced, "wd_after": rep.weight_decay_after,
            "report": rep}


def bench_modes(seed: int = 0, mlp: MLP | None = None, data: dict | None = None,
                label: bool = True, label_solver: str = "auto") -> list[dict[str, Any]]:
    """Compress the 256-unit digits layer (N = 1257, K = 256, D = 10) by each program.

    Modes: exact (eps = 0), eps = 0.05, lam = 0.01 lam_max (squared, on Psi) and, with
    ``label``, the label-aware softmax program at lam = alpha (the network's own objective).
    Each record has ``mode, param, neurons_before, neurons_after, time, solve_time, solver,
    status``, accuracies before / after, ``max_output_change`` and the report.
    """
    if mlp is None or data is None:
        mlp, data, _ = train_digits_mlp(seed)
    common = dict(X_test=data["Xte"], y_test=data["yte"])
    Xtr, ytr = data["Xtr"], data["ytr"]
    out = []
    _, rep = compress_layer(mlp, 1, Xtr, ytr, **common)
    out.append(_record("exact", "eps=0", rep))
    _, rep = compress_layer(mlp, 1, Xtr, ytr, eps=0.05, **common)
    out.append(_record("eps", "eps=0.05", rep))
    _, rep = compress_layer(mlp, 1, Xtr, ytr, program="lam", lam_ratio=0.01, **common)
    out.append(_record("lam", "lam=0.01 lam_max", rep))
    if label:
        _, rep = compress_layer(mlp, 1, Xtr, ytr, lam=ALPHA, solver=label_solver, tol=1e-4,
                                **common)
        out.append(_record("label", f"lam=alpha={ALPHA:g}", rep))
    return out


def eps_path(mlp: MLP, data: dict, grid=EPS_GRID) -> CompressionPath:
    """The compression path over eps on the digits layer."""
    return compression_path(mlp, 1, data["Xtr"], data["ytr"], grid=grid, mode="eps",
                            X_test=data["Xte"], y_test=data["yte"])


def feature_facts(mlp: MLP, X: np.ndarray) -> dict[str, int]:
    """Width, neurons dead on X and the numerical rank of the layer's features on X."""
    H = mlp.hidden_features(X, 1)
    s = np.linalg.svd(H, compute_uv=False)
    return {"K": H.shape[1], "N": H.shape[0],
            "dead_on_X": int(np.sum(np.linalg.norm(H, axis=0) == 0)),
            "rank": int(np.sum(s > 1e-10 * s[0]))}


def deep_network(seed: int = 0) -> tuple[MLP, dict, dict, CompressionReport, CompressionReport]:
    """A (128, 64) network: compress(..., layers="all") exact and with eps = 0.05."""
    mlp, data, info = train_digits_mlp(seed, hidden=(128, 64), max_iter=200)
    common = dict(X_test=data["Xte"], y_test=data["yte"])
    _, exact = compress(mlp, data["Xtr"], "all", data["ytr"], **common)
    _, tol = compress(mlp, data["Xtr"], "all", data["ytr"], eps=0.05, **common)
    return mlp, data, info, exact, tol


# =============================================================================================
# output
# =============================================================================================

def bench_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| program | parameter | neurons | train acc | test acc | max logit change | "
             "solver | time (s) |", "|---|---|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['param']} | {r['neurons_before']} -> "
                     f"{r['neurons_after']} | {100 * r['train_acc_before']:.2f}% -> "
                     f"{100 * r['train_acc_after']:.2f}% | {100 * r['test_acc_before']:.2f}% -> "
                     f"{100 * r['test_acc_after']:.2f}% | {r['max_output_change']:.2g} | "
                     f"{r['solver']} | {r['time']:.1f} |")
    return "\n".join(lines)


def plot_path(path: CompressionPath, label_rows: list[dict[str, Any]], file: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ax = axes[0]
    ax.plot(path.param, path.neurons, "o-", label="neurons kept")
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlabel("eps (relative deviation of the next pre-activation)")
    ax.set_ylabel("neurons in the hidden layer")
    ax.axhline(path.neurons_before, color="gray", ls=":", label="trained width")
    ax.legend()
    ax.set_title("compression path (min-norm program)")
    ax = axes[1]
    ax.plot(path.neurons, 100 * path.score_test, "o-", label="eps path: test")
    ax.plot(path.neurons, 100 * path.score_train, "s--", alpha=0.6, label="eps path: train")
    for r in label_rows:
        ax.plot([r["neurons_after"]], [100 * r["test_acc_after"]], "r*", ms=12,
                label=f"label-aware ({r['param']}): test")
    ax.plot([path.neurons_before], [100 * path.score_before[1]], "kD",
            label="trained network: test")
    ax.set_xlabel("neurons")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=8)
    ax.set_title("accuracy vs width")
    fig.tight_layout()
    file.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(file, dpi=120)
    plt.close(fig)


def _path_claim(path: CompressionPath, n_test: int) -> str:
    """One sentence on the narrowest eps-path network whose test accuracy did not drop."""
    i = path.smallest(min_score=path.score_before[1] - 1e-12, on="test")
    if i is None:
        return " No point of the path keeps the test accuracy."
    k, k0 = int(path.neurons[i]), path.neurons_before
    return (f" The narrowest network on the path whose test accuracy did not drop has {k} "
            f"neurons ({k0 / k:.1f}x fewer) at eps = {path.param[i]:g}: test accuracy "
            f"{100 * path.score_before[1]:.2f}% -> {100 * path.score_test[i]:.2f}%, train "
            f"{100 * path.score_before[0]:.2f}% -> {100 * path.score_train[i]:.2f}%, relative "
            f"logit change {path.rel_output_change[i]:.1%}. One test image is "
            f"{100 / n_test:.2f}% of the {n_test} test images, so differences of that size "
            "are noise, in either direction.")


def write_markdown(out: Path, info: dict, facts: dict, rows: list[dict], path: CompressionPath,
                   deep: tuple, figure: Path, total_time: float) -> str:
    exact = next(r for r in rows if r["mode"] == "exact")
    label = [r for r in rows if r["mode"] == "label"]
    lab = label[0] if label else None
    _, _, dinfo, dexact, dtol = deep
    rel_fig = figure.relative_to(out.parent)
    n_test = int(facts["N_test"])
    parts = [
        "# Compressing a trained ReLU layer on digits",
        "",
        "Generated by `python scripts/compress_digits.py` (seed 0, CPU, "
        f"{total_time:.0f} s in total on a shared 2-core machine). The method is "
        "`nnlasso.compress` ([math.md](math.md#min-norm-form-of-a-trained-layer)): "
        "rebalance, normalize the layer's input rows, solve a convex program over the layer's "
        "own neurons, reduce the support, refit, delete the removed neurons.",
        "",
        "## Setup",
        "",
        f"`MLPClassifier(hidden_layer_sizes={info['hidden']}, activation='relu', "
        f"alpha={info['alpha']:g}, max_iter=200, random_state=0)` on scikit-learn's digits "
        f"(pixels / 16, stratified 70/30 split: N = {facts['N']} training images, D = 10 "
        f"classes); Adam stopped after {info['n_iter']} iterations ({info['train_time']:.0f} s). "
        "scikit-learn minimizes (1/N) sum CE + alpha/(2N) |W|^2, so N times its objective is "
        "sum CE + alpha * WD: the label-aware program with lam = alpha is the network's own "
        "training objective, restricted to its trained hidden neurons.",
        "",
        "## Each program on the 256-unit layer",
        "",
        bench_table(rows),
        "",
        "*exact*: min sum_k |v_k| s.t. Phi V = Psi (next bias fixed; logits unchanged on the "
        "training inputs). *eps*: |Phi V + 1c - Psi|_F <= eps |Psi|_F (free next bias), then "
        "a least-squares refit on the surviving neurons. *lam*: 1/2 |Psi - Phi V - 1c|^2 + "
        "lam sum|v_k| with refit. *label*: softmax cross-entropy on the true labels + "
        "lam sum|v_k|, output bias free, solution kept as is.",
        "",
    ]
    if lab is not None:
        parts += [
            "### The seeds' table (label-aware program, lam = alpha)",
            "",
            lab["report"].table(),
            "",
            f"Objective of the trained weights in this program: {lab['trained_objective']:.1f}; "
            f"its optimum: {lab['objective']:.1f} (relative duality gap "
            f"{lab['rel_gap']:.1e}).",
            "",
        ]
    parts += [
        "## Compression path (eps)",
        "",
        path.table(),
        "",
        f"![compression path]({rel_fig.as_posix()})",
        "",
        "## Two hidden layers (128, 64): `compress(mlp, X, layers=\"all\")`",
        "",
        f"Trained the same way ({dinfo['n_iter']} iterations, {dinfo['train_time']:.0f} s). "
        "Layers are compressed last to first.",
        "",
        "Exact (eps = 0):",
        "",
        dexact.table(),
        "",
        "Per layer: " + "; ".join(f"layer {s.layer}: {s.neurons_before} -> {s.neurons_after} "
                                  f"({s.times['total']:.1f} s)" for s in dexact.steps) + ".",
        "",
        "Tolerance eps = 0.05 per layer:",
        "",
        dtol.table(),
        "",
        "Per layer: " + "; ".join(f"layer {s.layer}: {s.neurons_before} -> {s.neurons_after} "
                                  f"({s.times['total']:.1f} s)" for s in dtol.steps) + ".",
        "",
        "## How far the seeds' \"10x with no loss\" holds here",
        "",
        f"* **Exact mode: no free lunch.** On the N = {facts['N']} training images the "
        f"layer's features have rank {facts['rank']} = K - {facts['dead_on_X']} neurons "
        "that never fire on the training set. With full column rank the only V with "
        "Phi V = Psi is the trained one, so exact compression can only drop the dead neurons "
        f"({exact['neurons_before']} -> {exact['neurons_after']}, logits unchanged to "
        f"{exact['max_output_change']:.0e}). The width bound rank(P Phi) * rank(P Psi) = "
        f"{exact['report'].bound} is vacuous for K = 256, D = 10 (the representer theorem "
        "guarantees narrow solutions only when K exceeds it, e.g. N < K or duplicated "
        "neurons, which the tests construct).",
        "* **Tolerance mode: a smooth trade-off.** Allowing the next pre-activation to move by "
        "eps (relative) removes neurons gradually; the table above shows how many survive at "
        "each eps and what it costs in accuracy." + _path_claim(path, n_test),
    ]
    if lab is not None:
        ratio = lab["neurons_before"] / max(lab["neurons_after"], 1)
        parts += [
            f"* **Label-aware program: ~{ratio:.1f}x with no test loss.** At lam = alpha the "
            f"convex program keeps {lab['neurons_after']} of {lab['neurons_before']} neurons, "
            f"test accuracy {100 * lab['test_acc_before']:.2f}% -> "
            f"{100 * lab['test_acc_after']:.2f}%, train accuracy "
            f"{100 * lab['train_acc_before']:.2f}% -> {100 * lab['train_acc_after']:.2f}%. "
            "This is the seeds' mechanism, and the reason is visible in the objectives: Adam "
            f"stopped at {lab['trained_objective']:.1f}, far above the optimum "
            f"{lab['objective']:.1f} over the same neurons, and weight-decay optima are group "
            "sparse while a stopped first-order run is not. The compressed network is a "
            "*different* last layer (max logit change "
            f"{lab['max_output_change']:.2g}), not the same function: the claim is about "
            "accuracy, not outputs. The factor is smaller than the seeds' 512 -> 47 (10.9x): "
            "the digits layer is narrower, and how much is removed depends on lam and on how "
            "far training was from its optimum (a network trained to optimality would "
            "already be sparse and gain nothing).",
            f"* **Cost.** The softmax program (N = {facts['N']}, K = 256, D = 10) takes "
            f"{lab['time']:.1f} s for the whole compress_layer call ({lab['solve_time']:.1f} s "
            f"in the program) with solver {lab['solver']} at a relative gap of "
            f"{lab['rel_gap']:.0e} (nnlasso's certificate; requested 1e-4); the exact mode "
            f"takes {exact['time']:.1f} s (null-space parametrization: no cone program when "
            "the features have full column rank). The native solver works on growing working "
            "sets of neurons with a proximal Newton method in coordinates orthogonal to the "
            "ones vector (softmax is invariant along it); before that method the same call "
            "took ~20 s. Timings vary with the load of the shared machine. The same program "
            "through CVXPY + CLARABEL (12,570 exponential cones) did not finish within 500 s "
            "here, which is why solver='auto' uses the native solver ('prox') for it.",
        ]
    text = "\n".join(parts) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "compression.md")
    ap.add_argument("--figure", type=Path,
                    default=ROOT / "docs" / "figures" / "compression_path.png")
    ap.add_argument("--quick", action="store_true",
                    help="skip the label-aware program (the slow one) and the deep network")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    mlp, data, info = train_digits_mlp(args.seed)
    print(f"trained {info['hidden']} alpha={info['alpha']:g}: {info['n_iter']} iterations, "
          f"{info['train_time']:.1f}s")
    facts = feature_facts(mlp, data["Xtr"])
    facts["N_test"] = len(data["Xte"])
    print(f"features on X: N={facts['N']} K={facts['K']} rank={facts['rank']} "
          f"dead={facts['dead_on_X']}")
    rows = bench_modes(args.seed, mlp, data, label=not args.quick)
    for r in rows:
        print(r["report"])
        print()
    print(bench_table(rows))
    path = eps_path(mlp, data)
    print(path.table())
    plot_path(path, [r for r in rows if r["mode"] == "label"], args.figure)
    if args.quick:
        return 0
    deep = deep_network(args.seed)
    print(deep[3])
    print(deep[4])
    write_markdown(args.out, info, facts, rows, path, deep, args.figure,
                   time.perf_counter() - t0)
    print(f"wrote {args.out} and {args.figure} ({time.perf_counter() - t0:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
