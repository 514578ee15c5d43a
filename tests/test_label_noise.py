"""Label-noise modified loss (analytic.label_noise) and the quadratic network
of seed 003 (numeric.quadratic_net), each against an independent check."""
import numpy as np
import pytest
import sympy as sp
from numpy.polynomial.hermite_e import hermegauss

from analytic.errors import DivergenceError, InputError
from analytic.label_noise import (NORMALIZATIONS, _expectation_by_derivatives, gaussian_expectation,
                                  general_modified_loss, modified_field, modified_loss,
                                  squared_loss_from_predictions, squared_residuals)
from analytic.loss import parse_loss
from analytic.models import least_squares, linear2d, sigmoid2d
from analytic.optimizers import make_optimizer
from numeric.compile import compile_expr
from numeric.quadratic_net import (QuadraticNet, RegressionTask, least_regularizer_of_target, loss_weight,
                                   network, noise_seed, train, training_curves)

H, SIGMA = sp.Rational(1, 10), sp.Rational(1, 2)


def small_loss(normalization="mean"):
    """Three samples of a nonlinear two-parameter model."""
    preds = ["w1*w2*x1 + w1**2", "w1*w2*x2 + w1**2", "w1*w2*x3 + w1**2"]
    return squared_loss_from_predictions(preds, [1, "2/5", -1], "w1,w2", normalization,
                                         params={"x1": 1, "x2": 2, "x3": "-1/2"})


def per_draw_modified_loss(loss, h, sigma):
    """E_xi + h/4 |grad E_xi|^2 as a SymPy expression in the variables and xi_k."""
    s = squared_residuals(loss)
    xi = [sp.Symbol(f"xi_{k + 1}", real=True) for k in range(len(s.residuals))]
    noisy = sum(c * (r - sigma * z) ** 2 for c, r, z in zip(s.weights, s.residuals, xi))
    grad = [sp.diff(noisy, v) for v in loss.variables]
    return noisy + h / 4 * sum(g ** 2 for g in grad), noisy, xi


# ---------------------------------------------------------------- expectation
def test_gaussian_moments_and_independence():
    a, x, y = sp.symbols("a x y")
    assert gaussian_expectation(x ** 4 + x ** 6 + x ** 3 * y, [x, y]) == 3 + 15
    assert gaussian_expectation((a + x * y) ** 2, [x, y]) == a ** 2 + 1
    e = (a * x + y ** 2) ** 3
    assert sp.expand(_expectation_by_derivatives(e, [x, y], 6) - gaussian_expectation(e, [x, y])) == 0


def test_expectation_matches_monte_carlo_of_per_draw_modified_loss():
    loss = small_loss()
    expected = modified_loss(loss, H, SIGMA).expr
    per_draw, _, xi = per_draw_modified_loss(loss, H, SIGMA)
    f_draw = compile_expr(per_draw, tuple(loss.variables) + tuple(xi))
    f_mean = compile_expr(expected, loss.variables)
    rng = np.random.default_rng(0)
    N = 400_000
    for point in ([0.3, -0.7], [1.1, 0.4]):
        Z = rng.standard_normal((N, len(xi)))
        samples = f_draw(np.column_stack([np.tile(point, (N, 1)), Z]))
        mc, se = samples.mean(), samples.std() / np.sqrt(N)
        exact = float(f_mean(np.array(point)))
        assert abs(mc - exact) < 4 * se, (point, mc, exact, se)
    # the test has power: dropping the sigma^2 regularizer moves the prediction by many s.e.
    reg = float(compile_expr(modified_field(loss, H, SIGMA).meta["regularizer"], loss.variables)(np.array(point)))
    assert reg > 10 * se


