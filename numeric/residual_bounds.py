r"""Rigorous singular-value bounds from residuals computed exactly in fixed point.

For a square fixed-point matrix :math:`A` (:class:`numeric.fixedpoint.Fixed`, exact), an exact
bound :math:`\delta \ge \|A_\star - A\|_F` to the matrix :math:`A_\star` that is meant, any
fixed-point :math:`U, V` and values :math:`\tilde d_j` (one per column), the products

.. math::
    W = A V, \quad Z = A^\top U, \quad P = U^\top U - I, \quad Q = V^\top V - I

are formed by exact float64 limb GEMMs, truncated where their accuracy is not needed, and each
truncation is bounded from the limbs that were dropped (:func:`truncation_bound`).  Then

* first order (Weyl and Ostrowski): with :math:`T = U^\top A V` and :math:`\tilde D =
  \operatorname{diag}(\tilde d)`, :math:`T - \tilde D = U^\top (W - U\tilde D) + P\tilde D`, so
  :math:`\|T - \tilde D\|_2 \le r = \sqrt{1+\epsilon_U}\,\|W - U\tilde D\|_F + \|P\tilde D\|_F`
  and :math:`\sigma_i(A) \in [(d_{(i)} - r)/\sqrt{(1+\epsilon_U)(1+\epsilon_V)},\,
  (d_{(i)} + r)/\sqrt{(1-\epsilon_U)(1-\epsilon_V)}]` (:math:`\epsilon \ge \|P\|_F, \|Q\|_F`);
* second order, per group :math:`G` of close values (a single column, or a cluster such as an
  exact pair): :math:`\tilde D` is block diagonal with the exact blocks
  :math:`B_G = U_G^\top W_G`, and in the Jordan–Wielandt matrix of :math:`T` the group's part
  :math:`\begin{pmatrix} 0 & T_{GG} \\ T_{GG}^\top & 0 \end{pmatrix}` couples to the rest
  only through :math:`T_{\bar G G} = U_{\bar G}^\top (W_G - U_G B_G) + P_{\bar G G} B_G` and
  :math:`T_{G \bar G}^\top = V_{\bar G}^\top (Z_G - V_G B_G^\top) + Q_{\bar G G} B_G^\top`, of
  norm :math:`e_G`.  If the group's values are :math:`\eta_G` away from the first-order
  intervals of the others (and from their negatives), each moves by at most
  :math:`e_G^2/\eta_G` (R.-C. Li and C.-K. Li 2005; R. Mathias 1998), at the rank that the
  intervals give;
* finally :math:`|\sigma_i(A_\star) - \sigma_i(A)| \le \delta` (Weyl).

The quadratic bound needs vectors accurate to about half the digits; the first-order one to
all of them.

References: C.-K. Li and R.-C. Li, "A note on eigenvalues of perturbed Hermitian matrices",
Linear Algebra Appl. 395 (2005) 183-190; R. Mathias, "Quadratic residual bounds for the
Hermitian eigenvalue problem", SIAM J. Matrix Anal. Appl. 19 (1998); A. Ostrowski (1959).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from analytic.errors import InputError

from .block_values import abs_upper, arb_entries, block_values, descending, larger, smaller
from .fixedpoint import Fixed, _col_dots_into, _gemm_into, _limb_products, _matmul_bound, _multiply_into, levels_for

__all__ = ["truncation_bound", "bounded_matmul", "bounded_gram", "ResidualBounds",
           "residual_bounds"]

_MARGIN = 1 + 2.0 ** -30            # covers the float64 roundings of every bound computed below


def truncation_bound(X: Fixed, Y: Fixed, levels: int, inner: int) -> float:
    r"""An entrywise bound of what a limb product with anti-diagonals :math:`a + b \le S`
    (``levels``) drops: the limb pairs beyond :math:`S` (each entry at most ``inner`` times the
    largest limbs, times their weight :math:`2^{E_X + E_Y - \beta(a+b+2)}`) and the low halves of
    the deposits of anti-diagonal :math:`S` (at most :math:`S + 1` of :math:`2^{\beta-1}` units of
    weight :math:`2^{E_X + E_Y - \beta(S+2)}`).

    >>> X = Fixed.from_float(np.array([[1.0 / 3]]), 20, 4)
    >>> truncation_bound(X, X, 7, 1), truncation_bound(X, X, 6, 1) > 0
    (0.0, True)
    """
    beta = X.beta
    mx = [float(np.max(np.abs(X.limbs[a]))) if X.limbs[a].size else 0.0 for a in range(X.nlimbs)]
    my = [float(np.max(np.abs(Y.limbs[b]))) if Y.limbs[b].size else 0.0 for b in range(Y.nlimbs)]
    total = 0.0
    for a, xa in enumerate(mx):
        for b, yb in enumerate(my):
            if a + b > levels and xa and yb:
                total += inner * xa * yb * math.ldexp(1.0, X.E + Y.E - beta * (a + b + 2))
    if levels <= X.nlimbs + Y.nlimbs - 2:
        total += (levels + 1) * math.ldexp(1.0, beta - 1 + X.E + Y.E - beta * (levels + 2))
    return total * _MARGIN


def bounded_matmul(X: Fixed, Y: Fixed, accuracy: float):
    """``(X @ Y, bound)``: the product to about the absolute ``accuracy``, and a rigorous
    entrywise bound of its error (:func:`truncation_bound`)."""
    if X.shape[1] != Y.shape[0]:
        raise InputError("shape", (X.shape, Y.shape), "inner dimensions differ")
    S = levels_for(X.E, Y.E, X.beta, X.shape[1], accuracy)
    out = _limb_products(X, Y, S, X.shape[1], _gemm_into, (X.shape[0], Y.shape[1]), _matmul_bound(X, Y),
                         keep_all=True)
    return out, truncation_bound(X, Y, S, X.shape[1])


def bounded_gram(X: Fixed, accuracy: float):
    """``(X.T @ X, bound)`` to about the absolute ``accuracy`` (symmetric BLAS updates)."""
    S = levels_for(X.E, X.E, X.beta, X.shape[0], accuracy)
    return X.gram(S, keep_all=True), truncation_bound(X, X, S, X.shape[0])


def _exact_product(X: Fixed, Y: Fixed, product, shape, inner: int) -> Fixed:
    """Every limb pair: the exact result."""
    return _limb_products(X, Y, X.nlimbs + Y.nlimbs - 1, inner, product, shape, keep_all=True)


def _float_upper(X: Fixed) -> np.ndarray:
    """``|X|`` entrywise, rounded to float64 and widened so that it bounds the exact value
    (limbs summed from the smallest: relative error below ``4 L 2^-53``; underflow covered by
    an absolute term)."""
    slack = 1 + 4 * (X.nlimbs + 1) * 2.0 ** -53
    return np.abs(X.to_float()) * slack + math.ldexp(X.nlimbs + 1.0, -1070)


def _column_norms_upper(M: np.ndarray) -> np.ndarray:
    """Upper bounds of the Euclidean norms of the columns of the nonnegative ``M`` (scaled by
    a power of two against under- and overflow; float64 summation widened by ``(n+4) 2^-52``)."""
    top = float(M.max()) if M.size else 0.0
    if top == 0.0:
        return np.zeros(M.shape[1])
    e = math.frexp(top)[1]
    S = np.ldexp(M, -e)
    n = M.shape[0]
    sums = (S * S).sum(axis=0) * (1 + (n + 4) * 2.0 ** -52) + n * 2.0 ** -1000
    return np.ldexp(np.sqrt(sums) * (1 + 2.0 ** -50), e)


@dataclass(frozen=True)
class ResidualBounds:
    """``lower[i] <= sigma_i(A_star) <= upper[i]`` (arb balls of radius 0, descending), the
    first-order coupling ``r``, the defects ``eps_u``, ``eps_v``, the entry bound ``delta`` and
    the number of values whose second-order bound applied."""

    lower: tuple
    upper: tuple
    coupling: float
    eps_u: float
    eps_v: float
    delta: float
    second_order: int


#: values closer than this (relative) form one group
GROUP_GAP = 1e-6


def _groups(diag: Fixed, coupling: np.ndarray, quadratic: float) -> list:
    """Consecutive values (descending) within ``GROUP_GAP`` whose gap the coupling of their single
    columns cannot resolve: at most 4 times the coupling (first order), or at most ``quadratic``
    times its square over the value (second order).  The gaps are exact (from the integers of
    ``diag``), so values equal in float64 are still told apart."""
    ints, e = diag.to_ints()
    ints = [abs(v) for v in ints]
    mags = np.array([math.ldexp(float(v), e) for v in ints])
    order = sorted(range(len(ints)), key=lambda j: -ints[j])
    groups, cur = [], [int(order[0])]
    for a, b in zip(order[:-1], order[1:]):
        gap, e_ab = math.ldexp(float(ints[a] - ints[b]), e), coupling[a] + coupling[b]
        if gap <= GROUP_GAP * mags[a] and (gap <= 4 * e_ab or gap * mags[a] <= quadratic * e_ab * e_ab):
            cur.append(b)
        else:
            groups.append(cur)
            cur = [b]
    groups.append(cur)
    return groups


def _fro(M: np.ndarray) -> float:
    """Upper bound of the Frobenius norm of a nonnegative float matrix."""
    return float(_column_norms_upper(M.reshape(-1, 1))[0]) if M.size else 0.0


def residual_bounds(A: Fixed, U: Fixed, V: Fixed, delta: float, accuracy: float,
                    block_digits: int = 40, half_accuracy: float | None = None,
                    gram_accuracy: float | None = None, deadline: float | None = None) -> ResidualBounds:
    r"""Rigorous intervals for the singular values of every matrix within ``delta`` (Frobenius)
    of the square Fixed ``A``, from any Fixed ``U``, ``V`` (columns: approximate singular
    vectors).  ``accuracy``: the absolute accuracy of the products (it sets the diagonal blocks,
    the values' centres); ``half_accuracy`` that of :math:`A^\top U` (it enters the second-order
    bound squared) and ``gram_accuracy`` that of the Gram matrices (relative: they enter as
    factors :math:`1 \pm \epsilon`), both by default as fine as ``accuracy``;
    ``block_digits``: the digits to which the values of a cluster's block are enclosed (by
    ball-arithmetic steps, if need be, until ``deadline``, a ``time.perf_counter()`` value).

    >>> A = Fixed.from_float(np.diag([3.0, 1.0]), 20, 3)
    >>> I = Fixed.from_float(np.eye(2), 20, 3)
    >>> b = residual_bounds(A, I, I, 0.0, 1e-30)
    >>> [float(x) for x in b.lower], [float(x) for x in b.upper]
    ([3.0, 1.0], [3.0, 1.0])
    """
    import flint
    n = A.shape[0]
    if A.shape != (n, n) or U.shape != (n, n) or V.shape != (n, n):
        raise InputError("shape", (A.shape, U.shape, V.shape), "must be square")
    W, tw = bounded_matmul(A, V, accuracy)
    Z, tz = bounded_matmul(A.T, U, accuracy if half_accuracy is None else half_accuracy)
    if gram_accuracy is None:
        gram_accuracy = accuracy / max(float(np.max(np.abs(W.to_float()))), 1e-300)
    G, tu = bounded_gram(U, gram_accuracy)
    H, tv = bounded_gram(V, gram_accuracy)
    eye = Fixed.identity(n, A.beta)
    Pu, Pv = _float_upper(G - eye) + tu, _float_upper(H - eye) + tv
    eu, ev = _fro(Pu), _fro(Pv)
    old = flint.ctx.prec
    flint.ctx.prec = max(old, (W.nlimbs + U.nlimbs + 2) * A.beta + 64)      # entries exact as arbs
    try:
        return _bounds(A, U, V, W, Z, tw, tz, Pu, Pv, eu, ev, delta, (block_digits, deadline), accuracy,
                       accuracy if half_accuracy is None else half_accuracy)
    finally:
        flint.ctx.prec = old


def _bounds(A, U, V, W, Z, tw, tz, Pu, Pv, eu, ev, delta, block_digits, acc, half) -> ResidualBounds:
    n = A.shape[0]
    tw_product = tw                                   # the error of A V alone (for the centres)
    # the diagonal blocks: exact column dots; for pairs the off-diagonal entries are column dots
    # with the partner's column (all pairs at once), larger clusters take small exact products
    diag = _exact_product(U, W, _col_dots_into, (1, n), n)
    UD, tw = _scaled_cols(U, diag, acc, tw)        # U D~ and V D~^T, truncated: their bounds join tw, tz
    VD, tz = _scaled_cols(V, diag, half, tz)
    single = _column_norms_upper(np.abs((W - UD).to_float())) + _column_norms_upper(np.abs((Z - VD).to_float()))
    groups = _groups(diag, single, 10.0 ** (block_digits[0] - 5))
    perm = np.arange(n)
    for g in groups:
        if len(g) == 2:
            perm[g[0]], perm[g[1]] = g[1], g[0]
    blocks = {}
    paired = perm != np.arange(n)
    if paired.any():
        Y = _masked(_exact_product(U, W.cols(perm), _col_dots_into, (1, n), n), paired)   # u_a^T w_b
        X = Y.cols(perm)                                                                 # u_b^T w_a
        UX, tw = _scaled_cols(U.cols(perm), X, acc, tw)
        VY, tz = _scaled_cols(V.cols(perm), Y, half, tz)
        UD, VD = UD + UX, VD + VY
        dd, xx, yy = arb_entries(diag), arb_entries(X), arb_entries(Y)
        for g in groups:
            if len(g) == 2:
                a, b = g
                blocks[tuple(g)] = [dd[a], yy[a], xx[a], dd[b]]
    for g in groups:
        if len(g) > 2:
            B = _exact_product(U.cols(g).T, W.cols(g), _gemm_into, (len(g), len(g)), n)
            blocks[tuple(g)] = B
            UD = _put_cols(UD, _exact_product(U.cols(g), B, _gemm_into, (n, len(g)), len(g)), g)
            VD = _put_cols(VD, _exact_product(V.cols(g), B.T, _gemm_into, (n, len(g)), len(g)), g)
    R1 = _float_upper(W - UD) + tw
    R2 = _float_upper(Z - VD) + tz
    return _intervals(diag, blocks, groups, R1, R2, Pu, Pv, eu, ev, tw_product, delta, n, block_digits)


def _scaled_cols(X: Fixed, row: Fixed, accuracy: float, bound: float):
    """``(X diag(row), bound + its truncation bound)``: the columns of ``X`` scaled by the
    1 x n ``row`` to about the absolute ``accuracy``."""
    S = levels_for(X.E, row.E, X.beta, 1, accuracy)
    out = _limb_products(X, row, S, 1, _multiply_into, X.shape, keep_all=True)
    return out, bound + truncation_bound(X, row, S, 1)


def _put_cols(X: Fixed, cols: Fixed, idx) -> Fixed:
    a, b, E = X._aligned(cols)
    out = a.copy()
    out[:, :, idx] = b
    return Fixed(out, E, X.beta)._normalized()


def _masked(X: Fixed, keep) -> Fixed:
    limbs = X.limbs.copy()
    limbs[:, :, ~keep] = 0
    return Fixed(limbs, X.E, X.beta)


def _intervals(diag, blocks, groups, R1, R2, Pu, Pv, eu, ev, tw, delta, n, block_digits) -> ResidualBounds:
    """First-order intervals for all values, then the second-order bound group by group."""
    import flint
    arb = flint.arb
    if eu >= 1 or ev >= 1:
        return ResidualBounds(tuple([arb(0)] * n), tuple([arb.pos_inf()] * n), math.inf, eu, ev, delta, 0)
    d = arb_entries(diag)
    dabs = np.abs(diag.to_float()[0]) * (1 + 2.0 ** -40)
    # |P D~|: columns scaled by |d| (singletons) or multiplied by |B| (clusters)
    PD, QD = Pu * dabs[None, :], Pv * dabs[None, :]
    for g, B in blocks.items():
        Bf = abs_upper(B)
        PD[:, list(g)], QD[:, list(g)] = Pu[:, list(g)] @ Bf, Pv[:, list(g)] @ Bf.T
    PD, QD = PD * (1 + n * 2.0 ** -50), QD * (1 + n * 2.0 ** -50)
    r1c, r2c = _column_norms_upper(R1), _column_norms_upper(R2)
    pdc, qdc = _column_norms_upper(PD), _column_norms_upper(QD)
    su, sv = math.sqrt(1 + eu) * _MARGIN, math.sqrt(1 + ev) * _MARGIN
    r = (su * float(np.sqrt((r1c * r1c).sum())) * _MARGIN + _fro(PD)) * _MARGIN
    # centres: |T_jj| for single columns, the block's values for clusters (rigorous)
    sqrt_n = math.sqrt(n) * _MARGIN
    centres = []                        # (lo, hi, group index)
    for gi, g in enumerate(groups):
        if len(g) == 1:
            j = g[0]
            err = arb(sqrt_n * su * tw * _MARGIN)
            centres.append(((abs(d[j]) - err).lower(), (abs(d[j]) + err).upper(), gi))
        else:
            k = len(g)
            err = arb(k * sqrt_n * su * tw * _MARGIN)
            for lo, hi in block_values(blocks[tuple(g)], *block_digits):
                centres.append(((lo - err).lower(), (hi + err).upper(), gi))
    R = arb(r)
    los = sorted((c[0] for c in centres), key=descending)       # exact comparisons (radius 0)
    his = sorted((c[1] for c in centres), key=descending)
    lo = [max(arb(0), (x - R).lower()) for x in los]
    hi = [(x + R).upper() for x in his]
    # second order, group by group: the others' intervals through prefix/suffix extremes
    mine = [[c for c in centres if c[2] == gi] for gi in range(len(groups))]
    g_lo = [functools.reduce(smaller, (c[0] for c in m)) for m in mine]
    g_hi = [functools.reduce(larger, (c[1] for c in m)) for m in mine]
    prefix, suffix = [None] * len(groups), [None] * len(groups)
    for gi in range(len(groups)):
        prefix[gi] = None if gi == 0 else (g_lo[gi - 1] if prefix[gi - 1] is None else smaller(prefix[gi - 1], g_lo[gi - 1]))
    for gi in range(len(groups) - 1, -1, -1):
        last = gi == len(groups) - 1
        suffix[gi] = None if last else (g_hi[gi + 1] if suffix[gi + 1] is None else larger(suffix[gi + 1], g_hi[gi + 1]))
    second, ranks = 0, 0
    for gi, g in enumerate(groups):
        top_hi, bot_lo = g_hi[gi], g_lo[gi]
        gaps = [bot_lo]                               # to the negatives: theta + sigma >= theta
        if prefix[gi] is not None:
            gaps.append((prefix[gi] - R - top_hi).lower())
        if suffix[gi] is not None:
            gaps.append((bot_lo - suffix[gi] - R).lower())
        eta = functools.reduce(smaller, gaps)
        if eta > 0:
            def norm(x):
                return float(np.sqrt((x * x).sum())) * _MARGIN
            e_cols = (su * norm(r1c[g]) + norm(pdc[g])) * _MARGIN          # |T_(rest, G)|_F
            e_rows = (sv * norm(r2c[g]) + norm(qdc[g])) * _MARGIN          # |T_(G, rest)|_F
            e2 = arb(e_cols) * arb(e_cols) + arb(e_rows) * arb(e_rows)
            move = (e2 / eta).upper()
            for m, c in enumerate(sorted(mine[gi], key=lambda c: descending(c[1]))):
                i = ranks + m
                lo[i] = larger(lo[i], larger(arb(0), (c[0] - move).lower()))
                hi[i] = smaller(hi[i], (c[1] + move).upper())
            second += len(g)
        ranks += len(g)
    EU, EV, DELTA = arb(eu), arb(ev), arb(delta)
    down = ((1 + EU) * (1 + EV)).sqrt()
    up = ((1 - EU) * (1 - EV)).sqrt()
    lower = tuple(max(arb(0), (x / down - DELTA).lower()) for x in lo)
    upper = tuple((x / up + DELTA).upper() for x in hi)
    return ResidualBounds(lower, upper, r, eu, ev, delta, second)
