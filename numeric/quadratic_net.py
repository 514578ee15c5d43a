r"""A one-hidden-layer network with quadratic activation, trained by GD with
and without label noise, many networks at once.

The model of seed 003 (J. Wind, "Implicit bias by large learning rate: noise
can be helpful for gradient descent", blog post, 2022) is

.. math::
    P(x; A, b) = \sum_{j=1}^m b_j (A_{:j} \cdot x)^2, \qquad A \in \mathbb{R}^{d\times m},\ b \in \mathbb{R}^m,

with :math:`m = 100` hidden units, Xavier-normal :math:`A_{kj} \sim N(0, 2/(d+m))`
and :math:`b = 0` at initialisation.  The regression task has Gaussian inputs
:math:`X \sim N(0, I_d)` and target :math:`y = X_1^2`, which one unit solves
exactly (:math:`A_{11} = b_1 = 1`, everything else zero).

Every array carries a leading batch axis ``S`` (seeds, learning rates or noise
draws): ``A`` is ``(S, d, m)`` and ``b`` is ``(S, m)``.  With
:math:`Z = X A` (:math:`Z_{ij} = A_{:j}\cdot X_i`) the per-sample gradients are

.. math::
    \partial P_i / \partial b_j = Z_{ij}^2, \qquad
    \partial P_i / \partial A_{kj} = 2 b_j Z_{ij} X_{ik}, \qquad
    \|\nabla P(X_i)\|^2 = \sum_j Z_{ij}^4 + 4 \|X_i\|^2 \sum_j b_j^2 Z_{ij}^2 .

The loss is :math:`L = c \sum_i (P(X_i) - y_i)^2` with the weight ``c`` of the
normalisation (``"mse"``: :math:`1/n` as in the blog, ``"mean"``:
:math:`1/(2n)`, ``"sum"``: :math:`1/2`), so
:math:`\nabla_b L = 2c\,(Z^{\circ 2})^\top r` and
:math:`\nabla_A L = 4c\, X^\top (r \odot Z \odot b)`.
Label noise replaces :math:`y` by :math:`y + \sigma\xi` with fresh
:math:`\xi \sim N(0, I_n)` at every step, independently for every network.

The module is a *model*: :func:`gradient` supplies (noisy) gradients to
:func:`numeric.driver.run`, whose specs (:class:`~analytic.optimizers.GD`,
:class:`~analytic.optimizers.LabelNoise`) take the steps, draw the noise and apply the
one divergence policy; :func:`train` returns the driver's trajectory.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytic.errors import InputError
from analytic.label_noise import normalization_weight
from analytic.optimizers import GD, LabelNoise

from .driver import Trajectory, check_steps, record_interval, run, starts

__all__ = ["RegressionTask", "QuadraticNet", "train", "gradient", "run_phases", "network",
           "training_curves", "live", "noise_seed", "loss_weight", "least_regularizer_of_target"]
#: networks trained together; larger batches run chunk by chunk (their arrays
#: then stay in cache: about twice as fast per network at S = 20 on 2 cores)
CHUNK = 8


def loss_weight(normalization: str, n: int) -> float:
    """The weight ``c`` in ``L = c * sum_i r_i^2`` (from :mod:`analytic.label_noise`).

    >>> loss_weight("mse", 4), loss_weight("mean", 4), loss_weight("sum", 4)
    (0.25, 0.125, 0.5)
    """
    return float(normalization_weight(normalization, n))


@dataclass(frozen=True)
class RegressionTask:
    """Gaussian inputs ``X`` (``n x d``) with target ``y = X[:, 0]**2``, split
    into a training and a test set; seeded.

    The blog's sizes are ``d = 30``, ``n_train = n_test = 200``.

    >>> t = RegressionTask.make(d=3, n_train=4, n_test=2, seed=0)
    >>> t.X_train.shape, t.X_test.shape, bool(np.all(t.y_train == t.X_train[:, 0] ** 2))
    ((4, 3), (2, 3), True)
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def __post_init__(self):
        for name in ("X_train", "X_test"):
            X = np.asarray(getattr(self, name), dtype=float)
            if X.ndim != 2 or not np.isfinite(X).all():
                raise InputError(name, X.shape, "must be a finite 2-D array (samples x features)")
            object.__setattr__(self, name, X)
        for name, X in (("y_train", self.X_train), ("y_test", self.X_test)):
            y = np.asarray(getattr(self, name), dtype=float)
            if y.shape != (X.shape[0],) or not np.isfinite(y).all():
                raise InputError(name, y.shape, f"must be finite with shape ({X.shape[0]},)")
            object.__setattr__(self, name, y)
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise InputError("X_test", self.X_test.shape, "must have as many features as X_train")

    @classmethod
    def make(cls, d: int = 30, n_train: int = 200, n_test: int = 200, seed: int = 0) -> "RegressionTask":
        """Draw the task (seed 003's sizes by default)."""
        for name, v in (("d", d), ("n_train", n_train), ("n_test", n_test)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise InputError(name, v, "must be a positive integer")
        rng = np.random.default_rng([int(seed), 3])
        X = rng.standard_normal((n_train + n_test, d))
        y = X[:, 0] ** 2
        return cls(X[:n_train], y[:n_train], X[n_train:], y[n_train:])

    @property
    def d(self) -> int:
        return self.X_train.shape[1]

    @property
    def n(self) -> int:
        return self.X_train.shape[0]


@dataclass(frozen=True)
class QuadraticNet:
    """A batch of ``S`` networks: ``A`` of shape ``(S, d, m)``, ``b`` of shape ``(S, m)``.

    >>> net = QuadraticNet.exact(d=3, m=2)
    >>> net.predict(np.array([[2.0, 5.0, 7.0]])).tolist()
    [[4.0]]
    """

    A: np.ndarray
    b: np.ndarray

    def __post_init__(self):
        A = np.asarray(self.A, dtype=float)
        b = np.asarray(self.b, dtype=float)
        if A.ndim != 3 or b.shape != (A.shape[0], A.shape[2]):
            raise InputError("A, b", (A.shape, b.shape), "need A of shape (S, d, m) and b of shape (S, m)")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)

    # -- construction --------------------------------------------------
    @classmethod
    def init(cls, d: int, m: int = 100, count: int = 1, seed=0) -> "QuadraticNet":
        """Xavier-normal ``A`` (variance ``2/(d+m)``), ``b = 0``; network ``s``
        of the batch uses the generator seeded by ``[seed, s]``."""
        if not isinstance(count, (int, np.integer)) or count < 1:
            raise InputError("count", count, "must be a positive integer")
        std = np.sqrt(2.0 / (d + m))
        seeds = np.broadcast_to(np.atleast_1d(seed), (count,)) if np.ndim(seed) else [seed] * count
        A = np.stack([np.random.default_rng([int(s), k]).standard_normal((d, m)) * std
                      for k, s in enumerate(seeds)])
        return cls(A, np.zeros((count, m)))

    @classmethod
    def exact(cls, d: int, m: int = 100) -> "QuadraticNet":
        """The one-unit exact solution ``A_11 = b_1 = 1`` of the task."""
        A = np.zeros((1, d, m))
        b = np.zeros((1, m))
        A[0, 0, 0] = b[0, 0] = 1.0
        return cls(A, b)

    @classmethod
    def spread(cls, d: int, m: int, scale: float) -> "QuadraticNet":
        r"""The target :math:`x_1^2` spread over all ``m`` units:
        :math:`A_{1j} = \sqrt{v}`, :math:`b_j = 1/(m v)` with ``v = scale``."""
        if not scale > 0:
            raise InputError("scale", scale, "must be positive")
        A = np.zeros((1, d, m))
        A[0, 0, :] = np.sqrt(scale)
        return cls(A, np.full((1, m), 1.0 / (m * scale)))

    @property
    def count(self) -> int:
        return self.A.shape[0]

    @property
    def size(self) -> int:
        """Number of parameters ``d m + m`` of one network."""
        return self.A.shape[1] * self.A.shape[2] + self.A.shape[2]

    def vector(self) -> np.ndarray:
        """Flattened parameters ``(S, d m + m)``: ``A`` row-major, then ``b``."""
        return np.concatenate([self.A.reshape(self.count, -1), self.b], axis=1)

    @classmethod
    def from_vector(cls, theta, d: int, m: int) -> "QuadraticNet":
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        if theta.shape[1] != d * m + m:
            raise InputError("theta", theta.shape, f"needs {d * m + m} parameters per network")
        return cls(theta[:, :d * m].reshape(-1, d, m), theta[:, d * m:])

    def repeat(self, count: int) -> "QuadraticNet":
        """Each network repeated ``count`` times (network-major): the same
        initialisation for a sweep over step sizes.

        >>> QuadraticNet.init(3, m=2, count=2).repeat(3).count
        6
        """
        return QuadraticNet(np.repeat(self.A, count, axis=0), np.repeat(self.b, count, axis=0))

    def take(self, index) -> "QuadraticNet":
        """The sub-batch ``index``."""
        return QuadraticNet(self.A[index], self.b[index])

    # -- model ---------------------------------------------------------
    def hidden(self, X) -> np.ndarray:
        """Pre-activations ``Z = X A`` of shape ``(S, n, m)``."""
        return np.asarray(X, dtype=float) @ self.A

    def predict(self, X) -> np.ndarray:
        r"""Predictions :math:`P(X_i) = \sum_j b_j Z_{ij}^2`, shape ``(S, n)``."""
        Z = self.hidden(X)
        return np.einsum("snm,sm->sn", Z * Z, self.b)

    def per_sample_jacobian(self, X) -> np.ndarray:
        r"""The rows :math:`\nabla_\theta P(X_i)`, shape ``(S, n, d m + m)`` (same
        order as :meth:`vector`).

        >>> net = QuadraticNet.exact(d=2, m=1)      # dP/dA_k1 = 2 b (A_1 . x) x_k, dP/db = (A_1 . x)^2
        >>> net.per_sample_jacobian(np.array([[3.0, 5.0]])).tolist()
        [[[18.0, 30.0, 9.0]]]
        """
        X = np.asarray(X, dtype=float)
        Z = self.hidden(X)
        dA = 2.0 * X[None, :, :, None] * (self.b[:, None, None, :] * Z[:, :, None, :])
        return np.concatenate([dA.reshape(self.count, X.shape[0], -1), Z * Z], axis=2)

    def per_sample_grad_norms(self, X) -> np.ndarray:
        r""":math:`\|\nabla_\theta P(X_i)\|^2 = \sum_j Z_{ij}^4 + 4\|X_i\|^2 \sum_j b_j^2 Z_{ij}^2`, shape ``(S, n)``.

        >>> net = QuadraticNet.exact(d=2, m=1)
        >>> net.per_sample_grad_norms(np.array([[1.0, 1.0]])).tolist()   # 1 + 4*2*1
        [[9.0]]
        """
        X = np.asarray(X, dtype=float)
        Z2 = self.hidden(X) ** 2
        return (Z2 * Z2).sum(axis=2) + 4.0 * (X * X).sum(axis=1) * np.einsum("snm,sm->sn", Z2, self.b ** 2)

    def gradient_regularizer(self, X) -> np.ndarray:
        r""":math:`\sum_i \|\nabla_\theta P(X_i)\|^2` per network, shape ``(S,)``."""
        return self.per_sample_grad_norms(X).sum(axis=1)

    def loss(self, X, y, normalization: str = "mse") -> np.ndarray:
        r""":math:`L = c \sum_i (P(X_i) - y_i)^2` per network, shape ``(S,)``.

        >>> QuadraticNet.exact(d=1, m=1).loss(np.array([[1.0], [2.0]]), [0.0, 0.0]).tolist()   # (1 + 16)/2
        [8.5]
        """
        r = self.predict(X) - np.asarray(y, dtype=float)
        return loss_weight(normalization, r.shape[-1]) * (r * r).sum(axis=-1)

    def loss_gradient(self, X, y, normalization: str = "mse") -> tuple[np.ndarray, np.ndarray]:
        r"""``(dL/dA, dL/db)`` with :math:`\nabla_b L = 2c (Z^{\circ2})^\top r`,
        :math:`\nabla_A L = 4c X^\top(r\odot Z\odot b)`; ``y`` may be ``(n,)`` or ``(S, n)``.

        >>> gA, gb = QuadraticNet.exact(d=1, m=1).loss_gradient(np.array([[1.0]]), [0.0])
        >>> gA.tolist(), gb.tolist()     # L = (b a^2)^2: dL/da = 4 b^2 a^3, dL/db = 2 b a^4
        ([[[4.0]]], [[2.0]])
        """
        X = np.asarray(X, dtype=float)
        Z = self.hidden(X)
        r = np.einsum("snm,sm->sn", Z * Z, self.b) - y
        return _gradient_from(X, Z, r, self.b, loss_weight(normalization, X.shape[0]))


