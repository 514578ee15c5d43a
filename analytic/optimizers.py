r"""Optimizer specifications, written once and read by both layers.

A spec is a frozen dataclass holding exact hyperparameters (numbers or SymPy
symbols); its :attr:`~Optimizer.transform` is a :func:`~analytic.transforms.chain`
of transforms with explicit state.  ``init(x, ns)`` and
``step(state, x, grad, ns) -> (state, x)`` run that chain against an array
namespace (:mod:`analytic.namespace`): NumPy arrays in ``numeric``, exact SymPy
matrices in ``analytic`` (stability, modified equations), so no update rule is
written twice.  A stochastic spec also carries its :attr:`~Optimizer.sampling`
(mini-batches, label noise), which the numeric driver reads.

The momentum methods share Polyak's velocity :math:`v \leftarrow \beta v - h\nabla E(\cdot)`,
:math:`x \leftarrow x + v`, i.e. the two-step rule

.. math::
    x_{k+1} = x_k + \beta (x_k - x_{k-1}) - h\, \nabla E\big(x_k + \gamma (x_k - x_{k-1})\big),

with :math:`\gamma = 0` for heavy ball (Polyak 1964) and :math:`\gamma = \beta`
for Nesterov (1983); :class:`GD` is :math:`\beta = \gamma = 0`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import sympy as sp

from . import transforms as tx
from .errors import InputError
from .namespace import NUMPY
from .values import exact_value

__all__ = ["Optimizer", "GD", "HeavyBall", "Nesterov", "SGD", "SGDMomentum", "LabelNoise", "RMSProp",
           "Adam", "AdamW", "SAM", "WeightDecay", "EMA", "Batches", "LabelNoiseSampling",
           "make_optimizer", "OPTIMIZERS", "with_step", "with_hyperparameters"]


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
class Batches:
    """Mini-batch sampling: ``batches`` batches per epoch (each of ``n / batches`` samples),
    drawn ``without`` replacement (a seeded permutation per epoch) or ``with`` replacement."""

    batches: int = 1
    replacement: bool = False

    def __post_init__(self):
        if not isinstance(self.batches, int) or isinstance(self.batches, bool) or not 1 <= self.batches <= 10 ** 6:
            raise InputError("batches", self.batches, "must be a positive integer")
        if not isinstance(self.replacement, bool):
            raise InputError("replacement", self.replacement, "must be True or False")


@dataclass(frozen=True)
class LabelNoiseSampling:
    """Fresh Gaussian label noise of standard deviation ``sigma`` at every step."""

    sigma: object = 0


@dataclass(frozen=True)
class Optimizer:
    """Base class: a step size ``h`` (number or SymPy symbol) and a transform chain."""

    h: object

    def __post_init__(self):
        object.__setattr__(self, "h", _real("h", self.h, positive=True))

    #: number of previous iterates the two-step form reads (1 for one-step methods)
    steps_back = 1
    beta = 0
    gamma = 0
    #: how the gradient is sampled at each step (``None``: the full gradient)
    sampling = None

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def transform(self) -> tx.Chain:
        """The update as a chain of transforms (:mod:`analytic.transforms`)."""
        return tx.chain(tx.scale(-self.h))

    def init(self, x, ns=NUMPY):
        """The optimizer state at the start ``x`` (a tuple, one entry per transform)."""
        return self.transform.init(x, ns)

    def step(self, state, x, grad, ns=NUMPY):
        r"""One step: ``(state, x) -> (state', x + u)`` with ``u`` from the transform chain."""
        t = self.transform
        u, state = t.update(None, state, x, t.wrap(grad, ns), ns)
        return state, x + u

    @property
    def state_names(self) -> tuple:
        return self.transform.state_names

    def hyperparameters(self) -> dict:
        """The spec's hyperparameters by name (exact numbers or symbols)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def lines(self) -> tuple:
        """The rule as assignments in the method language (``u`` the update, ``g(p)`` the gradient)."""
        return self.transform.lines() + ("x = x + u",)

    def time_scale(self):
        r"""The factor :math:`1/(1-\beta)` by which momentum speeds up the flow."""
        return 1 / (1 - self.beta) if self.beta != 0 else sp.Integer(1)

    def update(self, x, x_prev, grad, ns=NUMPY):
        """The two-step form ``x_next(x, x_prev)`` of a one- or two-step method (velocity ``x - x_prev``)."""
        state = self.init(x, ns)
        if self.steps_back == 2:
            state = ((x - x_prev,),) + tuple(state[1:])
        return self.step(state, x, grad, ns)[1]


def _unit(argument, value, *, open_low=False):
    """A hyperparameter in [0, 1) ((0, 1) with ``open_low``) or a symbol."""
    v = _real(argument, value)
    if not isinstance(v, sp.Basic) or v.is_number:
        lo_ok = float(v) > 0 if open_low else float(v) >= 0
        if not (lo_ok and float(v) < 1):
            raise InputError(argument, value, f"must lie in {'(0' if open_low else '[0'}, 1)")
    return v


def _flag(argument, value):
    if not isinstance(value, bool):
        raise InputError(argument, value, "must be True or False")
    return value


@dataclass(frozen=True)
class GD(Optimizer):
    r"""Gradient descent :math:`x_{k+1} = x_k - h\nabla E(x_k)`: ``chain(scale(-h))``.

    >>> GD(0.1).update(1.0, None, lambda x: 2 * x)
    0.8
    >>> print("; ".join(GD("h").lines()))
    u = g(x); u = (-h)*u; x = x + u

    Reference: Cauchy (1847).
    """


@dataclass(frozen=True)
class HeavyBall(Optimizer):
    r"""Polyak heavy-ball momentum :math:`x_{k+1} = x_k - h\nabla E(x_k) + \beta (x_k - x_{k-1})`:
    ``chain(velocity(h, beta))``, :math:`v \leftarrow \beta v - h\nabla E(x)`, :math:`x \leftarrow x + v`.

    >>> HeavyBall(0.1, 0.5).update(1.0, 0.5, lambda x: 2 * x)
    1.05
    >>> HeavyBall(0.1, 1)
    Traceback (most recent call last):
    ...
    analytic.errors.InputError: argument 'beta' = 1: momentum must satisfy -1 < beta < 1

    Reference: B. T. Polyak, "Some methods of speeding up the convergence of iteration
    methods", USSR Comput. Math. Math. Phys. 4 (1964).
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

    @property
    def transform(self):
        return tx.chain(tx.velocity(self.h, self.beta))


@dataclass(frozen=True)
class Nesterov(HeavyBall):
    r"""Nesterov momentum: the gradient is read at :math:`x_k + \beta (x_k - x_{k-1})`:
    ``chain(velocity(h, beta, lookahead=True))``.

    >>> Nesterov(0.1, 0.5).update(1.0, 0.5, lambda x: 2 * x)
    1.0

    Reference: Y. Nesterov, "A method of solving a convex programming problem with convergence
    rate O(1/k^2)", Soviet Math. Dokl. 27 (1983).
    """

    @property
    def gamma(self):
        return self.beta

    @property
    def transform(self):
        return tx.chain(tx.velocity(self.h, self.beta, lookahead=True))


@dataclass(frozen=True)
class SGD(Optimizer):
    """Mini-batch SGD: GD on one batch's loss per step, ``batches`` batches per epoch, drawn
    without replacement (or ``replacement=True``) from seeded orderings.

    >>> SGD("1/10", 4).sampling
    Batches(batches=4, replacement=False)

    Reference: H. Robbins, S. Monro, "A stochastic approximation method", Ann. Math. Stat. 22 (1951).
    """

    batches: int = 1
    replacement: bool = False

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.batches, int) or isinstance(self.batches, bool) or self.batches < 1:
            raise InputError("batches", self.batches, "must be a positive integer")
        _flag("replacement", self.replacement)

    @property
    def sampling(self):
        return Batches(self.batches, self.replacement)


