"""Benchmark: all singular values of shallow-net Jacobians to 30 digits.

Ratios are against baselines measured in the same run:

* N = 128 (and 256): mpmath.svd_r at 30 digits / our time (target >= 100x); mpmath at 256 is
  estimated from the 128 run by N^3 scaling unless ``--mpmath-256`` is given.  Our time is the
  best of 2 certified runs (``verify=True``); the certified digit count (``network_spectrum`` with
  ``verify=True``: rigorous bounds for the exact matrix) is printed beside it.
* xprec (double-double NumPy dtype, ``xprec.linalg.svd``: Householder bidiagonalisation and
  implicit-shift Golub-Kahan QR, about 32 digits), at equal delivered digits: ReLU^2, tanh,
  sinc, GELU (default scales) at N = 128 (``--n256``: also 256) and a seeded standard-normal
  float64 matrix at N = 1000 (``--xprec-1000``).  xprec gets the entries rounded to
  double-double (``hi`` the nearest float, ``lo`` the nearest float to the rest); ours gets the
  40-digit entries and certifies its values (``matrix_spectrum(verify=True)``).  The digits
  xprec delivers are checked against a reference for the matrix xprec was given: at N = 128
  ``mpmath.svd_r`` at 75 digits (2.5x) on the double-double entries; at N = 256 (or with
  ``--certified-ref``) ours, certified at 34 digits on those entries (its bounds are rigorous,
  so a digit counts only when the distance to the centre plus the bound is below it).  The
  random matrix is exact in float64, so there our timed, certified result is the reference.
  Digits are the minimum over the values, relative to each value and relative to s_1.  Ours is
  then timed again at the digits xprec delivered (relative to each value, rounded down, at
  least 1), and both ratios xprec time / our time are printed.  How far the double-double
  rounding of the entries alone moves the values (ours on the 40-digit entries against the
  reference) is printed too: no double-double code can beat that from these entries.  Where
  ``xprec.linalg.svd`` fails or does not converge (sinc), ``xprec.linalg.svd_trunc`` (RRQR,
  then one-sided Jacobi) is measured as well.
  xprec's SVD runs on OpenMP threads (libgomp); it is timed with 1 and 2 threads and the faster
  counts (on a shared machine 2 threads can be far slower); at N = 1000 only 1 thread unless
  ``--xprec-threads`` says otherwise.
* Hard cases (scale 1: the spectra span 40 to 120+ decimal orders): tanh at N = 128 (and 256),
  sinc at N = 128: ``network_spectrum(verify=True)`` within ``--budget`` seconds against
  ``mpmath.svd_r`` at ``30 + log10(s_1 / s_min) + 5`` digits (s_min from our result).
* N = 1000 (ReLU^2, tanh with scale K, ``--big``): our certified time (``verify=True``) / numpy
  float64 SVD of the same matrix (target <= 15x), best of 2.
* Every candidate gets the same matrix, built before its clock starts: the 40-digit entries
  (``jacobian_mp_values``) for ours and for mpmath, their float64 rounding for numpy, their
  double-double rounding for xprec.
* numpy's baseline is the faster of 1 and 2 BLAS threads (best of 3 each).

The run ends with a Markdown table (matrix | ours | baseline | ratio | digits | target).

Usage: ``PYTHONPATH=. python benchmarks/bench_precision.py [--big] [--n256] [--xprec-1000]
[--mpmath-256] [--smoke]`` (``--help`` lists the rest; ``--smoke`` runs N = 32 / 64 / 100 in
place of 128 / 256 / 1000, to test the script).
"""
from __future__ import annotations

import argparse
import math
import time

import mpmath
import numpy as np
import numpy.ma  # noqa: F401  (must precede xprec: numpy.ma's import fails once ddouble is registered)

from numeric.networks import jacobian, jacobian_mp_values, jacobian_mpmath
from numeric.precision import agreeing_digits, matrix_spectrum, mpmath_singular_values, network_spectrum
from _timing import best_of, best_time  # noqa: E402  (benchmarks/ is the script's directory)

import _precision_parts as parts  # noqa: E402
from _precision_parts import (DIGITS, LABELS, ROWS, bench_xprec, bench_xprec_random, checked_digits,  # noqa: E402
                              fmt_d, fmt_t, ratio_words, row, _positions)


# --- hard cases ------------------------------------------------------------------------------

