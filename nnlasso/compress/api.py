"""The public compression functions: :func:`compress_layer`, :func:`compress_network` and
:func:`compression_path`.
"""
from __future__ import annotations

import time
import warnings
from typing import Any, Iterable, Sequence

import numpy as np

from .. import backends
from ..errors import InvalidProblemError
from ..lasso import requested_name
from ..networks import MLP
from .evaluation import _scores
from .inputs import _Layer, _as_mlp, _check_data, _check_eps, _positive, _prepare
from .report import CompressionPath, CompressionReport
from .solvers import _reduce, _refit, _solve, _width_bounds


#: exact mode: the next layer's pre-activation on X must be reproduced to this relative level
EXACT_RTOL = 1e-6
_PROGRAMS = ("auto", "exact", "eps", "lam", "label")

def _resolve_program(program: str, prep: _Layer, y: Any, eps: float, lam: float | None,
                     lam_ratio: float | None) -> str:
    if program not in _PROGRAMS:
        raise InvalidProblemError(f"program: unknown value {program!r}; use one of {_PROGRAMS}")
    has_lam = lam is not None or lam_ratio is not None
    if lam is not None and lam_ratio is not None:
        raise InvalidProblemError("lam, lam_ratio: pass at most one of them")
    if has_lam and eps > 0:
        raise InvalidProblemError("eps, lam: pass the tolerance form (eps > 0) or the penalized "
                                  "form (lam / lam_ratio), not both")
    if program == "auto":
        if has_lam:
            program = "label" if (y is not None and prep.last_hidden) else "lam"
        else:
            program = "eps" if eps > 0 else "exact"
    if program in ("lam", "label") and not has_lam:
        raise InvalidProblemError(f"program={program!r} needs lam or lam_ratio (fraction of "
                                  "lam_max); for a scikit-learn network, lam = alpha is its own "
                                  "training objective")
    if program in ("exact", "eps") and has_lam:
        raise InvalidProblemError(f"program={program!r} takes eps, not lam / lam_ratio")
    if program == "eps" and eps == 0:
        raise InvalidProblemError("program='eps' needs eps > 0 (eps = 0 is the exact mode)")
    if program == "label":
        if y is None:
            raise InvalidProblemError("program='label' needs the true labels y")
        if not prep.last_hidden:
            raise InvalidProblemError(f"program='label' applies to the last hidden layer "
                                      f"({prep.net.n_layers - 1}) only; layer {prep.layer} feeds "
                                      "another hidden layer, not the outputs")
    return program


