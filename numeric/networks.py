r"""Jacobians of 1-D shallow networks :math:`f(x) = \sum_j w_j\,\phi(s(x - b_j))`.

With samples :math:`x_i = i/(N-1)` and biases :math:`b_j = j/(K-1)` equally spaced in
:math:`[0, 1]`, the Jacobian with respect to the output weights is
:math:`A_{ij} = \phi(s(x_i - b_j))`.  The argument is the exact rational
:math:`s\,(i(K-1) - j(N-1)) / ((N-1)(K-1))`, so the entries can be evaluated in
float64 (NumPy) or to any precision (mpmath), once per distinct argument.

Activations (Lucey, "Gradient Descent as a Shrinkage Operator for Spectral
Bias", Sec. 5-6): Heaviside (:math:`\phi(0)=1`), tanh, ReLU, ReLU², GELU
:math:`z\Phi(z)`, SiLU :math:`z/(1+e^{-z})`, sinc :math:`\sin(\pi z)/(\pi z)` (band
limited to :math:`|f| \le s/2`, so about :math:`s` degrees of freedom on :math:`[0,1]`)
and Gaussian :math:`e^{-\pi z^2}` (the same unit width as the sinc).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import mpmath
import numpy as np
from scipy.special import erf

from analytic.errors import InputError
from analytic.values import bounded_int, exact_number

__all__ = ["Activation", "ACTIVATIONS", "get_activation", "grid", "exact_scale", "jacobian",
           "jacobian_arguments", "jacobian_mp_values", "jacobian_mpmath", "dst_basis",
           "default_scale"]


def _heaviside_np(z):
    return (z >= 0).astype(float)


def _relu_np(z):
    return np.maximum(z, 0.0)


def _sinc_np(z):
    return np.sinc(z)


@dataclass(frozen=True)
class Activation:
    """An activation: float64 and mpmath evaluators, and whether it is (quasi-)monotonic."""

    name: str
    numpy: Callable
    mp: Callable
    monotonic: bool
    scale_free: bool = False

    def __post_init__(self):
        if not self.name.isidentifier():
            raise InputError("name", self.name, "must be an identifier")


ACTIVATIONS = {a.name: a for a in (
    Activation("heaviside", _heaviside_np, lambda z: mpmath.mpf(1) if z >= 0 else mpmath.mpf(0), True, True),
    Activation("tanh", np.tanh, mpmath.tanh, True),
    Activation("relu", _relu_np, lambda z: z if z > 0 else mpmath.mpf(0), True, True),
    Activation("relu2", lambda z: _relu_np(z) ** 2, lambda z: z * z if z > 0 else mpmath.mpf(0), True, True),
    Activation("gelu", lambda z: 0.5 * z * (1 + erf(z / math.sqrt(2))),
               lambda z: z * mpmath.ncdf(z), True),
    Activation("silu", lambda z: z / (1 + np.exp(-z)), lambda z: z / (1 + mpmath.exp(-z)), True),
    Activation("sinc", _sinc_np, lambda z: mpmath.sincpi(z), False),
    Activation("gaussian", lambda z: np.exp(-np.pi * z * z), lambda z: mpmath.exp(-mpmath.pi * z * z), False),
)}


def get_activation(name: str) -> Activation:
    """Look an activation up by name.

    >>> get_activation("relu2").monotonic
    True
    """
    if not isinstance(name, str):
        raise InputError("activation", name, "must be one of " + ", ".join(ACTIVATIONS))
    key = name.lower().replace("^", "").replace("²", "2").replace("-", "")
    if key not in ACTIVATIONS:
        raise InputError("activation", name, "must be one of " + ", ".join(ACTIVATIONS))
    return ACTIVATIONS[key]


def default_scale(name: str, width: int) -> int:
    """A default scale: 1 for the scale-free ones, else the width ``K`` (one sample per unit of z).

    >>> default_scale("relu", 64), default_scale("tanh", 64)
    (1, 64)
    """
    act = get_activation(name)
    width = _size(width, "width")
    return 1 if act.scale_free else width


#: largest activation scale accepted
MAX_SCALE = 10 ** 6
#: largest number of grid points or hidden units, and of Jacobian entries
MAX_POINTS, MAX_ENTRIES = 10 ** 5, 5 * 10 ** 7
#: largest mpmath working precision (decimal digits)
MAX_DPS = 10 ** 4


def exact_scale(scale) -> Fraction:
    """The scale as an exact fraction (``"12.5"``, ``0.1`` -> 1/10, ``"3/2"``).

    >>> exact_scale(0.1), exact_scale("3/2")
    (Fraction(1, 10), Fraction(3, 2))
    """
    if isinstance(scale, Fraction):
        f = scale
    else:
        v = exact_number(scale, "scale", low=0, low_open=True, high=MAX_SCALE)
        if not v.is_Rational:
            raise InputError("scale", scale, "must be a rational number (a decimal or a fraction)")
        f = Fraction(int(v.p), int(v.q))
    if not 0 < f <= MAX_SCALE:
        raise InputError("scale", scale, f"must lie in (0, {MAX_SCALE}]")
    return f


def grid(n: int) -> np.ndarray:
    """``n`` equally spaced points ``i/(n-1)`` in [0, 1].

    >>> grid(3).tolist()
    [0.0, 0.5, 1.0]
    """
    n = _size(n, "n")
    return np.arange(n) / (n - 1)


def _size(value, argument, low=2, high=None):
    high = MAX_POINTS if high is None else high
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not low <= value <= high:
        raise InputError(argument, value, f"must be an integer between {low} and {high}")
    return int(value)


def _check_sizes(n, width):
    n, width = _size(n, "n"), _size(width, "width")
    if n * width > MAX_ENTRIES:
        raise InputError("width", width, f"n * width = {n * width} entries exceeds {MAX_ENTRIES}")


def jacobian_arguments(n: int, width: int):
    """Integer numerators ``d[i, j] = i(K-1) - j(N-1)`` and the denominator ``(N-1)(K-1)``.

    ``x_i - b_j = d[i, j] / den`` exactly.

    >>> d, den = jacobian_arguments(3, 2); d.tolist(), den
    ([[0, -2], [1, -1], [2, 0]], 2)
    """
    _check_sizes(n, width)
    i = np.arange(n, dtype=np.int64)[:, None]
    j = np.arange(width, dtype=np.int64)[None, :]
    return i * (width - 1) - j * (n - 1), (n - 1) * (width - 1)


def jacobian(activation: str, n: int, width: int, scale=None) -> np.ndarray:
    r"""The float64 Jacobian :math:`A_{ij} = \phi(s(x_i - b_j))`.

    >>> jacobian("heaviside", 3, 3).tolist()
    [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]
    """
    act = get_activation(activation)
    _check_sizes(n, width)
    sc = exact_scale(default_scale(activation, width) if scale is None else scale)
    d, den = jacobian_arguments(n, width)
    z = d * (sc.numerator / (sc.denominator * den))
    return np.asarray(act.numpy(z), dtype=float)


def jacobian_mp_values(activation: str, n: int, width: int, scale=None, dps: int = 30):
    """Entries in mpmath precision, evaluated once per distinct argument.

    Returns ``(values, index)`` with ``A[i, j] = values[index[i, j]]`` (mpf at ``dps``
    digits, each rounded once from the exact argument).

    >>> vals, idx = jacobian_mp_values("relu", 3, 3, dps=20); [str(vals[k]) for k in idx[2]]
    ['1.0', '0.5', '0.0']
    """
    act = get_activation(activation)
    _check_sizes(n, width)
    dps = bounded_int(dps, "dps", 1, MAX_DPS)
    sc = exact_scale(default_scale(activation, width) if scale is None else scale)
    d, den = jacobian_arguments(n, width)
    keys, index = np.unique(d, return_inverse=True)
    with mpmath.workdps(int(dps) + 10):
        factor = mpmath.mpf(sc.numerator) / (sc.denominator * den)
        vals = [act.mp(mpmath.mpf(int(k)) * factor) for k in keys]
    with mpmath.workdps(int(dps)):
        vals = [+v for v in vals]
    return vals, index.reshape(d.shape)


def _ball_activation(name: str, k: int, q):
    """The exact entry ``phi(k q)`` (``q`` an fmpq) as an arb ball at the current flint precision."""
    import flint
    z = flint.arb(flint.fmpq(k) * q)
    if name == "heaviside":
        return flint.arb(1 if k >= 0 else 0)
    if name == "relu":
        return z if k > 0 else flint.arb(0)
    if name == "relu2":
        return z * z if k > 0 else flint.arb(0)
    if name == "tanh":
        return z.tanh()
    if name == "gelu":
        return z * (1 + (z / flint.arb(2).sqrt()).erf()) / 2
    if name == "silu":
        return z / (1 + (-z).exp())
    if name == "sinc":
        return z.sinc_pi()
    if name == "gaussian":
        return (-flint.arb.pi() * z * z).exp()
    raise InputError("activation", name, "has no ball evaluation")


def jacobian_ball_values(activation: str, n: int, width: int, scale=None, prec: int = 200):
    """The distinct entries of :func:`jacobian_mp_values` (same order) as arb balls at ``prec``
    bits that contain the exact values ``phi(s(x_i - b_j))``.

    >>> import flint
    >>> vals = jacobian_ball_values("tanh", 3, 3, 1, prec=100)
    >>> vals[0].overlaps(flint.arb(-1).tanh()), len(vals)
    (True, 5)
    """
    import flint
    act = get_activation(activation)
    _check_sizes(n, width)
    sc = exact_scale(default_scale(activation, width) if scale is None else scale)
    d, den = jacobian_arguments(n, width)
    keys = np.unique(d)
    q = flint.fmpq(sc.numerator, sc.denominator * den)
    old = flint.ctx.prec
    flint.ctx.prec = int(prec)
    try:
        return [_ball_activation(act.name, int(k), q) for k in keys]
    finally:
        flint.ctx.prec = old


def jacobian_mpmath(activation: str, n: int, width: int, scale=None, dps: int = 30) -> mpmath.matrix:
    """The Jacobian as an ``mpmath.matrix`` (for reference computations on small sizes).

    >>> jacobian_mpmath("tanh", 2, 2, scale=1, dps=15)[1, 0]
    mpf('0.76159415595576485')
    """
    dps = bounded_int(dps, "dps", 1, MAX_DPS)
    vals, index = jacobian_mp_values(activation, n, width, scale, dps)
    with mpmath.workdps(int(dps)):
        return mpmath.matrix([[vals[k] for k in row] for row in index.tolist()])


def dst_basis(n: int, k: int) -> np.ndarray:
    r"""The first ``k`` DST-I vectors :math:`\sin(\pi q (i+1)/(n+1))`, unit norm, as columns.

    >>> B = dst_basis(8, 3); bool(np.allclose(B.T @ B, np.eye(3)))
    True
    """
    n = _size(n, "n", 1)
    k = _size(k, "k", 1, n)
    i = np.arange(1, n + 1)[:, None]
    q = np.arange(1, k + 1)[None, :]
    B = np.sin(np.pi * q * i / (n + 1))
    return B / np.linalg.norm(B, axis=0)
