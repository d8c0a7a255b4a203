"""The lam path of the pattern programs (:func:`pattern_path`): one :class:`PatternProgram` for all
lam, each working-set solve warm-started from the previous one and seeded by sequential
screening; gated warm steps try a Newton point first (:mod:`nnlasso.patterns.newton`)."""
from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import backends
from ..errors import InvalidProblemError
from .solution import PatternSolution
from .augmented_lagrangian import ConeALM
from .augmented_lagrangian import applicable as alm_applicable
from .newton import GatedNewton, applicable
from .solve import _build, _solve_built


def _check_lams(lams: Any) -> list[float]:
    """``lams`` as a nonempty list of positive finite floats (InvalidProblemError otherwise)."""
    if isinstance(lams, (str, bytes)):
        raise InvalidProblemError(f"lams: expected a sequence of positive numbers, got {lams!r}; "
                                  "e.g. lams=np.geomspace(1.0, 1e-3, 20)")
    try:
        if not (np.isscalar(lams) or isinstance(lams, np.ndarray)):
            lams = list(lams)                  # a generator, a range, a list
        arr = np.atleast_1d(np.asarray(lams, dtype=float))
    except (TypeError, ValueError):
        raise InvalidProblemError(f"lams: expected a sequence of positive numbers, got {lams!r}; "
                                  "e.g. lams=np.geomspace(1.0, 1e-3, 20)") from None
    if arr.ndim != 1:
        raise InvalidProblemError(f"lams: expected a 1-D sequence of positive numbers, got shape "
                                  f"{arr.shape}")
    if arr.size == 0:
        raise InvalidProblemError("lams: pass at least one value, e.g. "
                                  "lams=np.geomspace(1.0, 1e-3, 20)")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
    if bad.size:
        i = int(bad[0])
        raise InvalidProblemError(f"lams: every value must be a positive finite number, got "
                                  f"{arr[i]!r} at position {i}")
    return [float(v) for v in arr]