def hard_case(name, n, budget):
    t = time.perf_counter()
    res = network_spectrum(name, n, n, scale=1, digits=DIGITS, verify=True, budget=budget)
    t_o = time.perf_counter() - t
    nz = [v for v in res.values if v]
    span = float(mpmath.log10(nz[0] / nz[-1])) if nz else 0.0
    need = math.ceil(DIGITS + span + 5)
    A = jacobian_mpmath(name, n, n, scale=1, dps=need)
    t = time.perf_counter()
    mp = mpmath_singular_values(A, need)
    t_mp = time.perf_counter() - t
    each, top, worst = checked_digits(mp, res.values, res.bounds)
    label = f"{LABELS[name]} scale 1, N = {n}"
    print(f"{label}: ours (network_spectrum, verify=True, budget {budget:g} s) {t_o:.1f} s, verified "
          f"{res.verified}, certified {res.digits_achieved:.1f} digits, uncertified "
          f"{_positions(res.uncertified)}, {res.zeros} values returned as 0, span of the non-zero values "
          f"{span:.1f} digits, method {res.method} | mpmath.svd_r at {need} digits {t_mp:.1f} s "
          f"-> mpmath / ours {ratio_words(t_mp, t_o)} | mpmath within our bounds to {fmt_d(each)} "
          f"digits (each value, worst s_{worst}) / {fmt_d(top)} (s_1)", flush=True)
    status = "all certified" if res.verified else f"uncertified: {_positions(res.uncertified, 6)}"
    row(label, f"{fmt_t(t_o)} ({status})", f"`mpmath.svd_r` at {need} digits, {fmt_t(t_mp)}",
        ratio_words(t_mp, t_o), f"{res.digits_achieved:.1f} / {fmt_d(each)}", f"verified within {budget:g} s")


# --- the original comparisons ----------------------------------------------------------------

def numpy_svd_time(A):
    """numpy's float64 SVD (U, S, V), best of 3, with 1 and with 2 BLAS threads: the faster
    setting is the baseline (the machine is shared, so either can win)."""
    from threadpoolctl import threadpool_limits
    out = {}
    for threads in (1, 2):
        with threadpool_limits(threads):
            out[threads] = best_of(lambda: np.linalg.svd(A), 3)
    return min(out.values()), out


def ours(name, n, repeat, verify=False):
    """``matrix_spectrum`` of the 40-digit entries (built before the clock starts, as the
    baselines' matrices are)."""
    values, index = jacobian_mp_values(name, n, n, None, dps=DIGITS + 10)
    return best_time(lambda: matrix_spectrum(values, index, digits=DIGITS, verify=verify), repeat)


def bench_against_float64(name, n):
    A = jacobian(name, n, n)
    t_svd, per_thread = numpy_svd_time(A)
    t_ours, res = ours(name, n, 2, verify=True)
    s64 = [mpmath.mpf(v) for v in np.linalg.svd(A, compute_uv=False).tolist()]
    each, top, _ = checked_digits(s64, res.values, res.bounds)
    print(f"{LABELS[name]:6s} N={n}: ours (verify=True) {t_ours:8.2f} s, verified {res.verified}, "
          f"certified {res.digits_achieved:.1f} digits | numpy svd (U,S,V) {t_svd:.3f} s "
          f"(1 thread {per_thread[1]:.3f} s, 2 threads {per_thread[2]:.3f} s; its values hold "
          f"{fmt_d(each)} digits each / {fmt_d(top)} relative to s_1) -> ratio "
          f"{t_ours / t_svd:6.1f}x (target <= 15x) | stats {_stats(res.stats)}", flush=True)
    row(f"{LABELS[name]}, N = {n}", f"{fmt_t(t_ours)} (verified: {res.verified})",
        f"numpy float64 SVD (U, S, V), {fmt_t(t_svd)}", f"{t_ours / t_svd:.1f}x the time",
        f"{res.digits_achieved:.1f} / {fmt_d(each)} (s_1: {fmt_d(top)})", "<= 15x")
    return res


def bench_against_mpmath(name, n, run_mpmath=True, mp_small=None, n_small=128):
    t_ours, res = ours(name, n, 2, verify=True)
    t = time.perf_counter()
    check = network_spectrum(name, n, n, digits=DIGITS, verify=True)
    t_check = time.perf_counter() - t
    delivered = "-"
    if run_mpmath:
        A = jacobian_mpmath(name, n, n, dps=DIGITS + 10)
        t = time.perf_counter()
        ref = mpmath_singular_values(A, DIGITS)
        t_mp = time.perf_counter() - t
        digits = agreeing_digits(res.values, ref, ref[0], DIGITS)
        each, top, _ = checked_digits(ref, check.values, check.bounds)
        delivered = f"{fmt_d(each)} (s_1: {fmt_d(top)})"
        note = (f"mpmath.svd_r {t_mp:.2f} s (measured; agreement {digits:.1f} digits at mpmath's 30; "
                f"mpmath within our certified bounds to {delivered} digits)")
        base = f"`mpmath.svd_r` at 30 digits, {fmt_t(t_mp)}"
    else:
        t_mp = mp_small * (n / n_small) ** 3
        note = f"mpmath.svd_r ~{t_mp:.1f} s (ESTIMATED from N={n_small} by N^3)"
        base = f"`mpmath.svd_r`, ~{fmt_t(t_mp)} (N^3 from N = {n_small})"
    print(f"{LABELS[name]:6s} N={n}: ours {t_ours:7.3f} s | {note} -> speed-up {t_mp / t_ours:6.1f}x "
          f"(target >= 100x) | certified {check.digits_achieved:.1f} digits, verified {check.verified} "
          f"(network_spectrum verify=True, {t_check:.2f} s) | stats {_stats(res.stats)}", flush=True)
    row(f"{LABELS[name]}, N = {n}", f"{fmt_t(t_ours)} (verify=True)", base, f"{t_mp / t_ours:.0f}x faster",
        f"{check.digits_achieved:.1f} / {delivered}", ">= 100x")
    return t_mp


