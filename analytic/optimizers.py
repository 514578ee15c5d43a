r"""Optimizer specifications, written once and read by both layers.

A spec is a frozen dataclass describing an update rule.  Its :meth:`update`
method is written against an abstract array namespace: it works on NumPy
arrays (``numeric.simulate`` runs it) and on SymPy matrices (``analytic``
expands it in Taylor series), so no update rule is written twice.

All momentum methods share one two-step rule

.. math::
    x_{k+1} = x_k + \beta (x_k - x_{k-1}) - h\, \nabla E\big(x_k + \gamma (x_k - x_{k-1})\big),

with :math:`\gamma = 0` for heavy ball (Polyak 1964) and :math:`\gamma = \beta`
for Nesterov (1983); :class:`GD` is :math:`\beta = \gamma = 0`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from .errors import InputError
from .values import exact_value

__all__ = ["Optimizer", "GD", "HeavyBall", "Nesterov", "SGD", "LabelNoise", "make_optimizer"]


def _real(argument, value, positive=False, allow_symbol=True, assumptions=None):
    """A hyperparameter as an exact number or a symbol; text is read by :mod:`analytic.values`.

    Python ints and floats are kept as they are (the numeric layer steps with
    them); text and SymPy values become exact numbers or symbols.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InputError(argument, value, "must be finite")
        if positive and value <= 0:
            raise InputError(argument, value, "must be positive")
        return value
    value = exact_value(value, argument,
                        symbol=(assumptions or ({"positive": True} if positive else {"real": True}))
                        if allow_symbol else None)
    if value.is_number:
        v = float(value)
        if positive and v <= 0:
            raise InputError(argument, value, "must be positive")
    return value


def _distinct_from_step(spec, argument, value):
    """A hyperparameter symbol must not be the step size's symbol (``beta = h`` is a typo, not a method)."""
    h = spec.h
    if isinstance(value, sp.Symbol) and isinstance(h, sp.Basic) and value.name in {s.name for s in h.free_symbols}:
        raise InputError(argument, value, f"is the name of the step size h = {h}; give it a name of its own")


@dataclass(frozen=True)
class Optimizer:
    """Base class: a step size ``h`` (number or SymPy symbol)."""

    h: object

    def __post_init__(self):
        object.__setattr__(self, "h", _real("h", self.h, positive=True))

    #: number of previous iterates the rule reads (1 for one-step methods)
    steps_back = 1
    beta = 0
    gamma = 0

    @property
    def name(self) -> str:
        return type(self).__name__

    def time_scale(self):
        r"""The factor :math:`1/(1-\beta)` by which momentum speeds up the flow."""
        return 1 / (1 - self.beta) if self.beta != 0 else sp.Integer(1)

    def update(self, x, x_prev, grad):
        """One step: ``x_next`` from ``x``, ``x_prev`` and a gradient callable."""
        if self.beta == 0 and self.gamma == 0:
            return x - self.h * grad(x)
        v = x - x_prev
        return x + self.beta * v - self.h * grad(x + self.gamma * v)


@dataclass(frozen=True)
class GD(Optimizer):
    r"""Gradient descent :math:`x_{k+1} = x_k - h\nabla E(x_k)`.

    >>> GD(0.1).update(1.0, None, lambda x: 2 * x)
    0.8
    """


@dataclass(frozen=True)
class HeavyBall(Optimizer):
    r"""Polyak heavy-ball momentum :math:`x_{k+1} = x_k - h\nabla E(x_k) + \beta (x_k - x_{k-1})`.

    >>> HeavyBall(0.1, 0.5).update(1.0, 0.5, lambda x: 2 * x)
    1.05
    >>> HeavyBall(0.1, 1)
    Traceback (most recent call last):
    ...
    analytic.errors.InputError: argument 'beta' = 1: momentum must satisfy -1 < beta < 1
    """

    beta: object = 0

    def __post_init__(self):
        super().__post_init__()
        beta = _real("beta", self.beta)
        if not isinstance(beta, sp.Basic) or beta.is_number:
            if not -1 < float(beta) < 1:
                # |beta| < 1 is necessary for stability at any step size (Schur-Cohn on
                # z^2 - (1 + beta - h*lambda) z + beta); negative beta is allowed
                raise InputError("beta", self.beta, "momentum must satisfy -1 < beta < 1")
        _distinct_from_step(self, "beta", beta)
        object.__setattr__(self, "beta", beta)

    steps_back = 2


@dataclass(frozen=True)
class Nesterov(HeavyBall):
    r"""Nesterov momentum: the gradient is read at :math:`x_k + \beta (x_k - x_{k-1})`.

    >>> Nesterov(0.1, 0.5).update(1.0, 0.5, lambda x: 2 * x)
    1.0
    """

    @property
    def gamma(self):
        return self.beta


@dataclass(frozen=True)
class SGD(Optimizer):
    """Mini-batch SGD: ``batches`` mini-batches per epoch, sampled without replacement.

    The update is GD on the current batch's loss; which batch is used is the
    simulator's business (seeded orderings).
    """

    batches: int = 1

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.batches, int) or isinstance(self.batches, bool) or self.batches < 1:
            raise InputError("batches", self.batches, "must be a positive integer")


@dataclass(frozen=True)
class LabelNoise(Optimizer):
    """GD on a squared loss whose labels get fresh Gaussian noise of std ``sigma`` each step."""

    sigma: object = 0

    def __post_init__(self):
        super().__post_init__()
        s = _real("sigma", self.sigma, assumptions={"positive": True})
        _distinct_from_step(self, "sigma", s)
        object.__setattr__(self, "sigma", s)
        if not isinstance(s, sp.Basic) or s.is_number:
            if float(s) < 0:
                raise InputError("sigma", self.sigma, "must be nonnegative")


def make_optimizer(name: str, h, beta=None, batches=None, sigma=None) -> Optimizer:
    """Build a spec from its command-line name.

    >>> make_optimizer("heavy-ball", "h", beta="1/2")
    HeavyBall(h=h, beta=1/2)
    """
    if name == "gd":
        return GD(h)
    if name in ("heavy-ball", "nesterov"):
        beta = sp.Symbol("beta", real=True) if beta is None else beta
        return (HeavyBall if name == "heavy-ball" else Nesterov)(h, beta)
    if name == "sgd":
        return SGD(h, 2 if batches is None else batches)
    if name == "label-noise":
        sigma = sp.Symbol("sigma", positive=True) if sigma is None else sigma
        return LabelNoise(h, sigma)
    raise InputError("--optimizer", name, "must be one of gd, heavy-ball, nesterov, sgd, label-noise")