def pattern_path(X: Any, Y: Any, lams: Iterable[float], patterns: Any, *,
                 loss: str = "squared", skip: Any = True, cone: bool = True,
                 bias: str | None = None, solver: str = "auto", tol: float = 1e-8,
                 options: dict | None = None, active_tol: float = 1e-6,
                 gates: tuple | None = None, working_set: bool | str = "auto",
                 max_rounds: int = 50, screen: bool = True, warm_solver: str = "newton",
                 verbose: bool = False) -> list[PatternSolution]:
    """Solve the activation-pattern program of :func:`solve_patterns` for every lam in ``lams``.

    For each lam the program is

        min  sum_n L(y_n, z_n) + lam * sum_k |u_k|_2          (|theta_k|_2 if bias="penalized")
        z  = sum_k sigma_k D_{p(k)} Xl theta_k + F c,   (2 D_{p(k)} - I) Xl theta_k >= 0 (cones)

    over the same patterns. The checks, the program's data (the block operators D_k [X, -1],
    the cone-row signs) and the backend choice are made once; only lam changes. The values
    are solved from the largest lam down (the solutions are returned in the order of ``lams``).
    The first (largest) lam is solved as by :func:`solve_patterns` with the same
    ``working_set``; with ``working_set`` True or "auto" every later solve runs through the
    working-set loop, started (:meth:`PatternProgram.solve_working_set`'s ``start``), for the
    cone program with ``screen``, by :meth:`PatternProgram.start_from_dual` at the previous
    certificate's dual point q (the blocks whose ratio there is >= 0.9 of the largest, with
    the active rows of their exact projections onto the cones and their least-slack rows), and
    otherwise from

    - the previous solve's nonzero blocks (of its final working set, or of all blocks after one
      program) and, with cones, their cone rows (after one program: the entry rows of
      :func:`solve_patterns`' rule 2, which include the support of the multipliers);
    - plus, with ``screen`` (sequential screening), the blocks that nnlasso's certificate
      flags at the new lam from the previous fit: the dual point q and the multipliers mu of
      the previous certificate do not depend on lam, so block k's ratio at the new lam is
      r_k(lam) = |Xc^T (sigma_k D_k q + S_k mu_k)| / lam = r_k(lam_prev) lam_prev / lam, and
      the blocks with r_k(lam) > 1 enter (at most max(10, n/10) of them, n the number of
      nonzero blocks, the largest ratios first); the loop adds whatever this misses;
    - the previous certificate's q and mu for the entry rows of the new blocks and as the first
      multipliers of the certificate.

    With ``warm_solver="newton"`` (the default) and the gated program (``cone=False``), squared
    loss and penalized bias, each warm step first computes a candidate point by Newton's
    method on the smooth group lasso over the previous nonzero blocks (from the previous
    point; blocks leave at zero, and zero blocks that nnlasso's ratio test flags at the new
    lam enter; :mod:`nnlasso.patterns.newton`): when nnlasso's certificate over ALL blocks
    accepts it (rel gap <= tol), it is the solution, with ``info["working_set"]["rounds"]``
    0 and no interior-point solve; otherwise the loop above runs as without it. On 1000
    gates on diabetes a warm gated step is then ~0.3 s of CPU instead of ~1.4 s. For the cone
    program (squared or logistic loss, penalized bias, no skip) the candidate is SSNAL's
    point from the previous solution (:mod:`nnlasso.patterns.augmented_lagrangian`), certified
    the same way; when SSNAL returns none, the cone start above is chosen at its last dual
    point instead of the previous certificate's. On 1000 cone patterns on diabetes a warm
    step is then 1.3-2.9 s of CPU instead of 7-21 s.

    Every value is then certified exactly as by one :func:`solve_patterns` call: nnlasso's
    dual point over ALL blocks and ALL cone rows, the same status rule. With
    ``working_set=False`` each lam is one program over all blocks (no warm start: the
    interior-point backend takes none).

    Parameters
    ----------
    X, Y, patterns, loss, skip, cone, bias, solver, tol, options, active_tol, gates,
    working_set, max_rounds, verbose
        As for :func:`solve_patterns`.
    lams : sequence of float > 0
        The regularization values (unaveraged loss); any order, duplicates allowed.
    screen : bool
        Add the blocks flagged at the new lam by the previous certificate (above) to the warm
        start; False starts from the previous working set only.
    warm_solver : {"newton", "ip"}
        "newton": try the Newton point (gated) or SSNAL's point (cone) first in the warm
        steps where it applies (above); "ip": the working-set loop's interior-point solves
        only.

    Returns
    -------
    list of PatternSolution
        One per value of ``lams``, in that order. ``times["build"]`` is nonzero only for the
        first solve (the largest lam), which paid for the checks and the program's arrays;
        ``info["path"]`` has the solve's position in the path (``step``, 0 = largest lam),
        ``warm_start`` (whether it started from the previous solve), ``newton`` (None, or
        the Newton try: ``ok``, ``time``, ``solves``, ``support``, ``fail``),
        ``start_blocks`` (the initial working blocks), ``screened`` (how many of them the
        screening added) and ``cpu`` (the process CPU seconds of the step, all threads).

    Examples
    --------
    >>> pats, G, h = nnlasso.sample_patterns(X, 200, seed=0)
    >>> sols = nnlasso.pattern_path(X, y, np.geomspace(1.0, 1e-3, 20), pats, cone=False)
    >>> [s.rel_gap for s in sols]          # each certified over all blocks
    """
    t_start, c_start = time.perf_counter(), time.process_time()
    lam_list = _check_lams(lams)
    if warm_solver not in ("newton", "ip"):
        raise InvalidProblemError(f"warm_solver: expected 'newton' or 'ip', got "
                                  f"{warm_solver!r}")
    order = np.argsort(-np.asarray(lam_list), kind="stable")
    ctx = _build(X, Y, lam_list[order[0]], patterns, loss=loss, skip=skip, cone=cone, bias=bias,
                 solver=solver, tol=tol, options=options, working_set=working_set)
    t_build = time.perf_counter() - t_start
    prog = ctx["prog"]
    out: list[PatternSolution | None] = [None] * len(lam_list)
    prev = None
    newton = GatedNewton(prog) if warm_solver == "newton" and applicable(prog) else None
    alm = ConeALM(prog) if warm_solver == "newton" and alm_applicable(prog) else None
    for step, i in enumerate(order.tolist()):
        t0 = t_start if step == 0 else time.perf_counter()
        c0 = c_start if step == 0 else time.process_time()
        lam = lam_list[i]
        prog.lam = lam
        start, n_screened, newton_info = None, 0, None
        if prev is not None and ctx["use_ws"]:
            point = q_alm = None
            if alm is not None:
                point, newton_info = _alm_point(alm, *prev, lam)
                q_alm = alm.q
            if point is not None:
                # certified by SSNAL (nnlasso's certificate, computed by SSNAL with this
                # program): the loop takes it without a restricted solve
                start = {"blocks": point["support"], "point": point, "q": q_alm,
                         "point_certificate": (alm.last_ev, alm.last_cert)}
            else:
                # the start at SSNAL's last dual point when there is one (closer to the new
                # optimum than the previous certificate's)
                start, n_screened = _warm_start(prog, *prev, lam, screen, q=q_alm)
                if start is not None and newton is not None:
                    start, newton_info = _newton_point(newton, start, *prev, lam)
        sol, cert = _solve_built(ctx, active_tol=active_tol, gates=gates, max_rounds=max_rounds,
                                 verbose=verbose, t_start=t0,
                                 t_build=t_build if step == 0 else 0.0, start=start)
        sol.info["path"] = {"step": step, "warm_start": start is not None,
                            "start_blocks": 0 if start is None else int(start["blocks"].size),
                            "screened": n_screened, "cpu": time.process_time() - c0,
                            "newton": newton_info}
        out[i] = sol
        prev = (sol, cert, lam)
        if step == 0:
            if not ctx["use_ws"] and isinstance(working_set, str):
                # "auto" chose one program for the first lam: the later ones run through the
                # warm-started loop, from that program's nonzero blocks
                ctx = {**ctx, "use_ws": True}
            # the warm steps' factorization: the one for repeated solves with cones; the
            # one-shot one for the gated program, whose warm steps are one restricted solve
            # on ~1/4 of the blocks (1000 gates on diabetes: CLARABEL's faer 4.2 s vs QDLDL
            # 8.7 s per step, same gaps)
            prog.options = backends.adapter(ctx["solver_name"]).factorization_options(
                ctx["opts"], repeated=bool(ctx["cone"]) and ctx["use_ws"])
    return out  # type: ignore[return-value]


