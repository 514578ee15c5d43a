r"""Measured orders of accuracy of modified flows, many step sizes at once.

For a momentum method :math:`x_{k+1} = x_k + \beta(x_k - x_{k-1}) - h\nabla E(x_k)` and
a truncated modified field :math:`\tilde f_K = \sum_{p\le K} h^p \sum_t c(t) F(t)`,
the error :math:`\max_{kh \le T} |x_k - X(kh)|` should scale like :math:`h^{K+1}`.
:func:`flow_errors` runs every configuration (one row per step size, momentum
and order) as one NumPy batch: the iterates directly, the flow with classical
RK4 (``substeps`` per optimizer step, error :math:`O((h/\text{substeps})^4)`,
far below :math:`h^{K+1}` on the grids used), and :func:`loglog_slope` fits the
order.  The elementary differentials are compiled once through
:mod:`numeric.compile`.

Reference: Hairer, Lubich & Wanner, *Geometric Numerical Integration*, Ch. IX.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from analytic.errors import DivergenceError, InputError
from .compile import compile_expr

__all__ = ["loglog_slope", "TreeFields", "flow_errors", "FlowErrors", "momentum_iterates"]


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


@dataclass(frozen=True)
class FlowErrors:
    """``errors[r]``: max distance between iterates and flow for row ``r``."""

    errors: np.ndarray
    final_iterates: np.ndarray


def _rk4(fields, X, weights, dt, substeps):
    step = dt / substeps
    for _ in range(substeps):
        k1 = fields(X, weights)
        k2 = fields(X + 0.5 * step[:, None] * k1, weights)
        k3 = fields(X + 0.5 * step[:, None] * k2, weights)
        k4 = fields(X + step[:, None] * k3, weights)
        X = X + step[:, None] / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return X


def flow_errors(fields: TreeFields, grad, weights, h, beta, x0, steps, start_on_flow=True,
                substeps: int = 4, gamma=None) -> FlowErrors:
    r"""Max over ``k <= steps[r]`` of :math:`|x_k - X(kh)|`, one row per configuration.

    ``weights[r, j]`` is the coefficient of tree ``j`` for row ``r`` *including*
    its power of ``h``; ``grad`` maps ``(n, d) -> (n, d)``.  With
    ``start_on_flow`` (a bool, or one per row) the previous iterate is :math:`x_{-1} = X(-h)` (the flow
    integrated backwards); otherwise :math:`x_{-1} = x_0`.  ``gamma`` (per row,
    default 0) moves the gradient to :math:`x_k + \gamma(x_k - x_{k-1})` (Nesterov).

    >>> import sympy as sp
    >>> from analytic.trees import LEAF
    >>> w = sp.Symbol("w")
    >>> tf = TreeFields({LEAF: [w]}, (w,))            # F(•) = g = w for E = w^2/2
    >>> hs = np.array([0.1, 0.05])
    >>> r = flow_errors(tf, lambda X: X, -np.ones((2, 1)), hs, np.zeros(2), [1.0], (1 / hs).astype(int))
    >>> bool(loglog_slope(hs, r.errors) > 0.9)
    True
    """
    h = np.asarray(h, dtype=float)
    beta = np.asarray(beta, dtype=float)
    gamma = np.zeros_like(beta) if gamma is None else np.asarray(gamma, dtype=float)
    steps = np.asarray(steps, dtype=int)
    weights = np.asarray(weights, dtype=float)
    n = h.size
    X0 = np.broadcast_to(np.asarray(x0, dtype=float), (n, len(np.atleast_1d(x0)))).copy()
    on_flow = np.broadcast_to(np.asarray(start_on_flow, dtype=bool), (n,))
    prev = np.where(on_flow[:, None], _rk4(fields, X0, weights, -h, substeps), X0)
    x, xp, X = X0.copy(), prev, X0.copy()
    err = np.zeros(n)
    total = int(steps.max())
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, total + 1):
            active = k <= steps
            x_new = x + beta[:, None] * (x - xp) - h[:, None] * grad(x + gamma[:, None] * (x - xp))
            X_new = _rk4(fields, X, weights, h, substeps)
            xp = np.where(active[:, None], x, xp)
            x = np.where(active[:, None], x_new, x)
            X = np.where(active[:, None], X_new, X)
            if not (np.isfinite(x).all() and np.isfinite(X).all()):
                raise DivergenceError("iterates or modified flow", k)
            err = np.maximum(err, np.where(active, np.linalg.norm(x - X, axis=1), 0.0))
    return FlowErrors(err, x)


def momentum_iterates(grad, h, beta, x0, steps: int, x_prev=None) -> np.ndarray:
    r"""Iterates of :math:`x_{k+1} = x_k + \beta(x_k - x_{k-1}) - h\nabla E(x_k)` for
    several ``(h, beta)`` rows at once, all from ``x0``; ``x_prev=None`` means
    :math:`x_{-1} = x_0`.  Returns ``xs[k, row, :]`` for ``k = 0..steps``;
    raises :class:`DivergenceError` at the first non-finite step.

    >>> xs = momentum_iterates(lambda X: X, [0.1, 0.1], [0.0, 0.5], [1.0], 2)
    >>> xs[:, :, 0].round(4).tolist()
    [[1.0, 1.0], [0.9, 0.9], [0.81, 0.76]]
    """
    h = np.atleast_1d(np.asarray(h, dtype=float))
    beta = np.atleast_1d(np.asarray(beta, dtype=float))
    if h.shape != beta.shape:
        raise InputError("beta", beta.shape, f"must match h's shape {h.shape}")
    x = np.broadcast_to(np.asarray(x0, dtype=float), (h.size, np.size(x0))).copy()
    xp = x.copy() if x_prev is None else np.broadcast_to(np.asarray(x_prev, dtype=float), x.shape).copy()
    out = np.empty((steps + 1,) + x.shape)
    out[0] = x
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            x, xp = x + beta[:, None] * (x - xp) - h[:, None] * grad(x), x
            if not np.isfinite(x).all():
                raise DivergenceError("momentum iterates", k)
            out[k] = x
    return out
