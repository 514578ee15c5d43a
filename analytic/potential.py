r"""Gradient-field certificates and modified losses.

A term :math:`f_p` of a modified field is a gradient iff its Jacobian is
symmetric (Poincaré lemma on a star-shaped domain).  Two routes decide it:

* **Abstract** (every loss at once).  A free tree :math:`\tau` defines the
  scalar :math:`\varphi(\tau)` (a vertex of degree :math:`k` is
  :math:`\nabla^k E`, an edge a contraction); its gradient is the sum of the
  rooted trees obtained by rooting :math:`\tau` at each vertex.  If
  :math:`f_p = -s \sum_\tau a(\tau) \nabla\varphi(\tau)` has a solution ``a``
  (a linear system over trees), :math:`f_p` is a gradient for every loss, with
  potential :math:`E_p = \sum a(\tau)\varphi(\tau)`.  E.g. :math:`Hg = \nabla\tfrac12\|g\|^2`.
* **Concrete** (one loss).  Otherwise the antisymmetric part
  :math:`J - J^\top` of the evaluated term is tested: a value clearly nonzero
  at a rational point (60-digit central differences) decides *False*; an exact
  simplification to zero within the budget decides *True*; otherwise the
  answer is *None* (undecided).

When every term up to ``K`` is a gradient the modified loss
:math:`\tilde E = E + \sum_p h^p E_p` is returned, with
:math:`\tilde f = -s \nabla \tilde E`, and checked by differentiating it.

References: Barrett & Dherin, ICLR 2021; Ghosh et al., ICLR 2023; Hairer,
Lubich & Wanner, GNI Ch. IX (modified equations of gradient systems).
"""
from __future__ import annotations

import mpmath
import sympy as sp

from .budget import with_budget
from .errors import BudgetExceeded, InputError
from .trees import DifferentialEvaluator, free_trees_of_order, rootings, scalar_differential

__all__ = ["abstract_potential", "gradient_certificate", "numeric_zero", "homotopy_potential", "evaluate_potential"]


def abstract_potential(coefficients: dict, time_scale=1):
    r"""Solve :math:`\sum_t c(t) F(t) = -s \sum_\tau a(\tau) \nabla\varphi(\tau)` for ``a``.

    ``coefficients`` maps rooted trees (all of one order) to ``c(t)``.
    Returns ``{free tree: a}`` or ``None`` when no potential exists for a
    generic loss.

    >>> from analytic.trees import RootedTree, LEAF
    >>> pot = abstract_potential({RootedTree((LEAF,)): sp.Rational(-1, 2)})
    >>> [(str(t), a) for t, a in pot.items()]
    [('[•]', 1/4)]
    """
    trees = [t for t in coefficients]
    if not trees:
        return {}
    n = trees[0].order
    colors = tuple(sorted({c for t in trees for c in t.colors}))
    free = list(free_trees_of_order(n, colors))
    rooted = sorted(set(trees) | {r for tau in free for r in rootings(tau)})
    index = {t: i for i, t in enumerate(rooted)}
    M = sp.zeros(len(rooted), len(free))
    for j, tau in enumerate(free):
        for r in rootings(tau):
            M[index[r], j] += 1
    rhs = sp.Matrix([-coefficients.get(t, 0) / time_scale for t in rooted])
    # solvable iff rhs is orthogonal to the left null space of the (integer) matrix M
    for n in M.T.nullspace():
        if sp.cancel(sp.together((n.T * rhs)[0])) != 0:
            return None
    try:
        sol, params = M.gauss_jordan_solve(rhs)
    except ValueError:
        return None
    if params.shape[0]:
        sol = sol.subs({p: 0 for p in params})
    return {tau: sp.factor(sol[j]) if not sol[j].is_number else sol[j] for j, tau in enumerate(free)}


def _sample_points(symbols, count=3):
    """Deterministic rational sample points, away from obvious singularities."""
    base = [sp.Rational(3, 7), sp.Rational(-5, 11), sp.Rational(13, 17), sp.Rational(7, 5)]
    pts = []
    for k in range(count):
        pts.append({s: base[(i + k) % 4] + sp.Rational(k + 1, 19 + i) for i, s in enumerate(symbols)})
    return pts


def numeric_zero(expr, symbols, digits: int = 30, points: int = 3) -> tuple:
    """Evaluate ``expr`` at rational points with ``digits`` digits.

    Returns ``(max |value|, scale)`` where ``scale`` bounds the size of the
    summands (so a relative test is possible).

    >>> x = sp.Symbol("x")
    >>> numeric_zero(sp.sin(x)**2 + sp.cos(x)**2 - 1, [x])[0] < 1e-25
    True
    """
    symbols = list(symbols)
    f = sp.lambdify(symbols, expr, modules="mpmath")
    worst, scale = 0.0, 1.0
    with mpmath.workdps(digits):
        for pt in _sample_points(symbols, points):
            args = [mpmath.mpf(pt[s].p) / pt[s].q for s in symbols]
            try:
                v = f(*args)
            except (ZeroDivisionError, ValueError, OverflowError):
                continue
            worst = max(worst, float(abs(v)))
    return worst, scale


