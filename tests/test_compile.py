"""numeric.compile / numeric.kernel: the generated kernel against plain lambdify."""
import warnings

import numpy as np
import pytest
import sympy as sp

from analytic.calculus import grad_norm_squared, gradient, hessian
from analytic.errors import InputError
from analytic.loss import parse_loss, symbol
from analytic.models import escape, sigmoid2d
from numeric.compile import compile_expr, compile_gradient, compile_loss
from numeric.kernel import CHUNK, generate_kernel, make_workspace

w1, w2 = symbol("w1"), symbol("w2")
RNG = np.random.default_rng(7)


def reference(expr, variables, pts):
    f = sp.lambdify(variables, expr, modules=["scipy", "numpy"])
    cols = [pts[..., i] for i in range(len(variables))]
    return np.asarray(f(*cols), dtype=float)


def assert_close_to_lambdify(compiled, expr, variables, pts, rtol=1e-12):
    got = compiled(pts)
    exprs = list(expr) if isinstance(expr, sp.MatrixBase) else [expr]
    ref = np.stack([np.broadcast_to(reference(e, variables, pts), pts.shape[:-1]) for e in exprs], axis=-1)
    got = got.reshape(ref.shape)
    both_nan = np.isnan(got) & np.isnan(ref)
    scale = np.abs(ref[~both_nan]).max() if (~both_nan).any() else 1.0
    err = np.abs(got - ref)[~both_nan]
    # relative to the value, with a floor of 1e-12 of the largest value (cancellation)
    assert np.all(err <= rtol * (np.abs(ref[~both_nan]) + 1e-3 * scale)), err.max()
    assert np.array_equal(np.isnan(got), np.isnan(ref))


CASES = [
    "1/2*(y - w1*sigmoid(w2*x))**2",
    "exp(-w1) + exp(-2*w1) + exp(-3*w1)*w2 + exp(2*w1)/10",
    "log(1 + w1**2) * sqrt(1 + w2**2) + tanh(w1*w2)",
    "sin(w1)*cos(w2) + softplus(w1 - w2) + erf(w2/2)",
    "abs(w1 - 1/3) + relu(w2) + min(w1, w2**2) + max(w1, 0, w2)",
    "w1**-3 + w2**(1/3) + (1 + w1**2)**(-1/2) + w1**7 + w2**13",
    "(w1 - w2)**4/(1 + w1**2)**2 - 0.3*w1*w2",
]


@pytest.mark.parametrize("text", CASES)
def test_kernel_agrees_with_lambdify_on_loss_gradient_hessian(text):
    loss = parse_loss(text, "w1,w2", "x=1,y=3/5")
    pts = RNG.uniform(0.1, 2.5, size=(500, 2))
    for expr in (loss.concrete, gradient(loss).expr, hessian(loss).expr):
        if expr.has(sp.DiracDelta):   # second derivative of a kink: not a NumPy function
            continue
        f = compile_expr(expr, loss.variables)
        assert f.kernel is not None, f"kernel path not taken for {expr}"
        assert_close_to_lambdify(f, expr, loss.variables, pts)


def test_gradient_of_grad_norm_of_sigmoid2d_matches_lambdify_and_fd():
    loss = sigmoid2d()
    G = grad_norm_squared(loss).expr
    g = sp.Matrix([sp.diff(G, v) for v in loss.variables])
    f = compile_expr(g, loss.variables)
    assert f.kernel is not None
    pts = RNG.uniform([-4, -4], [8, 4], size=(2 * CHUNK + 17, 2))   # several chunks and a tail
    assert_close_to_lambdify(f, g, loss.variables, pts)
    Gf = compile_expr(G, loss.variables)
    h = 1e-6
    fd = np.stack([(Gf(pts + h * e) - Gf(pts - h * e)) / (2 * h) for e in np.eye(2)], axis=-1)
    assert np.allclose(f(pts), fd, rtol=1e-5, atol=1e-8)


def test_shared_exponentials_use_one_exp_call():
    _, src = generate_kernel([sp.exp(-w1) + sp.exp(-2 * w1) * w2 + sp.exp(-3 * w1)], (w1, w2))
    assert src.count("np.exp(") == 1


def test_fortran_ordered_input_and_workspace_reuse():
    loss = sigmoid2d()
    grad = compile_gradient(loss)
    pts = RNG.uniform(-2, 2, size=(1000, 2))
    expected = grad(pts)
    out = np.empty((1000, 2), order="F")
    work = make_workspace(grad.kernel, 1000)
    for _ in range(2):
        grad.kernel(np.asfortranarray(pts), out, work)
        assert np.array_equal(out, expected)


def test_shapes_scalar_vector_matrix_and_batches():
    f = compile_expr(w1 * w2, (w1, w2))
    assert f(np.array([2.0, 3.0])).shape == () and float(f(np.array([2.0, 3.0]))) == 6.0
    assert f(np.ones((4, 5, 2))).shape == (4, 5)
    v = compile_expr(sp.Matrix([w1, 3]), (w1, w2))
    assert v(np.zeros((3, 2))).tolist() == [[0.0, 3.0]] * 3
    m = compile_expr(sp.Matrix([[w1, 0], [1, w2]]), (w1, w2))
    assert m(np.array([[5.0, 7.0]])).tolist() == [[[5.0, 0.0], [1.0, 7.0]]]
    assert compile_expr([w1, w2**2], (w1, w2))(np.array([[1.0, 3.0]])).tolist() == [[1.0, 9.0]]


def test_column_convention_of_func_kept():
    f = compile_expr(sp.Matrix([w1 + w2, w1 * w2]), (w1, w2))
    a, b = f.func(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert a.tolist() == [4.0, 6.0] and b.tolist() == [3.0, 8.0]


def test_fallback_to_lambdify_for_piecewise():
    e = sp.Piecewise((w1, w1 > 0), (w1**2, True))
    f = compile_expr(e, (w1,))
    assert f.kernel is None
    assert f(np.array([[2.0], [-3.0]])).tolist() == [2.0, 9.0]


def test_min_derivatives_of_escape_compile():
    loss = escape()
    g = compile_gradient(loss)
    pts = np.array([[0.9], [-0.5], [0.1]])
    xs = pts[:, 0]
    f1 = np.where(xs**2 < 0.1 * (xs - 1)**2, 2 * xs, 0.2 * (xs - 1))
    f2 = np.where(xs**2 < 1.9 * (xs - 1)**2, 2 * xs, 3.8 * (xs - 1))
    assert np.allclose(g(pts)[:, 0], (f1 + f2) / 2, rtol=1e-14)


def test_nan_where_lambdify_gives_nan():
    f = compile_expr(sp.log(w1), (w1,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vals = f(np.array([[-1.0], [np.e]]))
    assert np.isnan(vals[0]) and vals[1] == pytest.approx(1.0, rel=1e-15)


def test_errors_name_the_argument():
    with pytest.raises(InputError, match="'expr'"):
        compile_expr(w1 + symbol("y"), (w1,))
    with pytest.raises(InputError, match="'X'"):
        compile_expr(w1, (w1,))(np.ones((3, 2)))
    with pytest.raises(InputError, match="'method'"):
        compile_expr(w1, (w1,), method="llvm")


def test_compile_loss_substitutes_params():
    E = compile_loss(sigmoid2d())
    expected = 0.5 * (0.6 - 2.0 / (1 + np.exp(-1.0)))**2
    assert float(E(np.array([2.0, 1.0]))) == pytest.approx(expected, rel=1e-15)