@dataclass(frozen=True)
class SGDMomentum(SGD):
    r"""SGD with heavy-ball momentum on each batch: ``chain(velocity(h, beta))`` with mini-batch gradients.

    >>> SGDMomentum("1/10", 2, beta="9/10").lines()[1]
    'v = beta*v - h*u'
    """

    beta: object = 0

    def __post_init__(self):
        super().__post_init__()
        beta = _real("beta", self.beta)
        if (not isinstance(beta, sp.Basic) or beta.is_number) and not -1 < float(beta) < 1:
            raise InputError("beta", self.beta, "momentum must satisfy -1 < beta < 1")
        _distinct_from_step(self, "beta", beta)
        object.__setattr__(self, "beta", beta)

    steps_back = 2

    @property
    def transform(self):
        return tx.chain(tx.velocity(self.h, self.beta))


@dataclass(frozen=True)
class LabelNoise(Optimizer):
    """GD on a squared loss whose labels get fresh Gaussian noise of std ``sigma`` each step.

    >>> LabelNoise("1/10", "1/5").sampling
    LabelNoiseSampling(sigma=1/5)

    Reference: G. Blanc, N. Gupta, G. Valiant, P. Valiant, "Implicit regularization for deep
    neural networks driven by an Ornstein-Uhlenbeck like process", COLT 2020.
    """

    sigma: object = 0

    def __post_init__(self):
        super().__post_init__()
        s = _real("sigma", self.sigma, assumptions={"positive": True})
        _distinct_from_step(self, "sigma", s)
        object.__setattr__(self, "sigma", s)
        if not isinstance(s, sp.Basic) or s.is_number:
            if float(s) < 0:
                raise InputError("sigma", self.sigma, "must be nonnegative")

    @property
    def sampling(self):
        return LabelNoiseSampling(self.sigma)