def _gradient_from(X, Z, r, b, c):
    gb = (2.0 * c) * np.einsum("snm,sn->sm", Z * Z, r)
    gA = np.swapaxes(X, -1, -2) @ ((4.0 * c) * r[:, :, None] * Z * b[:, None, :])
    return gA, gb


def least_regularizer_of_target(X, m: int) -> tuple[float, float]:
    r"""The least :math:`\sum_i\|\nabla P(X_i)\|^2` over networks that compute the
    target exactly with every unit along :math:`e_1` (:math:`P = \sum_j b_j (a_j x_1)^2`,
    :math:`\sum_j b_j a_j^2 = 1`), and the scale ``v`` reaching it.

    With :math:`S_4 = \sum_i x_{i1}^4` and :math:`S_2 = \sum_i x_{i1}^2\|x_i\|^2`,
    :math:`R = \sum_j a_j^4 S_4 + 4 S_2 \sum_j b_j^2 a_j^2`; by symmetry and
    joint convexity of :math:`S_4 u^2 + 4S_2 t^2/u` in the unit's
    :math:`(u, t) = (a_j^2, b_j a_j^2)`, the best split is equal, :math:`a_j^2 = v`,
    :math:`b_j = 1/(mv)`: :math:`R(v) = m v^2 S_4 + 4 S_2/(m v)`, least at
    :math:`v^3 = 2S_2/(m^2 S_4)` with :math:`R = 3 m^{-1/3} (2S_2)^{2/3} S_4^{1/3}`,
    which falls like :math:`m^{-1/3}`: one unit is far from the flattest solution.

    >>> X = np.array([[1.0, 1.0], [2.0, 0.0]])
    >>> R, v = least_regularizer_of_target(X, 4)
    >>> net = QuadraticNet.spread(2, 4, v)
    >>> bool(np.isclose(net.gradient_regularizer(X)[0], R)), net.predict(X).round(12).tolist()
    (True, [[1.0, 4.0]])
    """
    X = np.asarray(X, dtype=float)
    x1 = X[:, 0]
    S4, S2 = float((x1 ** 4).sum()), float((x1 ** 2 * (X * X).sum(axis=1)).sum())
    v = (2 * S2 / (m * m * S4)) ** (1 / 3)
    return m * v * v * S4 + 4 * S2 / (m * v), v


