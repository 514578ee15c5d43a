r"""Measured orders of accuracy of modified flows, many step sizes at once.

For a momentum method :math:`x_{k+1} = x_k + \beta(x_k - x_{k-1}) - h\nabla E(x_k)` and
a truncated modified field :math:`\tilde f_K = \sum_{p\le K} h^p \sum_t c(t) F(t)`,
the error :math:`\max_{kh \le T} |x_k - X(kh)|` should scale like :math:`h^{K+1}`.
:func:`flow_errors` runs every configuration (one row per step size, momentum
and order): the iterates are the optimizer specs' own (:func:`numeric.driver.run`, one
run per distinct ``(h, beta)``, with the driver's divergence policy), the flow is
integrated as one NumPy batch with classical RK4 (``substeps`` per optimizer step,
error :math:`O((h/\text{substeps})^4)`, far below :math:`h^{K+1}` on the grids used),
and :func:`loglog_slope` fits the order.  The elementary differentials are compiled once through
:mod:`numeric.compile`.

Reference: Hairer, Lubich & Wanner, *Geometric Numerical Integration*, Ch. IX.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from analytic.errors import DivergenceError, InputError
from analytic.optimizers import GD, HeavyBall, Nesterov
from .compile import compile_expr
from .driver import OVERFLOW, check_steps, run

__all__ = ["loglog_slope", "TreeFields", "flow_errors", "momentum_iterates"]


def loglog_slope(hs, errors) -> float:
    """Least-squares slope of ``log(error)`` against ``log(h)``.

    >>> hs = np.array([0.1, 0.05, 0.025]); float(round(loglog_slope(hs, 3 * hs**2), 12))
    2.0
    """
    hs = np.asarray(hs, dtype=float)
    errors = np.asarray(errors, dtype=float)
    if hs.shape != errors.shape or hs.size < 2:
        raise InputError("errors", errors.shape, "need at least two (h, error) pairs of equal shape")
    if not (np.all(hs > 0) and np.all(errors > 0) and np.isfinite(errors).all()):
        raise InputError("errors", errors.tolist(), "step sizes and errors must be positive and finite")
    return float(np.polyfit(np.log(hs), np.log(errors), 1)[0])


class TreeFields:
    r"""Compiled elementary differentials :math:`F(t)` of one loss.

    ``values`` maps each tree to its SymPy vector (from
    :class:`analytic.trees.DifferentialEvaluator`); calling with per-row
    coefficient arrays evaluates :math:`\sum_t w_t F(t)(X)` row by row.
    """

    def __init__(self, values: Mapping, variables: Sequence):
        self.trees = list(values)
        self.funcs = [compile_expr(list(values[t]), variables) for t in self.trees]

    def __call__(self, X, weights):
        out = np.zeros_like(X)
        for j, f in enumerate(self.funcs):
            w = weights[:, j]
            if np.any(w != 0):
                out += w[:, None] * f(X)
        return out


def _rk4(fields, X, weights, dt, substeps):
    step = dt / substeps
    for _ in range(substeps):
        k1 = fields(X, weights)
        k2 = fields(X + 0.5 * step[:, None] * k1, weights)
        k3 = fields(X + 0.5 * step[:, None] * k2, weights)
        k4 = fields(X + step[:, None] * k3, weights)
        X = X + step[:, None] / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return X


def _spec(h, beta, gamma=0.0):
    """The spec of one row: GD, heavy ball or Nesterov (the update rule is the spec's)."""
    h, beta, gamma = float(h), float(beta), float(gamma)
    if beta == 0 and gamma == 0:
        return GD(h)
    if gamma == 0:
        return HeavyBall(h, beta)
    if gamma == beta:
        return Nesterov(h, beta)
    raise InputError("gamma", gamma, "must be 0 (heavy ball) or beta (Nesterov)")


def _groups(*columns):
    """Row indices grouped by equal values of ``columns`` (one driver run per group)."""
    keys = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    return [np.nonzero(inverse == g)[0] for g in range(inverse.max() + 1)] if inverse.size else []


def _iterates(grad, h, beta, gamma, X0, velocity, steps, what, record_every=1):
    r"""Iterates ``xs[j, row]`` at steps ``0, e, 2e, ...`` (``e = record_every``; all steps up to
    ``steps.max()`` when ``e = 1``) of each row's spec (``velocity`` is :math:`x_0 - x_{-1}`),
    one :func:`numeric.driver.run` per group of equal ``(h, beta, gamma, steps)``; a diverged
    row raises :class:`DivergenceError` (``what``)."""
    n, d = X0.shape
    out = None
    for rows in _groups(h, beta, gamma, steps):
        r = rows[0]
        spec = _spec(h[r], beta[r], gamma[r])
        state = None if isinstance(spec, GD) else ((velocity[rows],),)
        traj = run(spec, grad, X0[rows], int(steps[r]), record_every=record_every, state=state).check(what)
        if out is None:
            out = np.zeros((len(range(0, int(steps.max()) + record_every, record_every)), n, d))
        out[:traj.xs.shape[0], rows] = traj.xs
    return np.zeros((1, n, d)) + X0 if out is None else out


def flow_errors(fields: TreeFields, grad, weights, h, beta, x0, steps, start_on_flow=True,
                substeps: int = 4, gamma=None) -> np.ndarray:
    r"""Max over ``k <= steps[r]`` of :math:`|x_k - X(kh)|`, one row per configuration.

    ``weights[r, j]`` is the coefficient of tree ``j`` for row ``r`` *including*
    its power of ``h``; ``grad`` maps ``(n, d) -> (n, d)``.  With
    ``start_on_flow`` (a bool, or one per row) the previous iterate is :math:`x_{-1} = X(-h)` (the flow
    integrated backwards); otherwise :math:`x_{-1} = x_0`.  ``gamma`` (per row,
    default 0) moves the gradient to :math:`x_k + \gamma(x_k - x_{k-1})`: 0 is heavy ball (GD when
    ``beta = 0``), ``gamma = beta`` Nesterov.  The iterates are those of the specs
    (:class:`~analytic.optimizers.GD`, :class:`~analytic.optimizers.HeavyBall`,
    :class:`~analytic.optimizers.Nesterov`) run by :func:`numeric.driver.run`, which also
    reports a diverged row (:class:`DivergenceError`); the flow is integrated alongside.

    >>> import sympy as sp
    >>> from analytic.trees import LEAF
    >>> w = sp.Symbol("w")
    >>> tf = TreeFields({LEAF: [w]}, (w,))            # F(•) = g = w for E = w^2/2
    >>> hs = np.array([0.1, 0.05])
    >>> errors = flow_errors(tf, lambda X: X, -np.ones((2, 1)), hs, np.zeros(2), [1.0], (1 / hs).astype(int))
    >>> bool(loglog_slope(hs, errors) > 0.9)
    True
    """
    h = np.atleast_1d(np.asarray(h, dtype=float))
    n = h.size
    beta = np.broadcast_to(np.asarray(beta, dtype=float), (n,))
    gamma = np.zeros(n) if gamma is None else np.broadcast_to(np.asarray(gamma, dtype=float), (n,))
    steps = np.broadcast_to(np.asarray(steps, dtype=int), (n,))
    weights = np.asarray(weights, dtype=float)
    X0 = np.broadcast_to(np.asarray(x0, dtype=float), (n, len(np.atleast_1d(x0)))).copy()
    on_flow = np.broadcast_to(np.asarray(start_on_flow, dtype=bool), (n,))
    prev = np.where(on_flow[:, None], _rk4(fields, X0, weights, -h, substeps), X0)
    xs = _iterates(grad, h, beta, gamma, X0, X0 - prev, steps, "iterates")
    X = X0.copy()
    err = np.zeros(n)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, xs.shape[0]):
            active = k <= steps
            X = np.where(active[:, None], _rk4(fields, X, weights, h, substeps), X)
            if not (np.abs(X) <= OVERFLOW).all():           # the driver's bound, for the flow
                raise DivergenceError("modified flow", k)
            err = np.maximum(err, np.where(active, np.linalg.norm(xs[k] - X, axis=1), 0.0))
    return err


