"""Derivations: gradient, Hessian, ||grad E||^2, global minima."""
import numpy as np
import pytest
import sympy as sp

from analytic.calculus import global_minima, grad_norm_squared, gradient, hessian, tidy
from analytic.errors import InputError
from analytic.loss import parse_loss, symbol
from analytic.models import linear2d, quadratic, sigmoid2d
from analytic.result import Result
from numeric.compile import compile_expr, compile_loss

w1, w2, x, y = (symbol(n) for n in ("w1", "w2", "x", "y"))
RNG = np.random.default_rng(12345)


def seed000_closed_form():
    """Seed 000 (Ghosh et al. 2023, App. 8), typed independently of analytic."""
    s = 1 + sp.exp(-w2 * x)
    return (1 / s**2 + w1**2 * x**2 * sp.exp(-2 * w2 * x) / s**4) * (y - w1 / s)**2


def central_gradient(f, pts, h=1e-6):
    return np.stack([(f(pts + h * e) - f(pts - h * e)) / (2 * h) for e in np.eye(pts.shape[1])], axis=-1)


def test_sigmoid2d_grad_norm_equals_seed000_symbolically():
    derived = grad_norm_squared(sigmoid2d(), substitute=False).expr
    assert sp.simplify(derived - seed000_closed_form()) == 0


def test_sigmoid2d_grad_norm_equals_seed000_with_default_params():
    loss = sigmoid2d()
    derived = grad_norm_squared(loss).expr
    assert derived.free_symbols == {w1, w2}
    assert sp.simplify(derived - loss.substitute(seed000_closed_form())) == 0


def test_sigmoid2d_grad_norm_by_finite_differences():
    loss = sigmoid2d()
    pts = RNG.uniform([-3, -3], [5, 3], size=(300, 2))
    fd = central_gradient(compile_loss(loss), pts, 1e-5)
    closed = compile_expr(loss.substitute(seed000_closed_form()), loss.variables)(pts)
    rel = np.abs((fd**2).sum(axis=1) - closed) / np.maximum(closed, 1e-3)
    assert rel.max() < 1e-7


def test_grad_norm_is_not_trivially_matching():
    """A wrong closed form (missing the x^2 factor) is told apart: the check can fail."""
    s = 1 + sp.exp(-w2 * x)
    wrong = (1 / s**2 + w1**2 * sp.exp(-2 * w2 * x) / s**4) * (y - w1 / s)**2
    derived = grad_norm_squared(sigmoid2d(), substitute=False).expr
    assert sp.simplify((derived - wrong).subs(x, 2)) != 0


def test_minima_curve_of_sigmoid2d():
    res = global_minima(sigmoid2d(), substitute=False)
    (eq,) = res.expr
    assert eq.lhs == w2
    assert sp.simplify(eq.rhs - (-sp.log(w1 / y - 1) / x)) == 0
    # E vanishes on the curve, for w1 > y, symbolically and numerically
    E_on = sigmoid2d().expr.subs(w2, eq.rhs)
    assert sp.simplify(E_on) == 0
    for a in (0.7, 1.5, 6.0):
        assert abs(float(E_on.subs({w1: a, x: 1, y: sp.Rational(3, 5)}))) < 1e-15
    assert res.meta["variable"] == "w2"


def test_minima_with_params_substituted():
    (eq,) = global_minima(sigmoid2d()).expr
    assert sp.simplify(eq.rhs + sp.log(5 * w1 / 3 - 1)) == 0


def test_minima_of_linear2d_and_solve_for():
    (eq,) = global_minima(linear2d(), solve_for="w1").expr
    assert eq.lhs == w1 and sp.simplify(eq.rhs - sp.Rational(3, 5) / w2) == 0
    with pytest.raises(InputError, match="solve_for"):
        global_minima(linear2d(), solve_for="q")


@pytest.mark.parametrize("make", [sigmoid2d, linear2d,
                                  lambda: parse_loss("log(1 + exp(-w1*w2)) + w1**2*sin(w2)/10", "w1,w2")])
def test_gradient_and_hessian_against_finite_differences(make):
    loss = make()
    pts = RNG.uniform(-2, 2, size=(50, 2))
    E = compile_loss(loss)
    g = compile_expr(gradient(loss).expr, loss.variables)
    H = compile_expr(hessian(loss).expr, loss.variables)
    fd_g = central_gradient(E, pts, 1e-5)
    assert np.allclose(g(pts), fd_g, rtol=1e-7, atol=1e-8)
    fd_H = np.stack([central_gradient(lambda p, i=i: g(p)[:, i], pts, 1e-5) for i in range(2)], axis=1)
    assert np.allclose(H(pts), fd_H, rtol=1e-6, atol=1e-7)
    assert H(pts).shape == (50, 2, 2) and np.allclose(H(pts), np.swapaxes(H(pts), 1, 2))


def test_hessian_of_quadratic_is_its_matrix():
    A = sp.Matrix([[2, 1], [1, 3]])
    assert hessian(quadratic(A)).expr == A
    assert gradient(quadratic(A)).expr == A * sp.Matrix([w1, w2])


def test_results_carry_latex_and_steps():
    r = grad_norm_squared(sigmoid2d())
    assert isinstance(r, Result) and r.quantity == "grad-norm"
    assert r._repr_latex_().startswith("$") and r._latex()
    assert len(r.steps) >= 3
    d = r.derivation_latex()
    assert d.startswith("\\begin{align}") and "substitute x = 1, y = 3/5" in d
    assert "frac{3}{5}" not in d.split("text")[-1]   # no mangled LaTeX in the justification


def test_gradient_without_substitution_keeps_params():
    g = gradient(linear2d(), substitute=False).expr
    assert g.free_symbols == {w1, w2, x, y}


def test_tidy_returns_equal_expression():
    e = (w1**2 - 1) / (w1 - 1) + 0 * w2
    assert sp.simplify(tidy(e) - e) == 0


def test_calculus_rejects_non_loss():
    with pytest.raises(InputError, match="'loss'"):
        gradient(w1**2)