def noise_seed(seed: int, *keys: int) -> int:
    """A driver seed (a 63-bit integer) derived from ``seed`` and ``keys`` by NumPy's
    :class:`~numpy.random.SeedSequence`: independent streams for chunks of networks.

    >>> noise_seed(1, 0) == noise_seed(1, 0) != noise_seed(1, 1)
    True
    """
    state = np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def gradient(task: RegressionTask, m: int, normalization: str = "mse", sigma: float | None = None):
    r"""The model handed to :func:`numeric.driver.run`: the gradient of :math:`L` for many networks.

    A row is ``[vector(), s]``: a network's parameters (the layout of
    :meth:`QuadraticNet.vector`) followed by one non-trainable coordinate, its
    step-size multiplier ``s`` (the spec's step ``h`` times ``s`` is the network's step
    size; it travels with its row when the driver drops a diverged network).  The
    gradient row is ``[s * grad L, 0]``.  With ``sigma`` the model is the noisy one,
    ``grad(Theta, xi)`` with the driver's standard normals ``xi`` of shape ``(rows, n)``:
    the labels are :math:`y + \sigma\xi`.

    >>> task = RegressionTask(np.array([[1.0]]), np.array([0.0]), np.array([[1.0]]), np.array([1.0]))
    >>> gradient(task, 1)(np.array([[1.0, 1.0, 0.5]])).tolist()   # L = (b a^2)^2, s = 1/2
    [[2.0, 1.0, 0.0]]
    """
    X, y = task.X_train, task.y_train
    XT = np.ascontiguousarray(X.T)
    d, dm = task.d, task.d * m
    c = loss_weight(normalization, task.n)

    def grad(theta, xi=None):
        theta = np.ascontiguousarray(theta)           # the compiled step's buffers are column-major
        S = theta.shape[0]
        A, b, scale = theta[:, :dm].reshape(S, d, m), theta[:, dm:dm + m], theta[:, dm + m:]
        Z = X @ A
        Z2 = Z * Z
        r = (Z2 @ b[:, :, None])[:, :, 0] - y
        if xi is not None:
            r -= sigma * xi
        r *= scale
        out = np.empty(theta.shape)
        out[:, dm:dm + m] = (2.0 * c) * (r[:, None, :] @ Z2)[:, 0, :]
        out[:, :dm] = (XT @ (((4.0 * c) * r)[:, :, None] * Z * b[:, None, :])).reshape(S, dm)
        out[:, dm + m:] = 0.0
        return out

    if sigma is None:
        return lambda theta: grad(theta)
    return grad


