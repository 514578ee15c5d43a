r"""Flows of vector fields, integrated with SciPy at tight tolerances.

:func:`integrate_flow` solves :math:`x'(t) = f(x)` with ``solve_ivp``
(``DOP853``, ``rtol=1e-11`` by default) and stops at a divergence event
(``|x| > bound``), reported as a :class:`~analytic.errors.DivergenceError`
(the driver's iterates diverge past 1e150; a flow's finite-time blow-up must be caught
while the solver can still resolve ``t``, hence the lower default of 1e12)
rather than a NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.integrate import solve_ivp

from analytic import checks
from analytic.errors import DivergenceError, InputError

__all__ = ["Flow", "integrate_flow", "gradient_flow"]


@dataclass(frozen=True)
class Flow:
    """Solution ``xs[k]`` at times ``t[k]``."""

    t: np.ndarray
    xs: np.ndarray

    def at(self, t) -> np.ndarray:
        """Linear interpolation of the stored solution (use ``t_eval`` for exact times)."""
        t = np.atleast_1d(t)
        return np.stack([np.interp(t, self.t, self.xs[:, i]) for i in range(self.xs.shape[1])], axis=-1)


def integrate_flow(field: Callable, x0, t_end: float, t_eval=None, rtol: float = 1e-11,
                   atol: float = 1e-13, bound: float = 1e12, method: str = "DOP853") -> Flow:
    r"""Integrate :math:`x' = f(x)` from ``x0`` over ``[0, t_end]``.

    ``field`` maps a point of shape ``(d,)`` to ``(d,)`` (a compiled
    field accepts that).

    >>> fl = integrate_flow(lambda x: -x, [1.0], 1.0, t_eval=[1.0])
    >>> bool(abs(fl.xs[-1, 0] - np.exp(-1)) < 1e-10)
    True
    """
    checks.callable_(field, "field")
    x0 = checks.vector(x0, "x0")
    t_end = checks.real_float(t_end, "t_end", low=0, low_open=True)
    if t_eval is not None:
        t_eval = checks.vector(t_eval, "t_eval")
        if t_eval.min() < 0 or t_eval.max() > t_end:
            raise InputError("t_eval", t_eval, f"times must lie in [0, t_end = {t_end:g}]")
    rtol = checks.real_float(rtol, "rtol", low=0, high=1, low_open=True)
    atol = checks.real_float(atol, "atol", low=0, high=1e6, low_open=True)
    bound = checks.real_float(bound, "bound", low=0, low_open=True)
    checks.choice(method, "method", ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA"))

    def rhs(t, x):
        return np.asarray(field(x), dtype=float).reshape(-1)

    def blowup(t, x):
        return bound - np.max(np.abs(x))
    blowup.terminal = True

    with np.errstate(over="ignore", invalid="ignore"):
        sol = solve_ivp(rhs, (0.0, float(t_end)), x0, method=method, t_eval=t_eval, rtol=rtol,
                        atol=atol, events=blowup)
    if sol.status == 1 or not np.isfinite(sol.y).all():
        t_hit = sol.t_events[0][0] if len(sol.t_events[0]) else sol.t[-1]
        raise DivergenceError(f"flow (|x| passed {bound:g} at t = {t_hit:.4g})", len(sol.t))
    if sol.status < 0:
        raise DivergenceError(f"flow ({sol.message})", len(sol.t))
    return Flow(sol.t, sol.y.T)


def gradient_flow(grad: Callable, x0, t_end: float, **kwargs) -> Flow:
    r"""The gradient flow :math:`x' = -\nabla E(x)`."""
    checks.callable_(grad, "grad")
    return integrate_flow(lambda x: -np.asarray(grad(x)), x0, t_end, **kwargs)
