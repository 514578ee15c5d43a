r"""Vectorized simulators for the stability claims (no Python loop per path).

* :func:`two_step_growth` runs :math:`u_{k+1} = c_1u_k + c_0u_{k-1}` on a whole
  grid of coefficient pairs at once, renormalizing every step so that no cell
  overflows, and returns the measured asymptotic growth rate per step.
* :func:`sgd_quadratic_1d` / :func:`sgd_quadratic` are the models
  :math:`\frac1{2n}\sum_i a_ix^2` / :math:`\frac1{2n}\sum_i x^TH_ix` (batch gradients)
  run for many paths by :func:`numeric.driver.run` with the
  :class:`~analytic.optimizers.SGD` spec; the driver draws the seeded batches
  (:func:`first_of`: an independent uniform batch per step and path) and applies its
  divergence policy.
* :func:`sgd_terms` runs SGD on per-sample gradients (e.g. the escape example).
* :func:`second_moment_matrix_np` / :func:`second_moment_operator_np` evaluate
  the closed forms of :mod:`analytic.sgd_stability` in floating point, with
  the factor c(n, B) taken from the SymPy derivation.

Reference: Wu, Ma & E, NeurIPS 2018 (seed 002).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from analytic.errors import InputError
from analytic.optimizers import SGD
from analytic.sgd_stability import BATCH, N_SAMPLES, SAMPLINGS, variance_factor

from .driver import batch_mean, run

__all__ = ["two_step_growth", "first_of", "variance_factor_value", "MeanEstimate",
           "sgd_quadratic_1d", "sgd_quadratic", "sgd_terms", "second_moment_matrix_np",
           "second_moment_operator_np"]


def two_step_growth(c1, c0, steps: int = 400, u0: float = 1.0, u_prev: float = 0.3) -> np.ndarray:
    r"""Measured log growth per step of :math:`u_{k+1} = c_1u_k + c_0u_{k-1}`, elementwise.

    The state is rescaled to unit max-norm every step (the scale is kept in
    a running log), so unstable cells never overflow.  The rate is the change
    of the log amplitude over the second half of the run divided by its
    length: it tends to :math:`\log\rho` (:math:`\rho` the largest root modulus).

    >>> r = two_step_growth(np.array([0.5, 2.5]), np.array([0.0, 0.0]), steps=50)
    >>> np.round(np.exp(r), 6).tolist()
    [0.5, 2.5]
    """
    c1 = np.asarray(c1, dtype=float)
    c0 = np.asarray(c0, dtype=float)
    if c1.shape != c0.shape:
        raise InputError("c0", c0.shape, f"must have the shape of c1 {c1.shape}")
    if not isinstance(steps, (int, np.integer)) or steps < 4:
        raise InputError("steps", steps, "must be an integer >= 4")
    u = np.full(c1.shape, float(u0))
    up = np.full(c1.shape, float(u_prev))
    log_scale = np.zeros(c1.shape)
    half = steps // 2
    log_half = None
    for k in range(1, steps + 1):
        u, up = c1 * u + c0 * up, u
        m = np.maximum(np.abs(u), np.abs(up))
        m = np.where(m > 0, m, 1.0)
        u, up = u / m, up / m
        log_scale += np.log(m)
        if k == half:
            log_half = log_scale.copy()
    return (log_scale - log_half) / (steps - half)


def _sgd(eta, sampling: str, B: int, n: int) -> SGD:
    """The SGD spec whose draws :func:`first_of` reads: without replacement, one batch per
    epoch (a fresh permutation of the ``n`` samples per step and path); with replacement (and
    for ``B = 1``, where a uniform ``B``-subset is one uniform index) fresh uniform indices per
    step, ``B`` of them when ``B`` divides ``n``."""
    if sampling not in SAMPLINGS:
        raise InputError("sampling", sampling, "must be 'without' or 'with'")
    if sampling == "with" or B == 1:
        return SGD(float(eta), n // B if n % B == 0 else 1, replacement=True)
    return SGD(float(eta), 1)


def _check_batch(B, n):
    if isinstance(B, bool) or not isinstance(B, (int, np.integer)) or not 1 <= B <= n:
        raise InputError("B", B, f"must be an integer in [1, {n}]")
    return int(B)


def _seed(rng: np.random.Generator) -> int:
    """A driver seed drawn from the caller's generator (successive runs get fresh draws)."""
    return int(rng.integers(2 ** 63))