def run_phases(phases, x0, record_every: int | None = None) -> Trajectory:
    r"""Consecutive :func:`numeric.driver.run` calls as one :class:`~numeric.driver.Trajectory`.

    ``phases`` is a sequence of ``(optimizer, grad, steps, options)`` (``options``: keyword
    arguments of the driver such as ``seed`` and ``noise_dim``); each phase continues from
    the iterates where the previous one ended, from its optimizer's initial state (meant
    for stateless rules: GD, label noise).  Steps are numbered globally: recorded are step
    0, the multiples of ``record_every`` and the last step, and ``diverged_at`` is the
    global step; a start that diverged stays frozen in the later phases.  (A phase that
    starts off the recording grid is run as two driver calls, the second with the seed
    ``noise_seed(seed, 1)``.)

    >>> from analytic.optimizers import GD
    >>> t = run_phases([(GD(0.5), lambda x: x, 3, {}), (GD(0.25), lambda x: x, 2, {})], [[1.0]], 2)
    >>> t.steps.tolist(), t.xs[:, 0, 0].tolist()
    ([0, 2, 4, 5], [1.0, 0.25, 0.09375, 0.0703125])
    """
    x = starts(x0)
    n = x.shape[0]
    phases = list(phases)
    total = sum(check_steps(p[2]) for p in phases)
    every = record_interval(record_every, total)
    current, live = x.copy(), np.arange(n)
    diverged_at = np.full(n, -1, dtype=np.int64)
    rec, rec_steps, state = [x.copy()], [0], ()
    offset = 0
    for optimizer, grad, length, options in phases:
        head = min(-offset % every, length)          # to the next multiple of record_every
        for piece, (start, count, interval) in enumerate(((offset, head, None), (offset + head, length - head, every))):
            if count == 0:
                continue
            if not live.size:                         # everything frozen: keep the record schedule
                kept = [k for k in range(start + 1, start + count + 1) if k % every == 0 or k == total]
                rec += [current.copy() for _ in kept]
                rec_steps += kept
                continue
            opts = dict(options)
            if piece and head and "seed" in opts:
                opts["seed"] = noise_seed(opts["seed"], 1)
            t = run(optimizer, grad, current[live], count, interval, **opts)
            for xk, k in zip(t.xs[1:], t.steps[1:] + start):
                if k % every == 0 or k == total:
                    full = current.copy()
                    full[live] = xk
                    rec.append(full)
                    rec_steps.append(int(k))
            bad = t.diverged
            diverged_at[live[bad]] = start + t.diverged_at[bad]
            current[live] = t.final
            live = live[~bad]
            state = t.state
        offset += length
    return Trajectory(np.stack(rec), np.array(rec_steps), diverged_at, state)


