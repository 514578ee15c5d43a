"""The closed forms of analytic.adaptive_bias against the slaved modified field of the same
specs: exactly in the derivative symbols E_a (every loss in d variables, every sign pattern of
the gradient), numerically to 25 digits on concrete losses, for RMSProp and Adam with and
without bias correction, with eps outside (the project's rule) and inside the square root."""
import itertools
import random
from dataclasses import dataclass
from functools import lru_cache

import pytest
import sympy as sp

from analytic import transforms as tx
from analytic.adaptive_bias import (adam_first_order_field, adam_modified_loss, adaptive_first_order_terms,
                                    one_norm_coefficient, one_norm_potential, penalizes_one_norm,
                                    rmsprop_first_order_field)
from analytic.errors import InputError
from analytic.jets import LocalCalculus
from analytic.loss import parse_loss
from analytic.models import get_model
from analytic.optimizers import Adam, Optimizer, RMSProp
from analytic.slaving import slaved_field
from analytic.symbols import H

B1, B2, RHO = (sp.Symbol(n, real=True) for n in ("b1", "b2", "rho"))
EPS = sp.Symbol("eps", positive=True)


@dataclass(frozen=True)
class _ScaleByAdamInside(tx.Transform):
    """Adam's scaling with eps inside the square root, m/sqrt(s + eps) (the paper's rule)."""

    b1: object
    b2: object
    eps: object
    state_names = ("m", "s")

    def init(self, x, ns):
        return (ns.zeros_like(x), ns.zeros_like(x))

    def update(self, u, state, x, grad, ns):
        g = grad(x) if u is None else u
        b1, b2, eps = (ns.scalar(v) for v in (self.b1, self.b2, self.eps))
        m = b1 * state[0] + (1 - b1) * g
        s = b2 * state[1] + (1 - b2) * ns.square(g)
        return ns.div(m, ns.sqrt(s + eps)), (m, s)


@dataclass(frozen=True)
class _AdamInside(Optimizer):
    b1: object = B1
    b2: object = B2
    eps: object = EPS

    @property
    def transform(self):
        return tx.chain(_ScaleByAdamInside(self.b1, self.b2, self.eps), tx.scale(-self.h))


def _three():
    return parse_loss("1/2*(y - a*tanh(b*x) - c*x**2)**2 + c**4/4", "a,b,c", {"x": "1/2", "y": "3/5"})


LOSSES = {"sigmoid2d": lambda: get_model("sigmoid2d"), "three": _three}
SPECS = {"rmsprop": lambda: RMSProp(H, RHO, EPS),
         "adam": lambda: Adam(H, B1, B2, EPS, bias_correction=False),
         "adam_bc": lambda: Adam(H, B1, B2, EPS),
         "adam_exact_bc": lambda: Adam(H, "1/2", "3/5", "1/10"),
         "adam_inside": lambda: _AdamInside(H)}
R = sp.Rational
POINTS = {"sigmoid2d": [(R(3, 2), R(-1, 2)), (R(1, 3), 2), (-2, R(1, 5))],
          "three": [(R(1, 2), R(1, 3), R(-1, 4)), (-1, R(2, 3), R(1, 5)), (2, R(-1, 2), R(3, 4))]}


@lru_cache(maxsize=None)
def _slaved(loss_name, spec_name):
    return slaved_field(SPECS[spec_name](), LOSSES[loss_name](), 1)


def _decays(spec):
    return (0, spec.rho) if isinstance(spec, RMSProp) else (spec.b1, spec.b2)


def _jets(loss):
    calc = LocalCalculus(loss.variables, H)
    d = len(loss.variables)
    grad = [calc.E((i,)) for i in range(d)]
    return grad, [[calc.E((i, j)) for j in range(d)] for i in range(d)]


#: gradient magnitudes r with sqrt(r^2 + 1) rational, so sqrt(E_i^2 + eps) is exact at E_i = t r, eps = t^2
_PYTHAGOREAN = (R(5, 12), R(3, 4), R(4, 3), R(35, 12))


def _samples(grad, hess, inside=False, extra=3):
    """Exact rational values of E_i, E_ij, b1, b2, rho, eps: one sample for each sign pattern of
    the gradient and ``extra`` more.  A rational function of these that vanishes at all of them
    is zero beyond reasonable doubt (Schwartz-Zippel); |E_i| and sign E_i are exact."""
    rng = random.Random(20240721)
    patterns = list(itertools.product((1, -1), repeat=len(grad)))
    patterns += [tuple(rng.choice((1, -1)) for _ in grad) for _ in range(extra)]
    for signs in patterns:
        t = R(rng.randint(1, 40), rng.randint(1, 40))
        sub = {B1: R(rng.randint(0, 97), 100), B2: R(rng.randint(0, 97), 100), RHO: R(rng.randint(0, 97), 100),
               EPS: t ** 2 if inside else t}
        for s, g in zip(signs, grad):
            sub[g] = s * (t * rng.choice(_PYTHAGOREAN) if inside else R(rng.randint(1, 60), rng.randint(1, 60)))
        for i, row in enumerate(hess):
            for j in range(i, len(row)):
                sub[row[j]] = R(rng.randint(-60, 60), rng.randint(1, 60))
        yield sub