#: relative ratio at the previous dual point from which a cone block starts a warm step
CONE_START_THRESHOLD = 0.9


def _warm_start(prog: Any, sol: PatternSolution, cert: dict, lam_prev: float, lam: float,
                screen: bool, q: np.ndarray | None = None) -> tuple[dict | None, int]:
    """The working-set start at ``lam`` from the solve at ``lam_prev`` (see
    :func:`pattern_path`) and the number of blocks the screening added to it (``q``: the
    cone start's dual point instead of the previous certificate's)."""
    wsi = sol.info["working_set"]
    if prog.cone and screen:
        # cones: the working set chosen at the previous certificate's dual point (blocks of
        # relative ratio >= 0.9, their projections' active rows and least-slack rows), which
        # carries the new lam's faces better than the previous rows (diabetes, 1000 patterns,
        # lam 0.0183 -> 0.0127: 2 rounds, 13.7 s CPU vs 3 rounds, 18.8 s; docs/benchmarks.md)
        start = prog.start_from_dual(cert["q"] if q is None else q, CONE_START_THRESHOLD)
        prev_blocks = np.asarray(wsi.get("working_blocks", np.arange(prog.B)), dtype=np.intp)
        return start, int(np.setdiff1d(start["blocks"], prev_blocks).size)
    blocks = np.asarray(wsi.get("working_blocks", np.arange(prog.B)), dtype=np.intp)
    # the working blocks that are nonzero (the loop's pruning rule: zero blocks stay only if
    # the screening below flags them; a solve that stops after one round never prunes)
    bnorm = np.linalg.norm(np.hstack([sol.U, sol.beta[:, None]]) if prog.bias == "penalized"
                           else sol.U, axis=1)
    top = float(np.max(bnorm)) if bnorm.size else 0.0
    blocks = blocks[bnorm[blocks] > prog.zero_tol * top] if top > 0 else blocks[:0]
    n_screened = 0
    if screen:
        r = np.asarray(cert["ratios"]) * (lam_prev / lam)
        out = np.flatnonzero(r > 1.0)
        out = np.setdiff1d(out, blocks, assume_unique=True)
        # at most max(10, |nonzero| / 10), the largest ratios first: on redundant patterns
        # (1000 gates on diabetes) hundreds of zero blocks have r_k(lam_prev) near 1, and
        # taking them all (up to the loop's entry cap max(10, N/2)) doubled the restricted
        # programs for a few entering blocks (measured: CPU 90.6 s vs 71.3 s without screening)
        out = out[np.argsort(-r[out], kind="stable")][:max(10, blocks.size // 10)]
        n_screened = int(out.size)
        blocks = np.union1d(blocks, out)
    if blocks.size == 0:
        return None, 0
    return {"blocks": blocks, "rows": wsi.get("working_rows"), "q": cert["q"],
            "mu": cert["mu"]}, n_screened


def _alm_point(alm: ConeALM, sol: PatternSolution, cert: dict, lam_prev: float, lam: float
               ) -> tuple[dict | None, dict]:
    """SSNAL's certified point at ``lam`` from the previous solve (cone program), or None
    (then ``alm.q`` is its last dual point, or None); and {"ok", "time", "fail", "outer",
    "newton"}."""
    t0 = time.perf_counter()
    point = alm.solve(np.hstack([sol.U, sol.beta[:, None]]), lam, lam_prev)
    info = {"ok": point is not None, "time": time.perf_counter() - t0, "fail": alm.fail,
            "newton": alm.n_newton}
    if point is not None:
        info.update(outer=point["outer"])
    return point, info


def _newton_point(newton: GatedNewton, start: dict, sol: PatternSolution, cert: dict,
                  lam_prev: float, lam: float) -> tuple[dict, dict]:
    """The Newton point at ``lam`` from the previous solve, added to ``start`` as its
    ``"point"`` (the loop certifies it before any restricted solve; its support joins the
    start's blocks). Returns (start, {"ok", "time", "fail", "solves", "support"})."""
    t0 = time.perf_counter()
    point = newton.solve(np.hstack([sol.U, sol.beta[:, None]]), lam)
    info = {"ok": point is not None, "time": time.perf_counter() - t0, "fail": newton.fail}
    if point is None:
        return start, info
    info.update(solves=point["newton_solves"], support=int(point["support"].size))
    blocks = np.union1d(start["blocks"], point["support"])
    return {**start, "blocks": blocks, "point": point}, info
