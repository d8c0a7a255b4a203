"""Tests of nnlasso.dictionary: features, samplers, knots, duplicate / antipodal removal."""
from __future__ import annotations

import numpy as np
import pytest

from nnlasso.dictionary import NeuronDictionary, cluster_rows, knot_neurons, sample_neurons
from nnlasso.errors import InvalidProblemError


@pytest.fixture
def X() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(40, 3))


# -- construction and features --------------------------------------------------------------

def test_rows_normalized_and_hyperplane_kept():
    W = np.array([[3.0, 4.0], [0.0, -2.0]])
    b = np.array([5.0, 1.0])
    dic = NeuronDictionary(W, b)
    np.testing.assert_allclose(np.linalg.norm(dic.W, axis=1), 1.0)
    np.testing.assert_allclose(dic.b, [1.0, 0.5])
    x = np.array([[1.0, 2.0], [-1.0, 0.3]])
    # relu is 1-homogeneous: the feature is the original one divided by |w|
    raw = np.maximum(x @ W.T - b, 0.0) / np.linalg.norm(W, axis=1)
    np.testing.assert_allclose(dic.features(x), raw, rtol=1e-14, atol=1e-14)
    assert (dic.K, dic.d, len(dic)) == (2, 2, 2)


def test_features_loop_reference(X):
    dic = sample_neurons(X, 17, seed=3)
    Phi = dic.features(X)
    ref = np.array([[max(0.0, float(np.dot(w, x)) - bk) for w, bk in zip(dic.W, dic.b)]
                    for x in X])
    assert Phi.dtype == np.float64 and Phi.shape == (40, 17)
    np.testing.assert_allclose(Phi, ref, atol=1e-13)


def test_leaky_and_power_activations(X):
    W = np.random.default_rng(1).normal(size=(6, 3))
    b = np.linspace(-1, 1, 6)
    Z = X @ (W / np.linalg.norm(W, axis=1)[:, None]).T - b / np.linalg.norm(W, axis=1)
    leaky = NeuronDictionary(W, b, activation="leaky_relu", alpha=0.1)
    np.testing.assert_allclose(leaky.features(X), np.where(Z > 0, Z, 0.1 * Z), atol=1e-14)
    cube = NeuronDictionary(W, b, activation="relu_power", degree=3)
    np.testing.assert_allclose(cube.features(X), np.where(Z > 0, Z ** 3, 0.0), atol=1e-13)
    assert leaky.homogeneity_degree == 1 and cube.homogeneity_degree == 3
    leaky.require_group_lasso()
    with pytest.raises(InvalidProblemError, match="only degree-1 positively homogeneous"):
        cube.require_group_lasso()
    assert NeuronDictionary(W, b, activation="relu_power", degree=1).homogeneity_degree == 1


@pytest.mark.parametrize("kwargs", [dict(activation="tanh"), dict(activation="relu", alpha=0.2),
                                    dict(activation="relu_power", degree=0),
                                    dict(activation="relu", degree=2)])
def test_bad_activation_parameters(kwargs):
    with pytest.raises(InvalidProblemError):
        NeuronDictionary(np.eye(2), np.zeros(2), **kwargs)


def test_zero_row_and_bad_shapes_rejected():
    with pytest.raises(InvalidProblemError, match="zero"):
        NeuronDictionary(np.array([[1.0, 0.0], [0.0, 0.0]]), np.zeros(2))
    with pytest.raises(InvalidProblemError, match="b"):
        NeuronDictionary(np.eye(2), np.zeros(3))
    with pytest.raises(InvalidProblemError, match="NaN"):
        NeuronDictionary(np.array([[np.nan, 1.0]]), np.zeros(1))


def test_features_wrong_width(X):
    dic = sample_neurons(X, 5, seed=0)
    with pytest.raises(InvalidProblemError, match="3 inputs"):
        dic.features(X[:, :2])
    with pytest.raises(InvalidProblemError, match="NaN"):
        dic.features(np.full((2, 3), np.nan))


# -- samplers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["data", "sphere"])
def test_sampling_reproducible_unit_rows(X, method):
    a = sample_neurons(X, 200, method=method, seed=42)
    b = sample_neurons(X, 200, method=method, seed=42)
    c = sample_neurons(X, 200, method=method, seed=43)
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.b, b.b)
    assert not np.allclose(a.W, c.W)
    np.testing.assert_allclose(np.linalg.norm(a.W, axis=1), 1.0, atol=1e-14)
    P = X @ a.W.T
    # every hyperplane meets the convex hull of the data: b within the projection range
    assert np.all(a.b >= P.min(axis=0) - 1e-12) and np.all(a.b <= P.max(axis=0) + 1e-12)


def test_data_method_hyperplanes_through_data_points(X):
    dic = sample_neurons(X, 300, method="data", seed=0)
    P = X @ dic.W.T - dic.b               # zero at the anchor point of each neuron
    assert np.all(np.min(np.abs(P), axis=0) < 1e-12)
    # the hyperplane cuts the data: points strictly on both sides for (almost) every neuron
    both = np.mean((P > 1e-12).any(axis=0) & (P < -1e-12).any(axis=0))
    assert both > 0.9


