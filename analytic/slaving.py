r"""The modified equation of any spec with state, on a concrete loss: the slaving ansatz.

A spec (:mod:`analytic.optimizers`, or a typed rule from :mod:`analytic.method`) maps the
iterate and its state, :math:`(x, w) \mapsto (x', w')`.  Backward error analysis looks for
a vector field and an invariant manifold of the state,

.. math::

    \dot x = F(x) = F_0(x) + h F_1(x) + \dots, \qquad
    w = W(x) = W_0(x) + h W_1(x) + \dots,

such that a step from a point of the manifold lands, to every order, on the time-:math:`h`
flow of :math:`F` and again on the manifold:

.. math::

    x'(W(x), x) = \Phi_h(x), \qquad w'(W(x), x) = W(\Phi_h(x)),
    \qquad \Phi_h(x) = x + \sum_{n \ge 1} \frac{h^n}{n!} (F\cdot\nabla)^{n-1} F .

At :math:`h^0` the second equation is the fixed point of the state map at :math:`h = 0`
(:math:`v = 0` for heavy ball, :math:`m = g`, :math:`s = g^2` for Adam, :math:`\bar x = x`
for an EMA), and the first must reduce to :math:`x' = x` (consistency).  At :math:`h^j`
both equations are *linear* in the new unknowns :math:`(W_j, F_{j-1})` -- the Jacobian of
:math:`W_0` times :math:`F_{j-1}` is the only coupling -- and are solved exactly; the step is
run once per order on :data:`~analytic.namespace.EXACT_ARRAYS` with placeholder symbols for
the unknowns, and Taylor coefficients in :math:`h` are read by differentiation.

**Assumptions, stated in the derivation steps.**  Hyperparameters other than :math:`h` are
fixed as :math:`h \to 0` unless listed in ``small``: those (SAM's :math:`\rho`) are taken
:math:`O(h)` -- set to :math:`h\,r`, expanded jointly, and written back -- so ``order``
counts powers of :math:`h` and of them together.  Elementwise functions are expanded where
they are smooth (:math:`\epsilon > 0` keeps Adam's :math:`1/(\sqrt s + \epsilon)` smooth;
:math:`\sqrt{g^2} = |g|` is smooth where :math:`g_i \ne 0`).  A step counter (Adam's bias
correction) is taken far into the run: every :math:`c^k` with :math:`|c| < 1` becomes 0, so
the field is that of the bias-free step, up to terms that decay like :math:`\beta^k`.

References: Hairer, Lubich & Wanner, "Geometric Numerical Integration", Ch. IX (modified
equations) and Sec. XV.3 (invariant manifolds of multistep methods); Ghosh et al., ICLR 2023
(heavy ball); Cattaneo, Klusowski & Shigida, "On the implicit bias of Adam", ICML 2024.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import checks
from .budget import time_budget
from .errors import BudgetExceeded, ImplregError, InputError
from .loss import Loss
from .jets import ConcreteCalculus, LocalCalculus, NotLocal, as_expr, coefficient
from .namespace import EXACT_ARRAYS as NS
from .result import Result, Step, _text
from .spec_stability import _asymptotic, _is_counter, _leaves, _rebuild

__all__ = ["slaved_field", "SlavedField", "MAX_SLAVED_ORDER"]

#: the highest order accepted (the cost grows quickly with the order and the loss)
MAX_SLAVED_ORDER = 4


@dataclass(frozen=True)
class SlavedField(Result):
    r"""The modified field of a spec on a loss, from the slaving ansatz.

    ``terms[j]`` is :math:`F_j` (a column matrix, the coefficient of :math:`h^j`, with the
    ``small`` hyperparameters written back); ``manifold[j]`` maps each state name to
    :math:`W_j`; ``expr`` is :math:`F = \sum_j h^j F_j`.  When the method reads the
    gradient only at points that tend to :math:`x`, ``local_terms`` and ``local_manifold``
    are the same in the symbols :math:`E_\alpha = \partial^\alpha E` (valid for every loss in
    these variables; ``meta["calculus"] == "local"``), and ``terms`` substitutes the loss.
    """

    terms: tuple = ()
    manifold: tuple = ()
    spec: object = None
    loss: object = None
    order: int = 0
    small: tuple = ()
    local_terms: tuple = ()
    local_manifold: tuple = ()


def slaved_field(spec, loss: Loss, order: int, *, small=(), budget: float | None = 60.0) -> SlavedField:
    r"""The modified field :math:`F_0 + hF_1 + \dots + h^K F_K` of ``spec`` on ``loss`` and the
    state's invariant manifold :math:`W_0 + \dots + hW_K` (see the module docstring).

    ``small`` names hyperparameters taken :math:`O(h)` (their symbols must be symbols);
    ``budget`` is the time for the whole derivation, seconds.

    >>> from analytic.models import get_model
    >>> from analytic.optimizers import HeavyBall
    >>> f = slaved_field(HeavyBall("h", "beta"), get_model("linear2d"), 1)
    >>> f.manifold[1]["v"][0] == f.terms[0][0]         # v = h F_0 + ... on the manifold
    True
    """
    if not isinstance(loss, Loss):
        raise InputError("loss", loss, "must be a Loss")
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_SLAVED_ORDER:
        raise InputError("order", order, f"must be an integer 0..{MAX_SLAVED_ORDER}")
    checks.budget(budget, "budget")
    if not (callable(getattr(spec, "init", None)) and callable(getattr(spec, "step", None))):
        raise InputError("spec", spec, "must be an optimizer spec with init(x, ns) and step(state, x, grad, ns)")
    if getattr(spec, "sampling", None) is not None:
        raise InputError("spec", spec, "is stochastic: its modified equation is that of the mean (use the "
                                       "series path, analytic.bea, or the SDE of analytic.sde)")
    h = spec.h
    if not isinstance(h, sp.Symbol):
        raise InputError("spec", spec, "its step size must be a symbol (h) to expand in it")
    hyper = spec.hyperparameters() if hasattr(spec, "hyperparameters") else {}
    scaled = {}
    for name in small:
        value = hyper.get(name)
        if not isinstance(value, sp.Symbol):
            raise InputError("small", name, "must name a hyperparameter of the spec that is a symbol")
        scaled[value] = sp.Dummy(f"{name}_over_h", real=True)
    reached = []
    try:
        with time_budget(budget, f"the slaved modified field to order {order}"):
            return _derive(spec, loss, order, h, scaled, tuple(small), reached)
    except BudgetExceeded as exc:
        done = f"order {reached[-1]} was reached" if reached else "no order was reached"
        raise BudgetExceeded(f"{exc.what} ({done})", exc.seconds) from None
    except ImplregError:
        raise
    except (TypeError, ValueError, AttributeError, ZeroDivisionError, NotImplementedError) as exc:
        raise InputError("spec", spec, f"its step cannot be expanded on this loss ({type(exc).__name__}: {exc})") \
            from None




def _arr(values):
    return np.array([list(values)], dtype=object)


def _names(spec, leaves):
    names = tuple(getattr(spec, "state_names", ()) or ())
    if len(names) != len(leaves) or len(set(names)) != len(names):
        names = tuple(f"w{i}" for i in range(len(leaves)))
    return names


def _derive(spec, loss, order, h, scaled, small, reached):
    try:
        return _Ansatz(spec, loss, h, scaled, small, LocalCalculus(loss.variables, h)).solve(order, reached)
    except NotLocal:
        reached.clear()
        return _Ansatz(spec, loss, h, scaled, small, ConcreteCalculus(loss.variables, loss.concrete)).solve(order,
                                                                                                           reached)


class _Ansatz:
    """The order-by-order solution of the slaving equations on one calculus."""

    def __init__(self, spec, loss, h, scaled, small, calc):
        self.spec, self.loss, self.h, self.small, self.calc = spec, loss, h, small, calc
        self.scale_sub = {s: h * r for s, r in scaled.items()}
        self.back = {r: s / h for s, r in scaled.items()}
        self.variables = tuple(loss.variables)
        self.d = len(self.variables)
        self.X = _arr(self.variables)
        self.init = spec.init(self.X, NS)
        self.leaves = _leaves(self.init)
        self.names = _names(spec, self.leaves)
        self.kappas = [sp.Dummy(n, integer=True, nonnegative=True)
                       for n, v in zip(self.names, self.leaves) if _is_counter(v)]
        self.unknown_at = [i for i, v in enumerate(self.leaves) if not _is_counter(v)]
        self.vector = {i: isinstance(self.leaves[i], np.ndarray) for i in self.unknown_at}
        self.G = [sp.Function(f"G_{c}") for c in range(self.d)]

    # -- the step on the exact namespace ------------------------------------------------
    def scale(self, e):
        e = as_expr(e)
        return e.xreplace(self.scale_sub) if self.scale_sub else e

    def step(self, state_leaves, grad):
        state = _rebuild(self.init, iter(state_leaves))
        new_state, x_new = self.spec.step(state, self.X, grad, NS)
        out = _leaves(new_state)
        fix = (lambda e: _asymptotic(self.scale(e), self.kappas)) if self.kappas else self.scale
        comps = {i: [fix(e) for e in (out[i][0] if self.vector[i] else [out[i]])] for i in self.unknown_at}
        return comps, [fix(e) for e in x_new[0]]

    def state(self, W, extra=None, power=0):
        out, ki = [], 0
        for i, v in enumerate(self.leaves):
            if _is_counter(v):
                out.append(self.kappas[ki])
                ki += 1
                continue
            comps = [sum((self.h ** p * W[p][i][c] for p in range(len(W))), sp.Integer(0))
                     for c in range(self.width(i))]
            if extra is not None:
                comps = [a + self.h ** power * b for a, b in zip(comps, extra[i])]
            out.append(_arr(comps) if self.vector[i] else comps[0])
        return out

    def width(self, i):
        return self.d if self.vector[i] else 1

    def placeholders(self, tag):
        return {i: [sp.Dummy(f"{tag}_{self.names[i]}{c}") for c in range(self.width(i))] for i in self.unknown_at}

    # -- order 0 ------------------------------------------------------------------------
    def grad0(self, point):
        args = tuple(sp.expand(coefficient(self.scale(p), self.h, 0)) for p in point[0])
        return _arr(g(*args) for g in self.G)

    def resolve(self, e):
        """Replace the undefined gradient of order 0 by the calculus's gradient."""
        def value(a):
            c = self.G.index(a.func)
            if tuple(a.args) == self.variables:
                return self.calc.at_x(c)
            if isinstance(self.calc, LocalCalculus):
                raise NotLocal(a)
            return self.calc.grad(_arr(a.args))[0, c]
        return as_expr(e).replace(lambda a: isinstance(a, sp.core.function.AppliedUndef) and a.func in self.G, value)

    def fixed_point(self):
        if not self.unknown_at:
            return {}
        ph = self.placeholders("w0")
        out, _ = self.step(self.state([], ph, 0), self.grad0)
        eqs = [sp.expand(coefficient(a, self.h, 0) - b) for i in self.unknown_at for a, b in zip(out[i], ph[i])]
        unknowns = [s for i in self.unknown_at for s in ph[i]]
        sol = sp.solve(eqs, unknowns, dict=True)
        if len(sol) != 1 or set(sol[0]) != set(unknowns):
            raise InputError("spec", self.spec, "its state map at h = 0 has no unique fixed point (the manifold W_0)")
        return {i: [self.tidy(self.resolve(sol[0][s])) for s in ph[i]] for i in self.unknown_at}

    # -- order j ------------------------------------------------------------------------
    def flow_map(self, F, j):
        r""":math:`\Phi_h(x)` to order :math:`h^j` for the truncated field ``F`` (Lie series)."""
        phi = list(self.variables)
        deriv = list(F)
        for n in range(1, j + 1):
            phi = [p + self.h ** n / math.factorial(n) * q for p, q in zip(phi, deriv)]
            if n < j:
                deriv = self.calc.lie(deriv, F)
        return phi

    def tidy(self, e):
        return self.calc.tidy(e)

    def solve(self, order, reached):
        h, calc = self.h, self.calc
        W = [self.fixed_point()]
        calc.order = 0
        _, x0 = self.step(self.state(W), self.grad0)
        if any(sp.simplify(self.resolve(coefficient(a, h, 0)) - b) != 0 for a, b in zip(x0, self.variables)):
            raise InputError("spec", self.spec, "is not consistent: x' differs from x at h = 0 on the manifold")
        F = []
        grad = (lambda p: calc.grad(_arr(self.scale(e) for e in p[0])))
        for j in range(1, order + 2):
            calc.order = j
            wj, fj = self.placeholders(f"w{j}"), [sp.Dummy(f"f{j - 1}_{c}") for c in range(self.d)]
            Ftrunc = [sum((h ** p * F[p][c] for p in range(len(F))), sp.Integer(0)) + h ** (j - 1) * fj[c]
                      for c in range(self.d)]
            phi = self.flow_map(Ftrunc, j)
            out, x_new = self.step(self.state(W, wj, j), grad)
            cache = {}
            eqs = [sp.expand(coefficient(a - b, h, j, cache)) for a, b in zip(x_new, phi)]
            delta = [p - v for p, v in zip(phi, self.variables)]
            for i in self.unknown_at:
                for c in range(self.width(i)):
                    on = sp.Add(*[h ** p * calc.shift(W[p][i][c], delta, j - p) for p in range(len(W))])
                    eqs.append(sp.expand(coefficient(out[i][c], h, j, cache) - coefficient(on, h, j, cache)
                                         - wj[i][c]))
            unknowns = [s for i in self.unknown_at for s in wj[i]] + fj
            A, b = sp.linear_eq_to_matrix(eqs, unknowns)
            if A.rank() < len(unknowns):
                raise InputError("spec", self.spec, f"the order-{j} equations of the ansatz are singular "
                                                    "(no unique manifold)")
            sol = dict(zip(unknowns, A.LUsolve(b)))
            F.append([self.tidy(sol[s]) for s in fj])
            reached.append(j - 1)
            if j <= order:
                W.append({i: [self.tidy(sol[s]) for s in wj[i]] for i in self.unknown_at})
        return self.result(order, F, W)

    # -- the result ---------------------------------------------------------------------
    def result(self, order, F, W):
        h, local = self.h, isinstance(self.calc, LocalCalculus)
        loss_expr = self.loss.concrete

        def back(e):
            e = as_expr(e).xreplace(self.back) if self.back else as_expr(e)
            return sp.expand(e) if self.back else e
        local_terms = tuple(sp.Matrix([back(e) for e in F[j]]) for j in range(order + 1))
        local_manifold = tuple({self.names[i]: (sp.Matrix([back(e) for e in W[j][i]]) if self.vector[i]
                                                else back(W[j][i][0])) for i in self.unknown_at}
                               for j in range(order + 1))

        def concrete(v):
            return v.applyfunc(lambda e: self.calc.concrete(e, loss_expr)) if isinstance(v, sp.MatrixBase) \
                else self.calc.concrete(v, loss_expr)
        terms = tuple(concrete(t) for t in local_terms)
        manifold = tuple({n: concrete(v) for n, v in m.items()} for m in local_manifold)
        field = sp.Matrix.zeros(self.d, 1)
        for j, t in enumerate(terms):
            field += h ** j * t
        assumptions = ["hyperparameters other than h fixed as h -> 0"]
        if self.small:
            assumptions.append(", ".join(self.small) + " of order h (expanded jointly with h)")
        if self.kappas:
            assumptions.append("far into the run: c^k -> 0 for |c| < 1 (bias correction -> 1)")
        if any(t.has(sp.Abs, sp.sign) for t in local_terms):
            assumptions.append("elementwise functions expanded where smooth (E_i != 0 under |.|)")
        steps = [Step(r"\dot x", sp.Symbol("F_0") + h * sp.Symbol("F_1"),
                      "ansatz: a modified field, each F_j a function of x", relation="="),
                 Step("w", sp.Symbol("W_0") + h * sp.Symbol("W_1"),
                      "the state slaved to x: an invariant manifold of the step", relation="="),
                 Step(r"\text{assume}", r"\text{" + _text("; ".join(assumptions)) + "}", "the regime of the expansion",
                      relation=":")]
        shown_terms, shown_manifold = (local_terms, local_manifold) if local else (terms, manifold)
        where = " (E_a: derivatives of E at x)" if local else ""
        for j, t in enumerate(shown_terms):
            steps.append(Step(f"F_{j}", t, f"coefficient of h^{j}{where}"
                              + (": x' = flow map, w' = W(x')" if j else ": fixed point of the state")))
        for j, m in enumerate(shown_manifold):
            for n, v in m.items():
                steps.append(Step(f"{n}_{{{j}}}", v, f"the manifold of the state {n} at order {j}"))
        meta = {"assumptions": tuple(assumptions), "variables": tuple(v.name for v in self.variables),
                "state": tuple(self.names[i] for i in self.unknown_at),
                "counters": tuple(n for n, v in zip(self.names, self.leaves) if _is_counter(v)),
                "calculus": "local" if local else "concrete"}
        return SlavedField("slaved-modified-field", field, tuple(steps), r"\dot x", meta, terms, manifold,
                           self.spec, self.loss, order, self.small,
                           local_terms if local else (), local_manifold if local else ())
