"""The shared part of the scikit-learn estimators: their defaults, the refusal of regression
targets by a classifier, the accuracy test of a solve, and :class:`_ConvexReLUBase` (parameters,
fitted attributes, pickling, decision values)."""
from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from .._logging import progress
from ..errors import InvalidProblemError
from ..shallow import ShallowFit, ZeroLamMaxError, fit_shallow

logger = logging.getLogger("nnlasso.estimators")

#: Default ``lam_ratio`` of :class:`ConvexReLURegressor` (see its docstring for the measurement).
REGRESSOR_LAM_RATIO = 0.2
#: Default ``lam_ratio`` of :class:`ConvexReLUClassifier` (see its docstring for the measurement).
CLASSIFIER_LAM_RATIO = 0.01
#: Default grid of the CV estimators: 10 fractions of lam_max from 0.5 down to 0.005.
DEFAULT_LAM_RATIOS = tuple(float(r) for r in np.geomspace(0.5, 0.005, 10))
#: The classifier refuses targets with more than max(MAX_CLASSES, N / MIN_PER_CLASS) classes.
MAX_CLASSES = 50
MIN_PER_CLASS = 10


def _check_class_targets(y: np.ndarray, estimator: str) -> None:
    """Refuse regression targets given to a classifier, before any feature matrix is built.

    Continuous targets, or more than max(50, N / 10) distinct values (fewer than 10 samples per
    class on average), look like regression: a softmax over hundreds of "classes" has N x C
    logits and its program does not fit in memory.
    """
    kind = type_of_target(y)
    hint = ("it looks like a regression target: use nnlasso.ConvexReLURegressor (or "
            "ConvexReLURegressorCV), or bin the target into a few classes")
    if kind.startswith("continuous"):
        raise InvalidProblemError(f"y: Unknown label type: {kind} (non-integer values) for "
                                  f"{estimator}; {hint}")
    if kind in ("binary", "multiclass"):
        n_classes = np.unique(y).size
        limit = max(MAX_CLASSES, y.shape[0] // MIN_PER_CLASS)
        if n_classes > limit:
            raise InvalidProblemError(
                f"y: {n_classes} distinct values in {y.shape[0]} samples (more than "
                f"max({MAX_CLASSES}, N / {MIN_PER_CLASS}) = {limit} classes) for {estimator}; "
                f"{hint}")


def _null_loss(Y: np.ndarray, loss: str) -> float:
    """The data loss of the best constant prediction (the scale of the training objective):
    1/2 |Y - mean|^2 for the squared loss, N * entropy(class frequencies) for classification."""
    if loss == "squared":
        Y = np.asarray(Y, dtype=float)
        return 0.5 * float(np.sum((Y - Y.mean(axis=0)) ** 2))
    _, counts = np.unique(Y, return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(counts * np.log(p)))


def _inaccurate(sol: Any, Y: np.ndarray, loss: str, tol: float) -> bool:
    """A solve that did not end "optimal" and whose certified gap is also large against the
    loss of the constant prediction (when the skip alone fits the data, the objective is ~0 and
    its relative gap is meaningless rounding: that fit is not flagged)."""
    if sol.status == "optimal":
        return False
    scale = max(abs(float(sol.objective)), _null_loss(Y, loss))
    return not float(sol.gap) <= max(tol, 1e-6) * scale


def store_params(estimator: BaseEstimator, params: dict[str, Any]) -> None:
    """Keep an ``__init__``'s arguments ``params`` (its ``locals()``) as attributes, unchanged
    (scikit-learn's convention: the checks happen in ``fit``)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class _ConvexReLUBase(BaseEstimator):
    """Shared parameters and fitted attributes (see the estimators)."""

    _default_skip: Any = True

    def __init__(self, lam: float | None = None, lam_ratio: float = REGRESSOR_LAM_RATIO,
                 dictionary: Any = "data", n_neurons: int = 300, skip: Any = True,
                 solver: str = "auto", tol: float = 1e-8, seed: int | None = 0,
                 warm_start: bool = False, verbose: bool = False):
        store_params(self, locals())

    @staticmethod
    def _check_samples(X: np.ndarray) -> None:
        if X.shape[0] < 2:
            raise ValueError(f"n_samples = {X.shape[0]}: a convex ReLU fit needs at least 2 "
                             "samples")

    def _fit(self, X: np.ndarray, Y: np.ndarray, loss: str) -> ShallowFit:
        self._check_samples(X)
        dictionary = self.dictionary
        if (self.warm_start and hasattr(self, "dictionary_")
                and isinstance(dictionary, str) and dictionary in ("data", "sphere", "knots")
                and self.dictionary_.d == X.shape[1]):
            dictionary = self.dictionary_  # reuse the neurons of the previous fit
        lam, ratio = (self.lam, None) if self.lam is not None else (None, self.lam_ratio)
        # the pattern programs sample n_neurons patterns (enumerating all of them is feasible
        # only for tiny data; use fit_shallow(..., n_patterns=None) for that)
        n_pat = self.n_neurons if dictionary in ("patterns", "gated") else None
        kw = dict(dictionary=dictionary, n_neurons=self.n_neurons, loss=loss, skip=self.skip,
                  solver=self.solver, seed=self.seed, tol=self.tol, n_patterns=n_pat,
                  verbose=bool(self.verbose))
        try:
            fit = fit_shallow(X, Y, lam, lam_ratio=ratio, **kw)
        except ZeroLamMaxError as exc:
            if loss != "squared":
                raise
            # a regressor fits every target: when the skip fits Y exactly (lam_max = 0, e.g.
            # y a column of X) V = 0 is optimal for every lam (fit_shallow itself refuses)
            fit = fit_shallow(X, Y, exc.affine_lam(ratio), **kw)
        self._set_fitted(fit)
        return fit

    def _set_fitted(self, fit: ShallowFit) -> None:
        """The fitted attributes; warns (ConvergenceWarning) when the solve was inaccurate."""
        self.fit_ = fit
        self.net_ = fit.net
        self.dictionary_ = fit.dictionary
        self.lam_ = fit.lam
        self.objective_ = fit.objective
        self.gap_ = fit.gap
        self.rel_gap_ = fit.rel_gap
        self.status_ = str(fit.solution.status)
        self.n_active_ = fit.net.n_neurons
        self.coef_ = np.asarray(fit.net.V)
        self.hidden_weights_ = np.asarray(fit.net.W)
        self.hidden_biases_ = np.asarray(fit.net.b)
        self.skip_coef_ = fit.net.skip_coef
        self.intercept_ = fit.net.intercept
        with progress(logger, bool(self.verbose)) as level:
            logger.log(level, "%s: %s", type(self).__name__, fit.summary())
        if _inaccurate(fit.solution, fit.Y, fit.loss, self.tol):
            warnings.warn(f"{type(self).__name__}: the solve ended {self.status_!r} (certified "
                          f"relative duality gap {self.rel_gap_:.3g} > tol = {self.tol:g}); the "
                          "network is usable but not certified optimal: raise tol, or try "
                          "solver='auto' / 'prox' / 'CLARABEL'", ConvergenceWarning,
                          stacklevel=3)

    def __getstate__(self) -> dict:
        """Pickle what prediction needs: ``fit_`` loses its training data X, Y and features Phi
        (the network ``net_``, the solution and the dictionary are kept)."""
        state = self.__dict__.copy()
        fit = state.get("fit_")
        if isinstance(fit, ShallowFit) and fit.X is not None:
            state["fit_"] = dataclasses.replace(fit, X=None, Y=None, Phi=None)
        return state

    def _decision(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False)
        return np.asarray(self.net_.predict(X), dtype=float).reshape(X.shape[0], -1)


_BASE_DOC = """
    over a dictionary of ``n_neurons`` unit-norm neurons (w_k, b_k) (``dictionary``: "data",
    "sphere", "knots", "patterns", "gated", "adaptive"; for "patterns" / "gated", ``n_neurons``
    sampled activation patterns), with an unpenalized skip C x + c0 (``skip``).

    Parameters
    ----------
    lam : absolute regularization; overrides ``lam_ratio``.
    lam_ratio : lam as a fraction of lam_max (the smallest lam with no active neuron).
    dictionary, n_neurons, skip, solver, tol, seed : as in :func:`nnlasso.fit_shallow`
        (``solver="auto"``: the native working-set solver for large programs, Clarabel for
        small ones).
    warm_start : reuse the previous fit's dictionary (e.g. along a lam grid).
    verbose : log the fit's summary (and column-generation progress) at INFO on the logger
        "nnlasso.estimators" (on stderr when the application configured no logging); without
        it, at DEBUG.

    Attributes
    ----------
    net_ : the balanced ShallowReLUNet.  n_active_ : its width.  coef_ : output weights (K, D).
    hidden_weights_, hidden_biases_, skip_coef_, intercept_ : the network's parameters.
    lam_ : the absolute lam.  dictionary_ : the neurons the program was solved over.
    objective_, gap_, rel_gap_, status_ : the training objective, nnlasso's certified duality
    gap and the solve's status. A ``sklearn.exceptions.ConvergenceWarning`` is raised when the
    status is not "optimal" and the gap exceeds max(tol, 1e-6) * max(objective_, loss of the
    best constant prediction) (an exact affine fit has objective ~0 and a meaningless relative
    gap; it does not warn).
    fit_ : the :class:`~nnlasso.ShallowFit`; a pickled estimator keeps it without the training
    data (``fit_.X``, ``fit_.Y``, ``fit_.Phi`` are None after unpickling).
"""
