"""SGD with momentum over m batches, order 1: the coloured-tree coefficients against three
independent checks (the SGD epoch composition at beta = 0, heavy ball at m = 1, a closed form
of the correlation weight) and against the exact mean of reshuffled iterates on a quadratic."""
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

from analytic.bea import H, evaluate_field, modified_field, modified_loss, tree_coefficients
from analytic.bea_coefficients import sgd_tree_coefficients
from analytic.errors import InputError
from analytic.models import least_squares
from analytic.optimizers import HeavyBall, SGDMomentum
from analytic.sgd_momentum import correlation_weight, sgd_momentum_tree_coefficients
from analytic.trees import RootedTree
from numeric.epoch_mean import heavy_ball_affine, mean_iterates, reshuffled_epoch_map, slow_generator
from verify.cli import main

BETA = sp.Symbol("beta", real=True)
X = [[1, 0], [0, 2], [1, 1], [2, -1]]
Y = [1, 0, 2, -1]


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_beta_zero_is_the_sgd_epoch_composition(m):
    # two derivations that share nothing: the epoch composition of Euler B-series averaged
    # over orderings (analytic.bea_coefficients) and the mean-path correlation sum
    c = tree_coefficients(SGDMomentum(H, m, beta=BETA), 1)
    s = sgd_tree_coefficients(m, 1)
    assert set(c) == set(s)
    assert all(sp.simplify(c[t].subs(BETA, 0) - s[t]) == 0 for t in s)


def test_one_batch_is_heavy_ball():
    c = tree_coefficients(SGDMomentum(H, 1, beta=BETA), 1)
    hb = tree_coefficients(HeavyBall(H, BETA), 1)
    for t, v in hb.items():
        coloured = RootedTree(tuple(RootedTree((), 1) for _ in t.children), 1)
        assert sp.simplify(c[coloured] - v) == 0


@pytest.mark.parametrize("m", [2, 3, 5, 8])
def test_correlation_weight_closed_form(m):
    # S = (1/m) sum_{l<j} (1 - beta^(j-l))/(1 - beta), summed in closed form by hand:
    # m(m-1)/2 - beta/(1-beta) (m - (1-beta^m)/(1-beta)), over m (m-1) (1-beta) for the weight S/(m-1)
    b = BETA
    closed = (sp.Rational(m * (m - 1), 2) - b / (1 - b) * (m - (1 - b ** m) / (1 - b))) / (m * (m - 1) * (1 - b))
    assert sp.simplify(correlation_weight(b, m) - closed) == 0


def _generator_data(m, beta):
    loss = least_squares(X[:m], Y[:m])
    v = loss.variables
    hess = [np.array(sp.Matrix([sp.diff(t, w) for w in v]).jacobian(v), dtype=float) for t in loss.concrete_terms]
    ev = evaluate_field(modified_field(SGDMomentum(H, m, beta=beta), 1), loss)
    L0, L1 = (np.array(t.jacobian(v), dtype=float) for t in ev.terms)
    return hess, L0, L1


def _slow(hess, beta, h):
    M, _ = reshuffled_epoch_map([heavy_ball_affine(A, np.zeros(A.shape[0]), h, beta) for A in hess])
    return slow_generator(M, len(hess) * h, hess[0].shape[0])


@pytest.mark.parametrize("m,beta", [(3, sp.Rational(1, 2)), (4, sp.Rational(1, 2)), (4, sp.Rational(-3, 10))])
def test_first_order_term_is_the_exact_mean_generator(m, beta):
    # the mean of reshuffled iterates on a quadratic is an exact linear recursion; the generator
    # of its slow subspace is L(h) = L0 + h L1 + O(h^2).  Richardson on (L(h) - L0)/h isolates L1.
    hess, L0, L1 = _generator_data(m, beta)
    h = 2.5e-4
    d1 = (_slow(hess, float(beta), h) - L0) / h
    d2 = (_slow(hess, float(beta), h / 2) - L0) / (h / 2)
    measured = 2 * d2 - d1
    assert np.abs(measured - L1).max() < 2e-5 * np.abs(L1).max()
    # the check can fail: heavy ball's terms with the beta = 0 correlation weight are far off
    c_wrong = sgd_momentum_tree_coefficients(m, sp.Integer(0), 1, tree_coefficients(HeavyBall(H, beta), 1))
    mf = modified_field(SGDMomentum(H, m, beta=beta), 1)
    by_order = tuple({t: c for t, c in c_wrong.items() if t.order == p + 1} for p in range(2))
    loss = least_squares(X[:m], Y[:m])
    wrong = evaluate_field(replace(mf, coefficients=by_order), loss).terms[1].jacobian(loss.variables)
    assert np.abs(measured - np.array(wrong, dtype=float)).max() > 100 * np.abs(measured - L1).max()


