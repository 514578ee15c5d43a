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

from functools import lru_cache

import sympy as sp

from . import symbols as _SYMBOLS
from .checks import cached_after, flag
from .result import Result, Step

__all__ = ["T", "K", "SIGMA", "N", "ETA_LR", "EPS", "Z_J", "A0", "A_STAR",
           "flow_solution", "gd_solution", "minimum_norm_limit", "expected_error",
           "early_stopping"]

T = sp.Symbol("t", nonnegative=True)
K = sp.Symbol("k", integer=True, nonnegative=True)
SIGMA = sp.Symbol("sigma", positive=True)
SIGMA1 = sp.Symbol("sigma_1", positive=True)
N = sp.Symbol("n", positive=True)
ETA_LR = _SYMBOLS.H            # the engine's step size h
EPS = sp.Symbol("epsilon", positive=True)
Z_J = sp.Symbol("z", real=True)
A0 = sp.Symbol("a_0", real=True)
A_STAR = sp.Symbol("a^*", real=True)


@lru_cache(maxsize=None)
def flow_solution() -> Result:
    r"""Gradient-flow solution in one singular direction,
    :math:`a_j(t) = a_j(0)e^{-\sigma_j^2t/n} + \frac{z_j}{\sigma_j}(1-e^{-\sigma_j^2t/n})`.

    >>> r = flow_solution()
    >>> sp.simplify(r.expr.diff(T) - (-SIGMA**2 / N * r.expr + SIGMA / N * Z_J))
    0
    """
    a = sp.Function("a")
    rate, force = SIGMA**2 / N, SIGMA / N * Z_J
    ode = sp.Eq(a(T).diff(T), -rate * a(T) + force)
    s = sp.Symbol("s", nonnegative=True)
    # variation of constants: a(t) = e^{-rate t} (a_0 + int_0^t e^{rate s} force ds)
    sol = sp.exp(-rate * T) * (A0 + sp.integrate(sp.exp(rate * s) * force, (s, 0, T)))
    e = sp.exp(-SIGMA**2 * T / N)
    tidy = A0 * e + Z_J / SIGMA * (1 - e)
    if sp.expand(sol - tidy) != 0 or sp.expand(tidy.diff(T) - ode.rhs.subs(a(T), tidy)) != 0:
        raise ArithmeticError("flow solution does not solve the ODE")  # pragma: no cover
    steps = (
        Step(r"\dot\beta", r"-\tfrac1n X^T(X\beta - y)", "gradient flow of the loss: squared residual norm over 2n"),
        Step(r"\beta", r"Va + V^\perp b", "split along the row space of X (thin SVD X = U Sigma V transposed)"),
        Step(r"\dot b", 0, "X V-perp = 0"),
        Step(r"\dot a_j", ode.rhs.subs(a(T), sp.Symbol("a_j")), "project on v_j, with z = U transposed times y"),
        Step(r"a_j(t)", tidy, "solve the linear ODE with a_j(0) = a_0"),
    )
    return Result("flow-solution", tidy, steps, lhs="a_j(t)")


@lru_cache(maxsize=None)
def gd_solution() -> Result:
    r"""GD iterates in one singular direction:
    :math:`a_j(k) = r^k a_j(0) + \frac{z_j}{\sigma_j}(1 - r^k)`, :math:`r = 1 - \eta\sigma_j^2/n`.

    >>> r = gd_solution().expr
    >>> sp.simplify(r.subs(K, 1) - (A0 - ETA_LR / N * SIGMA * (SIGMA * A0 - Z_J)))
    0
    """
    rr = 1 - ETA_LR * SIGMA**2 / N
    q = ETA_LR * SIGMA * Z_J / N
    # unroll: a(k) = r^k a_0 + q (1 + r + ... + r^(k-1)) = r^k a_0 + q (1 - r^k)/(1 - r)
    sol = rr**K * A0 + q * (1 - rr**K) / (1 - rr)
    tidy = rr**K * A0 + Z_J / SIGMA * (1 - rr**K)
    if sp.cancel(sol - tidy) != 0:  # pragma: no cover - algebra guard
        raise ArithmeticError("GD solution does not reduce")
    # independent check: the closed form satisfies the recurrence
    if sp.cancel(sp.expand_power_base(tidy.subs(K, K + 1) - rr * tidy - q, force=True).subs(rr**(K + 1), rr * rr**K)) != 0:
        if sp.cancel(sp.powsimp(sp.expand(tidy.subs(K, K + 1) - rr * tidy - q), combine="exp")) != 0:
            raise ArithmeticError("GD solution does not satisfy the recurrence")  # pragma: no cover
    steps = (
        Step(r"a_j(k+1)", rr * sp.Symbol("a_j(k)") + ETA_LR * SIGMA * Z_J / N, "GD step projected on v_j"),
        Step(r"a_j(k)", sol, "unroll the recurrence and sum the geometric series"),
        Step(r"a_j(k)", tidy, "simplify"),
    )
    return Result("gd-solution", tidy, steps, lhs="a_j(k)", meta={"ratio": rr})


