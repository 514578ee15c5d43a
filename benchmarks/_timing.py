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


def print_rates(rate: dict, ours: str, unit: str, notes=(), width: int = 40) -> None:
    """A table of ``rate`` (items per second), fastest first, with ``rate[ours] / rate`` beside
    each candidate, then the ``notes``."""
    print(f"{'candidate':{width}s} {unit:>10s} {'implreg / this':>15s}")
    for name, r in sorted(rate.items(), key=lambda kv: -kv[1]):
        print(f"{name:{width}s} {r:10.3g} {rate[ours] / r:15.2f}")
    for note in notes:
        print(note)