def _exactly_equal(a, b, grad, hess, inside=False):
    """``a == b`` as functions of the derivative symbols and the hyperparameters."""
    return all((x - y).xreplace(sub) == 0 for sub in _samples(grad, hess, inside) for x, y in zip(a, b))


@pytest.mark.parametrize("loss_name,spec_name", [
    ("sigmoid2d", "rmsprop"), ("sigmoid2d", "adam"), ("sigmoid2d", "adam_bc"), ("sigmoid2d", "adam_inside"),
    ("three", "rmsprop"), ("three", "adam"), ("three", "adam_exact_bc")])
def test_closed_form_is_the_slaved_field_for_every_loss(loss_name, spec_name):
    field = _slaved(loss_name, spec_name)
    spec = field.spec
    inside = isinstance(spec, _AdamInside)
    assert field.meta["calculus"] == "local"
    grad, hess = _jets(field.loss)
    F0, F1 = adaptive_first_order_terms(grad, hess, *_decays(spec), spec.eps, eps_inside=inside)
    assert _exactly_equal(F0, field.local_terms[0], grad, hess, inside)
    assert _exactly_equal(F1, field.local_terms[1], grad, hess, inside)


def _gaps(a, b, loss, values, points):
    """|a - b| at the rational points, in 40-digit arithmetic (the points and values are entered
    as 40-digit floats, so no exact transcendental arithmetic is done)."""
    out = []
    for point in points:
        sub = {k: sp.Float(v, 40) for k, v in {**values, **dict(zip(loss.variables, point))}.items()}
        out += [abs(sp.N((x - y).xreplace(sub), 40)) for x, y in zip(a, b)]
    return out


def _numerically_equal(a, b, loss, values, points):
    assert max(_gaps(a, b, loss, values, points)) < 1e-25


@pytest.mark.parametrize("loss_name,spec_name,values", [
    ("sigmoid2d", "rmsprop", {RHO: R(9, 10), EPS: R(1, 100)}),
    ("sigmoid2d", "adam_bc", {B1: R(9, 10), B2: R(999, 1000), EPS: R(1, 10)}),
    ("sigmoid2d", "adam_inside", {B1: R(1, 2), B2: R(3, 5), EPS: R(1, 10)}),
    ("three", "adam", {B1: R(3, 4), B2: R(1, 3), EPS: R(1, 5)}),
    ("three", "adam_exact_bc", {})])
def test_closed_form_on_the_concrete_loss(loss_name, spec_name, values):
    field = _slaved(loss_name, spec_name)
    spec, loss, points = field.spec, field.loss, POINTS[loss_name]
    inside = isinstance(spec, _AdamInside)
    if isinstance(spec, RMSProp):
        F = rmsprop_first_order_field(loss, spec.rho, spec.eps, H)
    else:
        F = adam_first_order_field(loss, spec.b1, spec.b2, spec.eps, H, eps_inside=inside)
    _numerically_equal(F.subs(H, 0), field.terms[0], loss, values, points)
    _numerically_equal(F.diff(H), field.terms[1], loss, values, points)
    # the modified-loss split differentiates N itself: grad N = H phi is checked here too
    split = adam_modified_loss(loss, *_decays(spec), spec.eps, H, eps_inside=inside)
    _numerically_equal(split.field(), F, loss, {**values, H: R(1, 7)}, points)


def test_one_norm_coefficient_is_read_off_the_slaved_field():
    # eps -> 0 with every E_i != 0: F_1 = -lambda P grad ||grad E||_1 with P = diag(1/|E_i|) and
    # (grad ||grad E||_1)_i = sum_j E_ij sign E_j; the sign of lambda is penalizes_one_norm's
    field = _slaved("sigmoid2d", "adam")
    grad, hess = _jets(field.loss)
    lam = one_norm_coefficient(B1, B2)
    for sub in _samples(grad, hess):
        sub[EPS] = 0
        for i, e in enumerate(field.local_terms[1]):
            one_norm = sum(hess[i][j] * sp.sign(grad[j]) for j in range(2)) / sp.Abs(grad[i])
            assert (e + lam * one_norm).xreplace(sub) == 0
    assert sp.cancel(lam * (1 - B1) * (1 - B2) - (B1 - B2)) == 0
    assert penalizes_one_norm(B1, B2) == sp.Gt(B1, B2)
    for b1, b2 in itertools.product([0, R(1, 2), R(9, 10), R(999, 1000)], repeat=2):
        assert bool(penalizes_one_norm(b1, b2)) == bool(one_norm_coefficient(b1, b2) > 0)
    assert sp.cancel(one_norm_coefficient(0, RHO) + RHO / (1 - RHO)) == 0     # RMSProp anti-penalizes


