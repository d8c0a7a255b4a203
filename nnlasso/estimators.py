"""scikit-learn estimators: :class:`ConvexReLURegressor` and :class:`ConvexReLUClassifier`.

Both train a shallow ReLU network with weight decay by solving the convex multitask lasso over a
neuron dictionary (:func:`nnlasso.fit_shallow`), so the fit is a global optimum over that
dictionary with a certified duality gap (``gap_``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .shallow import ShallowFit, fit_shallow


class _ConvexReLUBase(BaseEstimator):
    """Shared parameters and fitted attributes (see the two estimators)."""

    def __init__(self, lam: float | None = None, lam_ratio: float = 0.01,
                 dictionary: Any = "data", n_neurons: int = 300, skip: Any = True,
                 solver: str = "CLARABEL", tol: float = 1e-8, seed: int | None = 0,
                 warm_start: bool = False):
        self.lam = lam
        self.lam_ratio = lam_ratio
        self.dictionary = dictionary
        self.n_neurons = n_neurons
        self.skip = skip
        self.solver = solver
        self.tol = tol
        self.seed = seed
        self.warm_start = warm_start

    def _fit(self, X: np.ndarray, Y: np.ndarray, loss: str) -> ShallowFit:
        if X.shape[0] < 2:
            raise ValueError(f"n_samples = {X.shape[0]}: a convex ReLU fit needs at least 2 "
                             "samples")
        dictionary = self.dictionary
        if (self.warm_start and hasattr(self, "fit_") and dictionary in ("data", "sphere", "knots")
                and self.fit_.X.shape[1] == X.shape[1] and self.fit_.Phi is not None):
            dictionary = self.fit_.dictionary  # reuse the neurons of the previous fit
        lam, ratio = (self.lam, None) if self.lam is not None else (None, self.lam_ratio)
        # the pattern programs sample n_neurons patterns (enumerating all of them is feasible
        # only for tiny data; use fit_shallow(..., n_patterns=None) for that)
        n_pat = self.n_neurons if dictionary in ("patterns", "gated") else None
        fit = fit_shallow(X, Y, lam, lam_ratio=ratio, dictionary=dictionary,
                          n_neurons=self.n_neurons, loss=loss, skip=self.skip,
                          solver=self.solver, seed=self.seed, tol=self.tol, n_patterns=n_pat)
        self.fit_ = fit
        self.net_ = fit.net
        self.dictionary_ = fit.dictionary
        self.lam_ = fit.lam
        self.objective_ = fit.objective
        self.gap_ = fit.gap
        self.rel_gap_ = fit.rel_gap
        self.n_active_ = fit.net.n_neurons
        self.coef_ = np.asarray(fit.net.V)
        self.hidden_weights_ = np.asarray(fit.net.W)
        self.hidden_biases_ = np.asarray(fit.net.b)
        self.skip_coef_ = fit.net.skip_coef
        self.intercept_ = fit.net.intercept
        return fit

    def _decision(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False)
        return np.asarray(self.net_.predict(X), dtype=float).reshape(X.shape[0], -1)


class ConvexReLURegressor(RegressorMixin, _ConvexReLUBase):
    """Shallow ReLU regression trained with weight decay as a convex program.

    min sum_n 1/2 |y_n - f(x_n)|^2 + lam sum_k |w_k| |v_k|,  f = sum_k v_k relu(w_k.x - b_k) + Cx + c0

    over a dictionary of ``n_neurons`` neurons (``dictionary``: "data", "sphere", "knots",
    "patterns", "gated", "adaptive"; for "patterns" / "gated", ``n_neurons`` sampled activation
    patterns). ``lam`` (absolute) overrides ``lam_ratio`` (fraction of
    lam_max). ``warm_start=True`` reuses the previous fit's dictionary (e.g. along a lam grid).

    Attributes
    ----------
    net_ : the balanced ShallowReLUNet.  n_active_ : its width.  coef_ : output weights (K, D).
    objective_, gap_, rel_gap_ : the training objective and nnlasso's certified duality gap.
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
    """Shallow ReLU classifier trained with weight decay as a convex program.

    Logistic loss for two classes, softmax (multinomial) loss for more; the penalty is
    lam sum_k |w_k| |v_k| (the group lasso over the neurons' output vectors). Same parameters
    and attributes as :class:`ConvexReLURegressor`, plus ``classes_``. The default skip is
    ``"intercept"``: with a free linear skip, linearly separable classes have no minimizer (the
    skip's weights diverge), whereas penalized neurons keep the program well posed.
    """

    def __init__(self, lam: float | None = None, lam_ratio: float = 0.01,
                 dictionary: Any = "data", n_neurons: int = 300, skip: Any = "intercept",
                 solver: str = "CLARABEL", tol: float = 1e-8, seed: int | None = 0,
                 warm_start: bool = False):
        super().__init__(lam=lam, lam_ratio=lam_ratio, dictionary=dictionary,
                         n_neurons=n_neurons, skip=skip, solver=solver, tol=tol, seed=seed,
                         warm_start=warm_start)

    def fit(self, X: Any, y: Any) -> "ConvexReLUClassifier":
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        if self.classes_.size < 2:
            raise ValueError(f"ConvexReLUClassifier needs samples of at least 2 classes; got 1 "
                             f"class ({self.classes_[0]!r})")
        codes = enc.transform(y)
        loss = "logistic" if self.classes_.size == 2 else "softmax"
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
