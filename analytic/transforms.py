r"""Composable update transforms with explicit state, in the style of optax.

A transform is a frozen dataclass with

* ``init(x, ns) -> state`` -- a tuple of arrays shaped like ``x`` (or scalars);
* ``update(u, state, x, grad, ns) -> (u, state)`` -- maps the incoming update
  ``u`` (``None`` at the head of a chain: the gradient at ``x`` is read when
  needed) to the outgoing one, with ``grad(p)`` the gradient at any point ``p``;
* ``wrap(grad, ns) -> grad`` -- a change of the gradient oracle itself
  (weight decay), applied before any update;
* ``lines()`` -- the rule as assignments in the method language of
  :mod:`analytic.method` (``u`` is the running update, ``g(p)`` the gradient).

Every rule is written once against an array namespace (:mod:`analytic.namespace`),
so the same code runs on NumPy arrays of many starts and on exact SymPy matrices.
An optimizer (:mod:`analytic.optimizers`) is a :func:`chain` of transforms and
steps as :math:`x_{k+1} = x_k + u`.

>>> from analytic.namespace import NUMPY
>>> import numpy as np
>>> t = chain(velocity("1/10", "1/2"))
>>> state = t.init(np.array([[1.0]]), NUMPY)
>>> u, state = t.update(None, state, np.array([[1.0]]), lambda p: 2 * p, NUMPY)
>>> u.tolist(), [s.tolist() for s in state[0]]
([[-0.2]], [[[-0.2]]])
>>> print("; ".join(t.lines()))
u = g(x); v = beta*v - h*u; u = v

References: optax (DeepMind), ``chain``, ``trace``, ``scale_by_rms``, ``scale_by_adam``,
``add_decayed_weights``; Foret et al., "Sharpness-aware minimization", ICLR 2021.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError
from .values import exact_value

__all__ = ["Transform", "Chain", "chain", "scale", "velocity", "trace", "add_decayed_weights",
           "scale_by_rms", "scale_by_adam", "sam_gradient", "weight_decay", "ema"]


def _hyperparameter(name, value):
    if isinstance(value, bool):
        raise InputError(name, value, "must be a number or a symbol")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise InputError(name, value, "must be finite")
        return value
    return exact_value(value, name, symbol={"real": True})


def _gradient(u, x, grad):
    """The incoming update, or the gradient at ``x`` at the head of a chain."""
    return grad(x) if u is None else u


@dataclass(frozen=True)
class Transform:
    """Base class: stateless identity (see the module docstring for the protocol)."""

    #: names of the state entries, in the order of ``init``'s tuple
    state_names = ()
    #: True when the transform reads the gradient itself and must open a chain
    reads_gradient = False
    #: True when the transform reads the final update and must close a chain
    closes = False
    #: True when the transform only changes the gradient oracle (it may precede anything)
    wraps_only = False

    def __post_init__(self):
        # hyperparameters: numbers stay as given (numeric specs step with floats), text is
        # read by analytic.values (exact numbers or symbols), flags stay flags
        for name, f in self.__dataclass_fields__.items():
            value = getattr(self, name)
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise InputError(name, value, "must be True or False")
            elif f.type not in ("tuple", tuple):
                object.__setattr__(self, name, _hyperparameter(name, value))

    def init(self, x, ns):
        return ()

    def update(self, u, state, x, grad, ns):
        return u, state

    def wrap(self, grad, ns):
        return grad

    def lines(self) -> tuple:
        return ()

    def rewrite_line(self, line: str) -> str:
        """A line of the chain's rule as this transform's ``wrap`` changes it (unchanged by default)."""
        return line

    def hyperparameters(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Chain(Transform):
    """Transforms applied in order; the state is the tuple of their states."""

    transforms: tuple = ()

    def __post_init__(self):
        if not isinstance(self.transforms, (tuple, list)):
            raise InputError("transforms", self.transforms, "must be a sequence of transforms")
        ts = tuple(self.transforms)
        for i, t in enumerate(ts):
            if not isinstance(t, Transform):
                raise InputError("transforms", t, "must be transforms")
            if t.reads_gradient and any(not p.wraps_only for p in ts[:i]):
                raise InputError("transforms", type(t).__name__, "reads the gradient itself: it must come first")
            if t.closes and i < len(ts) - 1:
                raise InputError("transforms", type(t).__name__, "reads the final update: it must come last")
        object.__setattr__(self, "transforms", ts)

    @property
    def state_names(self):
        return tuple(n for t in self.transforms for n in t.state_names)

    def init(self, x, ns):
        return tuple(t.init(x, ns) for t in self.transforms)

    def update(self, u, state, x, grad, ns):
        new = []
        for t, s in zip(self.transforms, state):
            u, s = t.update(u, s, x, grad, ns)
            new.append(s)
        return _gradient(u, x, grad), tuple(new)

    def wrap(self, grad, ns):
        for t in reversed(self.transforms):
            grad = t.wrap(grad, ns)
        return grad

    def lines(self):
        body = [t for t in self.transforms if not t.wraps_only]
        out = [] if body and body[0].reads_gradient else ["u = g(x)"]
        for t in self.transforms:
            out += list(t.lines())
        for t in reversed(self.transforms):      # as wrap: every gradient read sees the wrapped g
            out = [t.rewrite_line(line) for line in out]
        return tuple(out)

    def hyperparameters(self):
        out = {}
        for t in self.transforms:
            out.update(t.hyperparameters())
        return out


def chain(*transforms) -> Chain:
    """Compose transforms: ``chain(a, b)`` applies ``a`` then ``b`` to the update."""
    return Chain(tuple(transforms))


@dataclass(frozen=True)
class scale(Transform):
    r""":math:`u \leftarrow c\,u` (``c = -h``: a gradient step)."""

    factor: object

    def update(self, u, state, x, grad, ns):
        return ns.scalar(self.factor) * _gradient(u, x, grad), state

    def lines(self):
        return (f"u = {_show(self.factor)}*u",)


@dataclass(frozen=True)
class velocity(Transform):
    r"""Polyak's velocity :math:`v \leftarrow \beta v - h\,u`, :math:`u \leftarrow v`.

    With ``lookahead`` the gradient is read at :math:`x + \beta v` (Nesterov):
    :math:`v \leftarrow \beta v - h\nabla E(x + \beta v)`.  Stepping
    :math:`x \leftarrow x + v` gives the two-step rule
    :math:`x_{k+1} = x_k + \beta(x_k - x_{k-1}) - h\nabla E(\cdot)` with
    :math:`v_0 = 0`, i.e. :math:`x_{-1} = x_0`.
    """

    h: object
    beta: object
    lookahead: bool = False
    state_names = ("v",)

    @property
    def reads_gradient(self):
        return self.lookahead

    def init(self, x, ns):
        return (ns.zeros_like(x),)

    def update(self, u, state, x, grad, ns):
        (v,) = state
        h, beta = ns.scalar(self.h), ns.scalar(self.beta)
        g = grad(x + beta * v) if self.lookahead else _gradient(u, x, grad)
        v = beta * v - h * g
        return v, (v,)

    def lines(self):
        g = "g(x + beta*v)" if self.lookahead else "u"
        return (f"v = beta*v - h*{g}", "u = v")

    def hyperparameters(self):
        return {"h": self.h, "beta": self.beta}


@dataclass(frozen=True)
class trace(Transform):
    r"""Momentum in gradient space (optax's ``trace``): :math:`m \leftarrow \beta m + u`, :math:`u \leftarrow m`."""

    beta: object
    state_names = ("m",)

    def init(self, x, ns):
        return (ns.zeros_like(x),)

    def update(self, u, state, x, grad, ns):
        (m,) = state
        m = ns.scalar(self.beta) * m + _gradient(u, x, grad)
        return m, (m,)

    def lines(self):
        return ("m = beta*m + u", "u = m")


@dataclass(frozen=True)
class add_decayed_weights(Transform):
    r"""Decoupled weight decay on the update: :math:`u \leftarrow u + \lambda x`."""

    weight_decay: object

    def update(self, u, state, x, grad, ns):
        return _gradient(u, x, grad) + ns.scalar(self.weight_decay) * x, state

    def lines(self):
        return ("u = u + weight_decay*x",)


@dataclass(frozen=True)
class scale_by_rms(Transform):
    r"""RMSProp's scaling: :math:`s \leftarrow r s + (1-r) u^2`, :math:`u \leftarrow u/(\sqrt s + \epsilon)` (elementwise)."""

    decay: object
    eps: object
    state_names = ("s",)

    def init(self, x, ns):
        return (ns.zeros_like(x),)

    def update(self, u, state, x, grad, ns):
        (s,) = state
        u = _gradient(u, x, grad)
        r, eps = ns.scalar(self.decay), ns.scalar(self.eps)
        s = r * s + (1 - r) * ns.square(u)
        return ns.div(u, ns.sqrt(s) + eps), (s,)

    def lines(self):
        return ("s = rho*s + (1 - rho)*u**2", "u = u/(sqrt(s) + eps)")

    def hyperparameters(self):
        return {"rho": self.decay, "eps": self.eps}


@dataclass(frozen=True)
class scale_by_adam(Transform):
    r"""Adam's scaling (Kingma & Ba 2015):

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) u,\quad s \leftarrow \beta_2 s + (1-\beta_2) u^2,\quad
        u \leftarrow \frac{m/(1-\beta_1^k)}{\sqrt{s/(1-\beta_2^k)} + \epsilon}

    at step :math:`k = 1, 2, \dots` (without ``bias_correction`` the two denominators are 1).
    """

    b1: object
    b2: object
    eps: object
    bias_correction: bool = True

    @property
    def state_names(self):
        return ("m", "s", "k") if self.bias_correction else ("m", "s")

    def init(self, x, ns):
        zeros = (ns.zeros_like(x), ns.zeros_like(x))
        return zeros + ((0,) if self.bias_correction else ())

    def update(self, u, state, x, grad, ns):
        u = _gradient(u, x, grad)
        b1, b2, eps = ns.scalar(self.b1), ns.scalar(self.b2), ns.scalar(self.eps)
        m, s = state[0], state[1]
        m = b1 * m + (1 - b1) * u
        s = b2 * s + (1 - b2) * ns.square(u)
        if not self.bias_correction:
            return ns.div(m, ns.sqrt(s) + eps), (m, s)
        k = state[2] + 1
        mhat, shat = m / (1 - b1 ** k), s / (1 - b2 ** k)
        return ns.div(mhat, ns.sqrt(shat) + eps), (m, s, k)

    def lines(self):
        if not self.bias_correction:
            return ("m = b1*m + (1 - b1)*u", "s = b2*s + (1 - b2)*u**2", "u = m/(sqrt(s) + eps)")
        return ("k = k + 1", "m = b1*m + (1 - b1)*u", "s = b2*s + (1 - b2)*u**2",
                "u = (m/(1 - b1**k))/(sqrt(s/(1 - b2**k)) + eps)")


@dataclass(frozen=True)
class sam_gradient(Transform):
    r"""Sharpness-aware gradient (Foret et al. 2021): :math:`u = \nabla E(x + \rho\,\nabla E(x))`,
    or :math:`\nabla E(x + \rho\,\nabla E(x)/\|\nabla E(x)\|)` when ``normalized``."""

    rho: object
    normalized: bool = False
    reads_gradient = True

    def update(self, u, state, x, grad, ns):
        g = grad(x)
        rho = ns.scalar(self.rho)
        if self.normalized:
            return grad(x + rho * ns.div(g, ns.norm(g))), state
        return grad(x + rho * g), state

    def lines(self):
        return ("u = g(x + rho*(g(x)/norm(g(x))))" if self.normalized else "u = g(x + rho*g(x))",)

    def hyperparameters(self):
        return {"rho": self.rho}


@dataclass(frozen=True)
class weight_decay(Transform):
    r"""L2 weight decay as a change of the gradient: :math:`\nabla E(p) + \lambda p` wherever the
    rule reads a gradient (it composes with any optimizer, SAM and Nesterov included)."""

    weight_decay: object
    wraps_only = True

    def wrap(self, grad, ns):
        lam = ns.scalar(self.weight_decay)
        return lambda p: grad(p) + lam * p

    def lines(self):
        return ()          # a change of g itself: rewrite_line writes it into every gradient read

    def rewrite_line(self, line: str) -> str:
        """``u = g(p)`` -> ``u = g(p) + weight_decay*p`` at every gradient read of a line."""
        target, rhs = line.split(" = ", 1)
        new = _map_gradient_calls(rhs, lambda arg: f"(g({arg}) + weight_decay*{_show(arg)})")
        if new.startswith("(") and new != rhs and _map_gradient_calls(rhs, lambda a: "#") == "#":
            new = new[1:-1]                     # the whole right-hand side was one read
        return f"{target} = {new}"


@dataclass(frozen=True)
class ema(Transform):
    r"""Exponential moving average of the iterates: :math:`\bar x \leftarrow \delta\bar x + (1-\delta)(x + u)`,
    :math:`\bar x_0 = x_0`; the step itself is unchanged."""

    decay: object
    state_names = ("xbar",)
    closes = True

    def init(self, x, ns):
        return (x * 1,)

    def update(self, u, state, x, grad, ns):
        u = _gradient(u, x, grad)
        d = ns.scalar(self.decay)
        return u, (d * state[0] + (1 - d) * (x + u),)

    def lines(self):
        return ("xbar = decay*xbar + (1 - decay)*(x + u)",)


def _map_gradient_calls(text: str, f) -> str:
    """``text`` with every call ``g(arg)`` replaced by ``f(arg)`` (innermost first)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("g(", i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            depth, j = 0, i + 1
            while True:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            out.append(f(_map_gradient_calls(text[i + 2:j], f)))
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _show(value) -> str:
    s = str(value)
    return s if s.replace("_", "").isalnum() else f"({s})"