def first_of(B: int, batch_grad: Callable) -> Callable:
    r"""The model's ``grad(X, draw)`` on the first ``B`` indices of each path's draw.

    Under the SGD specs used here (one batch per epoch) the driver draws at every step, for
    every path, a fresh seeded permutation of the ``n`` samples, or uniform indices with
    replacement; the first ``B`` entries are a uniform ``B``-subset (``B`` independent
    uniform indices), independent across steps and paths: the sampling of Wu, Ma & E,
    whose second-moment recursion needs a batch independent of the past (an epoch of
    disjoint batches would not be).  ``batch_grad(X, idx)`` takes indices ``(paths, B)``.

    >>> from numeric.driver import run
    >>> seen = []
    >>> g = first_of(2, lambda X, idx: seen.append(idx.copy()) or 0 * X)
    >>> t = run(_sgd(0.1, "without", 2, 5), g, np.zeros((3, 1)), 1, seed=0, n_samples=5)
    >>> seen[0].shape, bool((seen[0][:, 0] != seen[0][:, 1]).all())
    ((3, 2), True)
    """
    B = int(B)
    return lambda X, draw: batch_grad(X, draw[:, :B])


@lru_cache(maxsize=None)
def _c_expr(sampling):
    return variance_factor(sampling).expr


def variance_factor_value(n: int, B: int, sampling: str = "without") -> float:
    """c(n, B) from the SymPy derivation, as a float.

    >>> variance_factor_value(10, 5), variance_factor_value(10, 5, "with")
    (0.1111111111111111, 0.2)
    """
    if sampling not in SAMPLINGS:
        raise InputError("sampling", sampling, "must be 'without' or 'with'")
    if n == 1:
        return 0.0 if sampling == "without" else 1.0 / B
    return float(_c_expr(sampling).subs({N_SAMPLES: n, BATCH: B}))


@dataclass(frozen=True)
class MeanEstimate:
    """A Monte Carlo mean with its standard error and sample count."""

    mean: float
    stderr: float
    samples: int

    def interval(self, z: float) -> tuple[float, float]:
        return self.mean - z * self.stderr, self.mean + z * self.stderr

    def z_score(self, value: float) -> float:
        return (self.mean - value) / self.stderr if self.stderr > 0 else float("inf") * np.sign(self.mean - value)


def _estimate(samples: np.ndarray) -> MeanEstimate:
    """Mean and standard error of samples from checked runs (finite: the driver bounds |x| by 1e150)."""
    samples = np.asarray(samples, dtype=float).ravel()
    return MeanEstimate(float(samples.mean()), float(samples.std(ddof=1) / np.sqrt(samples.size)), samples.size)


def sgd_quadratic_1d(a_values, eta: float, B: int, paths: int, steps: int, rng: np.random.Generator,
                     sampling: str = "without") -> dict:
    r"""SGD on :math:`\frac1{2n}\sum_i a_ix^2` (per-sample gradients :math:`a_ix`) from
    :math:`x_0 = 1` on ``paths`` paths, by :func:`numeric.driver.run` with :func:`first_of`
    batches, so that :math:`x_{t+1} = (1-\eta\hat a_t)x_t`.

    Returns ``{"factor": MeanEstimate of (1-eta a_hat)^2 over all paths and steps,
    "second_moment": MeanEstimate of x_T^2 over paths}``.  The factors are read off the
    recorded iterates, :math:`(x_{t+1}/x_t)^2`; a step from an iterate that is zero (or
    subnormal) is left out, which leaves the mean unbiased because the batches are
    independent of the past.  A diverged path raises :class:`DivergenceError` (the driver's
    policy); ``rng`` draws the driver's seed.

    >>> out = sgd_quadratic_1d([1.0, 1.0], 0.5, 1, 10, 3, np.random.default_rng(0))
    >>> out["second_moment"].mean, out["factor"].mean
    (0.015625, 0.25)
    """
    a = np.asarray(a_values, dtype=float)
    if a.ndim != 1 or a.size < 1:
        raise InputError("a_values", a_values, "must be a nonempty 1-D array")
    B = _check_batch(B, a.size)
    spec = _sgd(eta, sampling, B, a.size)
    grad = first_of(B, lambda X, idx: a[idx].mean(axis=1)[:, None] * X)
    traj = run(spec, grad, np.ones((paths, 1)), steps, 1, seed=_seed(rng), n_samples=a.size)
    xs = traj.check("SGD on the 1-D quadratic").xs[:, :, 0]
    prev, nxt = xs[:-1], xs[1:]
    measured = np.abs(prev) >= np.finfo(float).tiny
    ratio = nxt[measured] / prev[measured]
    return {"factor": _estimate(ratio * ratio), "second_moment": _estimate(xs[-1] * xs[-1])}


