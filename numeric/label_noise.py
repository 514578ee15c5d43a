r"""Simulated GD with Gaussian label noise, many sample paths at once.

Each step draws fresh :math:`\xi \sim N(0, I_K)` for every path and takes one
GD step on the loss of the noisy labels, :math:`x_{k+1} = x_k - h\nabla E_\xi(x_k)`:
this module is the *model* (the noisy gradient); the step, the draws and the
divergence policy are :func:`numeric.driver.run`'s.
The noisy gradient comes from :func:`numeric.compile.compile_expr` applied to
``modified_field(...).meta["noisy_loss"]``, so the update is read from the same
expression that the derivation starts from; the step size and the noise level
come from the :class:`~analytic.optimizers.LabelNoise` spec.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import sympy as sp

from analytic.errors import InputError
from analytic.optimizers import LabelNoise

from .compile import compile_expr
from .driver import Trajectory, run

__all__ = ["noisy_gradient", "simulate_label_noise"]


def noisy_gradient(noisy_loss, variables, noises) -> Callable:
    r"""``grad(X, Xi)``: :math:`\nabla_w E_\xi` at points ``X (n, d)`` with draws ``Xi (n, K)``.

    >>> w, xi = sp.Symbol("w"), sp.Symbol("xi_1")
    >>> g = noisy_gradient((w - 1 - xi) ** 2 / 2, [w], [xi])
    >>> g(np.array([[3.0]]), np.array([[0.5]])).tolist()
    [[1.5]]
    """
    variables, noises = tuple(variables), tuple(noises)
    grad = sp.Matrix([sp.diff(noisy_loss, v) for v in variables])
    f = compile_expr(grad, variables + noises)

    def evaluate(X, Xi):
        return f(np.concatenate([np.asarray(X, dtype=float), np.asarray(Xi, dtype=float)], axis=-1))
    return evaluate


def simulate_label_noise(optimizer: LabelNoise, grad: Callable, noise_dim: int, x0, steps: int,
                         seed: int, record_every: int = 1) -> Trajectory:
    r"""GD with label noise from the starts ``x0`` (``(n, d)``: one path per row).

    ``grad(X, Xi)`` is the gradient of the noisy loss with standard-normal
    draws ``Xi`` of shape ``(n, noise_dim)`` (the noise level is already in
    the loss).  The step is the spec's and the draws, the recording and the
    divergence policy are :func:`numeric.driver.run`'s (``seed`` seeds the draws).

    >>> spec = LabelNoise(0.1, 1)
    >>> t = simulate_label_noise(spec, lambda X, Z: X - Z, 1, np.zeros((3, 1)), 2, seed=0)
    >>> t.xs.shape
    (3, 3, 1)
    """
    if not isinstance(optimizer, LabelNoise):
        raise InputError("optimizer", optimizer, "must be a LabelNoise spec")
    if isinstance(noise_dim, bool) or not isinstance(noise_dim, (int, np.integer)) or noise_dim < 1:
        raise InputError("noise_dim", noise_dim, "must be a positive integer")
    return run(optimizer, grad, x0, steps, record_every, seed=seed, noise_dim=int(noise_dim))
