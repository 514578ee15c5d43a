r"""Many two-layer networks trained side by side by full-batch GD, with their sharpness.

A batch of ``B`` networks :math:`z=\tanh(xW_1+b_1)W_2+b_2` (the same architecture and
flat parameter layout as :class:`numeric.mlp.MLP` with ``sizes=(d, h, K)``, tanh and the
squared loss :math:`L=\frac1{2n}\sum_i\|z_i-y_i\|^2`) share one data set; each has its own
initialisation and learning rate.  One NumPy call per layer serves all ``B`` networks, so
a learning-rate sweep over several seeds costs about as much as one run.

The Hessian-vector product is Pearlmutter's R-operator (as in :meth:`MLP.hvp`, exact up
to round-off); the sharpness :math:`\lambda_{\max}(\nabla^2L)` of every network is found
at once by a batched Lanczos iteration with full re-orthogonalisation, warm-started from
the previous top eigenvector along the run.

The module is a *model*: :func:`gradient` supplies the batched gradients to
:func:`numeric.driver.run` (the :class:`~analytic.optimizers.GD` spec takes the steps, the
driver records them and applies its divergence policy), and :func:`sharpness_along`
measures the recorded iterates.

References: B. A. Pearlmutter, Neural Computation 6 (1994); C. Lanczos, J. Res. Nat. Bur.
Standards 45 (1950); J. Cohen et al., "Gradient descent on neural networks typically
occurs at the edge of stability", ICLR 2021 (sharpness tracked along full-batch GD).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytic.errors import InputError
from analytic.optimizers import GD

from .driver import Trajectory
from .mlp import MLP
from .quadratic_net import live, run_phases

__all__ = ["TwoLayerEnsemble", "batched_top_eigenvalues", "gradient", "train_gd_ensemble", "sharpness_along",
           "losses_along"]


@dataclass(frozen=True)
class TwoLayerEnsemble:
    r"""``B`` tanh networks of widths ``(d, h, K)`` with the squared loss, parameters ``(B, P)``.

    >>> ens = TwoLayerEnsemble(3, 4, 2); ens.n_params
    26
    >>> ens.init([0, 1]).shape
    (2, 26)
    """

    d: int
    h: int
    K: int

    def __post_init__(self):
        for name in ("d", "h", "K"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise InputError(name, v, "must be a positive integer")

    @property
    def mlp(self) -> MLP:
        """The single network with the same layout (for checks and one-off use)."""
        return MLP((self.d, self.h, self.K), activation="tanh", loss_name="squared")

    @property
    def n_params(self) -> int:
        return self.d * self.h + self.h + self.h * self.K + self.K

    def init(self, seeds, scale: float = 1.0) -> np.ndarray:
        """Row ``b`` is ``MLP.init(seeds[b], scale)``: LeCun-normal weights, zero biases.

        >>> bool(np.array_equal(TwoLayerEnsemble(2, 3, 2).init([5])[0], MLP((2, 3, 2)).init(5)))
        True
        """
        return np.stack([self.mlp.init(int(s), scale=scale) for s in seeds])

    def unpack(self, Theta):
        """Views ``W1 (B,d,h), b1 (B,1,h), W2 (B,h,K), b2 (B,1,K)`` into ``Theta`` (B, P).

        >>> [p.shape for p in TwoLayerEnsemble(3, 4, 2).unpack(np.zeros((5, 26)))]
        [(5, 3, 4), (5, 1, 4), (5, 4, 2), (5, 1, 2)]
        """
        Theta = np.asarray(Theta)
        if Theta.ndim != 2 or Theta.shape[1] != self.n_params:
            raise InputError("Theta", Theta.shape, f"must have shape (B, {self.n_params})")
        B, (d, h, K) = Theta.shape[0], (self.d, self.h, self.K)
        i = d * h
        j = i + h
        k = j + h * K
        return (Theta[:, :i].reshape(B, d, h), Theta[:, i:j].reshape(B, 1, h),
                Theta[:, j:k].reshape(B, h, K), Theta[:, k:].reshape(B, 1, K))

    @staticmethod
    def _pack(gW1, gb1, gW2, gb2):
        B = gW1.shape[0]
        return np.concatenate([gW1.reshape(B, -1), gb1.reshape(B, -1),
                               gW2.reshape(B, -1), gb2.reshape(B, -1)], axis=1)

    def _forward(self, Theta, X):
        W1, b1, W2, b2 = self.unpack(Theta)
        A = np.tanh(X @ W1 + b1)                       # (B, n, h)
        return (W1, b1, W2, b2), A, A @ W2 + b2

    def loss_and_grad(self, Theta, X, Y):
        r"""Losses (B,) and gradients (B, P) by back-propagation:
        :math:`\delta_2=(z-y)/n`, :math:`\nabla W_2=a^\top\delta_2`,
        :math:`\delta_1=\delta_2W_2^\top\odot(1-a^2)`, :math:`\nabla W_1=x^\top\delta_1`.

        >>> ens = TwoLayerEnsemble(3, 4, 2); Th = ens.init([0]); X = np.eye(3); Y = np.eye(2)[[0, 1, 0]]
        >>> L, G = ens.loss_and_grad(Th, X, Y); L1, g1 = ens.mlp.loss_and_grad(Th[0], X, Y)
        >>> bool(np.isclose(L[0], L1) and np.allclose(G[0], g1))
        True
        """
        (W1, b1, W2, b2), A, Z = self._forward(Theta, X)
        n = X.shape[0]
        R = Z - Y
        D2 = R / n
        D1 = (D2 @ W2.transpose(0, 2, 1)) * (1.0 - A * A)
        grads = (X.T @ D1, D1.sum(axis=1), A.transpose(0, 2, 1) @ D2, D2.sum(axis=1))
        return 0.5 * np.einsum("bnk,bnk->b", R, R) / n, self._pack(*grads)

    def hvp(self, Theta, X, Y, V) -> np.ndarray:
        r"""Exact :math:`\nabla^2L(\theta_b)\,v_b` for every row, by the R-operator:
        :math:`Rs_1=xV_1+c_1`, :math:`Ra=\sigma'Rs_1`, :math:`R\delta_2=(RaW_2+aV_2+c_2)/n`,
        :math:`R\delta_1=(R\delta_2W_2^\top+\delta_2V_2^\top)\odot\sigma'+
        (\delta_2W_2^\top)\odot\sigma''\odot Rs_1` with :math:`\sigma''=-2a\sigma'`.

        >>> ens = TwoLayerEnsemble(3, 4, 2); Th = ens.init([0, 1]); X = np.eye(3); Y = np.eye(2)[[0, 1, 0]]
        >>> V = np.arange(52.0).reshape(2, 26) / 50
        >>> HV = ens.hvp(Th, X, Y, V)
        >>> all(np.allclose(HV[b], ens.mlp.hvp(Th[b], X, Y, V[b]), atol=1e-13) for b in range(2))
        True
        """
        (W1, b1, W2, b2), A, Z = self._forward(Theta, X)
        V1, c1, V2, c2 = self.unpack(V)
        n = X.shape[0]
        D2 = (Z - Y) / n
        d1 = 1.0 - A * A
        RS1 = X @ V1 + c1
        RA = d1 * RS1
        RD2 = (RA @ W2 + A @ V2 + c2) / n
        back = D2 @ W2.transpose(0, 2, 1)
        RD1 = ((RD2 @ W2.transpose(0, 2, 1) + D2 @ V2.transpose(0, 2, 1)) * d1
               - 2.0 * back * A * d1 * RS1)
        parts = (X.T @ RD1, RD1.sum(axis=1),
                 RA.transpose(0, 2, 1) @ D2 + A.transpose(0, 2, 1) @ RD2, RD2.sum(axis=1))
        return self._pack(*parts)


def batched_top_eigenvalues(matvec, V0, iterations: int = 20):
    r"""Largest eigenvalue of ``B`` symmetric operators at once by Lanczos.

    ``matvec(V)`` maps (B, P) to (B, P) row by row.  From the unit start rows of ``V0``,
    ``iterations`` Lanczos steps with full re-orthogonalisation give a tridiagonal
    :math:`T_b` per row; its top Ritz pair :math:`(\theta_b,u_b)` is returned with the
    relative residual :math:`\|A_bu_b-\theta_bu_b\|/|\theta_b|` (small means converged).
    :math:`\theta_b` is a lower bound of :math:`\lambda_{\max}` that converges fast when the
    top eigenvalue is separated; a warm start (the previous eigenvector) speeds it further.

    >>> A = np.stack([np.diag([1.0, 5.0, 2.0, 0.5]), np.diag([3.0, -7.0, 1.0, 2.0])])
    >>> lam, U, res = batched_top_eigenvalues(lambda V: np.einsum("bij,bj->bi", A, V), np.ones((2, 4)), 4)
    >>> lam.round(10).tolist(), bool(res.max() < 1e-10)
    ([5.0, 3.0], True)
    """
    Q0 = np.array(V0, dtype=float)
    if Q0.ndim != 2:
        raise InputError("V0", Q0.shape, "must have shape (B, P)")
    B, P = Q0.shape
    m = int(min(iterations, P))
    if m < 1:
        raise InputError("iterations", iterations, "must be a positive integer")
    norms = np.linalg.norm(Q0, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(Q0)):
        raise InputError("V0", "rows", "must be finite and non-zero")
    Q = np.zeros((m, B, P))
    Q[0] = Q0 / norms
    alpha = np.zeros((B, m))
    beta = np.zeros((B, m))
    size = m
    for j in range(m):
        W = matvec(Q[j])
        alpha[:, j] = np.einsum("bp,bp->b", W, Q[j])
        # full re-orthogonalisation, twice (classical Gram-Schmidt is then stable)
        for _ in range(2):
            W = W - np.einsum("jb,jbp->bp", np.einsum("jbp,bp->jb", Q[:j + 1], W), Q[:j + 1])
        if j + 1 == m:
            break
        b = np.linalg.norm(W, axis=1)
        scale = np.maximum(np.abs(alpha[:, :j + 1]).max(axis=1), 1e-300)
        if np.any(b <= 1e-12 * scale):        # an invariant subspace is found: stop here
            size = j + 1
            break
        beta[:, j] = b
        Q[j + 1] = W / b[:, None]
    T = np.zeros((B, size, size))
    idx = np.arange(size)
    T[:, idx, idx] = alpha[:, :size]
    T[:, idx[:-1], idx[1:]] = beta[:, :size - 1]
    T[:, idx[1:], idx[:-1]] = beta[:, :size - 1]
    w, S = np.linalg.eigh(T)
    lam = w[:, -1]
    U = np.einsum("jb,jbp->bp", S[:, :, -1].T, Q[:size])
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    resid = np.linalg.norm(matvec(U) - lam[:, None] * U, axis=1) / np.maximum(np.abs(lam), 1e-300)
    return lam, U, resid


def gradient(ens: TwoLayerEnsemble, X, Y):
    r"""The model handed to :func:`numeric.driver.run`: ``grad(rows)`` for rows ``[theta, s]``,
    a network's parameters (``ens.n_params``) and its non-trainable step-size multiplier
    ``s`` (the spec's step times ``s`` is the network's learning rate; it travels with its row
    when the driver drops a diverged run), returning ``[s * grad L, 0]``.

    >>> ens = TwoLayerEnsemble(3, 4, 2); Th = ens.init([0]); X = np.eye(3); Y = np.eye(2)[[0, 1, 0]]
    >>> g = gradient(ens, X, Y)(np.column_stack([Th, [0.5]]))
    >>> bool(np.allclose(g[0, :-1], 0.5 * ens.loss_and_grad(Th, X, Y)[1][0]) and g[0, -1] == 0)
    True
    """
    P = ens.n_params

    def grad(rows):
        _, G = ens.loss_and_grad(rows[:, :P], X, Y)
        out = np.empty_like(rows)
        np.multiply(rows[:, P:], G, out=out[:, :P])
        out[:, P:] = 0.0
        return out
    return grad


def train_gd_ensemble(ens: TwoLayerEnsemble, Theta0, X, Y, etas, steps: int, warmup: int = 0,
                      log_every: int = 10) -> Trajectory:
    r"""Full-batch GD :math:`\theta^{b}_{t+1}=\theta^b_t-\eta_b(t)\nabla L(\theta^b_t)` for all rows:
    the :class:`~analytic.optimizers.GD` spec run by :func:`numeric.driver.run` on :func:`gradient`
    (the spec's step is the largest rate, each run carries its multiplier :math:`\eta_b/\max\eta`).

    ``warmup`` > 0 ramps the step size linearly, :math:`\eta_b(t)=\eta_b\min(1,(t+1)/\mathrm{warmup})`
    (one driver phase per ramp step, :func:`numeric.quadratic_net.run_phases`).  Returns the
    driver's :class:`~numeric.driver.Trajectory`: the parameters every ``log_every`` steps and at
    the last; a run that diverges is frozen at its last finite step and reported by
    ``diverged_at`` (the driver's policy).  :func:`sharpness_along` and :func:`losses_along`
    measure the recorded iterates.

    >>> ens = TwoLayerEnsemble(2, 3, 2); X = np.eye(2); Y = np.eye(2)
    >>> traj = train_gd_ensemble(ens, ens.init([0, 1]), X, Y, [0.5, 1e4], 60, log_every=20)
    >>> traj.steps.tolist(), int(traj.diverged_at[0]), bool(traj.diverged_at[1] > 0)
    ([0, 20, 40, 60], -1, True)
    """
    etas = np.asarray(etas, dtype=float)
    Theta = np.array(Theta0, dtype=float)
    if Theta.ndim != 2 or etas.shape != (Theta.shape[0],):
        raise InputError("etas", etas.shape, f"must have one learning rate per row of Theta0 {Theta.shape}")
    if not np.all(np.isfinite(etas) & (etas > 0)):
        raise InputError("etas", etas.tolist(), "must be positive finite numbers")
    for name, v, low in (("steps", steps, 0), ("warmup", warmup, 0), ("log_every", log_every, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise InputError(name, v, f"must be an integer >= {low}")
    P = ens.n_params
    if Theta.shape[1] != P:
        raise InputError("Theta0", Theta.shape, f"must have shape (B, {P})")
    top = float(etas.max())
    grad = gradient(ens, X, Y)
    ramp = min(max(int(warmup) - 1, 0), int(steps))      # steps t with (t + 1)/warmup < 1
    phases = [(GD(top * (t + 1) / warmup), grad, 1, {}) for t in range(ramp)]
    phases.append((GD(top), grad, int(steps) - ramp, {}))
    traj = run_phases(phases, np.column_stack([Theta, etas / top]), int(log_every))
    return Trajectory(traj.xs[..., :P], traj.steps, traj.diverged_at, traj.state)


def losses_along(ens: TwoLayerEnsemble, traj: Trajectory, X, Y) -> np.ma.MaskedArray:
    """The training loss at every recorded step of a :func:`train_gd_ensemble` trajectory,
    ``(records, B)``, masked where the run had diverged by then (or the loss overflows)."""
    ok = live(traj)
    out = np.zeros(ok.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(ok.shape[0]):
            if ok[k].any():
                out[k, ok[k]] = ens.loss_and_grad(traj.xs[k, ok[k]], X, Y)[0]
    ok &= np.isfinite(out)
    out[~ok] = 0.0
    return np.ma.masked_array(out, ~ok)


def sharpness_along(ens: TwoLayerEnsemble, traj: Trajectory, X, Y, lanczos_iterations: int = 20,
                    seed: int = 0, residual_tol: float = 1e-3):
    r"""The sharpness :math:`\lambda_{\max}(\nabla^2L)` of every run at every recorded step of a
    :func:`train_gd_ensemble` trajectory, and its relative Lanczos residual: two masked arrays
    ``(records, B)``, masked where the run had diverged by then (or where the Hessian products of
    a huge iterate overflow).

    Batched Lanczos (:func:`batched_top_eigenvalues`) on the exact Hessian-vector products,
    warm-started from the previous record's eigenvector (a seeded random start at the first);
    a run whose residual exceeds ``residual_tol`` is restarted from its Ritz vector with four
    times the iterations (the larger Ritz value is kept: both are lower bounds of
    :math:`\lambda_{\max}`).

    >>> ens = TwoLayerEnsemble(2, 3, 2); X = np.eye(2); Y = np.eye(2)
    >>> traj = train_gd_ensemble(ens, ens.init([0, 1]), X, Y, [0.5, 1e4], 60, log_every=20)
    >>> lam, res = sharpness_along(ens, traj, X, Y)
    >>> lam.mask[:, 0].tolist(), lam.mask[-1, 1].item(), bool(res[:, 0].max() < 1e-3)
    ([False, False, False, False], True, True)
    """
    ok = live(traj)
    T, B = ok.shape
    V = np.random.default_rng(seed).standard_normal((B, ens.n_params))
    lam, res = np.zeros((T, B)), np.zeros((T, B))

    def top(rows, start, iterations):
        with np.errstate(over="ignore", invalid="ignore"):
            out = batched_top_eigenvalues(lambda W: ens.hvp(rows, X, Y, W), start, iterations)
        return out + (np.isfinite(out[0]) & np.isfinite(out[2]) & np.isfinite(out[1]).all(axis=1),)

    for k in range(T):
        if not ok[k].any():
            continue
        active = np.nonzero(ok[k])[0]
        A = traj.xs[k, active]
        lam_a, U, res_a, finite = top(A, V[active], lanczos_iterations)
        redo = finite & (res_a > residual_tol)    # e.g. the top two eigenvalues swapped order:
        if redo.any():                            # restart from the Ritz vector, longer
            lam2, U2, res2, finite2 = top(A[redo], U[redo], 4 * lanczos_iterations)
            better = finite2 & (lam2 >= lam_a[redo])
            idx = np.nonzero(redo)[0][better]
            lam_a[idx], U[idx], res_a[idx] = lam2[better], U2[better], res2[better]
        # a huge (not yet diverged) iterate whose Hessian products overflow is not measured
        ok[k, active[~finite]] = False
        good = active[finite]
        lam[k, good], res[k, good], V[good] = lam_a[finite], res_a[finite], U[finite]
    return np.ma.masked_array(lam, ~ok), np.ma.masked_array(res, ~ok)
