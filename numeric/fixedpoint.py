r"""Fixed-point multiprecision matrices multiplied with float64 BLAS (an Ozaki-type scheme).

A :class:`Fixed` matrix stores :math:`X = \sum_k L_k\, 2^{E - \beta(k+1)}` with integer-valued
float64 *limbs* :math:`|L_k| \le 2^{\beta-1}` and :math:`E` a multiple of :math:`\beta`.  When
:math:`2\beta - 2 + \log_2 n < 53` every limb product :math:`L_a L'_b` over an inner dimension
:math:`n` is computed *exactly* by one float64 GEMM (``syrk``/``syr2k`` for Gram matrices).  The
products of one anti-diagonal :math:`a + b = s` are summed in float64 while a bound measured on
the limbs (largest row sum times largest entry) keeps the sum below :math:`2^{53}`, then split
once into two limbs; carries are propagated at the end.  Only the anti-diagonals an absolute
accuracy needs are formed (:func:`levels_for`: about :math:`16 n\,2^{E_X+E_Y-\beta(S+1)-2}`
is dropped after anti-diagonal :math:`S`).

Reference: K. Ozaki, T. Ogita, S. Oishi, S. M. Rump, "Error-free transformations of matrix
multiplication by using fast routines of matrix multiplication and its applications",
Numer. Algorithms 59 (2012) 95-118 (here with a fixed-point rather than per-row splitting).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg.blas import dsyr2k, dsyrk

from analytic.errors import InputError

__all__ = ["Fixed", "limb_bits", "pairs_per_split"]


def limb_bits(inner: int) -> int:
    """The largest limb width :math:`\\beta` with exact GEMMs over ``inner`` terms.

    >>> limb_bits(1000), limb_bits(128)
    (22, 23)
    """
    if inner < 1:
        raise InputError("inner", inner, "must be positive")
    return int((54 - math.ceil(math.log2(max(inner, 2)))) // 2)     # n 2^(2 beta - 2) <= 2^52



def _deposit(acc, s: int, P, base: float, tmp) -> None:
    """Add the exact sum ``P`` of limb-level ``s`` products into limbs ``s + 1`` and ``s + 2``.

    ``P`` (units of limb ``s + 2``, :math:`|P| < 2^{53}`) is split once at ``base``: the high
    part (at most :math:`2^{53-\beta}`) goes to limb ``s + 1``, which may exceed
    :math:`2^{\beta}` until the final carry propagation (:meth:`Fixed._normalized`), and the
    low part to limb ``s + 2`` (dropped when that limb lies beyond the accumulator).  ``P`` and
    ``tmp`` are overwritten.
    """
    hi = _round_div(P, base, tmp)
    acc[s + 1] += hi
    if s + 2 < acc.shape[0]:
        hi *= base
        P -= hi
        acc[s + 2] += P


def _round_div(P: np.ndarray, base: float, out: np.ndarray) -> np.ndarray:
    """``rint(P / base)`` into ``out`` (``base`` a power of two: the division is exact)."""
    np.multiply(P, 1.0 / base, out=out)
    return np.rint(out, out=out)


def _split(P: np.ndarray, base: float):
    hi = np.rint(P / base)
    return hi, P - hi * base


def _gemm_into(X: np.ndarray, Y: np.ndarray, out: np.ndarray, accumulate: bool) -> None:
    """``out = X @ Y`` or ``out += X @ Y`` (numpy's BLAS: measured faster here than SciPy's
    ``dgemm`` accumulating in place)."""
    if accumulate:
        out += X @ Y
    else:
        np.matmul(X, Y, out=out)


def pairs_per_split(beta: int, inner: int) -> int:
    """How many exact limb-product matrices can be summed in float64 without rounding.

    Each entry of one product is a sum of ``inner`` terms of size at most :math:`2^{2\\beta-2}`;
    ``m`` such matrices sum exactly while :math:`m \\cdot inner \\cdot 2^{2\\beta-2} \\le 2^{53}`.

    >>> pairs_per_split(21, 1000), pairs_per_split(22, 128)
    (8, 16)
    """
    return max(1, 1 << max(0, 53 - (2 * beta - 2) - math.ceil(math.log2(max(inner, 2)))))


def _limb_products(X: "Fixed", Y: "Fixed", nlimbs: int, inner: int, product, shape,
                   bound=None, keep_all: bool = False) -> "Fixed":
    r"""Limbs of :math:`\sum_{a+b \le L} X_a \circ Y_b` for an exact bilinear ``product``
    (called as ``product(x, y, out, accumulate)``).

    The products of one anti-diagonal are summed in float64 before being split into limbs, as
    many at a time as stay exact: ``bound(a, b)`` bounds every entry (and every partial sum) of
    ``X_a o Y_b``, and a group is split as soon as its bounds would reach :math:`2^{53}`;
    without ``bound`` the worst case over all limbs is used (:func:`pairs_per_split`)."""
    if X.beta != Y.beta:
        raise InputError("beta", (X.beta, Y.beta), "limb widths differ")
    beta = X.beta
    base = math.ldexp(1.0, beta)
    exact = math.ldexp(1.0, 53)
    if bound is None:
        worst = exact / pairs_per_split(beta, inner)

        def bound(a, b):
            return worst
    live_x = [bool(np.any(X.limbs[a])) for a in range(X.nlimbs)]
    live_y = [bool(np.any(Y.limbs[b])) for b in range(Y.nlimbs)]
    acc = np.zeros((nlimbs + 2,) + tuple(shape))
    P = np.empty(tuple(shape))
    tmp = np.empty(tuple(shape))
    for s in range(min(nlimbs, X.nlimbs + Y.nlimbs - 2) + 1):
        pairs = [(a, s - a) for a in range(max(0, s - Y.nlimbs + 1), min(X.nlimbs, s + 1))
                 if live_x[a] and live_y[s - a]]
        used, total = 0, 0.0
        for a, b in pairs:
            size = bound(a, b)
            if used and total + size > exact:
                _deposit(acc, s, P, base, tmp)
                used, total = 0, 0.0
            product(X.limbs[a], Y.limbs[b], P, used > 0)
            used, total = used + 1, total + size
        if used:
            _deposit(acc, s, P, base, tmp)
    return Fixed(acc, X.E + Y.E + beta, beta)._normalized(None if keep_all else nlimbs, inplace=True)


def levels_for(EX: int, EY: int, beta: int, inner: int, accuracy: float) -> int:
    r"""The last anti-diagonal :math:`S` of limb products to form for an absolute accuracy
    ``accuracy`` of a product of matrices with exponents ``EX``, ``EY``.

    The products dropped (:math:`a + b > S`, at most 16 per anti-diagonal) are bounded by
    :math:`16\,n\,2^{E_X+E_Y-\beta(S+1)-2}` in all, which is kept below ``accuracy / 4``.

    >>> levels_for(22, 0, 22, 1000, 2.0 ** -128)
    7
    """
    if accuracy <= 0:
        raise InputError("accuracy", accuracy, "must be positive")
    need = EX + EY + 4 + math.log2(max(inner, 2)) - math.log2(accuracy)
    return max(0, math.ceil(need / beta) - 1)


def _matmul_bound(X: "Fixed", Y: "Fixed"):
    """``bound(a, b)`` for ``X_a @ Y_b``: the largest row sum of ``|X_a|`` times ``max |Y_b|``
    (computed once per limb, when first needed)."""
    rows, tops = {}, {}

    def bound(a, b):
        if a not in rows:
            rows[a] = float(np.max(np.abs(X.limbs[a]).sum(axis=1)))
        if b not in tops:
            tops[b] = float(np.max(np.abs(Y.limbs[b])))
        return rows[a] * tops[b]
    return bound


def _col_dots_into(x, y, out, accumulate):
    if accumulate:
        out += np.einsum("ij,ij->j", x, y)[None, :]
    else:
        out[...] = np.einsum("ij,ij->j", x, y)[None, :]


def _multiply_into(x, y, out, accumulate):
    if accumulate:
        out += x * y
    else:
        np.multiply(x, y, out=out)


@dataclass(frozen=True, eq=False)
class Fixed:
    r"""A fixed-point matrix :math:`\sum_k \text{limbs}[k]\,2^{E-\beta(k+1)}`.

    >>> X = Fixed.from_float(np.array([[1.5, -0.25]]), beta=20, nlimbs=3)
    >>> X.to_float().tolist()
    [[1.5, -0.25]]
    """

    limbs: np.ndarray
    E: int
    beta: int

    def __post_init__(self):
        if self.limbs.ndim != 3:
            raise InputError("limbs", self.limbs.shape, "must have shape (L, rows, cols)")
        if self.E % self.beta:
            raise InputError("E", self.E, f"must be a multiple of beta = {self.beta}")

    # -- construction ----------------------------------------------------------------------
    @staticmethod
    def _exponent(maxabs: float, beta: int) -> int:
        if maxabs == 0:
            return 0
        e = math.frexp(maxabs)[1] + 1                   # 2^(e-1) > 2 |x|
        return beta * math.ceil(e / beta)

    @classmethod
    def from_float(cls, X, beta: int, nlimbs: int | None = None) -> "Fixed":
        """Exact (with enough limbs) conversion of a float64 array."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        if not np.isfinite(X).all():
            raise InputError("X", "non-finite", "entries must be finite")
        m = float(np.max(np.abs(X))) if X.size else 0.0
        E = cls._exponent(m, beta)
        if nlimbs is None:
            nlimbs = math.ceil(54 / beta) + 1          # absolute accuracy 2^-(54+beta) max|X|
        R = np.array(X, order="C")
        limbs = np.empty((nlimbs,) + X.shape)
        tmp = np.empty(X.shape)
        for k in range(nlimbs):                      # in place: R -= rint(R / w) w, exactly
            w = math.ldexp(1.0, E - beta * (k + 1))
            d = limbs[k]
            np.multiply(R, 1.0 / w, out=d)
            np.rint(d, out=d)
            np.multiply(d, w, out=tmp)
            R -= tmp
        return cls(limbs, E, beta)

    @classmethod
    def from_ints(cls, ints, shape, E: int, beta: int, nlimbs: int) -> "Fixed":
        """From Python integers ``I`` meaning ``I * 2^(E - beta nlimbs)`` (flattened, row-major)."""
        base = 1 << beta
        half = base >> 1
        limbs = np.zeros((nlimbs, len(ints)))
        for idx, val in enumerate(ints):
            v = int(val)
            for k in range(nlimbs - 1, -1, -1):
                d = ((v + half) % base) - half
                limbs[k, idx] = d
                v = (v - d) >> beta
            if v:
                limbs[0, idx] += v * base
        return cls(limbs.reshape((nlimbs,) + tuple(shape)), E, beta)._normalized()

    @classmethod
    def identity(cls, n: int, beta: int) -> "Fixed":
        return cls.from_float(np.eye(n), beta, 1)

    # -- basic algebra ---------------------------------------------------------------------
    @property
    def shape(self):
        return self.limbs.shape[1:]

    @property
    def nlimbs(self) -> int:
        return self.limbs.shape[0]

    @property
    def T(self) -> "Fixed":
        return Fixed(np.ascontiguousarray(self.limbs.transpose(0, 2, 1)), self.E, self.beta)

    def cols(self, idx) -> "Fixed":
        return Fixed(self.limbs[:, :, idx], self.E, self.beta)

    def block(self, rows, cols) -> "Fixed":
        return Fixed(self.limbs[:, rows][:, :, cols], self.E, self.beta)

    def _normalized(self, nlimbs: int | None = None, inplace: bool = False) -> "Fixed":
        """Carry-propagate, drop leading zero limbs, keep at most ``nlimbs`` limbs
        (``inplace``: reuse this object's limb array, for freshly built temporaries)."""
        acc = self.limbs if inplace else self.limbs.copy()
        base = math.ldexp(1.0, self.beta)
        c = np.empty(acc.shape[1:])
        for k in range(acc.shape[0] - 1, 0, -1):
            _round_div(acc[k], base, c)
            acc[k - 1] += c
            c *= base
            acc[k] -= c
        E = self.E
        _round_div(acc[0], base, c)                  # the carry out of the top limb
        if np.any(c):
            top = c.copy()
            c *= base
            acc[0] -= c
        else:
            top = c
        while np.any(top != 0):
            c, t = _split(top, base)
            acc = np.concatenate([t[None], acc])
            E += self.beta
            top = c
        lead = 0
        while lead < acc.shape[0] - 1 and not np.any(acc[lead]):
            lead += 1
        E -= self.beta * lead
        stop = acc.shape[0] if nlimbs is None else min(acc.shape[0], lead + nlimbs)
        return Fixed(acc[lead:stop], E, self.beta)

    def _aligned(self, other: "Fixed"):
        E = max(self.E, other.E)
        def pad(X):
            shift = (E - X.E) // X.beta
            return np.concatenate([np.zeros((shift,) + X.shape), X.limbs]) if shift else X.limbs
        a, b = pad(self), pad(other)
        L = max(a.shape[0], b.shape[0])
        a = np.concatenate([a, np.zeros((L - a.shape[0],) + a.shape[1:])]) if a.shape[0] < L else a
        b = np.concatenate([b, np.zeros((L - b.shape[0],) + b.shape[1:])]) if b.shape[0] < L else b
        return a, b, E

    def plus(self, other: "Fixed", nlimbs: int | None = None, sign: int = 1) -> "Fixed":
        """``self + sign * other`` (exact), normalized to at most ``nlimbs`` limbs."""
        if self.shape != other.shape:
            raise InputError("other", other.shape, f"shape differs from {self.shape}")
        E = max(self.E, other.E)
        sa, sb = (E - self.E) // self.beta, (E - other.E) // self.beta
        out = np.zeros((max(sa + self.nlimbs, sb + other.nlimbs),) + self.shape)
        out[sa:sa + self.nlimbs] = self.limbs
        if sign > 0:
            out[sb:sb + other.nlimbs] += other.limbs
        else:
            out[sb:sb + other.nlimbs] -= other.limbs
        return Fixed(out, E, self.beta)._normalized(nlimbs, inplace=True)

    def __add__(self, other: "Fixed") -> "Fixed":
        return self.plus(other)

    def __sub__(self, other: "Fixed") -> "Fixed":
        return self.plus(other, sign=-1)

    def diagonal(self) -> "Fixed":
        """The diagonal of a square matrix as a 1 x n Fixed."""
        r = np.arange(self.shape[0])
        return Fixed(self.limbs[:, r, r][:, None, :], self.E, self.beta)

    def identity_minus_float(self) -> np.ndarray:
        """``I - self`` in float64, the diagonal computed exactly before rounding (so that
        ``I - U^T U`` keeps its tiny diagonal for a nearly orthonormal ``U``)."""
        out = -self.to_float()
        n = self.shape[0]
        one = Fixed.from_float(np.ones((1, n)), self.beta, 1)
        out[np.arange(n), np.arange(n)] = (one - self.diagonal()).to_float()[0]
        return out

    def matmul(self, other: "Fixed", nlimbs: int) -> "Fixed":
        """``self @ other`` to ``nlimbs`` limbs (absolute error ~ n L 2^(E - beta nlimbs)).

        Only the limb pairs ``a + b <= nlimbs`` are formed (the others lie below the result's
        last limb); the exact GEMM products of one anti-diagonal ``a + b = s`` are summed in
        float64 (exactly, see :func:`pairs_per_split`) before being split into limbs.
        """
        if self.beta != other.beta:
            raise InputError("beta", (self.beta, other.beta), "limb widths differ")
        if self.shape[1] != other.shape[0]:
            raise InputError("shape", (self.shape, other.shape), "inner dimensions differ")
        return _limb_products(self, other, nlimbs, self.shape[1], _gemm_into,
                              (self.shape[0], other.shape[1]), _matmul_bound(self, other))

    def matmul_to(self, other: "Fixed", accuracy: float) -> "Fixed":
        """``self @ other`` to the absolute ``accuracy`` (the limb pairs needed for it, from the
        operands' exponents: see :func:`levels_for`)."""
        if self.shape[1] != other.shape[0]:
            raise InputError("shape", (self.shape, other.shape), "inner dimensions differ")
        S = levels_for(self.E, other.E, self.beta, self.shape[1], accuracy)
        return _limb_products(self, other, S, self.shape[1], _gemm_into,
                              (self.shape[0], other.shape[1]), _matmul_bound(self, other),
                              keep_all=True)

    def gram_to(self, accuracy: float) -> "Fixed":
        """``self.T @ self`` to the absolute ``accuracy`` (see :meth:`matmul_to`)."""
        S = levels_for(self.E, self.E, self.beta, self.shape[0], accuracy)
        return self.gram(S, keep_all=True)

    def gram(self, nlimbs: int, keep_all: bool = False) -> "Fixed":
        """``self.T @ self`` to ``nlimbs`` limbs; the limb pairs ``(a, b)`` and ``(b, a)`` are
        formed together by one symmetric rank-2k update (BLAS ``syr2k``, one triangle: the
        flops of one GEMM) and the pairs ``(a, a)`` by ``syrk`` (half a GEMM).

        >>> X = Fixed.from_float(np.array([[1.0, 2.0], [3.0, 4.0]]), 20, 3)
        >>> X.gram(6).to_float().tolist()
        [[10.0, 14.0], [14.0, 20.0]]
        """
        beta = self.beta
        base = math.ldexp(1.0, beta)
        chunk = pairs_per_split(beta, self.shape[0])
        if chunk < 2:                       # no room for a pair and its transpose: plain products
            return _limb_products(self.T, self, nlimbs, self.shape[0], _gemm_into,
                                  (self.shape[1], self.shape[1]), keep_all=keep_all)
        live = [bool(np.any(self.limbs[a])) for a in range(self.nlimbs)]
        m = self.shape[1]
        acc = np.zeros((nlimbs + 2, m, m))
        P = np.zeros((m, m))                # only P's lower triangle is ever written
        tmp = np.empty((m, m))
        for s in range(min(nlimbs, 2 * self.nlimbs - 2) + 1):
            # each pair a < b counts twice towards the exact-summation budget
            terms = [(a, s - a) for a in range(max(0, s - self.nlimbs + 1), s // 2 + 1)
                     if live[a] and live[s - a]]
            used = 0
            for k, (a, b) in enumerate(terms):
                Xa = self.limbs[a].T                     # Fortran-ordered views, no copies
                c = P.T                                  # upper triangle of P^T = lower of P
                if a == b:
                    dsyrk(1.0, Xa, beta=float(used > 0), c=c, trans=0, lower=0, overwrite_c=True)
                else:
                    dsyr2k(1.0, Xa, self.limbs[b].T, beta=float(used > 0), c=c, trans=0,
                           lower=0, overwrite_c=True)
                used += 1 if a == b else 2
                if used + 2 > chunk or k == len(terms) - 1:
                    _deposit(acc, s, P, base, tmp)
                    used = 0
        # the accumulated limbs are lower triangular: mirror them before the carries
        acc += np.tril(acc, -1).transpose(0, 2, 1)      # (the upper triangles are still zero)
        return Fixed(acc, 2 * self.E + beta, beta)._normalized(None if keep_all else nlimbs,
                                                               inplace=True)

    def col_dots(self, other: "Fixed", nlimbs: int) -> "Fixed":
        """Column-wise dot products ``sum_i self[i, j] other[i, j]`` as a 1 x n Fixed."""
        return _limb_products(self, other, nlimbs, self.shape[0], _col_dots_into, (1, self.shape[1]))

    def scale_cols(self, factors, nlimbs: int) -> "Fixed":
        """``self @ diag(factors)`` with float64 factors (exact conversion of the factors)."""
        f = Fixed.from_float(np.asarray(factors, dtype=float)[None, :], self.beta)
        return _limb_products(self, f, nlimbs, 1, _multiply_into, self.shape)

    # -- output ----------------------------------------------------------------------------
    def to_float(self) -> np.ndarray:
        """Nearest float64 values (summed from the smallest limb up)."""
        out = np.zeros(self.shape)
        for k in range(self.nlimbs - 1, -1, -1):
            out = out + self.limbs[k] * math.ldexp(1.0, self.E - self.beta * (k + 1))
        return out

    def to_ints(self):
        """``(integers, exponent)`` with value ``I * 2^exponent`` exactly (row-major)."""
        L = self.nlimbs
        flat = self.limbs.reshape(L, -1)
        ints = [0] * flat.shape[1]
        for k in range(L):
            row = flat[k].astype(np.int64).tolist()
            ints = [(v << self.beta) + d for v, d in zip(ints, row)]
        return ints, self.E - self.beta * L