def momentum_iterates(grad, h, beta, x0, steps: int, x_prev=None, record_every: int = 1) -> np.ndarray:
    r"""Iterates of heavy ball :math:`x_{k+1} = x_k + \beta(x_k - x_{k-1}) - h\nabla E(x_k)`
    (:class:`~analytic.optimizers.HeavyBall`, GD when ``beta = 0``) for several ``(h, beta)``
    rows at once, all from ``x0``; ``x_prev=None`` means :math:`x_{-1} = x_0`.  Returns
    ``xs[j, row, :]`` at the steps ``k = j * record_every`` (every ``k = 0..steps`` by
    default; ``record_every`` must divide ``steps``); a diverged row raises
    :class:`DivergenceError` ("... diverged at step k", the driver's policy).

    >>> xs = momentum_iterates(lambda X: X, [0.1, 0.1], [0.0, 0.5], [1.0], 2)
    >>> xs[:, :, 0].round(4).tolist()
    [[1.0, 1.0], [0.9, 0.9], [0.81, 0.76]]
    """
    h = np.atleast_1d(np.asarray(h, dtype=float))
    beta = np.atleast_1d(np.asarray(beta, dtype=float))
    if h.shape != beta.shape:
        raise InputError("beta", beta.shape, f"must match h's shape {h.shape}")
    x = np.broadcast_to(np.asarray(x0, dtype=float), (h.size, np.size(x0))).copy()
    xp = x if x_prev is None else np.broadcast_to(np.asarray(x_prev, dtype=float), x.shape)
    steps = check_steps(steps)
    if isinstance(record_every, bool) or not isinstance(record_every, (int, np.integer)) or record_every < 1 \
            or steps % record_every:
        raise InputError("record_every", record_every, f"must be a positive integer dividing steps = {steps}")
    return _iterates(grad, h, beta, np.zeros_like(h), x, x - xp, np.full(h.size, steps), "momentum iterates",
                     int(record_every))
