"""The hard spectrum cases: does every printed digit hold, or is the value named?

For each case (activation, scale, N x K) this runs ``network_spectrum(..., digits=30,
budget=B)`` and prints whether it was verified, which values are not certified, the digits the
bounds guarantee and the time.  With ``--check`` the certified values are also compared with
``mpmath.svd_r`` at 2.5 times the digits (N <= 64 only: minutes otherwise): a certified value
off by more than its bound would be a wrong value with exit 0.

Usage: ``PYTHONPATH=. python benchmarks/spectrum_cases.py [--sizes 64,96,128] [--budget 60] [--check]``
"""
from __future__ import annotations

import argparse
import time

import mpmath

from numeric.networks import jacobian_mpmath
from numeric.precision import mpmath_singular_values, network_spectrum

# (activation, scale or None for the default, width or None for K = N)
CASES = [("sinc", 1, None), ("sinc", 10, None), ("gaussian", 1, None), ("tanh", 1, None),
         ("gelu", 1, None), ("gelu", 10, None), ("silu", 1, None), ("gelu", None, None),
         ("silu", None, None), ("sinc", None, None), ("gaussian", None, None), ("silu", 10, None),
         ("heaviside", None, 48), ("relu", None, 48)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="64,96,128")
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    print(f"{'case':24s} {'verified':>8s} {'uncertified':>12s} {'digits':>7s} {'seconds':>8s} check")
    for n in [int(s) for s in args.sizes.split(",")]:
        for act, scale, width in CASES:
            k = width if width is not None and n == 64 else n
            label = f"{act}-{'default' if scale is None else 's%d' % scale}-{n}x{k}"
            t = time.perf_counter()
            r = network_spectrum(act, n, k, scale, digits=30, budget=args.budget)
            sec = time.perf_counter() - t
            check = ""
            if args.check and n <= 64:
                ref = mpmath_singular_values(jacobian_mpmath(act, n, k, scale, dps=85), 75)
                bad = [i + 1 for i, (v, b, x) in enumerate(zip(r.values, r.bounds, ref))
                       if i + 1 not in r.uncertified and abs(v - x) > b + mpmath.mpf(10) ** -70 * ref[0]]
                check = "WRONG at " + str(bad) if bad else "all certified values hold"
            unc = len(r.uncertified)
            print(f"{label:24s} {str(r.verified):>8s} {unc:12d} {r.digits_achieved:7.1f} {sec:8.1f} {check}",
                  flush=True)


if __name__ == "__main__":
    main()
