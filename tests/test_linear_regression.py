"""Least-squares GD in the SVD basis against simulated iterates."""
import numpy as np
import pytest
import sympy as sp

from analytic.linear_regression import (A0, A_STAR, EPS, ETA_LR, K, N, SIGMA, T, Z_J, early_stopping,
                                        expected_error, flow_solution, gd_solution, minimum_norm_limit)
from analytic.optimizers import GD
from numeric.compile import compile_expr
from numeric.simulate import simulate

SIGMA1 = sp.Symbol("sigma_1", positive=True)


def _problem(seed, n=8, d=20):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.normal(size=n)
    return rng, X, y


def _grad(X, Y):
    return lambda B: (B @ X.T - Y) @ X / X.shape[0]


def test_gd_closed_form_equals_iterates():
    _, X, y = _problem(0)
    n = X.shape[0]
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    eta = 0.8 * n / s[0]**2
    tr = simulate(GD(eta), _grad(X, y[None]), np.zeros((1, X.shape[1])), 30)
    f = compile_expr(gd_solution().expr.subs(A0, 0), (SIGMA, Z_J, ETA_LR, N, K))
    for k in (1, 5, 30):
        pts = np.column_stack([s, U.T @ y, np.full(n, eta), np.full(n, n), np.full(n, k)])
        assert np.allclose(tr.xs[k, 0], Vt.T @ f(pts), atol=1e-12)


def test_minimum_norm_limit():
    assert minimum_norm_limit().expr == Z_J / SIGMA
    _, X, y = _problem(1)
    n = X.shape[0]
    s = np.linalg.svd(X, compute_uv=False)
    eta = n / s[0]**2
    tr = simulate(GD(eta), _grad(X, y[None]), np.zeros((1, X.shape[1])), 4000, record_every=None)
    beta = tr.final[0]
    assert np.max(np.abs(beta - np.linalg.pinv(X) @ y)) < 1e-10
    # any other interpolant has a larger norm
    other = beta + (np.eye(X.shape[1]) - np.linalg.pinv(X) @ X) @ np.ones(X.shape[1])
    assert np.allclose(X @ other, y) and np.linalg.norm(other) > np.linalg.norm(beta)


def test_flow_is_first_order_limit_of_gd():
    _, X, y = _problem(2)
    n = X.shape[0]
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    flow = compile_expr(flow_solution().expr.subs(A0, 0), (SIGMA, Z_J, N, T))
    errors = []
    for eta in (0.004, 0.002):
        steps = int(round(0.5 / eta))
        tr = simulate(GD(eta), _grad(X, y[None]), np.zeros((1, X.shape[1])), steps, record_every=None)
        pts = np.column_stack([s, U.T @ y, np.full(n, n), np.full(n, 0.5)])
        errors.append(np.max(np.abs(tr.final[0] @ Vt.T - flow(pts))))
    order = np.log(errors[0] / errors[1]) / np.log(2)
    assert 0.9 < order < 1.1


def test_expected_error_monte_carlo():
    rng = np.random.default_rng(3)
    n, d, eps, paths = 6, 15, 0.3, 6000
    X = rng.normal(size=(n, d))
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    beta_star = rng.normal(size=d)
    b_star2 = np.sum(beta_star**2) - np.sum((Vt @ beta_star)**2)
    eta, k = 0.5 * n / s[0]**2, 12
    Y = (X @ beta_star)[None] + eps * rng.normal(size=(paths, n))
    tr = simulate(GD(eta), _grad(X, Y), np.zeros((paths, d)), k, record_every=None)
    e = ((tr.final - beta_star)**2).sum(1)
    f = compile_expr(expected_error(discrete=True).expr, (SIGMA, A_STAR, EPS, ETA_LR, N, K))
    pts = np.column_stack([s, Vt @ beta_star, np.full(n, eps), np.full(n, eta), np.full(n, n), np.full(n, k)])
    pred = b_star2 + f(pts).sum()
    assert abs(e.mean() - pred) < 4 * e.std() / np.sqrt(paths)
    # dropping the noise term is detectably wrong
    signal = compile_expr(expected_error(discrete=True).meta["signal"], (SIGMA, A_STAR, EPS, ETA_LR, N, K))
    assert abs(e.mean() - b_star2 - signal(pts).sum()) > 4 * e.std() / np.sqrt(paths)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_early_stopping_bound_and_minimizer(seed):
    from scipy.optimize import minimize_scalar
    rng = np.random.default_rng(seed)
    n, eps = 10, 10**rng.uniform(-2, -1)
    s = np.sqrt(n * np.sort(10**rng.uniform(-2, 1, n))[::-1])
    res = early_stopping()
    subs = {N: n, SIGMA1: s[0], EPS: eps}
    T0 = float(res.expr.subs(subs))
    bound = sp.lambdify(T, res.meta["bound"].subs(subs))
    opt = minimize_scalar(bound, bounds=(1e-6, 50 * T0), method="bounded", options={"xatol": 1e-10})
    assert abs(opt.x - T0) < 1e-5 * max(1, T0)
    assert np.isclose(bound(T0), float(res.meta["bound_at_T0"].subs(subs)))
    # exact E e(t) for beta* = v_1 never exceeds the bound
    ts = np.linspace(0, 20 * T0, 400)
    exact = np.exp(-2 * s[0]**2 * ts / n) + (eps**2 / s[:, None]**2 * (1 - np.exp(-s[:, None]**2 * ts / n))**2).sum(0)
    assert np.all(exact <= bound(ts) + 1e-15)
