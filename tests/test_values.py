"""The one reader of typed numbers: exact values, clear rejections, bounded work."""
import time
from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from analytic.errors import InputError
from analytic.optimizers import GD, HeavyBall, LabelNoise, Nesterov, make_optimizer
from analytic.values import MAX_MAGNITUDE, bounded_int, exact_matrix, exact_number, exact_value


@settings(max_examples=200, deadline=None)
@given(st.integers(-10**12, 10**12), st.integers(1, 10**12))
def test_fractions_are_exact(p, q):
    assert exact_number(f"{p}/{q}", "x") == sp.Rational(p, q)
    assert exact_number(f"{p} / {q}", "x") == sp.Rational(p, q)


@settings(max_examples=200, deadline=None)
@given(st.integers(-10**12, 10**12), st.integers(-40, 17))
def test_decimals_are_the_exact_rational_they_denote(mantissa, exponent):
    # independent of the reader: the value m * 10^e built from integers
    expected = Fraction(mantissa) * Fraction(10) ** exponent
    got = exact_number(f"{mantissa}e{exponent}", "x")
    assert got == sp.Rational(expected.numerator, expected.denominator)


@pytest.mark.parametrize("text,value", [
    ("-3/10", sp.Rational(-3, 10)), ("-0.5", sp.Rational(-1, 2)), ("1e-3", sp.Rational(1, 1000)),
    ("0.1", sp.Rational(1, 10)), ("+2", sp.Integer(2)), ("1/3*0.1", sp.Rational(1, 30)),
    ("1 - exp(-1)", 1 - sp.exp(-1)), (" 7 ", sp.Integer(7)), ("2**-3", sp.Rational(1, 8)),
])
def test_accepted_values(text, value):
    got = exact_number(text, "--beta")
    assert sp.simplify(got - value) == 0 and not got.atoms(sp.Float)


def test_python_floats_are_read_by_their_decimal_form():
    assert exact_value(0.1, "eta") == sp.Rational(1, 10)
    assert exact_value(sp.Float("0.25"), "eta") == sp.Rational(1, 4)
    assert exact_value(Fraction(2, 7), "eta") == sp.Rational(2, 7)


@pytest.mark.parametrize("text,token", [
    ("0.9.1", ".1"), ("__import__('os').system('true')", "__import__"), ("1/0", "division by zero"),
    ("9**9**9", "9**9"), ("factorial(10**9)", "factorial"), ("1e-999", "1e-999"), ("1e999", "1e999"),
    ("nan", "nan"), ("inf", "inf"), ("0x10", "0x10"), ("1_0", "1_0"), ("sqrt(-1)", "not real"),
    ("10**40", "magnitude"), ("", "empty"), ("beta", "beta"), ("１", "U+FF11"),
    ("exp(1000)", "magnitude"), ("w.__class__", "w.__class__"),
])
def test_rejections_name_argument_and_token(text, token):
    start = time.perf_counter()
    with pytest.raises(InputError) as info:
        exact_number(text, "--beta")
    assert time.perf_counter() - start < 2
    message = str(info.value)
    assert "'--beta'" in message and token in message, message
    assert "\n" not in message


def test_underscored_and_hex_literals_are_not_numbers():
    # Python reads them as numbers; a researcher's option must not
    for text in ("1_000", "0x10", "0o7", "0b1", "1j"):
        with pytest.raises(InputError):
            exact_number(text, "x")


def test_ranges_are_stated_in_the_message():
    with pytest.raises(InputError, match=r"must lie in \(-1, 1\)"):
        exact_number("1", "beta", low=-1, high=1, low_open=True, high_open=True)
    assert exact_number("-99/100", "beta", low=-1, high=1, low_open=True, high_open=True) == sp.Rational(-99, 100)
    with pytest.raises(InputError, match=r"between 2 and 4000"):
        bounded_int("1000000000", "--n", 2, 4000)
    with pytest.raises(InputError, match=r"between 2 and 4000"):
        bounded_int("12.0", "--n", 2, 4000)
    assert bounded_int("-3", "k", -5, 5) == -3
    assert exact_value("1e30", "x") == MAX_MAGNITUDE


def test_symbol_names_only_where_allowed():
    beta = exact_value("beta", "--beta", symbol={"real": True})
    assert beta == sp.Symbol("beta", real=True)
    for bad in ("exp", "_x", "lambda", "a" * 41):
        with pytest.raises(InputError):
            exact_value(bad, "--beta", symbol={"real": True})
    with pytest.raises(InputError):
        exact_value("beta", "--tau")


def test_constructors_read_text_exactly():
    assert HeavyBall("h", "-3/10").beta == sp.Rational(-3, 10)
    assert Nesterov("1/10", "0.9").beta == sp.Rational(9, 10)
    assert GD("0.1").h == sp.Rational(1, 10)
    assert LabelNoise("h", "1/5").sigma == sp.Rational(1, 5)
    assert make_optimizer("heavy-ball", "h", beta="b").beta == sp.Symbol("b", real=True)
    with pytest.raises(InputError, match="'beta'"):
        make_optimizer("heavy-ball", "h", beta="__import__('os')")
    with pytest.raises(InputError, match="'h'"):
        GD("-1/10")
    with pytest.raises(InputError, match="-1 < beta < 1"):
        HeavyBall("h", "1")
    # floats stay floats for the numeric layer
    assert isinstance(GD(0.1).h, float)


def test_matrices():
    M = exact_matrix([[0.5, "1/3"], [0, 2]], "A")
    assert M == sp.Matrix([[sp.Rational(1, 2), sp.Rational(1, 3)], [0, 2]])
    with pytest.raises(InputError, match="'A'"):
        exact_matrix([["open('x')", 1]], "A")
    with pytest.raises(InputError, match="'A'"):
        exact_matrix("1,2", "A")
