"""Convex training of shallow ReLU networks: :func:`fit_shallow` and :class:`ShallowFit`.

Weight-decay training of f(x) = sum_k v_k relu(w_k . x - b_k) + C x + c0 over a dictionary of
unit-norm neurons (w_k, b_k) is the multitask lasso

    min_{V, C, c0} sum_n L(y_n, f(x_n)) + lam * sum_k |v_k|_2                        (MTL)

(by neural balance, 1/2 sum_k (|w_k|^2 + |v_k|^2) >= sum_k |w_k| |v_k| with equality when
balanced). ``fit_shallow`` builds the dictionary, solves (MTL) with nnlasso's certified gap and
returns the balanced network.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import as_matrix, check_positive, check_seed
from .affine import skip_argument, skip_mode, skip_of
from .dictionary import NeuronDictionary, knot_neurons, sample_neurons
from .errors import InvalidProblemError
from .lasso import lam_max, solve_lasso
from .losses import get_loss
from .memory import check_memory
from .networks import ShallowReLUNet

DICTIONARIES = ("data", "sphere", "knots", "patterns", "gated", "adaptive")


@dataclass
class ShallowFit:
    """Result of :func:`fit_shallow`.

    Attributes
    ----------
    net : the balanced :class:`~nnlasso.networks.ShallowReLUNet` (|w_k| = |v_k|).
    solution : the program's solution with its duality gap: a
        :class:`~nnlasso.solution.Solution` over ``dictionary`` ("gated" included: the lasso
        refit over the relaxation's neurons, whose ``PatternSolution`` is ``info["gated"]``),
        or a ``PatternSolution`` for the exact pattern program ("patterns").
    dictionary : the neurons (unit input weights) the program was solved over.
    objective : data loss of ``net`` + lam * net.path_norm(), evaluated on the training data.
    X, Y, lam, loss, skip : the training problem (skip: "linear", "intercept" or None).
    Phi : dictionary features on X (None for "patterns").
    width, reduced : the width report and the support-reduced solution when ``verify=True``.
    info : extra diagnostics (column-generation rounds, times, ...).
    """

    net: ShallowReLUNet
    solution: Any
    dictionary: NeuronDictionary
    objective: float
    X: np.ndarray
    Y: np.ndarray
    lam: float
    loss: str
    skip: str | None
    Phi: np.ndarray | None = None
    width: Any = None
    reduced: Any = None
    info: dict = field(default_factory=dict)

    @property
    def skip_arg(self) -> Any:
        """The ``skip=`` argument of the solvers for this fit (X, "intercept" or None)."""
        return skip_argument(self.skip, self.X)

    @property
    def gap(self) -> float:
        return float(self.solution.gap)

    @property
    def rel_gap(self) -> float:
        return float(self.solution.rel_gap)

    def predict(self, X: Any) -> np.ndarray:
        """Outputs of the fitted network (logits for classification losses)."""
        return self.net.predict(X)

    def summary(self) -> str:
        return (f"ShallowFit({self.loss}, lam={self.lam:.4g}): {self.net.n_neurons} neurons from a "
                f"dictionary of {self.dictionary.K}, objective={self.objective:.10g}, "
                f"gap={self.gap:.3g} (rel {self.rel_gap:.3g}), status={self.solution.status}")

    __repr__ = summary


def _dictionary(kind: Any, X: np.ndarray, n_neurons: int, seed: Any) -> NeuronDictionary:
    if isinstance(kind, NeuronDictionary):
        if kind.d != X.shape[1]:
            raise InvalidProblemError(f"dictionary: has input dimension {kind.d} but X has "
                                      f"{X.shape[1]} columns")
        return kind
    if kind in ("data", "sphere"):
        return sample_neurons(X, n_neurons, method=kind, seed=seed)
    if kind == "knots":
        if X.shape[1] != 1:
            raise InvalidProblemError(f"dictionary='knots' is exact only for 1-D inputs, X has "
                                      f"{X.shape[1]} columns; use 'data' or 'adaptive'")
        return knot_neurons(X[:, 0])
    raise InvalidProblemError(f"dictionary: unknown kind {kind!r}; choose one of {DICTIONARIES} "
                              "or pass a NeuronDictionary")


def _check_fit_memory(X: np.ndarray, D: int, dictionary: Any, n_neurons: int,
                      n_patterns: int | None) -> None:
    """The memory guard (:mod:`nnlasso.memory`) before any feature matrix or program is built:
    K = the dictionary's size (N + 1 knots; 2 (d + 1) per pattern for the pattern programs,
    whose blocks are D_i [X, -1])."""
    N, d = X.shape
    if isinstance(dictionary, NeuronDictionary):
        K, what = dictionary.K, "dictionary"
    elif dictionary == "knots":
        K, what = N + 1, "X"
    elif dictionary in ("patterns", "gated"):
        K = 2 * (d + 1) * (n_patterns if n_patterns is not None else n_neurons)
        what = "n_patterns" if n_patterns is not None else "n_neurons"
    else:
        K, what = int(n_neurons), "n_neurons"
    fix = (f"lower {what} or use fewer samples (subsample X)" if what != "X" else
           "use fewer samples (subsample X) or dictionary='data' with a smaller n_neurons")
    if D > 50:
        fix += (f"; D = {D} outputs: for classification labels these are the classes, so if "
                "the targets are really numbers, fit a regression (loss='squared', "
                "ConvexReLURegressor)")
    check_memory(N, d, D, K, what=what, fix=fix)


class ZeroLamMaxError(InvalidProblemError):
    """``lam_ratio`` on data whose lam_max is (numerically) zero: the unpenalized skip alone
    fits them, so lam = lam_ratio * lam_max = 0 for every ratio.

    Attributes
    ----------
    lam_max : the (numerically zero) lam_max with the skip.
    lam_max_no_skip : lam_max of the same features without the skip (the data's own scale).
    reason : why lam_max is zero, for the message (the field and the fix are the caller's).
    lam_floor : 1e-12 * max|Phi| * sqrt(N), the smallest lam :meth:`affine_lam` returns.
    where : which part of a larger problem it concerns ("hidden layer 2"; "" for the whole),
        set by callers that check several lam_max.
    """

    def __init__(self, message: str, lam_max: float, lam_max_no_skip: float, reason: str,
                 lam_floor: float = 0.0):
        super().__init__(message)
        self.lam_max = lam_max
        self.lam_max_no_skip = lam_max_no_skip
        self.reason = reason
        self.lam_floor = lam_floor
        self.where = ""

    def affine_lam(self, ratio: float) -> float:
        """lam = ratio * max(lam_max0, lam_floor) for a squared loss whose data the skip fits
        exactly (V = 0 is then optimal for every lam: the affine fit; lam_max0, the lam_max
        without the skip, keeps lam on the scale of the data): what the scikit-learn
        estimators, which must fit any regression target, use instead of refusing."""
        return float(ratio) * max(self.lam_max_no_skip, self.lam_floor)


#: lam_max <= ZERO_LAM_MAX_RTOL * (lam_max without the skip) counts as lam_max = 0
ZERO_LAM_MAX_RTOL = 1e-9

_EPS = float(np.finfo(float).eps)


def product_rounding(A: np.ndarray, B: np.ndarray) -> float:
    """Bound on the rounding error of a computed product, |fl(A B) - A B|_F.

    |fl(A B) - A B| <= gamma_K |A| |B| entrywise, gamma_K = K eps / (1 - K eps), K = the inner
    dimension (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. (3.13);
    it holds for any order of summation, blocked BLAS and fused multiply-adds included), so
    the bound is gamma_K |(|A| |B|)|_F. Pass it as ``rounding`` to :func:`checked_lam_max` when
    the target is such a product (a layer's output Psi = Phi V): it is on the scale of the
    terms summed into the target, not of the target itself, so outputs of neurons that cancel
    (v and -v on one feature: Psi ~ 1e-17 with O(1) features) are recognized as zero while a
    target that is genuinely small (data in units of 1e-12, with its terms) is not.
    """
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    K = A.shape[1]
    gamma = K * _EPS / max(1.0 - K * _EPS, _EPS)
    return float(gamma * np.linalg.norm(np.abs(A) @ np.abs(B)))


def _skip_residual(Y: np.ndarray, skip: Any, N: int) -> tuple[np.ndarray, int]:
    """(P Y, r): Y with its least-squares fit by the r free affine columns of ``skip``
    removed."""
    from .affine import affine_basis, project_out, skip_parts
    basis = affine_basis(*skip_parts(skip, N), N)
    return project_out(np.asarray(Y, dtype=float).reshape(N, -1), basis), basis.shape[1]


def checked_lam_max(Phi: np.ndarray, Y: np.ndarray, loss: str, skip: Any, *,
                    rounding: float = 0.0) -> float:
    """lam_max of :func:`nnlasso.lam_max`, refusing a numerically zero one.

    lam_max = max_k |Phi_k^T Q0| with Q0 = -grad L at the best skip-only fit. It counts as
    zero (the skip alone fits the data: an exact affine fit, or classes it separates, and
    every lam_ratio gives lam = 0) when either test holds:

    * relative: lam_max <= 1e-9 * lam_max0, lam_max0 = the same with no skip (Q0 = -grad L(0),
      the data's own scale; also zero for Y = 0 under the squared loss);
    * rounding (squared loss): the skip-fit residual is at the rounding level of its own
      computation, |P Y|_F <= rounding + (N + r) eps |Y|_F, with P the projection off the
      r free affine columns and ``rounding`` a bound on the error with which Y itself was
      computed (:func:`product_rounding` for Y = Phi V). The second term is the projection's
      own rounding, relative to Y, so the test is scale-free: data in units of 1e-12 are
      judged as in units of 1. The relative test cannot see a target that is rounding noise
      throughout (Psi = phi v - phi v evaluated with fused multiply-adds, ~1e-17 entries with
      O(1) features: lam_max and lam_max0 are both noise, their ratio O(1)); ``rounding``,
      on the scale of the terms summed into Y, does.

    Parameters
    ----------
    Phi : (N, K) features.   Y : targets (labels for the classification losses).
    loss : loss name.   skip : the solvers' ``skip=`` argument (X, "intercept" or None).
    rounding : bound on |fl(Y) - Y|_F for a computed target (0: Y is data, exact as given).

    Raises
    ------
    ZeroLamMaxError
        (an :class:`InvalidProblemError`) naming ``lam_ratio``, why, and the fix.
    """
    lm = lam_max(Phi, Y, loss=loss, skip=skip)
    lm0 = lm if skip is None else lam_max(Phi, Y, loss=loss, skip=None)
    name = get_loss(loss).name
    noise = False
    if name == "squared" and lm > ZERO_LAM_MAX_RTOL * lm0:
        R, r = _skip_residual(Y, skip, Phi.shape[0])
        r_norm = float(np.linalg.norm(R))
        bound = float(rounding) + (Phi.shape[0] + r) * _EPS * float(np.linalg.norm(Y))
        noise = r_norm <= bound
    if lm > ZERO_LAM_MAX_RTOL * lm0 and not noise:
        return float(lm)
    if noise:
        reason = (f"the target is at the rounding level of its own computation (the part the "
                  f"skip does not fit has norm {r_norm:.3g} <= {bound:.3g}, the bound on "
                  "rounding; e.g. the outputs of neurons that cancel)")
        fix = "give lam directly (any lam > 0 then gives V = 0, the affine fit)"
    elif name == "squared":
        reason = ("the data are fit exactly by the unpenalized part (the skip C x + c0 or "
                  "the intercept: a constant or affine target)")
        fix = "give lam directly (any lam > 0 then gives V = 0, the affine fit)"
    else:
        reason = ("the unpenalized part (the skip C x + c0 or the intercept) alone fits the "
                  "labels (linearly separable classes)")
        fix = "use a smaller skip (skip='intercept' or False), or give lam directly"
    msg = (f"lam_ratio: lam_max = {lm:.3g} is (numerically) zero ({lm0:.3g} without the skip): "
           f"{reason}, so every lam_ratio gives lam = 0; {fix}")
    floor = 1e-12 * float(np.abs(Phi).max(initial=0.0) or 1.0) * max(1.0, np.sqrt(Phi.shape[0]))
    raise ZeroLamMaxError(msg, float(lm), float(lm0), reason, floor)


def _lam_from_ratio(ratio: float, Phi: np.ndarray, Y: np.ndarray, loss: str, skip: Any, *,
                    affine_fallback: bool = False) -> float:
    """lam = ratio * lam_max, refusing a degenerate lam_max (the skip alone fits the data)
    with :class:`ZeroLamMaxError`; with ``affine_fallback`` (the scikit-learn estimators) a
    squared loss whose data the skip fits exactly gets :meth:`ZeroLamMaxError.affine_lam`."""
    try:
        return float(ratio) * checked_lam_max(Phi, Y, loss, skip)
    except ZeroLamMaxError as exc:
        if not (affine_fallback and get_loss(loss).name == "squared"):
            raise
        return exc.affine_lam(ratio)


def ratio_features(X: np.ndarray, dictionary: Any, n_neurons: int, seed: Any) -> np.ndarray:
    """The features whose lam_max sets lam = lam_ratio * lam_max in :func:`fit_shallow`: the
    dictionary's ("data", "sphere", "knots", a NeuronDictionary), or a "data" probe of
    ``n_neurons`` neurons for "patterns", "gated" and "adaptive"."""
    if isinstance(dictionary, str) and dictionary in ("patterns", "gated", "adaptive"):
        return sample_neurons(X, n_neurons, method="data", seed=seed).features(X)
    return _dictionary(dictionary, X, n_neurons, seed).features(X)


def _net_objective(net: ShallowReLUNet, X: np.ndarray, T: np.ndarray, loss: Any,
                   lam: float) -> float:
    Z = np.asarray(net.predict(X), dtype=float).reshape(T.shape[0], -1)
    return loss.value(Z, T) + lam * net.path_norm()


def fit_shallow(X: Any, Y: Any, lam: float | None = None, *, lam_ratio: float | None = None,
                dictionary: Any = "data", n_neurons: int = 2000, loss: str = "squared",
                skip: Any = True, solver: str = "auto", seed: Any = None, tol: float = 1e-8,
                active_tol: float = 1e-6, options: dict | None = None, verify: bool = False,
                n_patterns: int | None = None, bias: str | None = None,
                cert_tol: float = 1e-6, max_rounds: int = 50,
                verbose: bool = False) -> ShallowFit:
    """Train a shallow ReLU network with weight decay as a convex program.

    min_{V, C, c0} sum_n L(y_n, sum_k v_k relu(w_k . x_n - b_k) + C x_n + c0) + lam sum_k |v_k|

    over the neurons (w_k, b_k), |w_k| = 1, of ``dictionary``; the returned network is balanced
    (w_k, b_k, v_k) -> (a w_k, a b_k, v_k / a), a = sqrt|v_k|, so that its weight decay equals
    its path norm and ``objective`` = data loss + lam * path norm.

    Parameters
    ----------
    X : (N, d) inputs.   Y : (N, D) or (N,) targets (labels for logistic / softmax / hinge).
    lam : regularization > 0; or ``lam_ratio`` in (0, 1]: lam = lam_ratio * lam_max.
    dictionary : "data" (hyperplanes through data points), "sphere", "knots" (1-D, exact),
        "patterns" (exact activation-pattern program, one output), "gated" (its gated-ReLU
        relaxation selects the neurons, the lasso over them gives the network), "adaptive"
        (column generation until certified over all neurons), or a relu
        :class:`NeuronDictionary`.
    n_neurons : dictionary size for "data" / "sphere" (initial size for "adaptive").
    loss : a name of :data:`nnlasso.losses.LOSSES` ("squared", "logistic", "softmax",
        "hinge"; as in :func:`nnlasso.solve_lasso`).   skip : True (C x + c0), "intercept" or
        False.
    solver, tol, active_tol, options : as in :func:`nnlasso.solve_lasso`.
    verify : apply :func:`nnlasso.representer.check_width` and ``reduce_support``; the network
        is then built from the reduced solution (same fit, objective not larger).
    n_patterns : number of sampled patterns for "patterns" / "gated" (None: enumerate all).
    bias : "patterns" / "gated" only: the bias convention of :func:`nnlasso.solve_patterns`
        ("unpenalized", "penalized" = Pilanci-Ergen; None: that function's default).
    cert_tol : "adaptive": stop when sup |eta| / lam <= 1 + cert_tol (certified).
    max_rounds : "adaptive": cap on the column-generation rounds; a fit that is not certified
        by then warns (``fit.info["column_generation"].certified`` is False).
    verbose : log progress ("adaptive": one line per column-generation round; "patterns" /
        "gated": one per working-set round) at INFO on the ``"nnlasso"`` logger, shown on
        stderr unless the application has configured logging. Nothing is printed to stdout.
    """
    t0 = time.perf_counter()
    X = as_matrix(X, "X", allow_1d=True)
    Yarr = np.asarray(Y)
    if Yarr.ndim == 0 or Yarr.shape[0] != X.shape[0]:
        raise InvalidProblemError(f"Y: needs one row per sample of X ({X.shape[0]}), got shape "
                                  f"{Yarr.shape}")
    if (lam is None) == (lam_ratio is None):
        raise InvalidProblemError("lam: give exactly one of lam and lam_ratio")
    if lam_ratio is not None:
        lam_ratio = check_positive(lam_ratio, "lam_ratio", upper=1.0, example="0.05")
    check_seed(seed)
    mode = skip_mode(skip)
    skip_arg = X if mode == "linear" else mode
    lossobj = get_loss(loss)
    info: dict[str, Any] = {}
    _check_fit_memory(X, lossobj.encode(Yarr).T.shape[1], dictionary, n_neurons, n_patterns)

    if isinstance(dictionary, str) and dictionary in ("patterns", "gated"):
        return _fit_patterns(X, Yarr, lam, lam_ratio, dictionary, n_neurons, lossobj, mode,
                             skip_arg, solver, seed, tol, options, n_patterns, t0, bias, verify,
                             verbose)
    if bias is not None:
        raise InvalidProblemError("bias: applies to dictionary='patterns' or 'gated' only (a "
                                  "dictionary's neurons have no penalized bias); drop it")

    if isinstance(dictionary, str) and dictionary == "adaptive":
        from . import representer
        if lam is None:
            probe = sample_neurons(X, n_neurons, method="data", seed=seed)
            lam = _lam_from_ratio(lam_ratio, probe.features(X), Yarr, loss, skip_arg)
        dic, sol, cg = representer.column_generation(
            X, Yarr, lam, loss=loss, skip=skip_arg, n_init=min(n_neurons, 50), seed=seed,
            solver=solver, tol=cert_tol, solver_tol=tol, max_rounds=max_rounds,
            verbose=verbose)
        info["column_generation"] = cg
        if not cg.certified:
            what = (f"sup |eta| / lam = {cg.max_ratio:.6g}" if cg.exact else
                    f"{cg.max_ratio:.6g} <= sup |eta| / lam <= {cg.upper_ratio:.6g}, "
                    "ascent oracle")
            gap = cg.certificate.rel_gap if cg.certificate is not None else None
            warnings.warn(f"dictionary='adaptive': not certified after {cg.rounds} round(s) "
                          f"({what}; 1 + {cert_tol:g} needed; certified relative gap "
                          f"{'unknown' if gap is None else format(gap, '.3g')}); the fit is "
                          "optimal over its dictionary only: raise max_rounds (or, in d >= 3, "
                          "use representer.column_generation with a longer bound_time)",
                          RuntimeWarning, stacklevel=2)
        Phi = dic.features(X)
    else:
        dic = _dictionary(dictionary, X, n_neurons, seed)
        dic.require_group_lasso("fit_shallow")
        if dic.activation != "relu":
            raise InvalidProblemError(
                f"dictionary: fit_shallow returns a ShallowReLUNet (relu neurons), but the "
                f"dictionary's activation is {dic.activation!r}; for it, solve the program "
                "directly: nl.solve_lasso(dic.features(X), Y, lam, skip=X)")
        Phi = dic.features(X)
        if lam is None:
            lam = _lam_from_ratio(lam_ratio, Phi, Yarr, loss, skip_arg)
        sol = solve_lasso(Phi, Yarr, lam, loss=loss, skip=skip_arg, solver=solver, tol=tol,
                          active_tol=active_tol, options=options)
    reduced, width = _verify_solution(sol, Phi, skip_arg, Yarr) if verify else (None, None)
    net = _network(dic, sol if reduced is None else reduced, X.shape[1], Yarr)
    T = lossobj.encode(Yarr).T
    objective = _net_objective(net, X, T, lossobj, float(lam))
    info["time"] = time.perf_counter() - t0
    return ShallowFit(net=net, solution=sol, dictionary=dic, objective=objective, X=X, Y=Yarr,
                      lam=float(lam), loss=lossobj.name, skip=mode, Phi=Phi, width=width,
                      reduced=reduced, info=info)


def _verify_solution(sol: Any, Phi: np.ndarray, skip_arg: Any, Y: np.ndarray) -> tuple:
    """``verify=True``: (reduce_support(sol), check_width of the reduced solution)."""
    from . import representer
    reduced = representer.reduce_support(sol, Phi, skip=skip_arg, Y=Y)
    return reduced, representer.check_width(reduced, Phi, skip=skip_arg, Y=Y)


def _verify_network(net: ShallowReLUNet, X: np.ndarray, Y: np.ndarray, lam: float,
                    loss: str) -> tuple[ShallowReLUNet, Any, Any]:
    """``verify=True`` for a network read off the pattern program: support reduction of its
    neurons (:func:`nnlasso.representer.reduce_network`) and the width check over them.

    A neuron with w = 0 (the constant relu(-b), no path norm; see solve_patterns) is an
    unpenalized constant: it is folded into the intercept first, which keeps the function.
    """
    from . import representer
    W, b, V = net.W, net.b, net.V
    const = np.linalg.norm(W, axis=1) == 0
    c0 = net.intercept
    if const.any():
        extra = np.maximum(-b[const], 0.0) @ V[const]
        c0 = extra if c0 is None else c0 + extra
        W, b, V = W[~const], b[~const], V[~const]
    red = representer.reduce_network(W, b, V, X, skip_coef=net.skip_coef, intercept=c0, Y=Y,
                                     lam=lam, loss=loss)
    skip = skip_of(X, net.skip_coef is not None, c0 is not None)
    # the features reduce_network solved over: the unit-normalized neurons
    Phi = NeuronDictionary(W, b).features(X)
    width = representer.check_width(red.solution, Phi, skip=skip, Y=Y)
    small = ShallowReLUNet(red.W, red.b, _one_output(red.V, Y), skip_coef=red.skip_coef,
                           intercept=red.intercept)
    return small, red.solution, width


def _one_output(V: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """V as (K,) when the targets were a vector with one output (the net then predicts (N,),
    like the estimators and :class:`~nnlasso.MLP`), else (K, D)."""
    return V[:, 0] if np.ndim(Y) == 1 and V.shape[1] == 1 else V


def _network(dic: NeuronDictionary, sol: Any, d: int, Y: np.ndarray) -> ShallowReLUNet:
    """The balanced network of the active neurons of ``sol`` over ``dic``."""
    act = np.asarray(sol.active, dtype=int)
    V = _one_output(np.asarray(sol.V)[act], Y)
    skip_coef = None if sol.skip_coef is None else np.asarray(sol.skip_coef)
    intercept = None if sol.intercept is None else np.asarray(sol.intercept)
    net = ShallowReLUNet(dic.W[act], dic.b[act], V, skip_coef=skip_coef, intercept=intercept)
    return net.rebalance()


def _fit_patterns(X, Y, lam, lam_ratio, kind, n_neurons, lossobj, mode, skip_arg, solver, seed,
                  tol, options, n_patterns, t0, bias=None, verify=False,
                  verbose=False) -> ShallowFit:
    from .patterns import fit_patterns
    if lam is None:
        probe = sample_neurons(X, n_neurons, method="data", seed=seed)
        lam = _lam_from_ratio(lam_ratio, probe.features(X), Y, lossobj.name, skip_arg)
    psol = fit_patterns(X, Y, lam, n_patterns=n_patterns, seed=seed, cone=(kind == "patterns"),
                        loss=lossobj.name, skip=skip_arg, solver=solver, tol=tol, options=options,
                        verbose=verbose, **({} if bias is None else {"bias": bias}))
    W = np.asarray(psol.W, dtype=float)
    b = np.asarray(psol.b, dtype=float)
    if kind == "gated":
        return _refit_gated(X, Y, lam, psol, W, b, lossobj, mode, skip_arg, solver, tol,
                            options, t0, verify)
    V = _one_output(np.asarray(psol.V, dtype=float).reshape(W.shape[0], -1), Y)
    net = ShallowReLUNet(W, b, V, skip_coef=psol.skip_coef, intercept=psol.intercept)
    # The dictionary holds the neurons on the sphere. Without an output bias in the model
    # (skip=None) the pattern program may return the constant neuron w = 0, b < 0 (relu(-b) on
    # every sample, no path norm, see solve_patterns); it is part of the net but has no
    # direction, so it is left out of the dictionary.
    on_sphere = np.linalg.norm(W, axis=1) > 0
    dic = NeuronDictionary(W[on_sphere], b[on_sphere]) if on_sphere.any() else \
        NeuronDictionary(np.zeros((0, X.shape[1])), np.zeros(0))
    reduced = width = None
    if verify and net.n_neurons:
        net, reduced, width = _verify_network(net, X, Y, float(lam), lossobj.name)
    T = lossobj.encode(Y).T
    objective = _net_objective(net, X, T, lossobj, float(lam))
    return ShallowFit(net=net, solution=psol, dictionary=dic, objective=objective, X=X, Y=Y,
                      lam=float(lam), loss=lossobj.name, skip=mode, Phi=None, width=width,
                      reduced=reduced, info={"time": time.perf_counter() - t0, "program": kind})


def _refit_gated(X, Y, lam, psol, W, b, lossobj, mode, skip_arg, solver, tol, options,
                 t0, verify=False) -> ShallowFit:
    """``dictionary="gated"``: the gated-ReLU relaxation chooses the neurons, a lasso fits them.

    A gated block's unit D_i X u_i is not a ReLU neuron (gate and weights differ), so the
    blocks' read-off network need not fit the data. The returned network is instead the (MTL)
    optimum over the dictionary of the read-off neurons (u_i, beta_i) / |u_i| and, for sampled
    patterns, the gates' own neurons (g_i, h_i) / |g_i|: ``fit.solution`` is that certified
    Solution (so ``fit.objective`` = ``fit.solution.objective``, data loss + lam * path norm of
    ``fit.net``), and the gated program's solution is ``fit.info["gated"]``.
    """
    Ws, bs = [W], [b]
    if psol.gates is not None:
        Ws.append(np.asarray(psol.gates[0], dtype=float))
        bs.append(np.asarray(psol.gates[1], dtype=float))
    Wd, bd = np.vstack(Ws), np.concatenate(bs)
    keep = np.linalg.norm(Wd, axis=1) > 0          # the constant neuron w = 0 has no direction
    if not keep.any():
        raise InvalidProblemError("dictionary='gated': the gated program selected no neuron "
                                  "(lam too large?); lower lam")
    dic = NeuronDictionary(Wd[keep], bd[keep]).unique()
    Phi = dic.features(X)
    sol = solve_lasso(Phi, Y, lam, loss=lossobj.name, skip=skip_arg, solver=solver, tol=tol,
                      options=options)
    reduced, width = _verify_solution(sol, Phi, skip_arg, Y) if verify else (None, None)
    net = _network(dic, sol if reduced is None else reduced, X.shape[1], Y)
    objective = _net_objective(net, X, lossobj.encode(Y).T, lossobj, float(lam))
    return ShallowFit(net=net, solution=sol, dictionary=dic, objective=objective, X=X, Y=Y,
                      lam=float(lam), loss=lossobj.name, skip=mode, Phi=Phi, width=width,
                      reduced=reduced, info={"time": time.perf_counter() - t0,
                                             "program": "gated", "gated": psol})
