r"""Typed numbers and small expressions: the one reader of every value a user types.

Every number that comes from outside (a command-line option, a string handed to
the Python API, a file) is read here, through the same :mod:`ast` whitelist as
the loss language (:func:`analytic.parse.parse_expression`).  Nothing is ever
passed to ``eval``, ``sympify``, ``nsimplify``, ``parse_expr`` or
``Rational(str)``.

Accepted: integers, decimals and exponents (``-0.5``, ``1e-3``), fractions
(``-3/10``), arithmetic of those and calls of the loss language's functions
(``1 - exp(-1)``, ``sqrt(2)/2``), and, where the caller allows it, one plain
symbol name (``beta``).  Decimals become exact rationals: ``0.1`` is
:math:`1/10`, never the binary double nearest to it, so a result derived for a
typed value holds for that value.  A Python ``float`` handed to the API is read
the same way, through its shortest decimal form (``0.1`` is :math:`1/10`).

Bounds: the text obeys the loss language's limits (length, syntax-tree size,
exact-number bits), decimal exponents are at most :data:`MAX_DECIMAL_EXPONENT`
and magnitudes at most :data:`MAX_MAGNITUDE`; a caller may narrow the range.

Every rejection is an :class:`~analytic.errors.InputError` naming the
argument, the value and the offending token.

>>> exact_number("-3/10", "--beta")
-3/10
>>> exact_number("1e-3", "--beta"), exact_number(0.1, "eta")
(1/1000, 1/10)
>>> exact_number("__import__('os')", "--beta")
Traceback (most recent call last):
...
analytic.errors.InputError: argument '--beta' = "__import__('os')": not a number: at column 1: '__import__' unknown function (allowed: ...)
"""
from __future__ import annotations

import keyword
import math
import numbers
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import sympy as sp

from .errors import InputError, LossSyntaxError
from .parse import CONSTANTS, FUNCTIONS, LIMITS, parse_expression

__all__ = ["exact_number", "exact_value", "exact_matrix", "as_expression", "bounded_int", "bounded_float",
           "MAX_MAGNITUDE", "MAX_DECIMAL_EXPONENT"]

#: names that read as numbers, never as symbols (``--noise inf`` is not a symbol called inf)
_NOT_SYMBOLS = {"inf", "infinity", "nan", "oo", "zoo", "i", "j", "e", "true", "false", "none"}

#: largest absolute value a typed number may have
MAX_MAGNITUDE = 10 ** 30
#: largest absolute decimal exponent of a typed literal (``1e-300`` is fine, ``1e-400`` not)
MAX_DECIMAL_EXPONENT = 300


