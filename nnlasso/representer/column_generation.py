"""Column generation for the infinite-width problem: add violating neurons until certified.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .._validation import as_matrix, check_lam
from ..dictionary import NeuronDictionary, sample_neurons
from ..losses import get_loss
from ..solution import Solution
from .._logging import progress
from .certificates import Certificate, certify_residual
from .eta_sup import dual_residual
from ..affine import skip_argument
from .width import _skip_parts, _solution_fit

logger = logging.getLogger("nnlasso.representer")   # the documented logger name (see verbose)


@dataclass
class ColumnGenerationReport:
    """Rounds of :func:`column_generation`.

    rounds : number of solves.   certified : the last round's certificate holds.
    max_ratio, upper_ratio, exact : of the last round.   history : one dict per round (K, active,
    objective, max_ratio, added, times).   certificate : the last :class:`Certificate`.
    """

    rounds: int
    certified: bool
    max_ratio: float
    upper_ratio: float
    exact: bool
    history: list[dict]
    certificate: Certificate | None
    time: float = 0.0


class ColumnGenerationResult(NamedTuple):
    """``(dictionary, solution, report)`` of :func:`column_generation`."""

    dictionary: NeuronDictionary
    solution: Solution
    report: ColumnGenerationReport


def column_generation(X: Any, Y: Any, lam: float, *, loss: str = "squared", skip: Any = True,
                      n_init: int = 50, max_rounds: int = 50, tol: float = 1e-6,
                      n_add: int = 5, solver: str = "auto", solver_tol: float = 1e-8,
                      seed: Any = 0, exact: bool | None = None, n_samples: int = 4000,
                      dictionary: NeuronDictionary | None = None, prune: bool = True,
                      verbose: bool = False) -> ColumnGenerationResult:
    """Column generation for the infinite-width problem min over all neurons (|w| = 1, b).

    Start from ``n_init`` sampled data neurons (or ``dictionary``); each round solves (MTL) over
    the current dictionary, computes q and sup |eta| (:func:`sup_eta`), and adds up to ``n_add``
    distinct violating neurons (local maxima of |eta| per anchor / region / ascent start with
    ratio > 1 + tol) until upper_ratio <= 1 + tol (certified) or no violating neuron is new or
    ``max_rounds`` is reached. With ``prune`` neurons inactive for three rounds are dropped
    (keeping the solve small; the objective still decreases since the active set is kept).
    In d <= 2 (and small N, d with patterns) a certified result is the global optimum of the
    weight-decay (RTV2) problem with a free skip.

    Oracle: exact in d = 1, 2 (and d >= 3 when the pattern enumeration is small); otherwise the
    sampling oracle, ``n_samples`` random directions plus projected ascent on |eta| from the
    best 12 of them *and* from every active neuron of the current fit and the last round's
    argmax (warm starts), candidates taken from the ascent end points. Its value is a lower
    bound on sup |eta| / lam, so such a run never reports ``certified``.

    Stopping rule: stop after the first round in which (a) the certificate holds
    (``upper_ratio <= 1 + tol``, exact oracle only), or (b) the oracle returns no violating
    neuron (ratio > 1 + tol) that is not already in the dictionary, or (c) ``max_rounds`` is
    reached. Under (b) with the sampling oracle the fit is optimal over its dictionary and no
    violation was found, but it is not certified; read ``report.max_ratio`` (a lower bound).

    Parameters
    ----------
    skip : True / "linear" (C x + c0), the inputs X, "intercept" or None / False.
    tol : certificate tolerance (ratio <= 1 + tol); ``solver_tol`` is the solver's.
    verbose : log one progress line per round (and a summary) at INFO on the logger
        ``"nnlasso.representer"``, shown on stderr unless the application has configured
        logging; without it the same lines go out at DEBUG. Nothing is printed to stdout.
    solver : as in :func:`nnlasso.solve_lasso`; with "prox" each round's working-set loop is
        warm-started from the previous round. The default "auto" solves each round with
        CLARABEL: column generation adds neurons next to the current argmax, so its
        dictionaries are small and nearly collinear, where the native coordinate descent
        stalls (a 100 x 68 dictionary: CLARABEL 0.03 s, the native loop minutes before its
        fallback).

    Returns
    -------
    ColumnGenerationResult ``(dictionary, solution, report)``.
    """
    t_start = time.perf_counter()
    X = as_matrix(X, "X", allow_1d=True)
    N, d = X.shape
    lam = check_lam(lam)
    skip_arg = skip_argument(skip, X)
    X_skip, _, _, _ = _skip_parts(skip_arg, N)
    dic = dictionary if dictionary is not None else sample_neurons(X, max(int(n_init), 1),
                                                                   method="data", seed=seed)
    tol = float(tol)
    history: list[dict] = []
    from .. import backends
    warm = isinstance(solver, str) and solver.upper() == backends.NATIVE
    round_solver = solver
    if isinstance(solver, str) and solver.upper() == "AUTO":
        round_solver = backends.resolve("auto")          # CLARABEL (see the docstring)
    with progress(logger, verbose) as level:
        dic, sol, cert, rounds = _column_rounds(
            X, Y, lam, dic, loss, skip_arg, X_skip, max_rounds, tol, n_add, round_solver,
            solver_tol,
            seed, exact, n_samples, prune, warm, history, level)
        report = ColumnGenerationReport(rounds=rounds, certified=cert.certified,
                                        max_ratio=cert.max_ratio, upper_ratio=cert.upper_ratio,
                                        exact=cert.exact, history=history, certificate=cert,
                                        time=time.perf_counter() - t_start)
        state = "certified" if cert.certified else "NOT certified"
        logger.log(level, "column generation %s after %d round(s): K=%d, objective=%.10g, "
                   "sup|eta|/lam=%.6f", state, rounds, dic.K, sol.objective, cert.max_ratio)
    from ..lasso import requested_name
    sol.solver = requested_name(solver, sol.inner or sol.solver)
    return ColumnGenerationResult(dic, sol, report)


def _column_rounds(X: np.ndarray, Y: Any, lam: float, dic: NeuronDictionary, loss: str,
                   skip_arg: Any, X_skip: Any, max_rounds: int, tol: float, n_add: int,
                   solver: str, solver_tol: float, seed: Any, exact: bool | None,
                   n_samples: int, prune: bool, warm: bool, history: list[dict],
                   level: int) -> tuple[NeuronDictionary, Solution, Certificate, int]:
    """The rounds of :func:`column_generation`; one progress line per round at ``level``."""
    from .. import backends
    from ..lasso import solve_lasso
    from ..memory import check_memory
    D_out = get_loss(loss).encode(np.asarray(Y)).T.shape[1]
    idle = np.zeros(dic.K, dtype=int)
    sol = None
    cert = None
    rounds = 0
    V_prev: np.ndarray | None = None
    c_prev: np.ndarray | None = None
    for rounds in range(1, max_rounds + 1):
        t0 = time.perf_counter()
        check_memory(X.shape[0], X.shape[1], D_out, dic.K, what="dictionary",
                     fix="lower n_init, n_add or max_rounds, or use fewer samples")
        Phi = dic.features(X)
        if warm:
            # nnlasso's working-set loop, warm-started from the previous round (new rows = 0)
            from ..lasso import _Problem, _solve_working_set
            prob = _Problem(Phi, Y, loss, skip_arg, None, None, solver_tol)
            sol, res_ws = _solve_working_set(prob, lam, backends.NATIVE, None, 1e-6, t0, V0=V_prev,
                                             c0=c_prev)
            c_prev = res_ws.c
        else:
            sol = solve_lasso(Phi, Y, lam, loss=loss, skip=skip_arg, solver=solver,
                              tol=solver_tol)
        t_solve = time.perf_counter() - t0
        Z = _solution_fit(sol, Phi, X_skip)
        Q, T, res = dual_residual(Z, Y, loss=loss, skip=skip_arg)
        # warm starts of the (sampling) oracle: the active neurons and the last argmax
        starts = dic.W[sol.active]
        if cert is not None:
            starts = np.vstack([starts, cert.argmax[0].reshape(1, -1)])
        cert, sup = certify_residual(X, Q, lam, T=T, loss=loss, objective=sol.objective,
                                     skip=skip_arg, exact=exact, tol=tol, n_samples=n_samples,
                                     seed=None if seed is None else hash((seed, rounds)) % 2**32,
                                     n_top=n_add, starts=starts)
        cert.details["skip_residual"] = res
        Wc, bc, vc = sup.candidates
        viol = vc / lam > 1 + tol
        Wc, bc = Wc[viol], bc[viol]
        if Wc.shape[0]:
            wb_old = np.column_stack([dic.W, dic.b])
            scale = 1.0 + np.abs(dic.b).max(initial=0.0)
            new = [i for i in range(Wc.shape[0])
                   if np.min(np.abs(wb_old - np.append(Wc[i], bc[i])).max(axis=1),
                             initial=np.inf) > 1e-10 * scale]
            Wc, bc = Wc[new], bc[new]
        rec = {"round": rounds, "K": dic.K, "active": sol.n_active,
               "objective": float(sol.objective), "rel_gap": float(sol.rel_gap),
               "max_ratio": cert.max_ratio, "upper_ratio": cert.upper_ratio,
               "exact": cert.exact, "added": int(Wc.shape[0]), "solve_time": t_solve,
               "certificate_time": float(cert.details.get("time", 0.0))}
        history.append(rec)
        logger.log(level, "column generation round %3d  K=%5d  active=%4d  objective=%.10g  "
                   "sup|eta|/lam=%.6f%s  added=%d  (%.2fs + %.2fs)", rounds, dic.K,
                   sol.n_active, sol.objective, cert.max_ratio,
                   "" if cert.exact else " (lower bound)", Wc.shape[0], rec["solve_time"],
                   rec["certificate_time"])
        if cert.certified or Wc.shape[0] == 0 or rounds == max_rounds:
            break                  # (the dictionary returned is the one ``sol`` was solved on)
        Vk = sol.V
        if prune:
            idle = np.where(np.isin(np.arange(dic.K), sol.active), 0, idle + 1)
            keep = idle < 3
            if not np.all(keep):
                dic, idle, Vk = dic.subset(keep), idle[keep], Vk[keep]
        dic = dic.append(Wc, bc)
        idle = np.concatenate([idle, np.zeros(Wc.shape[0], dtype=int)])
        V_prev = np.vstack([Vk, np.zeros((Wc.shape[0], Vk.shape[1]))])
    assert sol is not None and cert is not None
    return dic, sol, cert, rounds