def _compress_prepared(prep: _Layer, program: str, *, eps: float, lam: float | None,
                       lam_ratio: float | None, y: np.ndarray | None, intercept: bool,
                       refit: bool, solver: str, tol: float | None, rebalance: bool,
                       verify: bool, X_test: np.ndarray | None, y_test: np.ndarray | None,
                       t_start: float) -> tuple[MLP, CompressionReport]:
    times = dict(prep.times)
    t0 = time.perf_counter()
    sol, T, loss, lam = _solve(prep, program, eps, lam, lam_ratio, y, intercept, solver, tol)
    t1 = time.perf_counter()
    Y_red = prep.Psi if program != "label" else T
    red_skip = "intercept" if intercept or program == "label" else None
    sol, reduced = _reduce(sol, prep.Phi, red_skip, Y_red)
    t2 = time.perf_counter()
    S = sol.active
    V_S = sol.V[S]
    c = np.zeros(prep.Psi.shape[1]) if sol.intercept is None else np.array(sol.intercept)
    if refit and program != "label":
        p = int(intercept)                      # the free next bias: A = [1], B = [c]
        V_S, B = _refit(prep.Phi[:, S], prep.Psi, V_S, np.ones((prep.Phi.shape[0], p)),
                        c[None, :][:p])
        c = B[0] if p else c
    t3 = time.perf_counter()
    next_bias = -c if program == "label" else prep.b_next - c
    small = raw = prep.net.remove_neurons(prep.layer, S, out_weights=V_S.T,
                                          next_bias=next_bias)
    layer_norm_after = float(np.sum(np.linalg.norm(V_S, axis=1)))
    if rebalance:
        small = small.rebalance()
    # the trained weights' objective in the same program (a feasible point)
    if program == "label":
        Zt = prep.Psi - prep.b_next
        trained_obj = _program_value(loss, Zt, T) + lam * float(
            np.sum(np.linalg.norm(prep.V_out, axis=1)))
    elif program == "lam":
        trained_obj = lam * float(np.sum(np.linalg.norm(prep.V_out, axis=1)))
    else:
        trained_obj = float(np.sum(np.linalg.norm(prep.V_out, axis=1)))
    F_fit = prep.Phi @ sol.V
    has_icpt = bool(intercept or program == "label")
    bound, eff_ranks, eff_bound = _width_bounds(prep.Phi, F_fit, has_icpt)
    report = CompressionReport(
        layer=prep.layer, program=program,
        neurons_before=prep.original.hidden_sizes[prep.layer - 1],
        neurons_after=small.hidden_sizes[prep.layer - 1],
        bound=bound,
        effective_ranks=eff_ranks, effective_bound=eff_bound,
        weight_decay_before=prep.wd_before, weight_decay_balanced=prep.wd_balanced,
        weight_decay_after=small.weight_decay(),
        layer_norm_before=float(np.sum(np.linalg.norm(prep.V_out, axis=1))),
        layer_norm_after=layer_norm_after, trained_objective=trained_obj,
        objective=sol.objective, gap=sol.gap, rel_gap=sol.rel_gap, status=sol.status,
        solver=requested_name(solver, sol.inner or sol.solver), inner=sol.inner,
        fallback=sol.fallback,
        eps=eps if program == "eps" else (0.0 if program == "exact" else None),
        lam=lam, intercept=bool(intercept or program == "label"), reduced=reduced)
    t4 = time.perf_counter()
    if verify:
        _verify(report, prep, small, raw, y, X_test, y_test)
    t5 = time.perf_counter()
    times.update({"solve": t1 - t0, "reduce": t2 - t1, "refit": t3 - t2, "verify": t5 - t4,
                  "total": time.perf_counter() - t_start})
    report.times = times
    return small, report


def _program_value(loss: str, Z: np.ndarray, T: np.ndarray) -> float:
    from ..losses import get_loss
    L = get_loss(loss)
    return float(L.value(Z, L.encode(T).T))


def _verify(report: CompressionReport, prep: _Layer, small: MLP, raw: MLP,
            y: np.ndarray | None, X_test: np.ndarray | None, y_test: np.ndarray | None) -> None:
    """Output changes, the next layer's pre-activation change, scores; the exactness check.

    The pre-activation check compares, in the prepared network's scaling (``raw``: the
    compressed network before its final rebalancing, which rescales hidden pre-activations
    neuron by neuron), ``Z'_{l+1}`` with ``Psi - b_{l+1}``, recomputed by a forward pass.
    """
    orig, X, l = prep.original, prep.X, prep.layer
    F0, F1 = orig.forward(X), small.forward(X)
    Z0, Z1 = prep.net.pre_activation(X, l + 1), raw.pre_activation(X, l + 1)
    report.psi_rel_change = float(np.linalg.norm(Z1 - Z0) / max(np.linalg.norm(prep.Psi),
                                                                 np.finfo(float).tiny))
    if report.program == "exact":
        report.verified = report.psi_rel_change <= EXACT_RTOL
    elif report.program == "eps":
        report.verified = report.psi_rel_change <= report.eps * (1 + 1e-6) + 1e-12
    if report.verified is False:
        warnings.warn(f"compress_layer: the next layer's pre-activation moved by "
                      f"{report.psi_rel_change:.2e} relative (guarantee: "
                      f"{EXACT_RTOL if report.program == 'exact' else report.eps:g}); solver "
                      f"status {report.status}. Try refit=True or another solver.",
                      RuntimeWarning, stacklevel=3)
    _score_report(report, orig, small, F0, F1, X, y, X_test, y_test)


