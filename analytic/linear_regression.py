r"""Gradient descent on over-parameterized least squares, in the SVD basis.

Loss :math:`\hat R(\beta) = \frac{1}{2n}\|X\beta - y\|^2`, :math:`X\in\mathbb R^{n\times d}`,
:math:`d > n`, GD :math:`\beta_{k+1} = \beta_k - \frac\eta n X^T(X\beta_k - y)` from
:math:`\beta_0 = 0`.  With :math:`X = U\Sigma V^T` (thin SVD, rank n) and
:math:`\beta = Va + V^\perp b`, :math:`z = U^Ty`, every direction decouples:

* flow: :math:`\dot a_j = -\frac{\sigma_j^2}{n}a_j + \frac{\sigma_j}{n}z_j`, :math:`\dot b = 0`;
* GD: :math:`a_j(k+1) = (1 - \eta\sigma_j^2/n)a_j(k) + \eta\sigma_j z_j/n`.

Hence the limit :math:`V\Sigma^{-1}U^Ty = X^+y`, the minimum-norm interpolant;
with labels :math:`y = X\beta^* + \xi`, :math:`\xi\sim N(0,\varepsilon^2 I_n)`, the
expected error splits into learning the signal and fitting the noise, and
early stopping at :math:`T_0` bounds it.

Reference: Lei Wu, lecture "Towards understanding the implicit regularization
in deep learning" (2020), slides on linear regression (seed 002); Ma, Wu & E,
"The slow deterioration of the generalization error of random feature
models", MSML 2020.
"""
from __future__ import annotations

import sympy as sp
from sympy.stats import E as expectation, Normal

from .result import Result, Step

__all__ = ["T", "K", "SIGMA", "N", "ETA_LR", "EPS", "Z_J", "A0", "A_STAR",
           "flow_solution", "gd_solution", "minimum_norm_limit", "expected_error",
           "early_stopping"]

T = sp.Symbol("t", nonnegative=True)
K = sp.Symbol("k", integer=True, nonnegative=True)
SIGMA = sp.Symbol("sigma", positive=True)
SIGMA1 = sp.Symbol("sigma_1", positive=True)
N = sp.Symbol("n", positive=True)
ETA_LR = sp.Symbol("eta", positive=True)
EPS = sp.Symbol("epsilon", positive=True)
Z_J = sp.Symbol("z", real=True)
A0 = sp.Symbol("a_0", real=True)
A_STAR = sp.Symbol("a^*", real=True)


def flow_solution() -> Result:
    r"""Gradient-flow solution in one singular direction,
    :math:`a_j(t) = a_j(0)e^{-\sigma_j^2t/n} + \frac{z_j}{\sigma_j}(1-e^{-\sigma_j^2t/n})`.

    >>> r = flow_solution()
    >>> sp.simplify(r.expr.diff(T) - (-SIGMA**2 / N * r.expr + SIGMA / N * Z_J))
    0
    """
    a = sp.Function("a")
    ode = sp.Eq(a(T).diff(T), -SIGMA**2 / N * a(T) + SIGMA / N * Z_J)
    sol = sp.dsolve(ode, a(T), ics={a(0): A0}).rhs
    e = sp.exp(-SIGMA**2 * T / N)
    tidy = A0 * e + Z_J / SIGMA * (1 - e)
    if sp.simplify(sol - tidy) != 0:  # pragma: no cover - algebra guard
        raise ArithmeticError("flow solution does not match its tidy form")
    steps = (
        Step(r"\dot\beta", r"-\tfrac1n X^T(X\beta - y)", "gradient flow of the loss 1/(2n) |X beta - y| squared"),
        Step(r"\beta", r"Va + V^\perp b", "split along the row space of X (thin SVD X = U Sigma V^T)"),
        Step(r"\dot b", 0, "X V-perp = 0"),
        Step(r"\dot a_j", ode.rhs.subs(a(T), sp.Symbol("a_j")), "project on v_j, with z = U^T y"),
        Step(r"a_j(t)", tidy, "solve the linear ODE with a_j(0) = a_0"),
    )
    return Result("flow-solution", tidy, steps, lhs="a_j(t)")


