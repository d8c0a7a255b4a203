"""Compression of a trained ReLU layer through its convex reformulation (docs/math.md).

Take hidden layer ``l`` of an :class:`~nnlasso.networks.MLP`
(``h_l = relu(W_l h_{l-1} - b_l)``, biases subtracted) and training inputs X (N rows).

1. **Rebalance** the network (:meth:`MLP.rebalance`: same function, weight decay
   non-increasing) and **normalize** the layer's input rows, ``|W_l[k]| = 1``, moving the scale
   into the outgoing columns. The outgoing weights are then ``V_out = W_{l+1}^T`` (K, D) and the
   layer's balanced weight decay is its path norm ``sum_k |V_out[k, :]|_2``.
2. **Features.** ``Phi = h_l(X)`` (N, K) and ``Psi = Phi V_out`` (N, D): the next layer's
   pre-activation *minus its bias* (for the last hidden layer: the logits minus the output bias).
3. **Convex program** over the layer's own neurons (one of)

   ======== ===================================================================================
   exact    min sum_k |V_k|_2  s.t.  Phi V = Psi                             (MIN, eps = 0)
   eps      min sum_k |V_k|_2  s.t.  |Phi V + 1 c - Psi|_F <= eps |Psi|_F    (MIN, eps > 0)
   lam      min 1/2 |Psi - Phi V - 1 c|_F^2 + lam sum_k |V_k|_2               (penalized)
   label    min sum_n L(y_n, (Phi V + 1 c)_n) + lam sum_k |V_k|_2             (label-aware MTL)
   ======== ===================================================================================

   ``L`` is the network's own loss (softmax cross-entropy for a multiclass classifier, logistic
   for a binary one, 1/2 |y - z|^2 for a regressor) on the *true labels*; "label" is offered
   only for the last hidden layer. With an MLPClassifier trained by scikit-learn with weight
   decay ``alpha`` on one hidden layer, ``lam = alpha`` makes "label" the network's own training
   objective (times N) restricted to the trained hidden neurons: sklearn minimizes
   ``(1/N) sum CE + alpha / (2N) sum |W|^2`` and, at a balanced network,
   ``1/2 sum |W|^2 = sum_k |w_k| |v_k|``.
4. **Support reduction** (:func:`nnlasso.representer.reduce_support`, the constructive proof of
   the width bound): same fit, penalty not increased, at most ``rank(P Phi) rank(P Psi)``
   neurons. It is skipped when the surviving features are linearly independent (then the atoms
   ``vec(e_k (P phi_k)^T)`` are independent and nothing can be removed).
5. **Refit** (``refit=True``, not for "label"): the surviving outgoing weights (and the free
   next bias) are corrected by least squares on Psi,
   ``[V_S; c] <- [V_S; c] + pinv([Phi_S 1]) (Psi - Phi_S V_S - 1 c)``, the least-squares
   solution closest to the program's point: it removes the penalty's shrinkage (lam), can only
   lower the residual (eps: the deviation stays <= eps) and makes the exact mode exact to
   rounding.
6. The narrower MLP deletes the removed neurons from both adjacent matrices
   (:meth:`MLP.remove_neurons`) and is rebalanced again.

**The next layer's bias (the skip).** In the *exact* mode it is fixed (``Psi`` excludes it, no
intercept variable): any feasible V reproduces the next layer's pre-activation on X, so every
later layer and the outputs are unchanged on X (to the solver's rounding, then to machine
precision after the refit). In the *eps* and *lam* modes the next bias is free by default
(``intercept=None`` -> True; an unpenalized intercept ``c``, the new bias is ``b_{l+1} - c``):
the mean contribution of removed neurons moves into the bias at no cost. In the *label* mode
the output bias is the program's unpenalized intercept ("intercept" skip), refitted with V.

**Exactness is on X only.** The exact mode keeps ``Phi V = Psi`` on the rows of X. When the
features of X have full column rank (N > K and no neuron dead or duplicated on X) the only
solution is the trained V itself and nothing is removed; otherwise removed neurons may still be
active on other inputs, so outputs on test data can move (reported as
``test_max_output_change``).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, Iterable, Sequence

import numpy as np

from . import backends
from .errors import InvalidProblemError, SolverError
from .lasso import lam_max, requested_name, solve_lasso, solve_min_norm
from .networks import MLP
from .solution import Solution, active_set

__all__ = ["CompressionReport", "CompressionPath", "compress_layer", "compress", "compress_network",
           "compression_path"]

#: relative threshold for "the features are linearly dependent" (singular values of Phi)
_RANK_RTOL = 1e-10
#: effective rank (CompressionReport.effective_ranks): singular values above 1% of the largest
EFFECTIVE_RTOL = 1e-2
#: exact mode: the next layer's pre-activation on X must be reproduced to this relative level
EXACT_RTOL = 1e-6
_PROGRAMS = ("auto", "exact", "eps", "lam", "label")


# =============================================================================================
# the report
# =============================================================================================

@dataclass
class CompressionReport:
    """What :func:`compress_layer` (or :func:`compress`) did, and how the network changed.

    Attributes
    ----------
    layer : the compressed hidden layer (1-based), or the tuple of layers for :func:`compress`.
    program : "exact" | "eps" | "lam" | "label" (see the module docstring); "multi" for compress.
    neurons_before, neurons_after : width of the layer in the given and in the compressed network
        (sums over the layers for :func:`compress`).
    bound : the width bound ``rank(P Phi) * rank(P F)`` (F the program's fit, P the projector off
        the free intercept; D = 1: ``min(N - r_aff, rank(P Phi))``), an upper bound on the
        neurons a solution needs (an existence statement, not the count found).
    effective_ranks : ``(r_Phi, r_F)``, the *effective* ranks of ``P Phi`` and ``P F``: the number
        of singular values ``s_i > EFFECTIVE_RTOL * s_1`` with ``EFFECTIVE_RTOL = 1e-2`` (singular
        values below 1% of the largest are treated as zero). None for :func:`compress`.
    effective_bound : ``r_Phi * r_F`` (one output: ``min(N - r_aff, r_Phi)``): the width bound
        the representer theorem gives for a nearby program whose features and fit are truncated
        to those singular directions. A heuristic estimate of the width a compression can
        reach, not a guarantee (``bound`` is the guarantee); it is often far below ``bound``.
    max_output_change : ``max_{n, j} |f_small(x_n)_j - f(x_n)_j|`` over X of the final raw
        outputs (logits for classifiers).
    rel_output_change : ``|f_small(X) - f(X)|_F / |f(X)|_F``.
    psi_rel_change : ``|Z'_{l+1} - Z_{l+1}|_F / |Psi|_F`` on X: the next layer's pre-activation
        change relative to Psi (<= 1e-6 in the exact mode, <= eps in the eps mode).
    test_max_output_change : the same maximum over ``X_test`` (None without it).
    metric : "accuracy" (classifier) or "R^2" (regressor).
    score_train, score_test : (before, after) of the metric; None without labels.
    loss_train, loss_test : (before, after) mean cross-entropy (classifiers) or mean squared
        error (regressors).
    weight_decay_before : ``1/2 sum_l |W_l|_F^2`` of the given network.
    weight_decay_balanced : the same after rebalancing it (same function): the fair reference.
    weight_decay_after : of the compressed network (rebalanced when ``rebalance=True``).
    layer_norm_before, layer_norm_after : the layer's balanced weight decay (path norm)
        ``sum_k |V_k|_2`` with unit input rows, before and after (the (MIN) objective).
    trained_objective : the program's objective at the trained weights (feasible point).
    objective, gap, rel_gap, status : of the convex program (nnlasso's own certificate).
    solver, inner, fallback : the solver asked for ("auto" or a name), the backend that solved
        the program ("nullspace", "SCS", "CLARABEL", "PROX", ...) and the one that took over
        when it failed (None otherwise); comma-joined over the steps of :func:`compress`.
    eps, lam : the program's parameters.    intercept : whether the next bias was free.
    reduced : whether support reduction ran (it is skipped when it cannot remove anything).
    verified : the exactness / tolerance check passed (None when nothing is guaranteed).
    times : seconds: rebalance, features, solve, reduce, refit, verify, total.
    steps : per-layer reports of :func:`compress` (last layer first).
    """

    layer: int | tuple[int, ...]
    program: str
    neurons_before: int
    neurons_after: int
    bound: int | None = None
    effective_ranks: tuple[int, int] | None = None
    effective_bound: int | None = None
    max_output_change: float | None = None
    rel_output_change: float | None = None
    psi_rel_change: float | None = None
    test_max_output_change: float | None = None
    metric: str | None = None
    score_train: tuple[float, float] | None = None
    score_test: tuple[float, float] | None = None
    loss_train: tuple[float, float] | None = None
    loss_test: tuple[float, float] | None = None
    weight_decay_before: float = float("nan")
    weight_decay_balanced: float = float("nan")
    weight_decay_after: float = float("nan")
    layer_norm_before: float | None = None
    layer_norm_after: float | None = None
    trained_objective: float | None = None
    objective: float | None = None
    gap: float | None = None
    rel_gap: float | None = None
    status: str = "optimal"
    solver: str = ""
    inner: str | None = None
    fallback: str | None = None
    eps: float | None = None
    lam: float | None = None
    intercept: bool = False
    reduced: bool = False
    verified: bool | None = None
    times: dict[str, float] = field(default_factory=dict)
    steps: list["CompressionReport"] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str, str]]:
        """The seeds' table: (quantity, original network, compressed network), as strings."""
        def pct(v: float) -> str:
            return f"{100 * v:.2f}%" if self.metric == "accuracy" else f"{v:.4f}"

        out = [(f"neurons (layer {_fmt_layer(self.layer)})", str(self.neurons_before),
                str(self.neurons_after))]
        if self.bound is not None:
            eff = "" if self.effective_bound is None else (
                f" / {self.effective_bound} (ranks {self.effective_ranks[0]} x "
                f"{self.effective_ranks[1]})")
            out.append(("width bound exact / effective (s > 1e-2 s_1)", "",
                        f"{self.bound}{eff}"))
        if self.score_train is not None:
            out.append((f"train {self.metric}", pct(self.score_train[0]),
                        pct(self.score_train[1])))
        if self.score_test is not None:
            out.append((f"test {self.metric}", pct(self.score_test[0]), pct(self.score_test[1])))
        if self.loss_train is not None:
            out.append(("train loss", f"{self.loss_train[0]:.4f}", f"{self.loss_train[1]:.4f}"))
        if self.loss_test is not None:
            out.append(("test loss", f"{self.loss_test[0]:.4f}", f"{self.loss_test[1]:.4f}"))
        out.append(("weight decay (balanced)", f"{self.weight_decay_balanced:.4f}",
                    f"{self.weight_decay_after:.4f}"))
        if self.max_output_change is not None:
            out.append(("max abs output change on X", "0", f"{self.max_output_change:.3g}"))
        if self.test_max_output_change is not None:
            out.append(("max abs output change on X_test", "0",
                        f"{self.test_max_output_change:.3g}"))
        return out

    def table(self) -> str:
        """The seeds' table as Markdown."""
        lines = ["| | original network | compressed network |", "|---|---:|---:|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in self.rows()]
        return "\n".join(lines)

    def __str__(self) -> str:
        head = (f"compress layer {_fmt_layer(self.layer)} ({self.program}"
                + (f", eps={self.eps:g}" if self.eps else "")
                + (f", lam={self.lam:.4g}" if self.lam is not None else "")
                + f") via {self.solver or '-'}"
                + (f" -> {self.inner}" if self.inner and self.inner != self.solver else "")
                + (f" (fallback {self.fallback})" if self.fallback else "")
                + f": status={self.status}")
        if self.bound is not None:
            head += f", width bound {self.bound}"
            if self.effective_bound is not None:
                head += f" (effective {self.effective_bound})"
        if self.rel_gap is not None:
            head += f", rel gap {self.rel_gap:.2g}"
        head += f", {self.times.get('total', 0.0):.2f}s"
        w = max(len(r[0]) for r in self.rows())
        body = [f"{'':{w}}  {'original network':>18}  {'compressed network':>18}"]
        body += [f"{a:{w}}  {b:>18}  {c:>18}" for a, b, c in self.rows()]
        return "\n".join([head] + body)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python fields (JSON-serializable), steps included."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if k == "steps":
                out[k] = [s.to_dict() for s in v]
            elif isinstance(v, tuple):
                out[k] = [float(x) if isinstance(x, (float, np.floating)) else x for x in v]
            elif isinstance(v, (np.floating, np.integer)):
                out[k] = v.item()
            else:
                out[k] = v
        return out


def _fmt_layer(layer: int | tuple[int, ...]) -> str:
    return str(layer) if isinstance(layer, Integral) else ",".join(map(str, layer))


@dataclass
class CompressionPath:
    """Result of :func:`compression_path`: one compression per grid value.

    Attributes
    ----------
    mode : "eps", "lam" or "label".    param : the grid (eps, or lam / lam_max).
    lam : absolute lam per point (None for eps).    neurons : width after compression.
    max_output_change, rel_output_change : on X.    score_train, score_test : metric after
    (NaN without labels).    reports : the full :class:`CompressionReport` per point.
    networks : the compressed networks.    score_before : (train, test) of the original.
    """

    mode: str
    param: np.ndarray
    lam: np.ndarray | None
    neurons: np.ndarray
    max_output_change: np.ndarray
    rel_output_change: np.ndarray
    score_train: np.ndarray
    score_test: np.ndarray
    reports: list[CompressionReport]
    networks: list[MLP]
    neurons_before: int
    score_before: tuple[float, float]
    metric: str | None

    def smallest(self, *, max_rel_output_change: float | None = None,
                 min_score: float | None = None, on: str = "train") -> int | None:
        """Index of the narrowest point within the budget (None if no point qualifies).

        ``max_rel_output_change`` bounds the relative output change on X; ``min_score`` bounds
        the metric from below on "train" or "test" data.
        """
        ok = np.ones(self.neurons.size, dtype=bool)
        if max_rel_output_change is not None:
            ok &= self.rel_output_change <= max_rel_output_change
        if min_score is not None:
            s = self.score_train if on == "train" else self.score_test
            ok &= s >= min_score
        if not np.any(ok):
            return None
        idx = np.flatnonzero(ok)
        return int(idx[np.argmin(self.neurons[idx])])

    def table(self) -> str:
        """The curve as Markdown."""
        name = "eps" if self.mode == "eps" else "lam / lam_max"
        m = self.metric or "score"
        lines = [f"| {name} | neurons | max output change | rel output change | train {m} | "
                 f"test {m} | time (s) |", "|---:|---:|---:|---:|---:|---:|---:|"]
        for i in range(self.neurons.size):
            lines.append(f"| {self.param[i]:.3g} | {self.neurons[i]} | "
                         f"{self.max_output_change[i]:.3g} | {self.rel_output_change[i]:.3g} | "
                         f"{_fmt_score(self.score_train[i], self.metric)} | "
                         f"{_fmt_score(self.score_test[i], self.metric)} | "
                         f"{self.reports[i].times.get('total', 0.0):.2f} |")
        return "\n".join(lines)


def _fmt_score(v: float, metric: str | None) -> str:
    if not np.isfinite(v):
        return "-"
    return f"{100 * v:.2f}%" if metric == "accuracy" else f"{v:.4f}"


# =============================================================================================
# inputs
# =============================================================================================

def _as_mlp(model: Any) -> MLP:
    """An :class:`MLP` from an MLP, a fitted scikit-learn MLP or a torch ``nn.Sequential``.

    Non-ReLU networks are refused by the converters (:meth:`MLP.from_sklearn`,
    :meth:`MLP.from_torch`) with a clear error.
    """
    if isinstance(model, MLP):
        return model
    mod = type(model).__module__
    if mod.startswith("sklearn"):
        return MLP.from_sklearn(model)
    if mod.startswith("torch"):
        return MLP.from_torch(model)
    raise InvalidProblemError(f"mlp: expected an nnlasso MLP, a fitted scikit-learn "
                              f"MLPClassifier / MLPRegressor (activation='relu') or a torch "
                              f"nn.Sequential of Linear/ReLU, got {type(model).__name__}")


def _check_inputs(net: MLP, X: Any, name: str = "X") -> np.ndarray:
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise InvalidProblemError(f"{name}: cannot be read as a numeric array") from None
    if X.ndim == 1 and net.n_inputs == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[1] != net.n_inputs:
        raise InvalidProblemError(f"{name}: expected shape (N, {net.n_inputs}) for this network "
                                  f"(d = {net.n_inputs} inputs), got {X.shape}")
    if X.shape[0] == 0:
        raise InvalidProblemError(f"{name}: is empty; pass at least one sample")
    if not np.all(np.isfinite(X)):
        raise InvalidProblemError(f"{name}: contains NaN or infinite values")
    return X


def _check_labels(net: MLP, X: np.ndarray, y: Any, name: str) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y)
    if y.shape[0] != X.shape[0]:
        raise InvalidProblemError(f"{name}: has {y.shape[0]} rows but the inputs have "
                                  f"{X.shape[0]}")
    if net.is_classifier:
        if net.out_activation == "logistic" and net.n_outputs > 1:
            raise InvalidProblemError(f"{name}: multilabel classifiers (several logistic "
                                      "outputs) are not supported; pass y=None")
        bad = ~np.isin(y, net.classes)
        if np.any(bad):
            raise InvalidProblemError(f"{name}: label {y[bad][0]!r} is not one of the network's "
                                      f"classes {list(net.classes)}")
    elif y.ndim == 1 and net.n_outputs != 1 or y.ndim == 2 and y.shape[1] != net.n_outputs:
        raise InvalidProblemError(f"{name}: expected {net.n_outputs} target column(s), got "
                                  f"shape {y.shape}")
    return y


def _check_eps(eps: Any) -> float:
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise InvalidProblemError(f"eps: must be a number in [0, 1), got {eps!r}") from None
    if not 0.0 <= e < 1.0:
        raise InvalidProblemError(f"eps: relative tolerance must lie in [0, 1), got {eps!r}")
    return e


def _positive(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (Real, np.floating, np.integer)) or not (
            np.isfinite(v) and v > 0):
        raise InvalidProblemError(f"{name}: must be a positive finite number, got {v!r}")
    return float(v)


# =============================================================================================
# the prepared layer (rebalanced, normalized, features)
# =============================================================================================

@dataclass
class _Layer:
    """A rebalanced network with unit input rows in ``layer``, and the layer's features on X."""

    original: MLP
    net: MLP
    layer: int
    X: np.ndarray
    Phi: np.ndarray          # (N, K)
    V_out: np.ndarray        # (K, D) = W_{l+1}^T
    Psi: np.ndarray          # (N, D) = Phi V_out
    b_next: np.ndarray       # (D,) subtracted bias of layer l + 1
    last_hidden: bool
    wd_before: float
    wd_balanced: float
    times: dict[str, float]


def _prepare(mlp: MLP, layer: Any, X: np.ndarray, rebalance: bool) -> _Layer:
    layer = mlp._check_layer(layer)
    t0 = time.perf_counter()
    wd_before = mlp.weight_decay()
    if rebalance:
        net = mlp.rebalance()
    else:
        net = mlp.drop_dead()
    wd_balanced = net.weight_decay()
    if net.hidden_sizes[layer - 1] == 0:
        raise InvalidProblemError(f"layer: hidden layer {layer} has no live neuron (all dead); "
                                  "nothing to compress")
    net = net.normalized_layer(layer)
    t1 = time.perf_counter()
    Phi = net.hidden_features(X, layer)
    V_out = np.array(net.weights[layer].T)
    Psi = Phi @ V_out
    t2 = time.perf_counter()
    return _Layer(mlp, net, layer, X, Phi, V_out, Psi, np.array(net.biases[layer]),
                  layer == net.n_layers - 1, wd_before, wd_balanced,
                  {"rebalance": t1 - t0, "features": t2 - t1})


# =============================================================================================
# solvers
# =============================================================================================

def _singular_values(M: np.ndarray) -> np.ndarray:
    """The singular values of M, with single-threaded BLAS (on the shared 2-core machine a
    threaded SVD of a 1257 x 52 matrix spiked from 2 ms to 0.45 s)."""
    if M.size == 0:
        return np.zeros(0)
    from .prox import _single_thread
    with _single_thread():
        return np.linalg.svd(M, compute_uv=False)


def _count_above(s: np.ndarray, rtol: float) -> int:
    """#{i : s_i > rtol * s_1} (0 when s is empty or zero)."""
    return int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0


def _numerical_rank(M: np.ndarray, rtol: float = _RANK_RTOL) -> int:
    """#{i : s_i > rtol * s_1} over the singular values of M."""
    return _count_above(_singular_values(M), rtol)


def _center(M: np.ndarray, intercept: bool) -> np.ndarray:
    """P M, P the projector off the ones column (identity without intercept)."""
    return M - M.mean(axis=0) if intercept else M


def _width_bounds(Phi: np.ndarray, F: np.ndarray, intercept: bool
                  ) -> tuple[int, tuple[int, int], int]:
    """(bound, (r_Phi, r_F), effective bound) of CompressionReport, from one SVD of P Phi and
    one of P F: bound = rank(P Phi) * rank(P F) (D > 1), min(N - r_aff, rank(P Phi)) for one
    output, at the threshold _RANK_RTOL; the effective ranks and bound the same at
    EFFECTIVE_RTOL."""
    sP = _singular_values(_center(Phi, intercept))
    sF = _singular_values(_center(F, intercept))
    rP, rP_eff = _count_above(sP, _RANK_RTOL), _count_above(sP, EFFECTIVE_RTOL)
    rF_eff = _count_above(sF, EFFECTIVE_RTOL)
    if F.shape[1] == 1:
        cap = Phi.shape[0] - int(intercept)
        return min(cap, rP), (rP_eff, rF_eff), min(cap, rP_eff)
    return rP * _count_above(sF, _RANK_RTOL), (rP_eff, rF_eff), rP_eff * rF_eff


def _native_available() -> bool:
    return hasattr(backends, "NATIVE")


def _min_norm_exact(Phi: np.ndarray, Psi: np.ndarray, V_feas: np.ndarray, solver: str,
                    tol: float) -> Solution:
    """(MIN) with eps = 0 by the null-space parametrization ``V = V_feas + Z B``.

    ``V_feas`` is any feasible point (the trained weights: Phi V_feas = Psi exactly). Neurons with
    zero features on X get V_k = 0 (they only add to the objective). Z (K_live, n0) is an
    orthonormal basis of null(Phi_live) (singular values <= 1e-10 * the largest); with n0 = 0 the
    feasible set is the single point V_feas. Otherwise the n0 * D-variable SOCP
    ``min_B sum_k |V_feas[k] + Z[k] B|_2`` is solved with CVXPY. The dual point is
    ``L = pinv(Phi^T) U`` with U_k = V_k / |V_k| on the support and, off it, the least-squares
    completion with Z^T U = 0; :func:`nnlasso.duality.min_norm_dual` scales it to feasibility and
    gives nnlasso's gap.
    """
    from .duality import gaps, min_norm_dual

    t0 = time.perf_counter()
    K, D = V_feas.shape
    col = np.linalg.norm(Phi, axis=0)
    live = np.flatnonzero(col > _RANK_RTOL * max(col.max(initial=0.0), np.finfo(float).tiny))
    V = np.zeros((K, D))
    PhiL = Phi[:, live]
    U_svd, s, Vt = np.linalg.svd(PhiL, full_matrices=PhiL.shape[0] < PhiL.shape[1])
    r = int(np.sum(s > _RANK_RTOL * s[0])) if s.size and s[0] > 0 else 0
    Z = Vt[r:].T                                            # (K_live, n0)
    V0 = V_feas[live]
    name, status, t_solve = "nullspace", "optimal", 0.0
    if Z.shape[1] == 0:
        VL = V0.copy()
    else:
        import cvxpy as cp
        name = backends.resolve(solver if solver.upper() not in ("AUTO", "PROX") else "auto",
                                is_qp=False)
        moving = np.flatnonzero(np.linalg.norm(Z, axis=1) > 1e-12)
        B = cp.Variable((Z.shape[1], D))
        expr = V0[moving] + Z[moving] @ B
        obj = cp.sum(cp.norm(expr, 2, axis=1)) if D > 1 else cp.norm1(expr)
        prob = cp.Problem(cp.Minimize(obj))
        run = backends.solve(prob, name, tol, None)
        t_solve = run["solve"]
        if B.value is None or run["status"] in ("error", "infeasible"):
            raise SolverError(f"{name} returned status {run['cvxpy_status']!r} on the exact "
                              "min-norm program; try another solver")
        status = run["status"]
        VL = V0 + Z @ np.asarray(B.value).reshape(Z.shape[1], D)
    V[live] = VL
    # dual point
    nrm = np.linalg.norm(VL, axis=1)
    on = nrm > 1e-9 * max(nrm.max(initial=0.0), np.finfo(float).tiny)
    U = np.zeros_like(VL)
    U[on] = VL[on] / nrm[on, None]
    if Z.shape[1] and np.any(~on):
        # complete U off the support so that Z^T U = 0 (U in the row space of Phi)
        rhs = -(Z[on].T @ U[on])
        U[~on] = np.linalg.lstsq(Z[~on].T, rhs, rcond=None)[0]
    elif Z.shape[1]:
        U = U - Z @ (Z.T @ U)
    L = U_svd[:, :r] @ ((Vt[:r] @ U) / s[:r, None]) if r else np.zeros_like(Psi)
    dual, _ = min_norm_dual(Phi, Psi, L, np.zeros((Phi.shape[0], 0)), 0.0)
    primal = float(np.sum(np.linalg.norm(V, axis=1)))
    gap, rel = gaps(primal, dual)
    resid = float(np.linalg.norm(Phi @ V - Psi) / max(np.linalg.norm(Psi), np.finfo(float).tiny))
    total = time.perf_counter() - t0
    return Solution(V=V, skip_coef=None, intercept=None, objective=primal, dual_objective=dual,
                    gap=gap, rel_gap=rel, active=active_set(V), status=status, solver=name,
                    times={"build": 0.0, "compile": 0.0, "solve": t_solve, "total": total},
                    problem="min_norm", eps=0.0,
                    info={"residual": resid, "nullity": int(Z.shape[1]),
                          "dead_on_data": int(K - live.size)})


def _label_targets(net: MLP, y: np.ndarray) -> tuple[np.ndarray, str]:
    """Encoded labels and the loss of the label-aware program."""
    if not net.is_classifier:
        return np.asarray(y, dtype=float), "squared"
    idx = np.searchsorted(np.sort(net.classes), y)
    order = np.argsort(net.classes)
    codes = order[idx]                      # position of each label in net.classes
    if net.out_activation == "softmax":
        missing = np.setdiff1d(np.arange(net.n_outputs), codes)
        if missing.size:
            raise InvalidProblemError(f"y: class {net.classes[missing[0]]!r} does not occur in y; "
                                      "the label-aware program needs every class of the network")
        return codes, "softmax"
    return codes.astype(float), "logistic"


def _lasso_solver(solver: str) -> str:
    if solver.upper() == "AUTO":
        return "prox" if _native_available() else "CLARABEL"
    return solver


def _solve(prep: _Layer, program: str, eps: float, lam: float | None, lam_ratio: float | None,
           y: np.ndarray | None, intercept: bool, solver: str, tol: float | None
           ) -> tuple[Solution, np.ndarray, str, float | None]:
    """Run the convex program. Returns (solution, target, loss, lam)."""
    Phi, Psi = prep.Phi, prep.Psi
    skip = "intercept" if intercept else None
    kw = {} if tol is None else {"tol": tol}
    if program == "exact":
        return (_min_norm_exact(Phi, Psi, prep.V_out, solver, tol or 1e-9), Psi, "squared",
                None)
    if program == "eps":
        # "auto": SCS, CLARABEL when SCS is not certified (measured: lasso.MIN_NORM_EPS_AUTO)
        return solve_min_norm(Phi, Psi, eps=eps, skip=skip, solver=solver, **kw), Psi, "squared", None
    if program == "lam":
        T, loss = Psi, "squared"
    else:
        T, loss = _label_targets(prep.net, y)
    if lam is None:
        lam = lam_ratio * lam_max(Phi, T, loss=loss, skip=skip)
    sol = solve_lasso(Phi, T, lam, loss=loss, skip=skip, solver=_lasso_solver(solver), **kw)
    return sol, T, loss, lam


def _reduce(sol: Solution, Phi: np.ndarray, intercept: bool, Y: np.ndarray
            ) -> tuple[Solution, bool]:
    """Support reduction, skipped when the active features are independent (see module doc)."""
    S = sol.active
    if S.size == 0:
        return sol, False
    if _numerical_rank(_center(Phi[:, S], intercept)) == S.size:
        return sol, False
    try:
        from .representer import reduce_support
    except ImportError:  # pragma: no cover - representer ships with nnlasso
        return _reduce_fallback(sol, Phi, intercept), True
    return reduce_support(sol, Phi, skip="intercept" if intercept else None, Y=Y), True


def _reduce_fallback(sol: Solution, Phi: np.ndarray, intercept: bool) -> Solution:
    """Caratheodory reduction (docs/math.md): c <- c - t alpha along null vectors of [a_k]."""
    V = sol.V.copy()
    S = list(sol.active)
    F = _center(Phi, intercept)
    while len(S) > 1:
        c = np.linalg.norm(V[S], axis=1)
        E = V[S] / c[:, None]
        R = np.linalg.qr(F[:, S], mode="r")
        A = np.einsum("ik,kd->idk", R, E).reshape(-1, len(S))
        _, s, Wt = np.linalg.svd(A, full_matrices=False)
        if s.size == len(S) and s[-1] > _RANK_RTOL * s[0]:
            break
        alpha = Wt[-1] if s.size == len(S) else np.linalg.svd(A)[2][-1]
        if alpha.sum() < 0:
            alpha = -alpha
        pos = alpha > 0
        t = float(np.min(c[pos] / alpha[pos]))
        c = c - t * alpha
        keep = c > 1e-12 * c.max()
        V[S] = c[:, None] * E
        V[np.asarray(S)[~keep]] = 0.0
        S = list(np.asarray(S)[keep])
    c0 = sol.intercept
    if intercept and c0 is not None:
        c0 = c0 + (Phi @ (sol.V - V)).mean(axis=0)
    return sol.with_V(V, intercept=c0, objective=float(np.sum(np.linalg.norm(V, axis=1))))


def _refit(Phi_S: np.ndarray, Psi: np.ndarray, V_S: np.ndarray, c: np.ndarray,
           intercept: bool) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares correction ``[V_S; c] += pinv([Phi_S 1]) (Psi - Phi_S V_S - 1 c)``."""
    M = np.hstack([Phi_S, np.ones((Phi_S.shape[0], 1))]) if intercept else Phi_S
    R = Psi - Phi_S @ V_S - c
    delta = np.linalg.lstsq(M, R, rcond=None)[0]
    if intercept:
        return V_S + delta[:-1], c + delta[-1]
    return V_S + delta, c


# =============================================================================================
# evaluation
# =============================================================================================

def _loss(net: MLP, Z: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy (classifiers) or mean squared error (regressors) at raw outputs Z."""
    if not net.is_classifier:
        T = np.asarray(y, dtype=float).reshape(Z.shape)
        return float(np.mean((Z - T) ** 2))
    codes, loss = _label_targets(net, y)
    if loss == "softmax":
        m = Z.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))[:, 0]
        return float(np.mean(lse - Z[np.arange(Z.shape[0]), codes]))
    z = Z[:, 0]
    s = 2.0 * codes - 1.0
    return float(np.mean(np.logaddexp(0.0, -s * z)))


