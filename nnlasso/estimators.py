"""scikit-learn estimators: :class:`ConvexReLURegressor`, :class:`ConvexReLUClassifier` and their
cross-validated versions :class:`ConvexReLURegressorCV`, :class:`ConvexReLUClassifierCV`.

All of them train a shallow ReLU network with weight decay by solving the convex multitask lasso
over a neuron dictionary (:func:`nnlasso.fit_shallow`), so the fit is a global optimum over that
dictionary with a certified duality gap (``gap_``).
"""
from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from scipy.special import expit, logsumexp, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, mean_squared_error, r2_score
from sklearn.model_selection import check_cv
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from ._logging import progress
from .dictionary import NeuronDictionary
from .errors import InvalidProblemError
from .lasso import lasso_path
from .affine import skip_mode
from .shallow import ShallowFit, _dictionary, _lam_from_ratio, fit_shallow

logger = logging.getLogger(__name__)

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


class _ConvexReLUBase(BaseEstimator):
    """Shared parameters and fitted attributes (see the estimators)."""

    _default_skip: Any = True

    def __init__(self, lam: float | None = None, lam_ratio: float = REGRESSOR_LAM_RATIO,
                 dictionary: Any = "data", n_neurons: int = 300, skip: Any = True,
                 solver: str = "auto", tol: float = 1e-8, seed: int | None = 0,
                 warm_start: bool = False, verbose: bool = False):
        self.lam = lam
        self.lam_ratio = lam_ratio
        self.dictionary = dictionary
        self.n_neurons = n_neurons
        self.skip = skip
        self.solver = solver
        self.tol = tol
        self.seed = seed
        self.warm_start = warm_start
        self.verbose = verbose

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
        fit = fit_shallow(X, Y, lam, lam_ratio=ratio, dictionary=dictionary,
                          n_neurons=self.n_neurons, loss=loss, skip=self.skip,
                          solver=self.solver, seed=self.seed, tol=self.tol, n_patterns=n_pat,
                          verbose=bool(self.verbose))
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


