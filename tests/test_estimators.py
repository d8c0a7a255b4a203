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
                          nl.ConvexReLUClassifier(n_neurons=30, lam_ratio=0.05)])
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


# --- defaults, cross-validated estimators, the regression-target guard, pickles (issues 11, 12)

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score  # noqa: E402

import nnlasso.estimators as est_mod  # noqa: E402


@parametrize_with_checks([nl.ConvexReLURegressorCV(n_neurons=20, lam_ratios=[0.3, 0.05], cv=3),
                          nl.ConvexReLUClassifierCV(n_neurons=20, lam_ratios=[0.3, 0.05], cv=3)])
def test_cv_estimators_sklearn_compatible(estimator, check):
    check(estimator)


def test_cv_estimators_are_exported():
    assert {"ConvexReLURegressorCV", "ConvexReLUClassifierCV"} <= set(nl.__all__)


@pytest.mark.parametrize("cls", [nl.ConvexReLURegressor, nl.ConvexReLUClassifier,
                                 nl.ConvexReLURegressorCV, nl.ConvexReLUClassifierCV])
def test_default_solver_is_auto(cls):
    assert cls().get_params()["solver"] == "auto"


def test_default_regressor_is_competitive_on_diabetes():
    # the old default lam_ratio = 0.01 scores R^2 = 0.005 here; scikit-learn's LassoCV 0.48
    X, y = load_diabetes(return_X_y=True)
    cv = KFold(5, shuffle=True, random_state=0)
    r2 = cross_val_score(make_pipeline(StandardScaler(), nl.ConvexReLURegressor()), X, y, cv=cv)
    assert r2.mean() > 0.47


def test_default_classifier_is_competitive_on_breast_cancer():
    from sklearn.datasets import load_breast_cancer
    X, y = load_breast_cancer(return_X_y=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    acc = cross_val_score(make_pipeline(StandardScaler(), nl.ConvexReLUClassifier()), X, y, cv=cv)
    assert acc.mean() > 0.965      # measured 0.977 (lam_ratio 0.01); with 0.2: 0.940


def _fold_reference(X, y, dic, ratios, folds, est_cls, scores=("score",)):
    """Every (ratio, fold) fitted independently by the plain estimator over the same dictionary
    and scored by its ``score`` method or (``"neg_log_loss"``) by scikit-learn's log_loss."""
    from sklearn.metrics import log_loss
    out = {name: np.empty((len(ratios), len(folds))) for name in scores}
    for j, (tr, te) in enumerate(folds):
        for i, r in enumerate(ratios):
            e = est_cls(lam_ratio=r, dictionary=dic).fit(X[tr], y[tr])
            for name in scores:
                out[name][i, j] = (e.score(X[te], y[te]) if name == "score" else
                                   -log_loss(y[te], e.predict_proba(X[te]), labels=e.classes_))
    return out if len(scores) > 1 else out[scores[0]]


def test_regressor_cv_scores_match_independent_fits():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X[:150])
    y = y[:150]
    folds = list(KFold(3, shuffle=True, random_state=1).split(X))
    ratios = [0.4, 0.1, 0.02]
    cv = nl.ConvexReLURegressorCV(lam_ratios=ratios, cv=folds, n_neurons=40, tol=1e-8).fit(X, y)
    assert cv.cv_scores_.shape == (3, 3)
    assert np.allclose(cv.lam_ratios_, ratios)
    ref = _fold_reference(X, y, cv.dictionary_, ratios, folds, nl.ConvexReLURegressor)
    assert np.allclose(cv.cv_scores_, ref, atol=1e-4)
    best = int(np.argmax(ref.mean(1)))
    assert cv.lam_ratio_ == ratios[best]
    # the final fit is the plain estimator at that lam over the same dictionary, on all the data
    full = nl.ConvexReLURegressor(lam_ratio=ratios[best], dictionary=cv.dictionary_).fit(X, y)
    assert np.isclose(cv.lam_, full.lam_)
    assert np.allclose(cv.predict(X), full.predict(X), atol=1e-4 * np.abs(y).max())
    assert cv.rel_gap_ <= 1e-6


def test_classifier_cv_picks_lam_and_handles_labels():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    ratios = [0.5, 0.05, 0.01]
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    clf = nl.ConvexReLUClassifierCV(lam_ratios=ratios, cv=folds, n_neurons=30,
                                    tol=1e-8).fit(X, names)
    acc = nl.ConvexReLUClassifierCV(lam_ratios=ratios, cv=folds, n_neurons=30, tol=1e-8,
                                    scoring="accuracy").fit(X, names)
    ref = _fold_reference(X, names, clf.dictionary_, ratios, folds, nl.ConvexReLUClassifier,
                          scores=("score", "neg_log_loss"))
    # default scoring: minus the mean log loss, as scikit-learn computes it from predict_proba
    assert np.allclose(clf.cv_scores_, ref["neg_log_loss"], rtol=1e-4, atol=1e-6)
    assert clf.lam_ratio_ == ratios[int(np.argmax(ref["neg_log_loss"].mean(1)))]
    assert np.allclose(acc.cv_scores_, ref["score"])
    mean = ref["score"].mean(1)
    assert acc.lam_ratio_ == ratios[int(np.flatnonzero(mean == mean.max())[0])]
    assert set(clf.predict(X)) <= set(names) and clf.score(X, names) > 0.9
    assert clf.predict_proba(X).shape == (150, 3)


