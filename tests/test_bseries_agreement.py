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


def _bseries_field(loss, K):
    f = np.array([-sp.diff(loss.concrete, v) for v in loss.variables], dtype=object)
    series = bs.modified_equation(list(loss.variables), f, np.array([[0]]), np.array([1]), order=K + 1)
    return sp.Matrix([sp.sympify(e).subs(bs.h, H) for e in series])


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
    ref = _bseries_field(loss, K)
    diff = ours - ref
    for pt in ({"w1": 1.3, "w2": -0.4}, {"w1": 6.0, "w2": 2.0}):
        subs = {v: sp.Float(pt[v.name], 30) for v in loss.variables}
        subs[H] = sp.Rational(1, 3)
        assert max(abs(complex(e.evalf(30, subs=subs))) for e in diff) < 1e-20