def _decimal_fraction(argument, value, literal: str) -> Fraction:
    """The exact value of a decimal literal already accepted by the whitelist."""
    try:
        d = Decimal(literal.replace("_", ""))
    except InvalidOperation:
        raise InputError(argument, value, f"not a number: {literal!r}") from None
    if not d.is_finite():
        raise InputError(argument, value, f"not a finite number: {literal!r}")
    if d and abs(d.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise InputError(argument, value, f"decimal exponent of {literal!r} beyond "
                                          f"+-{MAX_DECIMAL_EXPONENT}")
    return Fraction(d)


def _float_value(argument, value: float) -> sp.Rational:
    if not math.isfinite(value):
        raise InputError(argument, value, "must be finite")
    return sp.Rational(*_decimal_fraction(argument, value, repr(value)).as_integer_ratio())


def _parse_text(argument, text: str, symbols):
    try:
        return parse_expression(text, symbols, exact_decimals=True)
    except LossSyntaxError as exc:
        message = str(exc).replace("loss syntax error", "").lstrip(": ")
        message = message.replace(" in a loss", "")
        raise InputError(argument, text, f"not a number: {message}") from None


def exact_value(value, argument: str, *, symbol: dict | None = None, real: bool = True):
    """A typed number or, when ``symbol`` is given, one plain symbol name.

    ``symbol`` holds the SymPy assumptions of the symbol a name becomes
    (``{"real": True}``, ``{"positive": True}``); ``None`` forbids names.
    SymPy objects are accepted as they are if exact (symbols only when
    ``symbol`` is given).

    >>> exact_value("beta", "--beta", symbol={"real": True})
    beta
    >>> exact_value("0.9", "--beta", symbol={"real": True})
    9/10
    """
    if isinstance(value, bool) or value is None:
        raise InputError(argument, value, "must be a number")
    if isinstance(value, str):
        text = value.strip()
        if symbol is not None and text.isidentifier():
            if keyword.iskeyword(text) or text.startswith("_") or text in FUNCTIONS or text in CONSTANTS \
                    or text.lower() in _NOT_SYMBOLS:
                raise InputError(argument, value, f"{text!r} cannot be a symbol name "
                                                  "(a keyword, a function, a constant or starts with '_')")
            if len(text) > 40:
                raise InputError(argument, value, "a symbol name is at most 40 characters")
            return sp.Symbol(text, **symbol)
        expr = _parse_text(argument, value, {})
    elif isinstance(value, numbers.Integral):
        expr = sp.Integer(int(value))
    elif isinstance(value, Fraction):
        expr = sp.Rational(value.numerator, value.denominator)
    elif isinstance(value, float) or (isinstance(value, numbers.Real) and not isinstance(value, sp.Basic)):
        expr = _float_value(argument, float(value))
    elif isinstance(value, sp.Basic):
        if isinstance(value, sp.Float):
            expr = _float_value(argument, float(value))
        elif value.is_number or (symbol is not None and isinstance(value, sp.Symbol)):
            expr = value
        elif symbol is not None and isinstance(value, sp.Expr) and not value.atoms(sp.Float):
            return value
        else:
            raise InputError(argument, value, "must be a number" + (" or a symbol" if symbol is not None else ""))
    else:
        raise InputError(argument, value, f"must be a number, not {type(value).__name__}")
    if expr.is_number:
        if expr.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            raise InputError(argument, value, "must be finite")
        if real and expr.is_real is False:
            raise InputError(argument, value, "must be real")
        if isinstance(expr, sp.Rational):
            bits = max(abs(expr.p).bit_length(), expr.q.bit_length())
            if bits > LIMITS["max_number_bits"]:
                raise InputError(argument, value, f"exact number larger than 2**{LIMITS['max_number_bits']}")
        try:
            size = abs(expr) if isinstance(expr, sp.Rational) else abs(complex(sp.N(expr, 20)))
        except (TypeError, ValueError):
            raise InputError(argument, value, "cannot be evaluated to a number") from None
        if not (isinstance(size, sp.Rational) or math.isfinite(size)) or size > MAX_MAGNITUDE:
            raise InputError(argument, value, f"magnitude above 1e{int(math.log10(MAX_MAGNITUDE))}")
    return expr


def exact_number(value, argument: str, *, low=None, high=None, low_open=False, high_open=False,
                 integer: bool = False):
    """A typed exact real number, optionally within ``[low, high]`` (ends open on request).

    >>> exact_number("1/4", "eta", low=0, low_open=True)
    1/4
    >>> exact_number("-1", "eta", low=0, low_open=True)
    Traceback (most recent call last):
    ...
    analytic.errors.InputError: argument 'eta' = '-1': must lie in (0, 1e+30]
    """
    v = exact_value(value, argument)
    if integer and not v.is_Integer:
        raise InputError(argument, value, "must be an integer")
    _check_range(argument, value, v, low, high, low_open, high_open)
    return v


def _check_range(argument, value, v, low, high, low_open, high_open):
    x = float(sp.N(v, 30)) if not isinstance(v, (int, float)) else float(v)
    lo_ok = low is None or (x > low if low_open else x >= low)
    hi_ok = high is None or (x < high if high_open else x <= high)
    if not (lo_ok and hi_ok):
        lo = "-inf" if low is None else f"{low:g}" if isinstance(low, float) else str(low)
        hi = f"{float(MAX_MAGNITUDE):g}" if high is None else f"{high:g}" if isinstance(high, float) else str(high)
        raise InputError(argument, value, f"must lie in {'(' if low_open or low is None else '['}{lo}, "
                                          f"{hi}{')' if high_open else ']'}")


def exact_matrix(rows, argument: str) -> sp.Matrix:
    """A matrix of exact numbers from nested sequences (or a SymPy/NumPy matrix).

    >>> exact_matrix([[0.5, "1/3"], [0, 2]], "A")
    Matrix([
    [1/2, 1/3],
    [  0,   2]])
    """
    if isinstance(rows, sp.MatrixBase):
        M = rows.applyfunc(lambda e: exact_value(e, argument))
    else:
        try:
            # every entry is read here, before SymPy sees it (Matrix() would sympify text)
            entries = [[exact_value(e, argument) for e in (row if _is_sequence(row) else [row])]
                       for row in _rows(rows)]
            M = sp.Matrix(entries)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(argument, _short(rows), f"must be a matrix of numbers ({exc})") from None
    if 0 in M.shape:
        raise InputError(argument, _short(rows), "must not be empty")
    return M


def _is_sequence(x) -> bool:
    return hasattr(x, "__len__") and not isinstance(x, (str, bytes, sp.Basic))


def _rows(rows):
    if hasattr(rows, "tolist"):
        rows = rows.tolist()
    if not _is_sequence(rows):
        raise TypeError("not a sequence")
    return list(rows)


def _short(x):
    s = repr(x)
    return s if len(s) <= 60 else s[:57] + "..."


def bounded_int(value, argument: str, low: int, high: int) -> int:
    """An integer in ``[low, high]``, from an int or typed text (``"12"``).

    >>> bounded_int("12", "--n", 2, 4000)
    12
    >>> bounded_int("1000000000", "--n", 2, 4000)
    Traceback (most recent call last):
    ...
    analytic.errors.InputError: argument '--n' = '1000000000': must be an integer between 2 and 4000
    """
    if isinstance(value, bool):
        raise InputError(argument, value, f"must be an integer between {low} and {high}")
    if isinstance(value, numbers.Integral):
        v = int(value)
    else:
        text = value.strip() if isinstance(value, str) else None
        body = text[1:] if text and text[0] in "+-" else text
        if not body or not body.isdigit() or not body.isascii() or len(body) > 30:
            raise InputError(argument, value, f"must be an integer between {low} and {high}")
        v = int(text)
    if not low <= v <= high:
        raise InputError(argument, value, f"must be an integer between {low} and {high}")
    return v


def bounded_float(value, argument: str, low: float, high: float, *, low_open: bool = False) -> float:
    """A float in ``[low, high]`` (``(low, high]`` with ``low_open``), read exactly first.

    >>> bounded_float("2.5", "--budget", 0, 600, low_open=True)
    2.5
    """
    v = exact_number(value, argument, low=low, high=high, low_open=low_open)
    return float(v)


def as_expression(value, argument: str, names=None):
    """An expression handed to the API: SymPy objects as they are, Python numbers as
    SymPy numbers, text through the loss language over ``names`` (symbols by name).

    >>> import sympy as sp
    >>> z = sp.Symbol("z")
    >>> as_expression("z**2 - 1/4", "poly", {"z": z})
    z**2 - 1/4
    """
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, bool) or value is None:
        raise InputError(argument, value, "must be an expression")
    if isinstance(value, numbers.Integral):
        return sp.Integer(int(value))
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(argument, value, "must be finite")
        return sp.Float(value)
    if isinstance(value, str):
        try:
            return parse_expression(value, dict(names or {}))
        except LossSyntaxError as exc:
            raise InputError(argument, value, str(exc)) from None
    raise InputError(argument, _short(value), f"must be an expression, not {type(value).__name__}")