def test_large_eps_is_heavy_ball_with_step_h_over_eps():
    # eps -> oo: eps^2 F_1 -> -(1 + b1)/(2 (1 - b1)) H grad E, heavy ball's term at step h/eps
    field = _slaved("sigmoid2d", "adam")
    grad, hess = _jets(field.loss)
    big = sp.Integer(10) ** 15
    for sub in _samples(grad, hess):
        sub[EPS] = big
        for i, e in enumerate(field.local_terms[1]):
            heavy_ball = -(1 + B1) / (2 * (1 - B1)) * sum(hess[i][j] * grad[j] for j in range(2))
            assert abs(float((big ** 2 * e - heavy_ball).xreplace(sub))) < 1e-9


def test_wrong_closed_forms_are_caught():
    field = _slaved("sigmoid2d", "adam")
    grad, hess = _jets(field.loss)
    F0, F1 = adaptive_first_order_terms(grad, hess, B1, B2, EPS)
    _, swapped = adaptive_first_order_terms(grad, hess, B2, B1, EPS)
    _, inside = adaptive_first_order_terms(grad, hess, B1, B2, EPS, eps_inside=True)
    local = field.local_terms
    assert _exactly_equal(F1, local[1], grad, hess)
    assert not _exactly_equal(-F1, local[1], grad, hess)
    assert not _exactly_equal(swapped, local[1], grad, hess)
    assert not _exactly_equal(F1.subs(B1, 0), local[1], grad, hess)
    assert not _exactly_equal(-F0, local[0], grad, hess)
    inside_field = _slaved("sigmoid2d", "adam_inside")
    assert not _exactly_equal(F1, inside_field.local_terms[1], grad, hess, inside=True)
    assert _exactly_equal(inside, inside_field.local_terms[1], grad, hess, inside=True)
    # dropping the remainder (keeping only -P grad(E + h lambda N)) is wrong at finite eps
    loss = field.loss
    split = adam_modified_loss(loss, "1/2", "3/5", "1/10", H)
    values = {B1: R(1, 2), B2: R(3, 5), EPS: R(1, 10), H: 1}
    _numerically_equal(split.field(), field.expr, loss, values, POINTS["sigmoid2d"])
    assert min(_gaps(split.field() - split.remainder, field.expr, loss, values, POINTS["sigmoid2d"])) > 1e-6


def test_potentials():
    loss = get_model("sigmoid2d")
    g = [sp.diff(loss.concrete, v) for v in loss.variables]
    assert one_norm_potential(loss, EPS, eps_inside=True) == sum(sp.sqrt(e ** 2 + EPS) for e in g)
    at = dict(zip(loss.variables, (1, 1)))
    outside = one_norm_potential(loss, EPS).xreplace(at)
    one_norm = sum(abs(e.xreplace(at)) for e in g)
    assert abs(sp.N(outside.xreplace({EPS: R(1, 10 ** 12)}) - one_norm, 30)) < 1e-10


@pytest.mark.parametrize("call,argument", [
    (lambda L: adam_first_order_field(L, 1, "1/2", "1/10", H), "b1"),
    (lambda L: adam_first_order_field(L, "1/2", "-1/2", "1/10", H), "b2"),
    (lambda L: adam_first_order_field(L, "1/2", "1/2", 0, H), "eps"),
    (lambda L: adam_first_order_field(L, "1/2", "1/2", "1/10", "-1"), "h"),
    (lambda L: adam_first_order_field(L, "h", "1/2", "1/10", H), "b1"),
    (lambda L: adam_first_order_field("E = x**2", "1/2", "1/2", "1/10", H), "loss"),
    (lambda L: rmsprop_first_order_field(L, "2", "1/10", H), "rho"),
    (lambda L: adam_first_order_field(L, "1/2", "1/2", "1/10", H, eps_inside="yes"), "eps_inside"),
    (lambda L: adaptive_first_order_terms(["x"], [["1"]], 0, 0, 1), "grad"),
    (lambda L: adaptive_first_order_terms([EPS], [[1, 2]], 0, 0, 1), "hessian"),
    (lambda L: penalizes_one_norm("__import__('os')", 0), "b1")])
def test_bad_input_is_named(call, argument):
    with pytest.raises(InputError, match=repr(argument)):
        call(get_model("sigmoid2d"))
