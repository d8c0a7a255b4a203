"""nnlasso: weight decay on ReLU networks as a convex multitask lasso over neurons.

The public names below are imported on first use (PEP 562), so ``import nnlasso``, the
``nnlasso`` command and its worker processes do not pay for CVXPY, SciPy and scikit-learn until
a solver, a network or an estimator is actually needed.
"""
from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version as _version
from typing import TYPE_CHECKING, Any

try:
    __version__ = _version("nnlasso")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

#: public name -> the submodule that defines it
_EXPORTS: dict[str, str] = {
    "NeuronDictionary": "dictionary", "knot_neurons": "dictionary", "sample_neurons": "dictionary",
    "InvalidProblemError": "errors", "NnlassoError": "errors", "SolverError": "errors",
    "lam_max": "lasso", "lasso_path": "lasso", "solve_lasso": "lasso", "solve_min_norm": "lasso",
    "get_loss": "losses",
    "MLP": "networks", "ShallowReLUNet": "networks",
    "PatternSolution": "patterns", "enumerate_patterns": "patterns", "fit_patterns": "patterns",
    "sample_patterns": "patterns", "solve_patterns": "patterns", "pattern_path": "patterns",
    "ShallowFit": "shallow", "fit_shallow": "shallow",
    "ConvexReLUClassifier": "estimators", "ConvexReLURegressor": "estimators",
    "ConvexReLUClassifierCV": "estimators", "ConvexReLURegressorCV": "estimators",
    "CompressionPath": "compress", "CompressionReport": "compress", "compress_layer": "compress",
    "compress_network": "compress", "compression_path": "compress",
    "Solution": "solution",
    "DeepReLUNet": "deep", "compress_deep": "deep_compress",
    "train_prox": "training", "train_weight_decay": "training",
    "train_lasso": "training", "train_group_lasso": "training",
}
#: submodules exported as attributes (``nnlasso.compress`` is the module; the whole-network
#: function is ``compress_network``)
_MODULES = ("representer", "compress")

if TYPE_CHECKING:  # static type checkers see ordinary imports
    from . import compress, representer
    from .compress import (CompressionPath, CompressionReport, compress_layer, compress_network,
                           compression_path)
    from .deep import DeepReLUNet
    from .deep_compress import compress_deep
    from .dictionary import NeuronDictionary, knot_neurons, sample_neurons
    from .errors import InvalidProblemError, NnlassoError, SolverError
    from .estimators import (ConvexReLUClassifier, ConvexReLUClassifierCV, ConvexReLURegressor,
                             ConvexReLURegressorCV)
    from .lasso import lam_max, lasso_path, solve_lasso, solve_min_norm
    from .losses import get_loss
    from .networks import MLP, ShallowReLUNet
    from .patterns import (PatternSolution, enumerate_patterns, fit_patterns, pattern_path,
                           sample_patterns, solve_patterns)
    from .shallow import ShallowFit, fit_shallow
    from .solution import Solution
    from .training import train_group_lasso, train_lasso, train_prox, train_weight_decay

__all__ = sorted(_EXPORTS) + list(_MODULES) + ["__version__"]


def __getattr__(name: str) -> Any:
    """Import a public name (or any submodule, e.g. ``nnlasso.prox``) on first access."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif not name.startswith("__"):
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
