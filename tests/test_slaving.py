"""The slaved modified field of a spec with state, checked against the tree-level series,
closed forms derived independently here, and simulated iterates (measured orders)."""
import dataclasses

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp

from analytic import bea
from analytic.errors import InputError
from analytic.models import get_model
from analytic.optimizers import GD, SAM, Adam, HeavyBall, Nesterov, RMSProp
from analytic.slaving import slaved_field
from analytic.spec_stability import _is_counter, _leaves, _rebuild
from analytic.symbols import H
from numeric.compile import compile_expr
from numeric.driver import run
from numeric.order import loglog_slope


@pytest.mark.parametrize("spec", [GD(H), HeavyBall(H, "beta"), Nesterov(H, "beta")], ids=str)
def test_equals_the_tree_level_series(spec):
    loss = get_model("linear2d")
    field = slaved_field(spec, loss, 2)
    series = bea.modified_loss(spec, loss, 2)
    assert field.meta["calculus"] == "local"
    for j in range(3):
        assert sp.simplify(field.terms[j] - series.terms[j]) == sp.zeros(2, 1)


def _gradient(expr, variables):
    return sp.Matrix([sp.diff(expr, v) for v in variables])


def test_sam_first_order_is_the_published_regularizer():
    # Unnormalized SAM: the flow is -grad(E + (rho/2 + h/4)|grad E|^2) to first order in (h, rho).
    loss = get_model("sigmoid2d")
    rho = sp.Symbol("rho", positive=True)
    field = slaved_field(SAM(H, rho), loss, 1, small=("rho",))
    E, v = loss.concrete, loss.variables
    g = _gradient(E, v)
    expected = -_gradient(E + (rho / 2 + H / 4) * (g.T * g)[0], v)
    assert sp.simplify(field.expr - expected) == sp.zeros(2, 1)


def test_normalized_sam_leading_regularizer_is_rho_times_the_gradient_norm():
    loss = get_model("sigmoid2d")
    rho = sp.Symbol("rho", positive=True)
    field = slaved_field(SAM(H, rho, normalized=True), loss, 1, small=("rho",))
    E, v = loss.concrete, loss.variables
    g = _gradient(E, v)
    expected = -_gradient(E + H / 4 * (g.T * g)[0] + rho * sp.sqrt((g.T * g)[0]), v)
    point = {v[0]: sp.Rational(7, 10), v[1]: sp.Rational(-3, 10), H: sp.Rational(1, 7), rho: sp.Rational(1, 9)}
    diff = (field.expr - expected).xreplace(point)
    assert max(abs(sp.N(e, 30)) for e in diff) < 1e-25


def _on_manifold(spec, field, h, x0):
    """The state W_0 + h W_1 + ... at x0 for the numeric spec."""
    variables = field.loss.variables
    at = dict(zip(variables, x0))
    init = spec.init(np.array([x0], dtype=float))
    leaves, names, out = _leaves(init), list(field.meta["state"]), []
    k = 0
    for leaf in leaves:
        if _is_counter(leaf):
            out.append(leaf)
            continue
        name = names[k]
        k += 1
        terms = [m[name] for m in field.manifold]
        value = terms[0]
        for j, t in enumerate(terms[1:], start=1):
            value = value + sp.Rational(h) ** j * t
        if isinstance(value, sp.MatrixBase):
            arr = np.array([[float(e.xreplace(at)) for e in value]])
        else:
            arr = float(value.xreplace(at))
        out.append(arr)
    return _rebuild(init, iter(out))


def _errors(spec, field, orders, hs, x0, T):
    loss = field.loss
    grad = compile_expr(_gradient(loss.concrete, loss.variables), loss.variables)
    out = {K: [] for K in orders}
    for h in hs:
        numeric = dataclasses.replace(spec, h=sp.Rational(h))
        steps = int(round(T / h))
        traj = run(numeric, grad, [x0], steps, state=_on_manifold(numeric, field, h, x0))
        assert (traj.diverged_at < 0).all()
        for K in orders:
            F = sum((h ** j * field.terms[j] for j in range(K + 1)), sp.zeros(len(x0), 1))
            f = compile_expr(F, loss.variables)
            sol = solve_ivp(lambda t, y: f(y[None, :])[0], (0, steps * h), x0, t_eval=h * np.arange(steps + 1),
                            method="DOP853", rtol=1e-12, atol=1e-13)
            out[K].append(np.abs(traj.xs[:, 0, :] - sol.y.T).max())
    return out


@pytest.mark.parametrize("spec", [Adam(H, "1/2", "3/5", "1/10", bias_correction=False), RMSProp(H, "1/2", "1/10")], ids=str)
def test_measured_orders_of_adam_and_rmsprop(spec):
    # the iterates start on the derived manifold: the truncated flows of order 0 and 1 must be
    # first- and second-order accurate (log-log slopes 1 and 2)
    field = slaved_field(spec, get_model("sigmoid2d"), 1)
    hs = [0.01, 0.005, 0.0025]
    errors = _errors(spec, field, (0, 1), hs, [1.5, -0.5], 0.5)
    assert abs(loglog_slope(hs, errors[0]) - 1) < 0.2
    assert abs(loglog_slope(hs, errors[1]) - 2) < 0.2


def test_adam_manifold_has_first_order_terms():
    # on the manifold m = g + O(h) and s = g^2 + O(h): the O(h) parts are what the iterates
    # must start from for the order-1 flow to be second-order accurate
    spec = Adam(H, bias_correction=False)
    field = slaved_field(spec, get_model("sigmoid2d"), 1)
    assert field.manifold[0]["m"] != sp.zeros(2, 1) and field.manifold[1]["s"] != sp.zeros(2, 1)


def test_bad_input_is_named():
    with pytest.raises(InputError, match="order"):
        slaved_field(GD(H), get_model("linear2d"), 9)
    with pytest.raises(InputError, match="small"):
        slaved_field(SAM(H, "1/10"), get_model("linear2d"), 1, small=("rho",))
    with pytest.raises(InputError, match="loss"):
        slaved_field(GD(H), "E = x**2", 1)


def test_assumptions_are_escaped_for_latex_text_mode():
    # the regime step is printed inside \text{...}: a raw ^ or _ there stops pdflatex
    from analytic.optimizers import Adam
    f = slaved_field(Adam(H, "1/2", "3/5", "1/10"), get_model("sigmoid2d"), 0)
    text = f.derivation_latex()
    start = text.index(r"\text{hyperparameters")
    assumption = text[start:text.index("&&", start)]
    assert "far into the run" in assumption and "E_i" not in assumption and "c^k" not in assumption
    assert r"c\^{}k" in assumption and r"E\_i" in assumption