def _score_report(report: CompressionReport, orig: MLP, small: MLP, F0: np.ndarray,
                  F1: np.ndarray, X: np.ndarray, y: np.ndarray | None,
                  X_test: np.ndarray | None, y_test: np.ndarray | None) -> None:
    """Fill the scores of ``report`` from the raw outputs F0 = orig(X), F1 = small(X).

    Sets max_output_change = max_{n,j} |F1 - F0|, rel_output_change = |F1 - F0|_F / |F0|_F,
    the metric, (before, after) train / test scores and mean losses, and the largest output
    change on X_test. Shared by :func:`compress_layer` and :func:`compress_network`.
    """
    report.max_output_change = float(np.max(np.abs(F1 - F0)))
    report.rel_output_change = float(np.linalg.norm(F1 - F0) / max(np.linalg.norm(F0),
                                                                    np.finfo(float).tiny))
    report.metric = "accuracy" if orig.is_classifier else "R^2"
    if y is not None:
        report.score_train, report.loss_train = _pair(orig, small, F0, F1, X, y)
    if X_test is not None:
        T0, T1 = orig.forward(X_test), small.forward(X_test)
        report.test_max_output_change = float(np.max(np.abs(T1 - T0)))
        if y_test is not None:
            report.score_test, report.loss_test = _pair(orig, small, T0, T1, X_test, y_test)


def _pair(orig: MLP, small: MLP, F0: np.ndarray, F1: np.ndarray, X: np.ndarray, y: np.ndarray
          ) -> tuple[tuple[float, float], tuple[float, float]]:
    s0, l0 = _scores(orig, F0, X, y)
    s1, l1 = _scores(small, F1, X, y)
    return (s0, s1), (l0, l1)


def compress_layer(mlp: Any, layer: int, X: Any, y: Any = None, *, eps: float = 0.0,
                   lam: float | None = None, lam_ratio: float | None = None,
                   refit: bool = True, solver: str = "auto", rebalance: bool = True,
                   verify: bool = True, X_test: Any = None, y_test: Any = None,
                   program: str = "auto", intercept: bool | None = None,
                   tol: float | None = None) -> tuple[MLP, CompressionReport]:
    """Compress hidden layer ``layer`` of a trained ReLU network by its convex reformulation.

    With Phi (N, K) the layer's features on X (unit input rows) and Psi = Phi V_out the next
    layer's pre-activation minus its bias, solve one of (see the module docstring)

        exact:  min sum_k |V_k|_2  s.t. Phi V = Psi
        eps:    min sum_k |V_k|_2  s.t. |Phi V + 1 c - Psi|_F <= eps |Psi|_F
        lam:    min 1/2 |Psi - Phi V - 1 c|_F^2 + lam sum_k |V_k|_2
        label:  min sum_n L(y_n, (Phi V + 1 c)_n) + lam sum_k |V_k|_2   (last hidden layer)

    then reduce the support, refit, and delete the removed neurons from W_l and W_{l+1}.

    Parameters
    ----------
    mlp : :class:`MLP`, or a fitted scikit-learn MLPClassifier / MLPRegressor, or a torch
        ``nn.Sequential`` of Linear/ReLU (non-ReLU networks are refused).
    layer : hidden layer, 1-based.
    X : (N, d) inputs on which the layer's behaviour is kept (the training inputs).
    y : labels / targets of X. Used for the scores; with ``lam`` / ``lam_ratio`` on the last
        hidden layer they select the label-aware program (``program="auto"``).
    eps : relative tolerance of (MIN); 0 = exact.
    lam, lam_ratio : penalized forms; ``lam_ratio`` is a fraction of lam_max.
    refit : least-squares correction of the surviving outgoing weights on Psi (not for
        "label", whose solution is kept).
    solver : "auto" (default: exact -> null-space parametrization (CLARABEL on the null space
        when it is not trivial), eps -> SCS via CVXPY with CLARABEL taking over when SCS's
        point is not certified (SCS measured 2-6x faster on digits layers), lam / label ->
        nnlasso's native "prox" solver), or any name accepted by
        :func:`~nnlasso.solve_min_norm` / :func:`~nnlasso.solve_lasso` ("CLARABEL", "SCS", ...).
    rebalance : rebalance the network before (and the result after) compression.
    verify : compute output changes and scores, and check the guarantee (exact: the next
        layer's pre-activation to 1e-6 relative; eps: to eps); a failed check warns.
    X_test, y_test : optional held-out data for the report.
    program : "auto" | "exact" | "eps" | "lam" | "label".
    intercept : free next-layer bias in the eps / lam modes (default True there; the exact mode
        always keeps the bias fixed, the label mode always frees the output bias).
    tol : solver tolerance (default: the solver's).

    Returns
    -------
    (small, report) : the narrower :class:`MLP` and a :class:`CompressionReport`.
    """
    t_start = time.perf_counter()
    net = _as_mlp(mlp)
    net._check_layer(layer)
    X, y, X_test, y_test = _check_data(net, X, y, X_test, y_test)
    eps = _check_eps(eps)
    lam = None if lam is None else _positive(lam, "lam")
    lam_ratio = None if lam_ratio is None else _positive(lam_ratio, "lam_ratio")
    # an unknown or uninstalled name fails here, whichever program (and whether it needs a
    # solver at all: the exact mode's null space may be empty)
    backends.resolve(solver, native=True)
    prep = _prepare(net, layer, X, rebalance)
    prog = _resolve_program(program, prep, y, eps, lam, lam_ratio)
    if prog == "exact":
        free = False
        if intercept:
            raise InvalidProblemError("intercept=True: the exact mode keeps the next bias fixed "
                                      "(everything downstream unchanged); use eps > 0")
    else:
        free = True if intercept is None else bool(intercept)
    return _compress_prepared(prep, prog, eps=eps, lam=lam, lam_ratio=lam_ratio, y=y,
                              intercept=free, refit=refit, solver=solver, tol=tol,
                              rebalance=rebalance, verify=verify, X_test=X_test, y_test=y_test,
                              t_start=t_start)


