"""Built-in models, each with the default parameters of its source.

============  ===========================================  ==========================================
name          loss                                         source
============  ===========================================  ==========================================
sigmoid2d     1/2 (y - w1 sigmoid(w2 x))^2, x=1, y=3/5     Ghosh et al. ICLR 2023, App. 8 (seed 000)
linear2d      1/2 (y - w1 w2 x)^2, x=1, y=3/5              Ghosh et al. ICLR 2023, Sec. 4.1
quadratic     1/2 w^T A w                                  —
escape        (f1 + f2)/2, f1 = min(x^2, 0.1 (x-1)^2),     Wu, Ma & E, NeurIPS 2018 (seed 002)
              f2 = min(x^2, 1.9 (x-1)^2)
least_squares 1/(2n) ||X w - y||^2                         —
============  ===========================================  ==========================================
"""
from __future__ import annotations

from typing import Callable

import sympy as sp

from .errors import InputError
from .values import exact_matrix
from .loss import Loss, parse_loss, symbol

__all__ = ["sigmoid2d", "linear2d", "quadratic", "escape", "least_squares", "MODELS", "get_model"]


def sigmoid2d(x=1, y="3/5") -> Loss:
    r"""E(w1, w2) = 1/2 (y - w1 sigma(w2 x))^2 (Ghosh et al. 2023, App. 8).

    >>> sigmoid2d().concrete
    (-w1/(1 + exp(-w2)) + 3/5)**2/2
    """
    return parse_loss("1/2*(y - w1*sigmoid(w2*x))**2", "w1,w2", {"x": x, "y": y}, name="sigmoid2d")


def linear2d(x=1, y="3/5") -> Loss:
    r"""E(w1, w2) = 1/2 (y - w1 w2 x)^2 (Ghosh et al. 2023, Sec. 4.1).

    >>> linear2d().concrete
    (-w1*w2 + 3/5)**2/2
    """
    return parse_loss("1/2*(y - w1*w2*x)**2", "w1,w2", {"x": x, "y": y}, name="linear2d")


def quadratic(A=((1, 0), (0, 10))) -> Loss:
    r"""E(w) = 1/2 w^T A w for a symmetric matrix A (exact entries).

    >>> quadratic([[1, 0], [0, 4]]).expr
    w1**2/2 + 2*w2**2
    """
    M = exact_matrix(A, "A")
    if not M.is_square or M != M.T:
        raise InputError("A", A, "must be a symmetric square matrix")
    w = sp.Matrix([symbol(f"w{i + 1}") for i in range(M.shape[0])])
    expr = sp.expand((w.T * M * w)[0, 0] / 2)
    return Loss(expr, tuple(w), {}, name="quadratic")


def escape() -> Loss:
    r"""The 1-D escape example of Wu, Ma & E (2018), quoted in seed 002.

    f1 = min(x^2, 0.1 (x-1)^2), f2 = min(x^2, 1.9 (x-1)^2), E = (f1 + f2)/2.
    Both minima x = 0 and x = 1 are global; the sharpness at x = 1 is 1 and the
    non-uniformity is 0.9.

    >>> [str(t) for t in escape().terms]
    ['Min(x**2, (x - 1)**2/10)', 'Min(x**2, 19*(x - 1)**2/10)']
    """
    x = symbol("x")
    f1 = sp.Min(x**2, sp.Rational(1, 10) * (x - 1)**2)
    f2 = sp.Min(x**2, sp.Rational(19, 10) * (x - 1)**2)
    return Loss((f1 + f2) / 2, (x,), {}, name="escape", terms=(f1, f2))


def least_squares(X=((1, 2), (3, 4), (5, 6)), y=(1, 2, 2)) -> Loss:
    r"""E(w) = 1/(2n) sum_i (x_i . w - y_i)^2; ``terms`` are the per-sample losses.

    >>> least_squares([[1, 0], [0, 1]], [1, 2]).expr
    w1**2/4 - w1/2 + w2**2/4 - w2 + 5/4
    """
    Xm = exact_matrix(X, "X")
    ym = exact_matrix(y, "y")
    if Xm.shape[0] != ym.shape[0]:
        raise InputError("y", y, f"must have {Xm.shape[0]} entries, one per row of X")
    n, d = Xm.shape
    w = sp.Matrix([symbol(f"w{i + 1}") for i in range(d)])
    terms = tuple(sp.expand(((Xm[i, :] * w)[0, 0] - ym[i])**2 / 2) for i in range(n))
    expr = sp.Add(*terms) / n
    return Loss(sp.expand(expr), tuple(w), {}, name="least_squares", terms=terms)


MODELS: dict[str, tuple[Callable[[], Loss], str]] = {
    "sigmoid2d": (sigmoid2d, "1/2 (y - w1 sigmoid(w2 x))^2, x=1, y=3/5 (Ghosh et al. 2023, App. 8)"),
    "linear2d": (linear2d, "1/2 (y - w1 w2 x)^2, x=1, y=3/5 (Ghosh et al. 2023, Sec. 4.1)"),
    "quadratic": (quadratic, "1/2 w^T A w with A = diag(1, 10)"),
    "escape": (escape, "(f1+f2)/2 with f1 = min(x^2, 0.1(x-1)^2), f2 = min(x^2, 1.9(x-1)^2) (Wu, Ma & E 2018)"),
    "least_squares": (least_squares, "1/(2n) ||X w - y||^2 for a given X, y (default 3x2)"),
}


def get_model(name: str) -> Loss:
    """The built-in model called ``name`` with its default parameters."""
    if not isinstance(name, str) or name not in MODELS:
        raise InputError("--model", name, f"unknown model (have {', '.join(MODELS)})")
    return MODELS[name][0]()
