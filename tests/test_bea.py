"""Backward error analysis: abstract vs concrete, order-1 reproductions, certificates."""
import numpy as np
import pytest
import sympy as sp

from analytic.bea import H, evaluate_field, modified_field, modified_loss, sgd_tree_coefficients, tree_coefficients
from analytic.calculus import grad_norm_squared
from analytic.errors import InputError
from analytic.loss import Loss, parse_loss
from analytic.models import least_squares, linear2d, quadratic, sigmoid2d
from analytic.optimizers import GD, SGD, HeavyBall, Nesterov
from analytic.potential import gradient_certificate
from analytic.trees import LEAF, RootedTree, recolor, trees_up_to

BETA = sp.Symbol("beta", real=True)


# -- an independent concrete derivation: Lie series, no trees ---------------------------

def _lie_flow(field, variables, tau, order):
    """phi_tau(x) = sum_k tau^k/k! L^k x, L u = (Du) field, truncated at h^(order+1)."""
    x = sp.Matrix(variables)
    out, term = x.copy(), x.copy()
    for k in range(1, order + 2):
        term = term.jacobian(variables) * field
        term = term.applyfunc(lambda e: _truncate(e, order + 1 - k))
        out += tau ** k / sp.factorial(k) * term
    return out.applyfunc(lambda e: _truncate(sp.expand(e), order + 1))


def _truncate(e, top):
    e = sp.expand(e)
    return sum((e.coeff(H, p) * H ** p for p in range(0, top + 1)), sp.Integer(0))


def _lie_series_field(loss, beta, order):
    """Solve phi_h(x) = x + beta (x - phi_{-h}(x)) - h grad E(x) order by order in h."""
    v = loss.variables
    g = sp.Matrix([sp.diff(loss.concrete, s) for s in v])
    terms = [-g / (1 - beta)]
    for p in range(1, order + 1):
        field = sum((H ** q * terms[q] for q in range(p)), sp.zeros(len(v), 1))
        plus = _lie_flow(field, v, H, p)
        minus = _lie_flow(field, v, -H, p)
        residual = plus - sp.Matrix(v) - beta * (sp.Matrix(v) - minus) + H * g
        # the unknown h^p f_p enters the residual as (1 - beta) h^(p+1) f_p
        rp = residual.applyfunc(lambda e: sp.expand(e).coeff(H, p + 1))
        terms.append((-rp / (1 - beta)).applyfunc(sp.expand))
    return terms


@pytest.mark.parametrize("spec, beta, order", [(GD(H), 0, 3), (HeavyBall(H, sp.Rational(1, 2)), sp.Rational(1, 2), 2),
                                               (HeavyBall(H, BETA), BETA, 2)])
def test_abstract_evaluated_equals_concrete_lie_series(spec, beta, order):
    # a small quartic: every derivative up to the fourth is nonzero, so all trees count
    loss = parse_loss("w1**4/12 + w1*w2**2/2 + w2", "w1,w2")
    mf = evaluate_field(modified_field(spec, order), loss)
    reference = _lie_series_field(loss, beta, order)
    for p in range(order + 1):
        diff = (mf.terms[p] - reference[p]).applyfunc(lambda e: sp.cancel(sp.expand(e)))
        assert diff == sp.zeros(2, 1), p


def test_gd_order2_coefficients():
    c = tree_coefficients(GD(H), 2)
    chain = RootedTree((RootedTree((LEAF,)),))
    cherry = RootedTree((LEAF, LEAF))
    # literature: -h^2 (1/3 H^2 g + 1/12 T(g,g))  (Hairer, Lubich & Wanner IX.1; Barrett & Dherin 2021)
    assert (c[LEAF], c[RootedTree((LEAF,))], c[chain], c[cherry]) == (-1, sp.Rational(-1, 2),
                                                                     sp.Rational(-1, 3), sp.Rational(-1, 12))
    assert modified_field(GD(H), 2).abstract_str(2) == "h**2*((-1/12)*T(g, g) + (-1/3)*H^2 g)"


def test_igr_gd_order1_on_sigmoid():
    loss = sigmoid2d()
    mf = modified_loss(GD(H), loss, 1)
    assert mf.certificates == (True, True)
    G = grad_norm_squared(loss, simplify=False).expr
    assert sp.simplify(mf.modified_loss - (loss.concrete + H / 4 * G)) == 0


def test_igr_m_heavy_ball_order1():
    loss = linear2d()
    mf = modified_loss(HeavyBall(H, BETA), loss, 1)
    assert sp.simplify(mf.time_scale - 1 / (1 - BETA)) == 0
    G = grad_norm_squared(loss, simplify=False).expr
    expected = loss.concrete + H * (1 + BETA) / (4 * (1 - BETA) ** 2) * G
    assert sp.simplify(mf.modified_loss - expected) == 0
    assert mf.meta["potential_check"] in ("exact", "numeric")


