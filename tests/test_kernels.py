"""The arc-cosine kernel on the sphere against quadrature and Monte Carlo."""
import numpy as np
import pytest
import sympy as sp
from scipy import integrate

from analytic.kernels import DIM, NORM_B, NORM_B2, THETA, arccos_kernel
from numeric.compile import compile_expr


def _k():
    return compile_expr(arccos_kernel().expr, (NORM_B, NORM_B2, THETA, DIM))


@pytest.mark.parametrize("theta", [0.0, 2.0, np.pi])
def test_quadrature_on_the_two_sphere(theta):
    # x = (sin u cos v, sin u sin v, cos u), uniform density sin u / (4 pi)
    b = np.array([0.0, 0.0, 1.2])
    b2 = 0.5 * np.array([np.sin(theta), 0.0, np.cos(theta)])

    def integrand(v, u):
        x = np.array([np.sin(u) * np.cos(v), np.sin(u) * np.sin(v), np.cos(u)])
        return max(b @ x, 0) * max(b2 @ x, 0) * np.sin(u) / (4 * np.pi)

    val, _ = integrate.dblquad(integrand, 0, np.pi, 0, 2 * np.pi, epsabs=1e-10)
    assert np.isclose(_k()(np.array([[1.2, 0.5, theta, 3]]))[0], val, atol=1e-8)


def test_monte_carlo_in_higher_dimension_and_missing_constant_fails():
    rng = np.random.default_rng(0)
    d, N = 7, 300_000
    x = rng.normal(size=(N, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    theta = 1.1
    b = np.eye(d)[0]
    b2 = np.cos(theta) * np.eye(d)[0] + np.sin(theta) * np.eye(d)[1]
    v = np.maximum(x @ b, 0) * np.maximum(x @ b2, 0)
    pred = _k()(np.array([[1.0, 1.0, theta, d]]))[0]
    se = v.std() / np.sqrt(N)
    assert abs(v.mean() - pred) < 4 * se
    lecture = np.sin(theta) + (np.pi - theta) * np.cos(theta)   # as printed, no constant
    assert abs(v.mean() - lecture) > 4 * se


def test_constant_and_gaussian_relation():
    res = arccos_kernel()
    assert res.meta["constant"] == 1 / (2 * sp.pi * DIM)
    # Cho & Saul (2009) Gaussian kernel = d times the sphere kernel
    assert sp.simplify(res.meta["gaussian"] - DIM * res.expr) == 0
    # theta = 0: E[(b.x)^2 1{b.x > 0}] = |b|^2/(2d)
    assert sp.simplify(res.expr.subs({THETA: 0, NORM_B2: NORM_B}) - NORM_B**2 / (2 * DIM)) == 0
