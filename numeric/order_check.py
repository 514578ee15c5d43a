r"""The measured order of accuracy of a derived modified flow, for any spec on any loss.

Given the slaved modified field :math:`F = F_0 + hF_1 + \dots + h^K F_K` of a spec and the
invariant manifold of its state :math:`w = W_0(x) + hW_1(x) + \dots`
(:func:`analytic.slaving.slaved_field`), the truncation :math:`F^{(k)} = \sum_{j \le k}
h^j F_j` should follow the iterates to :math:`O(h^{k+1})` over a fixed time window:

.. math::
    e_k(h) = \max_{jh \le T} \| x_j - X^{(k)}(jh) \| \sim C h^{k+1},

when the state starts on the manifold, :math:`w_0 = \sum_{j \le K} h^j W_j(x_0)`.
:func:`order_errors` measures :math:`e_k` on a grid of step sizes: the iterates are the
spec's own (:func:`numeric.driver.run`, each step size substituted exactly into the spec),
the flows are integrated with SciPy's DOP853 at ``rtol = 1e-12``, and
:func:`numeric.order.loglog_slope` fits the order.  The same errors from the spec's own
initial state (``init``: :math:`v = 0`, :math:`m = s = 0`, ...) measure the transient that a
start off the manifold leaves behind; they are reported, not judged.

The expansion holds for hyperparameters fixed as :math:`h \to 0`.  A state that relaxes at
the rate :math:`1 - c` per step (a decay :math:`c` near 1, e.g. Adam's
:math:`\beta_2 = 0.999`) is slaved only once :math:`h \ll 1 - c`; :func:`regime_warnings`
says when a grid is outside that regime.

Reference: Hairer, Lubich & Wanner, *Geometric Numerical Integration*, Ch. IX and XV.3;
the log-log order test follows diffrax's ``test_ode_order``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from analytic import checks
from analytic.errors import DivergenceError, InputError
from analytic.optimizers import with_hyperparameters, with_step
from analytic.slaving import SlavedField
from analytic.values import exact_value
from analytic.spec_stability import _is_counter, _leaves, _rebuild
from .compile import compile_expr, compile_gradient
from .driver import run
from .flows import integrate_flow
from .order import loglog_slope

__all__ = ["OrderErrors", "order_errors", "regime_warnings", "step_grid", "FAR_INTO_THE_RUN"]

#: the step counter given to a state started on the manifold (bias corrections ``1 - c^k`` are 1)
FAR_INTO_THE_RUN = 10 ** 9
#: the flow's integration tolerance (far below the smallest error measured on a usual grid)
RTOL = 1e-12


@dataclass(frozen=True)
class OrderErrors:
    r"""Errors :math:`e_k(h)` of the order-:math:`k` flows, and their log-log slopes.

    ``errors[k]`` and ``transient[k]`` are tuples over ``hs`` (state on the manifold, and
    from the spec's ``init``); ``slopes[k]`` fits ``errors[k]``; ``warnings`` are
    :func:`regime_warnings`.
    """

    hs: tuple
    orders: tuple
    errors: dict
    slopes: dict
    transient: dict
    transient_slopes: dict
    T: float
    x0: tuple
    warnings: tuple = ()

    def expected(self, k: int) -> int:
        return k + 1

    def failures(self, tolerance: float = 0.2) -> tuple:
        """The orders whose slope is outside :math:`k + 1 \\pm` ``tolerance``, as messages."""
        return tuple(f"order {k}: measured slope {self.slopes[k]:.3f}, expected {k + 1} +- {tolerance:g}"
                     for k in self.orders if not abs(self.slopes[k] - (k + 1)) <= tolerance)

    def table(self) -> list:
        """Rows ``[h, e_0, e_1, ...]`` (state on the manifold)."""
        return [[h] + [self.errors[k][i] for k in self.orders] for i, h in enumerate(self.hs)]

    def as_json(self, tolerance: float = 0.2) -> dict:
        return {"hs": list(self.hs), "T": self.T, "x0": list(self.x0), "orders": list(self.orders),
                "errors": {str(k): list(v) for k, v in self.errors.items()},
                "slopes": {str(k): v for k, v in self.slopes.items()},
                "expected": {str(k): k + 1 for k in self.orders}, "tolerance": tolerance,
                "transient": {str(k): list(v) for k, v in self.transient.items()},
                "transient_slopes": {str(k): v for k, v in self.transient_slopes.items()},
                "warnings": list(self.warnings), "failures": list(self.failures(tolerance))}


def step_grid(h_max: float, count: int) -> tuple:
    """The geometric grid ``h_max, h_max/2, ...`` (``count`` step sizes, exact binary floats).

    >>> step_grid(0.02, 3)
    (0.02, 0.01, 0.005)
    """
    h_max = checks.real_float(h_max, "h_max", low=0, high=1, low_open=True)
    if isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= 12:
        raise InputError("count", count, "must be an integer 2..12 (step sizes in the grid)")
    return tuple(h_max / 2 ** i for i in range(count))


def regime_warnings(spec, hs) -> tuple:
    r"""Warnings for hyperparameters :math:`c \in [1/2, 1)` with :math:`h_{max}/(1-c) > 1/10`:
    a state that relaxes at rate :math:`1-c` is not slaved on that grid, so the measured
    slopes are those of the transient, not of the expansion.

    >>> from analytic.optimizers import Adam
    >>> regime_warnings(Adam("h"), [0.01])[0][:31]
    'b2 = 999/1000: h/(1 - b2) = 10 '
    """
    out, h_max = [], max(float(h) for h in hs)
    hyper = spec.hyperparameters() if hasattr(spec, "hyperparameters") else {}
    for name, value in hyper.items():
        if name == "h" or isinstance(value, bool) or not isinstance(value, (int, float, sp.Rational, sp.Float)):
            continue
        c = float(value)
        if 0.5 <= c < 1 and h_max / (1 - c) > 0.1 * (1 + 1e-9):
            out.append(f"{name} = {value}: h/(1 - {name}) = {h_max / (1 - c):.3g} at h = {h_max:g}, so the state "
                       f"is not slaved on this grid (take h << {1 - c:.3g}); the slopes measure the transient")
    return tuple(out)


def _state(spec, field: SlavedField, compiled, h, x0, extra=()):
    """The numeric state :math:`\\sum_j h^j W_j(x_0)` of ``spec`` (counters far into the run)."""
    init = spec.init(np.array([x0], dtype=float))
    out, names, k = [], list(field.meta["state"]), 0
    for leaf in _leaves(init):
        if _is_counter(leaf):
            out.append(FAR_INTO_THE_RUN)
            continue
        terms = compiled[names[k]]
        k += 1
        value = sum(h ** j * f(np.array([np.append(x0, extra)]))[0] for j, f in enumerate(terms))
        out.append(np.array([value], dtype=float) if np.ndim(leaf) else float(np.ravel(value)[0]))
    return _rebuild(init, iter(out))


def _compiled_manifold(field, variables):
    out = {}
    for name in field.meta["state"]:
        out[name] = []
        for m in field.manifold:
            v = m[name]
            out[name].append(compile_expr(list(v) if isinstance(v, sp.MatrixBase) else [v], variables))
    return out


def order_errors(spec, field: SlavedField, hs, x0, T: float, orders=None, scaled=None) -> OrderErrors:
    r"""Measure :math:`e_k(h)` for ``k`` in ``orders`` (default ``0..field.order``).

    ``spec`` is the spec the field was derived from (its ``h`` a symbol; every other
    hyperparameter a number); each ``h`` of ``hs`` is substituted exactly
    (:func:`analytic.optimizers.with_step`).  ``scaled`` maps hyperparameters derived as
    :math:`O(h)` (``slaved_field(..., small=...)``) to their values at the largest ``h``: along the
    grid they are scaled with ``h`` (SAM's :math:`\rho = \rho_0 h / h_{max}`).  A diverging run raises
    :class:`~analytic.errors.DivergenceError` ("... diverged at step k").

    >>> from analytic.models import get_model
    >>> from analytic.optimizers import HeavyBall
    >>> from analytic.slaving import slaved_field
    >>> spec = HeavyBall("h", "1/2"); f = slaved_field(spec, get_model("linear2d"), 1)
    >>> r = order_errors(spec, f, [0.02, 0.01, 0.005], [1.2, 0.3], 0.5)
    >>> [round(r.slopes[k]) for k in (0, 1)]
    [1, 2]
    """
    if not isinstance(field, SlavedField):
        raise InputError("field", field, "must be a SlavedField (analytic.slaving.slaved_field)")
    loss, variables = field.loss, field.loss.variables
    orders = tuple(range(field.order + 1)) if orders is None else tuple(orders)
    for k in orders:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= field.order:
            raise InputError("orders", orders, f"each order must be an integer 0..{field.order} (the field's order)")
    hs = tuple(float(h) for h in hs)
    if len(hs) < 2 or any(not (0 < h < 1) for h in hs):
        raise InputError("hs", hs, "give at least two step sizes in (0, 1)")
    x0 = checks.vector(x0, "x0")
    if x0.size != len(variables):
        raise InputError("x0", x0.tolist(), f"must have {len(variables)} entries ({', '.join(v.name for v in variables)})")
    T = checks.real_float(T, "T", low=0, low_open=True)
    scaled = dict(scaled or {})
    hyper = spec.hyperparameters()
    for name in scaled:
        if name not in field.small or not isinstance(hyper.get(name), sp.Symbol):
            raise InputError("scaled", name, "must be a hyperparameter the field was derived with as small (a symbol)")
    extra = tuple(hyper[n] for n in scaled)
    free = set().union(*(t.free_symbols for t in field.terms)) - set(variables) - {field.spec.h} - set(extra)
    if free:
        raise InputError("spec", spec, "every hyperparameter but h must be a number to simulate; give a value to "
                         + ", ".join(sorted(s.name for s in free)))
    grad = compile_gradient(loss)
    manifold = _compiled_manifold(field, tuple(variables) + extra)
    h_symbol = field.spec.h          # the flows take h (and the scaled hyperparameters) as more inputs
    flows = {k: compile_expr(sum((h_symbol ** j * field.terms[j] for j in range(k + 1)), sp.zeros(len(variables), 1)),
                             tuple(variables) + (h_symbol,) + extra) for k in orders}
    h_max = max(hs)
    errors = {k: [] for k in orders}
    transient = {k: [] for k in orders}
    for h in hs:
        h_exact = exact_value(h, "hs")           # the decimal h (the driver rounds it to the same float)
        numeric = with_step(spec, h_exact)
        at_h = {n: exact_value(v, f"scaled[{n}]") * h_exact / exact_value(h_max, "hs") for n, v in scaled.items()}
        if at_h:
            numeric = with_hyperparameters(numeric, at_h)
        inputs = [h] + [float(v) for v in at_h.values()]
        steps = max(1, int(round(T / h)))
        on = run(numeric, grad, [x0], steps, state=_state(numeric, field, manifold, h, x0, inputs[1:])).check(
            f"iterates from the manifold at h = {h:g}")
        off = run(numeric, grad, [x0], steps).check(f"iterates from init at h = {h:g}")
        times = h * np.arange(steps + 1)
        for k in orders:
            f = flows[k]
            flow = integrate_flow(lambda x, f=f: f(np.append(x, inputs)[None, :])[0], x0, times[-1], t_eval=times,
                                  rtol=RTOL, atol=1e-14)
            errors[k].append(float(np.abs(on.xs[:, 0, :] - flow.xs).max()))
            transient[k].append(float(np.abs(off.xs[:, 0, :] - flow.xs).max()))
    slopes = {k: _slope(hs, errors[k], f"order {k}") for k in orders}
    t_slopes = {k: _slope(hs, transient[k], f"order {k} from init") for k in orders}
    return OrderErrors(hs, orders, {k: tuple(v) for k, v in errors.items()}, slopes,
                       {k: tuple(v) for k, v in transient.items()}, t_slopes, T, tuple(x0.tolist()),
                       regime_warnings(spec, hs))


def _slope(hs, errors, what):
    if min(errors) <= 0:
        return math.inf            # exact to rounding at some h: a field exact beyond this order
    return loglog_slope(hs, errors)
