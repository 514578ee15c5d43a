r"""Method to series: what the modified-equation engine needs to know of a spec, read
from the spec's own step.

The tree-level backward error analysis (:mod:`analytic.bea_coefficients`) handles
the momentum family

.. math::
    x_{k+1} = x_k + \beta (x_k - x_{k-1}) - h\nabla E\big(x_k + \gamma (x_k - x_{k-1})\big)

and, for mini-batches, the epoch composition of such steps.  :func:`series_form`
finds :math:`(\beta, \gamma)` by running ``spec.step`` once on the exact SymPy
namespace with scalar symbols for :math:`x` and the state and an undefined gradient
:math:`G`: a step of the form

.. math::
    x' = x + a s + b\,G(x + c s), \qquad s' = p s + q\,G(x + c s)

(one state entry :math:`s`, or none) has increments :math:`\Delta_k = x_k - x_{k-1}`
obeying :math:`\Delta_{k+1} = \beta\Delta_k + b\,G(x_k + \gamma\Delta_k)` exactly when
:math:`a q = p b` and :math:`c q = \gamma b`, :math:`c p = \gamma a`, with :math:`\beta = p`
(and :math:`b = -h`).  So heavy ball written as a velocity, as a trace
(``m = beta*m + g(x); x = x - h*m``) or typed by a user all give the same series,
with no look at the spec's class.  Anything else (SAM's gradient of a gradient,
Adam's elementwise scaling, weight decay's :math:`\lambda x`) is refused with the
reason; its modified equation needs the general engine.

>>> from analytic.optimizers import HeavyBall, Nesterov, SGD
>>> series_form(HeavyBall("h", "1/2"))
SeriesForm(beta=1/2, gamma=0, batches=None)
>>> series_form(Nesterov("h", "beta")).gamma
beta
>>> series_form(SGD("h", 3)).batches
3
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .errors import InputError
from .namespace import SYMPY
from .optimizers import Batches, LabelNoiseSampling, Optimizer

__all__ = ["SeriesForm", "series_form"]


@dataclass(frozen=True)
class SeriesForm:
    """A spec at series level: momentum ``beta``, look-ahead ``gamma`` and, for SGD, the
    number of ``batches`` per epoch (``None``: the full gradient)."""

    beta: object
    gamma: object
    batches: int | None = None


def _refuse(spec, why):
    raise InputError("optimizer", spec, f"has no tree-level modified field here: {why}")


def _linear(expr, symbols, spec, what):
    """Coefficients of ``expr`` as a linear form in ``symbols`` (no constant, no other dependence)."""
    expr = sp.expand(expr)
    coeffs = [expr.coeff(s) for s in symbols]
    rest = sp.expand(expr - sum(c * s for c, s in zip(coeffs, symbols)))
    if rest != 0 or any(c.has(*symbols) for c in coeffs):
        _refuse(spec, f"{what} is not linear in the state and the gradient")
    return coeffs


def series_form(spec: Optimizer) -> SeriesForm:
    """Read the spec's step at series level (see the module docstring)."""
    if not isinstance(spec, Optimizer):
        raise InputError("optimizer", spec, "must be an optimizer spec")
    if isinstance(spec.sampling, LabelNoiseSampling):
        _refuse(spec, "label noise is handled by analytic.label_noise")
    x, s, g = sp.Symbol("x"), sp.Symbol("s"), sp.Symbol("g")
    G = sp.Function("G")
    leaves = []

    def flat(state):
        if isinstance(state, tuple):
            return tuple(flat(e) for e in state)
        leaves.append(state)
        return s
    state = flat(spec.init(x, SYMPY))
    if len(leaves) > 1:
        _refuse(spec, f"its state has {len(leaves)} entries (the momentum family has one)")
    new_state, x_new = spec.step(state, x, G, SYMPY)
    reads = sp.Add(x_new, *_leaves_of(new_state)).atoms(G)
    if len(reads) != 1:
        _refuse(spec, f"a step reads the gradient at {len(reads)} points" if reads else "it reads no gradient")
    (read,) = reads
    (arg,) = read.args
    if arg.has(G):
        _refuse(spec, "it reads a gradient at a point that depends on a gradient")
    shift = sp.expand(arg - x)
    c = shift.coeff(s) if leaves else sp.Integer(0)
    if sp.expand(shift - c * s) != 0 or c.has(x, s):
        _refuse(spec, "the gradient is read at a point other than x + c s")
    a, b = _linear(x_new.subs(read, g) - x, (s, g), spec, "the step")
    if a == 0 and c == 0:
        leaves = []                  # a state that never feeds back (an average of the iterates)
    if leaves:
        (s_new,) = _leaves_of(new_state)
        p, q = _linear(s_new.subs(read, g), (s, g), spec, "the state update")
        beta = p
        gamma = sp.cancel(c * q / b) if b != 0 else sp.Integer(0)
        if sp.simplify(a * q - p * b) != 0 or sp.simplify(c * p - gamma * a) != 0:
            _refuse(spec, "its increments do not follow a two-step momentum recursion")
    else:
        beta, gamma = sp.Integer(0), sp.Integer(0)
    if sp.simplify(b + spec.h) != 0:
        _refuse(spec, f"its gradient step is {b} instead of -h")
    batches = None
    if isinstance(spec.sampling, Batches):
        if gamma != 0:
            _refuse(spec, "mini-batches with a look-ahead gradient (Nesterov) are not composed at tree level")
        if spec.sampling.replacement:
            _refuse(spec, "mini-batches drawn with replacement are not composed at tree level")
        batches = spec.sampling.batches
    return SeriesForm(sp.factor(beta), sp.factor(gamma), batches)


def _leaves_of(state):
    if isinstance(state, tuple):
        return [leaf for e in state for leaf in _leaves_of(e)]
    return [state]
