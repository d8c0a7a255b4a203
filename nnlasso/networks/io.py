"""Conversions and files of :class:`~nnlasso.networks.MLP`: from scikit-learn and PyTorch, ``.npz``
save / load (``b`` stored subtracted, as in nnlasso); the methods come to MLP through the mixin
:class:`_MLPIO`."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidProblemError

if TYPE_CHECKING:
    from .mlp import MLP


class _MLPIO:
    """Constructors from scikit-learn / PyTorch and ``.npz`` I/O of :class:`MLP`."""

    @classmethod
    def from_sklearn(cls, est: Any) -> "MLP":
        """Convert a fitted ``MLPRegressor`` / ``MLPClassifier`` with ``activation="relu"``.

        ``W_l = coefs_[l-1].T`` and ``b_l = -intercepts_[l-1]`` (sklearn adds its intercepts);
        the output activation and ``classes_`` are kept, so :meth:`predict` equals the
        estimator's ``predict`` exactly and :meth:`predict_proba` its ``predict_proba`` (for
        estimators fitted on float64 data).
        """
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        if not isinstance(est, (MLPClassifier, MLPRegressor)):
            raise InvalidProblemError(f"from_sklearn: expected a fitted MLPRegressor or "
                                      f"MLPClassifier, got {type(est).__name__}")
        if not hasattr(est, "coefs_"):
            raise InvalidProblemError("from_sklearn: the estimator is not fitted; call "
                                      "est.fit(X, y) first")
        if est.activation != "relu":
            raise InvalidProblemError(
                f"from_sklearn: the estimator uses activation={est.activation!r}, but nnlasso "
                "handles ReLU networks only (weight decay is a lasso because relu is "
                "1-homogeneous); refit with activation='relu'")
        weights = [np.asarray(C, dtype=np.float64).T for C in est.coefs_]
        biases = [-np.asarray(c, dtype=np.float64) for c in est.intercepts_]
        if isinstance(est, MLPClassifier):
            return cls(weights, biases, out_activation=est.out_activation_,
                       classes=np.asarray(est.classes_))
        return cls(weights, biases, out_activation="identity")

    @classmethod
    def from_torch(cls, module: Any, *, out_activation: str | None = None,
                   classes: Any = None) -> "MLP":
        """Convert a PyTorch ``nn.Sequential`` of ``Linear`` and ``ReLU`` layers (or one Linear).

        The layers must alternate ``Linear, ReLU, Linear, ..., Linear``. Weights are copied to
        float64 (``W_l = linear.weight``, ``b_l = -linear.bias``). The outputs are the module's
        outputs (logits); pass ``classes`` to get a classifier.
        """
        try:
            from torch import nn
        except ImportError:
            raise InvalidProblemError("from_torch: PyTorch is not installed; pip install torch")
        if isinstance(module, nn.Linear):
            layers = [module]
        elif isinstance(module, nn.Sequential):
            layers = list(module)
        else:
            raise InvalidProblemError(f"from_torch: expected an nn.Sequential of Linear and ReLU "
                                      f"layers, got {type(module).__name__}")
        weights, biases = [], []
        for i, m in enumerate(layers):
            want = nn.Linear if i % 2 == 0 else nn.ReLU
            if not isinstance(m, want):
                raise InvalidProblemError(
                    f"from_torch: layer {i} is {type(m).__name__}, expected {want.__name__}; "
                    "only Linear, ReLU, Linear, ..., Linear (alternating) is supported")
            if want is nn.Linear:
                W = m.weight.detach().cpu().double().numpy().copy()
                b = (np.zeros(W.shape[0]) if m.bias is None
                     else -m.bias.detach().cpu().double().numpy())
                weights.append(W)
                biases.append(b)
        if not layers or not isinstance(layers[-1], nn.Linear):
            raise InvalidProblemError("from_torch: the module must end with an nn.Linear "
                                      "(the output layer)")
        return cls(weights, biases, out_activation=out_activation, classes=classes)

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` file: ``W1, b1, W2, b2, ...`` (``b`` subtracted) and, as plain
        (non-object) arrays, ``out_activation`` and, for classifiers, ``classes``."""
        arrays: dict[str, np.ndarray] = {}
        for l, (W, b) in enumerate(zip(self.weights, self.biases), start=1):
            arrays[f"W{l}"], arrays[f"b{l}"] = np.asarray(W), np.asarray(b)
        arrays["out_activation"] = np.array(self.out_activation)
        if self.classes is not None:
            arrays["classes"] = _plain_classes(self.classes)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "MLP":
        """Read a file written by :meth:`save` (or any ``.npz`` with ``W1, b1, ...``).

        Loaded with ``allow_pickle=False``; missing or misnumbered arrays, unknown arrays, shape
        mismatches between layers and NaN raise :class:`InvalidProblemError` naming the file and
        the array.
        """
        path = Path(path)
        data = _read_npz(path)
        try:
            Ws, bs = _layers_from_arrays(data)
            out_act = None
            if "out_activation" in data:
                oa = data["out_activation"]
                if oa.ndim != 0 or oa.dtype.kind not in "US":
                    raise InvalidProblemError("out_activation: expected a 0-d string array")
                out_act = str(oa)
            classes = data.get("classes")
            if classes is not None and classes.ndim != 1:
                raise InvalidProblemError(f"classes: expected a 1-D array, got shape "
                                          f"{classes.shape}")
            return cls(Ws, bs, out_activation=out_act, classes=classes)
        except InvalidProblemError as exc:
            raise InvalidProblemError(f"{path}: {exc}") from None


