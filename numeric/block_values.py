r"""Rigorous enclosures of the singular values of small exact blocks (clusters of close values),
and exact comparisons of arb balls of radius 0.

* a pair :math:`2 \times 2` in closed form (:func:`pair_values`);
* a tight cluster by the Gershgorin hull of :math:`B^\top B` (:func:`cluster_hull`);
* a cluster with a spread by its shifted Gram matrix :math:`B^\top B - s^2 I`
  (:func:`shifted_gram_values`), its spread resolved relative to itself;
* otherwise ball-arithmetic steps (:func:`numeric.certify.certify_spectrum`).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .fixedpoint import Fixed

__all__ = ["larger", "smaller", "descending", "arb_entries", "pair_values", "abs_upper", "cluster_hull",
           "shifted_gram_values", "block_values"]


def larger(a, b):
    return b if b > a else a


def smaller(a, b):
    return b if b < a else a


def _compare(a, b) -> int:
    return -1 if a > b else (1 if a < b else 0)


descending = functools.cmp_to_key(_compare)


def arb_entries(X: Fixed):
    import flint
    ints, e = X.to_ints()
    unit = flint.arb(2) ** e
    return [flint.arb(flint.fmpz(v)) * unit for v in ints]


def pair_values(a, b, c, d):
    r"""Enclosures of the singular values of :math:`\begin{pmatrix} a & b \\ c & d
    \end{pmatrix}` (exact arbs): :math:`\sigma_1 + \sigma_2 = \sqrt{(a+d)^2 + (b-c)^2}`,
    :math:`\sigma_1 - \sigma_2 = |\sqrt{(a-d)^2 + (b+c)^2} - \ldots|` (sums of squares, safe at
    an exact double value).

    >>> import flint
    >>> [(float(lo), float(hi)) for lo, hi in pair_values(*map(flint.arb, (3, 0, 0, -1)))]
    [(3.0, 3.0), (1.0, 1.0)]
    """
    import flint
    zero = flint.arb(0)

    def root(x):                          # enclosure of sqrt(x) for a ball x of a value >= 0
        return larger(zero, x.lower()).sqrt().lower(), x.upper().sqrt().upper()
    p_lo, p_hi = root((a + d) * (a + d) + (b - c) * (b - c))       # (x * x: x ** 2 is NaN on a ball at 0)
    q_lo, q_hi = root((a - d) * (a - d) + (b + c) * (b + c))
    s1 = (((p_lo + q_lo) / 2).lower(), ((p_hi + q_hi) / 2).upper())
    s2_lo = larger(zero, larger((p_lo - q_hi).lower(), (q_lo - p_hi).lower()))
    s2_hi = larger((p_hi - q_lo).upper(), (q_hi - p_lo).upper())
    return [s1, ((s2_lo / 2).lower(), (s2_hi / 2).upper())]


def abs_upper(B) -> np.ndarray:
    """``|B|`` (a Fixed block, or the four arb entries of a pair) as floats rounded up."""
    if isinstance(B, Fixed):
        return np.abs(B.to_float()) * (1 + 2.0 ** -40)
    return np.array([float(x.abs_upper().mid()) for x in B]).reshape(2, 2) * (1 + 2.0 ** -40)


def cluster_hull(entries, k: int):
    r"""``(lo, hi)`` enclosing every singular value of the k x k matrix of exact ``entries``
    (row-major arbs): the square roots of the hull of the Gershgorin discs of :math:`B^\top B`.
    Tight for a cluster (:math:`B \approx c\,Q`, :math:`Q` orthogonal), wide otherwise.

    >>> import flint
    >>> lo, hi = cluster_hull([flint.arb(x) for x in (0, 2, 2, 0)], 2)
    >>> float(lo), float(hi)
    (2.0, 2.0)
    """
    import flint
    zero = flint.arb(0)
    B = flint.arb_mat(k, k, entries)
    C = B.transpose() * B
    lo, hi = None, None
    for i in range(k):
        radius = sum((abs(C[i, j]) for j in range(k) if j != i), zero)
        a, b = (C[i, i] - radius).lower(), (C[i, i] + radius).upper()
        lo = a if lo is None else smaller(lo, a)
        hi = b if hi is None else larger(hi, b)
    return larger(zero, lo).sqrt().lower(), hi.sqrt().upper()


def shifted_gram_values(entries, k: int, floor):
    r"""Enclosures of the singular values of a cluster block :math:`B` (exact ``entries``) from
    :math:`C = B^\top B - s^2 I` with :math:`s` = ``floor`` (a rigorous lower bound of
    :math:`\sigma_{\min}(B)`, so :math:`C` is positive semidefinite and its singular values are
    its eigenvalues :math:`\mu_i = \sigma_i^2 - s^2`): one Weyl–Ostrowski bound of :math:`C` from
    its float64 eigenvectors, then :math:`\sigma_i = \sqrt{s^2 + \mu_i}`.  The cluster's spread
    is resolved relative to itself, not to :math:`\sigma`.  ``None`` if the bound is unbounded."""
    import flint
    from .certify import ball, ball_matrix, singular_value_bounds
    B = flint.arb_mat(k, k, entries)
    s2 = (floor * floor).lower()
    eye = flint.arb_mat(k, k, [s2 if i == j else flint.arb(0) for i in range(k) for j in range(k)])
    C = B.transpose() * B - eye
    Cf = np.array([[float(C[i, j].mid()) for j in range(k)] for i in range(k)])
    scale = float(np.max(np.abs(Cf))) or 1.0
    _, X = np.linalg.eigh((Cf + Cf.T) / (2 * scale))
    X = X[:, ::-1]
    b = singular_value_bounds(C, ball_matrix(X), ball_matrix(X))
    if not all(math.isfinite(float(u)) for u in b.upper):
        return None
    out = []
    for a, u in zip(b.lower, b.upper):
        lo_mu, hi_mu = ball(a).lower(), ball(u).upper()      # (rounded outwards if inexact)
        out.append(((s2 + lo_mu).sqrt().lower(), (s2 + hi_mu).sqrt().upper()))
    return out


def block_values(B, digits: int, deadline=None):
    """Enclosures ``(lo, hi)`` of the singular values of the exact small block ``B`` (descending):
    in closed form for 2 x 2; for a larger cluster the hull of :func:`cluster_hull` when it is
    tight to ``digits``, else ball-arithmetic steps (:func:`numeric.certify.certify_spectrum`)."""
    import flint
    from .certify import certify_spectrum
    if not isinstance(B, Fixed):
        return pair_values(*B)
    k = B.shape[0]
    entries = arb_entries(B)
    enough = flint.arb(10) ** -(digits - 6)      # the caller's digits carry 8 guard digits
    lo, hi = cluster_hull(entries, k)
    if lo > 0 and hi - lo <= lo * enough:
        return [(lo, hi)] * k
    shifted = shifted_gram_values(entries, k, lo)
    if shifted is not None and all(b - a <= a * enough for a, b in shifted):
        return shifted
    Bf = B.to_float()
    Uf, _, Vtf = np.linalg.svd(Bf)
    cert = certify_spectrum(lambda prec: entries, np.arange(k * k).reshape(k, k), Uf, Vtf.T, digits,
                            4, k, deadline, 4 + digits)
    out = []
    for v, b in zip(cert.values, cert.bounds):
        out.append(((flint.arb(v) - flint.arb(b)).lower(), (flint.arb(v) + flint.arb(b)).upper()))
    return out
