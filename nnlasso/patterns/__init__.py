"""Activation-pattern group lasso: the exact convex program of two-layer ReLU training (D = 1).

For data X (N, d), targets y (N,) and an activation pattern D_i = diag(1[X g_i - h_i >= 0]),
i = 1..P, every block (u, beta) in R^d x R contributes the pre-activation X u - beta 1 on the
samples of its pattern. With the lifted data Xl = [X, -1] (N, d+1) and theta = (u, beta):

    z = sum_i D_i Xl (theta_i - theta'_i) + C x + c0
    min  sum_n L(y_n, z_n) + lam * sum_i (|u_i|_2 + |u'_i|_2)                       (CONE)
    s.t. (2 D_i - I) Xl theta_i >= 0,   (2 D_i - I) Xl theta'_i >= 0

The cone constraints say that D_i really is the ReLU pattern of the neuron theta_i, so
D_i Xl theta_i = relu(Xl theta_i) and each nonzero block is the neuron

    w = u / sqrt|u|,  b = beta / sqrt|u|,  output weight v = +sqrt|u|   (-sqrt|u'| for theta'),

balanced (|w| = |v|) with |w| |v| = |u|: the penalty is the path norm and the recovered network
reproduces the objective exactly. With all patterns enumerated the program equals weight-decay
training of a two-layer ReLU network of any width >= the number of nonzero blocks; sampled
patterns give an upper bound. Dropping the constraints gives the **gated-ReLU relaxation**
(one block per pattern suffices there, since u - u' is free): a lower bound on (CONE) over the
same patterns, whose solution is a gated network 1[X g - h >= 0] (X u - beta), not a ReLU
network.

Bias conventions. ``bias="unpenalized"`` (Parhi-Nowak, the default of the cone program): only
|u| is penalized. ``bias="penalized"`` (Pilanci-Ergen / pyscnn): a ones column is appended to X
and the norm is |(u, beta)|_2. For the gated relaxation the unpenalized convention is
degenerate: a block with u = 0 adds the step function -beta D_i 1 at no cost, so with enough
patterns the data are interpolated for free; :func:`solve_patterns` therefore defaults to the
penalized bias when ``cone=False`` (pass ``bias="unpenalized"`` to get the degenerate relaxation
all the same).

Only one output is supported: for D > 1 outputs (or the softmax loss) the exact program is not a
group lasso any more; use a neuron dictionary (:func:`nnlasso.fit_shallow` with
``dictionary="data"`` or ``"adaptive"``).

The all-zero pattern is never used: its blocks do not touch the fit (D_i = 0), so their optimal
value is 0. :func:`enumerate_patterns` leaves it out (``keep_zero=True`` keeps it) and
:func:`solve_patterns` drops all-zero rows of the pattern matrix it is given.

Layout: :mod:`.sampling` (pattern_count_bound, enumerate_patterns, sample_patterns),
:mod:`.solution` (PatternSolution), :mod:`.program` (the program on fixed data, its certificate
and working-set loop), :mod:`.cone_projection` (project_cones: the batched exact projection
onto the pattern cones), :mod:`.solve` (solve_patterns, fit_patterns), :mod:`.path` (pattern_path,
the lam path).
"""
from __future__ import annotations

from .cone_projection import ConeProjection, project_cones
from .program import PatternProgram, _Program, _repair_equality
from .sampling import (_cells, _reduce_rank, _unique_rows, enumerate_patterns,
                       pattern_count_bound, sample_patterns)
from .path import pattern_path
from .solution import PatternSolution
from .solve import _WS_AUTO_SIZE, _check_patterns, fit_patterns, solve_patterns

__all__ = ["PatternSolution", "PatternProgram", "pattern_count_bound", "enumerate_patterns",
           "sample_patterns", "solve_patterns", "fit_patterns", "pattern_path",
           "ConeProjection", "project_cones"]