def test_cv_grid_is_sorted_and_validated():
    X, y = load_diabetes(return_X_y=True)
    X, y = StandardScaler().fit_transform(X[:80]), y[:80]
    cv = nl.ConvexReLURegressorCV(lam_ratios=[0.05, 0.5, 0.2], n_neurons=20, cv=2).fit(X, y)
    assert np.all(np.diff(cv.lam_ratios_) < 0) and np.all(np.diff(cv.lams_) < 0)
    for bad in ([], [0.0, 0.1], [1.5], ["x"]):
        with pytest.raises(nl.InvalidProblemError, match="lam_ratios"):
            nl.ConvexReLURegressorCV(lam_ratios=bad).fit(X, y)
    with pytest.raises(nl.InvalidProblemError, match="dictionary"):
        nl.ConvexReLURegressorCV(dictionary="patterns").fit(X, y)
    with pytest.raises(nl.InvalidProblemError, match="scoring.*'r2'"):
        nl.ConvexReLURegressorCV(scoring="accuracy").fit(X, y)
    mse = nl.ConvexReLURegressorCV(lam_ratios=[0.5, 0.05], n_neurons=20, cv=2,
                                   scoring="neg_mean_squared_error").fit(X, y)
    r2 = nl.ConvexReLURegressorCV(lam_ratios=[0.5, 0.05], n_neurons=20, cv=2).fit(X, y)
    assert np.all(mse.cv_scores_ < 0) and np.all(r2.cv_scores_ <= 1)


def test_cv_parallel_folds_agree():
    X, y = load_diabetes(return_X_y=True)
    X, y = StandardScaler().fit_transform(X[:100]), y[:100]
    kw = dict(lam_ratios=[0.3, 0.05], n_neurons=20, cv=3)
    a = nl.ConvexReLURegressorCV(**kw).fit(X, y)
    b = nl.ConvexReLURegressorCV(n_jobs=2, **kw).fit(X, y)
    assert np.allclose(a.cv_scores_, b.cv_scores_)


def test_classifier_cv_refuses_a_fold_without_a_class():
    X = np.random.default_rng(0).standard_normal((12, 2))
    y = np.array([0] * 10 + [1] * 2)
    with pytest.raises(nl.InvalidProblemError, match="cv: training fold"):
        nl.ConvexReLUClassifierCV(cv=KFold(2), n_neurons=10).fit(X, y)


@pytest.mark.parametrize("cls", [nl.ConvexReLUClassifier, nl.ConvexReLUClassifierCV])
def test_classifier_refuses_regression_targets_at_once(cls):
    import time
    X, y = load_diabetes(return_X_y=True)       # 214 distinct integer-valued targets
    t0 = time.perf_counter()
    with pytest.raises(nl.InvalidProblemError, match="214 distinct.*ConvexReLURegressor"):
        cls().fit(X, y)
    with pytest.raises(nl.InvalidProblemError, match="continuous.*ConvexReLURegressor"):
        cls().fit(X, y + 0.5)
    assert time.perf_counter() - t0 < 0.5


def test_class_count_limit_scales_with_n():
    # 60 classes with 20 samples each are classes; 60 classes in 200 samples are not
    est_mod._check_class_targets(np.repeat(np.arange(60), 20), "C")
    with pytest.raises(nl.InvalidProblemError, match="60 distinct"):
        est_mod._check_class_targets(np.arange(200) % 60, "C")


def test_pickle_keeps_what_prediction_needs():
    import pickle
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:331], y[:331]
    est = nl.ConvexReLURegressor().fit(X, y)
    blob = pickle.dumps(est)
    assert len(blob) < 60_000           # it was 616-856 KB: X, Y and the 331 x 300 features
    back = pickle.loads(blob)
    assert np.array_equal(back.predict(X), est.predict(X))
    assert back.fit_.X is None and back.fit_.Phi is None and est.fit_.X is not None
    assert back.n_active_ == est.n_active_ and back.rel_gap_ == est.rel_gap_
    # warm start still works on the unpickled estimator: it reuses the dictionary
    back.set_params(warm_start=True, lam_ratio=0.1).fit(X, y)
    assert np.array_equal(back.dictionary_.W, est.dictionary_.W)


