"""Property tests: random losses from the whitelist, derivatives against finite differences."""
import warnings

import numpy as np
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analytic.calculus import grad_norm_squared, gradient
from analytic.errors import LossSyntaxError
from analytic.loss import parse_loss
from numeric.compile import compile_expr, compile_loss

LEAVES = st.sampled_from(["w1", "w2", "w1", "w2", "1", "2", "3", "1/3", "5/2", "0.5", "1.25"])
UNARY = ["exp", "sin", "cos", "tanh", "sigmoid", "softplus", "erf", "log", "sqrt", "abs"]


def combine(children):
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})")
    power = st.tuples(children, st.sampled_from(["2", "3", "-1", "1/2"])).map(lambda t: f"({t[0]})**{t[1]}")
    unary = st.tuples(st.sampled_from(UNARY), children).map(lambda t: f"{t[0]}({t[1]})")
    return binary | power | unary


LOSSES = st.recursive(LEAVES, combine, max_leaves=8).filter(lambda s: "w1" in s or "w2" in s)


def central(f, pts, h):
    return np.stack([(f(pts + h * e) - f(pts - h * e)) / (2 * h) for e in np.eye(2)], axis=-1)


def well_conditioned_fd(E, pts):
    """Central differences with steps h and h/2; keep points where both agree
    (smooth, finite, not near a kink or pole) and the loss is moderate."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        value = E(pts)
        fd1 = central(E, pts, 1e-4)
        fd2 = central(E, pts, 5e-5)
    ok = np.isfinite(value) & (np.abs(value) < 1e6) & np.isfinite(fd1).all(1) & np.isfinite(fd2).all(1)
    ok &= (np.abs(fd1 - fd2) <= 1e-6 * (1 + np.abs(fd2))).all(1)
    return ok, fd2


def mismatch(exact, fd, ok):
    """Largest relative disagreement at the usable points."""
    err = np.abs(exact[ok] - fd[ok]) / (1e-3 + np.abs(fd[ok]))
    return err.max() if err.size else 0.0


#: rejections that random constant subexpressions can legitimately provoke
DEGENERATE = ("division by zero", "infinity or NaN", "not real", "log of zero", "0 raised")

TOL = 1e-5   # a wrong derivative is off by O(1); FD with Richardson-checked steps is ~1e-8


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.filter_too_much,
                                                                   HealthCheck.too_slow])
@given(text=LOSSES, seed=st.integers(0, 2**32 - 1))
def test_gradient_and_grad_norm_match_finite_differences(text, seed):
    try:
        loss = parse_loss(text, "w1,w2")
    except LossSyntaxError as exc:   # e.g. (w1 - w1)**-1: a degenerate constant, not a parser bug
        assume(not any(m in str(exc) for m in DEGENERATE))
        raise
    pts = np.random.default_rng(seed).uniform(-2, 2, size=(16, 2))
    E = compile_loss(loss)
    ok, fd = well_conditioned_fd(E, pts)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        g = compile_expr(gradient(loss).expr, loss.variables)(pts)
        G = compile_expr(grad_norm_squared(loss).expr, loss.variables)(pts)
    ok &= np.isfinite(g).all(1) & np.isfinite(G) & (np.abs(g) < 1e4).all(1)
    assume(ok.any())
    assert mismatch(g, fd, ok) < TOL, (text, g[ok], fd[ok])
    fd_norm = (fd**2).sum(axis=1)
    assert mismatch(G, fd_norm, ok) < 3 * TOL, (text, G[ok], fd_norm[ok])


def test_the_property_check_catches_a_wrong_derivative():
    """The same checker flags a derivative that is slightly wrong (sin' taken as 1.01 cos)."""
    loss = parse_loss("sin(w1)*exp(w2/3) + w2**2", "w1,w2")
    w1, w2 = loss.variables
    pts = np.random.default_rng(0).uniform(-2, 2, size=(16, 2))
    ok, fd = well_conditioned_fd(compile_loss(loss), pts)
    assert ok.sum() >= 12
    right = compile_expr(gradient(loss).expr, loss.variables)(pts)
    wrong = compile_expr(sp.Matrix([1.01 * sp.cos(w1) * sp.exp(w2 / 3),
                                    sp.sin(w1) * sp.exp(w2 / 3) / 3 + 2 * w2]), loss.variables)(pts)
    assert mismatch(right, fd, ok) < TOL
    assert mismatch(wrong, fd, ok) > TOL