def live(traj: Trajectory) -> np.ndarray:
    """``(records, starts)``: True where a recorded iterate is a real one, False where the start
    had diverged by then (the driver froze it at its last finite step)."""
    return (traj.diverged_at < 0) | (traj.steps[:, None] < traj.diverged_at[None, :])


def network(traj: Trajectory, d: int, k: int = -1) -> QuadraticNet:
    """The networks at the ``k``-th recorded step of a :func:`train` trajectory (``d`` inputs).

    >>> task = RegressionTask.make(d=3, n_train=5, n_test=5, seed=0)
    >>> network(train(task, QuadraticNet.init(3, m=4, count=2), 0.01, 10), 3).A.shape
    (2, 3, 4)
    """
    theta = traj.xs[k]
    return QuadraticNet.from_vector(theta, d, theta.shape[1] // (d + 1))


def training_curves(traj: Trajectory, task: RegressionTask, normalization: str = "mse"):
    r"""The training loss and :math:`\sum_i\|\nabla P(X_i)\|^2` at every recorded step of a
    :func:`train` trajectory, two masked arrays ``(records, S)``: masked where the network
    had diverged by then (or, on its way there, the values overflow).

    >>> task = RegressionTask.make(d=3, n_train=5, n_test=5, seed=0)
    >>> loss, reg = training_curves(train(task, QuadraticNet.init(3, m=4), 0.01, 10, record_every=5), task)
    >>> loss.shape, bool(loss[-1, 0] < loss[0, 0])
    ((3, 1), True)
    """
    ok = live(traj)
    loss, reg = np.zeros(ok.shape), np.zeros(ok.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(ok.shape[0]):
            if ok[k].any():
                net = QuadraticNet.from_vector(traj.xs[k, ok[k]], task.d, traj.xs.shape[2] // (task.d + 1))
                loss[k, ok[k]] = net.loss(task.X_train, task.y_train, normalization)
                reg[k, ok[k]] = net.gradient_regularizer(task.X_train)
    ok &= np.isfinite(loss) & np.isfinite(reg)
    loss[~ok] = reg[~ok] = 0.0
    return np.ma.masked_array(loss, ~ok), np.ma.masked_array(reg, ~ok)


def train(task: RegressionTask, net: QuadraticNet, h, steps: int, sigma: float = 0.0,
          seed: int = 0, normalization: str = "mse", polish_steps: int = 0,
          record_every: int | None = None) -> Trajectory:
    r"""Full-batch GD on :math:`L` for every network of the batch at once, by :func:`numeric.driver.run`.

    ``h`` is one step size or one per network (``(S,)``: a learning-rate
    sweep in one batch; the spec's step is the largest and each network carries its
    multiplier, see :func:`gradient`).  For the first ``steps`` steps the rule is
    :class:`~analytic.optimizers.LabelNoise` (fresh label noise :math:`\sigma\xi`,
    :math:`\xi \sim N(0, I_n)`, independent across networks), then ``polish_steps``
    :class:`~analytic.optimizers.GD` steps settle the network on a nearby interpolating
    solution.  Networks run in chunks of ``CHUNK``; chunk ``j`` draws its noise with the
    driver seed ``noise_seed(seed, 31, j)``.

    Returns the driver's :class:`~numeric.driver.Trajectory` of the parameter rows
    (:meth:`QuadraticNet.vector`) at step 0, every ``record_every`` steps (default: only
    the last) and the last; a diverged network is frozen at its last finite step and
    reported by ``diverged_at`` and :meth:`~numeric.driver.Trajectory.check` (the driver's
    policy).  :func:`network` and :func:`training_curves` read the networks, losses and
    regularizers off it.

    >>> task = RegressionTask.make(d=3, n_train=5, n_test=5, seed=0)
    >>> traj = train(task, QuadraticNet.init(3, m=4, count=2), 0.01, 10, sigma=1.0, seed=1)
    >>> traj.xs.shape, traj.diverged.tolist(), traj.steps.tolist()
    ((2, 2, 16), [False, False], [0, 10])
    """
    for name, v in (("steps", steps), ("polish_steps", polish_steps)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise InputError(name, v, "must be a nonnegative integer")
    if not np.isfinite(sigma) or sigma < 0:
        raise InputError("sigma", sigma, "must be a finite nonnegative number")
    S = net.count
    h = np.broadcast_to(np.asarray(h, dtype=float), (S,)) if np.ndim(h) == 0 or np.shape(h) == (S,) else None
    if h is None or not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise InputError("h", h, f"must be positive: one step size or one per network ({S})")
    if task.d != net.A.shape[1]:
        raise InputError("net", net.A.shape, f"input dimension must be the task's d = {task.d}")
    total = int(steps + polish_steps)
    record_every = max(int(record_every or total or 1), 1)
    m = net.A.shape[2]
    h_max = float(h.max())
    rows = np.column_stack([net.vector(), h / h_max])
    plain = (GD(h_max), gradient(task, m, normalization), total if sigma == 0 else polish_steps, {})
    parts = []
    for j, i in enumerate(range(0, S, CHUNK)):
        phases = [plain]
        if sigma > 0:
            spec = LabelNoise(h_max, float(sigma))
            phases.insert(0, (spec, gradient(task, m, normalization, float(spec.sampling.sigma)), steps,
                              {"seed": noise_seed(seed, 31, j), "noise_dim": task.n}))
        parts.append(run_phases(phases, rows[i:i + CHUNK], record_every))
    return Trajectory(np.concatenate([p.xs[..., :-1] for p in parts], axis=1), parts[0].steps,
                      np.concatenate([p.diverged_at for p in parts]), parts[0].state)
