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
from .eta_sup import _pattern_count_estimate, dual_residual
from ..affine import skip_argument
from ..duality import gaps
from .oracle import ascent_sup, eta_upper_bound
from .width import _skip_parts, _small_blas, _solution_fit

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
                      n_add: int | None = None, solver: str = "auto", solver_tol: float = 1e-8,
                      seed: Any = 0, exact: bool | None = None, n_samples: int | None = None,
                      dictionary: NeuronDictionary | None = None, prune: bool = True,
                      gap_tol: float = 1e-2, bound_time: float = 2.0,
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

    Oracle: exact in d = 1, 2 (and d >= 3 when the pattern enumeration is small: N C(N-1, d-1)
    2^d <= 60,000 sign vectors); otherwise (or with ``exact=False``) the **ascent oracle** of
    :mod:`nnlasso.representer.oracle`: ``n_samples`` random directions (default 1000), projected
    ascent of g(w) = max_b |eta(w, b)| from the best 32 of them *and* from every active neuron
    of the current fit and the last round's new neurons (warm starts), all ascents advanced
    together in NumPy; its best value L is a lower bound on sup |eta|, and the distinct ascent end
    points above lam (1 + tol) are the neurons added (up to ``n_add``, default 5 with an exact
    oracle and 100 with the ascent oracle). Each round runs with single-threaded BLAS (the
    rounds make many small dense calls; a multi-threaded QR of an 800 x 200 design took 0.2-3 s
    instead of 0.05 s on a loaded machine).

    Stopping rule: stop after the first round in which (a) the certificate holds
    (``upper_ratio <= 1 + tol``, exact oracle), or (b) the oracle returns no violating neuron
    (ratio > 1 + tol) that is not already in the dictionary, or (c) ``max_rounds`` is reached,
    or (d) (ascent oracle only) the *estimated* relative gap is at most ``gap_tol``: the gap
    (P - Dual(q / s)) / P with s = max(1, L / lam). Since Dual(q / s) decreases in s for s >= 1
    near the optimum, the estimate is at most the certified gap that the true sup would give;
    it is a stopping rule, not a certificate. After an ascent-oracle run stops, the
    branch-and-bound bound :func:`~nnlasso.representer.oracle.eta_upper_bound` (at most
    ``bound_time`` seconds) gives a certified U >= sup |eta|: ``report.upper_ratio`` = U / lam,
    ``report.certificate.gap`` = P - Dual(q / max(1, U / lam)) is a certified bound on the
    suboptimality over all neurons (huge when the budget was too small: in d = 5, N = 800 the
    bound stays far above lam), and ``certified`` = U / lam <= 1 + tol.

    Parameters
    ----------
    skip : True / "linear" (C x + c0), the inputs X, "intercept" or None / False.
    tol : certificate tolerance (ratio <= 1 + tol); ``solver_tol`` is the solver's.
    gap_tol : stopping rule (d) of the ascent oracle (estimated relative gap).
    bound_time : seconds for the branch-and-bound upper bound after an ascent-oracle run
        (0: skip it; the report then has no certified gap).
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
    ascent = exact is False or (d >= 3 and _pattern_count_estimate(N, d) > 60_000)
    if exact and ascent:
        from ..errors import InvalidProblemError
        raise InvalidProblemError(
            f"exact=True: no exact oracle for N={N}, d={d} (the pattern enumeration would visit "
            f"about {_pattern_count_estimate(N, d):,} sign vectors); use exact=None (the ascent "
            "oracle, with a branch-and-bound certificate at the end)")
    if n_add is None:
        n_add = 100 if ascent else 5
    if n_samples is None:
        n_samples = 1000 if ascent else 4000
    with progress(logger, verbose) as level, _small_blas():
        dic, sol, cert, rounds = _column_rounds(
            X, Y, lam, dic, loss, skip_arg, X_skip, max_rounds, tol, int(n_add), round_solver,
            solver_tol, seed, exact, int(n_samples), prune, warm, history, level, ascent,
            float(gap_tol))
        if ascent and bound_time > 0:
            cert = _bound_certificate(X, Y, lam, sol, dic, loss, skip_arg, X_skip, cert, tol,
                                      float(bound_time))
        report = ColumnGenerationReport(rounds=rounds, certified=cert.certified,
                                        max_ratio=cert.max_ratio, upper_ratio=cert.upper_ratio,
                                        exact=cert.exact, history=history, certificate=cert,
                                        time=time.perf_counter() - t_start)
        state = "certified" if cert.certified else "NOT certified"
        logger.log(level, "column generation %s after %d round(s): K=%d, objective=%.10g, "
                   "sup|eta|/lam=%.6f%s (certified upper bound %.6g, gap %s)", state, rounds,
                   dic.K, sol.objective, cert.max_ratio, "" if cert.exact else " (lower bound)",
                   cert.upper_ratio, "none" if cert.rel_gap is None else f"rel {cert.rel_gap:.3g}")
    from ..lasso import requested_name
    sol.solver = requested_name(solver, sol.inner or sol.solver)
    return ColumnGenerationResult(dic, sol, report)


