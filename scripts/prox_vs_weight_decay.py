"""Proximal training vs weight decay, lasso and group lasso on digits and a ReLU teacher (issue 15).

    python scripts/prox_vs_weight_decay.py [--quick] [--seeds 0 1 2] [--noise 0 0.2]
                                           [--datasets digits teacher] [--trainers ...]
                                           [--out docs/prox_vs_weight_decay.md]
                                           [--figure docs/figures/prox_vs_weight_decay.png]

Trains the same MLP (inputs scaled to [0, 1], 70/30 stratified split) with four penalties, each
by proximal gradient after mini-batch Adam steps (same architecture, epochs, batch size, step
size and seed; ``lam = N * alpha`` for the summed loss):

* ``prox``: :func:`nnlasso.train_prox`, ``lam/2 * C(theta)`` (the deep path form);
* ``weight decay``: :func:`nnlasso.train_weight_decay`, ``lam/2 * |theta|^2``;
* ``lasso``: :func:`nnlasso.train_lasso`, ``lam * sum |W_l|_1``;
* ``group lasso``: :func:`nnlasso.train_group_lasso`, ``lam * sum`` of the norms of each unit's
  outgoing weights;
* on request (``--trainers 'deep prox' 'deep weight decay'``): ``train_prox`` and
  ``train_weight_decay`` on a :class:`nnlasso.DeepReLUNet` (``DeepReLUNet.random`` with ReLU
  widths ``--deep-hidden``, linear bottlenecks ``--deep-bottlenecks`` and an unpenalized linear
  skip in every block); accuracy from the argmax of its logits.

Each penalty has its own alpha grid (the penalties have different scales). For every seed in
``--seeds`` the split, the teacher, the label noise and the initialization change; the tables
give mean ± sd over the seeds of the train / test accuracy and of the number of nonzero hidden
neurons (a neuron counts as nonzero when its path magnitude ``|w_k| |v_k|`` is not exactly zero;
also the count above 1e-3 of the largest). ``--noise p`` replaces a fraction p of the training
labels by uniformly random ones (the test labels stay clean); one row group per value. Every
trainer runs with its default debias phase (``debias=0.2``: the last 20% of the epochs without
the penalty, the zeroed weights held at zero, lr annealed by a cosine). A summary table gives,
per data set, noise and penalty, the best mean test accuracy and the sparsest net whose mean
test accuracy is within 1 point of two references: weight decay's best over alpha > 0 and the
unregularized net (alpha = 0); then issue 15's criterion (that, with at most a third of the
hidden neurons nonzero) is stated against both. For the first data
set, the first noise value, the first seed and each alpha in ``--compress-alphas`` that is on a
penalty's grid, the trained net is then certified and compressed by
:func:`nnlasso.compress.compress_layer` (exact, and eps = 0.05; a DeepReLUNet trained by
prox by :func:`nnlasso.compress_deep`): how much of the remaining width do the convex programs and the
width bound still remove? The second data set,
``teacher``, is :func:`nnlasso.synthetic.relu_teacher` (n = 1500, d = 20, 10 teacher neurons,
4 classes = argmax of its 4 outputs + Gaussian noise 0.1), split and trained the same way.
``--quick`` uses one seed, fewer epochs and alphas. Writes Markdown to ``--out`` (nothing
written without it) and prints it; ``--figure`` draws test accuracy vs the fraction of nonzero
hidden neurons (means, error bars = sd), one panel per (data set, label noise), with
matplotlib's Agg backend (without matplotlib the script says so and writes the tables only).
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

#: penalty name -> (trainer, alpha grid, quick alpha grid)
TRAINERS = {
    "prox": (nl.train_prox, [0.0, 0.2, 0.5, 0.6, 0.7, 0.85, 1.0, 1.5, 2.0, 5.0],
             [0.0, 0.5, 2.0]),
    "weight decay": (nl.train_weight_decay, [0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0],
                     [0.0, 0.5, 2.0]),
    "lasso": (nl.train_lasso, [0.02, 0.05, 0.1, 0.2, 0.5], [0.1, 0.5]),
    "group lasso": (nl.train_group_lasso, [0.1, 0.2, 0.5, 1.0], [0.2, 1.0]),
    # a DeepReLUNet (skips in every block, linear bottlenecks; --deep-hidden, --deep-bottlenecks)
    "deep prox": (nl.train_prox, [0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0], [0.0, 0.5, 2.0]),
    "deep weight decay": (nl.train_weight_decay, [0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0],
                          [0.0, 0.5, 2.0]),
}
#: trained by default (the deep ones on request: --trainers)
MLP_TRAINERS = ["prox", "weight decay", "lasso", "group lasso"]
STYLE = {"prox": ("tab:blue", "o"), "weight decay": ("tab:orange", "s"),
         "lasso": ("tab:green", "^"), "group lasso": ("tab:red", "D"),
         "deep prox": ("tab:purple", "v"), "deep weight decay": ("tab:brown", "P")}


def _alive(mlp: nl.MLP | nl.DeepReLUNet, rel: float = 0.0) -> list[int]:
    """Per hidden (ReLU) layer, the neurons with path magnitude ``|w_k| |v_k| > rel * max``."""
    if isinstance(mlp, nl.DeepReLUNet):
        mags = [np.linalg.norm(b.W, axis=1) * np.linalg.norm(b.V, axis=1) for b in mlp.blocks]
    else:
        mags = [mlp.out_norms(l) * mlp.in_norms(l) for l in range(1, mlp.n_layers)]
    return [int(np.sum(v > rel * (v.max() if v.size else 0.0))) for v in mags]


def _accuracy(net: nl.MLP | nl.DeepReLUNet, X: np.ndarray, y: np.ndarray,
              classes: np.ndarray) -> float:
    if isinstance(net, nl.DeepReLUNet):                 # logits; classes = np.unique(y_train)
        return float(np.mean(classes[np.argmax(net.predict(X), axis=1)] == y))
    return net.score(X, y)


def _rel(figure: Path, out: Path | None) -> str:
    """Path of ``figure`` as linked from the Markdown file ``out``."""
    import os

    base = out.resolve().parent if out is not None else Path.cwd()
    return Path(os.path.relpath(figure.resolve(), base)).as_posix()


def _ms(values: list[float], fmt: str = ".2f") -> str:
    """``mean ± sd`` (sample sd) of ``values``; the plain value for one."""
    if len(values) == 1:
        return f"{values[0]:{fmt}}"
    return f"{np.mean(values):{fmt}} ± {np.std(values, ddof=1):{fmt}}"


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


def run(datasets: list[str], noises: list[float], grids: dict[str, list[float]],
        hidden: list[int], epochs: int, seeds: list[int], compress_alphas: list[float],
        deep_hidden: list[int] | None = None, deep_bottlenecks: list[int] | None = None
        ) -> tuple[list, list]:
    """Train every (data set, noise, seed, penalty, alpha); raw rows and compression rows.

    Raw row: ``(dataset, noise, seed, trainer, alpha, train acc %, test acc %, nonzero,
    above 1e-3, seconds)`` (nonzero counts summed over the hidden layers). Compression row:
    ``(trainer, alpha, eps, neurons before, after, bound, effective bound, test acc % before,
    after, max output change, rel gap, seconds)``.
    """
    from nnlasso.compress import compress_layer

    rows, crows = [], []
    for data in datasets:
        for seed in seeds:
            Xtr, Xte, ytr, yte = load_data(data, seed)
            N, n_classes = Xtr.shape[0], int(ytr.max()) + 1
            kw = dict(loss="softmax", epochs=epochs, batch_size=32, lr=3e-3, seed=seed)
            for noise in noises:
                rng = np.random.default_rng(seed)
                ynoisy = ytr.copy()
                flip = rng.random(N) < noise
                ynoisy[flip] = rng.integers(0, n_classes, int(flip.sum()))
                classes = np.unique(ynoisy)
                for name, alphas in grids.items():
                    fn = TRAINERS[name][0]
                    arch: object = hidden
                    if name.startswith("deep"):
                        arch = nl.DeepReLUNet.random(Xtr.shape[1], deep_hidden, classes.size,
                                                     bottlenecks=deep_bottlenecks, skips=True,
                                                     seed=seed)
                    for alpha in alphas:
                        t0 = time.perf_counter()
                        net = fn(Xtr, ynoisy, arch, alpha * N, **kw)
                        secs = time.perf_counter() - t0
                        rows.append((data, noise, seed, name, alpha,
                                     100 * _accuracy(net, Xtr, ynoisy, classes),
                                     100 * _accuracy(net, Xte, yte, classes),
                                     sum(_alive(net)), sum(_alive(net, 1e-3)), secs))
                        print(f"{data} seed {seed} noise {noise:g} {name} alpha {alpha:g}: "
                              f"test {rows[-1][6]:.2f}%, nonzero {rows[-1][7]}, {secs:.1f} s",
                              file=sys.stderr)
                        if (data != datasets[0] or noise != noises[0] or seed != seeds[0]
                                or alpha not in compress_alphas or alpha == 0):
                            continue
                        if name == "deep weight decay":
                            continue          # its 192-neuron programs take minutes each
                        if name.startswith("deep"):
                            for eps in (0.0, 0.05):
                                t0 = time.perf_counter()
                                small, rep = nl.compress_deep(net, Xtr, eps=eps)
                                gaps = [b.rel_gap for b in rep.blocks if b.rel_gap is not None]
                                crows.append((name, alpha, eps, rep.hidden_before,
                                              rep.hidden_after, rep.bottlenecks_before,
                                              rep.bottlenecks_after,
                                              100 * _accuracy(net, Xte, yte, classes),
                                              100 * _accuracy(small, Xte, yte, classes),
                                              rep.max_output_change,
                                              max(gaps) if gaps else None,
                                              time.perf_counter() - t0))
                            continue
                        for eps in (0.0, 0.05):
                            t0 = time.perf_counter()
                            small, rep = compress_layer(net, 1, Xtr, ynoisy, eps=eps)
                            crows.append((name, alpha, eps, rep.neurons_before,
                                          rep.neurons_after, rep.bound, rep.effective_bound,
                                          100 * net.score(Xte, yte), 100 * small.score(Xte, yte),
                                          rep.max_output_change, rep.rel_gap,
                                          time.perf_counter() - t0))
    return rows, crows


def aggregate(rows: list) -> list:
    """Mean over seeds: ``(dataset, noise, trainer, alpha, [train accs], [test accs],
    [nonzero], [above 1e-3], [seconds])`` in the order first seen."""
    groups: dict[tuple, list] = {}
    for data, noise, _seed, name, alpha, tr, te, nz, nz3, secs in rows:
        g = groups.setdefault((data, noise, name, alpha), [[], [], [], [], []])
        for lst, v in zip(g, (tr, te, nz, nz3, secs)):
            lst.append(v)
    return [key + tuple(vals) for key, vals in groups.items()]


def _sparsest_within(mine: list, ref: float | None, width: int) -> str:
    """Cell: the sparsest of ``mine`` whose mean test accuracy is >= ``ref - 1``."""
    if ref is None:
        return "-"
    ok = [r for r in mine if np.mean(r[5]) >= ref - 1.0]
    if not ok:
        return "none"
    sp = min(ok, key=lambda r: (np.mean(r[6]), -np.mean(r[5])))
    return (f"{np.mean(sp[6]):.1f} ({np.mean(sp[6]) / width:.2f}), {np.mean(sp[5]):.2f} "
            f"({sp[3]:g})")


def summary(agg: list, widths: dict[str, int]) -> list[str]:
    """Per (data set, noise, trainer): best mean test accuracy, and the sparsest alpha whose
    mean test accuracy is within 1 point of the reference, for two references: weight decay's
    best mean test accuracy over alpha > 0, and the unregularized net (alpha = 0; for the deep
    trainers, deep weight decay's)."""
    lines = ["| data | label noise | trainer | best test acc % (alpha) | sparsest within 1 point "
             "of weight decay's best alpha > 0: nonzero neurons (fraction), test acc % (alpha) "
             "| sparsest within 1 point of the unregularized net (alpha = 0): nonzero neurons "
             "(fraction), test acc % (alpha) |",
             "|---|---:|---|---|---|---|"]
    keys = list(dict.fromkeys((r[0], r[1]) for r in agg))
    for data, noise in keys:
        sel = [r for r in agg if r[0] == data and r[1] == noise]
        for name in dict.fromkeys(r[2] for r in sel):
            base = "deep weight decay" if name.startswith("deep") else "weight decay"
            wd = [np.mean(r[5]) for r in sel if r[2] == base and r[3] > 0]
            wd0 = [np.mean(r[5]) for r in sel if r[2] == base and r[3] == 0]
            mine = [r for r in sel if r[2] == name]
            best = max(mine, key=lambda r: np.mean(r[5]))
            cells = [_sparsest_within(mine, max(ref) if ref else None, widths[name])
                     for ref in (wd, wd0)]
            lines.append(f"| {data} | {noise:g} | {name} | {np.mean(best[5]):.2f} "
                         f"({best[3]:g}) | {cells[0]} | {cells[1]} |")
    return lines


def criterion(agg: list, widths: dict[str, int], trainer: str = "prox") -> list[str]:
    """One line per (data set, noise): issue 15's criterion for ``trainer`` (within 1 point of
    weight decay's test accuracy with at most a third of the hidden neurons nonzero), against
    weight decay's best alpha > 0 and against the unregularized net."""
    base = "deep weight decay" if trainer.startswith("deep") else "weight decay"
    out = []
    for data, noise in dict.fromkeys((r[0], r[1]) for r in agg):
        sel = [r for r in agg if r[0] == data and r[1] == noise]
        mine = [r for r in sel if r[2] == trainer]
        if not mine:
            continue
        third = widths[trainer] / 3
        parts = []
        for label, refs in (("weight decay's best alpha > 0",
                              [r for r in sel if r[2] == base and r[3] > 0]),
                            ("the unregularized net",
                             [r for r in sel if r[2] == base and r[3] == 0])):
            if not refs:
                continue
            ref = max(refs, key=lambda r: np.mean(r[5]))
            ok = [r for r in mine if np.mean(r[5]) >= np.mean(ref[5]) - 1.0
                  and np.mean(r[6]) <= third]
            head = f"vs {label} ({np.mean(ref[5]):.2f}%, alpha {ref[3]:g}): "
            if ok:
                r = min(ok, key=lambda r: (np.mean(r[6]), -np.mean(r[5])))
                parts.append(head + f"**met**, {np.mean(r[5]):.2f}% with {np.mean(r[6]):.1f} "
                             f"of {widths[trainer]} neurons (alpha {r[3]:g})")
            else:
                parts.append(head + "not met")
        out.append(f"- {data}, label noise {noise:g}: " + "; ".join(parts) + ".")
    return out


def points(agg: list) -> list[tuple]:
    """Figure points from the aggregated rows: ``(dataset, noise, trainer, alpha, test acc
    mean, sd, nonzero mean, sd)`` (sd 0 for one seed)."""
    def sd(v: list) -> float:
        return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0

    return [(r[0], r[1], r[2], r[3], float(np.mean(r[5])), sd(r[5]), float(np.mean(r[6])),
             sd(r[6])) for r in agg]


def points_from_markdown(text: str) -> list[tuple]:
    """The figure points read back from the "All runs" table of a page this script wrote."""
    def ms(cell: str) -> tuple[float, float]:
        parts = cell.split("±")
        return float(parts[0]), (float(parts[1]) if len(parts) > 1 else 0.0)

    out = []
    for line in text.split("## All runs", 1)[-1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 9 or cells[3] not in TRAINERS:
            continue
        out.append((cells[0], float(cells[1]), cells[3], float(cells[2])) + ms(cells[5])
                   + ms(cells[6]))
    if not out:
        raise SystemExit("--replot: no rows found under '## All runs' in the --out page")
    return out


def plot(pts: list[tuple], widths: dict[str, int], path: Path) -> bool:
    """Mean test accuracy vs mean fraction of nonzero hidden neurons (error bars: sd over the
    seeds), one panel per (data set, noise). The accuracy axis spans 20 points below the
    panel's best; points further down (collapsed nets) are listed in the panel instead. Returns
    False (and says so on stderr) when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'nnlasso[plot]'): no figure written, "
              "table only", file=sys.stderr)
        return False
    datasets = list(dict.fromkeys(r[0] for r in pts))
    noises = list(dict.fromkeys(r[1] for r in pts))
    fig, axes = plt.subplots(len(datasets), len(noises), squeeze=False,
                             figsize=(5.0 * len(noises), 3.9 * len(datasets)))
    for i, data in enumerate(datasets):
        for j, noise in enumerate(noises):
            ax = axes[i][j]
            panel = [r for r in pts if r[0] == data and r[1] == noise]
            low = max(0.0, max(r[4] for r in panel) - 20.0)
            hidden = []
            for name, (color, marker) in STYLE.items():
                sel = [r for r in panel if r[2] == name]
                hidden += [f"{name} {r[3]:g}: {r[4]:.1f}%" for r in sel if r[4] < low]
                sel = [r for r in sel if r[4] >= low]
                if not sel:
                    continue
                width = widths[name]
                frac = np.array([r[6] / width for r in sel])
                acc = np.array([r[4] for r in sel])
                xerr = np.array([r[7] / width for r in sel])
                yerr = np.array([r[5] for r in sel])
                order = np.argsort(frac)
                ax.errorbar(frac[order], acc[order], xerr=xerr[order], yerr=yerr[order],
                            marker=marker, color=color, label=name, alpha=0.85, capsize=2,
                            markersize=5, linestyle="none" if "weight decay" in name else "-")
                for r, x, a in zip(sel, frac, acc):
                    ax.annotate(f"{r[3]:g}", (x, a), textcoords="offset points",
                                xytext=(-6, -3) if "weight decay" in name else (4, -10),
                                ha="right" if "weight decay" in name else "left", fontsize=6,
                                color=color)
            if hidden:
                ax.text(0.02, 0.03, "below the axis (alpha: test acc):\n" + "\n".join(hidden),
                        transform=ax.transAxes, fontsize=6, va="bottom", ha="left")
            ax.set_title(f"{data}, label noise {100 * noise:g}%", fontsize=10)
            ax.set_xlabel("fraction of nonzero hidden neurons")
            ax.set_ylabel("test accuracy %")
            ax.set_xlim(-0.05, 1.1)
            ax.set_ylim(low, min(100.0, max(r[4] + r[5] for r in panel) + 1.0))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="lower right", title="point labels: alpha",
                      title_fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def title(trainers: list[str], datasets: list[str]) -> str:
    """The page title: the trainers compared and the data sets."""
    names = {"prox": "Proximal training", "deep prox": "Deep proximal training"}
    first, rest = names.get(trainers[0], trainers[0]), trainers[1:]
    rest = [t for t in rest if not (trainers[0] == "deep prox" and t == "deep weight decay")]
    if trainers[0] == "deep prox" and "deep weight decay" in trainers[1:]:
        rest = ["weight decay"] + rest
    vs = ", ".join(rest[:-1]) + (" and " if len(rest) > 1 else "") + (rest[-1] if rest else "")
    data = " and ".join({"digits": "digits", "teacher": "a ReLU teacher"}[d] for d in datasets)
    return f"{first}{' vs ' + vs if vs else ''} on {data}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="seeds (split, teacher, label noise, init); default 0 1 2, --quick 0")
    ap.add_argument("--hidden", type=int, nargs="+", default=[128])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0])
    ap.add_argument("--datasets", nargs="+", default=["digits"],
                    choices=["digits", "teacher"])
    ap.add_argument("--trainers", nargs="+", default=MLP_TRAINERS, choices=list(TRAINERS))
    ap.add_argument("--deep-hidden", type=int, nargs="+", default=[128, 64],
                    help="ReLU widths of the DeepReLUNet of the 'deep ...' trainers")
    ap.add_argument("--deep-bottlenecks", type=int, nargs="+", default=[16])
    ap.add_argument("--compress-alphas", type=float, nargs="*", default=[0.2, 0.5, 1.0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--figure", type=Path, default=None)
    ap.add_argument("--replot", action="store_true",
                    help="redraw --figure from the tables of the --out page, no training")
    args = ap.parse_args(argv)
    widths = {name: sum(args.deep_hidden) if name.startswith("deep") else sum(args.hidden)
              for name in TRAINERS}
    if args.replot:
        if args.out is None or args.figure is None or not args.out.is_file():
            ap.error("--replot needs --out (an existing page written by this script) and "
                     "--figure")
        return 0 if plot(points_from_markdown(args.out.read_text()), widths, args.figure) else 1
    seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2])
    epochs = 30 if args.quick else 100
    grids = {name: TRAINERS[name][2 if args.quick else 1] for name in args.trainers}
    t_start = time.perf_counter()
    rows, crows = run(args.datasets, args.noise, grids, args.hidden, epochs, seeds,
                      args.compress_alphas, args.deep_hidden, args.deep_bottlenecks)
    total = time.perf_counter() - t_start
    agg = aggregate(rows)
    N = {d: load_data(d, seeds[0])[0].shape[0] for d in args.datasets}
    width = sum(args.hidden)
    n_debias = min(round(0.2 * epochs), epochs - 1)
    deep_on = any(t.startswith("deep") for t in args.trainers)
    cmd = ("python scripts/prox_vs_weight_decay.py" + (" --quick" if args.quick else "")
           + f" --seeds {' '.join(map(str, seeds))}"
           + f" --hidden {' '.join(map(str, args.hidden))}"
           + f" --noise {' '.join(f'{p:g}' for p in args.noise)}"
           + f" --datasets {' '.join(args.datasets)}"
           + ("" if not deep_on else
              f" --deep-hidden {' '.join(map(str, args.deep_hidden))}"
              f" --deep-bottlenecks {' '.join(map(str, args.deep_bottlenecks))}")
           + ("" if args.trainers == MLP_TRAINERS else
              " --trainers " + " ".join(f"'{t}'" if " " in t else t for t in args.trainers))
           + ("" if args.compress_alphas == [0.2, 0.5, 1.0] else
              " --compress-alphas" + "".join(f" {a:g}" for a in args.compress_alphas))
           + (f" --out {args.out.as_posix()}" if args.out else "")
           + (f" --figure {args.figure.as_posix()}" if args.figure else ""))
    lines = [
        f"# {title(args.trainers, args.datasets)}",
        "",
        f"Command: `{cmd}` (run {time.strftime('%Y-%m-%d', time.gmtime())}, {total:.0f} s on 2 "
        "shared cores, compression included). "
        "Data: " + ", ".join(f"{d} (N = {N[d]} training rows)" for d in args.datasets) + "; "
        "digits inputs / 16; teacher = `nnlasso.synthetic.relu_teacher(n=1500, d=20, width=10, "
        "noise=0.1, outputs=4, labels='classes')` (4 classes, inputs in [-1, 1]); 70/30 "
        f"stratified split, MLP with hidden sizes {args.hidden} ({width} neurons), softmax "
        f"loss, Adam, {epochs} epochs, batch 32, lr 3e-3, lam = N * alpha, every trainer with "
        f"its default debias phase: the first {epochs - n_debias} epochs at lr 3e-3 with the "
        f"penalty, the last {n_debias} without it, the weights that are exactly zero kept at "
        "zero, lr annealed by a cosine to 0 (`debias=0.2`; the same procedure for every "
        "penalty). Penalties, each by its exact proximal map after every Adam step: prox = `train_prox`, lam/2 C(theta) "
        "(the deep path form; neurons rebalanced, path magnitudes soft-thresholded); weight "
        "decay = `train_weight_decay`, lam/2 |theta|^2; lasso = `train_lasso`, lam sum |W|_1; "
        "group lasso = `train_group_lasso`, lam sum over units of the norm of their outgoing "
        "weights. Each penalty has its own alpha grid (their scales differ). "
        + ("deep prox / deep weight decay: the same two trainers on a `DeepReLUNet` "
           f"(`DeepReLUNet.random(d, {args.deep_hidden}, classes, bottlenecks="
           f"{args.deep_bottlenecks}, skips=True)`: ReLU layers of widths {args.deep_hidden} "
           f"({sum(args.deep_hidden)} neurons), linear bottlenecks {args.deep_bottlenecks}, an "
           "unpenalized linear skip in every block; nonzero counts its ReLU neurons). "
           if deep_on else "") +
        f"Seeds {seeds}: each seed changes the split, the teacher, the label noise and the "
        "initialization; cells are mean ± sd over the seeds. Nonzero: hidden neurons with a "
        "nonzero path magnitude |w_k| |v_k| (exactly, then above 1e-3 of the largest). Label "
        "noise: that fraction of the training labels replaced by uniformly random classes "
        "(train accuracy is on the noisy labels, test accuracy on clean ones).",
        "",
        "## Summary",
        "",
    ] + summary(agg, widths) + [
        "",
        "Issue 15's criterion (within 1 point of weight decay's test accuracy, same "
        "architecture and epochs, with at most a third of the hidden neurons nonzero), from "
        "the means above:",
        "",
    ] + criterion(agg, widths, "deep prox" if args.trainers[0] == "deep prox" else "prox") + [
        "",
        "## All runs",
        "",
        "| data | label noise | alpha | trainer | train acc % | test acc % | nonzero neurons | "
        "above 1e-3 | time s |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for data, noise, name, alpha, tr, te, nz, nz3, secs in agg:
        lines.append(f"| {data} | {noise:g} | {alpha:g} | {name} | {_ms(tr)} | {_ms(te)} | "
                     f"{_ms(nz, '.1f')} | {_ms(nz3, '.1f')} | {np.mean(secs):.1f} |")
    drows = [r for r in crows if r[0].startswith("deep")]
    crows = [r for r in crows if not r[0].startswith("deep")]
    if drows:
        lines += [
            "",
            "## Certified compression of the deep nets",
            "",
            f"The DeepReLUNets trained by prox on {args.datasets[0]} (label noise "
            f"{args.noise[0]:g}, seed {seeds[0]}) compressed block by block, last block first, by "
            "`nnlasso.compress_deep(net, X_train, eps=...)`: each block's hidden layer by the "
            "min-norm program with the block's skip unpenalized, then each bottleneck truncated "
            "by rank; eps = 0 keeps the outputs on the training inputs, eps = 0.05 allows 5% "
            "relative per step. Rel gap: the largest relative duality gap of the block programs.",
            "",
            "| trainer | alpha | eps | ReLU widths before | after | bottlenecks before | "
            "after | test acc % before | after | max output change | rel gap | time s |",
            "|---|---:|---:|---|---|---|---|---:|---:|---:|---:|---:|",
        ]
        for (name, alpha, eps, hb, ha, bb, ba, te0, te1, chg, gap, secs) in drows:
            lines.append(f"| {name} | {alpha:g} | {eps:g} | {list(hb)} | {list(ha)} | "
                         f"{list(bb)} | {list(ba)} | {te0:.2f} | {te1:.2f} | {chg:.3g} | "
                         f"{'-' if gap is None else f'{gap:.1e}'} | {secs:.1f} |")
    if crows:
        lines += [
            "",
            "## Certified compression of the trained nets",
            "",
            f"Hidden layer 1 of the nets trained on {args.datasets[0]} (label noise "
            f"{args.noise[0]:g}, seed {seeds[0]}) compressed by "
            "`nnlasso.compress.compress_layer(net, 1, X_train, y_train, eps=...)`: eps = 0 is "
            "the exact program (same layer output on the training inputs), eps = 0.05 allows a "
            "5% relative change of the next layer's pre-activation. Bound: the width bound "
            "rank(P Phi) rank(P F) of the representer theorem (a solution with at most that "
            "many neurons exists); effective: the same with singular values below 1% of the "
            "largest treated as zero (a heuristic). Rel gap: nnlasso's own duality gap of the "
            "program, relative.",
            "",
            "| trainer | alpha | eps | neurons before | after | bound | effective bound | "
            "test acc % before | after | max output change | rel gap | time s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for (name, alpha, eps, nb, na, bound, eff, te0, te1, chg, gap,
             secs) in crows:
            lines.append(f"| {name} | {alpha:g} | {eps:g} | {nb} | {na} | {bound} | {eff} | "
                         f"{te0:.2f} | {te1:.2f} | {chg:.3g} | "
                         f"{'-' if gap is None else f'{gap:.1e}'} | {secs:.1f} |")
    if args.figure is not None and plot(points(agg), widths, args.figure):
        lines += ["", f"![test accuracy vs fraction of nonzero neurons]"
                  f"({_rel(args.figure, args.out)})", "",
                  "Figure: mean test accuracy vs the mean fraction of nonzero hidden neurons "
                  "(exactly nonzero path magnitude; error bars: sd over the seeds), point "
                  "labels = alpha, one panel per data set and label noise, the accuracy axis "
                  "20 points deep (collapsed nets listed in the panel); made by the command "
                  "above (the same with `--replot` redraws it from this page's tables)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
