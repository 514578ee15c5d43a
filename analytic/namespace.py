"""The array namespaces an update rule is written against.

An update rule (:mod:`analytic.transforms`) never calls NumPy or SymPy directly:
it calls the operations of a namespace ``ns``.  :data:`NUMPY` works on float
arrays of shape ``(n, d)`` (``n`` starts at once, each row one point);
:data:`SYMPY` works on exact column matrices ``(d, 1)``.  Products, quotients
and square roots are elementwise in both (``*`` between two SymPy matrices
would be a matrix product, hence :meth:`mul`).

>>> import numpy as np, sympy as sp
>>> NUMPY.mul(np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])).tolist()
[[3.0, 8.0]]
>>> SYMPY.mul(sp.Matrix([1, 2]), sp.Matrix([3, 4])).T
Matrix([[3, 8]])
>>> NUMPY.norm(np.array([[3.0, 4.0]])).tolist(), SYMPY.norm(sp.Matrix([3, 4]))
([[5.0]], 5)
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import sympy as sp

from .values import exact_value

__all__ = ["Namespace", "NUMPY", "SYMPY", "EXACT_ARRAYS"]


class Namespace(ABC):
    """Elementwise operations on the arrays of one domain (see the module docstring)."""

    name = "abstract"
    exact = False

    @abstractmethod
    def scalar(self, value):
        """A hyperparameter in this domain (a float for NumPy, as given for SymPy)."""
        ...

    @abstractmethod
    def mul(self, a, b):
        ...

    @abstractmethod
    def div(self, a, b):
        ...

    @abstractmethod
    def sqrt(self, a):
        ...

    def square(self, a):
        return self.mul(a, a)

    @abstractmethod
    def norm(self, a):
        """The Euclidean norm of each point (shape ``(n, 1)`` for NumPy, a scalar for SymPy)."""
        ...

    @abstractmethod
    def zeros_like(self, x):
        ...

    @abstractmethod
    def apply(self, func, a):
        """``func`` applied entrywise (``func`` takes and returns a scalar of this domain)."""
        ...

    def __repr__(self):
        return f"<namespace {self.name}>"


class _NumpyNamespace(Namespace):
    name = "numpy"

    def scalar(self, value):
        return float(value)

    def mul(self, a, b):
        return np.multiply(a, b)

    def div(self, a, b):
        return np.divide(a, b)

    def sqrt(self, a):
        return np.sqrt(a)

    def norm(self, a):
        return np.sqrt(np.sum(np.multiply(a, a), axis=-1, keepdims=True))

    def zeros_like(self, x):
        return np.zeros_like(x, dtype=float)

    def apply(self, func, a):
        return func(a)


def _elementwise(a, b, op):
    if isinstance(a, sp.MatrixBase) and isinstance(b, sp.MatrixBase):
        if a.shape != b.shape:
            raise ValueError(f"shapes {a.shape} and {b.shape} differ")
        return sp.Matrix(a.shape[0], a.shape[1], [op(p, q) for p, q in zip(a, b)])
    if isinstance(a, sp.MatrixBase):
        return a.applyfunc(lambda p: op(p, b))
    if isinstance(b, sp.MatrixBase):
        return b.applyfunc(lambda q: op(a, q))
    return op(a, b)


class _SympyNamespace(Namespace):
    name = "sympy"
    exact = True

    def scalar(self, value):
        return value if isinstance(value, sp.Basic) else exact_value(value, "hyperparameter")

    def mul(self, a, b):
        return _elementwise(a, b, lambda p, q: p * q)

    def div(self, a, b):
        return _elementwise(a, b, lambda p, q: p / q)

    def sqrt(self, a):
        return a.applyfunc(sp.sqrt) if isinstance(a, sp.MatrixBase) else sp.sqrt(a)

    def norm(self, a):
        return sp.sqrt(sum(e ** 2 for e in a)) if isinstance(a, sp.MatrixBase) else sp.Abs(a)

    def zeros_like(self, x):
        return sp.zeros(*x.shape) if isinstance(x, sp.MatrixBase) else sp.Integer(0)

    def apply(self, func, a):
        return a.applyfunc(func) if isinstance(a, sp.MatrixBase) else func(a)


class _ExactArrayNamespace(Namespace):
    """Exact values in NumPy object arrays of shape ``(1, d)``: the rows of :data:`NUMPY`
    with SymPy entries, so ``sqrt(s) + eps`` broadcasts a scalar as on floats."""

    name = "exact-arrays"
    exact = True

    def scalar(self, value):
        return value if isinstance(value, sp.Basic) else exact_value(value, "hyperparameter")

    def mul(self, a, b):
        return a * b

    def div(self, a, b):
        return a / b

    def sqrt(self, a):
        return _vectorized(sp.sqrt, a)

    def norm(self, a):
        if not isinstance(a, np.ndarray):
            return sp.Abs(a)
        return _vectorized(sp.sqrt, np.sum(a * a, axis=1, keepdims=True))

    def zeros_like(self, x):
        return np.full(np.shape(x), sp.Integer(0), dtype=object) if isinstance(x, np.ndarray) else sp.Integer(0)

    def apply(self, func, a):
        return _vectorized(func, a)


def _vectorized(func, a):
    if isinstance(a, np.ndarray):
        return np.frompyfunc(func, 1, 1)(a).astype(object)
    return func(a)


NUMPY = _NumpyNamespace()
SYMPY = _SympyNamespace()
#: exact entries in object arrays ``(1, d)`` (:mod:`analytic.slaving` runs steps on it)
EXACT_ARRAYS = _ExactArrayNamespace()
