"""A hostile user of the Python API: complex input, odd labels and arguments, negative gaps."""
from __future__ import annotations

import numpy as np
import pytest

import nnlasso as nl
from nnlasso import InvalidProblemError, representer
from nnlasso.duality import gaps

RNG = np.random.default_rng(0)
X = RNG.standard_normal((20, 2))
Y = RNG.standard_normal(20)
PHI = nl.sample_neurons(X, 10, seed=0).features(X)


@pytest.mark.parametrize("case", ["Phi", "Y", "Psi", "fit_shallow X", "MLP W1"])
def test_complex_input_is_refused(case):
    calls = {"Phi": lambda: nl.solve_lasso(PHI + 1j * PHI, Y, 0.1),
             "Y": lambda: nl.solve_lasso(PHI, Y + 1j * Y, 0.1),
             "Psi": lambda: nl.solve_min_norm(PHI, (Y + 1j * Y)[:, None]),
             "fit_shallow X": lambda: nl.fit_shallow(X + 1j * X, Y, lam_ratio=0.1, n_neurons=10),
             "MLP W1": lambda: nl.MLP([np.ones((3, 2)) + 1j, np.ones((1, 3))],
                                      [np.zeros(3), np.zeros(1)])}
    with pytest.raises(InvalidProblemError, match=r"complex values are not supported"):
        calls[case]()


def test_huge_float_softmax_labels_are_not_merged():
    labels = np.where(np.arange(20) % 2 == 0, 1e300, 2e300)
    with pytest.raises(InvalidProblemError, match=r"Y: float class labels above 2\*\*53"):
        nl.solve_lasso(PHI, labels, 0.1, loss="softmax")
    sol = nl.solve_lasso(PHI, np.where(np.arange(20) % 2 == 0, 3.0, 7.0), 0.1, loss="softmax")
    assert sol.V.shape[1] == 2                       # integer-valued floats still work


@pytest.mark.parametrize("call, field", [
    (lambda: nl.solve_lasso(PHI, Y, 0.1, active_tol=float("nan")), "active_tol"),
    (lambda: nl.solve_lasso(PHI, Y, 0.1, tol="tight"), "tol"),
    (lambda: nl.solve_lasso(PHI, Y, 0.1, tol=float("inf")), "tol"),
    (lambda: nl.fit_shallow(X, Y, lam_ratio="small", n_neurons=10), "lam_ratio"),
    (lambda: nl.fit_shallow(X, Y, lam_ratio=0.1, n_neurons=10, seed=-1), "seed"),
    (lambda: nl.sample_neurons(X, 10, seed=-1), "seed"),
    (lambda: nl.sample_patterns(X, 10, seed="x"), "seed"),
    (lambda: representer.certify(None), "fit"),
    (lambda: nl.solve_lasso(PHI, Y, 0.1, options={"max_iterr": 3}), "solver options"),
    (lambda: nl.solve_patterns(X, Y, 0.1, nl.sample_patterns(X, 300)), "patterns"),
])
def test_bad_arguments_give_typed_errors_naming_them(call, field):
    with pytest.raises(InvalidProblemError) as info:
        call()
    assert str(info.value).startswith(f"{field}: "), str(info.value)
    assert any(w in str(info.value) for w in ("e.g.", "pass", "use", "see")), str(info.value)


def test_check_width_refuses_a_phi_of_the_wrong_width():
    sol = nl.solve_lasso(PHI, Y, 0.1, skip="intercept")
    with pytest.raises(InvalidProblemError, match="Phi: has 3 columns but the solution has 10"):
        representer.check_width(sol, PHI[:, :3], skip="intercept", Y=Y)
    assert representer.check_width(sol, PHI, skip="intercept", Y=Y).holds


def test_gaps_are_never_negative():
    assert gaps(1e-20, 2e-20) == (0.0, 0.0)
    gap, rel = gaps(2.0, 1.0)
    assert gap == 1.0 and rel == 0.5