def _numeric_asymmetry(vec, variables, symbols, digits: int = 60, points: int = 3):
    """Max |J_ij - J_ji| over rational sample points, the Jacobian by central
    differences of step 1e-20 at ``digits`` digits (error ~1e-40, so the test
    resolves asymmetries far below 1e-20), and the size of J for scale."""
    f = sp.lambdify(symbols, list(vec), modules="mpmath", cse=True)
    d = len(variables)
    worst, scale = 0.0, 0.0
    with mpmath.workdps(digits):
        eps = mpmath.mpf(10) ** -20
        for pt in _sample_points(symbols, points):
            base = [mpmath.mpf(pt[s].p) / pt[s].q for s in symbols]
            try:
                cols = []
                for j in range(d):
                    up, down = list(base), list(base)
                    up[j] += eps
                    down[j] -= eps
                    fu, fd = f(*up), f(*down)
                    cols.append([(fu[i] - fd[i]) / (2 * eps) for i in range(d)])
            except (ZeroDivisionError, ValueError, OverflowError, TypeError):
                continue
            for i in range(d):
                for j in range(d):
                    scale = max(scale, float(abs(cols[j][i])))
                    if j > i:
                        worst = max(worst, float(abs(cols[j][i] - cols[i][j])))
    return worst, scale


def gradient_certificate(vector, variables, budget: float | None = 2.0, extra_symbols=()):
    r"""Is ``vector`` (a column Matrix in ``variables``) a gradient field?

    Returns ``(True | False | None, reason)``.  *False* when the Jacobian
    asymmetry at a rational point (60-digit central differences) exceeds
    :math:`10^{-20}\max(1, |J|)`; *True* when :math:`J - J^\top` simplifies to 0
    within ``budget``; *None* otherwise.

    >>> x, y = sp.symbols("x y", real=True)
    >>> gradient_certificate(sp.Matrix([y, x]), (x, y))[0]
    True
    >>> gradient_certificate(sp.Matrix([y, -x]), (x, y))[0]
    False
    """
    variables = tuple(variables)
    vec = sp.Matrix(vector)
    if vec.shape != (len(variables), 1):
        raise InputError("vector", vec.shape, f"must be a column of length {len(variables)}")
    d = len(variables)
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
    if not pairs:
        return True, "one variable: every field is a gradient"
    symbols = list(variables) + sorted(set().union(*[e.free_symbols for e in vec]) - set(variables),
                                       key=lambda s: s.name)
    try:
        worst, scale = with_budget(_numeric_asymmetry, budget, "numeric antisymmetry test", vec, variables,
                                   symbols)
    except BudgetExceeded:
        return None, "numeric test ran out of time"
    if worst > 1e-20 * max(1.0, scale):
        return False, f"Jacobian asymmetry {worst:.3g} at a rational point (60-digit differences)"

    def exact():
        return all(sp.simplify(sp.expand(sp.diff(vec[i], variables[j]) - sp.diff(vec[j], variables[i]))) == 0
                   for i, j in pairs)
    try:
        ok = with_budget(exact, budget, "exact antisymmetry test")
    except BudgetExceeded:
        return None, "Jacobian asymmetry vanishes numerically; exact proof ran out of time"
    if ok:
        return True, "Jacobian asymmetry simplifies to 0"
    return None, "Jacobian asymmetry vanishes numerically but did not simplify to 0"


def homotopy_potential(vector, variables, budget: float | None = 2.0):
    r"""A potential :math:`\varphi` with :math:`\nabla\varphi = F` for a gradient field ``F``:
    :math:`\varphi(x) = \int_0^1 F(sx)\cdot x\, ds` (Poincaré), integrated by SymPy
    within ``budget``.  Returns ``None`` if the integral is not found in time.

    >>> x, y = sp.symbols("x y", real=True)
    >>> homotopy_potential(sp.Matrix([2*x, 3]), (x, y))
    x**2 + 3*y
    """
    s = sp.Dummy("s", positive=True)
    variables = tuple(variables)
    sub = {v: s * v for v in variables}
    integrand = sp.expand(sum((sp.Matrix(vector)[i].subs(sub) * v for i, v in enumerate(variables)),
                              sp.Integer(0)))

    def work():
        res = sp.integrate(integrand, (s, 0, 1))
        if res.has(sp.Integral):
            return None
        return sp.expand(res)
    try:
        return with_budget(work, budget, "potential by integration")
    except BudgetExceeded:
        return None


def evaluate_potential(weights: dict, ev: DifferentialEvaluator):
    r""":math:`\sum_\tau a(\tau)\varphi(\tau)` on a concrete loss.

    >>> from analytic.trees import RootedTree, LEAF
    >>> x = sp.Symbol("x")
    >>> evaluate_potential({RootedTree((LEAF,)): sp.Rational(1, 4)}, DifferentialEvaluator({0: x**2}, (x,)))
    x**2
    """
    return sp.Add(*[a * scalar_differential(ev, tau) for tau, a in weights.items() if a != 0])
