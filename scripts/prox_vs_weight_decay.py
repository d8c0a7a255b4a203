"""Proximal training vs weight decay on scikit-learn's digits and a ReLU teacher (issue 15).

    python scripts/prox_vs_weight_decay.py [--quick] [--seed 0] [--noise 0 0.2]
                                           [--datasets digits teacher]
                                           [--out docs/prox_vs_weight_decay.md]
                                           [--figure docs/figures/prox_vs_weight_decay.png]

Trains the same MLP (inputs scaled to [0, 1], 70/30 stratified split) with
:func:`nnlasso.train_prox` and :func:`nnlasso.train_weight_decay` for several ``lam`` (same
architecture, epochs, batch size, step size and seed; ``lam = N * alpha`` for the summed
loss), and reports test accuracy and the number of nonzero hidden neurons (a neuron counts as
nonzero when its output weights are not exactly zero; for weight decay also the count above
1e-3 of the largest output norm). ``--noise p`` replaces a fraction p of the training labels
by uniformly random ones (the test labels stay clean); one table row group per value. For the
first noise value and each alpha in ``--compress-alphas``, both trained nets are then
compressed by :func:`nnlasso.compress.compress_layer` (exact, eps = 0.05): how much of the
remaining width do the convex programs still remove? (digits only). The second data set,
``teacher``, is :func:`nnlasso.synthetic.relu_teacher` (n = 1500, d = 20, 10 teacher neurons,
4 classes = argmax of its 4 outputs + Gaussian noise 0.1), split and trained the same way.
``--quick`` uses fewer epochs and lam values. Writes a Markdown table to ``--out`` (nothing
written without it) and prints it; ``--figure`` draws test accuracy vs the fraction of nonzero
hidden neurons, one panel per (data set, label noise), with matplotlib's Agg backend (without
matplotlib the script says so and writes the table only).
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


def _rel(figure: Path, out: Path | None) -> str:
    """Path of ``figure`` as linked from the Markdown file ``out``."""
    import os

    base = out.resolve().parent if out is not None else Path.cwd()
    return Path(os.path.relpath(figure.resolve(), base)).as_posix()


def load_data(name: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, X_test, y_train, y_test)`` of ``name`` (digits / teacher), 70/30 stratified."""
    from sklearn.model_selection import train_test_split

    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = X / 16
    elif name == "teacher":
        from nnlasso.synthetic import relu_teacher

        X, y = relu_teacher(n=1500, d=20, width=10, noise=0.1, seed=seed, outputs=4,
                            labels="classes")
    else:
        raise ValueError(f"--datasets: unknown data set {name!r}; use digits or teacher")
    return tuple(train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed))


def run(datasets: list[str], noises: list[float], alphas: list[float], hidden: list[int],
        epochs: int, seed: int, compress_alphas: list[float]) -> tuple[list, list]:
    """Train both nets for every (data set, noise, alpha); rows of the two tables.

    Row: ``(dataset, noise, alpha, trainer, train acc %, test acc %, nonzero per layer,
    above 1e-3 per layer, seconds)``; compression rows for the first data set and noise.
    """
    kw = dict(loss="softmax", epochs=epochs, batch_size=32, lr=3e-3, seed=seed)
    from nnlasso.compress import compress_layer

    rows, crows = [], []
    for data in datasets:
        Xtr, Xte, ytr, yte = load_data(data, seed)
        N, n_classes = Xtr.shape[0], int(ytr.max()) + 1
        for noise in noises:
            rng = np.random.default_rng(seed)
            ynoisy = ytr.copy()
            flip = rng.random(N) < noise
            ynoisy[flip] = rng.integers(0, n_classes, int(flip.sum()))
            for alpha in alphas:
                for name, fn in (("prox", nl.train_prox),
                                 ("weight decay", nl.train_weight_decay)):
                    t0 = time.perf_counter()
                    net = fn(Xtr, ynoisy, hidden, alpha * N, **kw)
                    secs = time.perf_counter() - t0
                    rows.append((data, noise, alpha, name, 100 * net.score(Xtr, ynoisy),
                                 100 * net.score(Xte, yte), _alive(net), _alive(net, 1e-3),
                                 secs))
                    print(f"{data} noise {noise:g} alpha {alpha:g} {name}: test "
                          f"{rows[-1][5]:.2f}%, nonzero {rows[-1][6]}, {secs:.1f} s",
                          file=sys.stderr)
                    if (data != datasets[0] or noise != noises[0]
                            or alpha not in compress_alphas):
                        continue
                    for eps in (0.0, 0.05):
                        t0 = time.perf_counter()
                        small, rep = compress_layer(net, 1, Xtr, ynoisy, eps=eps)
                        crows.append((alpha, name, eps, rep.neurons_before, rep.neurons_after,
                                      100 * net.score(Xte, yte), 100 * small.score(Xte, yte),
                                      rep.max_output_change, time.perf_counter() - t0))
    return rows, crows


