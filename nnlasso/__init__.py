"""nnlasso: weight decay on ReLU networks as a convex multitask lasso over neurons."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

from .dictionary import NeuronDictionary, knot_neurons, sample_neurons
from .errors import InvalidProblemError, NnlassoError, SolverError
from .lasso import lam_max, lasso_path, solve_lasso, solve_min_norm
from .losses import get_loss
from .networks import MLP, ShallowReLUNet
from .patterns import PatternSolution, enumerate_patterns, fit_patterns, sample_patterns, solve_patterns
from .shallow import ShallowFit, fit_shallow
from .estimators import (ConvexReLUClassifier, ConvexReLUClassifierCV, ConvexReLURegressor,
                         ConvexReLURegressorCV)
from .compress import CompressionPath, CompressionReport, compress_layer, compress_network, compression_path
from . import compress  # noqa: E402  (the module; the whole-network function is compress_network)
from .solution import Solution
from . import representer  # noqa: E402  (the separate verification module)

try:
    __version__ = _version("nnlasso")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["MLP", "ConvexReLUClassifier", "ConvexReLUClassifierCV", "ConvexReLURegressor",
           "ConvexReLURegressorCV", "NeuronDictionary", "ShallowFit",
           "ShallowReLUNet", "fit_shallow", "PatternSolution", "enumerate_patterns", "fit_patterns",
           "sample_patterns", "solve_patterns", "knot_neurons", "sample_neurons",
           "InvalidProblemError", "NnlassoError", "representer", "compress", "compress_layer", "compress_network",
           "compression_path", "CompressionReport", "CompressionPath", "Solution", "SolverError", "get_loss", "lam_max",
           "lasso_path", "solve_lasso", "solve_min_norm", "__version__"]
