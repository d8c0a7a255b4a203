"""The cross-validated estimators :class:`ConvexReLURegressorCV` and
:class:`ConvexReLUClassifierCV`: K-fold cross-validation of lam along a warm-started lasso path
over one dictionary."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, mean_squared_error, r2_score
from sklearn.model_selection import check_cv
from sklearn.utils.validation import validate_data

from .._logging import progress
from ..affine import skip_mode
from ..dictionary import NeuronDictionary
from ..errors import InvalidProblemError
from ..lasso import lasso_path
from ..losses import mean_class_loss
from ..shallow import _dictionary, _lam_from_ratio, fit_shallow
from .base import DEFAULT_LAM_RATIOS, _ConvexReLUBase, _inaccurate, logger, store_params
from .classifier import ConvexReLUClassifier
from .regressor import ConvexReLURegressor


def _fold_path(Phi: np.ndarray, X: np.ndarray, Y: np.ndarray, train: np.ndarray,
               test: np.ndarray, ratios: np.ndarray, loss: str, mode: str | None, solver: str,
               tol: float) -> tuple[list[np.ndarray], list[bool]]:
    """Decision values on the ``test`` rows along the warm-started path of one training fold
    (lam = ratio * lam_max of that fold), and which solves were inaccurate."""
    Xtr = X[train]
    skip = Xtr if mode == "linear" else mode
    lam0 = _lam_from_ratio(1.0, Phi[train], Y[train], loss, skip,
                           affine_fallback=True)
    sols = lasso_path(Phi[train], Y[train], [r * lam0 for r in ratios], loss=loss, skip=skip,
                      solver=solver, tol=tol)
    Xte = X[test] if mode == "linear" else None
    return ([s.fitted(Phi[test], Xte) for s in sols],
            [_inaccurate(s, Y[train], loss, tol) for s in sols])


class _ConvexReLUCVBase(_ConvexReLUBase):
    """K-fold cross-validation of lam along a warm-started lasso path over one dictionary."""

    def __init__(self, lam_ratios: Any = None, cv: Any = 5, dictionary: Any = "data",
                 n_neurons: int = 300, skip: Any = True, solver: str = "auto",
                 tol: float = 1e-6, seed: int | None = 0, n_jobs: int | None = None,
                 scoring: str | None = None, verbose: bool = False):
        store_params(self, locals())

    def _ratios(self) -> np.ndarray:
        raw = DEFAULT_LAM_RATIOS if self.lam_ratios is None else self.lam_ratios
        try:
            r = np.asarray(raw, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise InvalidProblemError(f"lam_ratios: expected numbers in (0, 1], got {raw!r}") \
                from None
        if r.size == 0 or not np.all(np.isfinite(r)) or np.any(r <= 0) or np.any(r > 1):
            raise InvalidProblemError(f"lam_ratios: expected a non-empty list of fractions of "
                                      f"lam_max in (0, 1], got {raw!r}")
        return np.sort(r)[::-1]       # decreasing: the path warm-starts from the sparse end

    #: scoring name -> method computing it from decision values; the first is the default
    _SCORINGS: dict[str, str] = {}

    def _scorer(self) -> Any:
        default = next(iter(self._SCORINGS))
        name = default if self.scoring is None else self.scoring
        if name not in self._SCORINGS:
            raise InvalidProblemError(f"scoring: {type(self).__name__} takes one of "
                                      f"{list(self._SCORINGS)} (or None: {default!r}), got "
                                      f"{name!r}")
        return getattr(self, self._SCORINGS[name])

    def _fit_cv(self, X: np.ndarray, Y: np.ndarray, y_cv: np.ndarray, loss: str,
                classifier: bool) -> None:
        self._check_samples(X)
        ratios = self._ratios()
        score = self._scorer()
        if isinstance(self.dictionary, str) and self.dictionary in ("patterns", "gated",
                                                                     "adaptive"):
            raise InvalidProblemError(
                f"dictionary: {self.dictionary!r} builds its neurons from the data of each fit, "
                "so it has no single dictionary to cross-validate over; use 'data', 'sphere', "
                "'knots' or a NeuronDictionary (or GridSearchCV over the plain estimator)")
        mode = skip_mode(self.skip)
        dic: NeuronDictionary = _dictionary(self.dictionary, X, self.n_neurons, self.seed)
        dic.require_group_lasso(type(self).__name__)
        Phi = dic.features(X)
        splitter = check_cv(self.cv, y_cv, classifier=classifier)
        folds = list(splitter.split(X, y_cv))
        if classifier:
            n_classes = np.unique(Y).size
            for i, (train, _) in enumerate(folds):
                if np.unique(Y[train]).size < n_classes:
                    raise InvalidProblemError(
                        f"cv: training fold {i} lacks a class (some class has fewer samples "
                        "than folds); use fewer folds (cv=3) or more samples per class")
        runs = Parallel(n_jobs=self.n_jobs)(
            delayed(_fold_path)(Phi, X, Y, train, test, ratios, loss, mode, self.solver,
                                self.tol) for train, test in folds)
        scores = np.empty((ratios.size, len(folds)))
        inaccurate = 0
        for j, ((_, test), (Zs, flags)) in enumerate(zip(folds, runs)):
            inaccurate += sum(flags)
            for i, Z in enumerate(Zs):
                scores[i, j] = score(Z, y_cv[test])
            with progress(logger, bool(self.verbose)) as level:
                logger.log(level, "%s: fold %d/%d: best ratio %.4g, score %.4f",
                           type(self).__name__, j + 1, len(folds),
                           ratios[int(np.argmax(scores[:, j]))], scores[:, j].max())
        if inaccurate:
            warnings.warn(f"{type(self).__name__}: {inaccurate} of {scores.size} fold solves "
                          f"ended inaccurate (certified relative gap > tol = {self.tol:g})",
                          ConvergenceWarning, stacklevel=3)
        with warnings.catch_warnings():     # a fold whose score is undefined (NaN) is skipped
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(scores, axis=1)
        ok = np.flatnonzero(mean >= np.nanmax(mean)) if np.isfinite(mean).any() else [0]
        best = int(ok[0])                   # ties: the larger lam
        skip_arg = X if mode == "linear" else mode
        lam_max_full = _lam_from_ratio(1.0, Phi, Y, loss, skip_arg,
                                       affine_fallback=True)
        self.lam_ratios_ = ratios
        self.lams_ = ratios * lam_max_full
        self.cv_scores_ = scores
        self.lam_ratio_ = float(ratios[best])
        fit = fit_shallow(X, Y, float(self.lams_[best]), dictionary=dic, loss=loss,
                          skip=self.skip, solver=self.solver, tol=self.tol)
        fit.info["cv_scores"] = scores
        self._set_fitted(fit)


_CV_DOC = """
    The dictionary is sampled once, on all of X; each fold solves the lasso path
    lam = r * lam_max(fold), r in ``lam_ratios`` (decreasing, warm-started,
    :func:`nnlasso.lasso_path`) on its training rows and scores every lam on its test rows.
    The ratio with the best mean score (ties: the larger lam) is refit on all the data at
    lam_ = lam_ratio_ * lam_max(all data).

    Parameters
    ----------
    lam_ratios : fractions of lam_max to try, solved in decreasing order (default: 10 values,
        geometric from 0.5 to 0.005).
    cv : int (K-fold; stratified for the classifier), a splitter, or an iterable of
        (train, test) index arrays, as in scikit-learn (default 5).
    dictionary : "data", "sphere", "knots" or a NeuronDictionary (the pattern programs and
        "adaptive" build a dictionary per fit, which cannot be shared by the folds).
    n_neurons, skip, solver, seed : as in :func:`nnlasso.fit_shallow`.
    tol : target relative duality gap of every solve (default 1e-6).
    n_jobs : folds solved in parallel (joblib; None: one).
    scoring : %s
    verbose : log each fold's best ratio and the final fit's summary at INFO (see
        :class:`ConvexReLURegressor`).

    Attributes
    ----------
    lam_ratio_, lam_ : the chosen ratio and the absolute lam of the final fit.
    lam_ratios_, lams_ : the grid (decreasing) and its absolute values on all the data.
    cv_scores_ : (n_lams, n_folds) test scores of every lam on every fold (higher is better).
    net_, coef_, n_active_, objective_, gap_, rel_gap_, status_, dictionary_, fit_, ... : the
    final fit, as in :class:`%s`.
