r"""The certificate of a refined spectrum: the fast residual bounds first, ball arithmetic after.

:func:`certified_values` turns the refinement's output (the fixed-point matrix, its vectors and
values) into values with rigorous error bounds for the exact matrix:

1. :func:`numeric.residual_bounds.residual_bounds` on the refinement's own fixed-point matrix,
   with :math:`\delta \ge \|2^k A_\star - A\|_F` from arb balls of the distinct entries (the
   refinement works on :math:`2^k A_\star` rounded once to a grid);
2. if a value misses the requested digits there: :func:`numeric.certify.certify_spectrum`
   (ball-arithmetic steps from the same vectors, entries as balls at a precision following the
   spectrum's range, deepened while the budget allows);
3. what is still not certified is named (``uncertified``).
"""
from __future__ import annotations

import math
import time

import mpmath
import numpy as np

__all__ = ["certified_values", "entry_error_bound"]


def entry_error_bound(balls, grid_ints, shift: int, k: int, index) -> float:
    r"""An upper bound (float) of :math:`\|2^k A_\star - G\|_F` for the grid matrix
    :math:`G_{ij} = \text{grid\_ints}[\text{index}_{ij}]\,2^{-\text{shift}}` and balls
    ``balls[v]`` containing the exact distinct entries.

    >>> import flint
    >>> entry_error_bound([flint.arb(1) / 3], [1], 2, 0, np.array([[0, 0]])) > (2 ** 0.5) / 12
    True
    """
    import flint
    counts = np.bincount(np.asarray(index).ravel(), minlength=len(grid_ints))
    total = flint.arb(0)
    scale, grid_unit = flint.arb(2) ** int(k), flint.arb(2) ** -int(shift)
    for b, g, c in zip(balls, grid_ints, counts.tolist()):
        if c:
            err = (b * scale - flint.arb(flint.fmpz(int(g))) * grid_unit).abs_upper()
            total += c * err * err
    return float(total.sqrt().upper().mid()) * (1 + 2.0 ** -40) if total != 0 else 0.0


def _fast(stats, vectors, balls, idx, digits, count, max_range, deadline=None):
    """Step 1; ``None`` when the refinement left no fixed-point state."""
    import flint
    from .refinement import _orthonormal_cols
    from .residual_bounds import residual_bounds
    if "matrix" not in stats or vectors is None or "column_values" not in stats:
        return None
    A, k, grid_ints, shift = stats["matrix"]
    U, V, _ = vectors
    cints, e = stats["column_values"]
    n = A.shape[0]
    prec = max(max((abs(int(g)).bit_length() for g in grid_ints), default=1) + 64, 128)
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        delta = entry_error_bound(balls(prec), grid_ints, shift, k, idx)
    finally:
        flint.ctx.prec = old
    mags = sorted((abs(math.ldexp(float(v), e)) if v else 0.0 for v in cints), reverse=True)
    top = mags[0] if mags and mags[0] > 0 else 1.0
    floor = top * 10.0 ** -max_range
    smallest = min([m for m in mags[:count] if m > floor] or [top])
    acc = 10.0 ** -(digits + 4) * smallest / math.sqrt(n)
    # A^T U enters squared, the Gram matrices relative to 1: first at those accuracies, then
    # (if a value is missed) everything at the full one
    lean = dict(half_accuracy=10.0 ** -(digits / 2 + 8) * smallest / math.sqrt(n),
                gram_accuracy=10.0 ** -(digits + 4) / n)
    # vectors orthonormal to fewer digits than wanted (the defects enter as factors 1 +- eps)
    # are re-orthonormalized first
    def attempt(extra):
        b = residual_bounds(A, U, V, delta, acc, block_digits=digits + 8, deadline=deadline, **extra)
        return b, _judged(b, k, prec, digits, count, floor)
    b, out = attempt(lean)
    if out[2] and max(b.eps_u, b.eps_v) > 10.0 ** -(digits + 2):
        U, V = _orthonormal_cols(U, U.nlimbs), _orthonormal_cols(V, V.nlimbs)
        b, out = attempt(lean)
    if out[2] and (deadline is None or time.perf_counter() < deadline):
        b, out = attempt({})
    values, errs, bad = out
    return values, errs, bad, {"method": "residual bounds", "coupling": b.coupling, "eps_u": b.eps_u,
                               "eps_v": b.eps_v, "delta": delta, "second_order": b.second_order}


def _judged(b, k, prec, digits, count, floor):
    from .certify import SingularValueBounds, _exact, _judge
    wp = prec + 64
    with mpmath.workprec(wp):
        lower = tuple(mpmath.ldexp(_exact(x), -k) for x in b.lower)
        upper = tuple(mpmath.ldexp(_exact(x), -k) for x in b.upper)
    bounds = SingularValueBounds(lower, upper, b.coupling, b.eps_u, b.eps_v, wp)
    return _judge(bounds, digits, count, math.ldexp(floor, -k))


def _float_start(values, idx, zero_id):
    vals = list(values) + ([mpmath.mpf(0)] if zero_id is not None else [])
    Uf, _, Vtf = np.linalg.svd(np.array([float(v) for v in vals])[idx])
    return Uf, Vtf.T


#: the largest (padded) size for which mpmath's SVD with vectors is tried (minutes beyond)
MPMATH_MAX_N = 160


