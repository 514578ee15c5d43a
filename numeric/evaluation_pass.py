r"""The evaluation-only pass of the singular value refinement (:mod:`numeric.precision`).

Once the singular vectors are accurate enough that the Rayleigh-type estimates are final, a
refinement pass needs only

.. math::
    P = AV,\quad \operatorname{diag}(U^\top P),\quad
    \operatorname{diag}(U^\top U),\ \operatorname{diag}(V^\top V),

and, for each group :math:`G` of unresolved values, the small blocks :math:`U_G^\top P_G`,
:math:`U_G^\top U_G` and :math:`V_G^\top V_G`: :math:`O(n^2 + n\sum_G g^2)` work per limb pair
beside the one product :math:`AV`, instead of the three further :math:`n\times n` products
(:math:`U^\top P` and the two Gram matrices) of a full pass.

Whether the vectors are accurate enough is predicted from the previous full pass: with
corrections of size :math:`c` computed from products accurate to :math:`a\sigma_1`,
Ogita–Aishima's step leaves a vector error of about :math:`4\kappa(c^2 + 2^{-50}c + a)`, where
:math:`\kappa` is the largest inverse relative gap between values in different groups
(:func:`coupling`; the second term is the float64 rounding of the corrections).  On the
30-digit ReLU² and tanh spectra at N = 1000 this over-estimates the error measured by a further
full pass by a factor of about 10.  The orthonormality inside the groups, which enters at first order, is measured
in the pass itself (:attr:`Evaluation.orthonormality_error`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .fixedpoint import Fixed

__all__ = ["Evaluation", "coupling", "group_blocks", "largest_offdiagonal", "separation"]

SMALL_GROUP = 32          # groups up to this size are gathered by column dot products
BATCH = 512               # column pairs per batched dot product (bounds the temporary memory)


def _neighbours_in_different_groups(sig: np.ndarray, groups):
    """``(gaps, sums)``: ``|s_i - s_j|`` and ``|s_i| + |s_j|`` over the pairs adjacent in sorted
    order that lie in different groups (the closest such pairs are among them)."""
    label = np.empty(len(sig), dtype=int)
    for g, idx in enumerate(groups):
        label[idx] = g
    order = np.argsort(sig, kind="stable")
    s, lab = np.asarray(sig, dtype=float)[order], label[order]
    differ = lab[1:] != lab[:-1]
    return np.abs(np.diff(s))[differ], (np.abs(s[1:]) + np.abs(s[:-1]))[differ]


def coupling(sig: np.ndarray, groups) -> float:
    r"""The largest :math:`(|\sigma_i|+|\sigma_j|)/|\sigma_i-\sigma_j|` over values in different
    groups (1 if there is one group): the inverse relative gap that governs both the quadratic
    convergence and the rounding of the corrections, :math:`F_{ij}` being a difference of terms
    of size :math:`\sigma_i T_{ij}` divided by :math:`\sigma_j^2-\sigma_i^2`.

    >>> coupling(np.array([3.0, 2.0, 2.5]), [np.array([0]), np.array([1, 2])])
    11.0
    """
    gaps, sums = _neighbours_in_different_groups(sig, groups)
    if gaps.size == 0:
        return 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(gaps > 0, sums / gaps, np.inf)
    return max(1.0, float(np.max(ratio)))


def separation(sig: np.ndarray, groups) -> float:
    """The smallest distance between values in different groups (inf if there is one group).

    >>> separation(np.array([3.0, 2.0, 2.5]), [np.array([0]), np.array([1, 2])])
    0.5
    """
    gaps, _ = _neighbours_in_different_groups(sig, groups)
    return float(np.min(gaps)) if gaps.size else float("inf")


def group_blocks(X: Fixed, Y: Fixed, groups, nlimbs: int) -> dict:
    """``{tuple(idx): X_G^T Y_G}`` for every group of two or more columns (``idx`` sorted).

    Small groups are gathered in batches of column dot products; large ones are products.

    >>> X = Fixed.from_float(np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]]), 20, 3)
    >>> group_blocks(X, X, [np.array([1, 0]), np.array([2])], 4)[(0, 1)].to_float().tolist()
    [[10.0, 14.0], [14.0, 20.0]]
    """
    out = {}
    small = []
    for idx in groups:
        if len(idx) < 2:
            continue
        idx = np.sort(idx)
        if len(idx) > SMALL_GROUP:
            out[tuple(idx)] = X.cols(idx).T.matmul(Y.cols(idx), nlimbs)
        else:
            small.append(idx)
    rows, cols, owners = [], [], []
    for idx in small:
        g = len(idx)
        rows.append(np.repeat(idx, g))
        cols.append(np.tile(idx, g))
        owners.append(g * g)
    if not small:
        return out
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    pieces = []
    for start in range(0, len(rows), BATCH):
        r, c = rows[start:start + BATCH], cols[start:start + BATCH]
        pieces.append(X.cols(r).col_dots(Y.cols(c), nlimbs))
    flat = _concat_cols(pieces)
    pos = 0
    for idx, size in zip(small, owners):
        g = len(idx)
        limbs = flat.limbs[:, 0, pos:pos + size].reshape(flat.nlimbs, g, g)
        out[tuple(idx)] = Fixed(np.ascontiguousarray(limbs), flat.E, flat.beta)
        pos += size
    return out


@functools.lru_cache(maxsize=64)
def _upper_pairs(g: int):
    return np.triu_indices(g, 1)


def largest_offdiagonal(X: Fixed, groups, nlimbs: int) -> float:
    """``max |(X_G^T X_G)_{ab}|`` over ``a < b`` in every group (0 if none): the pairs of a
    small group are batched column dot products, a large group's block is a Gram matrix.

    >>> X = Fixed.from_float(np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]]), 20, 3)
    >>> largest_offdiagonal(X, [np.array([1, 0]), np.array([2])], 4)
    14.0
    """
    worst, rows, cols = 0.0, [], []
    for idx in groups:
        if len(idx) < 2:
            continue
        idx = np.sort(idx)
        if len(idx) > SMALL_GROUP:
            B = X.cols(idx).gram(nlimbs).to_float()
            np.fill_diagonal(B, 0.0)
            worst = max(worst, float(np.max(np.abs(B))))
        else:
            a, b = _upper_pairs(len(idx))
            rows.append(idx[a])
            cols.append(idx[b])
    if rows:
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        for start in range(0, len(rows), BATCH):
            r, c = rows[start:start + BATCH], cols[start:start + BATCH]
            d = X.cols(r).col_dots(X.cols(c), nlimbs).to_float()
            worst = max(worst, float(np.max(np.abs(d))))
    return worst


def _concat_cols(pieces) -> Fixed:
    """1 x m Fixed pieces side by side, aligned to a common exponent."""
    E = max(p.E for p in pieces)
    beta = pieces[0].beta
    L = max((E - p.E) // beta + p.nlimbs for p in pieces)
    out = np.zeros((L, 1, sum(p.shape[1] for p in pieces)))
    pos = 0
    for p in pieces:
        lead = (E - p.E) // beta
        out[lead:lead + p.nlimbs, :, pos:pos + p.shape[1]] = p.limbs
        pos += p.shape[1]
    return Fixed(out, E, beta)


@dataclass(frozen=True)
class Evaluation:
    """The quantities of an evaluation-only pass (see the module docstring)."""

    diagT: Fixed                  # 1 x n, diag(U^T A V)
    rho: np.ndarray               # (diag(I - U^T U) + diag(I - V^T V)) / 2
    blocks: dict                  # tuple(idx) -> U_G^T A V_G
    orthonormality_error: float   # max over groups of |I - U_G^T U_G|, |I - V_G^T V_G|

    @classmethod
    def of(cls, U: Fixed, V: Fixed, P: Fixed, groups, nlimbs: int) -> "Evaluation":
        n = U.shape[1]
        one = Fixed.from_float(np.ones((1, n)), U.beta, 1)
        ru = (one - U.col_dots(U, nlimbs)).to_float()[0]
        rv = (one - V.col_dots(V, nlimbs)).to_float()[0]
        worst = float(max(np.max(np.abs(ru)), np.max(np.abs(rv)))) if n else 0.0
        for X in (U, V):                      # off-diagonal entries: no cancellation
            worst = max(worst, largest_offdiagonal(X, groups, nlimbs))
        return cls(U.col_dots(P, nlimbs), (ru + rv) / 2, group_blocks(U, P, groups, nlimbs), worst)

    def block(self, idx) -> Fixed:
        return self.blocks[tuple(np.sort(idx))]