def _plain_classes(classes: np.ndarray) -> np.ndarray:
    """Class labels as a non-object array (numbers, booleans or strings) for ``np.savez``."""
    arr = np.asarray(classes)
    if arr.dtype != object:
        return arr
    if all(isinstance(c, str) for c in arr):
        return arr.astype(str)
    raise InvalidProblemError("save: class labels of mixed / object type cannot be stored "
                              "without pickles; use numeric or string labels")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, loaded without pickles."""
    if not path.is_file():
        raise InvalidProblemError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            return {k: f[k] for k in f.files}
    except (AttributeError, TypeError):  # np.load returned a plain array (a .npy file)
        raise InvalidProblemError(f"{path}: not an .npz archive (expected arrays W1, b1, ...)") \
            from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InvalidProblemError(f"{path}: cannot be read as an .npz archive without pickles "
                                  f"({exc})") from None


def _layers_from_arrays(data: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``W1, b1, ..., WL, bL`` from a dict of arrays, with clear errors."""
    found: dict[str, dict[int, np.ndarray]] = {"W": {}, "b": {}}
    for key, arr in data.items():
        m = re.fullmatch(r"([Wb])([0-9]+)", key)
        if m:
            found[m.group(1)][int(m.group(2))] = arr
        elif key not in ("out_activation", "classes"):
            raise InvalidProblemError(f"{key}: unknown array; expected W1, b1, W2, b2, ... "
                                      "(and optionally out_activation, classes)")
    L = len(found["W"])
    if L == 0:
        raise InvalidProblemError("W1: missing (expected arrays W1, b1, W2, b2, ...)")
    for kind in ("W", "b"):
        for l in range(1, L + 1):
            if l not in found[kind]:
                raise InvalidProblemError(f"{kind}{l}: missing (layers are numbered 1..{L})")
        extra = sorted(set(found[kind]) - set(range(1, L + 1)))
        if extra:
            raise InvalidProblemError(f"{kind}{extra[0]}: misnumbered (layers are numbered "
                                      f"1..{L} without gaps)")
    for kind in ("W", "b"):
        for l in range(1, L + 1):
            if found[kind][l].dtype.kind not in "fiub":
                raise InvalidProblemError(f"{kind}{l}: expected a numeric array, got dtype "
                                          f"{found[kind][l].dtype}")
    return ([found["W"][l] for l in range(1, L + 1)], [found["b"][l] for l in range(1, L + 1)])
