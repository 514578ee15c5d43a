"""Tests of numeric.mlp: gradient and Hessian-vector products against finite differences
and against an exact SymPy Hessian of a tiny network, Gauss-Newton products against an
explicitly assembled J M J^T, Lanczos against dense eigenvalues, divergence detection."""
import numpy as np
import pytest
import sympy as sp

from analytic.errors import DivergenceError, InputError
from numeric.mlp import MLP, one_hot, softmax, softmax_hessian_norms, top_eigenvalue, train_gd
from verify.cli import main

CASES = [((3, 4, 3), "cross_entropy", "tanh"), ((3, 4, 5, 3), "cross_entropy", "softplus"),
         ((3, 4, 3), "squared", "tanh"), ((3, 5, 2, 3), "squared", "tanh")]


def _problem(sizes, loss, act, seed=0):
    net = MLP(sizes, activation=act, loss_name=loss)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(6, sizes[0]))
    y = rng.integers(0, sizes[-1], size=6)
    return net, net.init(seed, scale=1.5), X, y


@pytest.mark.parametrize("sizes,loss,act", CASES)
def test_gradient_matches_central_differences(sizes, loss, act):
    net, th, X, y = _problem(sizes, loss, act)
    _, g = net.loss_and_grad(th, X, y)
    h = 1e-6
    E = np.eye(net.n_params)
    fd = np.array([(net.loss(th + h * e, X, y) - net.loss(th - h * e, X, y)) / (2 * h) for e in E])
    assert np.max(np.abs(fd - g)) < 1e-8 * max(1.0, np.abs(g).max())


@pytest.mark.parametrize("sizes,loss,act", CASES)
def test_hvp_matches_differences_of_the_gradient(sizes, loss, act):
    net, th, X, y = _problem(sizes, loss, act, seed=1)
    v = np.random.default_rng(5).normal(size=net.n_params)
    Hv = net.hvp(th, X, y, v)
    errs = []
    for h in (1e-3, 1e-4):   # central differences: error O(h^2), so it must shrink ~100x
        fd = (net.loss_and_grad(th + h * v, X, y)[1] - net.loss_and_grad(th - h * v, X, y)[1]) / (2 * h)
        errs.append(np.max(np.abs(fd - Hv)))
    assert errs[1] < 1e-6 * max(1.0, np.abs(Hv).max())
    assert errs[1] < errs[0] / 30


def _sympy_hessian(net, th, X, y):
    """Exact Hessian of the tiny net's loss, from SymPy differentiation of the formula for
    one generic sample (symbolic input and target), evaluated per sample and averaged."""
    d, h, K = net.sizes
    syms = sp.symbols(f"t0:{net.n_params}", real=True)
    xs = sp.symbols(f"x0:{d}", real=True)
    x = sp.Matrix(1, d, xs)
    q = sp.symbols(f"q0:{K}", real=True)
    W1 = sp.Matrix(d, h, syms[:d * h])
    b1 = sp.Matrix(1, h, syms[d * h:d * h + h])
    i = d * h + h
    W2 = sp.Matrix(h, K, syms[i:i + h * K])
    b2 = sp.Matrix(1, K, syms[i + h * K:])
    z = (x * W1 + b1).applyfunc(sp.tanh) * W2 + b2
    if net.loss_name == "squared":
        ell = sum((z[k] - q[k]) ** 2 for k in range(K)) / 2
    else:
        ell = sp.log(sum(sp.exp(z[k]) for k in range(K))) - sum(q[k] * z[k] for k in range(K))
    f = sp.lambdify((syms, xs, q), sp.hessian(ell, syms), "numpy", cse=True)
    Q = one_hot(y, K)
    return np.mean([np.array(f(th, X[n], Q[n]), dtype=float) for n in range(len(X))], axis=0)


@pytest.mark.parametrize("loss", ["cross_entropy", "squared"])
def test_hvp_equals_exact_dense_hessian_on_a_tiny_net(loss):
    net = MLP((2, 2, 2), loss_name=loss)
    th = net.init(3, scale=1.3)
    X = np.array([[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8]])
    y = np.array([0, 1, 1])
    H_exact = _sympy_hessian(net, th, X, y)
    H_rop = np.stack([net.hvp(th, X, y, e) for e in np.eye(net.n_params)], axis=1)
    assert np.max(np.abs(H_rop - H_exact)) < 1e-12 * max(1.0, np.abs(H_exact).max())


@pytest.mark.parametrize("sizes,loss,act", CASES)
def test_gauss_newton_product_matches_explicit_JMJt(sizes, loss, act):
    net, th, X, y = _problem(sizes, loss, act, seed=2)
    J = net.logit_jacobians(th, X)
    # J itself against finite differences of the logits
    h = 1e-6
    fdJ = np.stack([(net.logits(th + h * e, X) - net.logits(th - h * e, X)) / (2 * h)
                    for e in np.eye(net.n_params)], axis=1)
    assert np.max(np.abs(fdJ - J)) < 1e-7
    M = net.logit_hessians(th, X)
    G = np.einsum("npk,nkl,nql->pq", J, M, J) / X.shape[0]
    Gcols = np.stack([net.gnvp(th, X, y, e) for e in np.eye(net.n_params)], axis=1)
    assert np.max(np.abs(Gcols - G)) < 1e-13 * max(1.0, np.abs(G).max())
    v = np.random.default_rng(0).normal(size=net.n_params)
    assert np.allclose(net.jvp(th, X, v), np.einsum("npk,p->nk", J, v), atol=1e-13)
    assert np.allclose(net.logit_jacobian_grams(th, X), J.transpose(0, 2, 1) @ J, rtol=1e-12, atol=1e-13)


