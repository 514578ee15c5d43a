r"""A small multilayer perceptron in NumPy with exact second-order products.

Network (``sizes = (d, h_1, ..., h_{L-1}, K)``, activation :math:`\sigma`):

.. math:: a_0 = x,\quad s_l = a_{l-1}W_l + b_l,\quad a_l=\sigma(s_l)\ (l<L),\quad z = s_L .

Training loss :math:`L(\theta)=\frac1n\sum_i\ell(z_i,y_i)` with either

* ``"squared"``: :math:`\ell=\frac12\|z-y\|^2` (``y`` one-hot rows), logit Hessian :math:`M=I`;
* ``"cross_entropy"``: :math:`\ell=\log\sum_k e^{z_k}-z_y`, :math:`M=\mathrm{diag}(p)-pp^\top`.

Everything is hand-written: the gradient by back-propagation, the Hessian-vector product
:math:`Hv` by Pearlmutter's R-operator (forward-mode over reverse-mode, exact up to
round-off), the Gauss--Newton product :math:`Gv=\frac1n\sum_iJ_iM_iJ_i^\top v` (R-forward,
multiply by :math:`M`, linear back-propagation without the :math:`\sigma''` terms), the
Jacobian-vector product :math:`J^\top v` per sample and the dense per-sample logit
Jacobians.  Parameters travel as one flat vector so that SciPy's ``eigsh`` (Lanczos) can
work on a :class:`~scipy.sparse.linalg.LinearOperator`.

References: B. A. Pearlmutter, "Fast exact multiplication by the Hessian", Neural
Computation 6 (1994); N. N. Schraudolph, "Fast curvature matrix-vector products for
second-order gradient descent", Neural Computation 14 (2002); J. Cohen et al., "Gradient
descent on neural networks typically occurs at the edge of stability", ICLR 2021.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from analytic.errors import InputError
from analytic.optimizers import GD

from .driver import Trajectory, run

__all__ = ["MLP", "top_eigenvalue", "softmax_hessian_norms", "single_blas_thread", "gradient", "train_gd",
           "one_hot", "softmax"]

_LOSSES = ("squared", "cross_entropy")


def _tanh(s):
    t = np.tanh(s)
    d1 = 1.0 - t * t
    return t, d1, -2.0 * t * d1


def _softplus(s):
    sig = 0.5 * (1.0 + np.tanh(0.5 * s))
    return np.logaddexp(0.0, s), sig, sig * (1.0 - sig)


#: activation -> function returning (sigma, sigma', sigma'')
ACTIVATIONS = {"tanh": _tanh, "softplus": _softplus}


class single_blas_thread(contextlib.ContextDecorator):
    """Context manager (and decorator) limiting BLAS to one thread while it is active,
    via ``threadpoolctl`` (a scikit-learn dependency); a no-op without it.

    The matrices here are small (a few hundred rows): extra BLAS threads only contend for
    the cores, and on a loaded 2-core machine a 310x310 ``eigvalsh`` was measured at
    ~0.9 s with two OpenBLAS threads against ~0.01 s with one.

    >>> with single_blas_thread():
    ...     float(np.linalg.eigvalsh(np.eye(2))[-1])
    1.0
    """

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            self._limits = None
        else:
            self._limits = threadpool_limits(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc):
        if self._limits is not None:
            self._limits.restore_original_limits()
        return False


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted for stability.

    >>> softmax(np.array([[0.0, np.log(3.0)]])).round(12).tolist()
    [[0.25, 0.75]]
    """
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def one_hot(labels, K: int) -> np.ndarray:
    """Rows of the identity: ``one_hot([1, 0], 2) == [[0, 1], [1, 0]]``.

    >>> one_hot([1, 0], 2).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    labels = np.asarray(labels, dtype=int)
    if labels.ndim != 1 or labels.size and (labels.min() < 0 or labels.max() >= K):
        raise InputError("labels", labels.tolist()[:5], f"must be a 1-D array of integers in [0, {K})")
    return np.eye(K)[labels]


@dataclass(frozen=True)
class MLP:
    r"""A fully connected network with layer widths ``sizes`` and loss ``loss``.

    >>> net = MLP((3, 4, 2)); net.n_params
    26
    >>> theta = net.init(seed=0)
    >>> X = np.ones((5, 3)); y = np.array([0, 1, 0, 1, 1])
    >>> bool(np.isfinite(net.loss(theta, X, y)))
    True
    """

    sizes: tuple
    activation: str = "tanh"
    loss_name: str = "cross_entropy"
    _shapes: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        sizes = tuple(self.sizes)
        if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
                                 for s in sizes):
            raise InputError("sizes", self.sizes, "must be at least two positive integers (input, ..., output)")
        if self.activation not in ACTIVATIONS:
            raise InputError("activation", self.activation, f"must be one of {sorted(ACTIVATIONS)}")
        if self.loss_name not in _LOSSES:
            raise InputError("loss_name", self.loss_name, f"must be one of {_LOSSES}")
        object.__setattr__(self, "sizes", tuple(int(s) for s in sizes))
        object.__setattr__(self, "_shapes", tuple((a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:])))

    # -- parameters ---------------------------------------------------------
    @property
    def n_params(self) -> int:
        return sum(a * b + b for a, b in self._shapes)

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    def unpack(self, theta: np.ndarray) -> list:
        """Views ``[(W_1, b_1), ..., (W_L, b_L)]`` into the flat vector ``theta``.

        >>> [(W.shape, b.shape) for W, b in MLP((3, 4, 2)).unpack(np.zeros(26))]
        [((3, 4), (4,)), ((4, 2), (2,))]
        """
        theta = np.asarray(theta)
        if theta.shape != (self.n_params,):
            raise InputError("theta", theta.shape, f"must have shape ({self.n_params},)")
        out, i = [], 0
        for a, b in self._shapes:
            W = theta[i:i + a * b].reshape(a, b)
            i += a * b
            out.append((W, theta[i:i + b]))
            i += b
        return out

    def init(self, seed: int = 0, scale: float = 1.0) -> np.ndarray:
        r"""LeCun-normal weights :math:`W_l\sim\mathcal N(0,\,\mathrm{scale}^2/\mathrm{fan\_in})`, zero biases.

        >>> MLP((2, 3, 2)).init(1).shape
        (17,)
        """
        rng = np.random.default_rng(seed)
        parts = []
        for a, b in self._shapes:
            parts.append((scale / np.sqrt(a)) * rng.standard_normal(a * b))
            parts.append(np.zeros(b))
        return np.concatenate(parts)

    # -- targets ------------------------------------------------------------
    def targets(self, y) -> np.ndarray:
        """Labels (n,) -> the target the loss needs: one-hot for squared loss, labels for CE.

        >>> MLP((2, 3), loss_name="squared").targets([2, 0]).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
        """
        y = np.asarray(y)
        if self.loss_name == "squared":
            return one_hot(y, self.n_classes) if y.ndim == 1 else y.astype(float)
        if y.ndim != 1:
            raise InputError("y", y.shape, "cross-entropy needs integer labels of shape (n,)")
        return y.astype(int)

    # -- forward ------------------------------------------------------------
    def _forward(self, theta, X):
        params = self.unpack(theta)
        act = ACTIVATIONS[self.activation]
        acts, d1s, d2s = [np.asarray(X, dtype=float)], [], []
        for l, (W, b) in enumerate(params):
            s = acts[-1] @ W + b
            if l < len(params) - 1:
                a, d1, d2 = act(s)
                acts.append(a)
                d1s.append(d1)
                d2s.append(d2)
            else:
                acts.append(s)
        return params, acts, d1s, d2s

    def logits(self, theta, X) -> np.ndarray:
        """The network output :math:`z` (n, K); zero weights give zero logits.

        >>> MLP((3, 4, 2)).logits(np.zeros(26), np.ones((5, 3))).shape
        (5, 2)
        """
        return self._forward(theta, X)[1][-1]

    def _loss_terms(self, z, Y):
        n = z.shape[0]
        if self.loss_name == "squared":
            r = z - Y
            return 0.5 * np.sum(r * r) / n, r / n
        zmax = z.max(axis=1, keepdims=True)
        lse = (zmax + np.log(np.exp(z - zmax).sum(axis=1, keepdims=True)))[:, 0]
        value = np.mean(lse - z[np.arange(n), Y])
        g = softmax(z)
        g[np.arange(n), Y] -= 1.0
        return value, g / n

    def _apply_M(self, z, R):
        """Per-sample logit Hessian applied to the rows of ``R``."""
        if self.loss_name == "squared":
            return R
        p = softmax(z)
        return p * R - p * np.sum(p * R, axis=1, keepdims=True)

    def loss(self, theta, X, y) -> float:
        """:math:`L(\\theta)=\\frac1n\\sum_i\\ell(z_i,y_i)`; at zero logits CE is :math:`\\log K`.

        >>> bool(np.isclose(MLP((3, 4)).loss(np.zeros(16), np.ones((2, 3)), [0, 3]), np.log(4)))
        True
        """
        return float(self._loss_terms(self.logits(theta, X), self.targets(y))[0])

    # -- backward -----------------------------------------------------------
    @staticmethod
    def _backprop(params, acts, d1s, delta):
        """Gradient parts of ``sum_i delta_i . z_i`` (reverse mode); returns the flat grad."""
        grads = []
        for l in range(len(params) - 1, -1, -1):
            W, _ = params[l]
            grads.append((acts[l].T @ delta).ravel())
            grads.append(delta.sum(axis=0))
            if l > 0:
                delta = (delta @ W.T) * d1s[l - 1]
        # grads were collected backwards as (W_L, b_L, W_{L-1}, ...)
        pairs = [(grads[i], grads[i + 1]) for i in range(0, len(grads), 2)][::-1]
        return np.concatenate([x for pair in pairs for x in pair])

    def loss_and_grad(self, theta, X, y):
        r"""``(L, \nabla L)`` by back-propagation (reverse mode).

        >>> net = MLP((3, 2), loss_name="squared"); X = np.eye(3)
        >>> L, g = net.loss_and_grad(np.zeros(8), X, [0, 1, 0]); round(L, 12), g.shape
        (0.5, (8,))
        """
        params, acts, d1s, _ = self._forward(theta, X)
        value, g = self._loss_terms(acts[-1], self.targets(y))
        return float(value), self._backprop(params, acts, d1s, g)

    def _r_forward(self, params, acts, d1s, v):
        """R-operator forward pass: R(s_l) and R(a_l) for direction ``v``."""
        vparams = self.unpack(v)
        Ra, Rs = [np.zeros_like(acts[0])], []
        for l, ((W, _), (V, c)) in enumerate(zip(params, vparams)):
            rs = Ra[-1] @ W + acts[l] @ V + c
            Rs.append(rs)
            if l < len(params) - 1:
                Ra.append(d1s[l] * rs)
        return vparams, Ra, Rs

    def jvp(self, theta, X, v) -> np.ndarray:
        r"""Per-sample directional derivatives :math:`J_i^\top v` of the logits, shape (n, K),
        by the R-operator forward pass.  For a linear model it is :math:`x_iV+c`:

        >>> net = MLP((2, 2)); X = np.array([[1.0, 2.0]]); v = np.arange(6.0)
        >>> net.jvp(np.zeros(6), X, v).tolist()
        [[8.0, 12.0]]
        """
        params, acts, d1s, _ = self._forward(theta, X)
        return self._r_forward(params, acts, d1s, np.asarray(v, dtype=float))[2][-1]

    def hvp(self, theta, X, y, v) -> np.ndarray:
        r"""Exact :math:`\nabla^2L(\theta)\,v` by the R-operator (forward over reverse).

        With :math:`\delta_L=\partial L/\partial z` and
        :math:`\delta_{l-1}=(\delta_lW_l^\top)\odot\sigma'(s_{l-1})`, apply
        :math:`R\{\cdot\}=\frac{d}{dr}(\cdot)(\theta+rv)|_{r=0}` to every line:
        :math:`R\delta_L=\frac1n M\,Rz`,
        :math:`R\delta_{l-1}=(R\delta_lW_l^\top+\delta_lV_l^\top)\odot\sigma'+
        (\delta_lW_l^\top)\odot\sigma''\odot Rs_{l-1}`,
        :math:`R(\partial L/\partial W_l)=Ra_{l-1}^\top\delta_l+a_{l-1}^\top R\delta_l`.

        >>> net = MLP((3, 4, 2)); th = net.init(0); X = np.ones((2, 3)); y = [0, 1]
        >>> e = np.eye(net.n_params)
        >>> H = np.stack([net.hvp(th, X, y, e[i]) for i in range(net.n_params)])
        >>> bool(np.allclose(H, H.T, atol=1e-12))
        True
        """
        v = np.asarray(v, dtype=float)
        params, acts, d1s, d2s = self._forward(theta, X)
        z = acts[-1]
        n = z.shape[0]
        _, delta = self._loss_terms(z, self.targets(y))
        vparams, Ra, Rs = self._r_forward(params, acts, d1s, v)
        Rdelta = self._apply_M(z, Rs[-1]) / n
        out = []
        for l in range(len(params) - 1, -1, -1):
            W, _ = params[l]
            V, _ = vparams[l]
            out.append((Ra[l].T @ delta + acts[l].T @ Rdelta).ravel())
            out.append(Rdelta.sum(axis=0))
            if l > 0:
                back = delta @ W.T
                Rback = Rdelta @ W.T + delta @ V.T
                Rdelta = Rback * d1s[l - 1] + back * d2s[l - 1] * Rs[l - 1]
                delta = back * d1s[l - 1]
        pairs = [(out[i], out[i + 1]) for i in range(0, len(out), 2)][::-1]
        return np.concatenate([x for pair in pairs for x in pair])

    def gnvp(self, theta, X, y, v) -> np.ndarray:
        r"""Gauss--Newton product :math:`Gv=\frac1n\sum_iJ_iM_iJ_i^\top v` (labels unused:
        :math:`M` depends on the logits only).

        >>> net = MLP((3, 4, 2), loss_name="squared"); th = net.init(0); X = np.eye(3)
        >>> v = np.arange(net.n_params) / 10.0
        >>> bool(np.isclose(v @ net.gnvp(th, X, [0, 1, 0], v), np.sum(net.jvp(th, X, v)**2) / 3))
        True
        """
        v = np.asarray(v, dtype=float)
        params, acts, d1s, _ = self._forward(theta, X)
        z = acts[-1]
        _, _, Rs = self._r_forward(params, acts, d1s, v)
        return self._backprop(params, acts, d1s, self._apply_M(z, Rs[-1]) / z.shape[0])

    def logit_jacobians(self, theta, X) -> np.ndarray:
        r"""Dense per-sample Jacobians :math:`J_i=\nabla_\theta z_i`, shape (n, P, K),
        by one reverse pass per class with per-sample outer products.

        >>> net = MLP((2, 2)); J = net.logit_jacobians(np.zeros(6), np.array([[1.0, 2.0]]))
        >>> J.shape, J[0, :, 1].tolist()
        ((1, 6, 2), [0.0, 1.0, 0.0, 2.0, 0.0, 1.0])
        """
        params, acts, d1s, _ = self._forward(theta, X)
        n, K = acts[-1].shape
        cols = []
        for k in range(K):
            delta = np.zeros((n, K))
            delta[:, k] = 1.0
            parts = []
            for l in range(len(params) - 1, -1, -1):
                W, _ = params[l]
                parts.append((delta, l))
                if l > 0:
                    delta = (delta @ W.T) * d1s[l - 1]
            blocks = []
            for delta_l, l in parts[::-1]:
                blocks.append((acts[l][:, :, None] * delta_l[:, None, :]).reshape(n, -1))
                blocks.append(delta_l)
            cols.append(np.concatenate(blocks, axis=1))
        return np.stack(cols, axis=2)

    def logit_jacobian_grams(self, theta, X) -> np.ndarray:
        r"""Per-sample Gram matrices :math:`J_i^\top J_i` (n, K, K) without forming :math:`J_i`.

        For layer :math:`l` the derivative of :math:`z_{ik}` is the outer product
        :math:`a_{l-1,i}\otimes\delta^{(k)}_{l,i}` (weights) and :math:`\delta^{(k)}_{l,i}`
        (bias), so :math:`(J_i^\top J_i)_{kk'}=\sum_l(\|a_{l-1,i}\|^2+1)\,
        \delta^{(k)}_{l,i}\cdot\delta^{(k')}_{l,i}`; :math:`\|J_i\|_2^2` is its top eigenvalue.

        >>> net = MLP((3, 4, 2)); th = net.init(0); X = np.ones((2, 3))
        >>> J = net.logit_jacobians(th, X)
        >>> bool(np.allclose(net.logit_jacobian_grams(th, X), J.transpose(0, 2, 1) @ J))
        True
        """
        params, acts, d1s, _ = self._forward(theta, X)
        n, K = acts[-1].shape
        delta = np.broadcast_to(np.eye(K), (n, K, K)).copy()      # (sample, class k, unit)
        gram = np.zeros((n, K, K))
        for l in range(len(params) - 1, -1, -1):
            W, _ = params[l]
            weight = 1.0 + np.sum(acts[l] * acts[l], axis=1)
            gram += weight[:, None, None] * (delta @ delta.transpose(0, 2, 1))
            if l > 0:
                delta = (delta @ W.T) * d1s[l - 1][:, None, :]
        return gram

    def logit_hessians(self, theta, X) -> np.ndarray:
        """Per-sample :math:`M_i=\\nabla_z^2\\ell` (n, K, K): identity or diag(p) - p p^T.

        >>> MLP((1, 2)).logit_hessians(np.zeros(4), np.ones((1, 1)))[0].tolist()
        [[0.25, -0.25], [-0.25, 0.25]]
        """
        z = self.logits(theta, X)
        n, K = z.shape
        if self.loss_name == "squared":
            return np.broadcast_to(np.eye(K), (n, K, K)).copy()
        p = softmax(z)
        return p[:, :, None] * np.eye(K) - p[:, :, None] * p[:, None, :]


def softmax_hessian_norms(P, iterations: int = 54) -> np.ndarray:
    r""":math:`\|\mathrm{diag}(p)-pp^\top\|` for every row ``p`` of ``P`` (N, K), vectorized.

    The top eigenvalue is the root in :math:`[p_{(2)},p_{(1)}]` (Weyl interlacing for a
    rank-one downdate) of the secular equation :math:`\sum_ip_i^2/(p_i-\lambda)=1`, whose
    left side increases on that interval; ``iterations`` bisections leave an absolute error
    below :math:`2^{-54}`.  This is O(NK) per step, against O(NK^3) for a batched ``eigvalsh``.

    >>> softmax_hessian_norms(np.array([[0.3, 0.7]])).round(12)
    array([0.42])
    >>> softmax_hessian_norms(np.array([[0.25, 0.25, 0.25, 0.25]])).round(12)
    array([0.25])
    """
    P = np.asarray(P, dtype=float)
    if P.ndim != 2 or P.shape[1] < 2:
        raise InputError("P", P.shape, "must be an (N, K) array with K >= 2")
    if np.any(P < 0) or not np.allclose(P.sum(axis=1), 1.0, atol=1e-9):
        raise InputError("P", "rows", "must be probability vectors (non-negative, summing to 1)")
    out = np.empty(P.shape[0])
    for start in range(0, P.shape[0], _CHUNK):        # cache-sized blocks, buffers reused
        out[start:start + _CHUNK] = _secular_top_root(P[start:start + _CHUNK], iterations)
    return out


_CHUNK = 16384


def _secular_top_root(P, iterations):
    top2 = -np.partition(-P, 1, axis=1)[:, :2]
    lo, hi = top2[:, 1].copy(), top2[:, 0].copy()
    PT = np.ascontiguousarray(P.T)                      # classes along rows: sums are vector adds
    P2 = PT * PT
    buf = np.empty_like(PT)
    mid = np.empty_like(lo)
    total = np.empty_like(lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        # mid > 0 (p_(1) >= 1/K), so a zero denominator means p_i = mid > 0 and the sum is
        # +inf: go left, which is right when a tie p_(1) = p_(2) has collapsed the bracket.
        for _ in range(iterations):
            np.add(lo, hi, out=mid)
            mid *= 0.5
            np.subtract(PT, mid, out=buf)
            np.divide(P2, buf, out=buf)
            np.copyto(total, buf[0])
            for row in buf[1:]:
                total += row
            above = total > 1.0
            np.copyto(hi, mid, where=above)
            np.copyto(lo, mid, where=~above)
    return 0.5 * (lo + hi)


def top_eigenvalue(matvec, n: int, v0=None, seed: int = 0, tol: float = 1e-7):
    r"""Largest algebraic eigenvalue of a symmetric operator by Lanczos (``scipy.sparse.linalg.eigsh``).

    Returns ``(lambda, unit eigenvector)``.  ``v0`` warm-starts the iteration (e.g. the
    previous eigenvector along a training run); otherwise a seeded random start is used.

    >>> A = np.diag([1.0, 5.0, 2.0]); lam, u = top_eigenvalue(lambda v: A @ v, 3)
    >>> round(lam, 10), round(float(abs(u[1])), 10)
    (5.0, 1.0)
    """
    if n < 1:
        raise InputError("n", n, "must be positive")
    if n <= 2:  # eigsh needs k < n; a dense solve is exact here
        A = np.stack([matvec(e) for e in np.eye(n)], axis=1)
        w, V = np.linalg.eigh(0.5 * (A + A.T))
        return float(w[-1]), V[:, -1]
    if v0 is None:
        v0 = np.random.default_rng(seed).standard_normal(n)
    op = LinearOperator((n, n), matvec=lambda v: matvec(np.ravel(v)), dtype=float)
    w, V = eigsh(op, k=1, which="LA", v0=np.asarray(v0, dtype=float), tol=tol, ncv=min(n - 1, 20))
    return float(w[0]), V[:, 0]


def gradient(net: MLP, X, y):
    r"""The model handed to :func:`numeric.driver.run`: ``grad(Theta)`` maps parameter rows
    ``(n, P)`` to the rows of :math:`\nabla L` (back-propagation, one network per row).

    >>> net = MLP((3, 2), loss_name="squared"); X = np.eye(3)
    >>> gradient(net, X, [0, 1, 0])(np.zeros((2, 8))).shape
    (2, 8)
    """
    X = np.asarray(X, dtype=float)
    Y = net.targets(y)
    return lambda Theta: np.stack([net.loss_and_grad(theta, X, Y)[1] for theta in Theta])


def train_gd(net: MLP, theta0, X, y, eta: float, steps: int, log_every: int = 10) -> Trajectory:
    r"""Full-batch GD :math:`\theta_{t+1}=\theta_t-\eta\nabla L(\theta_t)`: the
    :class:`~analytic.optimizers.GD` spec run by :func:`numeric.driver.run` on :func:`gradient`.

    Returns the driver's :class:`~numeric.driver.Trajectory` (one start): the parameters
    every ``log_every`` steps and at the last step (``xs[k, 0]`` at ``steps[k]``); anything
    measured along the run (loss, sharpness) is computed from these.  Divergence is the
    driver's policy: ``diverged_at`` and :meth:`~numeric.driver.Trajectory.check`.

    >>> net = MLP((2, 3, 2)); X = np.eye(2); y = [0, 1]
    >>> traj = train_gd(net, net.init(0), X, y, 0.5, 50, log_every=25)
    >>> traj.steps.tolist(), traj.diverged_at.tolist(), bool(net.loss(traj.final[0], X, y) < net.loss(traj.xs[0, 0], X, y))
    ([0, 25, 50], [-1], True)
    """
    if not (np.isfinite(eta) and eta > 0):
        raise InputError("eta", eta, "must be a positive finite number")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise InputError("steps", steps, "must be a non-negative integer")
    if isinstance(log_every, bool) or not isinstance(log_every, (int, np.integer)) or log_every < 1:
        raise InputError("log_every", log_every, "must be a positive integer")
    theta = np.asarray(theta0, dtype=float)
    if theta.shape != (net.n_params,):
        raise InputError("theta0", theta.shape, f"must have shape ({net.n_params},)")
    return run(GD(float(eta)), gradient(net, X, y), theta[None, :], int(steps), int(log_every))