def test_smith_sgd_regularizer():
    loss = least_squares([[1, 0], [0, 2], [1, 1], [2, -1]], [1, 0, 2, -1])
    m = 2
    mf = modified_loss(SGD(H, m), loss, 1)
    batches = [(loss.terms[0] + loss.terms[1]) / 2, (loss.terms[2] + loss.terms[3]) / 2]
    reg = sum(grad_norm_squared(Loss(b, loss.variables)).expr for b in batches) / (4 * m)
    assert sp.expand(mf.potential[1] - reg) == 0
    assert sp.expand(mf.potential[0] - loss.expr) == 0


def test_sgd_with_one_batch_is_gd():
    sgd = sgd_tree_coefficients(1, 3)
    gd = tree_coefficients(GD(H), 3)
    for t in trees_up_to(4):
        assert sgd[recolor(t, {0: 1})] == gd[t]


def test_sgd_general_order_matches_epoch_average():
    # two batches: the average over both orderings is exact; local error O(h^(K+2))
    from numeric.compile import compile_expr, compile_gradient
    from numeric.flows import integrate_flow
    from numeric.order import loglog_slope
    loss = parse_loss("1", "w1,w2")
    t1, t2 = (parse_loss(s, "w1,w2") for s in ("(w1*w2 - 1)**2/2 + w1**2/4", "(w1 + w2**2 - 1)**2/2"))
    loss = Loss((t1.expr + t2.expr) / 2, t1.variables, terms=(t1.expr, t2.expr))
    g1, g2 = compile_gradient(t1), compile_gradient(t2)
    x0 = np.array([0.7, -0.4])
    hs = np.array([0.04, 0.02, 0.01])
    for K in (1, 2):
        mf = evaluate_field(modified_field(SGD(H, 2), K), loss)
        errs = []
        for h in hs:
            a = x0 - h * g1(x0); a = a - h * g2(a)
            b = x0 - h * g2(x0); b = b - h * g1(b)
            f = compile_expr(mf.field().subs(H, h), loss.variables)
            X = integrate_flow(f, x0, 2 * h).xs[-1]
            errs.append(np.linalg.norm((a + b) / 2 - X))
        assert abs(loglog_slope(hs, errs) - (K + 2)) < 0.2


def test_certificates():
    # abstract level: order 1 is a gradient for every loss, order 2 not for a generic one
    assert modified_field(GD(H), 2).abstract_certificates() == (True, True, False)
    assert modified_field(SGD(H, 2), 1).abstract_certificates() == (True, True)
    # GD order 2 is not a gradient on linear2d, but is on a quadratic (T = 0)
    mf = modified_loss(GD(H), linear2d(), 2)
    assert mf.certificates == (True, True, False) and mf.modified_loss is None
    q = modified_loss(GD(H), quadratic([[2, 1], [1, 3]]), 3)
    assert q.certificates == (True, True, True, True)
    assert q.meta["potential_check"] == "exact"
    x, y = sp.symbols("x y", real=True)
    assert gradient_certificate(sp.Matrix([y, -x]), (x, y))[0] is False
    assert gradient_certificate(sp.Matrix([2 * x * y, x**2]), (x, y))[0] is True
    # a gradient (of x*y) in disguise: (sin x + cos x)^2 - sin 2x = 1, not provable in 5 ms
    hard = sp.Matrix([y * ((sp.sin(x) + sp.cos(x)) ** 2 - sp.sin(2 * x)), x])
    assert gradient_certificate(hard, (x, y), budget=0.005)[0] is None
    assert gradient_certificate(hard, (x, y), budget=20)[0] is True


def test_nesterov_order1_is_gradient_and_derived():
    mf = modified_loss(Nesterov(H, sp.Rational(1, 2)), linear2d(), 1)
    assert mf.certificates == (True, True)
    c = tree_coefficients(Nesterov(H, BETA), 1)[RootedTree((LEAF,))]
    hb = tree_coefficients(HeavyBall(H, BETA), 1)[RootedTree((LEAF,))]
    assert sp.simplify(c - hb) != 0          # the look-ahead changes the order-1 term


def test_bad_input():
    with pytest.raises(InputError):
        modified_field(GD(H), -1)
    with pytest.raises(InputError):
        modified_field("gd", 1)
    with pytest.raises(InputError):
        evaluate_field(modified_field(SGD(H, 3), 1), least_squares())   # 3 samples: fine
        evaluate_field(modified_field(SGD(H, 2), 1), least_squares())   # 2 does not divide 3


def test_speed_sanity_order5_runs():
    # not a benchmark: K = 5 completes and has the 20 trees with 6 nodes
    mf = modified_field(HeavyBall(H, BETA), 5)
    assert len(mf.coefficients[5]) == 20