def test_hessian_minus_gauss_newton_is_the_residual_term_for_squared_loss_at_a_fit():
    # at a point where the residuals vanish, H = G exactly (the second term is weighted by them)
    net = MLP((3, 4, 2), loss_name="squared")
    th = net.init(0)
    X = np.random.default_rng(1).normal(size=(5, 3))
    Y = net.logits(th, X)               # targets equal the outputs: zero residual
    H = np.stack([net.hvp(th, X, Y, e) for e in np.eye(net.n_params)], axis=1)
    G = np.stack([net.gnvp(th, X, Y, e) for e in np.eye(net.n_params)], axis=1)
    assert np.max(np.abs(H - G)) < 1e-14
    Y2 = Y + 0.5                        # non-zero residuals: they differ
    H2 = np.stack([net.hvp(th, X, Y2, e) for e in np.eye(net.n_params)], axis=1)
    assert np.max(np.abs(H2 - G)) > 1e-3


def test_lanczos_matches_dense_eigenvalue():
    net, th, X, y = _problem((4, 6, 3), "cross_entropy", "tanh", seed=4)
    H = np.stack([net.hvp(th, X, y, e) for e in np.eye(net.n_params)], axis=1)
    lam, u = top_eigenvalue(lambda v: net.hvp(th, X, y, v), net.n_params, seed=1, tol=1e-12)
    assert np.isclose(lam, np.linalg.eigvalsh(0.5 * (H + H.T))[-1], rtol=1e-9)
    assert np.isclose(np.linalg.norm(u), 1.0) and np.allclose(H @ u, lam * u, atol=1e-8)


def test_training_detects_divergence():
    net = MLP((2, 3, 2), loss_name="squared")
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    rec = train_gd(net, net.init(0), X, [0, 1], eta=50.0, steps=200)
    assert rec.diverged_at[0] > 0 and np.isfinite(rec.xs).all()
    with pytest.raises(DivergenceError, match=f"diverged at step {rec.diverged_at[0]}"):
        rec.check("GD")
    ok = train_gd(net, net.init(0), X, [0, 1], eta=0.1, steps=200, log_every=50)
    assert ok.diverged_at[0] == -1 and net.loss(ok.final[0], X, [0, 1]) < net.loss(ok.xs[0, 0], X, [0, 1])
    assert ok.check() is ok and ok.steps.tolist() == [0, 50, 100, 150, 200]


def test_training_is_deterministic_per_seed():
    net = MLP((3, 4, 2))
    X = np.random.default_rng(0).normal(size=(8, 3))
    y = np.arange(8) % 2
    a = train_gd(net, net.init(7), X, y, 0.5, 30).final
    b = train_gd(net, net.init(7), X, y, 0.5, 30).final
    c = train_gd(net, net.init(8), X, y, 0.5, 30).final
    assert np.array_equal(a, b) and not np.allclose(a, c)


@pytest.mark.parametrize("kwargs,arg", [({"sizes": (3,)}, "sizes"), ({"sizes": (3, 0, 2)}, "sizes"),
                                        ({"sizes": (3, 2), "activation": "relu6"}, "activation"),
                                        ({"sizes": (3, 2), "loss_name": "hinge"}, "loss_name")])
def test_bad_network_arguments(kwargs, arg):
    with pytest.raises(InputError, match=arg):
        MLP(**kwargs)


def test_bad_training_arguments():
    net = MLP((2, 2))
    with pytest.raises(InputError, match="eta"):
        train_gd(net, net.init(0), np.eye(2), [0, 1], eta=-1.0, steps=3)
    with pytest.raises(InputError, match="theta"):
        net.loss(np.zeros(3), np.eye(2), [0, 1])
    with pytest.raises(InputError, match="labels"):
        one_hot([0, 5], 2)


def test_softmax_hessian_norms_against_eigvalsh():
    rng = np.random.default_rng(0)
    for K in (2, 3, 7):
        P = rng.dirichlet(np.full(K, 0.7), size=500)
        P = np.vstack([P, np.eye(K)[0], np.full(K, 1 / K)])          # a vertex and the centre
        M = P[:, :, None] * np.eye(K) - P[:, :, None] * P[:, None, :]
        assert np.max(np.abs(softmax_hessian_norms(P) - np.linalg.eigvalsh(M)[:, -1])) < 1e-15
    tie = np.array([[0.4, 0.4, 0.2]])
    assert softmax_hessian_norms(tie)[0] == pytest.approx(0.4, abs=1e-16)
    assert softmax(np.array([[1000.0, 1000.0]])).tolist() == [[0.5, 0.5]]


def test_fast_claims_pass_in_quick_mode(capsys):
    assert main(["verify", "--quick", "--only", "seed001.impurity-bounds",
                 "seed001.lambda-star-identity", "--no-report"]) == 0
    assert "PASS" in capsys.readouterr().out