def gd_solution() -> Result:
    r"""GD iterates in one singular direction:
    :math:`a_j(k) = r^k a_j(0) + \frac{z_j}{\sigma_j}(1 - r^k)`, :math:`r = 1 - \eta\sigma_j^2/n`.

    >>> r = gd_solution().expr
    >>> sp.simplify(r.subs(K, 1) - (A0 - ETA_LR / N * SIGMA * (SIGMA * A0 - Z_J)))
    0
    """
    A = sp.Function("A")
    rr = 1 - ETA_LR * SIGMA**2 / N
    rec = A(K + 1) - rr * A(K) - ETA_LR * SIGMA * Z_J / N
    sol = sp.rsolve(rec, A(K), {A(0): A0})
    tidy = rr**K * A0 + Z_J / SIGMA * (1 - rr**K)
    if sp.simplify(sp.expand_power_base(sol - tidy, force=True)) != 0:
        check = [sp.simplify((sol - tidy).subs(K, k)) for k in range(4)]
        if any(c != 0 for c in check):  # pragma: no cover - algebra guard
            raise ArithmeticError("GD solution does not match its tidy form")
    steps = (
        Step(r"a_j(k+1)", rr * sp.Symbol("a_j(k)") + ETA_LR * SIGMA * Z_J / N, "GD step projected on v_j"),
        Step(r"a_j(k)", tidy, "solve the linear recurrence"),
    )
    return Result("gd-solution", tidy, steps, lhs="a_j(k)", meta={"ratio": rr})


def minimum_norm_limit() -> Result:
    r"""From :math:`a(0)=0,\ b(0)=0`, GD with :math:`0<\eta\sigma_j^2/n<2` converges to
    :math:`a_j = z_j/\sigma_j`, i.e. :math:`\beta_\infty = V\Sigma^{-1}U^Ty = X^+y`.

    >>> minimum_norm_limit().expr
    z/sigma
    """
    g = gd_solution()
    r = sp.Symbol("r", real=True)
    expr = g.expr.subs(g.meta["ratio"], r).subs(A0, 0)
    p = sp.Symbol("p", positive=True)  # |r| < 1: r**k -> 0
    lim = sp.limit(expr.subs(r, 1 / (1 + p)), K, sp.oo)
    steps = g.steps + (
        Step(r"a_j(k)", expr, "start from zero, write r = 1 - eta sigma squared / n"),
        Step(r"\lim_k a_j(k)", lim, "the power of r vanishes when the modulus of r is below 1"),
        Step(r"b(k)", r"b(0) = 0", "no motion orthogonal to the row space"),
        Step(r"\beta_\infty", r"V\Sigma^{-1}U^T y = X^+ y = \arg\min_{X\beta = y}\|\beta\|", "minimum-norm solution"),
    )
    return Result("minimum-norm-limit", lim, steps, lhs=r"\lim_k a_j(k)")


def expected_error(discrete: bool = False) -> Result:
    r"""Expected error in one singular direction from :math:`a(0) = 0`, labels
    :math:`y = X\beta^* + \xi`, :math:`\xi \sim N(0, \varepsilon^2 I)`:

    .. math::
        \mathbb E(a_j(t) - a_j^*)^2 = \underbrace{(a_j^*)^2 e^{-2\sigma_j^2t/n}}_{\text{signal}}
        + \underbrace{\frac{\varepsilon^2}{\sigma_j^2}(1-e^{-\sigma_j^2t/n})^2}_{\text{noise}},

    and :math:`\mathbb E e(t) = \|b^*\|^2 + \sum_j(\cdot)`.  ``discrete=True`` gives
    the GD version with :math:`e^{-\sigma_j^2t/n}` replaced by :math:`r^k`.

    >>> r = expected_error()
    >>> r.meta["signal"]
    a^***2*exp(-2*sigma**2*t/n)
    """
    sol = gd_solution() if discrete else flow_solution()
    decay = sol.meta["ratio"]**K if discrete else sp.exp(-SIGMA**2 * T / N)
    w = Normal("w", 0, EPS)  # u_j^T xi
    a_t = sol.expr.subs({A0: 0, Z_J: SIGMA * A_STAR + w})
    err = sp.expand((a_t - A_STAR)**2)
    mean = sp.expand(expectation(err))
    signal = A_STAR**2 * decay**2
    noise = EPS**2 / SIGMA**2 * (1 - decay)**2
    if sp.simplify(mean - signal - noise) != 0:  # pragma: no cover - algebra guard
        raise ArithmeticError("expected error does not split into signal + noise")
    steps = (
        Step("z_j", r"u_j^T y = \sigma_j a_j^* + u_j^T\xi", "labels y = X beta* + xi"),
        Step(r"a_j - a_j^*", sp.factor_terms(a_t - A_STAR), "zero start; w = u_j^T xi ~ N(0, epsilon squared)"),
        Step(r"\mathbb E(a_j - a_j^*)^2", signal + noise, "E w = 0, E w squared = epsilon squared"),
        Step(r"\mathbb E e", r"\|b^*\|^2 + \sum_j \mathbb E(a_j - a_j^*)^2", "sum over directions; b does not move"),
    )
    return Result("expected-error", signal + noise, steps, lhs=r"\mathbb E(a_j - a_j^*)^2",
                  meta={"signal": signal, "noise": noise, "discrete": discrete})