def _mpmath_certificate(balls, idx, digits: int, count: int, max_range: int):
    """``(values, bounds, uncertified, stats)`` from ``mpmath.svd_r`` with vectors at
    ``digits + max_range + 10`` digits (entries: the balls' midpoints), certified by
    :func:`numeric.certify.singular_value_bounds` on the exact matrix; ``None`` if mpmath fails."""
    import flint
    from .certify import ball_matrix, singular_value_bounds, _exact, _judge
    t = time.perf_counter()
    dps = digits + max_range + 10
    prec = math.ceil((dps + 10) * math.log2(10))
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        entries = balls(prec)
        mids = [_exact(b.mid()) for b in entries]
        with mpmath.workdps(dps):
            M = mpmath.matrix([[mids[k] for k in row] for row in np.asarray(idx).tolist()])
            try:
                U, _, Vt = mpmath.svd_r(M)
            except (ZeroDivisionError, ValueError):
                return None
            n = M.rows
            Ur = [[U[i, j] for j in range(n)] for i in range(n)]
            Vr = [[Vt[j, i] for j in range(n)] for i in range(n)]
        A = ball_matrix(entries, idx)
        b = singular_value_bounds(A, ball_matrix(Ur), ball_matrix(Vr))
    finally:
        flint.ctx.prec = old
    top = float(b.upper[0]) if b.upper and math.isfinite(float(b.upper[0])) else 1.0
    values, bounds, bad = _judge(b, digits, count, top * 10.0 ** -max_range)
    return values, bounds, tuple(bad), {"method": f"mpmath.svd_r at {dps} digits, ball-arithmetic bounds",
                                        "seconds": time.perf_counter() - t, "coupling": b.coupling}


def _mpmath_affordable(n: int, dps: int, deadline) -> bool:
    """Whether ``mpmath.svd_r`` with vectors fits: ``n <= MPMATH_MAX_N`` and its time (measured
    here: about 25 s at n = 128 and 160 digits, as n^3 dps^1.6) before the ``deadline``."""
    if n > MPMATH_MAX_N:
        return False
    estimate = 25.0 * (n / 128) ** 3 * (dps / 160) ** 1.6
    return deadline is None or time.perf_counter() + estimate < deadline


def certified_values(values, index, stats, vectors, balls, digits: int, deadline, max_range: int):
    """``(values, bounds, uncertified, digits_achieved, certificate stats)`` for the matrix
    ``A[i, j] = values[index[i, j]]`` from the refinement's ``stats`` and ``vectors`` (either may
    be missing: then from a float64 SVD), ``balls(prec)`` enclosing the exact distinct values."""
    from .certify import ball, certify_spectrum, fixed_to_ball
    from .precision import _drop_zero_lines, _pad_square
    count = min(np.shape(index))
    kept = _drop_zero_lines(values, np.asarray(index))
    kept_count = min(count, min(kept.shape))     # the rest: exact zeros of dropped zero lines
    square = stats.get("square")
    if square is not None and vectors is not None:
        idx, zero_id = square
    else:
        vals_p, idx = _pad_square(values, kept)
        zero_id = len(values) if len(vals_p) > len(values) else None
    with_zero = balls if zero_id is None else (lambda prec: list(balls(prec)) + [ball(0)])
    t = time.perf_counter()
    fast = _fast(stats, vectors, with_zero, idx, digits, kept_count, max_range, deadline)
    if fast is not None and not fast[2]:
        cvals, cbounds, bad, cstats = fast
        cstats["seconds"] = time.perf_counter() - t
    else:
        # from the refined vectors, unless they are far from orthonormal (then, or if the steps
        # break down, from a float64 SVD of the padded matrix)
        starts = []
        if square is not None and vectors is not None and not (fast is not None and fast[3]["eps_u"] > 0.5):
            starts.append(lambda: (fixed_to_ball(vectors[0]), fixed_to_ball(vectors[1])))
        starts.append(lambda: _float_start(values, idx, zero_id))
        range_digits = int(stats.get("range_digits", 16))
        n = np.shape(idx)[0]
        # without refined vectors (the refinement gave up: a spectrum deeper than its range),
        # mpmath at the precision the range needs comes first, while it is affordable
        early = vectors is None and _mpmath_affordable(n, digits + max_range + 10, deadline)
        exact = _mpmath_certificate(with_zero, idx, digits, kept_count, max_range) if early else None
        if exact is not None and not exact[2]:
            starts = []
        cert = None
        for start in starts:
            try:
                U, V = start()
                cert = certify_spectrum(with_zero, idx, U, V, digits, range_digits, kept_count, deadline,
                                        max_range)
                break
            except (ValueError, ZeroDivisionError, OverflowError, FloatingPointError):
                continue
        if cert is None:               # nothing certified: every value named, unbounded
            cvals, cbounds = [mpmath.mpf(0)] * kept_count, [mpmath.inf] * kept_count
            bad, cstats = tuple(range(1, kept_count + 1)), {}
        else:
            cvals, cbounds, bad, cstats = list(cert.values), list(cert.bounds), cert.uncertified, dict(cert.stats)
        cstats["method"] = "ball arithmetic"
        if exact is None and bad and _mpmath_affordable(n, digits + max_range + 10, deadline):
            exact = _mpmath_certificate(with_zero, idx, digits, kept_count, max_range)
        if exact is not None and (cert is None or len(exact[2]) < len(bad)):
            cvals, cbounds, bad, cstats = exact
        if fast is not None:
            cstats["residual_bounds_missed"] = len(fast[2])
    structural = count - kept_count
    svals = list(cvals) + [mpmath.mpf(0)] * structural
    bounds = tuple(cbounds) + (mpmath.mpf(0),) * structural
    achieved = min((-math.log10(float(bd / v)) if bd > 0 else math.inf
                    for v, bd in zip(cvals, cbounds) if v != 0), default=math.inf)
    return svals, bounds, tuple(bad), achieved, cstats