def plot(rows: list, width: int, path: Path) -> bool:
    """Test accuracy vs fraction of nonzero hidden neurons, one panel per (data set, noise).

    Returns False (and says so on stderr) when matplotlib is not installed.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'nnlasso[plot]'): no figure written, "
              "table only", file=sys.stderr)
        return False
    datasets = list(dict.fromkeys(r[0] for r in rows))
    noises = list(dict.fromkeys(r[1] for r in rows))
    fig, axes = plt.subplots(len(datasets), len(noises), squeeze=False,
                             figsize=(4.6 * len(noises), 3.6 * len(datasets)))
    style = {"prox": ("tab:blue", "o"), "weight decay": ("tab:orange", "s")}
    for i, data in enumerate(datasets):
        for j, noise in enumerate(noises):
            ax = axes[i][j]
            for name, (color, marker) in style.items():
                sel = [r for r in rows if r[0] == data and r[1] == noise and r[3] == name]
                frac = [sum(r[6]) / width for r in sel]
                acc = [r[5] for r in sel]
                # weight decay keeps every neuron: its points share x = 1, so no line
                ax.plot(frac, acc, marker=marker, color=color, label=name, alpha=0.85,
                        linestyle="-" if name == "prox" else "none")
                for r, x, a in zip(sel, frac, acc):
                    ax.annotate(f"{r[2]:g}", (x, a), textcoords="offset points",
                                xytext=(4, -10) if name == "prox" else (-6, -3),
                                ha="left" if name == "prox" else "right", fontsize=7,
                                color=color)
            ax.set_title(f"{data}, label noise {100 * noise:g}%", fontsize=10)
            ax.set_xlabel("fraction of nonzero hidden neurons")
            ax.set_ylabel("test accuracy %")
            ax.set_xlim(-0.05, 1.1)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="lower right", title="point labels: alpha",
                      title_fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, nargs="+", default=[128])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0])
    ap.add_argument("--datasets", nargs="+", default=["digits"],
                    choices=["digits", "teacher"])
    ap.add_argument("--compress-alphas", type=float, nargs="*", default=[0.5, 1.0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--figure", type=Path, default=None)
    args = ap.parse_args(argv)
    epochs = 30 if args.quick else 100
    alphas = [0.0, 0.5, 2.0] if args.quick else [0.0, 0.2, 0.5, 1.0, 2.0, 5.0]
    rows, crows = run(args.datasets, args.noise, alphas, args.hidden, epochs, args.seed,
                      args.compress_alphas)
    N = {d: load_data(d, args.seed)[0].shape[0] for d in args.datasets}
    width = sum(args.hidden)
    lines = [
        "# Proximal training vs weight decay on digits and a ReLU teacher",
        "",
        f"Command: `python scripts/prox_vs_weight_decay.py{' --quick' if args.quick else ''}"
        f" --seed {args.seed} --hidden {' '.join(map(str, args.hidden))}"
        f" --noise {' '.join(f'{p:g}' for p in args.noise)}"
        f" --datasets {' '.join(args.datasets)}"
        f"{' --out ' + args.out.as_posix() if args.out else ''}"
        f"{' --figure ' + args.figure.as_posix() if args.figure else ''}`"
        f" (run {time.strftime('%Y-%m-%d', time.gmtime())}). "
        "Data: " + ", ".join(f"{d} (N = {N[d]} training rows)" for d in args.datasets) + "; "
        "digits inputs / 16; teacher = `nnlasso.synthetic.relu_teacher(n=1500, d=20, width=10, "
        "noise=0.1, outputs=4, labels='classes')` (4 classes, inputs in [-1, 1]); 70/30 "
        f"stratified split, MLP with hidden "
        f"sizes {args.hidden} ({width} neurons), softmax loss, Adam, {epochs} epochs, batch 32, "
        f"lr 3e-3, seed {args.seed}, lam = N * alpha. Nonzero: hidden neurons with a nonzero "
        "path magnitude |w_k| |v_k| (exactly, then above 1e-3 of the largest). Label noise: "
        "that fraction of the training labels replaced by uniformly random classes (train "
        "accuracy is on the noisy labels, test accuracy on clean ones).",
        "",
        "| data | label noise | alpha | trainer | train acc % | test acc % | nonzero neurons | "
        "above 1e-3 | time s |",
        "|---|---:|---:|---|---:|---:|---|---|---:|",
    ]
    for data, noise, alpha, name, tr, te, nz, nz3, secs in rows:
        lines.append(f"| {data} | {noise:g} | {alpha:g} | {name} | {tr:.2f} | {te:.2f} | {nz} | "
                     f"{nz3} | {secs:.1f} |")
    if crows:
        lines += [
            "",
            f"Compression of hidden layer 1 of the trained nets ({args.datasets[0]}, label noise "
            f"{args.noise[0]:g}) "
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
    if args.figure is not None and plot(rows, sum(args.hidden), args.figure):
        lines += ["", f"![test accuracy vs fraction of nonzero neurons]"
                  f"({_rel(args.figure, args.out)})", "",
                  "Figure: test accuracy vs the fraction of nonzero hidden neurons (exactly "
                  "nonzero path magnitude), point labels = alpha, one panel per data set and "
                  "label noise; made by the command above."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
