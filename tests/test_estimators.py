"""The scikit-learn estimators: the estimator checks, pipelines, grid search, fitted attributes."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import nnlasso as nl


@parametrize_with_checks([nl.ConvexReLURegressor(n_neurons=30),
                          nl.ConvexReLUClassifier(n_neurons=30)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_regressor_in_pipeline_and_grid_search():
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:150], (y[:150] - y[:150].mean()) / y[:150].std()
    pipe = make_pipeline(StandardScaler(), nl.ConvexReLURegressor(n_neurons=60))
    grid = GridSearchCV(pipe, {"convexrelu regressor__lam_ratio".replace(" ", ""): [0.3, 0.05]},
                        cv=2).fit(X, y)
    assert grid.best_score_ > 0.0
    est = grid.best_estimator_[-1]
    assert est.n_active_ == est.coef_.shape[0] >= 1
    assert est.rel_gap_ <= 1e-6
    # the fitted network predicts what the estimator predicts
    Xs = grid.best_estimator_[0].transform(X)
    assert np.allclose(est.net_.predict(Xs).reshape(-1), est.predict(Xs))


def test_classifier_probabilities_and_labels():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = nl.ConvexReLUClassifier(n_neurons=80, lam_ratio=0.02).fit(X, names)
    P = clf.predict_proba(X)
    assert P.shape == (150, 3) and np.allclose(P.sum(1), 1)
    assert np.array_equal(clf.classes_[P.argmax(1)], clf.predict(X))
    assert clf.score(X, names) > 0.9
    binary = nl.ConvexReLUClassifier(n_neurons=50).fit(X, y == 2)
    assert binary.predict_proba(X).shape == (150, 2)
    assert binary.score(X, y == 2) > 0.9


def test_warm_start_reuses_the_dictionary():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    y = np.abs(X[:, 0]) + 0.1 * rng.standard_normal(60)
    est = nl.ConvexReLURegressor(n_neurons=40, warm_start=True, seed=None).fit(X, y)
    first = est.dictionary_
    est.set_params(lam_ratio=0.001).fit(X, y)
    assert est.dictionary_ is first
    assert not np.array_equal(nl.ConvexReLURegressor(n_neurons=40, seed=None).fit(X, y)
                              .dictionary_.W, first.W)


def test_single_sample_is_refused():
    with pytest.raises(ValueError, match="1 sample|n_samples"):
        nl.ConvexReLURegressor().fit(np.ones((1, 2)), np.ones(1))


def test_pattern_dictionaries_sample_n_neurons_patterns():
    from sklearn.datasets import load_diabetes
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:80], (y[:80] - y[:80].mean()) / y[:80].std()
    for kind in ("gated", "patterns"):
        est = nl.ConvexReLURegressor(dictionary=kind, n_neurons=40, lam_ratio=0.05).fit(X, y)
        info = est.fit_.info.get("gated", est.fit_.solution)
        assert info.n_patterns <= 40 and est.rel_gap_ <= 1e-6
        assert est.score(X, y) > 0.3