@pytest.mark.parametrize("solver", ["prox", "CLARABEL"])
@pytest.mark.parametrize("case", ["constant", "two_points"])
def test_certificate_is_never_negative_when_the_skip_fits_exactly(case, solver):
    if case == "constant":
        Phi, y = PHI, np.ones(20)
    else:
        x2 = np.array([[0.0], [1.0]]) * 1e6
        Phi, y = nl.sample_neurons(x2, 3, seed=0).features(x2), np.array([0.0, 1.0]) * 1e6
    sol = nl.solve_lasso(Phi, y, 0.1, skip="intercept", solver=solver)
    assert sol.gap >= 0 and sol.rel_gap >= 0, (sol.gap, sol.rel_gap)
    assert sol.status == "optimal"
    if case == "constant":
        assert sol.n_active == 0


# ------------------------------------------------- lam_ratio when the skip fits the data

AFFINE = 1.5 * X[:, 0] - 0.5 * X[:, 1] + 2.0


@pytest.mark.parametrize("dictionary", ["data", "knots_1d", "patterns", "adaptive"])
def test_lam_ratio_on_an_exact_affine_target_is_refused(dictionary):
    """lam_max = 0 (the skip alone fits Y): every lam_ratio gives lam = 0, so fit_shallow
    refuses with the field, the reason and the fix (it used to solve a lam = 0-scale program,
    reported optimal_inaccurate)."""
    Xd, y = (X[:, :1], 3.0 * X[:, 0] - 1.0) if dictionary == "knots_1d" else (X, AFFINE)
    kind = "knots" if dictionary == "knots_1d" else dictionary
    with pytest.raises(InvalidProblemError, match=r"^lam_ratio: lam_max = .* is \(numerically\) "
                       r"zero .*fit exactly by the unpenalized part.*give lam directly"):
        nl.fit_shallow(Xd, y, lam_ratio=0.1, dictionary=kind, n_neurons=10, seed=0)
    with pytest.raises(InvalidProblemError, match="lam_ratio: .*constant or affine target"):
        nl.fit_shallow(X, np.full(20, 2.0), lam_ratio=0.5, skip="intercept", n_neurons=10)


def test_lam_ratio_refusal_is_scale_free():
    """The zero test is relative to lam_max without the skip: tiny targets are not refused,
    and the same targets plus an affine function are."""
    y = 1e-9 * Y
    fit = nl.fit_shallow(X, y, lam_ratio=0.1, n_neurons=10, seed=0, solver="CLARABEL")
    assert fit.lam == pytest.approx(0.1 * nl.lam_max(fit.Phi, y, skip=X), rel=1e-12)
    assert fit.lam > 0
    with pytest.raises(InvalidProblemError, match="lam_ratio"):
        nl.fit_shallow(X, 1e6 * AFFINE, lam_ratio=0.1, n_neurons=10, seed=0)


def test_separable_labels_name_the_skip():
    labels = (X[:, 0] > 0).astype(int)
    with pytest.raises(InvalidProblemError, match=r"lam_ratio: .*separable.*skip='intercept'"):
        nl.fit_shallow(X, labels, lam_ratio=0.1, loss="logistic", n_neurons=10, seed=0)


def test_regressor_still_fits_an_exact_affine_target():
    """scikit-learn's contract: a regressor fits any target. On an exact affine one V = 0 is
    optimal and the prediction is that affine function (lam on the scale of lam_max without
    the skip)."""
    est = nl.ConvexReLURegressor(n_neurons=10, solver="prox").fit(X, AFFINE)
    assert est.n_active_ == 0
    np.testing.assert_allclose(est.predict(X), AFFINE, atol=1e-8)
    lm0 = nl.lam_max(est.fit_.Phi, AFFINE)
    assert est.lam_ == pytest.approx(est.lam_ratio * lm0, rel=1e-12)