def test_inaccurate_solve_warns(monkeypatch):
    import dataclasses
    real = est_mod.base.fit_shallow

    def inaccurate(*args, **kw):
        fit = real(*args, **kw)
        sol = fit.solution            # as if the solver had stopped at rel gap 0.5
        fit.solution = dataclasses.replace(sol, status="optimal_inaccurate", gap=sol.objective / 2,
                                           rel_gap=0.5)
        return fit

    monkeypatch.setattr(est_mod.base, "fit_shallow", inaccurate)  # where _fit calls it
    X, y = load_diabetes(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="optimal_inaccurate"):
        est = nl.ConvexReLURegressor(n_neurons=20).fit(X[:60], y[:60])
    assert est.status_ == "optimal_inaccurate"


def warnings_as_errors():
    import contextlib
    import warnings
    @contextlib.contextmanager
    def cm():
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            yield
    return cm()


def test_accurate_solve_does_not_warn():
    X, y = load_diabetes(return_X_y=True)
    with warnings_as_errors():
        est = nl.ConvexReLURegressor(n_neurons=20).fit(X[:60], y[:60])
    assert est.status_ == "optimal"
    # 11 points, 10 features: the linear skip fits exactly, objective ~1e-23, rel gap ~1 is
    # rounding (status "optimal_inaccurate"): no false alarm
    from sklearn.datasets import make_regression
    X, Y = make_regression(n_samples=11, n_features=10, n_targets=5, random_state=42)
    with warnings_as_errors():
        est = nl.ConvexReLURegressor(n_neurons=30).fit(X, Y)
        nl.ConvexReLURegressorCV(n_neurons=30, lam_ratios=[0.3], cv=2).fit(X, Y)
    assert est.objective_ < 1e-12 * np.sum(Y ** 2)


def test_verbose_logs_the_fit(capsys, caplog):
    import logging
    X, y = load_diabetes(return_X_y=True)
    caplog.set_level(logging.DEBUG, logger="nnlasso")
    nl.ConvexReLURegressor(n_neurons=20, verbose=True).fit(X[:60], y[:60])
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("ShallowFit(squared" in m for m in info)
    caplog.clear()
    nl.ConvexReLURegressorCV(n_neurons=20, lam_ratios=[0.3, 0.1], cv=2,
                             verbose=True).fit(X[:60], y[:60])
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("fold 2/2" in m for m in info) and any("ShallowFit(squared" in m for m in info)
    caplog.clear()
    nl.ConvexReLURegressor(n_neurons=20).fit(X[:60], y[:60])
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name.startswith("nnlasso"))
    assert capsys.readouterr().out == ""


def test_classification_path_caps_the_strong_rule_working_set():
    """The warm-started path of a logistic / softmax fold starts each working set from the
    p0 + 2 |nonzero| groups of largest KKT ratio, not the whole strong set (on a digits fold the
    whole set, 256 groups, stalled the native inner solver: 197 s for one lam instead of 11 s).
    The first working-set size of each warm-started solve is read from the public
    ``info["working_set"]["ws_sizes"]``."""
    from sklearn.datasets import load_breast_cancer
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X[:200])
    y = y[:200]
    Phi = nl.sample_neurons(X, 200, seed=0).features(X)
    lm = nl.lam_max(Phi, y, loss="logistic", skip="intercept")
    sols = nl.lasso_path(Phi, y, lm * np.array([0.3, 0.05, 0.01]), loss="logistic",
                         skip="intercept", solver="prox", tol=1e-6)
    assert all(s.status == "optimal" for s in sols)
    seen = [(s.info["working_set"]["ws_sizes"][0],
             int(np.count_nonzero(np.any(prev.V != 0, axis=1)))) for prev, s in zip(sols, sols[1:])]
    assert all(size <= 10 + 2 * nz for size, nz in seen), seen
    # the whole strong set is larger: the cap is what keeps the sizes down
    assert any(nz > 0 for _, nz in seen)


def test_bench_estimators_rows_and_table():
    """scripts/bench_estimators.py: run()'s rows (pipeline with StandardScaler, outer folds) and
    the Markdown table; tiny selection (wine, the default classifier and the MLP, 2 folds)."""
    from conftest import load_script
    bench = load_script("bench_estimators")
    rows = bench.run(["wine"], quick=True, log=False, only="Classifier(")
    assert [r["model"] for r in rows] == ["ConvexReLUClassifier()",
                                          "MLPClassifier(random_state=0)"]
    assert all(r["folds"] == 2 and r["metric"] == "accuracy" and 0.8 < r["score"] <= 1
               and r["fit_time"] > 0 for r in rows)
    table = bench.markdown(rows)
    assert table.count("\n") == 3 and "| wine | `ConvexReLUClassifier()` | accuracy" in table