def test_regularizer_against_finite_differences_and_quadrature():
    """(h/4)(E|grad E_xi|^2 - |grad E|^2), with gradients by central differences and
    the expectation by Gauss-Hermite quadrature (exact for quadratics in xi)."""
    loss = small_loss("mse")
    result = modified_field(loss, H, SIGMA)
    reg = compile_expr(result.meta["regularizer"], loss.variables)
    _, noisy, xi = per_draw_modified_loss(loss, H, SIGMA)
    f = compile_expr(noisy, tuple(loss.variables) + tuple(xi))
    nodes, weights = hermegauss(3)
    weights = weights / weights.sum()
    grid = np.array(np.meshgrid(*[nodes] * len(xi), indexing="ij")).reshape(len(xi), -1).T
    wgrid = np.prod(np.array(np.meshgrid(*[weights] * len(xi), indexing="ij")).reshape(len(xi), -1), axis=0)
    eps = 1e-6
    for point in ([0.3, -0.7], [-1.2, 0.9]):
        def grad_sq(noise):
            P = np.tile(np.concatenate([point, noise]), (2 * len(point), 1))
            for i in range(len(point)):
                P[2 * i, i] += eps
                P[2 * i + 1, i] -= eps
            vals = f(P)
            return sum(((vals[2 * i] - vals[2 * i + 1]) / (2 * eps)) ** 2 for i in range(len(point)))
        expected_sq = sum(w * grad_sq(z) for z, w in zip(grid, wgrid))
        fd = float(H) / 4 * (expected_sq - grad_sq(np.zeros(len(xi))))
        assert np.isclose(fd, float(reg(np.array(point))), rtol=1e-6)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_general_coefficients_match_concrete_losses(normalization):
    general = general_modified_loss(normalization)
    loss = small_loss(normalization)
    result = modified_field(loss, H, SIGMA)
    n = len(loss.terms)
    subs = {s: {"h": H, "sigma": SIGMA, "n": n}[s.name] for s in general.meta["coefficient"].free_symbols}
    kappa = general.meta["coefficient"].subs(subs)
    const = general.meta["constant"].subs({s: {"sigma": SIGMA, "n": n}[s.name]
                                           for s in general.meta["constant"].free_symbols})
    s = squared_residuals(loss)
    grad_sum = sum(sum(sp.diff(r, v) ** 2 for v in loss.variables) for r in s.residuals)
    assert sp.expand(result.meta["regularizer"] - kappa * grad_sum) == 0
    assert result.meta["constant"] == const
    assert result.meta["normalization"] == normalization


def test_mse_normalisation_is_the_blog_formula():
    """Wind (2022): h sigma^2/n^2 sum |grad P|^2 + sigma^2 for L = (1/n) sum r^2."""
    r = general_modified_loss("mse")
    h, sigma, n = (sp.Symbol(k, positive=True) for k in ("h", "sigma", "n"))
    n = sp.Symbol("n", positive=True, integer=True)
    assert sp.simplify(r.meta["coefficient"] - h * sigma ** 2 / n ** 2) == 0
    assert sp.simplify(r.meta["constant"] - sigma ** 2) == 0


# ---------------------------------------------------------------- the field
def test_cli_signature_and_meta():
    spec = make_optimizer("label-noise", "h")
    r = modified_field(linear2d(), spec.h, spec.sigma, 1)
    assert isinstance(r.expr, sp.MatrixBase) and r.expr.shape == (2, 1)
    assert [t["order"] for t in r.meta["terms"]] == [0, 1]
    assert all(set(t) == {"order", "field", "abstract", "abstract_latex", "is_gradient"} for t in r.meta["terms"])
    # the field is minus the gradient of the potential
    pot = r.meta["modified_loss"]
    grad = sp.Matrix([sp.diff(pot, v) for v in linear2d().variables])
    assert sp.simplify(r.expr + grad) == sp.zeros(2, 1)
    assert "\\begin{align}" in r.derivation_latex()
    default = modified_field(linear2d(), None, None, 1)      # symbolic h and sigma when not given
    assert {str(x) for x in default.expr.free_symbols} == {"h", "sigma", "w1", "w2"}


def test_labels_mode_agrees_with_residual_mode():
    a = modified_field(sigmoid2d(), "h", "sigma", labels="y")
    b = modified_field(sigmoid2d(), "h", "sigma")
    w = sigmoid2d().variables
    h, sigma = sp.Symbol("h", positive=True), sp.Symbol("sigma", positive=True)
    diff = (a.meta["modified_loss"] - b.meta["modified_loss"]).subs({h: sp.Rational(1, 7), sigma: sp.Rational(2, 3)})
    values = compile_expr(diff, w)(np.random.default_rng(1).uniform(-2, 2, (20, 2)))
    assert np.max(np.abs(values)) < 1e-12
    assert a.meta["constant"] == b.meta["constant"] == sigma ** 2 / 2


def test_order_two_is_the_expected_per_draw_gd_term():
    """sigma = 0: GD's order-2 term -h^2 (H^2 g/3 + T(g, g)/12) (Barrett & Dherin's
    series, issue 3) on a 1-D quartic; for E = l w^2/2 the series of
    log(1 - h l)/h: -l^(j+1) w/(j+1)."""
    w, h = sp.Symbol("w"), sp.Symbol("h")        # as sympify reads the field strings
    r = modified_field(parse_loss("w**4/4", "w"), "h", 0, order=2)
    g, Hs, T = w ** 3, 3 * w ** 2, 6 * w
    assert sp.expand(sp.sympify(r.meta["terms"][2]["field"][0]) + h ** 2 * (Hs ** 2 * g / 3 + T * g * g / 12)) == 0
    lam = sp.Rational(3, 2)
    r = modified_field(parse_loss("3/4*w**2", "w"), "h", 0, order=4)
    for j, term in enumerate(r.meta["terms"]):
        assert sp.expand(sp.sympify(term["field"][0]) + lam ** (j + 1) * w * h ** j / (j + 1)) == 0