def test_mean_iterates_follow_the_order_one_flow_with_slope_two():
    from scipy.integrate import solve_ivp
    from numeric.compile import compile_expr
    from numeric.order import loglog_slope
    m, beta = 4, 0.5
    loss = least_squares(X, Y)
    v = loss.variables
    ev = evaluate_field(modified_field(SGDMomentum(H, m, beta=sp.Rational(1, 2)), 1), loss)
    fields = [compile_expr(t, v) for t in ev.terms]
    grads = [sp.Matrix([sp.diff(t, w) for w in v]) for t in loss.concrete_terms]
    hess = [np.array(g.jacobian(v), dtype=float) for g in grads]
    g0 = [np.array(g.subs({w: 0 for w in v}), dtype=float).ravel() for g in grads]
    x0, T = np.array([2.0, -1.5]), 2.0
    hs = [0.004, 0.002, 0.001]
    errors = {0: [], 1: []}
    for h in hs:
        M, k = reshuffled_epoch_map([heavy_ball_affine(A, c, h, beta) for A, c in zip(hess, g0)])
        gbar = sum(A @ x0 + c for A, c in zip(hess, g0)) / m
        epochs = int(round(T / (m * h)))
        xs = mean_iterates(M, k, np.concatenate([x0, -h * gbar / (1 - beta)]), epochs)[:, :2]
        ts = m * h * np.arange(epochs + 1)
        for order in (0, 1):
            def f(t, x, order=order, h=h):
                return sum(h ** j * np.asarray(fields[j](x), dtype=float).ravel() for j in range(order + 1))
            sol = solve_ivp(f, (0, ts[-1]), x0, t_eval=ts, rtol=1e-11, atol=1e-12, method="DOP853")
            errors[order].append(np.max(np.linalg.norm(xs - sol.y.T, axis=1)))
    assert abs(loglog_slope(hs, errors[0]) - 1) < 0.1
    assert abs(loglog_slope(hs, errors[1]) - 2) < 0.15


def test_modified_loss_exists_and_verifies():
    mf = modified_loss(SGDMomentum(H, 2, beta=sp.Rational(1, 2)), least_squares(X, Y), 1)
    assert mf.modified_loss is not None and mf.time_scale == 2
    assert [t["is_gradient"] for t in mf.json_fields()["terms"]] == [True, True]
    # the potential reproduces the field: f = -s grad E~
    v = mf.loss.variables
    grad = sp.Matrix([sp.diff(mf.modified_loss, w) for w in v])
    assert sp.expand(mf.terms[0] + H * mf.terms[1] + mf.time_scale * grad) == sp.zeros(2, 1)


def test_refusals_name_the_argument():
    with pytest.raises(InputError) as e:
        tree_coefficients(SGDMomentum(H, 2, beta=BETA), 2)
    assert e.value.argument == "order" and "order 1" in e.value.reason
    with pytest.raises(InputError) as e:
        tree_coefficients(SGDMomentum(H, 2, beta=BETA, replacement=True), 1)
    assert "replacement" in e.value.reason
    with pytest.raises(InputError) as e:
        sgd_momentum_tree_coefficients(64, BETA, 1, tree_coefficients(HeavyBall(H, BETA), 1))
    assert e.value.argument == "batches" and "4160" in e.value.reason


def test_cli_derives_sgd_momentum(capsys):
    import json
    argv = ["derive", "modified-loss", "--optimizer", "sgd-momentum", "--batches", "3", "--beta", "1/2",
            "--model", "least_squares", "--order", "1", "--format", "json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["optimizer"] == "sgd-momentum" and out["time_scale"] == "2"
    assert out["modified_loss"] is not None and all(t["is_gradient"] for t in out["terms"])
    assert main(argv[:-3] + ["2", "--format", "json"]) == 2
    assert "--order" in (err := capsys.readouterr().err) and "derived to order 1" in err
