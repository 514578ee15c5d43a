"""The Loss object, parameters and built-in models."""
from fractions import Fraction

import pytest
import sympy as sp

from analytic.errors import InputError, LossSyntaxError
from analytic.loss import Loss, parse_assignments, parse_loss, parse_names, symbol
from analytic.models import MODELS, escape, get_model, least_squares, linear2d, quadratic, sigmoid2d

w1, w2, x, y = (symbol(n) for n in ("w1", "w2", "x", "y"))


def test_symbols_are_real_and_unique():
    assert symbol("w1") is symbol("w1") or symbol("w1") == symbol("w1")
    assert symbol("w1").is_real


def test_params_exact_and_symbolic():
    p = parse_assignments("x=1, y=3/5, z")
    assert p == {"x": 1, "y": sp.Rational(3, 5), "z": None}
    assert isinstance(p["y"], sp.Rational)
    assert parse_assignments({"y": Fraction(3, 5)})["y"] == sp.Rational(3, 5)
    assert parse_assignments({"y": 0.5})["y"].is_Float


def test_symbolic_param_stays_in_concrete():
    E = parse_loss("1/2*(y - w1*w2*x)**2", "w1,w2", "x=2, y")
    assert E.symbolic_params == (y,)
    assert E.concrete == (y - 2 * w1 * w2)**2 / 2


def test_with_params_replaces_values():
    E = linear2d().with_params(y=1)
    assert E.concrete == (1 - w1 * w2)**2 / 2
    with pytest.raises(InputError, match="'params'"):
        linear2d().with_params(q=1)


@pytest.mark.parametrize("bad", ["1w", "exp", "lambda", "_x", "a b"])
def test_bad_variable_names(bad):
    with pytest.raises(InputError) as info:
        parse_names("variables", bad)
    assert info.value.argument == "variables"


def test_duplicate_and_clashing_names():
    with pytest.raises(InputError, match="distinct"):
        parse_names("variables", "w,w")
    with pytest.raises(InputError, match="both a variable and a parameter"):
        parse_loss("w*x", "w,x", "x=1")


@pytest.mark.parametrize("value", ["abc", "w1", "(", True])
def test_bad_param_values_name_the_param(value):
    with pytest.raises(InputError) as info:
        parse_assignments({"x": value})
    assert info.value.argument == "params[x]"


def test_loss_validates_itself():
    with pytest.raises(InputError):
        Loss("w1", (w1,))
    with pytest.raises(InputError, match="undeclared"):
        Loss(w1 + w2, (w1,))
    with pytest.raises(InputError):
        Loss(w1, ())


def test_loss_is_frozen_and_round_trips_to_dict():
    E = sigmoid2d()
    with pytest.raises(Exception):
        E.name = "x"
    d = E.to_dict()
    assert d["variables"] == ["w1", "w2"] and d["params"] == {"x": "1", "y": "3/5"}


def test_models_defaults():
    s = 1 / (1 + sp.exp(-w2 * x))
    assert sp.simplify(sigmoid2d().expr - (y - w1 * s)**2 / 2) == 0
    assert sigmoid2d().params == {"x": 1, "y": sp.Rational(3, 5)}
    assert linear2d().expr == (y - w1 * w2 * x)**2 / 2
    assert quadratic([[2, 1], [1, 3]]).expr == sp.expand((2 * w1**2 + 2 * w1 * w2 + 3 * w2**2) / 2)
    with pytest.raises(InputError):
        quadratic([[1, 2], [0, 1]])


def test_escape_pair_values():
    E = escape()
    xs = symbol("x")
    f1, f2 = E.terms
    assert f1.subs(xs, 0) == 0 and f2.subs(xs, 1) == 0
    assert E.expr.subs(xs, 1) == 0 and E.expr.subs(xs, 0) == 0
    # near x = 1 the active pieces are a_i (x-1)^2 with a = (0.1, 1.9): E'' = a1 + a2 = 2
    # (Wu, Ma & E 2018: sharpness (a1 + a2)/2 = 1 in their f = a x^2 convention)
    assert sp.diff(E.expr, xs, 2).subs(xs, sp.Rational(99, 100)) == 2
    assert sp.diff(E.expr, xs, 2).subs(xs, sp.Rational(1, 100)) == 2


def test_least_squares_terms_average_to_loss():
    E = least_squares([[1, 2], [3, 4], [5, 6]], [1, 2, 2])
    assert sp.expand(sum(E.terms) / 3 - E.expr) == 0
    with pytest.raises(InputError, match="'y'"):
        least_squares([[1, 0]], [1, 2])


def test_get_model_lists_all_and_rejects_unknown():
    for name in MODELS:
        assert isinstance(get_model(name), Loss)
    with pytest.raises(InputError, match="--model"):
        get_model("nope")


def test_undeclared_name_in_loss():
    with pytest.raises(LossSyntaxError) as info:
        parse_loss("w1 + q", "w1")
    assert info.value.token == "q"
