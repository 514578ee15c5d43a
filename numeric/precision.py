"""High-precision singular values of matrices and shallow-net Jacobians, each with a rigorous
error bound.

The entries (mpmath numbers, each rounded once) become a fixed-point matrix
(:mod:`numeric.fixedpoint`); its float64 SVD is refined by :mod:`numeric.refinement` to the
requested digits over a dynamic range that deepens until every non-zero value is resolved.
``verify=True`` then certifies the values (:mod:`numeric.spectrum_certificate`): residual
bounds of the refined vectors computed exactly in fixed point (:mod:`numeric.residual_bounds`),
then, for what they miss, ball-arithmetic steps on the exact matrix (:mod:`numeric.certify`:
entries as arb balls that contain the exact values, at a precision that follows the spectrum's
range), then mpmath's SVD at the precision the range needs with ball-arithmetic bounds.  Each
value gets an error bound that holds for the exact matrix; a value that cannot be certified
within the budget is named in ``uncertified``, and the result is then not ``verified``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import mpmath
import numpy as np

from analytic.errors import InputError

from .fixedpoint import Fixed, limb_bits
from .refinement import RefinementFailed, refined_singular_values

__all__ = ["refined_singular_values", "SpectrumResult", "network_spectrum", "matrix_spectrum",
           "fixed_from_mp", "agreeing_digits", "mpmath_singular_values", "top_limb_shift"]

# guard bits beyond the requested digits (+8 bits) and the dynamic range; the digits are
# certified afterwards (``verify``) by bounds that hold for the exact matrix
GUARD_BITS = 4


def fixed_from_mp(values, index, bits: int, beta: int, scale_exp: int = 0) -> Fixed:
    """A :class:`Fixed` matrix from distinct mpf ``values`` (times ``2^scale_exp``) and an index
    array, to ``bits`` bits below its largest entry (each value rounded once).

    With ``scale_exp = top_limb_shift(max|values|, beta)`` the largest entry fills the top limb,
    and one limb fewer carries the same bits.

    >>> A = fixed_from_mp([mpmath.mpf(1) / 3, mpmath.mpf(1)], np.array([[0, 1]]), 80, 20)
    >>> A.to_float().tolist() == [[1/3, 1.0]]
    True
    >>> k = top_limb_shift(1.0, 20)
    >>> B = fixed_from_mp([mpmath.mpf(1) / 3, mpmath.mpf(1)], np.array([[0, 1]]), 70, 20, k)
    >>> C = fixed_from_mp([mpmath.mpf(1) / 3, mpmath.mpf(1)], np.array([[0, 1]]), 70, 20)
    >>> (k, B.nlimbs, C.nlimbs, B.to_float().tolist() == [[2.0**k / 3, 2.0**k]])
    (18, 4, 5, True)
    """
    return fixed_from_grid(fixed_grid(values, bits, beta, scale_exp), index, beta)


def fixed_from_grid(grid, index, beta: int) -> Fixed:
    """The Fixed matrix of a :func:`fixed_grid` and an index array."""
    ints, E, nlimbs, _ = grid
    uniq = Fixed.from_ints(ints, (1, len(ints)), E, beta, nlimbs)
    flat = np.asarray(index).ravel()
    return Fixed(uniq.limbs[:, 0, flat].reshape((uniq.nlimbs,) + np.shape(index)), uniq.E, beta)


def fixed_grid(values, bits: int, beta: int, scale_exp: int = 0):
    """The grid of :func:`fixed_from_mp`: ``(ints, E, nlimbs, shift)`` with the distinct value
    ``v 2^scale_exp`` rounded once to ``ints[k] 2^-shift``.

    >>> fixed_grid([mpmath.mpf(1) / 3], 10, 20)
    ([349525], 0, 1, 20)
    """
    maxabs = max((abs(v) for v in values), default=mpmath.mpf(0))
    maxabs = mpmath.ldexp(maxabs, scale_exp)
    E = Fixed._exponent(float(maxabs), beta) if maxabs else 0
    full_top = maxabs and float(maxabs) >= math.ldexp(1.0, E - 3)
    nlimbs = math.ceil((bits + 2) / beta) if full_top else math.ceil(bits / beta) + 1
    shift = beta * nlimbs - E + scale_exp
    with mpmath.workprec(bits + 64):
        ints = [int(mpmath.nint(mpmath.ldexp(v, shift))) for v in values]
    return ints, E, nlimbs, shift - scale_exp


def top_limb_shift(maxabs: float, beta: int) -> int:
    r"""The power of two ``k`` that puts ``maxabs 2^k`` just below a limb boundary
    (:math:`2^{E-2} \le \text{maxabs}\,2^k < 2^{E-1}`, :math:`E` a multiple of ``beta``).

    >>> top_limb_shift(1.0, 22), top_limb_shift(0.3, 22), top_limb_shift(0.2, 22)
    (20, 0, 1)
    """
    if maxabs <= 0:
        return 0
    e = math.frexp(maxabs)[1]                 # 2^(e-1) <= maxabs < 2^e
    return (-(e + 1)) % beta


def mpmath_singular_values(A_mp: "mpmath.matrix", dps: int):
    """Reference: ``mpmath.svd_r`` singular values at ``dps`` digits, descending.

    >>> [float(v) for v in mpmath_singular_values(mpmath.matrix([[3, 0], [0, 4]]), 20)]
    [4.0, 3.0]
    """
    with mpmath.workdps(dps):
        S = mpmath.svd_r(A_mp, compute_uv=False)
        return sorted((S[i] for i in range(S.rows)), reverse=True)


def agreeing_digits(a, b, top, floor_digits: int) -> float:
    """Minimum over i of the number of agreeing significant digits of ``a[i]`` and ``b[i]``;
    values below ``10^-floor_digits top`` in both are compared in absolute terms.

    >>> agreeing_digits([mpmath.mpf(1)], [mpmath.mpf(1) + mpmath.mpf(10)**-20], 1, 30) > 19.9
    True
    """
    worst = math.inf
    for x, y in zip(a, b):
        ref = max(abs(x), abs(y), mpmath.mpf(top) * mpmath.mpf(10) ** (-floor_digits))
        d = abs(x - y)
        digits = math.inf if d == 0 else float(-mpmath.log10(d / ref))
        worst = min(worst, digits)
    return worst


@dataclass(frozen=True)
class SpectrumResult:
    """Singular values (mpf, descending) with the precision actually achieved."""

    values: tuple
    digits_requested: int
    digits_achieved: float
    seconds: float
    method: str
    verified: bool
    zeros: int = 0
    stats: dict = field(default_factory=dict)
    bounds: tuple = ()               # absolute error bound of each value, for the exact matrix
    uncertified: tuple = ()          # 1-based positions of values not certified to the digits

    def __post_init__(self):
        if self.digits_requested < 1:
            raise InputError("digits", self.digits_requested, "must be at least 1")

    def as_strings(self, digits: int | None = None) -> list[str]:
        d = digits or self.digits_requested
        with mpmath.workdps(d + 5):
            return [mpmath.nstr(v, d, min_fixed=-3, max_fixed=3) if v else "0" for v in self.values]

    def normalized(self) -> np.ndarray:
        """``s_k / s_1`` as floats (underflowing to 0 below 1e-308)."""
        top = self.values[0]
        return np.array([float(v / top) if top else 0.0 for v in self.values])


def _drop_zero_lines(values, index):
    """Remove rows and columns that are exactly zero (each carries one exact zero singular value)."""
    zero_ids = np.array([v == 0 for v in values])
    is_zero = zero_ids[index]
    rows = ~is_zero.all(axis=1)
    cols = ~is_zero.all(axis=0)
    return index[rows][:, cols]


def _pad_square(values, index):
    n, k = index.shape
    if n == k:
        return values, index
    size = max(n, k)
    zero_id = len(values)
    full = np.full((size, size), zero_id, dtype=index.dtype)
    full[:n, :k] = index
    return list(values) + [mpmath.mpf(0)], full


def _spectrum_once(values, index, digits: int, guard_bits: int, regenerate=None,
                   max_range: int = 120, vectors: bool = True):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(_blas_threads(max(np.shape(index)))):
        return _spectrum_once_inner(values, index, digits, guard_bits, regenerate, max_range, vectors)


_THREADS = {}


def _blas_threads(size: int) -> int:
    """BLAS threads for the limb GEMMs: one below 512 (threads only contend on small
    products); above, whichever of 1 or 2 threads runs a 512 x 512 GEMM faster right now (the
    machine may be shared, where a second thread can make GEMMs slower), once per size."""
    if size < 512:
        return 1
    if size in _THREADS:                       # measured once per size and process
        return _THREADS[size]
    from threadpoolctl import threadpool_limits
    X = np.random.default_rng(0).standard_normal((512, 512))   # a smaller probe of the same kind
    best, best_t = 2, math.inf
    for threads in (1, 2):
        with threadpool_limits(threads):
            X @ X
            t = time.perf_counter()
            X @ X
            elapsed = time.perf_counter() - t
        if elapsed < best_t:
            best, best_t = threads, elapsed
    _THREADS[size] = best
    return best


def _transposed(index):
    return np.ascontiguousarray(np.asarray(index).T)


def _spectrum_once_inner(values, index, digits, guard_bits, regenerate, max_range, vectors=True):
    """One computation; the dynamic range (decimal digits below s_1 resolved to full relative
    accuracy) starts at 16 and deepens while unresolved non-zero values remain."""
    range_digits = 16
    first = True
    while True:
        vals = values if regenerate is None else regenerate(digits + range_digits + 10)
        kept = _drop_zero_lines(vals, np.asarray(index))
        if kept.size == 0:
            return [mpmath.mpf(0)] * min(np.shape(index)), {"zeros": min(np.shape(index))}
        start = None
        if first:                     # initial dynamic range from the float64 spectrum
            M = np.array([float(v) for v in vals])[kept]
            square = M.shape[0] == M.shape[1]
            f64 = np.linalg.svd(M, compute_uv=square)      # (with vectors: the refinement's start)
            start, f64 = (f64, f64[1]) if square else (None, f64)
            ratio = f64[-1] / f64[0] if f64[0] else 0.0
            range_digits = 16 if ratio < 1e-13 else max(1, math.ceil(-math.log10(ratio)) + 1)
            first = False
        vals, idx = _pad_square(vals, kept)
        size = idx.shape[0]
        beta = limb_bits(size)
        bits = math.ceil(digits * math.log2(10)) + 8
        range_bits = math.ceil(range_digits * math.log2(10))
        k = top_limb_shift(float(max(abs(v) for v in vals)), beta)   # exact power-of-two scaling
        grid = fixed_grid(vals, bits + range_bits + guard_bits + 8, beta, k)
        A = fixed_from_grid(grid, idx, beta)
        if start is not None:         # the same matrix scaled by 2^k
            start = (start[0], np.ldexp(start[1], k), start[2])
        ints, e, stats = refined_singular_values(A, bits=bits, guard=guard_bits, range_bits=range_bits,
                                                 start=start, vectors=vectors)
        stats["square"] = (idx, len(vals) - 1 if len(vals) > len(values) else None)
        stats["matrix"] = (A, k, grid[0], grid[3])      # the refined matrix times 2^k, its grid
        with mpmath.workprec(bits + range_bits + guard_bits + 64):
            svals = [mpmath.ldexp(mpmath.mpf(i), e - k) for i in ints]
        # zeros beyond the structural ones (dropped zero lines, padding to a square) lie below
        # the working accuracy
        below = max(0, stats.get("zeros", 0) - (size - min(kept.shape)))
        svals = (svals + [mpmath.mpf(0)] * max(0, min(np.shape(index)) - len(svals)))[:min(np.shape(index))]
        stats["zeros"] = sum(1 for v in svals if v == 0)
        nonzero = [v for v in svals if v != 0]
        smallest = float(mpmath.log10(svals[0] / nonzero[-1])) if nonzero and svals[0] else 0.0
        stats["range_digits"] = range_digits
        if range_digits >= max_range or (smallest <= range_digits and not below):
            break
        # a value below the range, or one the refinement could only call zero: look deeper
        range_digits = min(max_range, max(math.ceil(smallest) + 12, 2 * range_digits if below else 0))
    return svals, stats


def matrix_spectrum(values, index, digits: int = 30, verify: bool = True, regenerate=None,
                    fallback: bool = True, max_range: int = 120, balls=None,
                    budget: float | None = None) -> SpectrumResult:
    """Singular values of the matrix ``A[i, j] = values[index[i, j]]`` to ``digits`` digits.

    ``verify`` certifies every value with a rigorous error bound for the exact matrix
    (:mod:`numeric.certify`): ``balls(prec)`` gives arb balls containing the exact distinct
    entries (default: the ``values`` themselves, exact as given).  The certified values are
    returned with their bounds; ``digits_achieved`` is the smallest number of digits the bounds
    guarantee, and ``uncertified`` names the values (1-based) that miss ``digits`` within
    ``budget`` seconds.  On a failed refinement the values fall back to ``mpmath.svd_r``.

    >>> r = matrix_spectrum([mpmath.mpf(1), mpmath.mpf(2)], np.array([[0, 1], [1, 0]]), digits=20)
    >>> r.as_strings(), r.verified, [float(b) < 1e-20 for b in r.bounds]
    (['3.0', '1.0'], True, [True, True])
    """
    if not isinstance(digits, int) or digits < 1 or digits > 300:
        raise InputError("digits", digits, "must be an integer in [1, 300]")
    start = time.perf_counter()
    deadline = None if budget is None else start + float(budget)
    method = "ogita-aishima (fixed-point float64 GEMMs)"
    vectors = None
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            svals, stats = _spectrum_once(values, index, digits, GUARD_BITS, regenerate, max_range,
                                          vectors=verify)     # the vectors: for the certificate
        vectors = stats.pop("vectors", None)
    except (RefinementFailed, OverflowError, FloatingPointError, InputError) as exc:
        if isinstance(exc, InputError) and exc.argument != "X":     # only a diverged refinement
            raise
        if not fallback:
            raise RefinementFailed(str(exc)) from None
        if verify:                    # the certificate refines from a float64 start
            method = "ball-arithmetic refinement (fallback)"
            svals, stats = [], {}
        else:
            method = "mpmath.svd_r (fallback)"
            with mpmath.workdps(digits + 10):
                M = mpmath.matrix([[values[k] for k in row] for row in np.asarray(index).tolist()])
            svals, stats = mpmath_singular_values(M, digits + 10), {}
    achieved, verified, bounds, uncertified = float("nan"), False, (), ()
    if verify:
        from .certify import ball
        from .spectrum_certificate import certified_values
        ball_values = balls if balls is not None else (lambda prec: [ball(v) for v in values])
        svals, bounds, uncertified, achieved, stats["certificate"] = certified_values(
            values, index, stats, vectors, ball_values, digits, deadline, max_range)
        verified = not uncertified
        if method.endswith("(fallback)"):
            method = f"{stats['certificate'].get('method', 'ball arithmetic')} (fallback: no refinement)"
    for key in ("matrix", "column_values"):
        stats.pop(key, None)
    zeros = sum(1 for v in svals if v == 0)
    return SpectrumResult(tuple(svals), digits, achieved, time.perf_counter() - start, method,
                          verified, zeros, dict(stats), bounds, uncertified)


def network_spectrum(activation: str, n: int, width: int, scale=None, digits: int = 30,
                     verify: bool = True, max_range: int = 120, budget: float | None = None) -> SpectrumResult:
    r"""Singular values of the shallow-net Jacobian :math:`\phi(s(x_i - b_j))` to ``digits`` digits.

    >>> r = network_spectrum("relu", 6, 6, digits=25)
    >>> r.verified, r.zeros, r.as_strings(8)[-1]
    (True, 1, '0')
    """
    from .networks import jacobian_ball_values, jacobian_mp_values
    values, index = jacobian_mp_values(activation, n, width, scale, dps=digits + 10)

    def regenerate(dps):
        return jacobian_mp_values(activation, n, width, scale, dps=dps + 10)[0]

    def balls(prec):
        return jacobian_ball_values(activation, n, width, scale, prec)
    return matrix_spectrum(values, index, digits, verify, regenerate, max_range=max_range, balls=balls,
                           budget=budget)
