"""Small argument checks shared by the public functions.

Each check raises :class:`~analytic.errors.InputError` naming the argument and
the value; numbers typed as text are read through :mod:`analytic.values`.

>>> flag(True, "substitute"), budget(None, "budget"), choice("mean", "normalization", ("mean", "sum"))
(True, None, 'mean')
>>> budget("x", "budget")
Traceback (most recent call last):
...
analytic.errors.InputError: argument 'budget' = 'x': must be a number of seconds or None
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers

import numpy as np

from .errors import InputError
from .values import bounded_int, exact_number, exact_value

__all__ = ["flag", "budget", "choice", "text", "callable_", "size", "real_float", "vector", "positive", "cached_after"]


def flag(value, argument: str) -> bool:
    """A true/false switch: ``bool`` (or NumPy bool) only."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise InputError(argument, value, "must be True or False")


def budget(value, argument: str, high: float = 3600.0):
    """A time budget in seconds, or ``None`` (no budget)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(argument, value, "must be a number of seconds or None")
    v = float(value)
    if not math.isfinite(v) or not 0 < v <= high:
        raise InputError(argument, value, f"must be a number of seconds in (0, {high:g}] or None")
    return value


def choice(value, argument: str, choices):
    """One of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(argument, value, f"must be one of {', '.join(map(str, choices))}")
    return value


def text(value, argument: str) -> str:
    if not isinstance(value, str):
        raise InputError(argument, value, "must be a string")
    return value


def callable_(value, argument: str):
    if not callable(value) or isinstance(value, type):
        raise InputError(argument, value, "must be a callable")
    return value


def size(value, argument: str, low: int, high: int) -> int:
    """An integer in ``[low, high]`` (ints and NumPy ints; text of digits)."""
    if isinstance(value, np.integer):
        value = int(value)
    return bounded_int(value, argument, low, high)


def real_float(value, argument: str, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """A finite real number as a float (text read exactly first)."""
    if isinstance(value, np.floating):
        value = float(value)
    elif isinstance(value, np.integer):
        value = int(value)
    return float(exact_number(value, argument, low=low, high=high, low_open=low_open, high_open=high_open))


def vector(value, argument: str, *, max_size: int = 10 ** 7, ndim: int | None = 1,
           allow_empty: bool = False) -> np.ndarray:
    """A finite float array of numbers (no text, no objects)."""
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        raise InputError(argument, value, "must be an array of numbers")
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - any failure to form an array is bad input
        raise InputError(argument, value, "must be an array of numbers") from None
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(argument, value, "must be an array of numbers")
    if arr.size > max_size:
        raise InputError(argument, value, f"has more than {max_size} entries")
    if ndim is not None and arr.ndim != ndim and not (ndim == 1 and arr.ndim == 0):
        raise InputError(argument, value, f"must be a {ndim}-dimensional array")
    if arr.size == 0 and not allow_empty:
        raise InputError(argument, value, "must not be empty")
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)):
        raise InputError(argument, value, "must be finite")
    return arr


def positive(value, argument: str, *, symbol: bool = True):
    """An exact positive number, or (with ``symbol``) a positive symbol or expression.

    >>> positive("1/4", "h"), positive("h", "h")
    (1/4, h)
    >>> positive(0, "h")
    Traceback (most recent call last):
    ...
    analytic.errors.InputError: argument 'h' = 0: must be positive
    """
    v = exact_value(value, argument, symbol={"positive": True} if symbol else None)
    if v.is_number and not v.is_positive:
        raise InputError(argument, value, "must be positive")
    return v


def cached_after(check):
    """Cache a one-argument function, checking its argument before the cache hashes it.

    ``check(value, argument)`` returns the value to cache on or raises
    :class:`InputError`; without it an unhashable argument would reach
    ``lru_cache`` first and give a bare ``TypeError``.

    >>> @cached_after(flag)
    ... def double(discrete=False):
    ...     return 2 * discrete
    >>> double(discrete=True), double()
    (2, 0)
    >>> double([True])
    Traceback (most recent call last):
    ...
    analytic.errors.InputError: argument 'discrete' = [True]: must be True or False
    """
    def decorate(func):
        cached = functools.lru_cache(maxsize=None)(func)
        signature = inspect.signature(func)
        (name,) = signature.parameters

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return cached(check(bound.arguments[name], name))
        wrapper.cache_clear = cached.cache_clear
        return wrapper
    return decorate
