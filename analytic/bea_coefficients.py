r"""Coefficient level of backward error analysis: B-series matching, loss-agnostic.

For the momentum family :math:`x_{k+1} = x_k + \beta(x_k - x_{k-1}) + h f(x_k + \gamma(x_k - x_{k-1}))`
the coefficients :math:`b(t)` of the modified field solve, tree by tree,
:math:`(1-\beta) b(t) = c'(t) - R_+(t) - \beta R_-(t)` (see :mod:`analytic.bea`);
for SGD, the averaged composition of Euler steps over coloured trees is matched
against the flow over one epoch.

References: Hairer, Lubich & Wanner, GNI Ch. III and IX; Chartier, Hairer &
Vilmart, Found. Comput. Math. 10 (2010).
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction
from functools import lru_cache
from typing import Mapping

import sympy as sp

from .errors import InputError
from .loss import symbol
from . import symbols as _SYMBOLS
from .method_series import series_form
from .optimizers import GD, Optimizer
from .values import exact_value
from .trees import RootedTree, partition_weights, partitions, recolor, splittings, trees_of_order

__all__ = ["H", "MAX_ORDER", "MAX_SGD_TREES", "tree_coefficients", "sgd_tree_coefficients",
           "momentum_parameters", "check_order"]

#: the step-size symbol used in every modified field
H = _SYMBOLS.H
#: largest order accepted
MAX_ORDER = 10
#: bound on the number of coloured trees for SGD (m colours grow like m^(K+1))
MAX_SGD_TREES = 4000


def _exact(value):
    """A coefficient or hyperparameter as an exact SymPy value (floats by their decimal form)."""
    return exact_value(value, "beta", symbol={"real": True})


def _clean(expr):
    """Cheap normal form of a coefficient (rational in beta)."""
    expr = _exact(expr)
    if expr.is_Rational:
        return expr
    return sp.factor(sp.cancel(expr))


# -- coefficient level: momentum family --------------------------------------------

def _flow_coefficient(t: RootedTree, b: Mapping, sign: int, scale=1, skip_trivial=True, one=None):
    r""":math:`\sum_p (\mathrm{sign}\cdot\mathrm{scale})^{\#forest} \prod b(s)/\gamma(skel)` over
    the partitions of ``t`` (the trivial one left out when ``skip_trivial``).

    ``one`` is the unit of the coefficient ring (SymPy ``Integer(1)`` by default,
    or a polynomial-domain element for speed)."""
    one = sp.Integer(1) if one is None else one
    total = one * 0
    n = math.factorial(t.order)
    for piece, others, u in partition_weights(t):     # partitions grouped by their pieces
        if skip_trivial and not others:
            continue
        prod = one * (sign * scale) ** (1 + len(others)) * b[piece]
        for s in others:
            prod = prod * b[s]
        total += prod * sp.Rational(u, n) if isinstance(one, sp.Basic) else prod * (one * u / n)
    return total


class _Laurent:
    """Laurent polynomial in ``delta = 1 - beta`` with rational coefficients.

    Every momentum coefficient has the form :math:`P(\beta)/(1-\beta)^k`, so this
    ring holds them all with no gcd work on polynomials (a fraction field is ~100x
    slower).  The coefficients are kept as integers ``c`` over one positive common
    denominator ``d``, reduced and without zeros, so each value has one representation.

    >>> v = (_Laurent.const(1) - _Laurent.const(1).shift(1)) * Fraction(1, 2)   # beta/2
    >>> v.c, v.d
    ({0: 1, 1: -1}, 2)
    >>> (v.shift(-1) * v).to_sympy(sp.Symbol("beta"))
    (beta**2/(1 - beta))/4
    """

    __slots__ = ("c", "d")

    def __init__(self, c, d=1):
        c = {k: v for k, v in c.items() if v}
        g = math.gcd(d, *c.values()) if c else d
        if g != 1:
            c = {k: v // g for k, v in c.items()}
            d //= g
        self.c, self.d = c, d

    @staticmethod
    def const(v):
        v = Fraction(v)
        return _Laurent({0: v.numerator}, v.denominator)

    def __add__(self, o):
        o = o if isinstance(o, _Laurent) else _Laurent.const(o)
        d1, d2 = self.d, o.d
        if d1 == d2:
            out = dict(self.c)
            for k, v in o.c.items():
                out[k] = out.get(k, 0) + v
            return _Laurent(out, d1)
        d = d1 // math.gcd(d1, d2) * d2
        s1, s2 = d // d1, d // d2
        out = {k: v * s1 for k, v in self.c.items()}
        for k, v in o.c.items():
            out[k] = out.get(k, 0) + v * s2
        return _Laurent(out, d)

    __radd__ = __add__

    def __neg__(self):
        return _Laurent({k: -v for k, v in self.c.items()}, self.d)

    def __sub__(self, o):
        return self + (-(o if isinstance(o, _Laurent) else _Laurent.const(o)))

    def __mul__(self, o):
        if not isinstance(o, _Laurent):
            o = Fraction(o)
            return _Laurent({k: v * o.numerator for k, v in self.c.items()}, self.d * o.denominator)
        out: dict = {}
        for k1, v1 in self.c.items():
            for k2, v2 in o.c.items():
                out[k1 + k2] = out.get(k1 + k2, 0) + v1 * v2
        return _Laurent(out, self.d * o.d)

    __rmul__ = __mul__

    @staticmethod
    def combination(terms):
        """``sum(u * v for v, u in terms)`` (integers ``u``) with one reduction."""
        d = 1
        for v, _ in terms:
            d = d // math.gcd(d, v.d) * v.d
        out: dict = {}
        for v, u in terms:
            s = d // v.d * u
            for k, x in v.c.items():
                out[k] = out.get(k, 0) + x * s
        return _Laurent(out, d)

    def shift(self, k):
        """Multiply by ``delta**k``."""
        return _Laurent({e + k: v for e, v in self.c.items()}, self.d)

    def to_sympy(self, beta):
        """``self`` as ``c * P(beta) / (1 - beta)**k``: ``P`` expanded, primitive, with a
        positive leading coefficient."""
        if not self.c:
            return sp.Integer(0)
        low = min(min(self.c), 0)
        num = [0] * (max(self.c) - low + 1)          # sum_k c_k (1 - beta)**(k - low), by powers
        for k, v in self.c.items():
            j = k - low
            for i in range(j + 1):
                num[i] += v * math.comb(j, i) if i % 2 == 0 else -v * math.comb(j, i)
        while not num[-1]:
            num.pop()
        g = math.gcd(*num)
        if num[-1] < 0:
            g = -g
        prim = sp.Poly.from_list([v // g for v in reversed(num)], beta, domain=sp.ZZ)
        return _keep(sp.Rational(g, self.d), prim.as_expr() / (1 - beta) ** (-low))


def _fraction_combination(terms):
    """``sum(u * v for v, u in terms)`` over ``Fraction`` values ``v`` and integers ``u``."""
    d = 1
    for v, _ in terms:
        d = d // math.gcd(d, v.denominator) * v.denominator
    return Fraction(sum(v.numerator * (d // v.denominator) * u for v, u in terms), d)


def _solve_momentum(beta_is_symbol: bool, beta, gamma_is_beta: bool, order: int):
    """The matching recursion, in ``_Laurent`` (symbolic beta), ``Fraction`` (rational
    beta) or SymPy numbers (other numeric beta)."""
    exact = not beta_is_symbol and _exact(beta).is_Rational and _exact(beta) != 1
    if beta_is_symbol:
        one = _Laurent.const(1)
        kb = one - one.shift(1)                      # beta = 1 - delta
        kg = kb if gamma_is_beta else one * 0
        divide = lambda v: v.shift(-1)               # / (1 - beta) = / delta
        is_zero = lambda v: not v.c
        combination = _Laurent.combination
    elif exact:
        one = Fraction(1)
        kb = Fraction(_exact(beta).p, _exact(beta).q)
        kg = kb if gamma_is_beta else Fraction(0)
        divide = lambda v: v / (1 - kb)
        is_zero = lambda v: v == 0
        combination = _fraction_combination
    else:
        one = sp.Integer(1)
        kb = _exact(beta)
        kg = kb if gamma_is_beta else sp.Integer(0)
        divide = lambda v: v / (1 - kb)
        is_zero = lambda v: v == 0
    momentum = not (is_zero(kb) and is_zero(kg))
    b: dict = {}
    a_minus: dict = {}
    eqs: list = []
    products: dict = {}                              # prod of b over a sorted tuple of pieces

    def flows(t):
        """``(R_+(t), R_-(t))``: over the partitions grouped by pieces, exact rings."""
        plus, minus = [], []
        for piece, others, u in partition_weights(t):     # u = |t|! * sum of 1/gamma(skel)
            if not others:
                continue
            prod = products.get(others)
            if prod is None:
                prod = one
                for s in others:
                    prod = prod * b[s]
                products[others] = prod
            term = b[piece] * prod
            plus.append((term, u))
            if momentum:                             # sign (-1)**(number of pieces)
                minus.append((term, u if len(others) % 2 else -u))
        scale = Fraction(1, math.factorial(t.order))
        return combination(plus) * scale, combination(minus) * scale

    def flow(t, sign):
        total = one * 0
        for forest, skel in partitions(t):
            if len(forest) == 1:
                continue
            prod = one * sign ** len(forest)
            for s in forest:
                prod = prod * b[s]
            total = total + prod / skel.density
        return total

    for n in range(1, order + 2):
        for t in trees_of_order(n):
            if beta_is_symbol or exact:
                r_plus, r_minus = flows(t)
            else:
                r_plus = flow(t, +1)
                r_minus = flow(t, -1) if momentum else one * 0
            c_prime = one
            for child in t.children:
                c_prime = c_prime * (-(kg * a_minus[child]))
            value = divide(c_prime - r_plus - kb * r_minus)
            b[t] = value
            a_minus[t] = -value + r_minus
            eqs.append((t, c_prime, r_plus, r_minus, value))
    return b, eqs


@lru_cache(maxsize=64)
def _momentum_solution(beta, gamma, order: int) -> tuple:
    """``(beta, symbolic, b, equations)`` from :func:`_solve_momentum`, in its ring."""
    beta = _exact(beta)
    gamma = _exact(gamma)
    if gamma != 0 and gamma != beta:
        raise InputError("gamma", gamma, "must be 0 (heavy ball) or beta (Nesterov)")
    symbolic = not beta.is_number
    return (beta, symbolic) + _solve_momentum(symbolic, beta, gamma != 0, order)


def _to_sympy(beta, symbolic):
    if symbolic:
        return lambda v: v.to_sympy(beta)
    return lambda v: sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else v


@lru_cache(maxsize=64)
def _momentum_b(beta, gamma, order: int) -> tuple:
    """``b(t)`` for all trees up to ``order + 1`` nodes."""
    beta, symbolic, b, _ = _momentum_solution(beta, gamma, order)
    conv = _to_sympy(beta, symbolic)
    return tuple((t, conv(v)) for t, v in b.items())


def _momentum_equations(beta, gamma, order: int) -> tuple:
    """The matching equations ``(t, c'(t), R_+(t), R_-(t), b(t))`` for all trees up to
    ``order + 1`` nodes."""
    beta, symbolic, _, eqs = _momentum_solution(beta, gamma, order)
    conv = _to_sympy(beta, symbolic)
    return tuple((t, conv(c), conv(rp), conv(rm), conv(v)) for t, c, rp, rm, v in eqs)


def tree_coefficients(optimizer: Optimizer, order: int) -> dict:
    r"""Coefficients :math:`c(t)` of :math:`h^{|t|-1} F_g(t)` in the modified field.

    >>> c = tree_coefficients(GD(H), 2)
    >>> [(str(t), v) for t, v in c.items()]
    [('•', -1), ('[•]', -1/2), ('[•, •]', -1/12), ('[[•]]', -1/3)]
    """
    check_order(order)
    form = series_form(optimizer)                 # read from the spec's own step
    if form.batches is not None and form.beta != 0:
        from .sgd_momentum import sgd_momentum_tree_coefficients
        plain = {t: _scaled(v, sp.Rational((-1) ** t.order, t.symmetry)) for t, v in _momentum_b(form.beta, 0, 1)}
        return sgd_momentum_tree_coefficients(form.batches, form.beta, order, plain)
    if form.batches is not None:
        return sgd_tree_coefficients(form.batches, order)
    pairs = _momentum_b(form.beta, form.gamma, order)
    return {t: _scaled(v, sp.Rational((-1) ** t.order, t.symmetry)) for t, v in pairs}


def _scaled(v, r):
    """``r * v`` keeping the form ``c * P(beta) / (1 - beta)**k``."""
    if v.is_number:
        return r * v
    c, rest = v.as_coeff_Mul()
    return _keep(r * c, rest)


def _keep(c, rest):
    """``c * rest`` without distributing the number ``c`` over a sum."""
    if c == 1:
        return rest
    if c == -1 and not rest.is_Add:
        return -rest
    return sp.Mul(c, rest, evaluate=False)


def momentum_parameters(optimizer):
    """``(beta, gamma)`` of the spec's two-step form, read from its step (:func:`series_form`)."""
    form = series_form(optimizer)
    return _exact(form.beta), _exact(form.gamma)


def check_order(order):
    if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= MAX_ORDER:
        raise InputError("order", order, f"must be an integer between 0 and {MAX_ORDER}")


# -- coefficient level: SGD ---------------------------------------------------------------

def _compose(a: Mapping, b: Mapping, t: RootedTree):
    total = sp.Integer(0)
    for trunk, pruned in splittings(t):
        term = sp.Integer(1) if trunk is None else b.get(trunk, 0)
        if term == 0:
            continue
        for u in pruned:
            term = term * a.get(u, 0)
            if term == 0:
                break
        total += term
    return total


@lru_cache(maxsize=16)
def _sgd_b(m: int, order: int) -> tuple:
    colors = tuple(range(1, m + 1))
    forest = [t for n in range(1, order + 2) for t in trees_of_order(n, colors)]
    if len(forest) > MAX_SGD_TREES:
        raise InputError("order", order, f"SGD with {m} batches needs {len(forest)} coloured trees; "
                         f"lower the order (limit {MAX_SGD_TREES})")
    # epoch map for the ordering 1, 2, ..., m: compose m explicit Euler steps
    epoch: dict = {}
    for c in colors:
        euler = {RootedTree((), c): sp.Integer(1)}
        epoch = {t: _compose(epoch, euler, t) for t in forest} if epoch else dict(euler)
    # average over orderings: only the relative order of the colours in t matters
    avg = {}
    for t in forest:
        used = sorted(set(t.colors))
        maps = list(itertools.permutations(colors, len(used)))
        total = sum((epoch.get(recolor(t, dict(zip(used, img))), 0) for img in maps), sp.Integer(0))
        avg[t] = sp.Rational(total, len(maps)) if isinstance(total, (int, sp.Integer)) else total / len(maps)
    # modified field over the epoch time m h
    b: dict = {}
    for t in forest:
        rest = _flow_coefficient(t, b, +1, scale=m)
        b[t] = (avg[t] - rest) / sp.Integer(m)
    return tuple(b.items()), tuple(avg.items())


def sgd_tree_coefficients(m: int, order: int) -> dict:
    r"""Coefficients over trees coloured by batch ``1..m`` for SGD (one epoch,
    averaged over batch orderings), in the same convention as
    :func:`tree_coefficients`.

    >>> c = sgd_tree_coefficients(2, 1)
    >>> [(str(t), v) for t, v in c.items() if t.order == 2 and v != 0]
    [('[•1]1', -1/4), ('[•2]2', -1/4)]
    """
    if not isinstance(m, int) or isinstance(m, bool) or not 1 <= m <= MAX_SGD_TREES:
        raise InputError("batches", m, f"must be an integer between 1 and {MAX_SGD_TREES}")
    check_order(order)
    pairs, _ = _sgd_b(m, order)
    return {t: (-1) ** t.order * v / t.symmetry for t, v in pairs}
