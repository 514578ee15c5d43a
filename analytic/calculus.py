"""Gradient, Hessian, the gradient-norm regularizer and the set of global minima.

Each function takes a :class:`~analytic.loss.Loss` and returns a
:class:`~analytic.result.Result` carrying the derivation.  Derivatives are
taken with the parameters kept symbolic, then the given parameter values are
substituted (``substitute=True``), so the derivation reads like the paper.

Reference for the gradient-norm regularizer: Barrett & Dherin, "Implicit
Gradient Regularization", ICLR 2021; Ghosh et al., "Implicit regularization in
heavy-ball momentum accelerated SGD", ICLR 2023.
"""
from __future__ import annotations

import sympy as sp

from . import checks
from .budget import with_budget
from .errors import BudgetExceeded, InputError
from .loss import Loss
from .result import Result, Step

__all__ = ["gradient", "hessian", "grad_norm_squared", "global_minima", "tidy"]

SIMPLIFY_SECONDS = 5.0


def tidy(expr, seconds: float | None = SIMPLIFY_SECONDS):
    """A cheap, budgeted tidy-up (``factor_terms`` then ``cancel`` if small).

    Returns ``expr`` unchanged when the budget runs out.
    """
    def work():
        e = sp.factor_terms(expr)
        if sp.count_ops(e) < 200:
            e2 = sp.factor(e)
            if sp.count_ops(e2) <= sp.count_ops(e):
                e = e2
        return e
    if not isinstance(expr, (sp.Basic, sp.MatrixBase)):
        raise InputError("expr", expr, "must be a SymPy expression or matrix")
    seconds = checks.budget(seconds, "seconds")
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(lambda e: tidy(e, seconds))
    return with_budget(work, seconds, "simplification", fallback=expr)


def _check(loss, **flags):
    if not isinstance(loss, Loss):
        raise InputError("loss", loss, "must be a Loss (use parse_loss or a built-in model)")
    for name, value in flags.items():
        if name == "budget":
            checks.budget(value, name)
        else:
            checks.flag(value, name)


def _loss_step(loss: Loss) -> Step:
    return Step(r"\IRloss", loss.expr, "the loss")


def _params_step(loss: Loss, lhs: str, expr) -> list:
    if not loss.substitutions:
        return []
    vals = ", ".join(f"{k} = {v}" for k, v in loss.params.items() if v is not None)
    return [Step(lhs, expr, f"substitute {vals}")]


def gradient(loss: Loss, substitute: bool = True) -> Result:
    r"""The gradient :math:`\nabla E` as a column Matrix.

    >>> from analytic.models import linear2d
    >>> gradient(linear2d()).expr.T
    Matrix([[-w2*(-w1*w2 + 3/5), -w1*(-w1*w2 + 3/5)]])
    """
    _check(loss, substitute=substitute)
    g = sp.Matrix([sp.diff(loss.expr, v) for v in loss.variables])
    steps = [_loss_step(loss), Step(r"\IRgrad", g, "differentiate with respect to each variable")]
    if substitute and loss.substitutions:
        g = loss.substitute(g)
        steps += _params_step(loss, r"\IRgrad", g)
    return Result("gradient", g, tuple(steps), lhs=r"\IRgrad")


def hessian(loss: Loss, substitute: bool = True) -> Result:
    r"""The Hessian :math:`\nabla^2 E`.

    >>> from analytic.models import quadratic
    >>> hessian(quadratic([[2, 1], [1, 3]])).expr
    Matrix([
    [2, 1],
    [1, 3]])
    """
    _check(loss, substitute=substitute)
    H = sp.hessian(loss.expr, loss.variables)
    steps = [_loss_step(loss), Step(r"\IRhess", H, "second partial derivatives")]
    if substitute and loss.substitutions:
        H = loss.substitute(H)
        steps += _params_step(loss, r"\IRhess", H)
    return Result("hessian", H, tuple(steps), lhs=r"\IRhess")


