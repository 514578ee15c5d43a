r"""The exact mean of randomly reshuffled SGD with momentum on a quadratic loss.

On batch losses :math:`E_a(x) = \tfrac12 x^\top A_a x + c_a^\top x + \text{const}`, one heavy-ball
step on batch :math:`a` is an affine map of :math:`z = (x, v)`:

.. math::
    v' = \beta v - h(A_a x + c_a), \qquad x' = x + v' .

An epoch composes the :math:`m` maps in a uniformly random order :math:`\pi`, drawn afresh each
epoch and independent of :math:`z`, so the mean obeys the deterministic recursion

.. math::
    \mathbb E z_{k+1} = \bar M\, \mathbb E z_k + \bar k, \qquad
    (\bar M, \bar k) = \frac{1}{m!}\sum_\pi (M_{\pi(m)} \cdots M_{\pi(1)},\ \dots),

with no Monte Carlo error.  Its slow invariant subspace (the :math:`d` eigenvalues closest to 1)
carries the mean modified flow, whose generator is :func:`slow_generator`.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from analytic.errors import InputError

__all__ = ["heavy_ball_affine", "reshuffled_epoch_map", "mean_iterates", "slow_generator"]

#: orderings are enumerated exactly; beyond this many batches the m! sum is refused
MAX_BATCHES = 7


def heavy_ball_affine(hessian, grad_at_zero, h: float, beta: float):
    r"""``(M, k)`` with :math:`z' = Mz + k` for one heavy-ball step on a quadratic batch loss.

    >>> M, k = heavy_ball_affine([[2.0]], [1.0], 0.1, 0.5)
    >>> M.tolist(), k.tolist()
    ([[0.8, 0.5], [-0.2, 0.5]], [-0.1, -0.1])
    """
    A = np.atleast_2d(np.asarray(hessian, dtype=float))
    c = np.asarray(grad_at_zero, dtype=float).ravel()
    d = A.shape[0]
    if A.shape != (d, d) or c.shape != (d,):
        raise InputError("hessian", A.shape, f"must be square and match the gradient's length {c.shape}")
    eye = np.eye(d)
    M = np.block([[eye - h * A, beta * eye], [-h * A, beta * eye]])
    k = np.concatenate([-h * c, -h * c])
    return M, k


def reshuffled_epoch_map(maps):
    """The mean ``(M, k)`` of one epoch over all orderings of the per-batch affine ``maps``.

    >>> one = heavy_ball_affine([[1.0]], [0.0], 0.1, 0.0)
    >>> M, k = reshuffled_epoch_map([one, one])
    >>> bool(np.allclose(M, one[0] @ one[0]))
    True
    """
    maps = list(maps)
    if not 1 <= len(maps) <= MAX_BATCHES:
        raise InputError("maps", len(maps), f"give 1..{MAX_BATCHES} batch maps (the orderings are enumerated)")
    n = maps[0][0].shape[0]
    Mbar, kbar = np.zeros((n, n)), np.zeros(n)
    for order in itertools.permutations(range(len(maps))):
        M, k = np.eye(n), np.zeros(n)
        for a in order:
            Ma, ka = maps[a]
            M, k = Ma @ M, Ma @ k + ka
        Mbar += M
        kbar += k
    count = math.factorial(len(maps))
    return Mbar / count, kbar / count


def mean_iterates(M, k, z0, epochs: int) -> np.ndarray:
    """``E z_0, ..., E z_epochs`` (rows) of the mean recursion."""
    z = np.asarray(z0, dtype=float)
    out = [z]
    for _ in range(int(epochs)):
        z = M @ z + k
        out.append(z)
    return np.array(out)


def slow_generator(M, epoch_time: float, d: int) -> np.ndarray:
    r"""The :math:`d \times d` generator :math:`L` of the mean flow on the slow subspace of
    ``M`` in the :math:`x` coordinates: :math:`\exp(L\,\tau) = P\,\Lambda\,P^{-1}`, with
    :math:`\Lambda` the :math:`d` eigenvalues closest to 1 and :math:`P` the :math:`x` rows of
    their eigenvectors (:math:`\tau` = ``epoch_time``).

    >>> one = heavy_ball_affine([[2.0]], [0.0], 0.01, 0.0)
    >>> round(float(slow_generator(one[0], 0.01, 1)[0, 0]), 6)      # log(1 - 2h)/h
    -2.020271
    """
    w, V = np.linalg.eig(np.asarray(M, dtype=float))
    idx = np.argsort(np.abs(w - 1.0))[:d]
    P = V[:d, idx]
    L = P @ np.diag(np.log(w[idx].astype(complex))) @ np.linalg.inv(P) / epoch_time
    if np.abs(L.imag).max() > 1e-9 * max(1.0, np.abs(L.real).max()):
        raise InputError("M", "complex slow generator", "the slow eigenvalues are not real and positive")
    return L.real
