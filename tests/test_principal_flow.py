"""The principal flow of GD on quadratics, and the engine's all-order agreement with it."""
import numpy as np
import pytest
import scipy.linalg
import sympy as sp

from analytic.bea import H, evaluate_field, modified_field, tree_coefficients
from analytic.errors import InputError
from analytic.models import quadratic
from analytic.optimizers import GD
from analytic.principal_flow import principal_flow, principal_flow_series
from analytic.trees import LEAF, RootedTree


def test_chain_coefficients_are_the_log_series():
    # on a quadratic only chains H^p g survive; log(1 - h lam)/h = -sum h^p lam^(p+1)/(p+1)
    K = 6
    lam = sp.Symbol("lambda", real=True)
    series = sp.Poly(principal_flow_series(K, lam), H)
    coef = tree_coefficients(GD(H), K)
    chain = LEAF
    for p in range(K + 1):
        assert coef[chain] == series.coeff_monomial(H ** p).coeff(lam, p + 1)
        chain = RootedTree((chain,))


def test_engine_field_on_quadratic_is_truncated_log():
    A = sp.Matrix([[2, 1], [1, 3]])
    loss = quadratic(A)
    mf = evaluate_field(modified_field(GD(H), 4), loss)
    x = sp.Matrix(loss.variables)
    expected = -sum((H ** p * A ** (p + 1) / (p + 1) for p in range(5)), sp.zeros(2, 2)) * x
    assert (mf.field() - expected).applyfunc(sp.expand) == sp.zeros(2, 1)


@pytest.mark.parametrize("h", [0.1, 0.19])          # h*lambda = 1.5 and 2.85 > 1 for lambda = 15
def test_gd_iterates_lie_on_the_principal_flow_exactly(h):
    A = np.array([[1.0, 0.0], [0.0, 15.0]])
    res = principal_flow(sp.Matrix([[1, 0], [0, 15]]), sp.nsimplify(h))
    assert res.meta["oscillating"] == (15,)
    B = np.array(res.expr.evalf(30).tolist(), dtype=complex)
    x0 = np.array([1.0, -0.5])
    x = x0.copy()
    for k in range(1, 25):
        x = x - h * A @ x
        X = scipy.linalg.expm(k * h * B) @ x0
        assert np.allclose(X.imag, 0, atol=1e-10 * max(1.0, np.abs(x).max()))
        assert np.allclose(X.real, x, rtol=1e-9, atol=1e-12)


def test_principal_flow_rejects_singular_step():
    with pytest.raises(InputError):
        principal_flow([[2]], sp.Rational(1, 2))
    with pytest.raises(InputError):
        principal_flow([[1, 2], [0, 1]])
