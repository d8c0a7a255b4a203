"""Seeded synthetic data sets for problem files (``[data] source = "synthetic"``).

Each generator is a pure function of its parameters: the same parameters (including ``seed``)
give the same arrays on every machine. :data:`GENERATORS` describes the parameters (type,
default, range) so that problem files can be validated without generating anything.

Generators
----------
relu_teacher
    Inputs uniform on [-1, 1]^d and targets from a random shallow ReLU "teacher" network with
    ``width`` neurons (unit input weights, biases in [-0.5, 0.5]) plus an affine part, plus
    Gaussian noise of standard deviation ``noise``. ``outputs`` > 1 gives several targets.
    ``labels = "binary"`` thresholds the (single) noisy output at its median and returns labels
    in {0, 1} (for the logistic loss); ``labels = "classes"`` returns the argmax of the
    ``outputs`` noisy outputs as integer labels 0..outputs-1 (for the softmax loss).
kink_1d
    A one-dimensional continuous piecewise-linear function with ``knots`` kinks at random places
    in (-0.8, 0.8), sampled at ``n`` sorted points of [-1, 1], plus Gaussian noise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Param:
    """One generator parameter: its type, default, inclusive range or allowed choices."""

    kind: type
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    doc: str = ""


def relu_teacher(n: int = 200, d: int = 2, width: int = 5, noise: float = 0.1, seed: int = 0,
                 outputs: int = 1, labels: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Sample a data set from a random shallow ReLU teacher network.

    Parameters
    ----------
    n, d : int
        Number of samples and input dimension.
    width : int
        Number of teacher neurons.
    noise : float
        Standard deviation of the Gaussian noise added to the outputs.
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    outputs : int
        Number of outputs D (classes when ``labels = "classes"``).
    labels : {"none", "binary", "classes"}
        Regression targets, {0, 1} labels or integer class labels.

    Returns
    -------
    X : (n, d) float array
    Y : (n, outputs) float array, or (n,) int array of labels
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, d))
    W = rng.standard_normal((width, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    b = rng.uniform(-0.5, 0.5, size=width)
    V = rng.standard_normal((width, outputs)) * 2.0 / np.sqrt(width)
    C = rng.standard_normal((d, outputs)) * 0.3
    F = np.maximum(X @ W.T - b, 0.0) @ V + X @ C
    F = F + noise * rng.standard_normal(F.shape)
    if labels == "binary":
        return X, (F[:, 0] > np.median(F[:, 0])).astype(np.int64)
    if labels == "classes":
        return X, np.argmax(F, axis=1).astype(np.int64)
    return X, F


def kink_1d(n: int = 50, knots: int = 3, noise: float = 0.05, seed: int = 0
            ) -> tuple[np.ndarray, np.ndarray]:
    """Sample a noisy continuous piecewise-linear function of one variable.

    Parameters
    ----------
    n : int
        Number of samples (sorted, uniform on [-1, 1]).
    knots : int
        Number of kinks of the function.
    noise : float
        Standard deviation of the Gaussian noise.
    seed : int
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    X : (n, 1) float array
    Y : (n, 1) float array
    """
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1.0, 1.0, size=n))
    t = np.sort(rng.uniform(-0.8, 0.8, size=knots))
    jumps = rng.choice([-1.0, 1.0], size=knots) * rng.uniform(1.0, 3.0, size=knots)
    f = 0.5 * x + np.maximum(x[:, None] - t[None, :], 0.0) @ jumps
    y = f + noise * rng.standard_normal(n)
    return x[:, None], y[:, None]


#: name -> (function, parameters)
GENERATORS: dict[str, tuple[Callable[..., tuple[np.ndarray, np.ndarray]], dict[str, Param]]] = {
    "relu_teacher": (relu_teacher, {
        "n": Param(int, 200, 2, 10_000_000, doc="number of samples"),
        "d": Param(int, 2, 1, 100_000, doc="input dimension"),
        "width": Param(int, 5, 1, 100_000, doc="teacher neurons"),
        "noise": Param(float, 0.1, 0.0, 1e6, doc="noise standard deviation"),
        "seed": Param(int, 0, 0, 2**63 - 1, doc="random seed"),
        "outputs": Param(int, 1, 1, 10_000, doc="outputs (classes with labels='classes')"),
        "labels": Param(str, "none", choices=("none", "binary", "classes"),
                        doc="regression targets, {0, 1} labels or class labels"),
    }),
    "kink_1d": (kink_1d, {
        "n": Param(int, 50, 2, 10_000_000, doc="number of samples"),
        "knots": Param(int, 3, 0, 10_000, doc="number of kinks"),
        "noise": Param(float, 0.05, 0.0, 1e6, doc="noise standard deviation"),
        "seed": Param(int, 0, 0, 2**63 - 1, doc="random seed"),
    }),
}


def shape_of(generator: str, params: dict[str, Any]) -> tuple[int, int, int]:
    """Return (N, d, D) of the data a generator would produce, without generating it.

    ``params`` must already be complete (defaults filled in), e.g. from :func:`check_params`.
    """
    if generator == "kink_1d":
        return int(params["n"]), 1, 1
    D = 1 if params["labels"] != "none" else int(params["outputs"])
    return int(params["n"]), int(params["d"]), D


def memory_of(generator: str, params: dict[str, Any]) -> tuple[int, str]:
    """Peak bytes a generator allocates, and the parameter that drives it (pure).

    relu_teacher: ``8 n (d + 2 width + 3 outputs)`` (the inputs, the (n, width) pre-activations
    and their ReLU, the outputs); kink_1d: ``8 n (2 knots + 3)``. ``params`` must be complete.
    """
    n = int(params["n"])
    if generator == "kink_1d":
        return 8 * n * (2 * int(params["knots"]) + 3), "knots"
    d, width, outputs = int(params["d"]), int(params["width"]), int(params["outputs"])
    return 8 * n * (d + 2 * width + 3 * outputs), "width" if 2 * width >= d else "d"


def check_params(generator: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validate generator parameters and fill in the defaults (pure).

    Raises
    ------
    KeyError
        ``(key, message)`` for an unknown generator (key ``""``) or parameter.
    ValueError
        ``(key, message)`` for a parameter of the wrong type or out of range.
    """
    if generator not in GENERATORS:
        raise KeyError("", f"unknown generator {generator!r}")
    spec = GENERATORS[generator][1]
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key not in spec:
            raise KeyError(key, f"unknown parameter of {generator!r}")
        p = spec[key]
        if p.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif p.kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            example = {"int": "an integer without quotes", "float": "a number without quotes",
                       "str": "a string in quotes"}[p.kind.__name__]
            raise ValueError(key, f"expected {p.kind.__name__}, got {type(value).__name__} "
                                  f"{value!r} (write {example})")
        if p.choices is not None and value not in p.choices:
            raise ValueError(key, f"{value!r} is not one of {list(p.choices)}")
        if p.kind is float:
            try:
                value = float(value)
            except OverflowError:
                raise ValueError(key, f"the integer {str(value)[:10]}... ({len(str(value))} "
                                      "digits) is too large for a floating-point number (give "
                                      f"a value in [{p.lo}, {p.hi}])") from None
            if not np.isfinite(value):
                raise ValueError(key, f"must be finite, got {value!r}")
        if p.lo is not None and (value < p.lo or value > p.hi):
            raise ValueError(key, f"{value!r} is out of range [{p.lo}, {p.hi}] (use a "
                                  "value inside it)")
        out[key] = p.kind(value)
    for key, p in spec.items():
        out.setdefault(key, p.default)
    if generator == "relu_teacher" and out["labels"] == "classes" and out["outputs"] < 2:
        raise ValueError("outputs", "labels = 'classes' needs outputs >= 2 (one per class)")
    return out


def generate(generator: str, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Run a generator on validated, complete parameters; return (X, Y)."""
    fn = GENERATORS[generator][0]
    return fn(**params)
