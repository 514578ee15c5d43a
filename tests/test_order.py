"""Always-on numeric checks: measured orders of the modified flows (independent of bseries)."""
import numpy as np
import pytest
import sympy as sp

from analytic.bea import H, tree_coefficients
from analytic.errors import InputError
from analytic.models import sigmoid2d
from analytic.optimizers import GD, HeavyBall, Nesterov
from analytic.trees import DifferentialEvaluator, trees_up_to
from numeric.compile import compile_gradient
from numeric.order import TreeFields, flow_errors, loglog_slope, momentum_iterates


def _measured_slopes(spec, beta, gamma, orders=(0, 1, 2, 3)):
    loss = sigmoid2d()
    ev = DifferentialEvaluator({0: loss.concrete}, loss.variables)
    trees = trees_up_to(max(orders) + 1)
    fields = TreeFields({t: ev(t) for t in trees}, loss.variables)
    coef = tree_coefficients(spec, max(orders))
    etas = np.array([0.04, 0.02, 0.01])
    rows, hs, Ks, steps = [], [], [], []
    for K in orders:
        for eta in etas:
            h = eta * (1 - beta)
            rows.append([float(coef[t]) * h ** (t.order - 1) if t.order <= K + 1 else 0.0 for t in trees])
            hs.append(h); Ks.append(K); steps.append(int(round(0.4 / eta)))
    errors = flow_errors(fields, compile_gradient(loss), np.array(rows), np.array(hs), np.full(len(hs), beta),
                         [2.0, 1.0], np.array(steps), gamma=np.full(len(hs), gamma))
    Ks = np.array(Ks)
    return [loglog_slope(np.array(hs)[Ks == K], errors[Ks == K]) for K in orders]


@pytest.mark.parametrize("name", ["gd", "heavy-ball", "nesterov"])
def test_modified_flow_orders_are_measured(name):
    beta = 0.0 if name == "gd" else 0.5
    spec = {"gd": GD(H), "heavy-ball": HeavyBall(H, sp.Rational(1, 2)), "nesterov": Nesterov(H, sp.Rational(1, 2))}[name]
    gamma = beta if name == "nesterov" else 0.0
    slopes = _measured_slopes(spec, beta, gamma)
    for K, s in enumerate(slopes):
        assert abs(s - (K + 1)) < 0.25, (K, slopes)


def test_loglog_slope_rejects_bad_errors():
    with pytest.raises(InputError):
        loglog_slope([0.1, 0.05], [1e-3, 0.0])


def test_momentum_iterates_match_the_spec_update():
    from numeric.simulate import simulate
    grad = compile_gradient(sigmoid2d())
    xs = momentum_iterates(grad, [0.01, 0.005], [0.0, 0.5], [6.0, 2.0], 50)
    ref = simulate(HeavyBall(0.005, 0.5), grad, [[6.0, 2.0]], 50).xs[:, 0, :]
    assert np.allclose(xs[:, 1, :], ref, rtol=0, atol=1e-13)
