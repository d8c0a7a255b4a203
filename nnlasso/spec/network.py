"""Loading and checking a trained network's npz (compress problems)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidProblemError
from ..memory import max_memory_default
from .schema import ProblemFileError, ProblemSpec
from .data import _finite
from .files import _load_npz, _npz_headers

def _load_network(spec: ProblemSpec, d: int, max_memory: int | None) -> Any:
    """Check a network npz (arrays W1, b1, ..., WL, bL with consistent shapes, optional
    ``out_activation`` and ``classes`` as written by :meth:`nnlasso.MLP.save`); return the
    :class:`nnlasso.MLP`."""
    file, fld = spec.file, "network.path"
    if spec.network.resolved is None:
        raise ProblemFileError(file, fld, "not resolved (load the spec with load_problem)")
    headers = _npz_headers(spec, spec.network.resolved, fld,
                           text_ok=("out_activation", "classes"))
    L = 0
    while f"W{L + 1}" in headers:
        L += 1
    # optional metadata written by nnlasso.MLP.save
    expected = {f"{p}{i}" for i in range(1, L + 1) for p in "Wb"} | {"out_activation",
                                                                      "classes"}
    for name in headers:
        if name not in expected:
            raise ProblemFileError(file, fld, f"unexpected array {name!r}; a network npz holds "
                                              "W1, b1, W2, b2, ... (consecutive layers)")
    if L < 2:
        raise ProblemFileError(file, fld, f"needs at least two layers (W1, b1, W2, b2), found "
                                          f"{L}")
    for i in range(1, L + 1):
        if f"b{i}" not in headers:
            raise ProblemFileError(file, fld, f"missing array 'b{i}'")
    cap = max_memory if max_memory is not None else max_memory_default()
    if sum(8 * math.prod(s) for s, dt in headers.values() if dt.kind in "biuf") > cap:
        raise ProblemFileError(file, fld, "the network's arrays are over the memory cap")
    arrays = _load_npz(spec, spec.network.resolved, fld)
    weights = [np.asarray(arrays[f"W{i}"], dtype=np.float64) for i in range(1, L + 1)]
    biases = [np.asarray(arrays[f"b{i}"], dtype=np.float64) for i in range(1, L + 1)]
    n_in = d
    for i, (W, b) in enumerate(zip(weights, biases), 1):
        _finite(spec, fld, f"W{i}", W)
        _finite(spec, fld, f"b{i}", b)
        if W.ndim != 2 or W.shape[1] != n_in:
            raise ProblemFileError(file, fld, f"W{i} has shape {W.shape}, expected (n_out, "
                                              f"{n_in}) (W_l is (n_out, n_in); layer 1 takes the "
                                              f"data's {d} inputs)")
        if b.shape != (W.shape[0],):
            raise ProblemFileError(file, fld, f"b{i} has shape {b.shape}, expected "
                                              f"({W.shape[0]},)")
        n_in = W.shape[0]
    out_act = arrays.get("out_activation")
    if out_act is not None and (out_act.ndim != 0 or out_act.dtype.kind not in "US"):
        raise ProblemFileError(file, fld, "out_activation must be a 0-d string array (save the "
                                          "network with nnlasso.MLP.save)")
    from ..networks import MLP
    try:
        mlp = MLP(weights, biases, out_activation=None if out_act is None else str(out_act),
                  classes=arrays.get("classes"))
    except InvalidProblemError as exc:
        raise ProblemFileError(file, fld, f"{exc} (save the network with nnlasso.MLP.save)"
                               ) from None
    return mlp
