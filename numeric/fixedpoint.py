r"""Fixed-point multiprecision matrices multiplied with float64 BLAS (an Ozaki-type scheme).

A :class:`Fixed` matrix stores :math:`X = \sum_k L_k\, 2^{E - \beta(k+1)}` with integer-valued
float64 *limbs* :math:`|L_k| \le 2^{\beta-1}` and :math:`E` a multiple of :math:`\beta`.  When
:math:`2\beta - 2 + \log_2 n < 53` every limb product :math:`L_a L'_b` over an inner dimension
:math:`n` is computed *exactly* by one float64 GEMM; the partial products are split into limbs and
accumulated without rounding.  Truncating after :math:`L` limbs gives an absolute error of about
:math:`n L\, 2^{E-\beta L}`.

Reference: K. Ozaki, T. Ogita, S. Oishi, S. M. Rump, "Error-free transformations of matrix
multiplication by using fast routines of matrix multiplication and its applications",
Numer. Algorithms 59 (2012) 95-118 (here with a fixed-point rather than per-row splitting).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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



def _deposit(acc, s: int, P, base) -> None:
    """Add the exact sum ``P`` of limb-level ``s`` products into limbs ``s, s+1, s+2``.

    ``P`` is split twice at ``base`` so each piece fits its limb; the lowest piece
    is dropped when limb ``s + 2`` lies beyond the accumulator (below the precision kept).
    """
    hi, lo = _split(P, base)
    hi2, mid = _split(hi, base)
    if s + 2 < acc.shape[0]:
        acc[s + 2] += lo
    acc[s + 1] += mid
    acc[s] += hi2

def _split(P: np.ndarray, base: float):
    hi = np.rint(P / base)
    return hi, P - hi * base


def pairs_per_split(beta: int, inner: int) -> int:
    """How many exact limb-product matrices can be summed in float64 without rounding.

    Each entry of one product is a sum of ``inner`` terms of size at most :math:`2^{2\\beta-2}`;
    ``m`` such matrices sum exactly while :math:`m \\cdot inner \\cdot 2^{2\\beta-2} \\le 2^{53}`.

    >>> pairs_per_split(21, 1000), pairs_per_split(22, 128)
    (8, 16)
    """
    return max(1, 1 << max(0, 53 - (2 * beta - 2) - math.ceil(math.log2(max(inner, 2)))))


def _limb_products(X: "Fixed", Y: "Fixed", nlimbs: int, inner: int, product, shape) -> "Fixed":
    r"""Limbs of :math:`\sum_{a+b \le L} X_a \circ Y_b` for an exact bilinear ``product``."""
    if X.beta != Y.beta:
        raise InputError("beta", (X.beta, Y.beta), "limb widths differ")
    beta = X.beta
    base = math.ldexp(1.0, beta)
    chunk = pairs_per_split(beta, inner)
    live_x = [bool(np.any(X.limbs[a])) for a in range(X.nlimbs)]
    live_y = [bool(np.any(Y.limbs[b])) for b in range(Y.nlimbs)]
    acc = np.zeros((nlimbs + 2,) + tuple(shape))
    for s in range(min(nlimbs, X.nlimbs + Y.nlimbs - 2) + 1):
        pairs = [(a, s - a) for a in range(max(0, s - Y.nlimbs + 1), min(X.nlimbs, s + 1))
                 if live_x[a] and live_y[s - a]]
        for start in range(0, len(pairs), chunk):
            P = None
            for a, b in pairs[start:start + chunk]:
                term = product(X.limbs[a], Y.limbs[b])
                if P is None:
                    P = term
                else:
                    P += term
            _deposit(acc, s, P, base)
    return Fixed(acc, X.E + Y.E + beta, beta)._normalized(nlimbs, inplace=True)


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
        R = X.copy()
        limbs = np.empty((nlimbs,) + X.shape)
        for k in range(nlimbs):
            w = math.ldexp(1.0, E - beta * (k + 1))
            d = np.rint(R / w)
            limbs[k] = d
            R = R - d * w
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
        for k in range(acc.shape[0] - 1, 0, -1):
            c, acc[k] = _split(acc[k], base)
            acc[k - 1] += c
        E = self.E
        top, acc[0] = _split(acc[0], base)
        while np.any(top != 0):
            c, t = _split(top, base)
            acc = np.concatenate([t[None], acc])
            E += self.beta
            top = c
        while acc.shape[0] > 1 and not np.any(acc[0]):
            acc = acc[1:]
            E -= self.beta
        if nlimbs is not None and acc.shape[0] > nlimbs:
            acc = acc[:nlimbs]
        return Fixed(acc, E, self.beta)

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

    def __add__(self, other: "Fixed") -> "Fixed":
        a, b, E = self._aligned(other)
        return Fixed(a + b, E, self.beta)._normalized(inplace=True)

    def __sub__(self, other: "Fixed") -> "Fixed":
        a, b, E = self._aligned(other)
        return Fixed(a - b, E, self.beta)._normalized(inplace=True)

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
        return _limb_products(self, other, nlimbs, self.shape[1], np.matmul,
                              (self.shape[0], other.shape[1]))

    def gram(self, nlimbs: int) -> "Fixed":
        """``self.T @ self`` to ``nlimbs`` limbs; the limb pairs ``(a, b)`` and ``(b, a)`` give
        transposed products, so each is formed once (half the GEMMs of :meth:`matmul`).

        >>> X = Fixed.from_float(np.array([[1.0, 2.0], [3.0, 4.0]]), 20, 3)
        >>> X.gram(6).to_float().tolist()
        [[10.0, 14.0], [14.0, 20.0]]
        """
        beta = self.beta
        base = math.ldexp(1.0, beta)
        chunk = pairs_per_split(beta, self.shape[0])
        if chunk < 2:                       # no room for P + P^T: plain products
            return self.T.matmul(self, nlimbs)
        live = [bool(np.any(self.limbs[a])) for a in range(self.nlimbs)]
        m = self.shape[1]
        acc = np.zeros((nlimbs + 2, m, m))
        for s in range(min(nlimbs, 2 * self.nlimbs - 2) + 1):
            # each pair a < b counts twice (P + P^T) towards the exact-summation budget
            terms = [(a, s - a) for a in range(max(0, s - self.nlimbs + 1), s // 2 + 1)
                     if live[a] and live[s - a]]
            P, used = None, 0
            for k, (a, b) in enumerate(terms):
                T = self.limbs[a].T @ self.limbs[b]
                if a != b:
                    T = T + T.T
                P = T if P is None else P + T
                used += 1 if a == b else 2
                if used + 2 > chunk or k == len(terms) - 1:
                    _deposit(acc, s, P, base)
                    P, used = None, 0
        return Fixed(acc, 2 * self.E + beta, beta)._normalized(nlimbs, inplace=True)

    def col_dots(self, other: "Fixed", nlimbs: int) -> "Fixed":
        """Column-wise dot products ``sum_i self[i, j] other[i, j]`` as a 1 x n Fixed."""
        def dots(x, y):
            return np.einsum("ij,ij->j", x, y)[None, :]
        return _limb_products(self, other, nlimbs, self.shape[0], dots, (1, self.shape[1]))

    def scale_cols(self, factors, nlimbs: int) -> "Fixed":
        """``self @ diag(factors)`` with float64 factors (exact conversion of the factors)."""
        f = Fixed.from_float(np.asarray(factors, dtype=float)[None, :], self.beta)
        return _limb_products(self, f, nlimbs, 1, np.multiply, self.shape)

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

    def max_abs_bound(self) -> float:
        """An upper bound on ``max |X|``."""
        return float(np.max(np.abs(self.to_float()))) * (1 + 1e-12) + math.ldexp(1.0, self.E - self.beta * self.nlimbs)