def early_stopping() -> Result:
    r"""Early stopping for :math:`\beta^* = v_1`: :math:`\mathbb E e(t) \le f(t) = e^{-2\sigma_1^2t/n} + \varepsilon^2 t`,
    minimized at :math:`T_0 = \frac{n}{2\sigma_1^2}\log\frac{2\sigma_1^2}{n\varepsilon^2}`, where
    :math:`f(T_0) = \frac{n\varepsilon^2}{2\sigma_1^2}\big(1 + \log\frac{2\sigma_1^2}{n\varepsilon^2}\big)`.

    The noise bound uses :math:`(1-e^{-x})^2 \le \min\{1, x^2\}` and
    :math:`\min\{p, q\} \le \sqrt{pq}`: each of the n directions contributes at
    most :math:`\varepsilon^2 t/n`.

    >>> r = early_stopping()
    >>> r.expr
    n*log(2*sigma_1**2/(epsilon**2*n))/(2*sigma_1**2)
    """
    f = sp.exp(-2 * SIGMA1**2 * T / N) + EPS**2 * T
    (t0,) = sp.solve(sp.Eq(f.diff(T), 0), T)
    t0 = sp.expand_log(sp.logcombine(sp.expand_log(t0, force=True), force=True), force=True)
    t0 = sp.factor_terms(sp.logcombine(t0, force=True))
    lecture = N / (2 * SIGMA1**2) * sp.log(2 * SIGMA1**2 / (N * EPS**2))
    if sp.simplify(sp.expand_log(t0 - lecture, force=True)) != 0:  # pragma: no cover
        raise ArithmeticError(f"T0 {t0} differs from the lecture's form")
    t0 = lecture
    f_t0 = sp.factor_terms(sp.simplify(f.subs(T, t0)))
    steps = (
        Step(r"\mathbb E(a_1-a_1^*)^2 + \sum_{j>1}\mathbb E a_j^2", r"e^{-2\sigma_1^2t/n} + \sum_j "
             r"\frac{\varepsilon^2}{\sigma_j^2}(1-e^{-\sigma_j^2t/n})^2", "beta* = v_1: a* = e_1, b* = 0"),
        Step(r"\frac{\varepsilon^2}{\sigma_j^2}(1-e^{-\sigma_j^2t/n})^2",
             r"\varepsilon^2\min\{\sigma_j^{-2}, \sigma_j^2t^2/n^2\} \le \varepsilon^2 t/n",
             "1 - exp(-x) <= min(1, x); min(p, q) <= sqrt(pq)", relation="<="),
        Step(r"\mathbb E e(t)", f, "n directions", relation="<="),
        Step(r"f'(T_0)", 0, "minimize the bound"),
        Step("T_0", t0, "solve"),
        Step(r"f(T_0)", f_t0, "value of the bound at T_0"),
    )
    return Result("early-stopping-time", t0, steps, lhs="T_0", meta={"bound": f, "bound_at_T0": f_t0})
