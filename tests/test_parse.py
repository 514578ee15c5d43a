"""The loss language: exact numbers, typed floats, every whitelisted function."""
import math

import mpmath
import pytest
import sympy as sp

from analytic.errors import LossSyntaxError
from analytic.loss import parse_loss, symbol
from analytic.parse import FUNCTIONS, LIMITS, parse_expression

w = symbol("w")
W = {"w": w}


def test_fractions_stay_exact_rationals():
    e = parse_expression("1/3 + 2/6 + w", W)
    assert e - w == sp.Rational(2, 3)
    assert all(not a.is_Float for a in e.atoms(sp.Number))


def test_integer_division_is_exact_not_floor():
    assert parse_expression("7/2", {}) == sp.Rational(7, 2)


def test_floats_stay_floats_as_typed():
    e = parse_expression("0.1*w", W)
    (c,) = [a for a in e.atoms(sp.Number)]
    assert c.is_Float
    # the decimal the user typed, not the binary double nearest to it
    assert sp.Rational(str(c)) == sp.Rational(1, 10)
    assert parse_expression("1e-3", {}).is_Float


def test_power_and_unary_minus_precedence():
    assert parse_expression("-w**2", W) == -(w**2)
    assert parse_expression("2**-1", {}) == sp.Rational(1, 2)
    assert parse_expression("(w + 1)**2", W) == (w + 1)**2


def test_pi_is_the_constant():
    assert parse_expression("pi*w", W) == sp.pi * w


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_whitelisted_function_builds_the_right_sympy_function(name):
    """Each function, evaluated at a point, matches an independent mpmath value."""
    builder, lo, hi = FUNCTIONS[name]
    a = sp.Rational(3, 10)
    args = "w" if lo == 1 else "w, 1/5"
    e = parse_expression(f"{name}({args})", W)
    value = float(e.subs(w, a))
    x = 0.3
    expected = {
        "exp": math.exp(x), "log": math.log(x), "sqrt": math.sqrt(x), "sin": math.sin(x),
        "cos": math.cos(x), "tanh": math.tanh(x), "sigmoid": 1 / (1 + math.exp(-x)),
        "softplus": math.log1p(math.exp(x)), "abs": abs(x), "relu": max(0.0, x),
        "min": min(x, 0.2), "max": max(x, 0.2), "erf": float(mpmath.erf(x)),
    }[name]
    assert value == pytest.approx(expected, rel=1e-14)
    # and on the other side of the kinks
    if name in ("abs", "relu"):
        assert float(e.subs(w, -a)) == {"abs": 0.3, "relu": 0.0}[name]


def test_min_max_are_variadic():
    e = parse_expression("max(w, 1, 2)", W)
    assert e.subs(w, 5) == 5 and e.subs(w, 0) == 2


def test_wrong_arity_names_the_function():
    with pytest.raises(LossSyntaxError, match="exp takes 1"):
        parse_expression("exp(w, w)", W)


def test_error_reports_token_and_column():
    with pytest.raises(LossSyntaxError) as info:
        parse_expression("w + foo(w)", W)
    assert info.value.token == "foo" and info.value.column == 5
    assert "'foo'" in str(info.value) and "column 5" in str(info.value)


def test_limits_are_enforced():
    with pytest.raises(LossSyntaxError, match="longer than"):
        parse_expression("w+" * LIMITS["max_length"] + "w", W)
    with pytest.raises(LossSyntaxError, match="exponent larger"):
        parse_expression(f"w**{LIMITS['max_exponent'] + 1}", W)
    assert parse_expression(f"w**{LIMITS['max_exponent']}", W) == w**LIMITS["max_exponent"]


def test_parse_loss_declares_variables_and_params():
    E = parse_loss("1/2*(y - w1*w2*x)**2", "w1,w2", "x=1,y=3/5")
    assert E.variables == (symbol("w1"), symbol("w2"))
    assert E.params == {"x": 1, "y": sp.Rational(3, 5)}
    assert E.concrete == (sp.Rational(3, 5) - symbol("w1") * symbol("w2"))**2 / 2
