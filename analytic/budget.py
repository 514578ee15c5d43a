"""Time budgets for symbolic work.

SymPy operations such as ``simplify`` can run for a very long time on
pathological input.  :func:`time_budget` bounds them: in the main thread it
uses a real-time interval timer (``SIGALRM``) to interrupt the computation and
raises :class:`~analytic.errors.BudgetExceeded`.  Outside the main thread (where
signals cannot be delivered) the budget is checked cooperatively after the
work returns.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time

from .errors import BudgetExceeded

__all__ = ["time_budget", "with_budget"]


class _Alarm(BaseException):
    """Raised inside the budgeted block by the timer (BaseException so that
    SymPy's broad ``except Exception`` clauses cannot swallow it)."""


@contextlib.contextmanager
def time_budget(seconds: float | None, what: str = "symbolic computation"):
    """Run the enclosed block with a wall-clock budget of ``seconds``.

    >>> import sympy as sp
    >>> with time_budget(5, "expand"):
    ...     e = sp.expand((sp.Symbol('x') + 1) ** 3)
    >>> e
    x**3 + 3*x**2 + 3*x + 1
    """
    if seconds is None or seconds <= 0:
        yield
        return
    main = threading.current_thread() is threading.main_thread()
    if not main or not hasattr(signal, "setitimer"):
        start = time.perf_counter()
        yield
        if time.perf_counter() - start > seconds:
            raise BudgetExceeded(what, seconds)
        return

    def _handler(signum, frame):
        raise _Alarm()

    old_handler = signal.signal(signal.SIGALRM, _handler)
    old_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Alarm:
        raise BudgetExceeded(what, seconds) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_timer[0] > 0:  # restore an enclosing budget
            signal.setitimer(signal.ITIMER_REAL, old_timer[0])


_MISSING = object()


def with_budget(func, seconds: float | None, what: str, *args, fallback=_MISSING, **kwargs):
    """Call ``func(*args, **kwargs)`` within a budget.

    If ``fallback`` is given, return it when the budget runs out instead of
    raising (used for optional simplification).

    >>> with_budget(lambda: 1 + 1, 1.0, "addition")
    2
    """
    try:
        with time_budget(seconds, what):
            return func(*args, **kwargs)
    except BudgetExceeded:
        if fallback is not _MISSING:
            return fallback
        raise