def _column_rounds(X: np.ndarray, Y: Any, lam: float, dic: NeuronDictionary, loss: str,
                   skip_arg: Any, X_skip: Any, max_rounds: int, tol: float, n_add: int,
                   solver: str, solver_tol: float, seed: Any, exact: bool | None,
                   n_samples: int, prune: bool, warm: bool, history: list[dict],
                   level: int, ascent: bool = False, gap_tol: float = 0.0
                   ) -> tuple[NeuronDictionary, Solution, Certificate, int]:
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
    last_new: np.ndarray | None = None
    # ascent oracle: the rounds only steer the oracle, solved to 1e-6; the last one is re-solved
    # to solver_tol below (CLARABEL at 1e-8 takes a few more iterations per round)
    round_tol = max(solver_tol, 1e-6) if ascent and not warm else solver_tol
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
                              tol=round_tol)
        t_solve = time.perf_counter() - t0
        Z = _solution_fit(sol, Phi, X_skip)
        Q, T, res = dual_residual(Z, Y, loss=loss, skip=skip_arg)
        # warm starts of the (sampling) oracle: the active neurons and the last argmax
        starts = dic.W[sol.active]
        if cert is not None:
            starts = np.vstack([starts, cert.argmax[0].reshape(1, -1)])
        round_seed = None if seed is None else hash((seed, rounds)) % 2**32
        est_gap = None
        if ascent:
            if last_new is not None:
                starts = np.vstack([starts, last_new])
            cert, (Wc, bc, vc), est_gap = _ascent_certificate(
                X, Q, T, lam, loss, sol.objective, tol, n_samples, round_seed, starts)
        else:
            cert, sup = certify_residual(X, Q, lam, T=T, loss=loss, objective=sol.objective,
                                         skip=skip_arg, exact=exact, tol=tol,
                                         n_samples=n_samples, seed=round_seed, n_top=n_add,
                                         starts=starts)
            Wc, bc, vc = sup.candidates
        cert.details["skip_residual"] = res
        Wc, bc = _violating_candidates(dic, Wc, bc, vc, lam, tol, n_add)
        history.append(_round_record(rounds, dic, sol, cert, int(Wc.shape[0]), t_solve,
                                     est_gap, level))
        if (cert.certified or Wc.shape[0] == 0 or rounds == max_rounds
                or (est_gap is not None and est_gap <= gap_tol)):
            break                  # (the dictionary returned is the one ``sol`` was solved on)
        last_new = Wc[:10]
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
    if round_tol > solver_tol:
        sol = solve_lasso(dic.features(X), Y, lam, loss=loss, skip=skip_arg, solver=solver,
                          tol=solver_tol)
    return dic, sol, cert, rounds


