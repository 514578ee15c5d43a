"""Wall-clock helpers shared by the benchmark scripts (best of several runs)."""
from __future__ import annotations

import time


def best_time(func, repeats: int = 3):
    """``(fastest wall time in seconds, output of the last call)`` over ``repeats`` calls."""
    best, out = float("inf"), None
    for _ in range(max(int(repeats), 1)):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def best_of(func, repeats: int = 3) -> float:
    """Fastest wall time in seconds over ``repeats`` calls of ``func``."""
    return best_time(func, repeats)[0]