def test_sphere_directions_are_isotropic():
    X = np.random.default_rng(0).normal(size=(10, 3))
    W = sample_neurons(X, 20000, method="sphere", seed=1).W
    np.testing.assert_allclose(W.mean(axis=0), 0.0, atol=0.03)
    np.testing.assert_allclose(W.T @ W / len(W), np.eye(3) / 3, atol=0.03)


def test_generator_seed_and_bad_arguments(X):
    rng = np.random.default_rng(5)
    a = sample_neurons(X, 4, seed=rng)
    assert a.K == 4
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InvalidProblemError, match="n_neurons"):
            sample_neurons(X, bad)
    with pytest.raises(InvalidProblemError, match="method"):
        sample_neurons(X, 3, method="grid")
    Xbad = X.copy()
    Xbad[0, 0] = np.inf
    with pytest.raises(InvalidProblemError):
        sample_neurons(Xbad, 3)


def test_sampler_one_dimensional_input():
    x = np.linspace(-1, 1, 11)
    dic = sample_neurons(x, 30, seed=0)
    assert dic.d == 1 and set(np.unique(dic.W)) <= {-1.0, 1.0}
    assert dic.features(x).shape == (11, 30)


# -- knots ------------------------------------------------------------------------------------

def test_knot_neurons():
    x = np.array([3.0, -1.0, 2.0, 2.0, 0.5])
    dic = knot_neurons(x)
    np.testing.assert_array_equal(dic.W[:, 0], 1.0)
    np.testing.assert_array_equal(dic.b, [-1.0, 0.5, 2.0])       # largest point dropped
    Phi = dic.features(x)
    np.testing.assert_allclose(Phi[:, 0], x - x.min())            # affine on the data
    assert np.all(Phi.max(axis=0) > 0)
    no_min = knot_neurons(x[:, None], include_min=False)
    np.testing.assert_array_equal(no_min.b, [0.5, 2.0])


def test_knot_neurons_span_interpolants():
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-2, 2, 9))
    z = rng.normal(size=9)
    Phi = knot_neurons(x).features(x)
    A = np.column_stack([Phi, np.ones(9)])
    coef, *_ = np.linalg.lstsq(A, z, rcond=None)
    np.testing.assert_allclose(A @ coef, z, atol=1e-10)


def test_knot_neurons_errors():
    with pytest.raises(InvalidProblemError, match="d = 2"):
        knot_neurons(np.zeros((4, 2)))
    with pytest.raises(InvalidProblemError, match="distinct"):
        knot_neurons(np.ones(5))


# -- editing ----------------------------------------------------------------------------------

def test_unique_removes_duplicates_and_antipodes(X):
    base = sample_neurons(X, 30, seed=0)
    big = base.append(base.W[:7] * 2.0, base.b[:7] * 2.0)      # duplicates after normalization
    big = big.append(-base.W[10:14], -base.b[10:14])            # antipodes
    assert big.K == 41
    u = big.unique()
    assert u.K == 30
    np.testing.assert_allclose(u.W, base.W, atol=1e-15)
    np.testing.assert_allclose(u.b, base.b)
    assert big.unique(antipodal=False).K == 34
    # antipodal features are redundant given an affine skip: same span
    A_full = np.column_stack([big.features(X), X, np.ones(len(X))])
    A_u = np.column_stack([u.features(X), X, np.ones(len(X))])
    assert np.linalg.matrix_rank(A_full) == np.linalg.matrix_rank(A_u)


def test_unique_power_refuses_antipodal(X):
    dic = NeuronDictionary(np.eye(3), np.zeros(3), activation="relu_power", degree=2)
    with pytest.raises(InvalidProblemError, match="antipodal=False"):
        dic.unique()
    assert dic.unique(antipodal=False).K == 3


def test_subset_concat(X):
    a = sample_neurons(X, 5, seed=0)
    b = sample_neurons(X, 3, seed=1)
    c = a.concat(b)
    assert c.K == 8
    np.testing.assert_allclose(c.features(X), np.hstack([a.features(X), b.features(X)]))
    s = c.subset([1, 6])
    np.testing.assert_allclose(s.features(X), c.features(X)[:, [1, 6]])
    mask = np.zeros(8, dtype=bool)
    mask[2] = True
    assert c.subset(mask).K == 1
    with pytest.raises(InvalidProblemError):
        c.subset([8])
    with pytest.raises(InvalidProblemError):
        a.concat(NeuronDictionary(a.W, a.b, activation="leaky_relu", alpha=0.1))
    with pytest.raises(InvalidProblemError):
        a.append(np.ones((1, 2)), [0.0])


def test_cluster_rows_signs():
    Z = np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 1e-12], [0.0, 1.0]])
    rep, sign = cluster_rows(Z, 1e-9, antipodal=True)
    np.testing.assert_array_equal(rep, [0, 0, 0, 3])
    np.testing.assert_array_equal(sign, [1, -1, 1, 1])
    rep, _ = cluster_rows(Z, 1e-9)
    np.testing.assert_array_equal(rep, [0, 1, 0, 3])