def sgd_quadratic(Hs, eta: float, B: int, x0, paths: int, steps: int, rng: np.random.Generator,
                  sampling: str = "without") -> np.ndarray:
    r"""SGD on :math:`\frac1{2n}\sum_i x^TH_ix` (per-sample gradients :math:`H_ix`) for ``paths``
    paths from ``x0``, by :func:`numeric.driver.run` with :func:`first_of` batches
    (:math:`x_{t+1} = (I - \eta\hat H_t)x_t`); returns ``x_T`` ``(paths, d)``.

    >>> H = np.array([[[1.0, 0], [0, 2]]] * 2)
    >>> sgd_quadratic(H, 0.5, 1, [1.0, 1.0], 3, 2, np.random.default_rng(0))[0].tolist()
    [0.25, 0.0]
    """
    H = np.asarray(Hs, dtype=float)
    if H.ndim != 3 or H.shape[1] != H.shape[2]:
        raise InputError("Hs", H.shape, "must have shape (n, d, d)")
    n, d, _ = H.shape
    B = _check_batch(B, n)
    spec = _sgd(eta, sampling, B, n)
    grad = first_of(B, lambda X, idx: np.einsum("pij,pj->pi", H[idx].mean(axis=1), X))
    x = np.broadcast_to(np.asarray(x0, dtype=float), (paths, d))
    traj = run(spec, grad, x, steps, None, seed=_seed(rng), n_samples=n)
    return traj.check("SGD on the quadratic").final


def sgd_terms(term_grads: Sequence[Callable], x0, eta: float, B: int, steps: int, rng: np.random.Generator,
              sampling: str = "without") -> np.ndarray:
    r"""SGD on per-sample losses (:func:`numeric.driver.batch_mean` over :func:`first_of`
    batches): each path draws its own batch every step.

    ``term_grads[i]`` maps points ``(paths, d) -> (paths, d)``.  Returns the
    final iterates ``(paths, d)``; a diverged path raises ``DivergenceError``.

    >>> g = [lambda x: x - 1.0, lambda x: x + 1.0]
    >>> sgd_terms(g, [[0.0], [0.0]], 1.0, 2, 1, np.random.default_rng(0)).ravel().tolist()
    [0.0, 0.0]
    """
    x = np.array(x0, dtype=float)
    if x.ndim != 2:
        raise InputError("x0", np.shape(x0), "must have shape (paths, d)")
    grad = batch_mean(term_grads)
    B = _check_batch(B, grad.n_samples)
    spec = _sgd(eta, sampling, B, grad.n_samples)
    traj = run(spec, first_of(B, grad), x, steps, None, seed=_seed(rng), n_samples=grad.n_samples)
    return traj.check("SGD on the per-sample losses").final


def _moments(Hs, B, sampling):
    H = np.asarray(Hs, dtype=float)
    if H.ndim != 3 or H.shape[1] != H.shape[2]:
        raise InputError("Hs", H.shape, "must have shape (n, d, d)")
    n = H.shape[0]
    return H, H.mean(axis=0), variance_factor_value(n, B, sampling)


def second_moment_matrix_np(Hs, eta: float, B: int, sampling: str = "without") -> np.ndarray:
    r"""Float version of :func:`analytic.sgd_stability.second_moment_matrix`.

    >>> second_moment_matrix_np([[[1.0]], [[3.0]]], 0.5, 1).tolist()
    [[0.25]]
    """
    H, Hm, c = _moments(Hs, B, sampling)
    d = Hm.shape[0]
    Sigma = np.einsum("nij,njk->ik", H, H) / H.shape[0] - Hm @ Hm
    M = np.eye(d) - eta * Hm
    return M @ M + eta**2 * c * Sigma


def second_moment_operator_np(Hs, eta: float, B: int, sampling: str = "without") -> np.ndarray:
    r"""Float version of :func:`analytic.sgd_stability.second_moment_operator` (d^2 x d^2).

    >>> second_moment_operator_np([[[1.0]], [[3.0]]], 0.5, 1).tolist()
    [[0.25]]
    """
    H, Hm, c = _moments(Hs, B, sampling)
    d = Hm.shape[0]
    M = np.eye(d) - eta * Hm
    mean_kron = np.einsum("nij,nkl->ikjl", H, H).reshape(d * d, d * d) / H.shape[0]
    return np.kron(M, M) + eta**2 * c * (mean_kron - np.kron(Hm, Hm))
