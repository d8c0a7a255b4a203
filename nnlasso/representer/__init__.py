"""Verification of weight-decay solutions: width bounds, support reduction, certificates.

This module makes the representer-theorem statements of docs/math.md checkable and
constructive.

**Width bounds.** With P the orthogonal projector onto the complement of the free affine
columns A = [X 1] (skip), [1] (intercept only) or none, and r_aff = rank(A):

* one output (D = 1):  some optimal solution has K <= min(N - r_aff, rank(P Phi)) active
  neurons (K <= N - r_aff whatever the dictionary);
* D outputs:           K <= rank(P Phi) * rank(P Psi) <= N^2,  Psi = Y for (MIN) and the
  squared loss (Psi = the fitted values for the other losses).

Numerical ranks are scale aware: rank(P M) = #{singular values of P M > max(m, n) * eps * |M|_F}
with eps = 2.2e-16 the double-precision machine epsilon and |M|_F the Frobenius norm of the
*unprojected* M (the rounding level of the projection; see :func:`projected_rank`). With no
affine part this is the NumPy / LAPACK rule up to |M|_F >= s_1. The rule is written once, in
:func:`rank_from_singular_values`; :mod:`nnlasso.compress` uses it too.

**Support reduction** (:func:`reduce_support`). Write the network part of a solution as atoms
with weights c_k = |V_k| > 0, unit directions e_k = V_k / |V_k| and features phi_k. The fit only
sees P Phi V (the affine part absorbs the rest), i.e. sum_k c_k a_k with
a_k = vec((P phi_k) e_k^T). While the a_k are dependent take alpha != 0 with sum_k alpha_k a_k = 0
and sum_k alpha_k >= 0 (flip the sign), step c <- c - t alpha with
t = min_{alpha_k > 0} c_k / alpha_k, and drop the zeros: the fit is unchanged, sum_k c_k does not
increase, and at most dim span{a_k} atoms remain (Caratheodory).

**Certificates** (:func:`certify`). With q = -grad L at the fit, projected onto the complement of
the affine columns, eta(w, b) = sum_n q_n relu(w . x_n - b) in R^D. The solution is optimal over
all neurons (|w| = 1, b in R) iff sup_{w, b} |eta(w, b)|_2 <= lam; q / max(1, sup / lam) is then
a feasible point of the infinite-width dual and certifies the gap P - Dual. For fixed w the sup
over b is attained at some b = w . x_n (eta is piecewise linear in b with kinks at the data and
constant below min_n w . x_n when sum_n q_n = 0), so the sup is a maximum over "anchors" n of the
positively homogeneous function

    eta_n(w) = sum_m q_m relu(w . (x_m - x_n))     over the unit sphere.

Exact methods: d = 1 (w = +-1), d = 2 (arcs of the central arrangement around each anchor) and
small N, d (regions of the central arrangement: max of a linear function over a polyhedral cone
intersected with the ball = the norm of the projection onto the cone, one NNLS each). Larger
problems give a lower bound (sampling + projected ascent), flagged ``exact=False``.

Layout: ``width`` (the rank rule :func:`rank_from_singular_values`, :func:`width_bound`, :func:`check_width`), ``reduction``
(:func:`reduce_support`, :func:`reduce_network`), ``eta_sup`` (:func:`dual_residual`, :func:`eta`,
:func:`sup_eta`), ``certificates`` (:func:`certify`, :func:`certify_dictionary`,
:func:`certify_residual`), ``column_generation`` (:func:`column_generation`).
"""
from __future__ import annotations

from .width import (WidthReport, affine_rank, bound_from_ranks, check_width, numerical_rank,
                    projected_rank, projected_singular_values, rank_from_singular_values,
                    width_bound)
from .reduction import ReducedNetwork, reduce_network, reduce_support
from .eta_sup import EtaSup, dual_residual, eta, sup_eta, sup_over_bias
from .certificates import Certificate, certify, certify_dictionary, certify_residual
from .column_generation import ColumnGenerationReport, ColumnGenerationResult, column_generation

__all__ = ["Certificate", "ColumnGenerationReport", "ColumnGenerationResult", "EtaSup",
           "ReducedNetwork", "WidthReport", "affine_rank", "bound_from_ranks", "certify",
           "certify_dictionary", "certify_residual", "check_width", "column_generation",
           "dual_residual", "eta", "numerical_rank", "projected_rank",
           "projected_singular_values", "rank_from_singular_values", "reduce_network",
           "reduce_support", "sup_eta", "sup_over_bias", "width_bound"]
