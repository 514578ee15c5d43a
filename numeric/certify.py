r"""Rigorous error bounds for computed singular values, in ball arithmetic (python-flint's ``arb``).

Given the exact matrix as a ball matrix :math:`\mathbf A \ni A` (entries enclosing the exact
values), claimed values :math:`\tilde\sigma` and approximate singular vectors :math:`U, V`
(any matrices: nothing about them is trusted), the certificate is computed from

.. math::
    T = U^\top A V, \qquad P = U^\top U - I, \qquad Q = V^\top V - I,

all in ball arithmetic.  With :math:`D = \operatorname{diag}(T)`, :math:`r \ge \|T - D\|_F`
and :math:`\epsilon_U \ge \|P\|_F`, :math:`\epsilon_V \ge \|Q\|_F` (both below 1):

* Weyl: :math:`|\sigma_i(T) - d_{(i)}| \le r`, with :math:`d_{(i)}` the :math:`|T_{ii}|` sorted
  in descending order;
* Ostrowski (:math:`T = U^\top A V`, :math:`\|U\|^2 \le 1+\epsilon_U`,
  :math:`\|U^{-1}\|^2 \le 1/(1-\epsilon_U)`):
  :math:`\sigma_i(T)/\sqrt{(1+\epsilon_U)(1+\epsilon_V)} \le \sigma_i(A) \le
  \sigma_i(T)/\sqrt{(1-\epsilon_U)(1-\epsilon_V)}`.

So :math:`\sigma_i(A)` lies in an interval computed in ball arithmetic, and the bound of a claimed
value is its distance to the interval's far end: it holds for the exact matrix.  The bound is
first order in the coupling :math:`r`: it is sharp only when the vectors are accurate to the
absolute level wanted for the smallest value.

References: H. Weyl (1912); A. Ostrowski (1959) and R.-C. Li, "Relative perturbation theory I",
SIAM J. Matrix Anal. Appl. 19 (1998).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import mpmath
import numpy as np

from analytic.errors import InputError

__all__ = ["ball", "ball_matrix", "SingularValueBounds", "singular_value_bounds", "fixed_to_ball", "polish",
           "CertifiedSpectrum", "certify_spectrum"]


def _flint():
    import flint
    return flint


def ball(value):
    """An exact ball from an mpf, int or float (no rounding).

    >>> str(ball(mpmath.mpf(3) / 4))
    '0.750000000000000'
    """
    flint = _flint()
    if isinstance(value, mpmath.mpf):
        man, exp = value.man_exp              # man_exp is unsigned
        man = -int(man) if value < 0 else int(man)
        return flint.arb(flint.fmpz(int(man))) * flint.arb(2) ** int(exp) if man else flint.arb(0)
    if isinstance(value, (int, np.integer)):
        return flint.arb(flint.fmpz(int(value)))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise InputError("value", value, "must be finite")
        m, e = math.frexp(float(value))
        return flint.arb(flint.fmpz(int(m * 2 ** 53))) * flint.arb(2) ** (e - 53)
    if type(value).__name__ == "arb":
        return value
    raise InputError("value", value, "must be an mpf, an int, a float or an arb ball")


def ball_matrix(entries, index=None):
    """An ``arb_mat`` from a 2-D array of balls/numbers, or from distinct ``entries`` and an
    ``index`` array (``A[i, j] = entries[index[i, j]]``)."""
    flint = _flint()
    if index is not None:
        balls = [ball(v) for v in entries]
        index = np.asarray(index)
        rows = [[balls[k] for k in row] for row in index.tolist()]
    else:
        rows = [[ball(v) for v in row] for row in np.asarray(entries, dtype=object).tolist()]
    return flint.arb_mat(rows)


def _exact(x) -> "mpmath.mpf":
    """An arb whose radius is zero (e.g. ``abs_upper()``) as an exact mpf."""
    if not x.is_finite():
        return mpmath.inf
    man, exp = x.mid().man_exp()
    man = int(man)
    with mpmath.workprec(max(53, man.bit_length() + 8)):        # no rounding
        return mpmath.ldexp(mpmath.mpf(man), int(exp))


@dataclass(frozen=True)
class SingularValueBounds:
    """``lower[i] <= sigma_i(A) <= upper[i]`` (mpf, descending order of the values), with the
    coupling ``r`` and orthogonality defects ``eps_u``, ``eps_v`` they came from."""

    lower: tuple
    upper: tuple
    coupling: float
    eps_u: float
    eps_v: float
    prec: int = 53

    def bound_for(self, claimed) -> list:
        """The absolute error bound of each claimed value (descending): the distance to the far
        end of its interval (``inf`` where the interval is unbounded), rounded up."""
        with mpmath.workprec(self.prec):
            up = 1 + mpmath.mpf(2) ** (8 - self.prec)
            return [max(abs(c - lo), abs(hi - c)) * up for c, lo, hi in zip(claimed, self.lower, self.upper)]


def _products(A, U, V):
    flint = _flint()
    n = A.nrows()
    eye = flint.arb_mat(n, n, [flint.arb(1) if i == j else flint.arb(0) for i in range(n) for j in range(n)])
    Ut = U.transpose()
    T = Ut * A * V
    P = Ut * U - eye
    Q = V.transpose() * V - eye
    return T, P, Q


def _frobenius_upper(M, skip_diagonal=False) -> "mpmath.mpf":
    """An upper bound of the Frobenius norm of every matrix in the ball matrix ``M``: exact
    squares summed at 64 bits (relative error below n^2 2^-64), widened by 2^-40."""
    total = mpmath.mpf(0)
    with mpmath.workprec(64):
        for i, row in enumerate(M.tolist()):
            for j, x in enumerate(row):
                if not (skip_diagonal and i == j):
                    u = _exact(x.abs_upper())
                    total += u * u
        return mpmath.sqrt(total) * (1 + mpmath.mpf(2) ** -40)


def singular_value_bounds(A, U, V) -> SingularValueBounds:
    """Rigorous intervals for the singular values of every matrix in the ball matrix ``A``
    (square), from any approximate singular vectors ``U``, ``V`` (arb_mat, exact entries).

    >>> import flint
    >>> A = ball_matrix([[3, 0], [0, 1]])
    >>> b = singular_value_bounds(A, ball_matrix([[1, 0], [0, 1]]), ball_matrix([[1, 0], [0, 1]]))
    >>> [float(x) for x in b.lower], [float(x) for x in b.upper]
    ([3.0, 1.0], [3.0, 1.0])
    """
    T, P, Q = _products(A, U, V)
    r = _frobenius_upper(T, skip_diagonal=True)
    eu, ev = _frobenius_upper(P), _frobenius_upper(Q)
    n = T.nrows()
    los = sorted((_exact(T[i, i].abs_lower()) for i in range(n)), reverse=True)
    his = sorted((_exact(T[i, i].abs_upper()) for i in range(n)), reverse=True)
    if eu >= 1 or ev >= 1:
        inf = mpmath.inf
        return SingularValueBounds(tuple([mpmath.mpf(0)] * n), tuple([inf] * n), float(r), float(eu), float(ev), 53)
    wp = max(mpmath.mp.prec, _flint().ctx.prec) + 40
    with mpmath.workprec(wp):
        slack = mpmath.mpf(2) ** (8 - wp)          # covers the roundings of the lines below
        down = mpmath.sqrt((1 + eu) * (1 + ev)) * (1 + slack)
        up = mpmath.sqrt((1 - eu) * (1 - ev)) * (1 - slack)
        lower = tuple(max(mpmath.mpf(0), (lo - r) * (1 - slack) / down) for lo in los)
        upper = tuple((hi + r) * (1 + slack) / up for hi in his)
    return SingularValueBounds(lower, upper, float(r), float(eu), float(ev), wp)


def _float_mid(M) -> np.ndarray:
    """Midpoints of an arb_mat, rounded to float64."""
    return np.array([[float(x.mid()) for x in row] for row in M.tolist()], dtype=float)


def _from_float(X: np.ndarray):
    flint = _flint()
    return flint.arb_mat(X.shape[0], X.shape[1], [flint.arb(float(v)) for v in X.ravel()])


def _mid(M):
    return M.mid() if hasattr(M, "mid") else M


def polish(A, U, V, steps: int = 8, target: float = 0.0, deadline: float | None = None):
    r"""Ogita–Aishima steps on ``U, V`` for the ball matrix ``A`` (square): corrections in
    float64, products in balls, midpoints kept.  Stops after ``steps`` or once the coupling
    :math:`\max_{i \ne j}|T_{ij}|` is at most ``target``.

    A pair is *split* when its gap resolves its coupling; the others form groups (clusters of
    close values, or a tail whose vectors are not yet accurate relative to its values).  A group
    whose block of :math:`T` is far from diagonal is rotated by the float64 SVD of that block (a
    fresh start relative to the group's own scale, which pairs the left and right bases of a
    cluster); inside a group only orthogonality and the pairing are corrected."""
    flint = _flint()
    full = flint.ctx.prec
    noise = 2.0 ** (40 - full)
    step_prec = min(full, 160)          # a step needs about twice the digits of its coupling
    try:
        for _ in range(steps):
            if deadline is not None and time.perf_counter() > deadline:
                break
            flint.ctx.prec = step_prec
            U, V, Tf = _polish_step(A, U, V, target, noise, full)
            if Tf is None:
                break
            off = np.abs(Tf - np.diag(np.diag(Tf))).max() / max(np.abs(np.diag(Tf)).max(), 1e-300)
            step_prec = full if off == 0 else min(full, int(-2 * math.log2(max(off, 2.0 ** -full))) + 96)
    finally:
        flint.ctx.prec = full
    return _orthonormalized(U), _orthonormalized(V)


def _polish_step(A, U, V, target, noise, full):
    """One step of :func:`polish`; ``Tf`` is ``None`` when the target is met."""
    U, V, Tf, R, S, T, sign = _state(A, U, V)
    n = Tf.shape[0]
    off = np.abs(Tf - np.diag(np.diag(Tf)))
    if n < 2 or off.max() <= target:
        if _flint().ctx.prec >= full:
            return U, V, None
        return U, V, Tf
    pairs = _pairs(Tf, R, S)
    top = pairs["top"]
    groups = _groups_of(n, pairs["big"][~pairs["split"]], pairs["small"][~pairs["split"]],
                        pairs["linked"][~pairs["split"]])
    rotation = _group_rotations(Tf, groups, floor=top * noise, T=T, target=target, sign=sign)
    if rotation is not None:               # fresh bases for the groups, then the Newton step
        Wu, Wv = rotation
        U, V, Tf, R, S, _, _ = _state(A, _orthonormalized(_mid(U * _from_float(Wu)), 1),
                                      _orthonormalized(_mid(V * _from_float(Wv)), 1))
        pairs = _pairs(Tf, R, S)
    return _newton(U, V, Tf, R, S, pairs)


def _newton(U, V, Tf, R, S, pairs):
    """The Ogita–Aishima correction of ``U, V`` from the pairs of :func:`_pairs`."""
    big, small, split, skew = pairs["big"], pairs["small"], pairs["split"], pairs["skew"]
    Fab, Fba, Gab, Gba, Rab, Sab = (pairs[k] for k in ("Fab", "Fba", "Gab", "Gba", "Rab", "Sab"))
    tame = np.isfinite(skew) & (np.abs(skew) < 1e-3)
    skew = np.where(tame, skew, 0.0)
    F, G = np.diag(np.diag(R) / 2), np.diag(np.diag(S) / 2)
    F[big, small] = np.where(split, Fab, Rab / 2 - skew)
    F[small, big] = np.where(split, Fba, Rab / 2 + skew)
    G[big, small] = np.where(split, Gab, Sab / 2 + skew)
    G[small, big] = np.where(split, Gba, Sab / 2 - skew)
    U = _mid(U + U * _from_float(np.nan_to_num(F)))
    V = _mid(V + V * _from_float(np.nan_to_num(G)))
    return U, V, Tf


def _orthonormalized(X, passes: int = 8):
    r""":math:`X(I - P/2 + 3P^2/8)` with :math:`P = X^\top X - I`: the binomial series of
    :math:`(X^\top X)^{-1/2}`, leaving an orthogonality defect of order :math:`P^3`."""
    flint = _flint()
    n = X.ncols()
    eye = flint.arb_mat(n, n, [flint.arb(1) if i == j else flint.arb(0) for i in range(n) for j in range(n)])
    floor = 2.0 ** (30 - flint.ctx.prec)
    for _ in range(passes):                     # each pass shrinks the defect, down to the precision
        Pf = _float_mid(X.transpose() * X - eye)
        if np.abs(Pf).max() <= floor:
            break
        X = _mid(X + X * _from_float(-Pf / 2 + 3 * (Pf @ Pf) / 8))
    return X


def _state(A, U, V):
    """``U, V`` (one orthonormalization pass, signs making diag T >= 0) and float64 ``T``,
    ``R = -P``, ``S = -Q``."""
    U, V = _orthonormalized(U, 1), _orthonormalized(V, 1)
    T, P, Q = _products(A, U, V)
    Tf, R, S = _float_mid(T), -_float_mid(P), -_float_mid(Q)
    flip = np.diag(Tf) < 0
    sign = np.where(flip, -1.0, 1.0)
    if flip.any():                             # make the diagonal of T nonnegative (exact)
        V = V * _from_float(np.diag(sign))
        Tf, S = Tf * sign[None, :], S * sign[None, :] * sign[:, None]
    return U, V, Tf, R, S, T, sign          # T (balls) without the column signs


def _pairs(Tf, R, S):
    """The Newton corrections of every pair (upper triangle), and which pairs are split."""
    n = Tf.shape[0]
    rho = (np.diag(R) + np.diag(S)) / 2
    sig = np.diag(Tf) / np.where(np.abs(rho) < 0.5, 1 - rho, 1.0)
    top = sig.max() if n and sig.max() > 0 else 1.0
    tiny = top * 1e-290
    i, j = np.triu_indices(n, 1)
    big = np.where(sig[i] >= sig[j], i, j)              # a: the larger value of the pair, b: the other
    small = np.where(sig[i] >= sig[j], j, i)
    sa, sb = sig[big], sig[small]
    Tab, Tba, Rab, Sab = Tf[big, small], Tf[small, big], R[big, small], S[big, small]
    coupling = np.maximum(np.abs(Tab), np.abs(Tba))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        d = (sb - sa) * (sb + sa)
        Fba = -(sb * Tab + sa * (Tba + Rab * sa + Sab * sb)) / d
        Fab = Rab - Fba
        Gab = -(Tab + Fba * sb) / sa
        Gba = Sab - Gab
        c = (sa + sb) / 2
        skew = np.where(c > tiny, (Tba - Tab) / (4 * c), 0.0)
    split = (sa > tiny) & np.isfinite(Fba) & np.isfinite(Gab) & (np.abs(Fba) < 0.05) & (np.abs(Gab) < 0.05)
    return {"top": top, "big": big, "small": small, "split": split, "skew": skew, "Fab": Fab, "Fba": Fba,
            "Gab": Gab, "Gba": Gba, "Rab": Rab, "Sab": Sab,
            "linked": coupling > top * 2.0 ** (40 - _flint().ctx.prec)}


def _groups_of(n, a, b, linked):
    """Connected components (size > 1) of the pairs ``(a[k], b[k])`` with ``linked[k]``."""
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for x, y in zip(a[linked].tolist(), b[linked].tolist()):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[rx] = ry
    comps = {}
    for x in range(n):
        comps.setdefault(find(x), []).append(x)
    return [np.array(sorted(g)) for g in comps.values() if len(g) > 1]


def _group_rotations(Tf, groups, mismatch=1e-6, floor=0.0, T=None, target=0.0, sign=None):
    """Block-diagonal rotations ``(Wu, Wv)`` for the groups whose block of ``T`` is not diagonal;
    ``None`` if no block needs one.  A block far from diagonal (relative ``mismatch``) is rotated
    by its float64 SVD; a near-cluster :math:`B \approx cI` (its splitting below float64's
    resolution) by the eigenvectors of :math:`(B^\top B - c^2 I)/c^2` and
    :math:`(BB^\top - c^2 I)/c^2`, formed in balls from ``T`` so that the splitting keeps its
    digits."""
    n = Tf.shape[0]
    Wu, Wv, rotated = np.eye(n), np.eye(n), False
    for g in groups:
        B = Tf[np.ix_(g, g)]
        scale = np.abs(B).max()
        off = np.abs(B - np.diag(np.diag(B))).max()
        if scale <= floor or off <= max(target, floor):
            continue
        if off > mismatch * scale or T is None:
            wu, _, wvt = np.linalg.svd(B / scale)
            wv = wvt.T
        else:
            wu, wv = _shifted_bases(T, g, sign)
        Wu[np.ix_(g, g)], Wv[np.ix_(g, g)] = wu, wv
        rotated = True
    return (Wu, Wv) if rotated else None


def _shifted_bases(T, g, sign=None):
    flint = _flint()
    k = len(g)
    sg = np.ones(T.ncols()) if sign is None else sign
    B = flint.arb_mat([[T[int(a), int(b)] * int(sg[int(b)]) for b in g] for a in g])
    c2 = sum((T[int(a), int(a)] ** 2 for a in g), flint.arb(0)) / k
    eye = flint.arb_mat(k, k, [flint.arb(1) if i == j else flint.arb(0) for i in range(k) for j in range(k)])
    Mv = _float_mid((B.transpose() * B - eye * c2) * (1 / c2))
    Mu = _float_mid((B * B.transpose() - eye * c2) * (1 / c2))
    _, wv = np.linalg.eigh((Mv + Mv.T) / 2)
    _, wu = np.linalg.eigh((Mu + Mu.T) / 2)
    return wu[:, ::-1], wv[:, ::-1]                # descending, the same order on both sides


def fixed_to_ball(X):
    """A :class:`numeric.fixedpoint.Fixed` matrix as an exact ``arb_mat``."""
    flint = _flint()
    ints, e = X.to_ints()
    scale = flint.arb(2) ** int(e)
    rows, cols = X.shape
    return flint.arb_mat(rows, cols, [flint.arb(flint.fmpz(v)) * scale for v in ints])


@dataclass(frozen=True)
class CertifiedSpectrum:
    """Certified values (mpf midpoints, descending), their absolute error bounds, and the
    1-based positions of the values that are not certified to the requested digits."""

    values: tuple
    bounds: tuple
    uncertified: tuple
    digits: float
    stats: dict


def _index_matrix(balls, index):
    flint = _flint()
    return flint.arb_mat([[balls[k] for k in row] for row in np.asarray(index).tolist()])


def certify_spectrum(balls, index, U, V, digits: int, range_digits: int, count: int,
                     deadline: float | None = None, max_range: int = 120) -> CertifiedSpectrum:
    r"""Certify the singular values of the square matrix ``A[i, j] = balls(prec)[index[i, j]]``
    (``balls(prec)``: arb balls at ``prec`` bits containing the exact entries) from start vectors
    ``U``, ``V`` (arb_mat or float arrays): :func:`polish`, then :func:`singular_value_bounds`.

    The working precision follows the spectrum: ``digits`` plus the decimal range
    :math:`\log_{10}(s_1/s_{\min})` (first ``range_digits``) plus guard digits, deepened while a
    value above the floor :math:`10^{-\text{max\_range}} s_1` is not certified and the
    ``deadline`` (a ``time.perf_counter()`` value) allows.

    Returns the ``count`` largest values (the rest are the zeros of a padding).  A value is
    certified when its bound is at most :math:`10^{-\text{digits}}` of it; a value whose whole
    interval lies below the floor is reported as 0 with its bound (an absolute statement).

    >>> import flint
    >>> c = certify_spectrum(lambda prec: [flint.arb(3), flint.arb(0), flint.arb(1)],
    ...                      np.array([[0, 1], [1, 2]]), np.eye(2), np.eye(2), 20, 16, 2)
    >>> [float(v) for v in c.values], c.uncertified
    ([3.0, 1.0], ())
    """
    flint = _flint()
    n = np.shape(index)[0]
    U = U if type(U).__name__ == "arb_mat" else ball_matrix(U)
    V = V if type(V).__name__ == "arb_mat" else ball_matrix(V)
    old = flint.ctx.prec
    stats = {"escalations": 0}
    depth = max(1, min(int(range_digits), max_range))
    try:
        while True:
            prec = math.ceil((digits + depth + 8) * math.log2(10) + 2 * math.log2(max(n, 2))) + 32
            flint.ctx.prec = prec
            A = _index_matrix(balls(prec), index)
            T = _products(A, U, V)[0]
            diag = sorted((abs(float(T[i, i].mid())) for i in range(n)), reverse=True)
            top = diag[0] if diag and diag[0] > 0 else 1.0
            floor = top * 10.0 ** -max_range
            smallest = min([v for v in diag[:count] if v > top * 10.0 ** -depth] or [top])
            U, V = polish(A, U, V, steps=60, target=smallest * 10.0 ** -(digits + 3), deadline=deadline)
            b = singular_value_bounds(A, U, V)
            values, bounds, bad = _judge(b, digits, count, floor)
            stats.update(prec=prec, range_digits=depth, coupling=b.coupling, eps_u=b.eps_u, eps_v=b.eps_v)
            if not bad or (deadline is not None and time.perf_counter() > deadline):
                break
            lowest = min(float(values[k - 1]) for k in bad)
            deeper = math.ceil(math.log10(top / lowest)) + 4 if lowest > 0 else depth + 20
            new_depth = min(max_range, max(deeper, depth + 8))
            if new_depth <= depth and stats["escalations"] >= 2:
                break
            depth = max(new_depth, depth)
            stats["escalations"] += 1
            if stats["escalations"] > 6:
                break
    finally:
        flint.ctx.prec = old
    achieved = min((-math.log10(float(bd / v)) if bd > 0 else math.inf
                    for v, bd in zip(values, bounds) if v != 0), default=math.inf)
    return CertifiedSpectrum(tuple(values), tuple(bounds), tuple(bad), achieved, stats)


def _judge(b: SingularValueBounds, digits: int, count: int, floor: float):
    values, bounds, bad = [], [], []
    with mpmath.workprec(b.prec):
        up = 1 + mpmath.mpf(2) ** (8 - b.prec)
        for k, (lo, hi) in enumerate(zip(b.lower[:count], b.upper[:count]), 1):
            if hi > floor and lo > 0:
                mid, half = (lo + hi) / 2, (hi - lo) / 2 * up
                values.append(mid)
                bounds.append(half)
                if not half <= mpmath.mpf(10) ** -digits * mid:
                    bad.append(k)
            else:                                # 0 within the bound (below the floor), or unresolved
                values.append(mpmath.mpf(0) if hi <= floor else (lo + hi) / 2)
                bounds.append(hi * up if hi <= floor else (hi - lo) / 2 * up)
                if not hi <= floor:
                    bad.append(k)
    return values, bounds, bad