def test_order_two_with_noise_is_an_expectation():
    """The noisy order-2 term equals the Gauss-Hermite average of the noise-free
    order-2 term of the loss with shifted labels (exact: polynomial in xi)."""
    w, h = sp.Symbol("w"), sp.Symbol("h")        # as sympify reads the field strings
    loss = parse_loss("1/2*(w**2 - y)**2", "w", "y=1")
    sigma = sp.Rational(1, 3)
    noisy = modified_field(loss, "h", sigma, order=2, labels="y")
    nodes, weights = hermegauss(4)
    avg = 0
    for z, wt in zip(nodes, weights / weights.sum()):
        shifted = parse_loss("1/2*(w**2 - y)**2", "w", {"y": 1 + float(sigma) * float(z)})
        term = sp.sympify(modified_field(shifted, "h", 0, order=2).meta["terms"][2]["field"][0])
        avg += wt * term.subs(h, 1)
    got = sp.sympify(noisy.meta["terms"][2]["field"][0]).subs(h, 1)
    for wv in (0.3, -1.1):
        assert abs(float(got.subs(w, wv)) - float(avg.subs(w, wv))) < 1e-9


def test_least_squares_and_errors():
    r = modified_field(least_squares(), "h", "sigma")
    assert r.meta["normalization"] == "mean"
    with pytest.raises(InputError, match="loss"):
        modified_field(parse_loss("exp(w)", "w"), "h", "sigma")
    with pytest.raises(InputError, match="order"):
        modified_field(linear2d(), "h", "sigma", order=0)
    with pytest.raises(InputError, match="labels"):
        modified_field(linear2d(), "h", "sigma", labels="z")
    with pytest.raises(InputError, match="normalization"):
        squared_loss_from_predictions(["w"], [1], "w", normalization="median")
    with pytest.raises(InputError, match="sigma"):
        modified_field(linear2d(), "h", -1)


# ---------------------------------------------------------------- the network
def fd_gradient(f, theta, eps=1e-6):
    out = np.zeros_like(theta)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = eps
        out[k] = (f(theta + e) - f(theta - e)) / (2 * eps)
    return out


def random_net(d=3, m=4, seed=0):
    rng = np.random.default_rng(seed)
    return QuadraticNet(rng.standard_normal((1, d, m)), rng.standard_normal((1, m)))


def test_per_sample_gradients_against_finite_differences():
    task = RegressionTask.make(d=3, n_train=5, n_test=2, seed=4)
    net = random_net()
    J = net.per_sample_jacobian(task.X_train)[0]
    theta = net.vector()[0]
    for i in range(task.n):
        f = lambda t: QuadraticNet.from_vector(t, 3, 4).predict(task.X_train[i:i + 1])[0, 0]
        assert np.allclose(J[i], fd_gradient(f, theta), atol=1e-7)
    assert np.allclose((J ** 2).sum(axis=1), net.per_sample_grad_norms(task.X_train)[0], rtol=1e-12)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_loss_gradient_against_finite_differences(normalization):
    task = RegressionTask.make(d=3, n_train=6, n_test=2, seed=5)
    net = random_net(seed=1)
    gA, gb = net.loss_gradient(task.X_train, task.y_train, normalization)
    f = lambda t: QuadraticNet.from_vector(t, 3, 4).loss(task.X_train, task.y_train, normalization)[0]
    fd = fd_gradient(f, net.vector()[0])
    assert np.allclose(np.concatenate([gA[0].ravel(), gb[0]]), fd, rtol=1e-6, atol=1e-7)
    # and the training step is exactly x - h grad
    step = network(train(task, net, 0.01, 1, normalization=normalization), 3)
    assert np.allclose(step.A, net.A - 0.01 * gA) and np.allclose(step.b, net.b - 0.01 * gb)


