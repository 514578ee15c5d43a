"""Error types of implreg.

Every error caused by bad user input is an :class:`ImplregError`; its message
names the argument and the value received.  The command line turns it into a
single line on stderr and exit status 2.
"""
from __future__ import annotations

__all__ = [
    "ImplregError",
    "LossSyntaxError",
    "InputError",
    "BudgetExceeded",
    "DivergenceError",
]


class ImplregError(ValueError):
    """Base class of every error that bad input can provoke."""


class InputError(ImplregError):
    """An argument has an invalid value.

    >>> raise InputError("h", -1, "must be positive")
    Traceback (most recent call last):
    ...
    analytic.errors.InputError: argument 'h' = -1: must be positive
    """

    def __init__(self, argument: str, value, reason: str):
        self.argument = argument
        self.value = value
        self.reason = reason
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:70] + "...(" + str(len(shown)) + " characters)"
        super().__init__(f"argument {argument!r} = {shown}: {reason}")


class LossSyntaxError(ImplregError):
    """The loss text uses something outside the loss language.

    ``token`` is the offending piece of text and ``column`` its 1-based column.
    """

    def __init__(self, message: str, token: str = "", column: int | None = None,
                 text: str | None = None):
        self.token = token
        self.column = column
        self.text = text
        where = f" at column {column}" if column is not None else ""
        tok = f" {token!r}" if token else ""
        super().__init__(f"loss syntax error{where}:{tok} {message}".replace(":  ", ": "))


class BudgetExceeded(ImplregError):
    """Symbolic work ran past its time budget."""

    def __init__(self, what: str, seconds: float):
        self.what = what
        self.seconds = seconds
        super().__init__(f"{what} exceeded its time budget of {seconds:g} s")


class DivergenceError(ImplregError):
    """A numeric iteration overflowed or produced NaN."""

    def __init__(self, what: str, step: int):
        self.what = what
        self.step = step
        super().__init__(f"{what} diverged at step {step}")
