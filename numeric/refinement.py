r"""Ogita–Aishima refinement of a float64 SVD in fixed-point multiprecision (the engine of
:mod:`numeric.precision`).

Starting from :math:`A \approx U\Sigma V^\top` computed in float64, one refinement step
computes, in fixed-point multiprecision (:mod:`numeric.fixedpoint`, float64 GEMMs),

.. math::
    R = I - U^\top U,\quad S = I - V^\top V,\quad T = U^\top A V,\qquad
    \tilde\sigma_i = T_{ii}/(1 - (R_{ii}+S_{ii})/2),

and corrections :math:`U \leftarrow U(I+F)`, :math:`V \leftarrow V(I+G)` from the linearised
conditions :math:`F+F^\top = R`, :math:`G+G^\top = S`, :math:`T + F^\top\Sigma + \Sigma G` diagonal:
for :math:`i \ne j`, with :math:`d = \tilde\sigma_j^2-\tilde\sigma_i^2`,

.. math::
    F_{ji} = -\frac{T_{ij}\tilde\sigma_j + \tilde\sigma_i(T_{ji} + R_{ij}\tilde\sigma_i + S_{ij}\tilde\sigma_j)}{d},\quad
    G_{ij} = -\frac{T_{ij} + F_{ji}\tilde\sigma_j}{\tilde\sigma_i}\ \text{(solved as a 2x2 system)}.

The errors square at each step.  Pairs whose float64 singular values are not resolved (clusters such
as the sinc plateau, and tails below float64's floor) are grouped: inside a group only
re-orthogonalisation is done.  A *tail* group (values spread over more than 1e-6 of its top) is
diagonalised in place by the float64 SVD of its accurate block :math:`T_{GG}` (its columns of
:math:`U, V` rotated in float64: a fresh float64-quality start), after which its keys resolve
relative to the block's own top value; this costs one pass per level instead of a recursion.
Groups need orthonormal bases only to a relative first-order tolerance (a multiplicative
perturbation of the group's values), plus a second-order coupling condition.  A *cluster* around
:math:`c` is refined as a problem of its own: the positive definite :math:`B^\top B - s^2 I` of its
block :math:`B = U_G^\top A V_G`, with :math:`s^2` just below the cluster, whose splittings are
relative to its own top (recursively, for clusters within clusters).  A block below the working
accuracy is reported as exact zeros (rank deficiency); a value the refinement can only call zero
deepens the dynamic range instead.

The refinement stops at a full pass that is converged (or at the rounding floor: the largest
correction no longer shrinks since the start or the last tail rotation, which restarts the
rotated columns from float64 quality).  Before its values are used they are checked against the
requested accuracy (:meth:`_Refiner._shortfall`): the second-order move of each value by its
couplings to the other groups, and the first-order error of each group's block from its bases'
orthonormality, relative to the group's own value.  A pass short of it is followed by further
updates at full accuracy; if those do not reach it, :class:`RefinementFailed` is raised.

Every product is formed to the absolute accuracy its pass can use (:meth:`Fixed.matmul_to`): the
quadratic error of the step, but never more than the final pass needs.  Once the vectors are
predicted accurate enough (:mod:`numeric.evaluation_pass`), the last pass only evaluates
:math:`AV`, the diagonal of :math:`U^\top AV` and the groups' blocks.  The requested digits are
confirmed by an independent recomputation (``verify=True``: the transposed matrix, 12 more digits,
40 guard bits).

References: T. Ogita, K. Aishima, "Iterative refinement for singular value decomposition based on
matrix multiplication", J. Comput. Appl. Math. 369 (2020) 112512; "Iterative refinement for
symmetric eigenvalue decomposition II: clustered eigenvalues", Japan J. Indust. Appl. Math. 36
(2019) 435-459.  Fallback: ``mpmath.svd_r``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import mpmath
import numpy as np

from analytic.errors import ImplregError, InputError

from .evaluation_pass import Evaluation as _Evaluation, coupling as _coupling, separation as _separation
from .fixedpoint import Fixed

__all__ = ["refined_singular_values", "RefinementFailed", "GROUP_TOL"]

GROUP_TOL = 1e-6          # float64 singular values closer than this (relative to the block's top) are grouped
MAX_ITERATIONS = 16
MAX_DEPTH = 40
MAX_CERTIFY = 3           # full-accuracy updates made after a stall short of the requested accuracy
_TRACE = bool(__import__("os").environ.get("IMPLREG_TRACE"))


class RefinementFailed(ImplregError):
    """The refinement did not converge (the caller falls back to mpmath)."""


def _groups(keys: np.ndarray, tol) -> list[np.ndarray]:
    """Consecutive (sorted descending) keys closer than ``tol`` (a number, or one resolution
    per key: the larger of the two applies) form one group.

    >>> [g.tolist() for g in _groups(np.array([3.0, 1.0, 1.0 + 1e-9]), 1e-6)]
    [[0], [2, 1]]
    """
    tol = np.broadcast_to(np.asarray(tol, dtype=float), keys.shape)
    order = np.argsort(-keys, kind="stable")
    groups, cur = [], [order[0]]
    for a, b in zip(order[:-1], order[1:]):
        if abs(keys[a] - keys[b]) <= max(tol[a], tol[b]):
            cur.append(b)
        else:
            groups.append(np.array(cur))
            cur = [b]
    groups.append(np.array(cur))
    return groups


@dataclass
class _Refiner:
    A: Fixed
    nlimbs: int
    abs_tol: float          # absolute accuracy wanted for the singular values
    top: float              # the largest singular value of the whole problem
    rel_tol: float = 0.0    # relative accuracy wanted for every singular value
    stats: dict = field(default_factory=lambda: {"iterations": 0, "blocks": 0, "zeros": 0})
    fold: bool = False      # rotate the columns of clusters of 3+ values by their blocks' vectors
    _rotations: dict = field(default_factory=dict)

    def run(self, A: Fixed, U: Fixed, V: Fixed, keys: np.ndarray, key_tol: float,
            depth: int = 0):
        """Refine ``A = U diag(sigma) V^T``; returns (sigma as Fixed 1 x n, U, V)."""
        if depth > MAX_DEPTH:
            raise RefinementFailed("refinement recursed too deeply")
        n = A.shape[0]
        L = self.nlimbs
        keys = np.array(keys, dtype=float)
        resolution = np.full(n, key_tol)        # how finely each key separates from the others
        groups, same, has_groups = self._grouping(keys, resolution)
        rotations = 0
        # Groups need orthonormal bases to first order, but only RELATIVE to each value: with
        # U_G^T U_G = I - R_G and V_G^T V_G = I - S_G, the block U_G^T A V_G has the singular
        # values of (I - R_G/2) Sigma_G (I - S_G/2) + O(eps^2 top), a multiplicative
        # perturbation by at most g max|R_G, S_G| for a group of g values (Eisenstat-Ipsen).
        # The coupling to the other groups enters at second order: eps^2 top <= abs_tol.
        group_tol = self._group_tol(max(len(g) for g in groups))
        prev_corr = math.inf
        since_restart = 0                     # updates since the start or the last rotation
        err = 2.0 ** -40                      # vector error of a float64 start
        predicted = math.inf                  # vector error predicted after the last update
        need = 0.0                            # accuracy the final evaluation pass needs (known later)
        it = 0
        certify_passes, last_shortfall = 0, math.inf

        def rotate(block, noise) -> bool:
            """Rotate the tail groups (see :meth:`_rotate_tails`) and restart from them."""
            nonlocal U, V, rotations, groups, same, has_groups, group_tol, err, predicted
            nonlocal prev_corr, since_restart
            if not (has_groups and rotations < MAX_DEPTH):
                return False
            U, V, rotated = self._rotate_tails(U, V, block, groups, keys, resolution, noise)
            if rotated:
                rotations += 1
                self.stats["rotations"] = self.stats.get("rotations", 0) + 1
                groups, same, has_groups = self._grouping(keys, resolution)
                group_tol = self._group_tol(max(len(g) for g in groups))
                err, predicted = 2.0 ** -40, math.inf    # the rotated vectors: a fresh start
                prev_corr, since_restart = math.inf, 0
            return rotated

        while True:
            # mixed precision: products only as accurate as this step can use (err^2), never
            # more than the final evaluation pass can use (``need``) and always fine enough to
            # separate the current keys (rotated tails far below top); full precision as soon
            # as this pass is predicted to be the last one
            last = (err <= group_tol) if has_groups else \
                (err * err * self.top * n < self.abs_tol * 1e-3)
            # when the vectors are predicted accurate enough, this pass only evaluates: A V,
            # the diagonal of U^T A V and the groups' blocks (no U^T (A V), no Gram matrices)
            cheap = predicted * predicted * self.top * n < self.abs_tol * 1e-3
            full = last or cheap
            full_acc = self.abs_tol / self.top
            acc_k = full_acc if full else max(full_acc, min(max(err * err * 2.0 ** -12, need),
                                                            _separation(keys, groups) / self.top
                                                            * 2.0 ** -24))
            Lk = self._limbs_for(acc_k, n)              # (reported)
            # products to an absolute accuracy: T = U^T (A V) sums n entries of A V
            P = A.matmul_to(V, acc_k * self.top / (4 * math.sqrt(n)))
            noise = (acc_k + err * err) * self.top      # what this pass cannot resolve
            if cheap:
                fin = _Evaluation.of(U, V, P, groups, L)
                if rotate(fin.block, noise):
                    continue
                if fin.orthonormality_error <= group_tol:
                    self.stats["evaluation_passes"] = self.stats.get("evaluation_passes", 0) + 1
                    diagT, rho, blocks = fin.diagT, fin.rho, fin.blocks
                    break
                predicted = math.inf          # not there yet: a full pass (A V is reused)
            Tm = U.T.matmul_to(P, acc_k * self.top)
            Tf = Tm.to_float()
            # a tail group (values resolved by float64 only relative to the top) is
            # diagonalised by the float64 SVD of its accurate block T_GG: its columns are
            # rotated, and its keys now resolve relative to the block's own top value. This
            # replaces a recursion level (several passes) by one pass (R, S are not needed).
            if rotate(lambda idx: Tm.block(idx, idx), noise):
                continue
            R = U.gram_to(acc_k).identity_minus_float()
            S = V.gram_to(acc_k).identity_minus_float()
            rho = (np.diag(R) + np.diag(S)) / 2
            sig = Tm.diagonal().to_float()[0]
            F, G = self._corrections(Tf, R, S, sig, same)
            self.stats["iterations"] += 1
            corr = max(np.max(np.abs(F)), np.max(np.abs(G)))
            if _TRACE:
                print(f"  pass depth={depth} n={n} Lk={Lk}/{L} groups={len(groups)} corr={corr:.2e} "
                      f"t={time.perf_counter():.1f}", flush=True)
            if has_groups:      # blocks need orthonormal bases to full accuracy (first order)
                done = corr <= group_tol
            else:               # isolated values: the Rayleigh-type estimate is second order
                done = corr**2 * self.top * n < self.abs_tol * 1e-3
            # at the rounding floor: corr no longer shrinks, compared only between passes since
            # the last restart (the first pass after a tail rotation measures fresh columns)
            stalled = since_restart >= 2 and corr > prev_corr / 16
            certifying = False
            if (done or stalled) and full:
                # a full pass measures what the values still lack (see _shortfall); a stall is
                # only a floor if the requested accuracy is reached there, otherwise one more
                # update at full accuracy is made (corr, the largest correction, is often set
                # by a graded tail and says little about the other values)
                shortfall = self._shortfall(Tf, R, S, sig, groups, same)
                if shortfall <= 1:
                    diagT, blocks = Tm.diagonal(), _blocks_of(Tm, groups)
                    break
                if certify_passes >= MAX_CERTIFY or shortfall > 16 * last_shortfall:
                    raise RefinementFailed(f"the refinement stalls short of the requested accuracy "
                                           f"(by a factor {shortfall:.1e})")
                certify_passes += 1
                last_shortfall = shortfall
                certifying = True
            if (done or stalled) and not full:
                err = 0.0                     # recompute at full precision, no update
                predicted = corr if done else math.inf
                continue
            prev_corr = corr
            it += 1
            since_restart += 1
            if it > MAX_ITERATIONS:
                if full and corr * self.top < self.abs_tol * 2.0**40:
                    diagT, blocks = Tm.diagonal(), _blocks_of(Tm, groups)
                    break                     # nearly there: the verification judges the digits
                raise RefinementFailed(f"no convergence after {MAX_ITERATIONS} steps (correction {corr:.2e})")
            kappa_gap = _coupling(sig, groups)
            # U F is small (|F| ~ corr) and needs only the absolute accuracy the next pass can
            # use: the quadratic error corr^2, or what a final evaluation pass needs (the
            # inverse of its criterion, and the groups' first-order tolerance)
            need = math.sqrt(self.abs_tol * 1e-3 / (self.top * n)) / (64 * kappa_gap)
            if has_groups:
                need = min(need, group_tol / 16)
            # and the products resolve the smallest absolute gap (graded tails far below top)
            gap = _separation(sig, groups) / self.top
            need = min(need, gap * 2.0 ** -24)
            # (an error d in a vector couples to the top value as d top: graded tails need the
            # update resolved relative to their smallest gap, not only to corr^2)
            update_acc = max(min(max(corr * corr * 2.0 ** -8, need), gap * 2.0 ** -24),
                             self.abs_tol / self.top * 2.0 ** -8)
            if certifying:                    # the next pass should be the last one
                update_acc = self.abs_tol / self.top * 2.0 ** -8
            U = U.plus(U.matmul_to(Fixed.from_float(F, A.beta), update_acc), L)
            V = V.plus(V.matmul_to(Fixed.from_float(G, A.beta), update_acc), L)
            err = max(corr * corr * 1e4, self.abs_tol / self.top * 2.0 ** -8)   # predicted after update
            # quadratic convergence, float64 rounding of F and G, and the products' accuracy,
            # all amplified by the inverse relative gap (see numeric.evaluation_pass)
            predicted = 4 * kappa_gap * (corr * corr + corr * 2.0 ** -50 + update_acc
                                         + acc_k)
        # singular values sigma_i = T_ii / (1 - rho_i), the factor applied in float64 (rho is tiny)
        kappa = np.where(np.abs(rho) < 0.5, rho / (1 - rho), 0.0)
        sigma = diagT + diagT.scale_cols(kappa, L)
        parts = [self._resolve_block(B, sigma, np.array(idx), depth) for idx, B in blocks.items()]
        if parts:
            sigma = _put_parts(sigma, parts)
        if self.fold:               # the vectors of each resolved block, for a certificate
            for idx, B in blocks.items():
                rot = self._rotations.pop(id(B), None)
                if rot is not None:
                    cols = np.array(idx)
                    U = _replace_cols(U, U.cols(cols).matmul(rot[0], L), cols)
                    V = _replace_cols(V, V.cols(cols).matmul(rot[1], L), cols)
        return sigma, U, V

    def _shortfall(self, Tf, R, S, sig, groups, same) -> float:
        r"""The largest ratio of a value's estimated error to the accuracy it needs,
        :math:`\max(\text{rel\_tol}\,|\sigma_i|, \text{abs\_tol})` (at most 1: the pass is final).

        Two errors remain once a full pass stops updating: the couplings to the other groups
        move each value at second order (:func:`_coupled_noise`), and a group's block
        :math:`U_G^\top A V_G` has its values perturbed at first order, relative to its own
        value :math:`c_G`, by :math:`g\max(|R_G|, |S_G|)`: bases orthonormal only relative to the
        top value do not give a small value its digits.
        """
        need = np.maximum(self.rel_tol * np.abs(sig), self.abs_tol)
        worst = float(np.max(_coupled_noise(Tf, same) / need))
        for idx in groups:
            if len(idx) > 1:
                block = np.ix_(idx, idx)
                orth = max(float(np.max(np.abs(R[block]))), float(np.max(np.abs(S[block]))))
                c = float(np.max(np.abs(sig[idx])))
                worst = max(worst, len(idx) * orth * c / float(np.max(need[idx])))
        return worst

    @staticmethod
    def _grouping(keys, resolution):
        groups = _groups(keys, resolution)
        label = np.empty(len(keys), dtype=int)
        for g, idx in enumerate(groups):
            label[idx] = g
        return groups, label[:, None] == label[None, :], len(groups) < len(keys)

    def _rotate_tails(self, U, V, block, groups, keys, resolution, noise):
        """Rotate every tail group's columns by the float64 SVD of its block ``block(idx)`` (a
        Fixed ``U_G^T A V_G``), in place on ``keys``/``resolution``; returns ``(U, V, rotated?)``.

        A tail that the rotation leaves with a sub-tail (values closer than GROUP_TOL of the
        tail's top) is rotated again within the same pass, from the exact block
        :math:`W_u^\top B W_v` of the sub-tail: one pass for all levels.

        The rotated vectors are a fresh start (the caller resets the predicted error to
        float64's), computed only as accurately as the smallest rotated value needs: in float64
        when that suffices (the next pass then multiplies by few-limb matrices), else in fixed
        point (a tail far below float64's resolution keeps its accurate basis)."""
        todo = []
        for idx in groups:
            if len(idx) < 2:
                continue
            idx = np.sort(idx)
            B = block(idx)
            level = self._tail_rotation(B.to_float(), resolution[idx].min(), noise)
            cols = idx
            while level is not None:
                Wu, s, Wv = level
                todo.append((cols, Wu, s, Wv))
                sub = self._sub_tail_rotation(B, Wu, s, Wv, noise)
                if sub is None:
                    break
                level, pos, B = sub[:3], sub[3], sub[4]
                cols = cols[pos]                     # the sub-tail's columns, once rotated
        if not todo:
            return U, V, False
        # vectors accurate to d couple the tail values at d^2 top: for the smallest rotated
        # value s_min (with relative gaps down to GROUP_TOL) d = sqrt(s_min / top) 2^-20 is
        # enough, and float64's d = 2^-53 often is (then U and V are rounded to float64)
        s_min = min(float(np.min(s[s > 16 * noise], initial=np.inf)) for _, _, s, _ in todo)
        d = math.sqrt(min(1.0, s_min / self.top)) * 2.0 ** -20
        if _TRACE:
            print(f"  rotation of {[len(i) for i, _, _, _ in todo]} columns, s_min/top "
                  f"{s_min / self.top:.2e}, vector accuracy {d:.2e}", flush=True)
        if d < 2.0 ** -50:
            for idx, Wu, s, Wv in todo:
                U = _replace_cols(U, U.cols(idx).matmul_to(Fixed.from_float(Wu, U.beta), d / 16), idx)
                V = _replace_cols(V, V.cols(idx).matmul_to(Fixed.from_float(Wv, V.beta), d / 16), idx)
        else:
            Uf, Vf = U.to_float(), V.to_float()
            for idx, Wu, s, Wv in todo:
                Uf[:, idx] = Uf[:, idx] @ Wu
                Vf[:, idx] = Vf[:, idx] @ Wv
            U, V = Fixed.from_float(Uf, U.beta), Fixed.from_float(Vf, V.beta)
        for idx, Wu, s, Wv in todo:
            keys[idx] = s
            resolution[idx] = GROUP_TOL * s[0]
        return U, V, True

    def _tail_rotation(self, Bf: np.ndarray, resolution: float, noise: float):
        """``(Wu, s, Wv)`` rotating the tail block ``Bf`` (float64), or None for zeros, a block
        within the pass's accuracy, a cluster, or nothing gained."""
        bmax = float(np.max(np.abs(Bf)))
        if bmax * len(Bf) <= self.abs_tol * 1e3:          # zeros: left to _resolve_block
            return None
        if bmax <= 16 * noise:
            # not resolved yet: the block lies within this pass's accuracy plus the
            # second-order coupling of the current vectors (err^2 top), e.g. a null space
            return None
        Wu, s, Wvt = np.linalg.svd(Bf)
        if s[0] <= 0 or (s[0] - s[-1]) / s[0] <= 1e-6 or GROUP_TOL * s[0] >= resolution:
            return None                                    # a cluster, or nothing gained
        return Wu, s, Wvt.T

    def _sub_tail_rotation(self, B: Fixed, Wu, s, Wv, noise: float):
        """The rotation of the largest sub-tail of a rotated tail, with its exact block:
        ``(Wu2, s2, Wv2, positions, B2)`` or None."""
        subs = [g for g in _groups(s, GROUP_TOL * s[0]) if len(g) > 1]
        if not subs:
            return None
        pos = np.sort(max(subs, key=len))
        acc = max(noise / 16, self.abs_tol)
        Wv_f = Fixed.from_float(np.ascontiguousarray(Wv[:, pos]), B.beta)
        Wu_t = Fixed.from_float(np.ascontiguousarray(Wu[:, pos].T), B.beta)
        B2 = Wu_t.matmul_to(B.matmul_to(Wv_f, acc / 4), acc)
        level = self._tail_rotation(B2.to_float(), GROUP_TOL * s[0], noise)
        if level is None:
            return None
        return level[0], level[1], level[2], pos, B2

    def _group_tol(self, g: int) -> float:
        """Largest first-order error of grouped bases, ``g`` the largest group (see :meth:`run`)."""
        strict = self.abs_tol * 256 * self.A.shape[0] / self.top   # absolute, first order
        if self.rel_tol <= 0:
            return strict
        relative = self.rel_tol * 2.0 ** -8 / g
        second_order = math.sqrt(self.abs_tol / self.top) * 2.0 ** -8
        return max(strict, min(relative, second_order))

    def _limbs_for(self, accuracy: float, n: int) -> int:
        """Limbs for an absolute accuracy ``accuracy * top`` (all limbs when accuracy is 0)."""
        if accuracy <= 0:
            return self.nlimbs
        # as for the full count: the leading limb of a product lies at most beta + 1 bits above
        # its largest entry (~ top), and the truncated pairs add at most n L last-limb units
        bits = -math.log2(accuracy) + self.A.beta + 1 + math.log2(max(n, 2)) + 4
        return int(min(self.nlimbs, max(3, math.ceil(bits / self.A.beta))))

    @staticmethod
    def _corrections(Tf, R, S, sig, same):
        n = len(sig)
        si, sj = sig[:, None], sig[None, :]
        den = (sj - si) * (si + sj)                               # sigma_j^2 - sigma_i^2
        ok = (~same) & (den != 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            # unknowns a = F_ji, g = G_ij:  a s_j + g s_i = -T_ij ;  a s_i + g s_j = T_ji + R_ij s_i + S_ij s_j
            rhs1 = -Tf
            rhs2 = Tf.T + R * si + S * sj
            a = (rhs1 * sj - rhs2 * si) / den
            g = (rhs2 * sj - rhs1 * si) / den
        a = np.where(ok, a, R / 2)           # a = F_ji; inside a group only re-orthogonalise
        g = np.where(ok, g, S / 2)
        F = a.T.copy()
        G = g.copy()
        dg = np.arange(n)
        F[dg, dg] = np.diag(R) / 2
        G[dg, dg] = np.diag(S) / 2
        return F, G

    def _cluster_values(self, BtB: Fixed, Mv: np.ndarray, c: float, sigma: Fixed, depth: int):
        r"""The singular values of a cluster around ``c`` from its Gram matrix ``BtB`` (accurate to
        :math:`c\,\epsilon/8` for the absolute accuracy :math:`\epsilon`), as a ``1 x g`` Fixed.

        With :math:`s^2` just below the cluster's smallest squared value, the eigenvalues
        :math:`\mu = \sigma^2 - s^2` of the positive definite :math:`M = B^\top B - s^2 I` lie in
        :math:`[\delta, 3\delta]` for the cluster's spread :math:`2\delta`: :math:`M` is refined as
        a problem of its own (top :math:`3\delta`, absolute accuracy :math:`c\,\epsilon`, since
        :math:`d\sigma = d\mu / 2\sigma`), from the float64 eigenvectors of ``Mv``
        :math:`\approx B^\top B - c^2 I`, and :math:`\sigma = \sqrt{s^2 + \mu}`.  Refining
        :math:`B` itself with the shift :math:`c` would need left and right vectors paired to the
        cluster's relative splitting (far below float64's :math:`10^{-16}`); :math:`M` needs one
        set of vectors, and its splittings are relative to its own top.

        The shift is kept as an exact sum of float64 terms.  A single float64 shift resolves
        only half an ulp of :math:`c^2` (relative :math:`10^{-16}`): for a splitting below that
        (a pair equal to 35 digits, say) it can land *above* the cluster, :math:`M` is then
        indefinite, its refinement returns :math:`|\mu|`, and :math:`\sqrt{s^2+|\mu|}` is
        wrong at the float64 level, by the same amount for every value of the cluster.
        """
        g = BtB.shape[0]
        center = [c * c]                  # the shift: an exact sum of float64 numbers
        for _ in range(4):
            lv, W = np.linalg.eigh((Mv + Mv.T) / 2)
            spread = float(lv[-1] - lv[0])
            if spread > 1e-10 * float(np.max(np.abs(lv))):
                break
            # the spread is unresolved next to the offset of the centre: re-centre, exactly
            # (the new term is far below the previous ones: a float64 sum would drop it)
            center.append(float(np.mean(lv)))
            Mv = _shifted(BtB, center).to_float()
        # Mv = B^T B - center rounded relative to its own entries, so lv are its eigenvalues to
        # float64's resolution of max|lv| (not of c^2): below, those of M lie in
        # [spread/2, 3 spread/2] (positive definite; spread >= 1e-10 max|lv| keeps the margin)
        spread = max(spread, float(np.max(np.abs(lv))) * 1e-10, 1e-300)
        s2 = center + [float(lv[0]) - spread / 2]
        M = _shifted(BtB, s2)
        keys = lv - float(lv[0]) + spread / 2
        # M is refined scaled by 2^(beta m) to values of order 1 (exact: only its exponent
        # changes), so that nested clusters never underflow float64
        m = -round(math.log2(float(np.max(keys))) / M.beta)
        scale = math.ldexp(1.0, M.beta * m)
        M = Fixed(M.limbs, M.E + M.beta * m, M.beta)
        keys = keys * scale
        top = float(np.max(keys))
        abs_tol = c * self.abs_tol * scale
        work_bits = max(8.0, math.log2(top / abs_tol))
        nlimbs = math.ceil((work_bits + M.beta + 1 + math.log2(max(g, 2)) + 4) / M.beta)
        sub = _Refiner(M, nlimbs, abs_tol=abs_tol, top=top, rel_tol=0.0, stats=self.stats)
        Ww = Fixed.from_float(W, M.beta)
        sub.fold = self.fold
        mu, _, Vm = sub.run(M, Ww, Ww, keys, GROUP_TOL * top, depth + 1)
        ints, e = mu.to_ints()
        e -= M.beta * m
        L = sigma.nlimbs
        e_sig = sigma.E - sigma.beta * L
        with mpmath.workprec(sigma.beta * (self.nlimbs + 4)):
            base = mpmath.fsum(mpmath.mpf(t) for t in s2)      # to the working precision
            vals = [int(mpmath.nint(mpmath.ldexp(mpmath.sqrt(base + mpmath.ldexp(mpmath.mpf(i), e)),
                                                 -e_sig))) for i in ints]
        self.stats["clusters"] = self.stats.get("clusters", 0) + 1
        if self.fold and g > 2:     # V_b: the eigenvectors of M; U_b = B V_b / sigma, re-orthonormalized
            sig = np.array([math.ldexp(float(v), e_sig) for v in vals])
            Vm = _orthonormal_cols(Vm, self.nlimbs)
            Ub = self._block_B.matmul(Vm, self.nlimbs).scale_cols(1 / sig, self.nlimbs)
            self._rotations[id(self._block_B)] = (_orthonormal_cols(Ub, self.nlimbs), Vm)
        return Fixed.from_ints(vals, (1, g), sigma.E, sigma.beta, L)

    def _resolve_block(self, B, sigma, idx, depth):
        """The singular values of the group ``idx`` (block ``B = U_G^T A V_G``) as
        ``(idx, 1 x g Fixed)``."""
        self.stats["blocks"] += 1
        Bf = B.to_float()
        bmax = float(np.max(np.abs(Bf)))
        g = len(idx)
        if bmax * g <= self.abs_tol:              # below the working accuracy: exact zeros
            self.stats["zeros"] += g
            return idx, Fixed(np.zeros((1, 1, g)), sigma.E, sigma.beta)
        sv = np.linalg.svd(Bf, compute_uv=False)
        spread = (sv[0] - sv[-1]) / sv[0]
        beta = B.beta
        if spread > 1e-6:                         # a tail: float64 SVD of the block itself
            Wu, s0, Wvt = np.linalg.svd(Bf)
            sig_b, Ub, Vb = self.run(B, Fixed.from_float(Wu, beta), Fixed.from_float(Wvt.T, beta),
                                     s0, GROUP_TOL * s0[0], depth + 1)
            if self.fold and g > 2:
                self._rotations[id(B)] = (_orthonormal_cols(Ub, self.nlimbs), _orthonormal_cols(Vb, self.nlimbs))
            # the group's columns of U and V are rotated by the block's vectors only when a
            # certificate will read them (``fold``, groups of 3+): U_G W_u costs two
            # full-precision products, and the groups are disjoint, so the other groups' blocks
            # do not depend on them
            return idx, sig_b
        # a cluster around c: the shifted Gram problem (see _cluster_values)
        c = float(np.median(sv))
        if g <= 16:       # small blocks (pairs of an odd activation): exact integers
            bi, be = B.to_ints()
            Mi = np.array(bi, dtype=object).reshape(g, g)
            BtB_ints = Mi.T.dot(Mi)                      # B^T B = BtB_ints 2^(2 be)
            unit = Fraction(2) ** (2 * be)
            cc = Fraction(c * c)
            Mv = np.array([[float(BtB_ints[i, j] * unit - (cc if i == j else 0))
                            for j in range(g)] for i in range(g)])
            diag_ints, diag_e = [BtB_ints[i, i] for i in range(g)], 2 * be
        else:
            BtB = B.gram_to(c * self.abs_tol / 8)
            Mv = _with_diagonal(BtB, c * c, -1).to_float()
            diag_ints, diag_e = BtB.diagonal().to_ints()
        dev = Mv - np.eye(g) * np.trace(Mv) / g           # departure from a multiple of I
        # equal to the working accuracy, absolute or relative to the bases' orthonormality
        degenerate_tol = max(1024 * self.A.shape[0] * c * self.abs_tol,
                             16 * g * c * c * self._group_tol(g))
        if float(np.max(np.abs(dev))) <= degenerate_tol:
            # degenerate to working accuracy: every value is sqrt(trace(B^T B)/g)
            self.stats["degenerate"] = self.stats.get("degenerate", 0) + g
            ints, e = diag_ints, diag_e
            L = sigma.nlimbs
            e_sig = sigma.E - beta * L
            with mpmath.workprec(beta * (self.nlimbs + 4)):
                val = mpmath.sqrt(mpmath.ldexp(mpmath.mpf(sum(ints)), e) / g)
                iv = int(mpmath.nint(mpmath.ldexp(val, -e_sig)))
            part = Fixed.from_ints([iv] * g, (1, g), sigma.E, beta, L)
            return idx, part
        BtB = _fixed_from_int_matrix(BtB_ints, 2 * be, beta) if g <= 16 else BtB
        self._block_B = B
        return idx, self._cluster_values(BtB, Mv, c, sigma, depth)


def _coupled_noise(Tf: np.ndarray, same: np.ndarray) -> np.ndarray:
    r"""Per value ``i``, the estimated move of :math:`T_{ii}` by its couplings to the values of
    the other groups: a coupling :math:`t` between values :math:`a \ge b` moves both by about
    :math:`t^2 / a`, and never by more than :math:`|t|` (Weyl).

    >>> _coupled_noise(np.array([[1.0, 1e-3], [0.0, 1e-4]]), np.eye(2, dtype=bool)).tolist()
    [1e-06, 1e-06]
    """
    d = np.abs(np.diag(Tf))
    den = np.maximum(d[:, None], d[None, :])
    t = np.abs(Tf) + np.abs(Tf.T)
    sq = Tf * Tf + Tf.T * Tf.T
    with np.errstate(divide="ignore", invalid="ignore"):
        move = np.where(den > 0, np.minimum(sq / den, t), t)
    return np.where(same, 0.0, move).sum(axis=1)


def _blocks_of(Tm: Fixed, groups) -> dict:
    """``{tuple(idx): Tm[idx, idx]}`` for the groups of two or more (``idx`` sorted)."""
    return {tuple(idx): Tm.block(idx, idx) for idx in (np.sort(g) for g in groups) if len(idx) > 1}


def _fixed_from_int_matrix(ints, e: int, beta: int) -> Fixed:
    """A square Fixed matrix equal to the Python integers ``ints * 2^e`` (``e`` a multiple of
    ``beta``)."""
    g = ints.shape[0]
    flat = [int(v) for v in ints.ravel()]
    top = max((abs(v) for v in flat), default=0)
    nlimbs = max(1, top.bit_length() // beta + 2)
    return Fixed.from_ints(flat, (g, g), e + beta * nlimbs, beta, nlimbs)


def _with_diagonal(X: Fixed, value: float, sign: int) -> Fixed:
    """``X + sign * value * I`` exactly (``value`` a float64 number)."""
    g = X.shape[0]
    d = Fixed.from_float(np.full((1, g), value), X.beta)
    D = Fixed(np.zeros((d.nlimbs, g, g)), d.E, X.beta)
    D.limbs[:, np.arange(g), np.arange(g)] = d.limbs[:, 0, :]
    return X.plus(D, sign=sign)


def _shifted(X: Fixed, shift) -> Fixed:
    """``X - (sum of the float64 numbers shift) I``, exactly."""
    for value in shift:
        if value:
            X = _with_diagonal(X, value, -1)
    return X


def _orthonormal_cols(X: Fixed, nlimbs: int, passes: int = 2) -> Fixed:
    r""":math:`X (I + R/2 + 3R^2/8)` with :math:`R = I - X^\top X`, twice: the binomial series of
    :math:`(X^\top X)^{-1/2}` (a defect of order :math:`R^3` per pass)."""
    for _ in range(passes):
        R = X.gram(2 * nlimbs).identity_minus_float()
        X = X.plus(X.matmul(Fixed.from_float(R / 2 + 3 * (R @ R) / 8, X.beta), nlimbs), nlimbs)
    return X


def _replace_cols(X: Fixed, cols: Fixed, idx) -> Fixed:
    a, b, E = X._aligned(cols)
    out = a.copy()
    out[:, :, idx] = b
    return Fixed(out, E, X.beta)._normalized(inplace=True)


def _put_parts(sigma: Fixed, parts) -> Fixed:
    """``sigma`` with the entries ``idx`` replaced by ``part`` for every ``(idx, part)``."""
    E = max([sigma.E] + [p.E for _, p in parts])
    beta = sigma.beta

    def lead(X):
        return (E - X.E) // beta
    L = max([lead(sigma) + sigma.nlimbs] + [lead(p) + p.nlimbs for _, p in parts])
    out = np.zeros((L, 1, sigma.shape[1]))
    out[lead(sigma):lead(sigma) + sigma.nlimbs] = sigma.limbs
    for idx, p in parts:
        out[:, 0, idx] = 0
        out[lead(p):lead(p) + p.nlimbs, 0, idx] = p.limbs[:, 0, :]
    return Fixed(out, E, beta)._normalized(inplace=True)


def refined_singular_values(A: Fixed, A_float: np.ndarray | None = None, bits: int = 110,
                            guard: int = 24, range_bits: int = 0, start=None, vectors: bool = False):
    """All singular values of the square Fixed matrix ``A`` to about ``bits`` bits relative to
    the largest (absolute accuracy ``2^-bits s_1``), as ``(exact Python integers, exponent, stats)``
    sorted descending.  Raises :class:`RefinementFailed` if it does not converge.  ``start``: a
    float64 SVD ``(U, s, Vt)`` of ``A`` already at hand.

    >>> A = Fixed.from_float(np.array([[2.0, 1.0], [1.0, 3.0]]), 20, 3)
    >>> ints, e, _ = refined_singular_values(A, bits=100)
    >>> [round(float(mpmath.mpf(i) * mpmath.mpf(2)**e), 12) for i in ints]
    [3.61803398875, 1.38196601125]
    """
    n, m = A.shape
    if n != m:
        raise InputError("A", A.shape, "must be square (pad with zeros)")
    if start is None:
        U0, s0, Vt0 = np.linalg.svd(A.to_float() if A_float is None else A_float)
    else:
        U0, s0, Vt0 = start
    top = float(s0[0]) if s0[0] > 0 else 1.0
    work_bits = bits + guard + range_bits
    # a product's leading limb exceeds its largest entry (~ top) by at most beta + 1 bits, and
    # the truncated limb pairs add at most n L units of the last limb (L < 16)
    nlimbs = math.ceil((work_bits + A.beta + 1 + math.log2(max(n, 2)) + 4) / A.beta)
    ref = _Refiner(A, nlimbs, abs_tol=top * 2.0 ** (-work_bits), top=top, rel_tol=2.0 ** -bits,
                   fold=vectors)
    U = Fixed.from_float(U0, A.beta)
    V = Fixed.from_float(Vt0.T, A.beta)
    sigma, U_final, V_final = ref.run(A, U, V, s0, GROUP_TOL * top)
    ints, e = sigma.to_ints()
    column_ints = list(ints)
    zero_below = top * 2.0 ** (-(work_bits - 8)) * n
    ints = [0 if abs(float(mpmath.ldexp(mpmath.mpf(i), e))) <= zero_below else i for i in ints]
    ref.stats["zeros"] = sum(1 for i in ints if i == 0)
    order = sorted(range(n), key=lambda i: -ints[i])
    if vectors:                   # the final U, V (Fixed), columns in the order of the values
        ref.stats["vectors"] = (U_final, V_final, order)
        ref.stats["column_values"] = (column_ints, e)       # sigma_j * 2^-e of column j, signed
    return [abs(ints[i]) for i in order], e, ref.stats
