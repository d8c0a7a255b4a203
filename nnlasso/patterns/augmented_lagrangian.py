"""Semismooth Newton augmented Lagrangian (SSNAL) for the cone pattern program (squared or
logistic loss, penalized bias, no skip), used by :func:`~nnlasso.patterns.pattern_path` between
neighbouring lam: like :mod:`nnlasso.patterns.newton` for the gated program, it proposes a point
that the working-set loop certifies over all blocks and rows (``start["point"]`` of
:meth:`~nnlasso.patterns.working_set.WorkingSetLoop.solve_working_set`); a point that does not
certify only seeds the loop's start (:meth:`~.WorkingSetLoop.start_from_dual` at its dual point).

The program is min_theta h(A theta) + p(theta), h(z) = sum_n L(y_n, z_n) (squared or logistic),
A theta = sum_k sigma_k D_k Xl theta_k, p(theta) = sum_k lam |theta_k| + indicator(theta_k in K_k),
K_k = {v : (2 D_k - I) Xl v >= 0}. The augmented Lagrangian method runs on its dual (Li, Sun &
Toh's SSNAL for the lasso): with the multiplier theta and sigma > 0, each outer iteration
minimizes over u in R^N

    psi(u) = h*(u) + |z(u)|^2 / (2 sigma) - |theta|^2 / (2 sigma),
    z(u) = prox_{sigma p}(theta - sigma A^T u),   grad psi(u) = grad h*(u) - A z(u),

(squared: h*(u) = 1/2 |u|^2 + y^T u; logistic, y in {-1, +1}: h*(u) = sum s log s +
(1 - s) log(1 - s), s = -y u, whose domain (0, 1) the Newton steps keep)

then sets theta <- z(u) and sigma <- 5 sigma (at most 1e6; from the zero network the first
sigma is max(10, 1 / lam) for the squared loss, min(10, 1 / lam) for the logistic one). The
prox is blockwise the group shrink of the exact cone projection,
prox(x)_k = max(0, 1 - sigma lam / |P_K(x_k)|) P_K(x_k) (K_k a cone), computed for all blocks
at once by
:func:`~nnlasso.patterns.cone_projection.project_cones` (warm started from the previous call's
active sets, stopped early on blocks whose projection is shown to be <= sigma lam); psi is
minimized by semismooth Newton with the generalized Hessian
diag(h*'') + sigma sum_k A_k J_k A_k^T, J_k = (1 - c_k) Pi_k + c_k p_k p_k^T on the blocks with
|P_K(x_k)| > sigma lam (Pi_k the projector onto the span of the projection's face, p_k the unit
projection, c_k = sigma lam / |P_K(x_k)|; 0 elsewhere): an N x N system, N the samples, and
Armijo backtracking by quadratic interpolation (the step kept in [0.1 a, 0.5 a]), the first
trial min(1, 4 a_last) after a damped step a_last of the same outer iteration. Every
iterate theta is in the cones (it is a projection). An iterate z is certified (nnlasso's
certificate over all blocks and rows, at the dual candidate q = -u) once the dual
infeasibility of u that the outer step leaves, max_k |theta_k - z_k| / (sigma lam), is
<= ``eta_cert`` = 1e-3 ((theta - z) / sigma - A^T u is a subgradient of p at z, so the
certified relative gap is about that number), and always from the ``stall_outer``-th outer
iteration on while no gap <= ``stall_gap`` has been seen).

A warm step (:meth:`ConeALM.solve` with ``lam_prev``: theta0 the solution at lam_prev)
starts from u = (lam / lam_prev) grad L(A theta0), at which the active blocks' dual
constraints are tight at lam as they were at lam_prev, and from sigma = ``warm_sigma`` / lam:
a long proximal step from a point that is already good.

When the certified relative gap (nnlasso's certificate) is <= ``polish_below``, the faces of
the last prox are taken as the optimal ones and the point is polished by Newton's method on the
smooth group lasso min h(sum_k Psi_k phi_k) + lam sum_k |phi_k| with theta_k = N_k phi_k
(N_k an orthonormal basis of block k's face span, Psi_k = A_k N_k); a polished point that keeps
every cone row (up to the program's ``viol_tol``) and certifies at ``tol`` is returned. A
polished point that leaves its cones is polished again over smaller faces, each N_k cut by
the rows the point violates ({v in span N_k : a_n . v = 0}), up to ``repolish`` times.

:func:`~nnlasso.patterns.solve_patterns` runs it from the zero network (:func:`solve_program`,
the default for :func:`applicable` programs; once more from a ten times smaller first sigma
when it makes no progress), and :func:`~nnlasso.patterns.pattern_path`'s warm
steps from the previous lam's point; measured on diabetes and breast cancer, 1000 sampled cone
patterns, in docs/benchmarks.md.
"""
from __future__ import annotations

