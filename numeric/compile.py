"""The single place where SymPy becomes NumPy.

:func:`compile_expr` turns a SymPy expression (scalar, vector or matrix) into a
function of a point array ``X`` of shape ``(n, d)`` (or ``(d,)``), vectorized
over the ``n`` points.  Common subexpressions are removed before code
generation (``lambdify(..., cse=True)``), and every output is broadcast to the
full batch shape, so constant components come out as arrays too.

Exact numbers become float64 here and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import sympy as sp

from analytic.errors import InputError

__all__ = ["CompiledFunction", "compile_expr", "compile_loss", "compile_gradient"]


@dataclass(frozen=True)
class CompiledFunction:
    """A vectorized NumPy function of points ``X[..., d]``.

    ``shape`` is the shape of the value at one point: ``()`` for a scalar,
    ``(k,)`` for a vector, ``(k, l)`` for a matrix.
    """

    func: Callable
    variables: tuple
    shape: tuple
    source: str = ""

    def __call__(self, X):
        X = np.asarray(X, dtype=float)
        d = len(self.variables)
        if X.shape[-1:] != (d,):
            raise InputError("X", X.shape, f"last axis must have length {d} (variables {self.variables})")
        batch = X.shape[:-1]
        cols = [X[..., i] for i in range(d)]
        out = self.func(*cols)
        if self.shape == ():
            return np.array(np.broadcast_to(np.asarray(out, dtype=float), batch))
        flat = [np.broadcast_to(np.asarray(o, dtype=float), batch) for o in out]
        res = np.stack(flat, axis=-1)
        return res.reshape(batch + self.shape)


def compile_expr(expr, variables: Sequence[sp.Symbol], cse: bool = True) -> CompiledFunction:
    """Compile ``expr`` (scalar or Matrix) as a function of the ``variables``.

    >>> x, y = sp.symbols("x y")
    >>> f = compile_expr(sp.Matrix([x * y, 1]), (x, y))
    >>> f(np.array([[2.0, 3.0], [1.0, 1.0]]))
    array([[6., 1.],
           [1., 1.]])
    """
    variables = tuple(variables)
    if isinstance(expr, sp.MatrixBase):
        shape = (expr.shape[0],) if expr.shape[1] == 1 else tuple(expr.shape)
        items = list(expr)
    elif isinstance(expr, (list, tuple)):
        items = [sp.sympify(e) for e in expr]
        shape = (len(items),)
    else:
        items = None
        shape = ()
    target = items if items is not None else expr
    free = set().union(*[sp.sympify(e).free_symbols for e in (items or [expr])])
    extra = free - set(variables)
    if extra:
        raise InputError("expr", str(expr)[:80], f"has free symbols {sorted(map(str, extra))} without values")
    func = sp.lambdify(variables, target, modules="numpy", cse=cse)
    return CompiledFunction(func, variables, shape)


def compile_loss(loss, cse: bool = True) -> CompiledFunction:
    """The loss (parameter values substituted) as a NumPy function."""
    return compile_expr(loss.concrete, loss.variables, cse=cse)


def compile_gradient(loss, cse: bool = True) -> CompiledFunction:
    """The gradient of the loss as a NumPy function returning ``(..., d)``."""
    g = sp.Matrix([sp.diff(loss.concrete, v) for v in loss.variables])
    return compile_expr(g, loss.variables, cse=cse)