def _scores(net: MLP, Z: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return net.score(X, y), _loss(net, Z, y)


# =============================================================================================
# public API
# =============================================================================================

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
    sol, reduced = _reduce(sol, prep.Phi, intercept or program == "label", Y_red)
    t2 = time.perf_counter()
    S = sol.active
    V_S = sol.V[S]
    c = np.zeros(prep.Psi.shape[1]) if sol.intercept is None else np.array(sol.intercept)
    if refit and program != "label":
        V_S, c = _refit(prep.Phi[:, S], prep.Psi, V_S, c, intercept)
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
    from .losses import get_loss
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
    X = _check_inputs(net, X)
    y = _check_labels(net, X, y, "y")
    if X_test is not None:
        X_test = _check_inputs(net, X_test, "X_test")
        y_test = _check_labels(net, X_test, y_test, "y_test")
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
        from .deep_compress import compress_deep
        return compress_deep(mlp, X, **kw)  # type: ignore[return-value]
    t_start = time.perf_counter()
    net = _as_mlp(mlp)
    X = _check_inputs(net, X)
    y = _check_labels(net, X, y, "y")
    if X_test is not None:
        X_test = _check_inputs(net, X_test, "X_test")
        y_test = _check_labels(net, X_test, y_test, "y_test")
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
    X = _check_inputs(net, X)
    y = _check_labels(net, X, y, "y")
    if X_test is not None:
        X_test = _check_inputs(net, X_test, "X_test")
        y_test = _check_labels(net, X_test, y_test, "y_test")
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
