r"""The principal flow of GD on a quadratic: backward error analysis to all orders.

On :math:`E(x) = \tfrac12 x^\top A x` GD is linear, :math:`x_k = (I - hA)^k x_0`.
A linear flow :math:`\dot x = Bx` passes through every iterate,
:math:`e^{khB} = (I - hA)^k`, iff :math:`e^{hB} = I - hA`, i.e.

.. math::
    B = \frac1h \log(I - hA) = -A - \frac h2 A^2 - \frac{h^2}{3} A^3 - \dots
      = -\sum_{p \ge 0} \frac{h^p}{p+1} A^{p+1},

the modified field summed to all orders: on a quadratic only the chain trees
:math:`H^p g = A^{p+1} x` survive, with coefficients :math:`-1/(p+1)`.

**The oscillating case** :math:`h\lambda > 1`.  Then :math:`1 - h\lambda < 0` and
the principal logarithm is complex, :math:`\log(1 - h\lambda) = \log|1 - h\lambda| + i\pi`.
The flow is then complex between grid points, but at :math:`t = kh`,
:math:`e^{k(\log|1-h\lambda| + i\pi)} = |1-h\lambda|^k(-1)^k = (1 - h\lambda)^k`:
the iterates still lie on it exactly.  Its real part
:math:`|1-h\lambda|^{t/h}\cos(\pi t/h)` is the real curve through them, and no
real linear flow can reproduce the sign flips, which is why the power series
(radius :math:`h\lambda < 1`) breaks down there.  (:math:`h\lambda = 1` sends
the component to 0 in one step and has no logarithm.)

Reference: Hairer, Lubich & Wanner, GNI Ch. IX; Barrett & Dherin, ICLR 2021,
App. (linear case); Kovachki & Stuart (2021) for the quadratic modified flow.
"""
from __future__ import annotations

import sympy as sp

from .bea import H
from .budget import time_budget
from .checks import budget as _budget, positive, size
from .errors import InputError
from .values import exact_matrix, exact_value
from .loss import Loss
from .result import Result, Step

__all__ = ["principal_flow", "principal_flow_series"]


#: the largest matrix :func:`principal_flow` diagonalizes exactly
MAX_SIZE = 10


def _matrix_of(A):
    if isinstance(A, Loss):
        Hm = sp.hessian(A.concrete, A.variables)
        if any(e.free_symbols for e in Hm):
            raise InputError("loss", str(A.expr), "not a quadratic: its Hessian is not constant")
        return Hm, A.variables
    M = exact_matrix(A, "A")
    if not M.is_square or M != M.T:
        raise InputError("A", A, "must be a symmetric square matrix")
    if M.rows > MAX_SIZE:
        raise InputError("A", A, f"is {M.rows} x {M.rows}: exact diagonalization takes at most {MAX_SIZE} x {MAX_SIZE}")
    from .loss import symbol
    return M, tuple(symbol(f"w{i + 1}") for i in range(M.shape[0]))


def principal_flow_series(order: int, lam=None, h=H):
    r"""The series :math:`\frac1h\log(1 - h\lambda) = -\sum_{p\le K} \frac{h^p\lambda^{p+1}}{p+1} + O(h^{K+1})`,
    computed by SymPy's series expansion.

    >>> principal_flow_series(2)
    -h**2*lambda**3/3 - h*lambda**2/2 - lambda
    """
    lam = sp.Symbol("lambda", real=True) if lam is None else exact_value(lam, "lam", symbol={"real": True})
    h = positive(h, "h")
    order = size(order, "order", 0, 64)
    return sp.series(sp.log(1 - h * lam) / h, h, 0, order + 1).removeO()


def principal_flow(A, h=H, budget: float | None = 60.0) -> Result:
    r"""The field :math:`B = \frac1h\log(I - hA)` of the flow through all GD iterates.

    ``A`` is a symmetric matrix or a quadratic :class:`Loss`.  ``expr`` is
    :math:`B`; ``meta["oscillating"]`` lists the eigenvalues with
    :math:`h\lambda > 1` when ``h`` is a number.

    >>> r = principal_flow([[2, 0], [0, 1]], sp.Rational(1, 4))
    >>> r.expr
    Matrix([
    [-log(16),           0],
    [       0, log(81/256)]])
    >>> principal_flow([[4]], 1).expr        # h*lambda = 4 > 1: complex logarithm
    Matrix([[log(3) + I*pi]])

    ``A`` is at most :data:`MAX_SIZE` square; the exact eigendecomposition and the
    simplification run within ``budget`` seconds (``None``: no limit).
    """
    M, variables = _matrix_of(A)
    h = positive(h, "h")
    budget = _budget(budget, "budget")
    with time_budget(budget, "principal_flow"):
        return _principal_flow(M, variables, h)


def _principal_flow(M, variables, h) -> Result:
    n = M.shape[0]
    P, D = M.diagonalize(normalize=True)
    logs = []
    oscillating = []
    for i in range(n):
        lam = D[i, i]
        arg = 1 - h * lam
        if arg.is_zero:
            raise InputError("h", h, f"h*lambda = 1 for lambda = {lam}: I - hA is singular, no logarithm")
        if arg.is_negative:
            oscillating.append(lam)
        logs.append(sp.log(arg) / h)
    B = sp.simplify(P * sp.diag(*logs) * P.T)
    x = sp.Matrix(variables)
    steps = (
        Step(r"x_{k}", r"(I - \IRstep A)^k x_0", "GD on E = x^T A x / 2 is linear"),
        Step(r"e^{\IRstep B}", r"I - \IRstep A", "a linear flow x' = Bx passes through every iterate iff"),
        Step(r"A", sp.MatMul(P, D, P.T, evaluate=False), "orthogonal eigendecomposition"),
        Step(r"B", B, "principal logarithm per eigenvalue, divided by h"),
        Step(r"\frac{\log(1 - \IRstep\lambda)}{\IRstep}", principal_flow_series(3),
             "power series (radius h lambda < 1) = the chain-tree terms of the modified field"),
    )
    if oscillating:
        steps += (Step(r"\log(1 - \IRstep\lambda)", r"\log|1 - \IRstep\lambda| + i\pi",
                       "h lambda > 1: complex principal log; iterates still lie on the flow at t = kh"),)
    return Result("principal-flow", B, steps, lhs=r"B",
                  meta={"field": B * x, "oscillating": tuple(oscillating), "variables": variables})