@dataclass(frozen=True)
class RMSProp(Optimizer):
    r"""RMSProp: :math:`s \leftarrow \rho s + (1-\rho)\nabla E^2`,
    :math:`x \leftarrow x - h\nabla E/(\sqrt s + \epsilon)` (elementwise):
    ``chain(scale_by_rms(rho, eps), scale(-h))``.

    >>> RMSProp("1/10").rho, RMSProp("1/10").eps
    (9/10, 1/100000000)

    Reference: T. Tieleman, G. Hinton, Lecture 6.5 of "Neural networks for machine learning" (2012).
    """

    rho: object = sp.Rational(9, 10)
    eps: object = sp.Rational(1, 10 ** 8)

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "rho", _unit("rho", self.rho))
        object.__setattr__(self, "eps", _real("eps", self.eps, positive=True))
        for name in ("rho", "eps"):
            _distinct_from_step(self, name, getattr(self, name))

    @property
    def transform(self):
        return tx.chain(tx.scale_by_rms(self.rho, self.eps), tx.scale(-self.h))


@dataclass(frozen=True)
class Adam(Optimizer):
    r"""Adam: :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`, :math:`s \leftarrow \beta_2 s + (1-\beta_2) g^2`,
    :math:`x \leftarrow x - h\,\hat m/(\sqrt{\hat s} + \epsilon)` with the bias corrections
    :math:`\hat m = m/(1-\beta_1^k)`, :math:`\hat s = s/(1-\beta_2^k)` (or without them):
    ``chain(scale_by_adam(b1, b2, eps, bias_correction), scale(-h))``.

    >>> import numpy as np
    >>> opt = Adam(0.1)
    >>> state, x = opt.step(opt.init(np.array([[1.0]])), np.array([[1.0]]), lambda p: 2 * p)
    >>> round(float(x[0, 0]), 12)          # the first step: 1 - h g/(|g| + eps), g = 2
    0.9000000005

    Reference: D. P. Kingma, J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.
    """

    b1: object = sp.Rational(9, 10)
    b2: object = sp.Rational(999, 1000)
    eps: object = sp.Rational(1, 10 ** 8)
    bias_correction: bool = True

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "b1", _unit("b1", self.b1))
        object.__setattr__(self, "b2", _unit("b2", self.b2))
        object.__setattr__(self, "eps", _real("eps", self.eps, positive=True))
        _flag("bias_correction", self.bias_correction)
        for name in ("b1", "b2", "eps"):
            _distinct_from_step(self, name, getattr(self, name))

    @property
    def transform(self):
        return tx.chain(tx.scale_by_adam(self.b1, self.b2, self.eps, self.bias_correction), tx.scale(-self.h))


