"""Throughput of the stability simulators: paths x steps per second, vectorized
NumPy against a plain Python loop over paths and steps, measured in the same run.

    PYTHONPATH=. python benchmarks/bench_stability.py [--quick]
"""
from __future__ import annotations

import argparse
import random

import numpy as np

from numeric.stability_sim import sgd_quadratic_1d, two_step_growth
from _timing import best_of  # noqa: E402  (benchmarks/ is the script's directory)


def loop_sgd(a_values, eta, B, paths, steps, seed):
    """Plain Python: one path at a time, one batch (without replacement) per step."""
    rnd = random.Random(seed)
    a = list(map(float, a_values))
    n = len(a)
    total = 0.0
    for _ in range(paths):
        x = 1.0
        for _ in range(steps):
            batch = rnd.sample(range(n), B)
            x *= 1.0 - eta * sum(a[i] for i in batch) / B
        total += x * x
    return total / paths


def loop_two_step(c1, c0, steps):
    """Plain Python: the renormalized two-step recursion, one grid cell at a time."""
    import math
    out = []
    half = steps // 2
    for p, q in zip(c1, c0):
        u, up, log_scale, log_half = 1.0, 0.3, 0.0, 0.0
        for k in range(1, steps + 1):
            u, up = p * u + q * up, u
            m = max(abs(u), abs(up)) or 1.0
            u, up = u / m, up / m
            log_scale += math.log(m)
            if k == half:
                log_half = log_scale
        out.append((log_scale - log_half) / (steps - half))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    a_vals = rng.gamma(0.8, 1.0, size=20)
    paths, steps = (2000, 20) if args.quick else (20000, 50)
    loop_paths = max(paths // 20, 50)
    t_vec = best_of(lambda: sgd_quadratic_1d(a_vals, 0.5, 4, paths, steps, np.random.default_rng(1)))
    t_loop = best_of(lambda: loop_sgd(a_vals, 0.5, 4, loop_paths, steps, 1))
    r_vec, r_loop = paths * steps / t_vec, loop_paths * steps / t_loop
    print(f"SGD 1-D (n=20, B=4): vectorized {r_vec:,.0f} path-steps/s, Python loop {r_loop:,.0f} path-steps/s, "
          f"ratio {r_vec / r_loop:.1f}x")
    cells, k = (4000, 200) if args.quick else (40000, 400)
    c1, c0 = rng.uniform(-2, 2, cells), rng.uniform(-1, 1, cells)
    loop_cells = max(cells // 20, 100)
    t_vec = best_of(lambda: two_step_growth(c1, c0, steps=k))
    t_loop = best_of(lambda: loop_two_step(c1[:loop_cells], c0[:loop_cells], k))
    r_vec, r_loop = cells * k / t_vec, loop_cells * k / t_loop
    print(f"two-step grid: vectorized {r_vec:,.0f} cell-steps/s, Python loop {r_loop:,.0f} cell-steps/s, "
          f"ratio {r_vec / r_loop:.1f}x")
    # agreement of the two implementations on the same cells
    diff = np.max(np.abs(two_step_growth(c1[:50], c0[:50], steps=k) - np.array(loop_two_step(c1[:50], c0[:50], k))))
    print(f"max |vectorized - loop| growth rate on 50 cells: {diff:.2e}")


if __name__ == "__main__":
    main()