"""


REG_SCORING_DOC = """"r2" (None, the default) or "neg_mean_squared_error"."""
CLF_SCORING_DOC = """"neg_log_loss" (None, the default: minus the mean logistic / softmax
        loss on the test rows; continuous, so small folds do not tie as accuracy does, and the
        coming default of scikit-learn's ``LogisticRegressionCV``) or "accuracy"."""


class ConvexReLURegressorCV(RegressorMixin, _ConvexReLUCVBase):
    __doc__ = """Convex ReLU regression with lam chosen by K-fold cross-validation.

    The program of :class:`ConvexReLURegressor`; scikit-learn's ``LassoCV`` conventions.
    """ + _CV_DOC % (REG_SCORING_DOC, "ConvexReLURegressor")

    _SCORINGS = {"r2": "_r2", "neg_mean_squared_error": "_neg_mse"}

    @staticmethod
    def _r2(Z: np.ndarray, y: np.ndarray) -> float:
        return float(r2_score(y, Z[:, 0] if np.ndim(y) == 1 else Z))

    @staticmethod
    def _neg_mse(Z: np.ndarray, y: np.ndarray) -> float:
        return -float(mean_squared_error(y, Z[:, 0] if np.ndim(y) == 1 else Z))

    def fit(self, X: Any, y: Any) -> "ConvexReLURegressorCV":
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        y = np.asarray(y, dtype=float)
        self._fit_cv(X, y, y, "squared", classifier=False)
        self._y_1d = np.ndim(y) == 1
        return self

    predict = ConvexReLURegressor.predict

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class ConvexReLUClassifierCV(ClassifierMixin, _ConvexReLUCVBase):
    __doc__ = """Convex ReLU classification with lam chosen by K-fold cross-validation.

    The program of :class:`ConvexReLUClassifier` (logistic / softmax loss, default skip
    "intercept", the same refusal of regression targets); scikit-learn's ``LassoCV`` /
    ``LogisticRegressionCV`` conventions. ``classes_``: the class labels.
    """ + _CV_DOC % (CLF_SCORING_DOC, "ConvexReLUClassifier")

    def __init__(self, lam_ratios: Any = None, cv: Any = 5, dictionary: Any = "data",
                 n_neurons: int = 300, skip: Any = "intercept", solver: str = "auto",
                 tol: float = 1e-6, seed: int | None = 0, n_jobs: int | None = None,
                 scoring: str | None = None, verbose: bool = False):
        super().__init__(lam_ratios=lam_ratios, cv=cv, dictionary=dictionary,
                         n_neurons=n_neurons, skip=skip, solver=solver, tol=tol, seed=seed,
                         n_jobs=n_jobs, scoring=scoring, verbose=verbose)

    _encode = ConvexReLUClassifier._encode
    decision_function = ConvexReLUClassifier.decision_function
    predict_proba = ConvexReLUClassifier.predict_proba
    predict = ConvexReLUClassifier.predict

    _SCORINGS = {"neg_log_loss": "_neg_log_loss", "accuracy": "_accuracy"}

    @staticmethod
    def _accuracy(Z: np.ndarray, y: np.ndarray) -> float:
        idx = (Z[:, 0] > 0).astype(int) if Z.shape[1] == 1 else Z.argmax(axis=1)
        return float(accuracy_score(y, idx))

    @staticmethod
    def _neg_log_loss(Z: np.ndarray, y: np.ndarray) -> float:
        """Minus the mean logistic / softmax loss of the logits Z at the class codes y."""
        return -mean_class_loss(Z, y)

    def fit(self, X: Any, y: Any) -> "ConvexReLUClassifierCV":
        X, codes, loss = self._encode(X, y)
        self._fit_cv(X, codes, codes, loss, classifier=True)
        return self