@dataclass(frozen=True)
class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, :math:`x \leftarrow x - h(\hat m/(\sqrt{\hat s}+\epsilon) + \lambda x)`:
    ``chain(scale_by_adam(...), add_decayed_weights(weight_decay), scale(-h))``.

    >>> AdamW("1/10", weight_decay="1/100").lines()[-3]
    'u = u + weight_decay*x'

    Reference: I. Loshchilov, F. Hutter, "Decoupled weight decay regularization", ICLR 2019.
    """

    weight_decay: object = sp.Rational(1, 100)

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "weight_decay", _real("weight_decay", self.weight_decay))
        _distinct_from_step(self, "weight_decay", self.weight_decay)

    @property
    def transform(self):
        return tx.chain(tx.scale_by_adam(self.b1, self.b2, self.eps, self.bias_correction),
                        tx.add_decayed_weights(self.weight_decay), tx.scale(-self.h))


@dataclass(frozen=True)
class SAM(Optimizer):
    r"""Sharpness-aware minimization: :math:`x \leftarrow x - h\nabla E(x + \rho\nabla E(x))`, or with
    :math:`\rho\nabla E/\|\nabla E\|` when ``normalized``: ``chain(sam_gradient(rho, normalized), scale(-h))``.

    >>> SAM("1/10", "1/20").update(1.0, None, lambda x: 2 * x)     # 1 - 0.1 * 2 * (1 + 0.05 * 2)
    0.78

    Reference: P. Foret, A. Kleiner, H. Mobahi, B. Neyshabur, "Sharpness-aware minimization for
    efficiently improving generalization", ICLR 2021.
    """

    rho: object = sp.Rational(1, 20)
    normalized: bool = False

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "rho", _real("rho", self.rho, positive=True))
        _flag("normalized", self.normalized)
        _distinct_from_step(self, "rho", self.rho)

    @property
    def transform(self):
        return tx.chain(tx.sam_gradient(self.rho, self.normalized), tx.scale(-self.h))


def _wrapped(argument, base):
    if not isinstance(base, Optimizer):
        raise InputError(argument, base, "must be an optimizer spec")
    return base


@dataclass(frozen=True)
class WeightDecay(Optimizer):
    r"""Any optimizer on :math:`E(x) + \tfrac\lambda2\|x\|^2`: every gradient it reads becomes
    :math:`\nabla E(p) + \lambda p` (``chain(weight_decay(lam), *base)``).

    >>> WeightDecay("1/10", GD("1/10"), "1/2").update(1.0, None, lambda x: 2 * x)   # 1 - 0.1 (2 + 0.5)
    0.75
    """

    base: object = None
    weight_decay: object = sp.Rational(1, 100)

    def __post_init__(self):
        _wrapped("base", self.base)
        object.__setattr__(self, "h", self.base.h)
        object.__setattr__(self, "weight_decay", _real("weight_decay", self.weight_decay))
        _distinct_from_step(self, "weight_decay", self.weight_decay)

    @property
    def steps_back(self):
        return self.base.steps_back

    @property
    def sampling(self):
        return self.base.sampling

    @property
    def transform(self):
        return tx.chain(tx.weight_decay(self.weight_decay), *self.base.transform.transforms)

    #: how the rule's gradient differs from the loss's (the lines are the base's)
    note = "every g(p) reads grad E(p) + weight_decay*p"


@dataclass(frozen=True)
class EMA(Optimizer):
    r"""Any optimizer with an exponential moving average of its iterates,
    :math:`\bar x \leftarrow \delta\bar x + (1-\delta) x_{k+1}` (the iterates themselves are unchanged).

    >>> EMA("1/10", GD("1/10"), "1/2").state_names
    ('xbar',)
    """

    base: object = None
    decay: object = sp.Rational(9, 10)

    def __post_init__(self):
        _wrapped("base", self.base)
        object.__setattr__(self, "h", self.base.h)
        object.__setattr__(self, "decay", _unit("decay", self.decay))

    @property
    def steps_back(self):
        return self.base.steps_back

    @property
    def sampling(self):
        return self.base.sampling

    @property
    def transform(self):
        return tx.chain(*self.base.transform.transforms, tx.ema(self.decay))


def with_step(spec: Optimizer, h) -> Optimizer:
    """The same spec with step size ``h`` (a wrapped spec's base too): the numeric copy of a
    spec derived with a symbolic ``h``.

    >>> with_step(WeightDecay("h", GD("h"), "1/2"), "1/10").base.h
    1/10
    """
    if not isinstance(spec, Optimizer):
        raise InputError("spec", spec, "must be an optimizer spec")
    changes = {"h": h}
    if isinstance(getattr(spec, "base", None), Optimizer):
        changes["base"] = with_step(spec.base, h)
    return replace(spec, **changes)


def with_hyperparameters(spec: Optimizer, values: dict) -> Optimizer:
    """The same spec with the hyperparameters ``values`` (name -> exact value) replaced.

    >>> with_hyperparameters(SAM("h", "rho"), {"rho": "1/20"}).rho
    1/20
    """
    if not isinstance(spec, Optimizer):
        raise InputError("spec", spec, "must be an optimizer spec")
    fields, changes = getattr(spec, "__dataclass_fields__", {}), {}
    typed = dict(getattr(spec, "values", ()) or ()) if isinstance(getattr(spec, "values", None), tuple) else None
    for name, value in values.items():
        if name in fields and name not in ("values", "base"):
            changes[name] = value
        elif typed is not None and name in typed:
            typed[name] = value
        elif isinstance(getattr(spec, "base", None), Optimizer) and name in spec.base.hyperparameters():
            changes["base"] = with_hyperparameters(changes.get("base", spec.base), {name: value})
        else:
            raise InputError("values", name, f"is not a hyperparameter of {spec.name}")
    if typed is not None:
        changes["values"] = tuple(typed.items())
    return replace(spec, **changes)


#: the built-in optimizers by command-line name: (class, hyperparameters it reads)
OPTIMIZERS = {
    "gd": (GD, ()),
    "heavy-ball": (HeavyBall, ("beta",)),
    "nesterov": (Nesterov, ("beta",)),
    "sgd": (SGD, ("batches",)),
    "sgd-momentum": (SGDMomentum, ("batches", "beta")),
    "label-noise": (LabelNoise, ("sigma",)),
    "weight-decay": (WeightDecay, ("weight_decay",)),
    "rmsprop": (RMSProp, ("rho", "eps")),
    "adam": (Adam, ("b1", "b2", "eps")),
    "adam-no-bias-correction": (Adam, ("b1", "b2", "eps")),
    "adamw": (AdamW, ("b1", "b2", "eps", "weight_decay")),
    "sam": (SAM, ("rho",)),
    "sam-normalized": (SAM, ("rho",)),
    "ema": (EMA, ("decay",)),
}

_SYMBOLS = {"beta": {"real": True}, "sigma": {"positive": True}}


def make_optimizer(name: str, h, beta=None, batches=None, sigma=None, **hyper) -> Optimizer:
    """Build a spec from its command-line name (see :data:`OPTIMIZERS`).

    Unset momentum and noise levels become the symbols ``beta`` and ``sigma``; other
    hyperparameters take their defaults.  ``weight-decay`` and ``ema`` wrap GD.

    >>> make_optimizer("heavy-ball", "h", beta="1/2")
    HeavyBall(h=h, beta=1/2)
    >>> make_optimizer("adam", "1/10").lines()[-1]
    'x = x + u'
    """
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise InputError("--optimizer", name, f"must be one of {', '.join(OPTIMIZERS)}")
    cls, reads = OPTIMIZERS[name]
    given = dict(hyper, beta=beta, batches=batches, sigma=sigma)
    unused = sorted(k for k, v in given.items() if v is not None and k not in reads)
    if unused:
        raise InputError(unused[0], given[unused[0]], f"is not a hyperparameter of {name}")
    kwargs = {}
    for k in reads:
        v = given.get(k)
        if v is None and k in _SYMBOLS:
            v = sp.Symbol(k, **_SYMBOLS[k])
        if v is None and k == "batches":
            v = 2
        if v is not None:
            kwargs[k] = v
    if name == "adam-no-bias-correction":
        kwargs["bias_correction"] = False
    if name == "sam-normalized":
        kwargs["normalized"] = True
    if cls in (WeightDecay, EMA):
        return cls(h, GD(h), **kwargs)
    return cls(h, **kwargs)