def compress_network(mlp: Any, X: Any, layers: str | Iterable[int] = "all", y: Any = None, *,
             X_test: Any = None, y_test: Any = None, **kw: Any
             ) -> tuple[MLP, CompressionReport]:
    """Compress several hidden layers, last to first, each with :func:`compress_layer`.

    Compressing layer l changes only W_l and W_{l+1}, so the layers below keep their input
    distribution; going from the last layer to the first, every layer is compressed on the
    features its (unchanged) upstream produces. In the exact mode every step keeps the next
    pre-activation on X, hence the outputs on X. ``kw`` are passed to every step (prefer
    ``eps`` or ``lam_ratio``, which are scale-free, over an absolute ``lam``); ``y`` selects the
    label-aware program only for the last hidden layer.

    Returns
    -------
    (small, report) : ``report`` compares the given and the final network (neurons summed over
        the compressed layers); ``report.steps`` holds the per-layer reports (last layer first).
    """
    if type(mlp).__name__ == "DeepReLUNet":  # a composition: nnlasso.deep_compress
        from ..deep_compress import compress_deep
        return compress_deep(mlp, X, **kw)  # type: ignore[return-value]
    t_start = time.perf_counter()
    net = _as_mlp(mlp)
    X, y, X_test, y_test = _check_data(net, X, y, X_test, y_test)
    n_hidden = net.n_layers - 1
    if isinstance(layers, str):
        if layers != "all":
            raise InvalidProblemError(f"layers: {layers!r}; use 'all' or a list of hidden layers")
        todo = list(range(1, n_hidden + 1))
    else:
        todo = [net._check_layer(l) for l in layers]
        if len(set(todo)) != len(todo):
            raise InvalidProblemError("layers: each hidden layer at most once")
    if not todo:
        raise InvalidProblemError("layers: this network has no hidden layer to compress")
    steps = []
    cur = net
    for l in sorted(todo, reverse=True):
        step_y = y if l == n_hidden else None
        cur, rep = compress_layer(cur, l, X, step_y, X_test=X_test, y_test=None, **kw)
        steps.append(rep)
    overall = CompressionReport(
        layer=tuple(sorted(todo)), program="multi",
        neurons_before=sum(net.hidden_sizes[l - 1] for l in todo),
        neurons_after=sum(cur.hidden_sizes[l - 1] for l in todo),
        weight_decay_before=net.weight_decay(), weight_decay_balanced=steps[0].weight_decay_balanced,
        weight_decay_after=cur.weight_decay(), status=_worst([s.status for s in steps]),
        solver=",".join(sorted({s.solver for s in steps})),
        inner=",".join(sorted({s.inner or "" for s in steps})),
        fallback=",".join(sorted({s.fallback for s in steps if s.fallback})) or None, steps=steps)
    if kw.get("verify", True):
        F0, F1 = net.forward(X), cur.forward(X)
        _score_report(overall, net, cur, F0, F1, X, y, X_test, y_test)
        checks = [s.verified for s in steps if s.verified is not None]
        overall.verified = all(checks) if checks else None
    overall.times = {"total": time.perf_counter() - t_start}
    for key in ("rebalance", "features", "solve", "reduce", "refit", "verify"):
        overall.times[key] = float(sum(s.times.get(key, 0.0) for s in steps))
    return cur, overall