def _stats(stats):
    """The scalar entries of a result's ``stats`` (and of its nested dicts), for printing."""
    out = {}
    for k, v in stats.items():
        if isinstance(v, dict):
            out[k] = _stats(v)
        elif isinstance(v, (int, float, str, np.integer, np.floating)):
            out[k] = v
    return out


def print_table():
    head = ("matrix", "ours", "baseline", "ratio",
            "digits (ours certified / baseline delivered)", "target")
    rows = [head] + [tuple(str(c) for c in r) for r in ROWS]
    w = [max(len(r[i]) for r in rows) for i in range(len(head))]
    print()
    for k, r in enumerate(rows):
        print("| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |")
        if k == 0:
            print("|" + "|".join("-" * (w[i] + 2) for i in range(len(head))) + "|")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", action="store_true", help="also run N = 1000 ReLU^2 / tanh against numpy")
    ap.add_argument("--mpmath-256", action="store_true", help="measure mpmath at N = 256 (minutes)")
    ap.add_argument("--only-big", action="store_true", help="only the N = 1000 comparison against numpy")
    ap.add_argument("--verify-big", action="store_true",
                    help="also run network_spectrum(verify=True) on the exact N = 1000 Jacobians")
    ap.add_argument("--n256", action="store_true", help="xprec comparison and hard tanh case also at N = 256")
    ap.add_argument("--xprec-1000", action="store_true",
                    help="xprec on a random N = 1000 matrix (xprec alone takes about a minute)")
    ap.add_argument("--xprec-threads", type=lambda s: tuple(int(x) for x in s.split(",")), default=None,
                    help="OpenMP thread counts to time xprec with, e.g. 1,2 (default 1,2; 1 at N = 1000)")
    ap.add_argument("--no-mpmath-ref", action="store_true",
                    help="skip the 75-digit mpmath.svd_r reference of the xprec comparison at N = 128")
    ap.add_argument("--certified-ref", action="store_true",
                    help="at N = 128 also check xprec against our certified spectrum of its matrix "
                         "(always done where mpmath is not run; slow for sinc)")
    ap.add_argument("--budget", type=float, default=300.0,
                    help="seconds for each certified run of ours in the xprec and hard-case sections")
    ap.add_argument("--matrices", type=lambda s: tuple(s.split(",")), default=("relu2", "tanh", "sinc", "gelu"),
                    help="Jacobians of the xprec comparison (default relu2,tanh,sinc,gelu)")
    ap.add_argument("--sections", default="mpmath,xprec,hard",
                    help="comma list of mpmath (30-digit mpmath), xprec, hard (default: all three)")
    ap.add_argument("--smoke", action="store_true",
                    help="small sizes to test the script: N = 32 for 128, 64 for 256, 100 for 1000")
    args = ap.parse_args()
    sections = set(args.sections.split(",")) - {""}
    unknown = sections - {"mpmath", "xprec", "hard"}
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}")
    small, mid, big = (32, 64, 100) if args.smoke else (128, 256, 1000)
    args.n_small = small
    parts.REF_BUDGET = parts.OURS_BUDGET = args.budget
    import xprec
    print(f"{DIGITS}-digit singular values; mpmath {mpmath.__version__}, numpy {np.__version__}, "
          f"xprec {xprec.__version__}" + (" (SMOKE sizes)" if args.smoke else ""))
    if not args.only_big:
        if "mpmath" in sections:
            print(f"\n== ours (verify=True) vs mpmath.svd_r at {DIGITS} digits ==")
            for name in ("relu2", "tanh"):
                mp_small = bench_against_mpmath(name, small, n_small=small)
                bench_against_mpmath(name, mid, run_mpmath=args.mpmath_256, mp_small=mp_small, n_small=small)
        if "xprec" in sections:
            bench_xprec((small, mid) if args.n256 else (small,), args)
            if args.xprec_1000:
                bench_xprec_random(big, args)
        if "hard" in sections:
            print(f"\n== hard cases (scale 1): ours certified within {args.budget:g} s vs mpmath.svd_r ==")
            hard_case("tanh", small, args.budget)
            if args.n256:
                hard_case("tanh", mid, args.budget)
            hard_case("sinc", small, args.budget)
    if args.big or args.only_big:
        print(f"\n== N = {big}: ours certified (verify=True) vs numpy float64 SVD ==")
        for name in ("relu2", "tanh"):
            bench_against_float64(name, big)
            if args.verify_big:
                t = time.perf_counter()
                check = network_spectrum(name, big, big, digits=DIGITS, verify=True)
                print(f"        exact-matrix certificate (network_spectrum): {check.digits_achieved:.1f} "
                      f"digits, verified {check.verified}, {time.perf_counter() - t:.1f} s")
    print_table()


if __name__ == "__main__":
    main()