def grad_norm_squared(loss: Loss, substitute: bool = True, simplify: bool = True,
                      budget: float | None = SIMPLIFY_SECONDS) -> Result:
    r"""The implicit gradient regularizer :math:`\|\nabla E\|^2 = \sum_i (\partial_i E)^2`.

    For a squared residual :math:`E = \tfrac12 r^2` it is :math:`r^2 \|\nabla r\|^2`.

    >>> from analytic.models import linear2d
    >>> sp.factor(grad_norm_squared(linear2d()).expr)
    (w1**2 + w2**2)*(5*w1*w2 - 3)**2/25
    """
    _check(loss, substitute=substitute, simplify=simplify, budget=budget)
    g = sp.Matrix([sp.diff(loss.expr, v) for v in loss.variables])
    raw = sum((gi**2 for gi in g), sp.Integer(0))
    steps = [_loss_step(loss), Step(r"\IRgrad", g, "differentiate"),
             Step(r"\|\IRgrad\|^2", raw, "sum of squared partial derivatives")]
    expr = raw
    if simplify:
        expr = tidy(raw, budget)
        if expr != raw:
            steps.append(Step(r"\|\IRgrad\|^2", expr, "collect common factors"))
    if substitute and loss.substitutions:
        expr = loss.substitute(expr)
        steps += _params_step(loss, r"\|\IRgrad\|^2", expr)
    return Result("grad-norm", expr, tuple(steps), lhs=r"\|\IRgrad\|^2")


def _zero_set_factors(expr):
    """Factors whose vanishing makes ``expr`` vanish (strip constants and powers)."""
    expr = sp.factor_terms(sp.together(expr))
    num, _ = sp.fraction(expr)
    out = []
    for f in sp.Mul.make_args(num):
        if f.is_number:
            continue
        if f.is_Pow and f.exp.is_positive:
            f = f.base
        if f.is_Pow and f.base.is_positive is True and f.exp.is_number:
            continue
        out.append(f)
    return out


def _canonical_logs(expr, variables):
    """Write ``log(a/(b - a))`` as ``-log(b/a - 1)``: no variable in a denominator."""
    def flip(arg):
        num, den = sp.fraction(sp.together(arg))
        if den.free_symbols & set(variables):
            inv = sp.expand(den / num)
            if not (sp.fraction(sp.together(inv))[1].free_symbols & set(variables)):
                return -sp.log(inv)
        return sp.log(arg)
    return expr.replace(lambda e: isinstance(e, sp.log), lambda e: flip(e.args[0]))


def global_minima(loss: Loss, solve_for=None, substitute: bool = True,
                  budget: float | None = 10.0) -> Result:
    r"""The zero set :math:`\{E = 0\}`, solved for one variable.

    For a nonnegative loss these are exactly the global minima with value 0.
    The result's ``expr`` is a tuple of ``Eq(variable, solution)``; the
    variable solved for is the last one unless ``solve_for`` names another.

    >>> from analytic.models import sigmoid2d
    >>> global_minima(sigmoid2d(), substitute=False).expr
    (Eq(w2, -log(w1/y - 1)/x),)
    """
    _check(loss, substitute=substitute, budget=budget)
    names = [v.name for v in loss.variables]
    if solve_for is None:
        order = list(reversed(loss.variables))
    else:
        if not isinstance(solve_for, str) or solve_for not in names:
            raise InputError("solve_for", solve_for, f"not a variable of the loss (have {names})")
        order = [loss.variables[names.index(solve_for)]]
    factors = _zero_set_factors(loss.expr)
    steps = [_loss_step(loss)]
    if factors:
        steps.append(Step(r"\IRloss = 0", r"\iff " + r" \cdot ".join(f"({sp.latex(f)})" for f in factors) + " = 0",
                          "a nonnegative loss vanishes where its residual factors do", relation=":"))
    solutions = []
    chosen = None
    for v in order:
        sols = []
        try:
            for f in factors or [loss.expr]:
                if not f.has(v):
                    continue
                found = with_budget(lambda: sp.solve(f, v, dict=False), budget, "solving E = 0")
                sols += [s for s in found if s not in sols]
        except (BudgetExceeded, NotImplementedError):
            sols = []
        if sols:
            chosen = v
            solutions = sols
            break
    if chosen is None:
        raise InputError("loss", str(loss.expr), "SymPy could not solve E = 0 for any variable")
    eqs = []
    for s in solutions:
        s = with_budget(lambda: sp.simplify(s), 5.0, "simplification", fallback=s)
        s = _canonical_logs(s, loss.variables)
        if substitute and loss.substitutions:
            s = loss.substitute(s)
        eqs.append(sp.Eq(chosen, s))
    steps.append(Step(sp.latex(chosen), sp.Tuple(*[e.rhs for e in eqs]) if len(eqs) > 1 else eqs[0].rhs,
                      f"solve for {chosen.name}"))
    return Result("minima", tuple(eqs), tuple(steps), lhs="",
                  meta={"variable": chosen.name})
