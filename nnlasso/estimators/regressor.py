"""The scikit-learn regressor :class:`ConvexReLURegressor`."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import validate_data

from .base import _BASE_DOC, _ConvexReLUBase


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