compress = compress_network  # short name inside the module: nnlasso.compress.compress


def _worst(statuses: Sequence[str]) -> str:
    order = ["optimal", "optimal_inaccurate", "infeasible", "error"]
    return max(statuses, key=lambda s: order.index(s) if s in order else len(order))


def compression_path(mlp: Any, layer: int, X: Any, y: Any = None, *,
                     grid: Sequence[float] | None = None, mode: str = "eps",
                     X_test: Any = None, y_test: Any = None, refit: bool = True,
                     solver: str = "auto", rebalance: bool = True, intercept: bool = True,
                     tol: float | None = None) -> CompressionPath:
    """Sweep eps (or lam) and return the curve neurons / output deviation / score.

    The network is rebalanced and the features computed once; each grid value runs the program,
    the reduction and the refit of :func:`compress_layer`.

    Parameters
    ----------
    mode : "eps" (grid of relative tolerances, default ``geomspace(1e-3, 0.5, 10)``), "lam"
        (squared penalized form on Psi) or "label" (label-aware program, needs y, last hidden
        layer); for "lam" / "label" the grid is ``lam / lam_max`` (default
        ``geomspace(0.3, 1e-3, 8)``).
    Other parameters as in :func:`compress_layer`.

    Returns
    -------
    CompressionPath
        users pick the narrowest network within their budget with :meth:`CompressionPath.smallest`.
    """
    net = _as_mlp(mlp)
    net._check_layer(layer)
    X, y, X_test, y_test = _check_data(net, X, y, X_test, y_test)
    if mode not in ("eps", "lam", "label"):
        raise InvalidProblemError(f"mode: unknown value {mode!r}; use 'eps', 'lam' or 'label'")
    if grid is None:
        grid = np.geomspace(1e-3, 0.5, 10) if mode == "eps" else np.geomspace(0.3, 1e-3, 8)
    grid = np.asarray(list(grid), dtype=float)
    if grid.ndim != 1 or grid.size == 0:
        raise InvalidProblemError("grid: pass a non-empty 1-D sequence of values")
    prep = _prepare(net, layer, X, rebalance)
    reports, nets = [], []
    for g in grid:
        t0 = time.perf_counter()
        if mode == "eps":
            eps = _check_eps(g)
            prog = "exact" if eps == 0 else "eps"
            kw = dict(eps=eps, lam=None, lam_ratio=None)
        else:
            prog = mode
            kw = dict(eps=0.0, lam=None, lam_ratio=_positive(g, "grid"))
        _resolve_program(prog, prep, y, kw["eps"], kw["lam"], kw["lam_ratio"])
        small, rep = _compress_prepared(prep, prog, y=y, intercept=intercept and prog != "exact",
                                        refit=refit, solver=solver, tol=tol, rebalance=rebalance,
                                        verify=True, X_test=X_test, y_test=y_test, t_start=t0,
                                        **kw)
        reports.append(rep)
        nets.append(small)

    def arr(f) -> np.ndarray:
        return np.array([f(r) for r in reports], dtype=float)

    nan = float("nan")
    before = (reports[0].score_train[0] if reports[0].score_train else nan,
              reports[0].score_test[0] if reports[0].score_test else nan)
    return CompressionPath(
        mode=mode, param=grid, lam=None if mode == "eps" else arr(lambda r: r.lam),
        neurons=np.array([r.neurons_after for r in reports]),
        max_output_change=arr(lambda r: r.max_output_change),
        rel_output_change=arr(lambda r: r.rel_output_change),
        score_train=arr(lambda r: r.score_train[1] if r.score_train else nan),
        score_test=arr(lambda r: r.score_test[1] if r.score_test else nan),
        reports=reports, networks=nets, neurons_before=reports[0].neurons_before,
        score_before=before, metric=reports[0].metric)