import logging
import time

import numpy as np
import scipy.linalg as sla

from .cone_projection import project_cones
from .newton import _psd_solve

logger = logging.getLogger(__package__)   # "nnlasso.patterns": the documented logger name



def _spd_solve(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    """-H^{-1} g for the Newton matrix H (symmetric positive definite: its diagonal part is
    > 0) by Cholesky (half LU's work), LU when rounding makes the factorization fail."""
    try:
        return -sla.cho_solve(sla.cho_factor(H, check_finite=False), g, check_finite=False)
    except np.linalg.LinAlgError:
        return -np.linalg.solve(H, g)


#: most samples for which SSNAL is tried: its Newton systems are dense N x N (measured at
#: N = 442 and 569 only; the interior-point loop solves larger programs)
MAX_SAMPLES = 1000


#: fewest blocks for which :func:`solve_program` (the cold solve) is the default: measured on
#: diabetes at 600 and 2000 blocks (7.6 s and 8-16 s vs the loop's 55-71 s at 2000); at 60
#: blocks (30 gates) its Newton steps did not converge
MIN_BLOCKS = 500


def applicable(prog) -> bool:
    """Whether SSNAL is tried (:func:`solve_program`, and the warm steps of
    :func:`~nnlasso.patterns.pattern_path`): the cone program with the squared loss, the
    penalized bias, one output, no free affine part and at most :data:`MAX_SAMPLES` samples."""
    return (prog.cone and prog.loss.name in ("squared", "logistic") and prog.bias == "penalized"
            and not prog.lin_block and prog.T.shape[1] == 1 and prog.Qf is None
            and prog.N <= MAX_SAMPLES)


#: a cold SSNAL that makes "no progress" is run once more from a first sigma this many times
#: smaller before the interior-point loop takes over (too large a first sigma is the failure
#: seen: logistic loss on breast cancer, lam 0.3, at sigma 10; squared loss on diabetes,
#: lam 0.001, at 1e5; the loop then costs 100-250 s)
RETRY_SIGMA = 0.1

#: a failed cold SSNAL hands its dual point to the interior-point loop's start
#: (:meth:`~.WorkingSetLoop.start_from_dual`) when its certified relative gap is below this
START_GAP = 2e-2


def solve_program(prog, *, max_rounds: int = 50, level: int = 10, start: dict | None = None
                  ) -> tuple[dict, dict, dict, dict]:
    """The hook of :func:`nnlasso.patterns.solve_patterns` for :func:`applicable` programs:
    SSNAL from the zero network, returned as :meth:`PatternProgram.solve_working_set` returns
    (res, ev, cert, info) with ``method`` "ssnal", ``newton`` and ``outer``. A run that makes
    "no progress" is repeated once from :data:`RETRY_SIGMA` times its first sigma (``info``'s
    ``ssnal_retry``: the first attempt and the retry's sigma). When no run returns a certified
    point the working-set loop solves the program (from SSNAL's best last dual point when its
    certified relative gap is <= :data:`START_GAP`), and ``method`` is the backend's name.
    With a ``start`` (a warm step of :func:`~nnlasso.patterns.pattern_path`, whose ``"point"``
    is SSNAL's from the previous lam) the loop runs from it directly (``method`` "ssnal" when
    it accepted the point without a restricted solve)."""
    t0 = time.perf_counter()
    if start is not None:
        # a warm start (pattern_path's steps: its "point" is SSNAL's from the previous lam,
        # certified first by the loop)
        res, ev, cert, info = prog.solve_working_set(max_rounds=max_rounds, level=level,
                                                     start=start)
        res = {**res, "compile": info["compile"], "solve": info["solve"]}
        method = "ssnal" if info["rounds"] == 0 else prog.solver.lower()
        return res, ev, cert, {**info, "method": method, "inaccurate_retry": None}
    alm = ConeALM(prog)
    point = alm.solve(np.zeros((prog.B, prog.e)), prog.lam)
    retry = None
    if point is None and alm.fail == "no progress":
        first = {"fail": alm.fail, "rel_gap": alm.last_gap, "sigma": alm.first_sigma,
                 "time": time.perf_counter() - t0}
        q_first = alm.q
        logger.log(level, "pattern SSNAL: no progress from sigma %.3g (last rel gap %.2e, "
                   "%.1fs); once more from sigma %.3g", alm.first_sigma, alm.last_gap,
                   first["time"], alm.first_sigma * RETRY_SIGMA)
        point = alm.solve(np.zeros((prog.B, prog.e)), prog.lam,
                          sigma=alm.first_sigma * RETRY_SIGMA)
        retry = {"first": first, "sigma": alm.first_sigma, "ok": point is not None}
        if point is None and q_first is not None and first["rel_gap"] < alm.last_gap:
            alm.q, alm.last_gap = q_first, first["rel_gap"]   # the better dual point
    if point is not None:
        ev, cert = alm.last_ev, alm.last_cert        # SSNAL's certificate of the point
        logger.log(level, "pattern SSNAL: %d outer iterations, %d Newton steps, certified rel "
                   "gap %.2e", point["outer"], point["newton"],
                   prog.rel_gap(ev["objective"], cert["dual"]))
        info = {"method": "ssnal", "rounds": 0, "blocks": int(prog.B), "rows": 0,
                "newton": int(point["newton"]), "outer": int(point["outer"]), "history": [],
                "compile": 0.0, "solve": point["solve"], "total": time.perf_counter() - t0,
                "regularization_retry": None, "failure_retries": 0, "inaccurate_retry": None,
                "working_blocks": point["support"], "working_rows": None,
                "ssnal_retry": retry}
        return point, ev, cert, info
    t_alm = time.perf_counter() - t0
    logger.log(level, "pattern SSNAL: no certified point (%s, last rel gap %.2e, %.1fs); "
               "solving with the working-set loop", alm.fail, alm.last_gap, t_alm)
    if alm.q is not None and alm.last_gap <= START_GAP:
        start = prog.start_from_dual(alm.q)
    res, ev, cert, info = prog.solve_working_set(max_rounds=max_rounds, level=level,
                                                 start=start)
    res = {**res, "compile": info["compile"], "solve": info["solve"] + t_alm}
    info = {**info, "method": prog.solver.lower(), "ssnal": {"fail": alm.fail, "time": t_alm,
                                                          "rel_gap": alm.last_gap,
                                                          "retry": retry},
            "solve": info["solve"] + t_alm, "total": time.perf_counter() - t0,
            "inaccurate_retry": None}
    return res, ev, cert, info


class ConeALM:
    """SSNAL points of one cone :class:`~nnlasso.patterns.program.PatternProgram` (see the
    module docstring)."""

    sigma0 = 10.0          # first sigma from the zero network: max(sigma0, 1 / lam) (squared
                           # loss), min(sigma0, 1 / lam) (logistic)
    warm_sigma = 10.0      # first sigma of a warm step (solve's lam_prev): warm_sigma / lam
    sigma_growth = 5.0     # sigma <- sigma_growth sigma after each outer iteration
    sigma_max = 1e6        # its cap
    max_outer = 20         # outer (multiplier) iterations
    max_inner = 30         # semismooth Newton steps per outer iteration
    inner_tol = 1e-2       # outer iteration j stops its Newton steps at
    inner_decay = 0.1      # |grad psi| <= inner_tol inner_decay^j (1 + |y|)
    polish_below = 1e-4    # certified relative gap from which the face polish is tried
    eta_cert = 1e-3        # the iterate z is certified once max_k |theta_k - z_k| / (sigma lam)
                           # (the dual infeasibility of u relative to lam) is at most this
    step_ramp = 4.0        # a Newton step's first trial: min(1, step_ramp a_last) (a_last the
                           # previous accepted step of the outer iteration)
    repolish = 3           # polishes per try: one over the prox's faces, then, while the point
                           # leaves its cones, over those faces cut by the rows it violates
    stall_outer = 5        # give up when the certified gap is still > stall_gap after
    stall_gap = 0.5        # stall_outer outer iterations (converging runs: <= 0.2 after 4)
    max_bytes = 1 << 29    # the Newton system's factor W (N, sum of face dimensions)

    def __init__(self, prog):
        if not applicable(prog):
            raise ValueError("ConeALM: the cone program with the squared or logistic loss, the "
                             "penalized bias and no free affine part only")
        self.p = prog
        self.S = np.where(prog.D[:, prog.bpat], np.int8(1), np.int8(-1))      # (N, B)
        self.Dt = prog.D.T.astype(np.float64)                                 # (P, N)
        self.Db = np.ascontiguousarray(prog.D.T)                              # (P, N) bool
        self.warm = None
        self.fail: str | None = None
        self.q: np.ndarray | None = None       # the last certificate's dual point
        self.last_gap = np.inf                  # and its certified relative gap
        self.last_ev = self.last_cert = None    # the last certified point's evaluation
        self.n_newton = 0
        self.first_sigma = self.sigma0          # the last solve's first sigma
        self._fb = None                         # the face bases' cache (_face_basis)

    # ---- operators (never the dictionary: products through the masks) --------------------
    def _At(self, u: np.ndarray) -> np.ndarray:
        """(B, d+1): A_k^T u = sigma_k Xl^T D_k u."""
        p = self.p
        G = self.Dt @ (u[:, None] * p.Xl)
        return G[p.bpat] * p.bsign[:, None]

    def _A(self, Z: np.ndarray) -> np.ndarray:
        """sum_k A_k Z_k over the nonzero rows of Z (B, d+1)."""
        p = self.p
        nz = np.flatnonzero(np.any(Z != 0, axis=1))
        out = np.zeros(p.N)
        for sl in p._chunks(nz.size):
            ks = nz[sl]
            V = Z[ks] @ p.Xl.T                                   # (b, N): Xl theta_k
            V *= self.Db[p.bpat[ks]]                             # the masks' rows (P, N)
            out += p.bsign[ks] @ V
        return out

    def _prox(self, x: np.ndarray, t: float):
        """prox of t p at x (B, d+1): the group shrink of the exact cone projections."""
        # blocks whose projection is shown to be <= t stop early (their prox is 0): only the
        # others are projected exactly (project_cones' stop)
        # warm started from the last accepted Newton iterate's projections (not from a
        # rejected trial's: solve sets self.warm)
        res = project_cones(self.p.Xl, self.S, x, warm=self.warm, stop=t)
        nrm = self._active_norms(res, t)
        scale = np.where(nrm > t, 1.0 - t / np.where(nrm > 0, nrm, 1.0), 0.0)
        return res.P * scale[:, None], res

    @staticmethod
    def _active_norms(res, t: float) -> np.ndarray:
        """|P_K(x_k)| of the exactly projected blocks, 0 for those stopped at a bound <= t."""
        return np.where(res.converged & (res.norm > t), res.norm, 0.0)

    def _conjugate(self, u: np.ndarray):
        """h*(u) = sum_n L*(y_n, u_n), its gradient and Hessian diagonal; None outside its
        domain. Squared: 1/2 |u|^2 + y^T u. Logistic (y in {-1, +1}): sum s log s +
        (1 - s) log(1 - s), s = -y u in (0, 1) (the open interval: Newton stays inside)."""
        y = self.p.y
        if self.p.loss.name == "squared":
            return 0.5 * float(u @ u) + float(y @ u), u + y, np.ones_like(u)
        s = -y * u
        if np.any(s <= 0.0) or np.any(s >= 1.0):
            return None
        l1 = np.log1p(-s)
        ls = np.log(s)
        return float(np.sum(s * ls + (1.0 - s) * l1)), -y * (ls - l1), 1.0 / (s * (1.0 - s))

    def _step_to_boundary(self, u: np.ndarray, d: np.ndarray) -> float:
        """The largest a <= 1 keeping u + a d inside h*'s domain, with a margin (logistic:
        s = -y u in (0, 1); squared: 1)."""
        if self.p.loss.name == "squared":
            return 1.0
        y = self.p.y
        s, ds = -y * u, -y * d
        a = 1.0
        neg, pos = ds < 0, ds > 0
        if np.any(neg):
            a = min(a, 0.99 * float(np.min(-s[neg] / ds[neg])))
        if np.any(pos):
            a = min(a, 0.99 * float(np.min((1.0 - s[pos]) / ds[pos])))
        return a

    def _psi(self, u, th, sig, lam):
        """(psi(u), grad psi(u), h*'s Hessian diagonal, z(u), the projections), or None
        outside h*'s domain."""
        hs = self._conjugate(u)
        if hs is None:
            return None
        z, res = self._prox(th - sig * self._At(u), sig * lam)
        val = hs[0] + (float(np.sum(z * z)) - float(np.sum(th * th))) / (2 * sig)
        return val, hs[1] - self._A(z), hs[2], z, res

    def _hessian(self, res, sig: float, lam: float, hdiag: np.ndarray) -> np.ndarray | None:
        """diag(h*'') + sigma sum_k A_k J_k A_k^T (N, N), None when too large."""
        p = self.p
        act = np.flatnonzero(self._active_norms(res, sig * lam) > 0)
        if act.size == 0:
            return np.diag(hdiag)
        if 8 * p.N * act.size * (p.e + 1) > self.max_bytes:
            return None
        U, dim = self._face_basis(res, act)                         # (a, e, e), zero padded
        nr = res.norm[act]
        c = sig * lam / nr
        # the factor's rows, block by block without the zero padding: sqrt(1 - c_k) times
        # the columns of U_k[:, :dim_k], then sqrt(c_k) p_k, of each active block k
        T = np.concatenate([(U * np.sqrt(1.0 - c)[:, None, None]).transpose(0, 2, 1),
                            (res.P[act] * (np.sqrt(c) / nr)[:, None])[:, None, :]], axis=1)
        rows = np.arange(p.e + 1)[None, :] < dim[:, None]
        rows[:, p.e] = True
        Wt = T[rows] @ p.Xl.T                                          # (columns, N)
        # the masks D_k (0 / 1; the signs sigma_k drop out of W W^T), one row per block
        # repeated over its rows (not a gather of every column: ~3x the cost at 1500 columns)
        Wt *= np.repeat(self.Db[p.bpat[act]], dim + 1, axis=0)
        W = Wt.T
        H = W @ W.T
        H *= sig
        H[np.diag_indices_from(H)] += hdiag
        return H

    def _face_basis(self, res, act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """res.face_basis(act), recomputed only for the blocks whose active rows (``idx``:
        which rows, in which order) changed since they were last computed: the face's span
        depends on those rows only, and between Newton steps most blocks keep them."""
        p = self.p
        if self._fb is None:
            self._fb = (np.full((p.B, p.e), -2, dtype=np.intp), np.zeros((p.B, p.e, p.e)),
                        np.zeros(p.B, dtype=np.intp))
        idx, U, dim = self._fb
        ks = act[np.any(idx[act] != res.idx[act], axis=1)]
        if ks.size:
            U[ks], dim[ks] = res.face_basis(ks)
            idx[ks] = res.idx[ks]
        return U[act], dim[act]

    # ---- certificate ---------------------------------------------------------------------
    def _point(self, th: np.ndarray, t0: float, q: np.ndarray | None = None) -> dict:
        """The result dict; ``q``: the dual candidate it was certified at (None: the fit's)."""
        return {"th": th, "mu": np.zeros((self.p.B, self.p.N)), "C": None, "c0": None,
                "ulin": None, "status": "optimal", "cvxpy_status": "ssnal",
                "solve": time.perf_counter() - t0, "compile": 0.0, "q": q}

    def _certify(self, th: np.ndarray, u: np.ndarray | None = None) -> tuple[float, float]:
        """(certified relative gap, largest relative cone-row violation) of th; the dual
        candidate is -u when given (SSNAL's dual iterate), else the fit's -grad L(A th)."""
        p = self.p
        ev = p.evaluate({"th": th, "C": None, "c0": None, "ulin": None})
        cert = p.certify(ev["zfit"], self._mu0, q=None if u is None else -u)
        self._mu0 = cert["mu"]
        self.q = cert["q"]
        self.last_ev, self.last_cert = ev, cert
        top = float(np.max(ev["bnorm"])) if ev["bnorm"].size else 0.0
        viol = ev["max_row_violation"] / top if top > 0 else 0.0
        return p.rel_gap(ev["objective"], cert["dual"]), viol

    # ---- the method ----------------------------------------------------------------------
    def solve(self, th0: np.ndarray, lam: float, lam_prev: float | None = None,
              sigma: float | None = None) -> dict | None:
        """A certified point of the program at ``lam`` from the point ``th0`` (B, d+1) of a
        nearby lam, as a :meth:`PatternProgram.solve` result (with ``"support"``,
        ``"outer"`` and ``"newton"``), or None (``self.fail`` says why; ``self.q`` is then the
        last certified iterate's dual point (iterates far from dual feasible are not
        certified: ``eta_cert``), or None).

        ``lam_prev``: th0 is the solution at lam_prev (a warm step): the dual start
        u = grad L(A th0) is scaled by min(1, lam / lam_prev), so that the active blocks'
        |P_K(-A_k^T u)| = lam_prev becomes lam, and sigma starts at ``warm_sigma`` / lam.
        ``sigma``: the first sigma instead of these rules (:func:`solve_program`'s retry)."""
        t0 = time.perf_counter()
        p = self.p
        y = p.y
        self.fail, self.q, self.n_newton, self.last_gap = None, None, 0, np.inf
        self._mu0 = np.zeros((p.B, p.N))
        th = np.asarray(th0, dtype=float).copy()
        # u = grad L at the start's fit (inside h*'s domain)
        u = p.loss.grad(self._A(th)[:, None], p.T)[:, 0]
        # the first sigma: at most 1 / lam for the logistic loss, whose dual domain (0, 1)
        # makes a large sigma fail (breast cancer, 1000 patterns: "no progress", then the
        # interior-point loop, at sigma 10 for lam 0.3, 100 for 0.1, 1000 for 0.01 and
        # 0.001); at least 1 / lam for the squared loss, a long first proximal step towards
        # the large solutions of a small lam (diabetes, 1000 gates, lam 0.001: 146 -> 106
        # Newton steps, 14.6 / 13.8 -> 10.6 / 7.4 s; 300 gates: 268 -> 154, 23.4 -> 12.2 s;
        # breast cancer, squared loss, 500 patterns: 60 -> 42, 25.0 -> 16.0 s; 10 / lam: fewer
        # steps but dearer projections, and 100 / lam failed)
        if p.loss.name == "squared":
            sig = max(self.sigma0, 1.0 / lam)
        else:
            sig = min(self.sigma0, 1.0 / lam)
        if lam_prev is not None:
            # a warm step: at lam_prev's optimum, -A_k^T u is lam_prev times a subgradient of
            # the active blocks; scaled, the start is consistent with lam (u's domain is kept:
            # a factor in (0, 1]), and a large sigma is a long proximal step from a good theta
            # (diabetes, 1000 gates, 20-lam path: 920 -> 453 Newton steps with the certificate
            # at u below)
            u *= min(1.0, lam / lam_prev)
            sig = self.warm_sigma / lam
        if sigma is not None:
            sig = float(sigma)
        self.first_sigma = sig
        ny = 1.0 + float(np.linalg.norm(y))
        best = np.inf                           # the best certified gap so far
        for outer in range(self.max_outer):
            cur = self._psi(u, th, sig, lam)
            if cur is None:
                self.fail = "left the domain"
                return None
            val, g, hdiag, z, res = cur
            self.warm = res
            a_last = 1.0                        # the last accepted step of this outer iteration
            for _ in range(self.max_inner):
                if np.linalg.norm(g) <= max(self.inner_tol * self.inner_decay ** outer,
                                            1e-13) * ny:
                    break
                H = self._hessian(res, sig, lam, hdiag)
                if H is None:
                    self.fail = "too large"
                    return None
                d = _spd_solve(H, g)
                slope = float(g @ d)
                a = self._step_to_boundary(u, d)
                if a_last < 1.0:
                    # after a damped step the full one is usually rejected too: start at
                    # step_ramp times the last accepted step (>= 1 once that was >= 1 /
                    # step_ramp, so the full steps near the solution are kept)
                    a = min(a, self.step_ramp * a_last)
                for _ in range(30):
                    trial = self._psi(u + a * d, th, sig, lam)
                    # Armijo, up to the rounding of psi
                    if trial is not None and (trial[0] <= val + 1e-4 * a * slope
                                              + 1e-13 * (abs(val) + 1.0)):
                        break
                    if trial is None:
                        a *= 0.5
                    else:
                        # the minimizer of the quadratic through psi(u), its slope and
                        # psi(u + a d), kept in [0.1 a, 0.5 a]
                        den = trial[0] - val - a * slope
                        an = -slope * a * a / (2 * den) if den > 0 else 0.5 * a
                        a = min(max(an, 0.1 * a), 0.5 * a)
                else:
                    break
                self.warm = trial[4]
                a_last = a
                u = u + a * d
                val, g, hdiag, z, res = trial
                self.n_newton += 1
            # (th - z) / sigma - A^T u is in the subdifferential of p at z: u is dual feasible
            # up to |th_k - z_k| / sigma, relative to lam eta
            eta = float(np.max(np.linalg.norm(th - z, axis=1))) / (sig * lam)
            th = z
            late = outer + 1 >= self.stall_outer and best > self.stall_gap
            if eta > self.eta_cert and not late and outer + 1 < self.max_outer:
                # far from tol and polish_below (diabetes, 1000 gates: gaps <= 1e-4 seen only
                # at eta <= 1.5e-4; gap ~1 at eta 0.13); certificates cost 0.05-0.7 s
                sig = min(sig * self.sigma_growth, self.sigma_max)
                continue
            # certified at u (q = -u), not at the fit's -grad L(A z): u is dual feasible up
            # to eta (the gap is ~eta), while grad L(A z) differs from u by grad psi, whose
            # |A_k^T grad psi| / lam dominates at small lam (diabetes, 1000 gates, lam 0.0127,
            # eta 4e-12: rel gap 1.4e-4 at the fit's q)
            rg, viol = self._certify(th, u)
            self.last_gap = rg
            best = min(best, rg)
            if outer + 1 >= self.stall_outer and best > self.stall_gap:
                # no usable dual point yet (seen on 30 gates on diabetes: every inner
                # minimization hits max_inner and the gap stays at 1): the loop solves it.
                # The best gap, not the last: the iterates' gap is not monotone (0.09 then
                # 0.98 at lam 0.001 on the 1000 diabetes gates, certified two outers later)
                self.fail = "no progress"
                return None
            if rg <= p.tol and viol <= p.viol_tol:
                return {**self._point(th, t0, -u), "support": self._support(th),
                        "outer": outer + 1, "newton": self.n_newton}
            if rg <= self.polish_below:
                pol = self._polish(res, sig * lam, lam)
                for _ in range(self.repolish):
                    if pol is None:
                        break
                    thp = pol[0]
                    rgp, violp = self._certify(thp)
                    if rgp <= p.tol and violp <= p.viol_tol:
                        return {**self._point(thp, t0), "support": self._support(thp),
                                "outer": outer + 1, "newton": self.n_newton}
                    if violp <= p.viol_tol:
                        break
                    pol = self._repolish(*pol, lam)
                self._certify(th, u)                        # q of the iterate, not of thp
            sig = min(sig * self.sigma_growth, self.sigma_max)
        self.fail = "max_outer"
        return None

    @staticmethod
    def _support(th: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.any(th != 0, axis=1))

    def _polish(self, res, t: float, lam: float, iters: int = 30):
        """Newton on the smooth group lasso over the faces of the last prox (res: its
        projections; t = sigma lam its shrink): (theta, blocks, face bases) or None when it
        does not converge."""
        act = np.flatnonzero(self._active_norms(res, t) > 0)
        if act.size == 0:
            return None
        U, dim = res.face_basis(act)
        bases = [U[j][:, :dim[j]] for j in range(act.size)]
        shrink = 1.0 - t / res.norm[act]
        return self._face_newton(act, bases, res.P[act] * shrink[:, None], lam, iters)

    def _repolish(self, th: np.ndarray, act: np.ndarray, bases: list, lam: float,
                  iters: int = 30):
        """A polished point th that leaves its cones (the faces of the last prox were not the
        optimal ones) polished once more, each block's face span cut by the rows it violates
        {v in span N_k : a_n . v = 0}; as :meth:`_polish`."""
        p = self.p
        top = float(np.max(np.linalg.norm(th, axis=1)))
        slack = (p.Xl @ th[act].T) * self.S[:, act]                        # (N, a)
        bad = slack < -p.viol_tol * p.xln[:, None] * top                     # xln = |xl_n|
        keep, nb = [], []
        for j in range(act.size):
            Nk = bases[j]
            rows = np.flatnonzero(bad[:, j])
            if rows.size:
                M = p.Xl[rows] @ Nk                                          # (r, dim)
                _, sv, Vt = np.linalg.svd(M)
                rank = int(np.sum(sv > 1e-10 * max(sv[0], 1e-300)))
                Nk = Nk @ Vt[rank:].T
                if Nk.shape[1] == 0:
                    continue
            keep.append(j)
            nb.append(Nk)
        if not keep:
            return None
        keep = np.asarray(keep)
        return self._face_newton(act[keep], nb, th[act[keep]], lam, iters)

    def _face_newton(self, act: np.ndarray, bases: list, start: np.ndarray, lam: float,
                     iters: int):
        """Newton on min h(sum_k Psi_k phi_k) + lam sum_k |phi_k|, theta_k = N_k phi_k, over
        the face spans N_k = ``bases`` of the blocks ``act``, from theta_act = N N^T ``start``:
        (theta, act, bases), or None."""
        p = self.p
        cols, sl, o = [], [], 0
        for j, k in enumerate(act.tolist()):
            cols.append(p.Mk[:, k][:, None] * (p.Xl @ bases[j]))
            sl.append(slice(o, o + bases[j].shape[1]))
            o += bases[j].shape[1]
        if any(s_.stop == s_.start for s_ in sl):
            return None
        Psi = np.hstack(cols)
        phi = np.concatenate([bases[j].T @ start[j] for j in range(act.size)])
        loss, T = p.loss, p.T
        starts = np.array([s_.start for s_ in sl])
        owner = np.repeat(np.arange(len(sl)), np.diff(np.append(starts, o)))

        def norms(v):
            return np.sqrt(np.add.reduceat(v * v, starts))

        def f(v):
            return loss.value((Psi @ v)[:, None], T) + lam * float(np.sum(norms(v)))

        fv = f(phi)
        same = owner[:, None] == owner[None, :]                     # the blocks' diagonal
        for it in range(iters):
            n = norms(phi)
            if np.any(n == 0.0):
                return None
            w = phi / n[owner]
            zf = (Psi @ phi)[:, None]
            g = Psi.T @ loss.grad(zf, T)[:, 0] + lam * w
            gn = float(np.linalg.norm(g))
            if gn <= 1e-9 * lam:
                break
            # H = Psi^T Psi + blockdiag(lam / |phi_k| (I - w_k w_k^T))
            H = loss.hessian(zf, T, Psi) + np.where(same, (lam / n[owner])[:, None]
                               * (np.eye(o) - w[:, None] * w[None, :]), 0.0)
            try:
                H[np.diag_indices_from(H)] += 1e-12 * float(np.max(np.diag(H)))
                d = -sla.cho_solve(sla.cho_factor(H, check_finite=False), g,
                                   check_finite=False)
            except np.linalg.LinAlgError:
                d = -_psd_solve(H, g)
            a = 1.0
            while a > 1e-10:
                fn = f(phi + a * d)
                if fn <= fv + 1e-4 * a * float(g @ d) + 1e-15 * abs(fv):
                    break
                a *= 0.5
            else:
                break
            phi, fv = phi + a * d, fn
            if a == 1.0 and it >= 3 and gn <= 1e-7 * lam:
                break
        out = np.zeros((p.B, p.e))
        for j, k in enumerate(act.tolist()):
            out[k] = bases[j] @ phi[sl[j]]
        return out, act, bases