@lru_cache(maxsize=None)
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


@cached_after(flag)
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
    w = sp.Symbol("w", real=True)  # u_j^T xi ~ N(0, epsilon^2)
    a_t = sol.expr.subs({A0: 0, Z_J: SIGMA * A_STAR + w})
    err = sp.Poly(sp.expand((a_t - A_STAR)**2), w)
    gaussian_moments = {0: 1, 1: 0, 2: EPS**2}
    mean = sp.expand(sum(c * gaussian_moments[m] for (m,), c in err.terms()))
    signal = A_STAR**2 * decay**2
    noise = EPS**2 / SIGMA**2 * (1 - decay)**2
    if sp.expand(mean - signal - noise) != 0:  # pragma: no cover - algebra guard
        raise ArithmeticError("expected error does not split into signal + noise")
    steps = (
        Step("z_j", r"u_j^T y = \sigma_j a_j^* + u_j^T\xi", "labels y = X beta* + xi"),
        Step(r"a_j - a_j^*", sp.factor_terms(a_t - A_STAR), "zero start; w = u_j transposed times xi, normal with variance epsilon squared"),
        Step(r"\mathbb E(a_j - a_j^*)^2", signal + noise, "E w = 0, E w squared = epsilon squared"),
        Step(r"\mathbb E e", r"\|b^*\|^2 + \sum_j \mathbb E(a_j - a_j^*)^2", "sum over directions; b does not move"),
    )
    return Result("expected-error", signal + noise, steps, lhs=r"\mathbb E(a_j - a_j^*)^2",
                  meta={"signal": signal, "noise": noise, "discrete": discrete})


@lru_cache(maxsize=None)
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
    u = sp.Symbol("u", positive=True)  # u = exp(-2 sigma_1^2 t/n): f'(t) is linear in u
    dfu = f.diff(T).subs(sp.exp(-2 * SIGMA1**2 * T / N), u)
    slope, intercept = sp.Poly(dfu, u).all_coeffs()
    u0 = sp.factor(-intercept / slope)
    t0 = sp.expand_log(-N / (2 * SIGMA1**2) * sp.log(u0), force=True)
    lecture = N / (2 * SIGMA1**2) * sp.log(2 * SIGMA1**2 / (N * EPS**2))
    if sp.expand(sp.expand_log(t0 - lecture, force=True)) != 0:  # pragma: no cover
        raise ArithmeticError(f"T0 {t0} differs from the lecture's form")
    t0 = lecture
    f_t0 = sp.factor_terms(u0 + EPS**2 * t0)   # exp(-2 sigma_1^2 T0/n) = u0 at the optimum
    if sp.expand(sp.expand_log(f.subs(T, t0) - f_t0, force=True)) != 0:  # pragma: no cover
        raise ArithmeticError("bound at T0 does not reduce")
    steps = (
        Step(r"\mathbb E(a_1-a_1^*)^2 + \sum_{j>1}\mathbb E a_j^2", r"e^{-2\sigma_1^2t/n} + \sum_j "
             r"\frac{\varepsilon^2}{\sigma_j^2}(1-e^{-\sigma_j^2t/n})^2", "beta* = v_1: a* = e_1, b* = 0"),
        Step(r"\frac{\varepsilon^2}{\sigma_j^2}(1-e^{-\sigma_j^2t/n})^2",
             r"\varepsilon^2\min\{\sigma_j^{-2}, \sigma_j^2t^2/n^2\} \le \varepsilon^2 t/n",
             "1 - exp(-x) at most min(1, x); min(p, q) at most sqrt(pq)", relation="<="),
        Step(r"\mathbb E e(t)", f, "n directions", relation="<="),
        Step(r"f'(T_0)", 0, "minimize the bound"),
        Step("T_0", t0, "solve"),
        Step(r"f(T_0)", f_t0, "value of the bound at T_0"),
    )
    return Result("early-stopping-time", t0, steps, lhs="T_0", meta={"bound": f, "bound_at_T0": f_t0})