class ConvexReLURegressor(RegressorMixin, _ConvexReLUBase):
    __doc__ = """Shallow ReLU regression trained with weight decay as a convex program.

    min sum_n 1/2 |y_n - f(x_n)|^2 + lam sum_k |w_k| |v_k|,  f = sum_k v_k relu(w_k.x - b_k) + Cx + c0
    """ + _BASE_DOC + """
    Notes
    -----
    The default ``lam_ratio = 0.2`` was chosen by 5-fold cross-validation (KFold, shuffled,
    seed 0) of ``make_pipeline(StandardScaler(), ConvexReLURegressor(lam_ratio=r))`` on
    scikit-learn's diabetes data, r in {0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01}: mean R^2 0.501,
    0.505, 0.503, 0.486, 0.441, 0.278, 0.005 (scikit-learn's LassoCV: 0.48). Ratios of 0.2-0.5
    are equally good there; 0.2 leaves the network more room on data with a nonlinear trend.
    For a lam chosen on your data, use :class:`ConvexReLURegressorCV`.
    """

    def fit(self, X: Any, y: Any) -> "ConvexReLURegressor":
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        self._fit(X, np.asarray(y, dtype=float), "squared")
        self._y_1d = np.ndim(y) == 1
        return self

    def predict(self, X: Any) -> np.ndarray:
        Z = self._decision(X)
        return Z[:, 0] if self._y_1d else Z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class ConvexReLUClassifier(ClassifierMixin, _ConvexReLUBase):
    __doc__ = """Shallow ReLU classifier trained with weight decay as a convex program.

    min sum_n L(y_n, f(x_n)) + lam sum_k |w_k| |v_k|

    with the logistic loss for two classes, the softmax (multinomial) loss for more (the penalty
    is the group lasso over the neurons' output vectors). The default skip is ``"intercept"``:
    with a free linear skip, linearly separable classes have no minimizer (the skip's weights
    diverge), whereas penalized neurons keep the program well posed. Targets that look like
    regression (non-integer values, or more than max(50, N / 10) distinct values) are refused
    with an :class:`~nnlasso.InvalidProblemError` before anything is allocated.
    """ + _BASE_DOC + """
    classes_ : the class labels.

    Notes
    -----
    The default ``lam_ratio = 0.01`` was chosen by 5-fold cross-validation (StratifiedKFold,
    shuffled, seed 0) of ``make_pipeline(StandardScaler(), ConvexReLUClassifier(lam_ratio=r))``
    on scikit-learn's breast cancer, wine and digits data. Mean accuracies for r = 0.3, 0.1,
    0.05, 0.02, 0.01, 0.005, 0.002: breast cancer 0.912, 0.946, 0.958, 0.968, 0.977, 0.975,
    0.977; wine 0.949, 0.983, 0.983, 0.989, 0.989, 0.989, 0.989; digits (r >= 0.01) 0.851,
    0.918, 0.936, 0.952, 0.961. Smaller ratios gain nothing and cost time (digits: median fit
    2.4 s at r = 0.3, 31 s at r = 0.01 on a loaded 2-core machine). Benchmarks against
    scikit-learn: docs/benchmarks.md, section "Estimators".
    For a lam chosen on your data, use :class:`ConvexReLUClassifierCV`.
    """

    def __init__(self, lam: float | None = None, lam_ratio: float = CLASSIFIER_LAM_RATIO,
                 dictionary: Any = "data", n_neurons: int = 300, skip: Any = "intercept",
                 solver: str = "auto", tol: float = 1e-8, seed: int | None = 0,
                 warm_start: bool = False, verbose: bool = False):
        super().__init__(lam=lam, lam_ratio=lam_ratio, dictionary=dictionary,
                         n_neurons=n_neurons, skip=skip, solver=solver, tol=tol, seed=seed,
                         warm_start=warm_start, verbose=verbose)

    def _encode(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, str]:
        X, y = validate_data(self, X, y, dtype=np.float64)
        _check_class_targets(y, type(self).__name__)
        check_classification_targets(y)
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        if self.classes_.size < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; got 1 "
                             f"class ({self.classes_[0]!r})")
        loss = "logistic" if self.classes_.size == 2 else "softmax"
        return X, enc.transform(y), loss

    def fit(self, X: Any, y: Any) -> "ConvexReLUClassifier":
        X, codes, loss = self._encode(X, y)
        self._fit(X, codes, loss)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        Z = self._decision(X)
        return Z[:, 0] if self.classes_.size == 2 else Z

    def predict_proba(self, X: Any) -> np.ndarray:
        Z = self._decision(X)
        if self.classes_.size == 2:
            p = expit(Z[:, 0])
            return np.column_stack([1 - p, p])
        return softmax(Z, axis=1)

    def predict(self, X: Any) -> np.ndarray:
        Z = self._decision(X)
        idx = (Z[:, 0] > 0).astype(int) if self.classes_.size == 2 else Z.argmax(axis=1)
        return self.classes_[idx]


# ---------------------------------------------------------------------------------------------
# cross-validated estimators


def _fold_path(Phi: np.ndarray, X: np.ndarray, Y: np.ndarray, train: np.ndarray,
               test: np.ndarray, ratios: np.ndarray, loss: str, mode: str | None, solver: str,
               tol: float) -> tuple[list[np.ndarray], list[bool]]:
    """Decision values on the ``test`` rows along the warm-started path of one training fold
    (lam = ratio * lam_max of that fold), and which solves were inaccurate."""
    Xtr = X[train]
    skip = Xtr if mode == "linear" else mode
    lam0 = _lam_from_ratio(1.0, Phi[train], Y[train], loss, skip)
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
        self.lam_ratios = lam_ratios
        self.cv = cv
        self.scoring = scoring
        self.dictionary = dictionary
        self.n_neurons = n_neurons
        self.skip = skip
        self.solver = solver
        self.tol = tol
        self.seed = seed
        self.n_jobs = n_jobs
        self.verbose = verbose

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
        lam_max_full = _lam_from_ratio(1.0, Phi, Y, loss, skip_arg)
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
        y = np.asarray(y, dtype=int)
        if Z.shape[1] == 1:
            return -float(np.mean(np.logaddexp(0.0, -(2.0 * y - 1.0) * Z[:, 0])))
        return -float(np.mean(logsumexp(Z, axis=1) - Z[np.arange(y.size), y]))

    def fit(self, X: Any, y: Any) -> "ConvexReLUClassifierCV":
        X, codes, loss = self._encode(X, y)
        self._fit_cv(X, codes, codes, loss, classifier=True)
        return self
