"""The working-set loop of the pattern program (:class:`WorkingSetLoop`, a base of
:class:`~nnlasso.patterns.program.PatternProgram`): blocks and cone rows enter and leave, each
round one restricted solve and nnlasso's certificate over all blocks and rows (the rule is in
:func:`nnlasso.patterns.solve_patterns`, Notes; its constants are PatternProgram's class
attributes)."""
from __future__ import annotations

import logging
import time

import numpy as np

from .. import backends

logger = logging.getLogger(__package__)   # "nnlasso.patterns": the documented logger name


class WorkingSetLoop:
    """The working-set methods of :class:`~nnlasso.patterns.program.PatternProgram`; they use
    its data, restricted solve (``solve``) and certificate (``certify``, ``block_ratios``)."""

    def _entry_rows(self, ks: np.ndarray, q: np.ndarray, mu: np.ndarray) -> list:
        """Initial cone rows of entering blocks: the n_rows_init rows of least slack for the
        block's steepest feasible direction v_k = Xl^T (sigma_k D_k q + S_k mu_k) (for the
        penalized bias and NNLS multipliers, v_k is the projection of the gradient onto the
        block's cone), plus the support of mu_k."""
        Wm = self.Mk[:, ks] * q[:, None] + self.Sg[:, ks] * mu[ks].T      # (N, m)
        V = Wm.T @ self.Xl                                                # (m, e)
        slack = self.Sg[:, ks].T * (V @ self.Xl.T) / self.xln[None, :]    # (m, N)
        n0 = min(self.n_rows_init, self.N)
        out = []
        for j, k in enumerate(ks):
            sel = np.argpartition(slack[j], n0 - 1)[:n0] if n0 < self.N else np.arange(self.N)
            out.append(np.union1d(sel, np.flatnonzero(mu[k] > 0)))
        return out

    def start_from_dual(self, q: np.ndarray, threshold: float = 0.9) -> dict:
        """The ``start`` of :meth:`solve_working_set` chosen at a dual point ``q`` (N,), e.g. a
        barrier method's iterate stopped at a moderate gap, or the solve at a nearby lam.

        Each block's ratio r_k = |P_K_k(c_k)| / lam, c_k = sigma_k Xl^T D_k q (cones, exact
        projections by :meth:`cone_multipliers`: r_k = min_{mu_k >= 0} |Xl^T w_k| / lam,
        w_k = sigma_k D_k q + S_k mu_k; gated: |Xc^T sigma_k D_k q| / lam), taken relative to
        the feasible multiple q / max(1, max_k r_k). Blocks: those with relative ratio
        >= ``threshold`` (at least the largest one). Rows (cones): each block's
        :meth:`_entry_rows` at (q, mu), i.e. the active rows of its projection (mu_k > 0) and
        the ``n_rows_init`` rows of least slack along P_K_k(c_k).

        Returns ``{"blocks", "q", "mu", "rows"}`` (``mu`` (B, N) the projections' multipliers
        and ``rows`` {block: rows} with cones, both None gated). Measured on diabetes, 1000
        cone patterns, lam = 0.01 (docs/benchmarks.md): from a dual point at certified rel gap
        1.6e-2 (cosine 0.9996 to q*) and threshold 0.9 the loop needs one round (9 s CPU)
        instead of 11 from the zero network.
        """
        q = np.asarray(q, dtype=float)
        if q.shape != (self.N,) or not np.all(np.isfinite(q)):
            from ..errors import InvalidProblemError
            raise InvalidProblemError(f"q: expected a finite dual point of shape ({self.N},), "
                                      f"got shape {q.shape}")
        if not 0.0 < threshold <= 1.0:
            from ..errors import InvalidProblemError
            raise InvalidProblemError(f"threshold: expected a value in (0, 1], got {threshold!r}")
        if self.cone:
            mu, r = self.cone_multipliers(q, np.arange(self.B))
        else:
            mu, r = None, self.block_ratios(q, None)[0]
        rel = r / max(1.0, float(np.max(r)))
        blocks = np.flatnonzero(rel >= threshold)
        if blocks.size == 0:
            blocks = np.array([int(np.argmax(r))], dtype=np.intp)
        rows = (dict(zip(blocks.tolist(), self._entry_rows(blocks, q, mu)))
                if self.cone else None)
        return {"blocks": blocks, "q": q, "mu": mu, "rows": rows}

    def solve_working_set(self, max_rounds: int = 50, level: int = logging.DEBUG,
                          start: dict | None = None) -> tuple[dict, dict, dict, dict]:
        """Block working set with cone-row generation (rule in :func:`solve_patterns`);
        one progress line per round on this module's logger at ``level``.

        ``start`` (a warm start, e.g. from the solve at a nearby lam) replaces rule 1: a dict
        with ``"blocks"`` (the initial working blocks, nonempty) and, optionally, ``"rows"``
        ({block: cone rows}, taken as given), ``"q"`` (N,) and ``"mu"`` (B, N) (a dual point
        and multipliers: the entry rows of the blocks without given rows, and the first
        multipliers of the certificate; default: the zero network's q, mu = 0). The returned
        info's ``"working_blocks"`` and ``"working_rows"`` (cone only) are the final working
        set, in that form.

        ``start["point"]`` (optional): a candidate point in the form of :meth:`solve`'s result
        (``th`` (B, d+1) zero outside ``start["blocks"]``, ``mu`` (B, N) with cones, ``C``,
        ``c0``, ``ulin``, ``status``, ``cvxpy_status``, ``solve``, ``compile``, optionally
        ``q``: the dual candidate to certify it at instead of its fit's), e.g. from a
        cheaper solver warm-started at a nearby lam. It is certified first, by the round's
        rule (nnlasso's certificate over ALL blocks and rows): when its relative gap is <= tol
        and no cone row of its blocks is violated (slack < -viol_tol |xl_n| max|theta|), it is
        returned with ``rounds`` 0 and no restricted solve; otherwise the loop runs as without
        it (its certificate's q and mu seed the entry rows and the first multipliers).
        ``start["point_certificate"]`` (optional, with a point): (ev, cert), the point's
        :meth:`evaluate` and its :meth:`certify` over all blocks and rows, already computed by
        whoever produced it (SSNAL certifies its points with this program): used instead of
        certifying the point again.
        """
        B, N = self.B, self.N
        t0 = time.perf_counter()
        if start is None:
            # dual point of the zero network (exact residual of the free fit for the squared loss)
            q = self.dual_point(np.zeros(N))
            mu_cache = np.zeros((B, N)) if self.cone else None
            r, mu_cache = self.block_ratios(q, mu_cache)
            n_init = min(B, max(1, self.n_init_blocks()))
            order = np.argsort(-r, kind="stable")
            init = order[:n_init]
            init = init[r[init] > 1.0] if np.any(r[init] > 1.0) else order[:1]
            init = self.within_entry_budget(init)
        else:
            init = np.unique(np.asarray(start["blocks"], dtype=np.intp))
            q = start.get("q")
            q = self.dual_point(np.zeros(N)) if q is None else np.asarray(q, dtype=float)
            mu_cache = None
            if self.cone:
                mu_cache = (np.zeros((B, N)) if start.get("mu") is None
                            else np.array(start["mu"], dtype=float))
        inW = np.zeros(B, dtype=bool)
        inW[init] = True
        point = (start or {}).get("point")
        if point is not None:
            accepted, q, mu_cache, info0 = self._try_point(point, inW, q, mu_cache, start, t0)
            if accepted is not None:
                return (*accepted, info0)
        rows: dict[int, np.ndarray] = {}
        if self.cone:
            given = (start or {}).get("rows") or {}
            rows.update({int(k): np.asarray(given[k], dtype=np.intp) for k in init if k in given})
            new = np.array([k for k in init if int(k) not in rows], dtype=np.intp)
            if new.size:
                rows.update(zip(new.tolist(), self._entry_rows(new, q, mu_cache)))
        hist, t_solve, t_compile = [], 0.0, 0.0
        rounds = 0
        dropped: dict[int, np.ndarray] = {}     # rows once dropped from a block (rule 4)
        while True:
            rounds += 1
            blocks = np.flatnonzero(inW)
            res = self.solve(blocks, [rows[k] for k in blocks] if self.cone else None)
            t_solve += res["solve"]
            t_compile += res["compile"]
            ev = self.evaluate(res)
            n_new_rows = self._add_violated_rows(blocks, res, ev, rows) if self.cone else 0
            # -- blocks: certificate over all blocks and rows
            # (the NNLS re-solve of the working blocks' multipliers only sharpens the bound:
            # it is done when the round may be the last, i.e. no cone row was added)
            cert, rg = self._certify_round(res, ev, inW, mu_cache, exact_inside=n_new_rows == 0)
            if self.cone:
                mu_cache = cert["mu"]
            out = np.flatnonzero(~inW & (cert["ratios"] > 1.0))
            hist.append({"blocks": int(blocks.size),
                         "rows": int(sum(rows[k].size for k in blocks)) if self.cone else 0,
                         "objective": ev["objective"], "rel_gap": rg,
                         "new_rows": int(n_new_rows), "violators": int(out.size),
                         "solve": res["solve"] + res["compile"]})
            logger.log(level, "pattern working set round %d: %d blocks, %d cone rows, "
                       "objective %.10g, rel gap %.2e, %d new rows, %d violating blocks "
                       "(%.2fs)", rounds, hist[-1]["blocks"], hist[-1]["rows"],
                       ev["objective"], rg, n_new_rows, out.size, hist[-1]["solve"])
            if n_new_rows == 0 and (rg <= self.tol or out.size == 0):
                break
            if rounds >= max_rounds:
                break
            if self.cone:
                self._drop_far_rows(blocks, res, ev, rows, dropped)
            # -- drop blocks that are zero and clearly inactive (they re-enter if they violate)
            drop = blocks[(ev["bnorm"][blocks] <= self.zero_tol * max(float(np.max(ev["bnorm"])),
                                                                      ev["lin_norm"]))
                          & (cert["ratios"][blocks] < self.prune_below)]
            if drop.size < blocks.size:
                inW[drop] = False
                for k in drop.tolist():
                    rows.pop(k, None)
            if out.size:
                add = self.within_entry_budget(
                    out[np.argsort(-cert["ratios"][out], kind="stable")][:self.n_add_blocks()])
                inW[add] = True
                if self.cone:
                    rows.update(zip(add.tolist(), self._entry_rows(add, cert["q"], mu_cache)))
        retry = None
        backend = backends.ADAPTERS.get(self.solver)
        retry_options = None if backend is None else backend.retry_options(self.options)
        if rg > self.tol and res["status"] != "optimal" and retry_options is not None:
            res2, ev2, cert2, rg2 = self._regularized_retry(inW, rows, mu_cache, retry_options)
            t_solve += res2["solve"]
            t_compile += res2["compile"]
            retry = {"rel_gap_before": rg, "rel_gap_after": rg2}
            if rg2 < rg:
                res, ev, cert = res2, ev2, cert2
        info = {"rounds": rounds, "blocks": int(inW.sum()),
                "rows": int(sum(r_.size for r_ in rows.values())) if self.cone else 0,
                "history": hist, "compile": t_compile, "solve": t_solve,
                "total": time.perf_counter() - t0, "regularization_retry": retry,
                "failure_retries": self.failure_retries,
                "working_blocks": np.flatnonzero(inW),
                "working_rows": dict(rows) if self.cone else None}
        return res, ev, cert, info

    def _try_point(self, point: dict, inW: np.ndarray, q: np.ndarray,
                   mu_cache: np.ndarray | None, start: dict, t0: float):
        """``start["point"]`` of :meth:`solve_working_set`: certified as a round's restricted
        solve would be; returns ((res, ev, cert), q, mu, info) when it is accepted, else
        (None, q, mu, None) with the q and multipliers of its certificate."""
        if start.get("point_certificate") is not None:
            ev, cert = start["point_certificate"]
            rg = self.rel_gap(ev["objective"], cert["dual"])
        else:
            ev = self.evaluate(point)
            cert, rg = self._certify_round(point, ev, inW, mu_cache, q=point.get("q"))
        top = float(np.max(ev["bnorm"])) if ev["bnorm"].size else 0.0
        feasible = (not self.cone) or ev["max_row_violation"] <= self.viol_tol * top
        logger.debug("pattern working set: start point, objective %.10g, rel gap %.2e, "
                     "largest row violation %.1e", ev["objective"], rg,
                     ev["max_row_violation"])
        if not (feasible and rg <= self.tol):
            return None, cert["q"], cert["mu"], None
        rows = start.get("rows") or {}
        blocks = np.flatnonzero(inW)
        info = {"rounds": 0, "blocks": int(blocks.size),
                "rows": int(sum(np.asarray(rows[k]).size for k in blocks if k in rows))
                if self.cone else 0,
                "history": [{"blocks": int(blocks.size), "rows": 0,
                             "objective": ev["objective"], "rel_gap": rg, "new_rows": 0,
                             "violators": int(np.sum(~inW & (cert["ratios"] > 1.0))),
                             "solve": point["solve"] + point["compile"]}],
                "compile": point["compile"], "solve": point["solve"],
                # the point's own solve time (spent before this call) counts as solve time
                "total": time.perf_counter() - t0 + point["solve"] + point["compile"],
                "regularization_retry": None,
                "failure_retries": self.failure_retries, "working_blocks": blocks,
                "working_rows": ({int(k): np.asarray(rows[k], dtype=np.intp)
                                  for k in blocks if k in rows} if self.cone else None)}
        return (point, ev, cert), cert["q"], cert["mu"], info

    def _row_slacks(self, blocks: np.ndarray, res: dict, ev: dict
                    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Block norms |theta_k|, their max, and the slacks S_k Xl theta_k / |xl_n| (N, m)."""
        nrm = np.linalg.norm(res["th"][blocks], axis=1)
        top = float(np.max(nrm)) if nrm.size else 0.0
        slack = self.Sg[:, blocks] * ev["pre"][:, blocks] / self.xln[:, None]
        return nrm, slack, top

    def _add_violated_rows(self, blocks: np.ndarray, res: dict, ev: dict,
                           rows: dict[int, np.ndarray]) -> int:
        """Rule 4 of the working set: for every working block with a violated cone row, add its
        rows of slack < near_tol |theta_k| (the violated ones included), at most ``row_cap``
        of them (least slack first; None: all); returns their count."""
        nrm, slack, top = self._row_slacks(blocks, res, ev)
        bad = slack < -self.viol_tol * top
        n_new_rows = 0
        for j in np.flatnonzero(bad.any(axis=0)):
            k = int(blocks[j])
            near = np.flatnonzero(slack[:, j] < self.near_tol * nrm[j])
            new = np.setdiff1d(near, rows[k], assume_unique=True)
            if self.row_cap is not None and new.size > self.row_cap:
                new = np.sort(new[np.argsort(slack[new, j], kind="stable")[:self.row_cap]])
            n_new_rows += new.size
            rows[k] = np.union1d(rows[k], new)
        return n_new_rows

    def _drop_far_rows(self, blocks: np.ndarray, res: dict, ev: dict,
                       rows: dict[int, np.ndarray], dropped: dict[int, np.ndarray]) -> int:
        """Rule 4, second part (before the next round): the rows of a nonzero working block
        with slack > row_keep |theta_k| leave its program (``row_keep`` None: none), except
        rows once dropped from that block (``dropped``, updated here): a row leaves a block
        at most once, so the loop cannot cycle on it. Returns the number of rows dropped."""
        if self.row_keep is None:
            return 0
        nrm, slack, top = self._row_slacks(blocks, res, ev)
        n = 0
        for j in np.flatnonzero(nrm > self.zero_tol * top):
            k = int(blocks[j])
            r = rows[k]
            far = slack[r, j] > self.row_keep * nrm[j]
            if k in dropped:
                far &= ~np.isin(r, dropped[k])
            if far.any():
                dropped[k] = np.union1d(dropped.get(k, r[:0]), r[far])
                rows[k] = r[~far]
                n += int(far.sum())
        return n

    def _regularized_retry(self, inW: np.ndarray, rows: dict[int, np.ndarray],
                           mu_cache: np.ndarray | None, options: dict
                           ) -> tuple[dict, dict, dict, float]:
        """Rule 7: the final restricted program once more with the backend's retry ``options``
        (:meth:`nnlasso.backends.Adapter.retry_options`: CLARABEL's static regularization at
        1e-10); returns (res, ev, cert, rel_gap) of that solve.

        Clarabel stopped "AlmostSolved" on the final program (seen at small lam: 1000 cone
        patterns, lam = 0.001, certified gap 1.1e-6): the same program with 100x smaller static
        regularization reached 1.0e-7 in one more solve (~8 s there).
        """
        saved = self.options
        self.options = options
        try:
            blocks = np.flatnonzero(inW)
            res = self.solve(blocks, [rows[k] for k in blocks] if self.cone else None)
        finally:
            self.options = saved
        ev = self.evaluate(res)
        cert, rg = self._certify_round(res, ev, inW, mu_cache)
        return res, ev, cert, rg

    def _certify_round(self, res: dict, ev: dict, inW: np.ndarray, mu_cache: np.ndarray | None,
                       exact_inside: bool = True, q: np.ndarray | None = None
                       ) -> tuple[dict, float]:
        """Certificate of a restricted solve over all blocks and rows, and its relative gap
        (working blocks start from the solver's multipliers, the others from the cache).
        ``exact_inside=False`` keeps the solver's multipliers of the working blocks (no NNLS
        re-solve there): still a valid dual point, possibly a weaker bound. ``q``: the dual
        candidate that came with a start point (SSNAL's), instead of the fit's."""
        mu0 = np.where(inW[:, None], res["mu"], mu_cache) if self.cone else None
        cert = self.certify(ev["zfit"], mu0, nnls_mask=None if exact_inside else ~inW, q=q)
        return cert, self.rel_gap(ev["objective"], cert["dual"])

    def n_init_blocks(self) -> int:
        """Most blocks of the first round (then :meth:`within_entry_budget`)."""
        return max(10, self.N // 2)

    def n_add_blocks(self) -> int:
        """Most blocks entering in a later round (then :meth:`within_entry_budget`)."""
        return max(10, self.N // 2)

    def block_fit_nnz(self, ks: np.ndarray) -> np.ndarray:
        """Nonzeros of the blocks' fit columns, min(|D_k|, N - |D_k|) (d+1) (the complement
        form of the restricted program's fit)."""
        if getattr(self, "_pattern_size", None) is None:
            self._pattern_size = np.count_nonzero(self.D, axis=0)
        size = self._pattern_size[self.bpat[np.asarray(ks, dtype=np.intp)]]
        return np.minimum(size, self.N - size) * self.e

    def within_entry_budget(self, ks: np.ndarray) -> np.ndarray:
        """The leading blocks of ``ks`` (most violated first) whose fit nonzeros add up to at
        most ``entry_nnz`` (at least one block; None: all of ``ks``): a round's entering
        blocks are capped by the size of the fit they bring, not only by their count, so that
        a large N (N = 5000, d = 20: ~30k nonzeros a block, 1950 violating blocks at the zero
        network) keeps restricted programs the interior point solves in seconds."""
        ks = np.asarray(ks, dtype=np.intp)
        if self.entry_nnz is None or ks.size <= 1:
            return ks
        n = int(np.searchsorted(np.cumsum(self.block_fit_nnz(ks)), self.entry_nnz, side="right"))
        return ks[:max(1, n)]
