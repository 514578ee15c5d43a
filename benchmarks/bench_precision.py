"""Benchmark: all singular values of shallow-net Jacobians to 30 digits.

Ratios are against baselines measured in the same run:

* N = 1000 (ReLU^2, tanh with scale K): our time / numpy float64 SVD of the same matrix
  (target <= 30x), best of 2;
* N = 128 (and 256): mpmath.svd_r at 30 digits / our time (target >= 100x); mpmath at 256 is
  estimated from the 128 run by N^3 scaling unless ``--mpmath-256`` is given.  Our time is the
  best of 2 runs without verification; the verified digit count (agreement with an independent
  recomputation at 42 digits) is printed beside it.
* Every candidate gets the same matrix, built before its clock starts: the 40-digit entries
  (``jacobian_mp_values``) for ours and for mpmath, their float64 rounding for numpy.
* numpy's baseline is the faster of 1 and 2 BLAS threads (best of 3 each).

Usage: ``PYTHONPATH=. python benchmarks/bench_precision.py [--big] [--mpmath-256]``
"""
from __future__ import annotations

import argparse
import time

import mpmath
import numpy as np

from numeric.networks import jacobian, jacobian_mp_values, jacobian_mpmath
from numeric.precision import agreeing_digits, matrix_spectrum, mpmath_singular_values, network_spectrum
from _timing import best_of  # noqa: E402  (benchmarks/ is the script's directory)

DIGITS = 30


def numpy_svd_time(A):
    """numpy's float64 SVD (U, S, V), best of 3, with 1 and with 2 BLAS threads: the faster
    setting is the baseline (the machine is shared, so either can win)."""
    from threadpoolctl import threadpool_limits
    out = {}
    for threads in (1, 2):
        with threadpool_limits(threads):
            out[threads] = best_of(lambda: np.linalg.svd(A), 3)
    return min(out.values()), out


def ours(name, n, repeat):
    """``matrix_spectrum`` of the 40-digit entries (built before the clock starts, as the
    baselines' matrices are)."""
    values, index = jacobian_mp_values(name, n, n, None, dps=DIGITS + 10)
    res = None

    def run():
        nonlocal res
        res = matrix_spectrum(values, index, digits=DIGITS, verify=False)
    return best_of(run, repeat), res


def bench_against_float64(name, n):
    A = jacobian(name, n, n)
    t_svd, per_thread = numpy_svd_time(A)
    t_ours, res = ours(name, n, 2)
    print(f"{name:6s} N={n}: ours {t_ours:8.2f} s | numpy svd (U,S,V) {t_svd:.3f} s "
          f"(1 thread {per_thread[1]:.3f} s, 2 threads {per_thread[2]:.3f} s) -> ratio "
          f"{t_ours / t_svd:6.1f}x (target <= 30x) | stats {res.stats}", flush=True)
    return res


def bench_against_mpmath(name, n, run_mpmath=True, mp_128=None):
    t_ours, res = ours(name, n, 2)
    if run_mpmath:
        A = jacobian_mpmath(name, n, n, dps=DIGITS + 10)
        t = time.perf_counter()
        ref = mpmath_singular_values(A, DIGITS)
        t_mp = time.perf_counter() - t
        digits = agreeing_digits(res.values, ref, ref[0], DIGITS)
        note = f"mpmath.svd_r {t_mp:.2f} s (measured; agreement {digits:.1f} digits at mpmath's 30)"
    else:
        t_mp = mp_128 * (n / 128) ** 3
        note = f"mpmath.svd_r ~{t_mp:.1f} s (ESTIMATED from N=128 by N^3)"
    t = time.perf_counter()
    check = network_spectrum(name, n, n, digits=DIGITS, verify=True)
    t_check = time.perf_counter() - t
    print(f"{name:6s} N={n}: ours {t_ours:7.3f} s | {note} -> speed-up {t_mp / t_ours:6.1f}x "
          f"(target >= 100x) | verified {check.digits_achieved:.1f} digits by recomputation at "
          f"{DIGITS + 12} digits on the transposed matrix ({t_check:.2f} s for both runs) | "
          f"stats {res.stats}", flush=True)
    return t_mp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", action="store_true", help="also run N = 1000")
    ap.add_argument("--mpmath-256", action="store_true", help="measure mpmath at N = 256 (minutes)")
    ap.add_argument("--only-big", action="store_true", help="skip the N = 128/256 comparison")
    ap.add_argument("--verify-big", action="store_true", help="also verify N = 1000 at 42 digits (slow)")
    args = ap.parse_args()
    print(f"30-digit singular values; mpmath {mpmath.__version__}, numpy {np.__version__}")
    for name in (() if args.only_big else ("relu2", "tanh")):
        mp_128 = bench_against_mpmath(name, 128)
        bench_against_mpmath(name, 256, run_mpmath=args.mpmath_256, mp_128=mp_128)
    if args.big or args.only_big:
        for name in ("relu2", "tanh"):
            bench_against_float64(name, 1000)
            if args.verify_big:
                t = time.perf_counter()
                check = network_spectrum(name, 1000, 1000, digits=DIGITS, verify=True)
                print(f"        verification (transposed matrix, {DIGITS + 12} digits): achieved "
                      f"{check.digits_achieved:.1f} digits, {time.perf_counter() - t:.1f} s (both runs)")


if __name__ == "__main__":
    main()
