"""The validated data of (MTL) (:class:`LassoProblem`: features, targets, skip, groups) with its
certificate and finishing step, and the status / solver-name conventions shared by the solvers."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from .. import backends, prox
from .._validation import as_matrix, check_positive
from ..affine import affine_columns, orthonormal_basis, skip_parts
from ..duality import certified_status, fit_affine, gaps, lasso_dual, penalty  # noqa: F401
from ..errors import InvalidProblemError
from ..losses import Loss, Targets, get_loss
from ..memory import CVXPY_EXP_CONE_FACTOR, check_memory
from ..programs import GroupStructure, LassoProgram, build_lasso
from ..solution import Solution, active_set


def _groups(groups: Any, weights: Any, K: int) -> GroupStructure:
    """Normalize ``groups`` (labels per row, or a list of disjoint index arrays) and weights."""
    if groups is None:
        ids = np.arange(K)
    elif isinstance(groups, (list, tuple)) and groups and np.ndim(groups[0]) == 1:
        ids = np.full(K, -1)
        for g, idx in enumerate(groups):
            idx = np.asarray(idx, dtype=int)
            if idx.size == 0 or idx.min() < 0 or idx.max() >= K:
                raise InvalidProblemError(f"groups[{g}]: indices must lie in 0..{K - 1}")
            if np.any(ids[idx] >= 0):
                raise InvalidProblemError(f"groups[{g}]: overlaps an earlier group; groups must be "
                                          "disjoint")
            ids[idx] = g
        if np.any(ids < 0):
            raise InvalidProblemError(f"groups: rows {np.flatnonzero(ids < 0)[:5].tolist()} belong to "
                                      "no group; every row of V needs a group (use singletons)")
    else:
        labels = np.asarray(groups)
        if labels.shape != (K,):
            raise InvalidProblemError(f"groups: expected one label per column of Phi ({K}), got "
                                      f"shape {labels.shape}")
        _, ids = np.unique(labels, return_inverse=True)
    G = int(ids.max()) + 1
    if weights is None:
        w = np.ones(G)
    else:
        w = np.asarray(weights, dtype=float).ravel()
        if w.shape != (G,):
            raise InvalidProblemError(f"weights: expected {G} group weights, got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise InvalidProblemError("weights: group weights must be positive and finite; put "
                                      "unpenalized columns in the skip instead")
    return GroupStructure(ids.astype(np.intp), w)


class LassoProblem:
    """The validated data of (MTL), with nnlasso's certificate of any point.

    ``LassoProblem(Phi, Y, loss, skip, groups, weights, tol=1e-8)`` checks and encodes the
    arguments exactly as :func:`solve_lasso` does (same names, same errors) and holds:
    ``Phi`` (N, K), the encoded targets ``T`` (N, D) (``targets`` with the class labels),
    ``loss``, the skip ``X_skip`` / ``intercept``, its columns ``A`` = [X 1] and orthonormal
    ``basis`` (:mod:`nnlasso.affine`), the ``groups`` (ids, weights) and ``tol``.

    Methods used by the solvers and useful on their own:

    * :meth:`certify` ``(V, B, lam)``: refit the free affine part at the fixed V and return
      ``(B, primal, dual, kkt_ratio)`` by nnlasso's dual point (:mod:`nnlasso.duality`);
    * :meth:`finish`: the :class:`~nnlasso.solution.Solution` of a point (certificate,
      optional native polish, status);
    * :meth:`native_data`: the problem in the form of the native solver
      (:class:`nnlasso.prox.LassoData`, caches shared);
    * :meth:`affine_from_basis`: affine coefficients B from basis coordinates c (A B = U c).
    """

    def __init__(self, Phi, Y, loss, skip, groups, weights, tol=1e-8):
        self.tol = check_positive(tol, "tol", upper=1.0)
        self.Phi = as_matrix(Phi, "Phi")
        N, K = self.Phi.shape
        self.loss: Loss = get_loss(loss)
        Yarr = np.asarray(Y)
        if Yarr.ndim == 0 or Yarr.shape[0] != N:
            raise InvalidProblemError(f"Y: has {Yarr.shape[0] if Yarr.ndim else 0} rows but Phi has "
                                      f"{N}; both need one row per sample")
        if self.loss.name == "squared":
            as_matrix(Yarr, "Y", allow_1d=True)
        elif Yarr.dtype.kind == "f" and not np.all(np.isfinite(Yarr)):
            raise InvalidProblemError("Y: contains NaN or infinite labels")
        self.targets: Targets = self.loss.encode(Yarr)
        self.T = self.targets.T
        self.X_skip, self.intercept = skip_parts(skip, N)
        self.A = affine_columns(self.X_skip, self.intercept, N)
        self.basis = orthonormal_basis(self.A)
        self.groups = _groups(groups, weights, K)

    def program(self, lam: float) -> LassoProgram:
        return build_lasso(self.Phi, self.T, self.loss, self.X_skip, self.intercept,
                           self.groups, lam)

    @property
    def size(self) -> backends.ProblemSize:
        N, K = self.Phi.shape
        return backends.ProblemSize(N, K, self.T.shape[1], self.loss.name)

    def check_program_memory(self, name: str) -> None:
        """The memory guard (:mod:`nnlasso.memory`) before the full CVXPY program is built."""
        N, K = self.Phi.shape
        d = 0 if self.X_skip is None else self.X_skip.shape[1]
        D = self.T.shape[1]
        exp_cones = self.loss.exp_cone
        fix = (f"the full program through {name} is that large; use solver='auto' or 'prox' "
               "(the native solver works on a few columns at a time) or working_set=True, or "
               "fewer columns / samples")
        if self.loss.name == "softmax" and D > 50:
            fix += (f"; D = {D} classes: if the labels are really numbers, fit a regression "
                    "(loss='squared', ConvexReLURegressor)")
        check_memory(N, d, D, K, what="solver", fix=fix,
                     factor=CVXPY_EXP_CONE_FACTOR if exp_cones else 1.0)

    def native_data(self) -> prox.LassoData:
        """The problem in the form of the native solver (built once, caches shared)."""
        if getattr(self, "_native", None) is None:
            self._native = prox.LassoData(self.Phi, self.T, self.loss, self.basis,
                                          self.groups.ids, self.groups.weights)
        return self._native

    def affine_from_basis(self, c: np.ndarray) -> np.ndarray:
        """Coefficients B on the affine columns A with A B = U c (U the orthonormal basis).

        B = A^+ U c, the minimum-norm least-squares solution; the (p, r) map A^+ U is computed
        once per problem (one ``lstsq``, whose LAPACK call costs milliseconds even for p = 1)
        and reused by every solve of a path.
        """
        if self.A.shape[1] == 0:
            return np.zeros((0, self.T.shape[1]))
        if getattr(self, "_affine_map", None) is None:
            self._affine_map = np.linalg.lstsq(self.A, self.basis, rcond=None)[0]
        return self._affine_map @ c

    def certify(self, V: np.ndarray, B: np.ndarray | None, lam: float
                ) -> tuple[np.ndarray, float, float, float]:
        """Refit the free affine part; return (B, primal, dual, kkt_ratio) by nnlasso's dual."""
        rows = np.flatnonzero(np.any(V != 0, axis=1))
        offset = self.Phi[:, rows] @ V[rows] if rows.size < 0.5 * V.shape[0] else self.Phi @ V
        B = fit_affine(self.loss, self.T, offset, self.A, B0=B)
        Z = offset + self.A @ B
        primal = self.loss.value(Z, self.T) + lam * penalty(V, self.groups.ids,
                                                            self.groups.weights)
        dual, _, ratio = lasso_dual(self.Phi, self.T, Z, self.loss, lam, self.basis,
                                    self.groups.ids, self.groups.weights, V=V)
        return B, primal, dual, ratio

    #: V is "negligible" when max_k |phi_k| |V_k| <= zero_rel * |T|_F (then V = 0 is tried)
    zero_rel = 1e-6

    def zero_if_better(self, V: np.ndarray, lam: float, primal: float
                       ) -> tuple[np.ndarray, float, float, float] | None:
        """The certificate of V = 0 when V is negligible and V = 0 is at least as good.

        At lam >= lam_max the optimum is V = 0, but a solver returns rounding noise (|V| ~
        1e-14..1e-9), which the relative active rule |V_k| > active_tol max_j |V_j| would
        call active. When every neuron's contribution |phi_k| |V_k| is below
        ``zero_rel`` |T|_F, the zero point (with its refitted affine part) is certified too and
        replaces V if its objective is not larger (relative 1e-12) and its gap is within tol.
        """
        rows = np.flatnonzero(np.any(V != 0, axis=1))
        if rows.size == 0:
            return None
        contrib = np.linalg.norm(self.Phi[:, rows], axis=0) * np.linalg.norm(V[rows], axis=1)
        if float(np.max(contrib)) > self.zero_rel * max(float(np.linalg.norm(self.T)), 1e-300):
            return None
        cert = self.certify(np.zeros_like(V), None, lam)
        _, rel0 = gaps(cert[1], cert[2])
        if cert[1] <= primal + 1e-12 * abs(primal) and rel0 <= self.tol:
            return cert
        return None

    def polish(self, V: np.ndarray, B: np.ndarray | None, lam: float
               ) -> tuple[np.ndarray, np.ndarray, prox.WorkingSetResult]:
        """Native working-set refinement of a backend's point (see :func:`nnlasso.prox.polish`)."""
        c0 = self.basis.T @ (self.A @ B) if B is not None and B.size else None
        res = prox.polish(self.native_data(), V, lam, tol=self.tol, c0=c0)
        return res.V, self.affine_from_basis(res.c), res

    def finish(self, V: np.ndarray, B: np.ndarray | None, lam: float, status: str, solver: str,
               times: dict, active_tol: float, info: dict | None = None,
               polish: bool = True,
               certificate: tuple[np.ndarray, float, float, float] | None = None) -> Solution:
        """Polish the free affine part, recompute the objective and nnlasso's duality gap.

        When the certified relative gap exceeds ``tol`` (interior-point answers are accurate to
        ~1e-6..1e-9 in nnlasso's gap, which is first order in the primal error) and ``polish`` is
        true, the point is refined by the native solver on a working set
        (:func:`nnlasso.prox.polish`) and the refined point is kept if its objective is not
        larger: ``info["polished"]`` says whether it was, ``times["polish"]`` what it cost.

        ``certificate`` = (B, primal, dual, kkt_ratio) skips the recomputation when the caller
        already evaluated nnlasso's dual point over the full dictionary at exactly this point
        (the native working-set loop ends with that check).
        """
        t0 = time.perf_counter()
        if certificate is None:
            B, primal, dual, ratio = self.certify(V, B, lam)
        else:
            B, primal, dual, ratio = certificate
        gap, rel = gaps(primal, dual)
        t_polish = 0.0
        polished = False
        extra_polish: dict = {}
        if polish and rel > self.tol and status in ("optimal", "optimal_inaccurate") and \
                prox.supports(self.loss):
            tp = time.perf_counter()
            V2, B2, res = self.polish(V, B, lam)
            B2, primal2, dual2, ratio2 = self.certify(V2, B2, lam)
            if primal2 <= primal:
                V, B, primal, dual, ratio = V2, B2, primal2, dual2, ratio2
                gap, rel = gaps(primal, dual)
                polished = True
            extra_polish = {"polish": res.info()}
            t_polish = time.perf_counter() - tp
        snapped = False
        if status in ("optimal", "optimal_inaccurate"):
            zero = self.zero_if_better(V, lam, primal)
            if zero is not None:
                V, (B, primal, dual, ratio) = np.zeros_like(V), zero
                gap, rel = gaps(primal, dual)
                snapped = True
        status = certified_status(status, rel, self.tol)
        skip_coef = intercept = None
        p = 0 if self.X_skip is None else self.X_skip.shape[1]
        if self.X_skip is not None:
            skip_coef = B[:p]
        if self.intercept:
            intercept = B[p]
        times = dict(times)
        times["gap"] = time.perf_counter() - t0 - t_polish
        if polish:
            times["polish"] = t_polish
        times["total"] = times.get("total", 0.0) + times["gap"] + t_polish
        extra = {"kkt_ratio": ratio, "was_1d": self.targets.was_1d}
        if snapped:
            extra["snapped_to_zero"] = True
        if polish:
            extra["polished"] = polished
            extra.update(extra_polish)
        if self.targets.classes is not None:
            extra["classes"] = self.targets.classes
        extra.update(info or {})
        return Solution(V=V, skip_coef=skip_coef, intercept=intercept, objective=primal,
                        dual_objective=dual, gap=gap, rel_gap=rel,
                        active=active_set(V, active_tol), status=status, solver=solver,
                        times=times, lam=lam, loss=self.loss.name, active_tol=active_tol,
                        info=extra, inner=solver, fallback=_fallback_name(extra))


def _fallback_name(info: dict) -> str | None:
    """The backend named by ``info["fallback"]`` (a dict with "inner", or a name), or None."""
    fb = info.get("fallback")
    if isinstance(fb, dict):
        return fb.get("inner")
    return fb if isinstance(fb, str) else None


def requested_name(solver: Any, resolved: str) -> str:
    """The solver name a result reports as asked for: "auto", else the canonical name."""
    return "auto" if isinstance(solver, str) and solver.upper() == "AUTO" else resolved


def _as_requested(sol: Solution, solver: Any) -> Solution:
    """``sol`` with ``solver`` set to the name the caller asked for (``inner`` keeps the
    backend that did the work)."""
    sol.solver = requested_name(solver, sol.inner or sol.solver)
    return sol


#: the former private name, kept for code that imports it
_Problem = LassoProblem
