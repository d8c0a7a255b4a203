"""``task = "compress"``: a trained network's hidden layer(s) reduced to a support within the
width bound (:func:`nnlasso.compress.compress_layer`,
:func:`nnlasso.compress.compress_network`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..duality import relative_gap
from ..spec.schema import NetworkSpec, ProblemData, ProblemFileError, ProblemSpec, _NET_KEYS
from ..spec.tables import _Table, _check_relpath
from .base import Task, register
from .common import api, solver_name


@register
class CompressTask(Task):
    """Compress a network: ``[network]`` (path, layer) instead of a dictionary; ``[model]`` is
    optional (eps for the constrained form, or lam / lam_ratio for the penalized one)."""

    name = "compress"
    penalized = False
    certificates = ("none",)
    default_certificate = "none"
    npz_required = ("X",)
    model_forbids = {"skip": "compress problems keep the network's own biases (remove skip)"}

    def parse_structure(self, file: str, top: _Table) -> tuple[None, NetworkSpec]:
        if top.has("dictionary"):
            raise top.error("dictionary", "compress problems use the trained network's neurons "
                                          "(remove [dictionary])")
        if not top.has("network"):
            raise top.error("network", "missing [network] section (add path = \"nets/mlp.npz\" "
                                       "and layer = 1)")
        nt = _Table(file, "network", top.table["network"], _NET_KEYS)
        if not nt.has("path"):
            raise nt.error("path", "missing (add path = \"nets/mlp.npz\")")
        npath = _check_relpath(file, "network.path", nt.table["path"])
        if Path(npath).suffix.lower() != ".npz":
            raise nt.error("path", f"expected a .npz file, got {npath!r} (save the network "
                                   "with nnlasso.MLP.save or np.savez)")
        layer = nt.table.get("layer", 1)
        if layer != "all":
            layer = nt.int("layer", 1, 1, 1000, fix="a hidden layer, 1-based, or \"all\"")
        return None, NetworkSpec(path=npath, layer=layer)

    def check_model(self, mt: _Table, loss: str, lam: float | None, lam_ratio: float | None,
                    eps: float) -> None:
        if loss != "squared":
            raise mt.error("loss", "compress problems keep the layer's outputs (squared "
                                   "residual); remove loss")
        if (lam is not None or lam_ratio is not None) and eps > 0:
            raise mt.error("eps", "eps (constrained form) and lam / lam_ratio (penalized form) "
                                  "exclude each other; keep one")

    def check_verify(self, vt: _Table, reduce_support: bool) -> None:
        if not reduce_support:
            raise vt.error("reduce_support", "compression always reduces the layer to a support "
                                             "within the width bound (that is what it does); "
                                             "remove reduce_support or set it to true")

    def load_extra(self, spec: ProblemSpec, d: int, max_memory: int | None) -> dict[str, Any]:
        from ..spec.network import _load_network
        file = spec.file
        network = _load_network(spec, d, max_memory)
        weights, biases = list(network.weights), list(network.biases)
        if spec.network.layer != "all" and spec.network.layer > len(weights) - 1:
            raise ProblemFileError(file, "network.layer",
                                   f"the network has {len(weights) - 1} hidden layer(s); layer "
                                   f"{spec.network.layer} does not exist (use a layer from 1 to "
                                   f"{len(weights) - 1}, or \"all\")")
        return {"network": network, "weights": weights, "biases": biases,
                "D": weights[-1].shape[0], "K": max(w.shape[0] for w in weights[:-1])}

    def check_lam_ratio(self, spec: ProblemSpec, X: np.ndarray | None, Y: np.ndarray | None,
                        Phi: np.ndarray | None, extra: dict[str, Any]) -> None:
        """lam_max of each layer the run compresses with ``lam_ratio`` (the penalized program
        on Psi with a free next bias, as :func:`nnlasso.compress.compress_layer` computes it);
        for ``layer = "all"`` every hidden layer of the network as given (at run time the
        layers below the last see the compressed layers above them)."""
        from ..compress.inputs import _prepare
        from ..compress.solvers import _lam_max
        from ..shallow import ZeroLamMaxError
        net = extra["network"]
        n_hidden = len(extra["weights"]) - 1
        layers = range(n_hidden, 0, -1) if spec.network.layer == "all" else [spec.network.layer]
        for layer in layers:
            prep = _prepare(net, layer, X, True)
            try:
                _lam_max(prep, "lam", prep.Psi, "squared", "intercept")
            except ZeroLamMaxError as exc:
                exc.where = f"hidden layer {layer}"
                raise

    def zero_lam_max_fix(self, spec: ProblemSpec) -> str:
        return ("use eps (the constrained form) or give lam directly (any lam > 0 then "
                "removes the layer's neurons: V = 0)")

    def run(self, spec: ProblemSpec, data: ProblemData, rec: dict) -> dict[str, np.ndarray]:
        return _run_compress(spec, data, rec)

    def neurons_before(self, rec: dict[str, Any]) -> Any:
        return rec.get("K_dictionary")

    def neurons_text(self, rec: dict[str, Any], fmt: Callable[[Any], str]) -> str:
        return f"{rec['K_dictionary']} -> {fmt(rec['K_active'])} (hidden layer(s) compressed)"

    def describe(self, data: ProblemData) -> str:
        return f", hidden <= {data.K}"


def _run_compress(spec: ProblemSpec, data: ProblemData, rec: dict) -> dict[str, np.ndarray]:
    from ..compress import compress_layer, compress_network
    mlp = data.network if data.network is not None else api("MLP").load(
        str(spec.network.resolved))
    kw = dict(eps=spec.model.eps, lam=spec.model.lam, lam_ratio=spec.model.lam_ratio,
              refit=True, solver=spec.solver.name)
    if spec.network.layer == "all":
        small, report = compress_network(mlp, data.X, "all", **kw)
        steps = list(report.steps)
    else:
        small, report = compress_layer(mlp, spec.network.layer, data.X, **kw)
        steps = [report]
    bounds = [s.bound for s in steps]
    objs = [s.objective for s in steps]
    gaps = [s.gap for s in steps]
    objective = None if any(o is None for o in objs) else float(sum(objs))
    gap = None if any(g is None for g in gaps) else float(sum(gaps))
    rec.update(status=report.status, D=int(data.weights[-1].shape[0]),
               K_dictionary=int(report.neurons_before), K_active=int(report.neurons_after),
               K_reduced=int(report.neurons_after),
               width_bound=None if any(b is None for b in bounds) else int(sum(bounds)),
               width_bound_holds=None if any(b is None for b in bounds) else all(
                   int(s.neurons_after) <= int(s.bound) for s in steps),
               objective=objective, gap=gap, solver=report.solver or solver_name(spec),
               inner=report.inner, fallback=report.fallback, loss="squared",
               lam=steps[0].lam if len(steps) == 1 else None)
    if objective is not None and gap is not None:
        rec["dual_objective"] = objective - gap
        rec["rel_gap"] = relative_gap(objective, objective - gap)
    times = report.times or {}
    rec["times"]["build"] = float(times.get("rebalance", 0.0) + times.get("features", 0.0))
    rec["times"]["solve"] = float(times.get("solve", 0.0))
    rec["times"]["verify"] = float(sum(times.get(k, 0.0) for k in ("reduce", "refit",
                                                                     "verify")))
    if report.verified is False:
        rec["status"] = "error"
        rec["error"] = (f"{spec.file}: model.eps: the compressed network does not keep the "
                        f"layer outputs within the tolerance (max output change "
                        f"{report.max_output_change:.3g}); use eps > 0 or lam_ratio")
    arrays = {}
    for i, (W, b) in enumerate(zip(small.weights, small.biases), 1):
        arrays[f"W{i}"], arrays[f"b{i}"] = np.asarray(W), np.asarray(b)
    arrays["max_output_change"] = np.array([np.nan if report.max_output_change is None
                                            else float(report.max_output_change)])
    return arrays
