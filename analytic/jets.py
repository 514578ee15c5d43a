r"""Taylor jets in the step size, and the two calculi the slaving ansatz runs on.

A *jet* of an expression in :math:`h` is its list of Taylor coefficients
:math:`[c_0, \dots, c_J]`, computed in Taylor mode: sums and products are truncated Cauchy
sums, and a function of one argument :math:`f(a_0 + \delta)` is
:math:`\sum_n f^{(n)}(a_0)\,\delta^n / n!`, so no expression is ever differentiated in
:math:`h` or expanded as a whole.

A *calculus* says how the gradient is read at a point and how a function of :math:`x` is
differentiated:

- :class:`LocalCalculus` works with symbols :math:`E_{\alpha} = \partial^\alpha E(x)` for
  the derivatives of the loss at the current point (``E_{1}``, ``E_{12}``, ...).  A gradient
  at :math:`x + \delta` with :math:`\delta = O(h)` is its Taylor polynomial in
  :math:`\delta`, and :math:`\partial_k E_\alpha = E_{\alpha k}`.  The expressions stay the
  size of the update rule, whatever the loss: the result holds for every loss in
  :math:`d` variables, and a concrete loss is substituted at the end.
- :class:`ConcreteCalculus` substitutes the point into the loss's gradient (for methods that
  read the gradient at a point that does not tend to :math:`x`, e.g. SAM with a fixed
  radius).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import sympy as sp

__all__ = ["jet", "coefficient", "LocalCalculus", "ConcreteCalculus", "NotLocal"]

ZERO = sp.Integer(0)


class NotLocal(Exception):
    """The gradient is read at a point that does not tend to x as h -> 0."""


def as_expr(e):
    """An entry of an object array as a SymPy expression (never parsed)."""
    if isinstance(e, sp.Basic):
        return e
    if isinstance(e, (int, np.integer)) and not isinstance(e, bool):
        return sp.Integer(int(e))
    raise TypeError(f"unexpected entry {e!r}")


def product(a, b, J):
    """The truncated Cauchy product of two jets."""
    return [sp.Add(*[a[i] * b[k - i] for i in range(k + 1) if a[i] != 0 and b[k - i] != 0]) for k in range(J + 1)]


def jet(expr, J, seeds, cache):
    r"""Taylor coefficients ``[c_0, ..., c_J]`` in :math:`h` of ``expr``; ``seeds`` maps
    symbols to their own coefficient lists (:math:`h \mapsto [0, 1, 0, \dots]`)."""
    if expr in cache:
        return cache[expr]
    if not (expr.free_symbols & seeds.keys()):
        out = [expr] + [ZERO] * J
    elif expr in seeds:
        out = list(seeds[expr])
    elif expr.is_Add:
        parts = [jet(a, J, seeds, cache) for a in expr.args]
        out = [sp.Add(*[p[k] for p in parts]) for k in range(J + 1)]
    elif expr.is_Mul:
        out = None
        for a in expr.args:
            p = jet(a, J, seeds, cache)
            out = p if out is None else product(out, p, J)
    elif expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        base = jet(expr.base, J, seeds, cache)
        out = base
        for _ in range(int(expr.exp) - 1):
            out = product(out, base, J)
    else:
        out = _function_jet(expr, J, seeds, cache)
    cache[expr] = out
    return out


def _function_jet(expr, J, seeds, cache):
    if expr.is_Pow:
        if expr.exp.free_symbols & seeds.keys():
            return jet(sp.exp(expr.exp * sp.log(expr.base)), J, seeds, cache)
        arg, f = expr.base, (lambda u, e=expr.exp: u ** e)
    elif isinstance(expr, sp.Function) and len(expr.args) == 1:
        arg, f = expr.args[0], expr.func
    else:
        raise NotImplementedError(f"cannot expand {type(expr).__name__} in h")
    a = jet(arg, J, seeds, cache)
    if isinstance(expr, sp.Abs):                    # smooth where a_0 != 0
        derivs = [sp.Abs(a[0]), sp.sign(a[0])] + [ZERO] * J
    else:
        u = sp.Dummy("u")
        derivs, dn = [], f(u)
        for _ in range(J + 1):
            derivs.append(dn.subs(u, a[0]))
            dn = sp.diff(dn, u)
    delta = [ZERO] + a[1:]
    out = [derivs[0]] + [ZERO] * J
    power = [sp.Integer(1)] + [ZERO] * J
    for n in range(1, J + 1):
        power = product(power, delta, J)
        c = derivs[n] / math.factorial(n)
        if c != 0:
            out = [o + c * q for o, q in zip(out, power)]
    return out


def coefficient(expr, h, j, cache=None):
    """The coefficient of ``h**j`` of an expression analytic at ``h = 0``."""
    seeds = {h: ([ZERO, sp.Integer(1)] + [ZERO] * j)[:j + 1]}
    return jet(as_expr(expr), j, seeds, {} if cache is None else cache)[j]


class _Calculus:
    """Shared: Lie derivatives and shifts of functions of x by total derivatives."""

    def __init__(self, variables):
        self.variables = tuple(variables)
        self.d = len(self.variables)
        self._dcache = {}

    def diff(self, e, k):               # pragma: no cover - abstract
        raise NotImplementedError

    def derivative(self, e, ks):
        """:math:`\\partial_{k_1}\\cdots\\partial_{k_n} e`, cached."""
        key = (e, tuple(sorted(ks)))
        if key not in self._dcache:
            self._dcache[key] = e if not ks else self.diff(self.derivative(e, ks[:-1]), ks[-1])
        return self._dcache[key]

    def shift(self, e, delta, J):
        r""":math:`e(x + \delta) = \sum_{n \le J} \frac1{n!}\partial^n e[\delta, \dots, \delta]`
        (``delta`` is :math:`O(h)`, so the sum is exact to :math:`h^J`)."""
        e = as_expr(e)
        out = [e]
        for n in range(1, J + 1):
            for ks in itertools.combinations_with_replacement(range(self.d), n):
                dv = self.derivative(e, ks)
                if dv != 0:
                    out.append(sp.Rational(_multinomial(ks), math.factorial(n)) * dv * sp.Mul(*[delta[k] for k in ks]))
        return sp.Add(*out)

    def lie(self, vec, F):
        r""":math:`(F\cdot\nabla) e` for each component of ``vec``."""
        return [sp.Add(*[self.diff(as_expr(e), k) * F[k] for k in range(self.d) if F[k] != 0]) for e in vec]


def _multinomial(ks):
    counts = [ks.count(k) for k in set(ks)]
    out = math.factorial(len(ks))
    for c in counts:
        out //= math.factorial(c)
    return out


class LocalCalculus(_Calculus):
    r"""Derivative symbols :math:`E_\alpha = \partial^\alpha E(x)` (see the module docstring)."""

    def __init__(self, variables, h):
        super().__init__(variables)
        self.h = h
        self._symbols = {}
        self._index = {}
        self.order = 0                  # the truncation order of gradients (set per order)

    def E(self, alpha):
        alpha = tuple(sorted(alpha))
        if alpha not in self._symbols:
            sep = "" if self.d < 10 else ","
            s = sp.Symbol("E_{" + sep.join(str(i + 1) for i in alpha) + "}", real=True)
            self._symbols[alpha] = s
            self._index[s] = alpha
        return self._symbols[alpha]

    def diff(self, e, k):
        out = [sp.diff(e, self.variables[k])] if e.has(self.variables[k]) else []
        for s in e.free_symbols & self._index.keys():
            out.append(sp.diff(e, s) * self.E(self._index[s] + (k,)))
        return sp.Add(*out)

    def grad(self, point):
        """The gradient at ``point`` (a (1, d) array), as a Taylor polynomial about x."""
        delta = [as_expr(p) - v for p, v in zip(point[0], self.variables)]
        cache = {}
        if any(sp.expand(coefficient(dl, self.h, 0, cache)) != 0 for dl in delta):
            raise NotLocal(delta)
        out = [self.shift(self.E((i,)), delta, self.order) for i in range(self.d)]
        return np.array([out], dtype=object)

    def at_x(self, i):
        return self.E((i,))

    def tidy(self, e):
        r"""A canonical form: a rational function is cancelled; one that also reads
        :math:`|E_i|` and :math:`\operatorname{sign} E_i` (Adam's :math:`\sqrt{s}` on the
        manifold :math:`s = g^2`) is reduced modulo :math:`E_i^2 = |E_i|^2`, with a
        denominator free of :math:`E_i` (multiplied by its conjugate)."""
        e = as_expr(e)
        if e.is_rational_function():
            return sp.cancel(e)
        pairs, sub = [], {}
        for i in range(self.d):
            s = self._symbols.get((i,))
            if s is not None and (e.has(sp.Abs(s)) or e.has(sp.sign(s))):
                a = sp.Dummy(f"abs{i}", positive=True)
                pairs.append((s, a))
                sub[sp.Abs(s)], sub[sp.sign(s)] = a, s / a
        r = e.xreplace(sub) if sub else e
        if not pairs or not r.is_rational_function():
            return sp.factor_terms(e)
        out = sp.Add(*[self._reduce_term(t, pairs) for t in sp.Add.make_args(sp.expand(r, deep=False))])
        return out.xreplace({a: sp.Abs(s) for s, a in pairs})

    @staticmethod
    def _reduce_term(t, pairs):
        num, den = sp.fraction(sp.cancel(t))
        for s, a in pairs:
            rel = s ** 2 - a ** 2
            num, den = sp.rem(num, rel, s), sp.rem(den, rel, s)
            if sp.degree(den, s) == 1:
                q = sp.expand(den).coeff(s, 1)
                p = sp.expand(den - q * s)
                num, den = sp.rem(sp.expand(num * (p - q * s)), rel, s), sp.expand(p ** 2 - q ** 2 * a ** 2)
        return num / den

    def concrete(self, e, loss_expr):
        """Substitute the derivatives of a concrete loss for the symbols."""
        e = as_expr(e)
        sub = {}
        for s in e.free_symbols & self._index.keys():
            sub[s] = sp.diff(loss_expr, *[self.variables[k] for k in self._index[s]])
        return e.xreplace(sub)


class ConcreteCalculus(_Calculus):
    """The gradient of a concrete loss, substituted at each point."""

    def __init__(self, variables, loss_expr):
        super().__init__(variables)
        self._g = [sp.diff(loss_expr, v) for v in self.variables]
        self.order = 0

    def diff(self, e, k):
        return sp.diff(e, self.variables[k])

    def grad(self, point):
        sub = dict(zip(self.variables, [as_expr(p) for p in point[0]]))
        return np.array([[g.xreplace(sub) for g in self._g]], dtype=object)

    def at_x(self, i):
        return self._g[i]

    def tidy(self, e):
        return as_expr(e)

    def concrete(self, e, loss_expr):
        return as_expr(e)
