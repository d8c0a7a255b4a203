"""scikit-learn estimators: :class:`ConvexReLURegressor`, :class:`ConvexReLUClassifier` and their
cross-validated versions :class:`ConvexReLURegressorCV`, :class:`ConvexReLUClassifierCV`.

All of them train a shallow ReLU network with weight decay by solving the convex multitask lasso
over a neuron dictionary (:func:`nnlasso.fit_shallow`), so the fit is a global optimum over that
dictionary with a certified duality gap (``gap_``).

The package: ``base`` (defaults, shared parameters and fitted attributes), ``regressor``,
``classifier`` and ``cv`` (the cross-validated versions).
"""
# ruff: noqa: F401  (private names re-exported for the code and tests that import them here)
from .base import (CLASSIFIER_LAM_RATIO, DEFAULT_LAM_RATIOS, MAX_CLASSES, MIN_PER_CLASS,
                   REGRESSOR_LAM_RATIO, _check_class_targets, _ConvexReLUBase, _inaccurate,
                   _null_loss, fit_shallow, logger)
from .classifier import ConvexReLUClassifier
from .cv import (CLF_SCORING_DOC, REG_SCORING_DOC, ConvexReLUClassifierCV,
                 ConvexReLURegressorCV, _ConvexReLUCVBase, _fold_path)
from .regressor import ConvexReLURegressor

__all__ = ["ConvexReLURegressor", "ConvexReLUClassifier", "ConvexReLURegressorCV",
           "ConvexReLUClassifierCV", "REGRESSOR_LAM_RATIO", "CLASSIFIER_LAM_RATIO",
           "DEFAULT_LAM_RATIOS", "MAX_CLASSES", "MIN_PER_CLASS"]
