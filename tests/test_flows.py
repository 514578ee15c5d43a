"""Flows against exact solutions."""
import numpy as np
import pytest
import sympy as sp
from scipy.linalg import expm

from analytic.calculus import gradient
from analytic.errors import DivergenceError, InputError
from analytic.models import quadratic
from numeric.compile import compile_expr, compile_gradient
from numeric.flows import gradient_flow, integrate_flow


def test_linear_decay():
    t = np.linspace(0, 3, 7)
    fl = integrate_flow(lambda x: -2 * x, [1.5], 3.0, t_eval=t)
    assert np.allclose(fl.xs[:, 0], 1.5 * np.exp(-2 * t), rtol=1e-10, atol=0)


def test_rotation_keeps_radius_and_phase():
    fl = integrate_flow(lambda x: np.array([-x[1], x[0]]), [1.0, 0.0], 2 * np.pi, t_eval=[np.pi / 2, 2 * np.pi])
    assert np.allclose(fl.xs, [[0.0, 1.0], [1.0, 0.0]], atol=1e-9)


def test_gradient_flow_of_quadratic_is_matrix_exponential():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    grad = compile_gradient(quadratic([[2, 1], [1, 3]]))
    w0 = np.array([1.0, -2.0])
    fl = gradient_flow(grad, w0, 1.5, t_eval=[0.5, 1.5])
    for t, x in zip([0.5, 1.5], fl.xs):
        assert np.allclose(x, expm(-A * t) @ w0, rtol=1e-9, atol=1e-12)


def test_logistic_flow_of_derived_field():
    """x' = x (1 - x): exact solution x0 e^t / (1 - x0 + x0 e^t)."""
    w = sp.Symbol("w", real=True)
    field = compile_expr(sp.Matrix([w * (1 - w)]), (w,))
    t = np.array([0.5, 1.0, 4.0])
    fl = integrate_flow(field, [0.1], 4.0, t_eval=t)
    exact = 0.1 * np.exp(t) / (0.9 + 0.1 * np.exp(t))
    assert np.allclose(fl.xs[:, 0], exact, rtol=1e-10)
    assert np.allclose(fl.at(1.0), exact[1])


def test_blow_up_is_a_divergence_not_nan():
    # x' = x^2 from 1 blows up at t = 1
    with pytest.raises(DivergenceError, match="diverged at step") as info:
        integrate_flow(lambda x: x**2, [1.0], 2.0)
    assert "t = 1" in str(info.value)


def test_bad_inputs():
    with pytest.raises(InputError, match="'x0'"):
        integrate_flow(lambda x: x, [[1.0]], 1.0)
    with pytest.raises(InputError, match="'t_end'"):
        integrate_flow(lambda x: x, [1.0], 0.0)


def test_gradient_flow_decreases_loss():
    loss = quadratic([[1, 0], [0, 5]])
    g = compile_expr(gradient(loss).expr, loss.variables)
    fl = gradient_flow(g, [1.0, 1.0], 2.0, t_eval=np.linspace(0, 2, 9))
    E = 0.5 * (fl.xs[:, 0]**2 + 5 * fl.xs[:, 1]**2)
    assert np.all(np.diff(E) < 0)
