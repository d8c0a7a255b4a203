"""Proximal training vs weight decay on scikit-learn's digits (issue 15, the published experiment).

    python scripts/prox_vs_weight_decay.py [--quick] [--seed 0] [--noise 0 0.2]
                                           [--out docs/prox_vs_weight_decay.md]

Trains the same MLP (inputs scaled to [0, 1], 70/30 stratified split) with
:func:`nnlasso.train_prox` and :func:`nnlasso.train_weight_decay` for several ``lam`` (same
architecture, epochs, batch size, step size and seed; ``lam = N * alpha`` for the summed
loss), and reports test accuracy and the number of nonzero hidden neurons (a neuron counts as
nonzero when its output weights are not exactly zero; for weight decay also the count above
1e-3 of the largest output norm). ``--noise p`` replaces a fraction p of the training labels
by uniformly random ones (the test labels stay clean); one table row group per value. For the
first noise value and each alpha in ``--compress-alphas``, both trained nets are then
compressed by :func:`nnlasso.compress.compress_layer` (exact, eps = 0.05): how much of the
remaining width do the convex programs still remove? ``--quick`` uses fewer epochs and lam values. Writes a
Markdown table to ``--out`` (nothing written without it) and prints it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nnlasso as nl  # noqa: E402


def _alive(mlp: nl.MLP, rel: float = 0.0) -> list[int]:
    out = []
    for l in range(1, mlp.n_layers):
        v = mlp.out_norms(l) * mlp.in_norms(l)
        out.append(int(np.sum(v > rel * (v.max() if v.size else 0.0))))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, nargs="+", default=[128])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0])
    ap.add_argument("--compress-alphas", type=float, nargs="*", default=[0.5, 1.0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16, y, test_size=0.3, stratify=y,
                                          random_state=args.seed)
    N = Xtr.shape[0]
    epochs = 30 if args.quick else 100
    alphas = [0.0, 0.5, 2.0] if args.quick else [0.0, 0.2, 0.5, 1.0, 2.0, 5.0]
    kw = dict(loss="softmax", epochs=epochs, batch_size=32, lr=3e-3, seed=args.seed)
    from nnlasso.compress import compress_layer

    rows, crows = [], []
    for noise in args.noise:
        rng = np.random.default_rng(args.seed)
        ynoisy = ytr.copy()
        flip = rng.random(N) < noise
        ynoisy[flip] = rng.integers(0, 10, int(flip.sum()))
        for alpha in alphas:
            for name, fn in (("prox", nl.train_prox), ("weight decay", nl.train_weight_decay)):
                t0 = time.perf_counter()
                net = fn(Xtr, ynoisy, args.hidden, alpha * N, **kw)
                secs = time.perf_counter() - t0
                rows.append((noise, alpha, name, 100 * net.score(Xtr, ynoisy),
                             100 * net.score(Xte, yte), _alive(net), _alive(net, 1e-3), secs))
                print(f"noise {noise:g} alpha {alpha:g} {name}: test {rows[-1][4]:.2f}%, "
                      f"nonzero {rows[-1][5]}, {secs:.1f} s", file=sys.stderr)
                if noise != args.noise[0] or alpha not in args.compress_alphas:
                    continue
                for eps in (0.0, 0.05):
                    t0 = time.perf_counter()
                    small, rep = compress_layer(net, 1, Xtr, ynoisy, eps=eps)
                    crows.append((alpha, name, eps, rep.neurons_before, rep.neurons_after,
                                  100 * net.score(Xte, yte), 100 * small.score(Xte, yte),
                                  rep.max_output_change, time.perf_counter() - t0))
    width = sum(args.hidden)
    lines = [
        "# Proximal training vs weight decay on digits",
        "",
        f"Command: `python scripts/prox_vs_weight_decay.py{' --quick' if args.quick else ''}"
        f" --seed {args.seed} --hidden {' '.join(map(str, args.hidden))}"
        f" --noise {' '.join(f'{p:g}' for p in args.noise)}`. "
        f"Digits, inputs / 16, 70/30 stratified split (N = {N} training rows), MLP with hidden "
        f"sizes {args.hidden} ({width} neurons), softmax loss, Adam, {epochs} epochs, batch 32, "
        f"lr 3e-3, seed {args.seed}, lam = N * alpha. Nonzero: hidden neurons with a nonzero "
        "path magnitude |w_k| |v_k| (exactly, then above 1e-3 of the largest). Label noise: "
        "that fraction of the training labels replaced by uniformly random digits (train "
        "accuracy is on the noisy labels, test accuracy on clean ones).",
        "",
        "| label noise | alpha | trainer | train acc % | test acc % | nonzero neurons | "
        "above 1e-3 | time s |",
        "|---:|---:|---|---:|---:|---|---|---:|",
    ]
    for noise, alpha, name, tr, te, nz, nz3, secs in rows:
        lines.append(f"| {noise:g} | {alpha:g} | {name} | {tr:.2f} | {te:.2f} | {nz} | {nz3} | "
                     f"{secs:.1f} |")
    if crows:
        lines += [
            "",
            f"Compression of hidden layer 1 of the trained nets (label noise {args.noise[0]:g}) "
            "by `nnlasso.compress.compress_layer(net, 1, X_train, y_train, eps=...)`: eps = 0 "
            "is the exact program (same layer output on the training inputs), eps = 0.05 "
            "allows a 5% relative change of the next layer's pre-activation.",
            "",
            "| alpha | trainer | eps | neurons before | after | test acc % before | after | "
            "max output change | time s |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for alpha, name, eps, nb, na, te0, te1, chg, secs in crows:
            lines.append(f"| {alpha:g} | {name} | {eps:g} | {nb} | {na} | {te0:.2f} | "
                         f"{te1:.2f} | {chg:.3g} | {secs:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