def _violating_candidates(dic: NeuronDictionary, Wc: np.ndarray, bc: np.ndarray,
                          vc: np.ndarray, lam: float, tol: float, n_add: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """The oracle's candidates to add: the ``n_add`` largest |eta| that violate
    |eta| / lam <= 1 + tol and are not already in the dictionary (to 1e-10 (1 + max|b|))."""
    order = np.argsort(-vc, kind="stable")[:n_add]
    Wc, bc, vc = Wc[order], bc[order], vc[order]
    viol = vc / lam > 1 + tol
    Wc, bc = Wc[viol], bc[viol]
    if Wc.shape[0]:
        wb_old = np.column_stack([dic.W, dic.b])
        scale = 1.0 + np.abs(dic.b).max(initial=0.0)
        new = [i for i in range(Wc.shape[0])
               if np.min(np.abs(wb_old - np.append(Wc[i], bc[i])).max(axis=1),
                         initial=np.inf) > 1e-10 * scale]
        Wc, bc = Wc[new], bc[new]
    return Wc, bc


def _round_record(rounds: int, dic: NeuronDictionary, sol: Solution, cert: Certificate,
                  added: int, t_solve: float, est_gap: float | None, level: int) -> dict:
    """One round's history record, also logged at ``level``."""
    rec = {"round": rounds, "K": dic.K, "active": sol.n_active,
           "objective": float(sol.objective), "rel_gap": float(sol.rel_gap),
           "max_ratio": cert.max_ratio, "upper_ratio": cert.upper_ratio,
           "exact": cert.exact, "added": added, "solve_time": t_solve,
           "certificate_time": float(cert.details.get("time", 0.0))}
    if est_gap is not None:
        rec["est_rel_gap"] = est_gap
    logger.log(level, "column generation round %3d  K=%5d  active=%4d  objective=%.10g  "
               "sup|eta|/lam=%.6f%s  added=%d  (%.2fs + %.2fs)", rounds, dic.K,
               sol.n_active, sol.objective, cert.max_ratio,
               "" if cert.exact else " (lower bound)", added, rec["solve_time"],
               rec["certificate_time"])
    return rec


def _balanced(Q: np.ndarray) -> tuple[np.ndarray, bool]:
    """(q centred, whether sum_n q_n = 0 already): the infinite-width dual needs sum q = 0."""
    sum_q = float(np.linalg.norm(Q.sum(axis=0)))
    ok = sum_q <= 1e-9 * max(float(np.abs(Q).sum()), np.finfo(float).tiny)
    return (Q if ok else Q - Q.mean(axis=0)), ok


def _dual_gap(Qc: np.ndarray, T: np.ndarray, loss: str, objective: float, scale: float
              ) -> tuple[float | None, float | None, float | None]:
    """(gap, rel_gap, dual) at the dual point Qc / max(1, scale) (None outside the domain)."""
    dual = float(get_loss(loss).dual_value(Qc / max(1.0, scale), T))
    if not np.isfinite(dual):
        return None, None, None
    gap, rel = gaps(float(objective), dual)
    return gap, rel, dual


def _ascent_certificate(X: np.ndarray, Q: np.ndarray, T: np.ndarray, lam: float, loss: str,
                        objective: float, tol: float, n_samples: int, seed: Any,
                        starts: np.ndarray) -> tuple[Certificate, tuple, float]:
    """One round of the ascent oracle: (certificate with a lower bound, candidates (W, b, v),
    estimated relative gap at q / max(1, L / lam))."""
    t0 = time.perf_counter()
    Qc, balanced = _balanced(Q)
    W, b, v, info = ascent_sup(X, Qc, n_samples=n_samples, starts=starts, seed=seed)
    L = float(v[0]) if v.size else 0.0
    ratio = L / lam if balanced else float("inf")
    _, est, _ = _dual_gap(Qc, T, loss, objective, L / lam)
    cert = Certificate(max_ratio=ratio, exact=not balanced, certified=False,
                       argmax=(W[0].copy() if v.size else np.zeros(X.shape[1]),
                               float(b[0]) if v.size else 0.0),
                       gap=None, kind="continuous", method="ascent", objective=objective, tol=tol,
                       details={"time": time.perf_counter() - t0, **info})
    return cert, (W, b, v), (float("inf") if est is None or not balanced else float(est))


def _bound_certificate(X: np.ndarray, Y: Any, lam: float, sol: Solution, dic: NeuronDictionary,
                       loss: str, skip_arg: Any, X_skip: Any, cert: Certificate, tol: float,
                       bound_time: float) -> Certificate:
    """The final certificate of an ascent-oracle run: branch and bound for U >= sup |eta|."""
    t0 = time.perf_counter()
    Phi = dic.features(X)
    Q, T, res = dual_residual(_solution_fit(sol, Phi, X_skip), Y, loss=loss, skip=skip_arg)
    Qc, balanced = _balanced(Q)
    if not balanced or X.shape[1] < 2:
        return cert
    lower = cert.max_ratio * lam
    bd = eta_upper_bound(X, Qc, target=lam * (1 + tol), rel=1e-3, max_time=bound_time,
                         lower=lower)
    upper = bd.upper / lam
    gap, rel, dual = _dual_gap(Qc, T, loss, float(sol.objective), upper)
    best = max(lower, bd.lower)
    argmax = cert.argmax if lower >= bd.lower else (bd.w, bd.b)
    details = dict(cert.details)
    details.update(skip_residual=res, bound_boxes=bd.info["boxes"], bound_complete=bd.complete,
                   bound_time=time.perf_counter() - t0)
    return Certificate(max_ratio=best / lam, exact=bool(upper <= (best / lam) * (1 + 1e-9)),
                       certified=bool(upper <= 1 + tol), argmax=argmax, gap=gap,
                       kind="continuous", method="ascent+bound", upper_ratio=float(upper),
                       rel_gap=rel, dual_objective=dual, objective=float(sol.objective),
                       tol=tol, details=details)
