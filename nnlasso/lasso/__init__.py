"""Public solvers: :func:`solve_lasso`, :func:`lasso_path`, :func:`lam_max`, :func:`solve_min_norm`.

(MTL)  min_{V, C, c0} sum_n L(y_n, (Phi V + X C + 1 c0)_n) + lam sum_g omega_g |V_g|_F
(MIN)  min_{V, C, c0} sum_k |V_k|_2  s.t.  Phi V + X C + 1 c0 = Psi
                                     (or |Phi V + X C + 1 c0 - Psi|_F <= eps |Psi|_F)

Losses are summed, never averaged: scikit-learn's Lasso / MultiTaskLasso with ``alpha``
correspond to lam = N * alpha.

Layout: :mod:`.problem` (the validated data :class:`LassoProblem`, its certificate and finish, the
status rule), :mod:`.solve` (solve_lasso, lasso_path, lam_max), :mod:`.min_norm`
(solve_min_norm).
"""
from __future__ import annotations

from .min_norm import (MIN_NORM_EPS_AUTO, _min_norm_auto, _min_norm_certificate,
                       _min_norm_point, solve_min_norm)
from .problem import (LassoProblem, _as_requested, _fallback_name, _groups, _Problem,
                      certified_status, requested_name)
from .solve import (NATIVE_OPTIONS, SCALE_EXP, _cvxpy_inner, _native_options, _native_rescue,
                    _path_working_set, _power_of_two, _scaled_targets, _scales,
                    _solve_program, _solve_working_set, _unscale, _values, lam_max, lasso_path,
                    solve_lasso, strong_rule)

__all__ = ["solve_lasso", "lasso_path", "lam_max", "solve_min_norm", "strong_rule",
           "LassoProblem", "certified_status", "requested_name", "NATIVE_OPTIONS",
           "MIN_NORM_EPS_AUTO"]
