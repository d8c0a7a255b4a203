"""nnlasso's native first-order solver of the multitask / group lasso, and its working-set loop.

The program is (MTL) of :mod:`nnlasso.lasso`,

    P(V, c) = sum_n L(t_n, (Phi V + U c)_n) + lam * sum_g omega_g |V_g|_F,

where U (N, r) is an orthonormal basis of the free affine columns A = [X 1] (A B = U c).

Inner solvers (on a working set W of groups, the columns Phi_W):

* squared loss: **block coordinate descent** on the Gram matrix of the projected features.
  The affine part is eliminated exactly: with P = I - U U^T, min_c 1/2 |T - Phi V - U c|^2 =
  1/2 |P T - P Phi V|^2, so the inner problem is a plain group lasso in G = (P Phi_W)^T P Phi_W,
  C = (P Phi_W)^T P T. A block update is the **group soft-threshold**

      V_g <- S(V_g + (C - G V)_g / L_g, lam omega_g / L_g),   S(z, tau) = max(0, 1 - tau/|z|_F) z,

  with L_g = lambda_max(G_gg) (|P phi_k|^2 for single neurons), accelerated by Anderson
  extrapolation of the epochs (kept only when it lowers the objective) and finished by Newton
  steps on the support.
* logistic / softmax: **FISTA** with gradient-based adaptive restart (O'Donoghue & Candes) on
  (V, c), step 1/L with L = loss.smooth_constant * |[Phi_W  alpha U]|_2^2 (power iterations, a
  safety factor and a backtracking guard); the affine coefficients c are rescaled by alpha =
  |Phi_W|_2 so that both blocks have the same curvature scale, and refitted exactly (damped
  Newton, :func:`nnlasso.duality.fit_affine`) at every gap check.

Stopping rule: nnlasso's own relative duality gap (the dual point of
:func:`nnlasso.duality.lasso_dual`: Q = -grad L projected out of col(U), clipped into the domain
of L*, scaled by s = max(1, max_g |Phi_g^T Q|_F / (lam omega_g))), checked every few epochs.

Outer **working-set loop** (:func:`working_set_solve`): start from the groups with the largest
KKT ratio rho_g = |Phi_g^T Q|_F / (lam omega_g) at the starting point, solve the restricted
problem, check the KKT conditions of the full problem with one product Phi^T Q, add the
violators (rho_g > 1) and repeat with warm starts until the *full* problem's relative gap is
<= tol. **Gap-safe screening** (Ndiaye, Fercoq, Gramfort & Salmon, JMLR 2017) discards groups
that are provably zero at the optimum: the dual is (1/L_s)-strongly concave (L_s the loss's
smoothness constant), so the dual optimum lies in the ball of radius

    r = sqrt(2 L_s gap)

around the feasible dual point theta = Q / s, and group g is inactive whenever

    |Phi_g^T theta|_F + r |P Phi_g|_F < lam omega_g.

The package, one file per object: :mod:`.data` (the problem data), :mod:`.ops` (shared kernels:
soft-threshold, coordinate epochs, loss helpers), :mod:`.bcd` (Gram BCD), :mod:`.fista`,
:mod:`.newton` (proximal Newton), :mod:`.softmax_newton`, :mod:`.working_set` (the outer loop).
The names below are re-exported so that ``nnlasso.prox.X`` keeps working (the functions
:func:`fista` and :func:`softmax_newton` shadow their submodules' names here; monkeypatch a
kernel in the submodule that calls it, e.g. ``nnlasso.prox.ops._KERNEL``).
"""
from __future__ import annotations

from . import bcd, data, newton, ops, working_set  # the submodules (fista, softmax_newton: below)
from .bcd import (STALL_EPOCHS, STALL_EPOCHS_COMPILED, GramProblem, _anderson, _block_lipschitz,
                  _newton_support, bcd_gram)
from .data import GramCache, LassoData, PathCorrelations
from .fista import (FISTA_STALL_FACTOR, FISTA_STALL_ITERS, FISTA_STALL_WARMUP, _spectral_norm,
                    fista)
from .newton import (NEWTON_STALL_ITERS, PROX_NEWTON_MAX_VARS, _model_step, _newton_layout,
                     _newton_smooth, newton_stalled, prox_newton)
from .ops import (_DEAD, _KERNEL, _compiled_epoch, _default_threads, _epoch_groups,
                  _epoch_kernel_py, _epoch_singletons, _single_thread, group_soft_threshold,
                  restricted_gap)
from .softmax_newton import (_simplex_basis, _softmax_hessian_reduced, _support_newton_step,
                             softmax_newton)
from .working_set import (NEEDS, InnerSolver, WorkingSetResult, native_inner, polish, supports,
                          working_set_solve)
