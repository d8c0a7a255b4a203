"""Problem-file schema: constants, limits, :class:`ProblemFileError` and the spec dataclasses."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..losses import LOSSES as _LOSS_REGISTRY

from ..errors import InvalidProblemError

SCHEMA = 1
SOURCES = ("sklearn", "npz", "csv", "synthetic")
#: scikit-learn loaders allowed by name: (N, d, D) with D = classes for classification sets
SKLEARN_DATASETS: dict[str, tuple[int, int, int]] = {
    "diabetes": (442, 10, 1), "linnerud": (20, 3, 3), "iris": (150, 4, 3),
    "wine": (178, 13, 3), "breast_cancer": (569, 30, 2), "digits": (1797, 64, 10),
}
DICTIONARY_KINDS = ("data", "sphere", "knots", "patterns", "gated", "adaptive")
LOSSES = tuple(_LOSS_REGISTRY)  # the names of nnlasso.losses.LOSSES
CERTIFICATES = ("none", "dictionary", "continuous")
MAX_FILE_BYTES = 1 << 20
MAX_DICTIONARY = 1_000_000
MAX_SAMPLES = 10_000_000
MAX_DATA_FILE_BYTES = 2 * 2**30
MAX_CSV_BYTES = 200 * 2**20

_TOP_KEYS = ("schema", "name", "task", "data", "dictionary", "network", "model", "solver",
             "verify")
_DATA_KEYS = {"sklearn": ("source", "name", "standardize", "max_samples", "seed"),
              "npz": ("source", "path", "standardize", "max_samples", "seed"),
              "csv": ("source", "path", "targets", "delimiter", "standardize", "max_samples",
                      "seed"),
              "synthetic": ("source", "generator", "params", "standardize", "max_samples",
                            "seed")}
_ALL_DATA_KEYS = tuple(sorted({k for keys in _DATA_KEYS.values() for k in keys}))
_DICT_KEYS = ("kind", "size", "seed")
_NET_KEYS = ("path", "layer")
_MODEL_KEYS = ("loss", "lam", "lam_ratio", "skip", "eps")
_SOLVER_KEYS = ("name", "time_limit", "options")
_VERIFY_KEYS = ("reduce_support", "certificate")


class ProblemFileError(InvalidProblemError):
    """An invalid problem file: ``str(err)`` is ``"file: field: message"``.

    Attributes
    ----------
    file : str
        The problem file as the user named it.
    field : str
        The offending field, dotted (``"model.lam"``), or ``"file"`` / ``"toml"``.
    message : str
        What is wrong and how to fix it.
    """

    def __init__(self, file: str, field: str, message: str) -> None:
        self.file = str(file)
        self.field = field
        self.message = message
        super().__init__(f"{self.file}: {field}: {message}")

    def __reduce__(self):  # keep the three attributes through pickling (process pools, Dask)
        return (type(self), (self.file, self.field, self.message))


@dataclass(frozen=True)
class DataSpec:
    """The ``[data]`` table."""

    source: str
    name: str | None = None
    path: str | None = None
    resolved: Path | None = None
    generator: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    targets: int | tuple[str, ...] = 1
    delimiter: str = ","
    standardize: bool = False
    max_samples: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class DictionarySpec:
    """The ``[dictionary]`` table (fit, and lasso without a Phi array)."""

    kind: str = "data"
    size: int = 2000
    seed: int = 0


@dataclass(frozen=True)
class NetworkSpec:
    """The ``[network]`` table (compress)."""

    path: str
    layer: int | str = 1
    resolved: Path | None = None


@dataclass(frozen=True)
class ModelSpec:
    """The ``[model]`` table."""

    loss: str = "squared"
    lam: float | None = None
    lam_ratio: float | None = None
    skip: bool | str = True
    eps: float = 0.0


@dataclass(frozen=True)
class SolverSpec:
    """The ``[solver]`` table."""

    name: str = "AUTO"
    time_limit: float | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifySpec:
    """The ``[verify]`` table."""

    reduce_support: bool = True
    certificate: str = "dictionary"


@dataclass(frozen=True)
class ProblemSpec:
    """A validated problem file.

    ``file`` is the path as the user named it (used in every message), ``folder`` the folder
    that data paths are relative to, ``sha256`` the hash of the file's bytes.
    """

    file: str
    folder: Path
    sha256: str
    schema: int
    name: str
    task: str
    data: DataSpec
    model: ModelSpec
    solver: SolverSpec
    verify: VerifySpec
    dictionary: DictionarySpec | None = None
    network: NetworkSpec | None = None


@dataclass
class ProblemData:
    """Arrays of a problem, ready for its task.

    X : (N, d) inputs or None (lasso with a Phi array and no X); Y : (N, D') targets / labels
    (None only for compress without Y); Phi : (N, K) features (lasso from npz) or None;
    weights, biases : the network's arrays (compress) or None; network : the checked
    :class:`nnlasso.MLP` (compress) or None; N, d, D : sizes (D = the number of
    outputs of the program: classes for softmax); K : dictionary / feature count estimate;
    memory : the memory estimate in bytes.
    """

    X: np.ndarray | None
    Y: np.ndarray | None
    Phi: np.ndarray | None
    N: int
    d: int
    D: int
    K: int
    memory: int
    weights: list[np.ndarray] | None = None
    biases: list[np.ndarray] | None = None
    network: Any = None
