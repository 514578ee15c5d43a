"""Agreement with the reference package ``bseries`` (ketch/BSeries; import name ``BSeries``).

Explicit Euler applied to x' = -grad E is GD, so ``BSeries.bs.modified_equation``
must give the engine's GD field.  ``bseries`` is a benchmark extra, not a test
dependency: without it this module is skipped (the always-on independent checks
are in test_bea.py, test_principal_flow.py and test_order.py).
"""
import numpy as np
import pytest
import sympy as sp

bs = pytest.importorskip("BSeries.bs")

from analytic.bea import H, evaluate_field, modified_field  # noqa: E402
from analytic.models import linear2d, sigmoid2d  # noqa: E402
from analytic.optimizers import GD  # noqa: E402
from numeric.compile import compile_expr  # noqa: E402


def _bseries_field(loss, K, rename=True):
    f = np.array([-sp.diff(loss.concrete, v) for v in loss.variables], dtype=object)
    series = bs.modified_equation(list(loss.variables), f, np.array([[0]]), np.array([1]), order=K + 1)
    out = sp.Matrix([sp.sympify(e) for e in series])
    return out.subs(bs.h, H) if rename else out


def test_gd_matches_bseries_to_order_5_on_linear2d():
    loss = linear2d()
    K = 5
    ours = evaluate_field(modified_field(GD(H), K), loss).field()
    ref = _bseries_field(loss, K)
    assert (ours - ref).applyfunc(sp.expand) == sp.zeros(2, 1)


def test_gd_matches_bseries_to_order_5_on_sigmoid2d_numerically():
    loss = sigmoid2d()
    K = 5
    ours = evaluate_field(modified_field(GD(H), K), loss).field()
    ref = _bseries_field(loss, K, rename=False)         # its step symbol is bs.h
    # float64 evaluation at several points (w1, w2, h); relative to the size of the field
    pts = np.array([[1.3, -0.4, 0.3], [6.0, 2.0, 0.1], [-2.0, 0.7, 0.5], [0.2, 3.0, 0.05]])
    a = compile_expr(ours, (*loss.variables, H))(pts)
    b = compile_expr(ref, (*loss.variables, bs.h))(pts)
    assert np.max(np.abs(a - b)) <= 1e-10 * np.max(np.abs(a))
    assert np.max(np.abs(a)) > 1e-3