def test_label_noise_step_is_gd_on_noisy_labels():
    task = RegressionTask.make(d=3, n_train=6, n_test=2, seed=5)
    net = random_net(seed=2)
    run = network(train(task, net, 0.01, 1, sigma=0.5, seed=9), 3)
    noise = np.random.default_rng(noise_seed(9, 31, 0)).standard_normal((1, task.n))   # the driver's draws
    gA, gb = net.loss_gradient(task.X_train, task.y_train + 0.5 * noise)
    assert np.allclose(run.A, net.A - 0.01 * gA) and np.allclose(run.b, net.b - 0.01 * gb)


def test_exact_solution_and_least_regularizer():
    task = RegressionTask.make(d=4, n_train=7, n_test=3, seed=0)
    assert np.allclose(QuadraticNet.exact(4, 5).predict(task.X_test)[0], task.y_test)
    R, v = least_regularizer_of_target(task.X_train, 10)
    spread = QuadraticNet.spread(4, 10, v)
    assert np.allclose(spread.predict(task.X_train)[0], task.y_train)
    assert np.isclose(spread.gradient_regularizer(task.X_train)[0], R)
    for other in (0.5 * v, 2 * v):   # v is the minimiser along the family
        assert QuadraticNet.spread(4, 10, other).gradient_regularizer(task.X_train)[0] > R


def test_determinism_by_seed():
    task = RegressionTask.make(d=3, n_train=8, n_test=2, seed=1)
    assert np.array_equal(task.X_train, RegressionTask.make(d=3, n_train=8, n_test=2, seed=1).X_train)
    assert not np.array_equal(task.X_train, RegressionTask.make(d=3, n_train=8, n_test=2, seed=2).X_train)
    net = QuadraticNet.init(3, m=5, count=2, seed=[0, 1])
    a = train(task, net, 0.02, 30, sigma=1.0, seed=3)
    b = train(task, net, 0.02, 30, sigma=1.0, seed=3)
    c = train(task, net, 0.02, 30, sigma=1.0, seed=4)
    assert np.array_equal(a.xs, b.xs) and not np.array_equal(a.xs, c.xs)


def test_divergence_is_detected_and_frozen():
    task = RegressionTask.make(d=3, n_train=8, n_test=2, seed=1)
    net = QuadraticNet.init(3, m=5, count=1).repeat(2)
    run = train(task, net, np.array([0.01, 50.0]), 200, record_every=10)
    assert run.diverged_at[0] == -1 and run.diverged_at[1] > 0
    loss, _ = training_curves(run, task)
    assert np.isfinite(run.xs).all() and np.isfinite(loss).all() and loss.mask[-1].tolist() == [False, True]
    with pytest.raises(DivergenceError, match="diverged at step"):
        run.check()


def test_bad_inputs_name_the_argument():
    task = RegressionTask.make(d=3, n_train=4, n_test=2)
    net = QuadraticNet.init(3, m=2)
    with pytest.raises(InputError, match="'h'"):
        train(task, net, -0.1, 3)
    with pytest.raises(InputError, match="sigma"):
        train(task, net, 0.1, 3, sigma=-1)
    with pytest.raises(InputError, match="net"):
        train(task, QuadraticNet.init(4, m=2), 0.1, 3)
    with pytest.raises(InputError, match="normalization"):
        loss_weight("median", 3)


def test_simulate_label_noise_step_and_determinism():
    from analytic.optimizers import LabelNoise
    from numeric.label_noise import noisy_gradient, simulate_label_noise
    res = modified_field(linear2d(), "h", "sigma")
    h, sigma = sorted(res.expr.free_symbols - set(linear2d().variables), key=str)
    noisy = res.meta["noisy_loss"].subs(sigma, sp.Rational(1, 2))
    grad = noisy_gradient(noisy, linear2d().variables, res.meta["noises"])
    x0 = np.array([[1.0, 2.0], [0.5, -1.0]])
    run = simulate_label_noise(LabelNoise(0.1, 0.5), grad, 1, x0, 1, seed=3)
    xi = np.random.default_rng(3).standard_normal((2, 1))          # the driver's draws for seed 3
    r = x0[:, 0] * x0[:, 1] - 0.6 + 0.5 * xi[:, 0]     # residual written as y - P: noise enters as -(y - P) + sigma xi
    manual = x0 - 0.1 * np.column_stack([r * x0[:, 1], r * x0[:, 0]])
    assert np.allclose(run.xs[-1], manual)
    again = simulate_label_noise(LabelNoise(0.1, 0.5), grad, 1, x0, 5, seed=3)
    assert np.array_equal(again.xs, simulate_label_noise(LabelNoise(0.1, 0.5), grad, 1, x0, 5, seed=3).xs)
    with pytest.raises(InputError, match="optimizer"):
        simulate_label_noise("gd", grad, 1, x0, 1, seed=0)
