r"""Vectorized simulators for the stability claims (no Python loop per path).

* :func:`two_step_growth` runs :math:`u_{k+1} = c_1u_k + c_0u_{k-1}` on a whole
  grid of coefficient pairs at once, renormalizing every step so that no cell
  overflows, and returns the measured asymptotic growth rate per step.
* :func:`sample_batches` draws independent batches for every path
  (without replacement by ranking uniform keys, or with replacement).
* :func:`sgd_quadratic_1d` / :func:`sgd_quadratic` simulate SGD on
  :math:`\frac1{2n}\sum_i a_ix^2` / :math:`\frac1{2n}\sum_i x^TH_ix` for many paths.
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

from analytic.errors import DivergenceError, InputError
from analytic.sgd_stability import BATCH, N_SAMPLES, SAMPLINGS, variance_factor

__all__ = ["two_step_growth", "sample_batches", "variance_factor_value", "MeanEstimate",
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


def sample_batches(rng: np.random.Generator, paths: int, n: int, B: int, sampling: str = "without") -> np.ndarray:
    """Indices ``(paths, B)`` of one independent batch per path.

    Without replacement: Floyd's algorithm vectorized over paths when
    ``B <= n/2`` (Bentley & Floyd, CACM 30(9), 1987), otherwise the B smallest
    of n uniform keys; both give a uniform random B-subset.  With
    replacement: B independent uniform indices.

    >>> idx = sample_batches(np.random.default_rng(0), 4, 5, 3)
    >>> idx.shape, bool((np.sort(idx, 1)[:, 1:] != np.sort(idx, 1)[:, :-1]).all())
    ((4, 3), True)
    """
    if sampling not in SAMPLINGS:
        raise InputError("sampling", sampling, "must be 'without' or 'with'")
    if not isinstance(B, (int, np.integer)) or B < 1 or (sampling == "without" and B > n):
        raise InputError("B", B, f"must be an integer in [1, {n}]")
    if sampling == "with":
        return rng.integers(0, n, size=(paths, B))
    if B == n:
        return np.broadcast_to(np.arange(n), (paths, n)).copy()
    if 2 * B <= n:
        out = np.empty((paths, B), dtype=np.int64)
        for col, j in enumerate(range(n - B, n)):
            t = rng.integers(0, j + 1, size=paths)
            if col:
                t = np.where((out[:, :col] == t[:, None]).any(axis=1), j, t)
            out[:, col] = t
        return out
    keys = rng.random((paths, n))
    return np.argpartition(keys, B - 1, axis=1)[:, :B]


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
    samples = np.asarray(samples, dtype=float).ravel()
    if not np.isfinite(samples).all():
        raise DivergenceError("Monte Carlo estimate", -1)
    return MeanEstimate(float(samples.mean()), float(samples.std(ddof=1) / np.sqrt(samples.size)), samples.size)


def sgd_quadratic_1d(a_values, eta: float, B: int, paths: int, steps: int, rng: np.random.Generator,
                     sampling: str = "without") -> dict:
    r"""SGD :math:`x_{t+1} = (1-\eta\hat a_t)x_t` from :math:`x_0 = 1` on ``paths`` paths.

    Returns ``{"factor": MeanEstimate of (1-eta a_hat)^2 over all paths and steps,
    "second_moment": MeanEstimate of x_T^2 over paths}``.

    >>> out = sgd_quadratic_1d([1.0, 1.0], 0.5, 1, 10, 3, np.random.default_rng(0))
    >>> out["second_moment"].mean, out["factor"].mean
    (0.015625, 0.25)
    """
    a = np.asarray(a_values, dtype=float)
    if a.ndim != 1 or a.size < 1:
        raise InputError("a_values", a_values, "must be a nonempty 1-D array")
    x = np.ones(paths)
    factors = np.empty((steps, paths))
    for t in range(steps):
        idx = sample_batches(rng, paths, a.size, B, sampling)
        m = 1.0 - eta * a[idx].mean(axis=1)
        factors[t] = m * m
        with np.errstate(over="ignore", invalid="ignore"):
            x *= m
        if not np.isfinite(x).all() or (np.abs(x) > 1e150).any():
            raise DivergenceError("SGD on the 1-D quadratic", t + 1)
    return {"factor": _estimate(factors), "second_moment": _estimate(x * x)}


def sgd_quadratic(Hs, eta: float, B: int, x0, paths: int, steps: int, rng: np.random.Generator,
                  sampling: str = "without") -> np.ndarray:
    r"""SGD :math:`x_{t+1} = (I - \eta\hat H_t)x_t` for ``paths`` paths from ``x0``; returns ``x_T`` ``(paths, d)``.

    >>> H = np.array([[[1.0, 0], [0, 2]]] * 2)
    >>> sgd_quadratic(H, 0.5, 1, [1.0, 1.0], 3, 2, np.random.default_rng(0))[0].tolist()
    [0.25, 0.0]
    """
    H = np.asarray(Hs, dtype=float)
    if H.ndim != 3 or H.shape[1] != H.shape[2]:
        raise InputError("Hs", H.shape, "must have shape (n, d, d)")
    n, d, _ = H.shape
    x = np.broadcast_to(np.asarray(x0, dtype=float), (paths, d)).copy()
    for t in range(steps):
        idx = sample_batches(rng, paths, n, B, sampling)
        Hhat = H[idx].mean(axis=1)                      # (paths, d, d)
        with np.errstate(over="ignore", invalid="ignore"):
            x = x - eta * np.einsum("pij,pj->pi", Hhat, x)
        if not np.isfinite(x).all() or (np.abs(x) > 1e150).any():
            raise DivergenceError("SGD on the quadratic", t + 1)
    return x


def sgd_terms(term_grads: Sequence[Callable], x0, eta: float, B: int, steps: int, rng: np.random.Generator,
              sampling: str = "without") -> np.ndarray:
    r"""SGD on per-sample losses: each path draws its own batch every step.

    ``term_grads[i]`` maps points ``(paths, d) -> (paths, d)``.  Returns the
    final iterates ``(paths, d)``; raises ``DivergenceError`` on overflow.

    >>> g = [lambda x: x - 1.0, lambda x: x + 1.0]
    >>> sgd_terms(g, [[0.0], [0.0]], 1.0, 2, 1, np.random.default_rng(0)).ravel().tolist()
    [0.0, 0.0]
    """
    x = np.array(x0, dtype=float)
    if x.ndim != 2:
        raise InputError("x0", np.shape(x0), "must have shape (paths, d)")
    n = len(term_grads)
    paths = x.shape[0]
    rows = np.arange(paths)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            idx = sample_batches(rng, paths, n, B, sampling)
            weights = np.zeros((paths, n))
            np.add.at(weights, (np.broadcast_to(rows, idx.shape), idx), 1.0 / B)
            g = np.zeros_like(x)
            for i, grad in enumerate(term_grads):
                w = weights[:, i]
                if w.any():
                    g += w[:, None] * grad(x)
            x = x - eta * g
            if not np.isfinite(x).all() or (np.abs(x) > 1e150).any():
                raise DivergenceError("SGD on the per-sample losses", t + 1)
    return x


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
