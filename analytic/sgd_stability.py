r"""Linear stability of mini-batch SGD at a global minimum (Wu, Ma & E 2018).

One dimension: :math:`f(x) = \frac{1}{2n}\sum_i a_i x^2`, :math:`a_i \ge 0`.  SGD
with a batch :math:`\mathcal B` of size :math:`B` multiplies :math:`x` by
:math:`1 - h\hat a` with :math:`\hat a = \frac1B\sum_{i\in\mathcal B} a_i`, so

.. math::
    \mathbb E x_{t+1}^2 = \big[(1-h a)^2 + h^2 c(n,B)\, s^2\big]\,\mathbb E x_t^2,

with sharpness :math:`a = \frac1n\sum a_i`, non-uniformity
:math:`s^2 = \frac1n\sum a_i^2 - a^2` and :math:`c(n,B) = \mathrm{Var}(\hat a)/s^2`,
which :func:`variance_factor` derives from the inclusion probabilities of the
sampling scheme.  Matrix case: :func:`second_moment_matrix` (the lecture's
sufficient condition) and :func:`second_moment_operator` (the exact
mean-square operator).

Reference: Wu, Ma & E, "How SGD selects the global minima in
over-parameterized learning", NeurIPS 2018, Sec. 3-4; Cochran, Sampling
Techniques (3rd ed., 1977), Thm. 2.2 (variance of the mean without replacement).
"""
from __future__ import annotations

import itertools
from functools import lru_cache

import sympy as sp

from .checks import cached_after, positive, size
from .errors import InputError
from .values import exact_matrix, exact_value
from .result import Result, Step
from .stability import ETA, StabilityCondition

__all__ = ["SHARPNESS", "NONUNIFORMITY", "N_SAMPLES", "BATCH", "SAMPLINGS",
           "inclusion_probabilities", "batch_mean_variance", "variance_factor", "sgd_second_moment",
           "sgd_stability", "nonuniformity_bound", "sgd_matrix_stability",
           "second_moment_matrix", "second_moment_operator", "exact_batch_variance"]

SHARPNESS = sp.Symbol("a", nonnegative=True)
NONUNIFORMITY = sp.Symbol("s", nonnegative=True)
N_SAMPLES = sp.Symbol("n", positive=True, integer=True)
BATCH = sp.Symbol("B", positive=True, integer=True)
SAMPLINGS = ("without", "with")


def _check_sampling(sampling, argument="sampling"):
    if not isinstance(sampling, str) or sampling not in SAMPLINGS:
        raise InputError(argument, sampling, "must be 'without' or 'with' (replacement)")
    return sampling


_by_sampling = cached_after(_check_sampling)


def _count(value, argument):
    """A sample or batch count: a positive integer, or a symbol (kept as given)."""
    if isinstance(value, sp.Symbol):
        return value
    if isinstance(value, (bool, float)) or isinstance(value, sp.Basic) and not value.is_Integer:
        raise InputError(argument, value, "must be a positive integer or a symbol")
    return sp.Integer(size(value, argument, 1, 10 ** 12))


def inclusion_probabilities(n=N_SAMPLES, B=BATCH) -> Result:
    r"""P(i in batch) and P(i, j in batch), i != j, for B of n drawn without replacement.

    Counting batches: :math:`\binom{n-1}{B-1}/\binom nB` and :math:`\binom{n-2}{B-2}/\binom nB`.

    >>> inclusion_probabilities().expr
    (B/n, B*(B - 1)/(n*(n - 1)))
    """
    n, B = _count(n, "n"), _count(B, "B")
    if n.is_Integer and B.is_Integer and B > n:
        raise InputError("B", B, f"a batch drawn without replacement has at most n = {n} samples")
    return _inclusion_probabilities(n, B)


@lru_cache(maxsize=None)
def _inclusion_probabilities(n, B) -> Result:
    p1 = sp.combsimp(sp.binomial(n - 1, B - 1) / sp.binomial(n, B))
    p2 = sp.factor(sp.combsimp(sp.binomial(n - 2, B - 2) / sp.binomial(n, B)))
    steps = (Step(r"P(i \in \mathcal B)", sp.binomial(n - 1, B - 1) / sp.binomial(n, B), "batches containing i"),
             Step(r"P(i \in \mathcal B)", p1, "simplify the binomials"),
             Step(r"P(i, j \in \mathcal B)", p2, "batches containing i and j, simplified"))
    return Result("inclusion-probabilities", (p1, p2), steps)


@_by_sampling
def batch_mean_variance(sampling: str = "without") -> Result:
    r"""Var of the mean of B of the n values a_i, in terms of :math:`s^2 = \overline{a^2} - a^2`.

    Without replacement, with indicators :math:`I_i` of :math:`i \in \mathcal B`:
    :math:`\mathrm{Var}\,\hat a = B^{-2}\big[\sum_i a_i^2 \mathrm{Var} I_i + \sum_{i\ne j} a_ia_j
    \mathrm{Cov}(I_i,I_j)\big]`, using :math:`\sum_i a_i = na`,
    :math:`\sum_i a_i^2 = n(s^2+a^2)`.  With replacement the B draws are
    i.i.d. with variance :math:`s^2`.

    >>> batch_mean_variance("without").expr
    s**2*(-B + n)/(B*(n - 1))
    >>> batch_mean_variance("with").expr
    s**2/B
    """
    _check_sampling(sampling)
    a, s, n, B = SHARPNESS, NONUNIFORMITY, N_SAMPLES, BATCH
    S1, S2 = n * a, n * (s**2 + a**2)
    if sampling == "without":
        p1, p2 = inclusion_probabilities().expr
        raw = (S2 * (p1 - p1**2) + (S1**2 - S2) * (p2 - p1**2)) / B**2
        steps = [Step(r"\hat a", r"\tfrac1B \textstyle\sum_i a_i I_i", "indicators of the batch"),
                 Step(r"\mathbb E I_i,\ \mathbb E I_iI_j", sp.Tuple(p1, p2), "inclusion probabilities"),
                 Step(r"\mathrm{Var}\,\hat a", raw, "sum the variances and covariances of the indicators")]
    else:
        Ea, Ea2 = S1 / n, S2 / n
        raw = (Ea2 - Ea**2) / B
        steps = [Step(r"\hat a", r"\tfrac1B \textstyle\sum_{k=1}^B a_{\xi_k}", "B i.i.d. uniform indices"),
                 Step(r"\mathrm{Var}\,\hat a", raw, "variance of a mean of B independent draws")]
    var = sp.factor(sp.cancel(raw))
    steps.append(Step(r"\mathrm{Var}\,\hat a", var, "simplify"))
    return Result("batch-mean-variance", var, tuple(steps), lhs=r"\mathrm{Var}\,\hat a",
                  meta={"sampling": sampling})


@_by_sampling
def variance_factor(sampling: str = "without") -> Result:
    r"""c(n, B) = Var(batch mean) / s^2.

    >>> variance_factor("without").expr
    (-B + n)/(B*(n - 1))
    >>> variance_factor("with").expr
    1/B
    """
    v = batch_mean_variance(sampling)
    c = sp.factor(sp.cancel(v.expr / NONUNIFORMITY**2))
    steps = v.steps + (Step("c(n,B)", c, "divide by the non-uniformity squared"),)
    return Result("variance-factor", c, steps, lhs="c(n,B)", meta={"sampling": sampling})


def exact_batch_variance(values, B: int, sampling: str = "without"):
    r"""Var of the batch mean by enumerating every batch (exact Rationals).

    Independent check of :func:`batch_mean_variance` for small n.

    >>> exact_batch_variance([0, 1, 2, 5], 2)   # s^2 = 7/2, c(4, 2) = 1/3
    7/6
    """
    _check_sampling(sampling)
    if not isinstance(values, (list, tuple)) or not values:
        raise InputError("values", values, "must be a non-empty list of numbers")
    if len(values) > 12:
        raise InputError("values", values, "enumerates every batch: at most 12 values")
    vals = [exact_value(v, "values") for v in values]
    n = len(vals)
    B = size(B, "B", 1, n)
    if sampling == "without":
        batches = list(itertools.combinations(range(n), B))
    else:
        batches = list(itertools.product(range(n), repeat=B))
    means = [sum(vals[i] for i in b) / B for b in batches]
    m = sum(means) / len(means)
    return sum((x - m)**2 for x in means) / len(means)


@_by_sampling
def sgd_second_moment(sampling: str = "without") -> Result:
    r"""The growth factor g of :math:`\mathbb E x_{t+1}^2 = g\, \mathbb E x_t^2`.

    :math:`x_{t+1} = (1-h\hat a)x_t` with the batch independent of
    :math:`x_t`, so :math:`g = \mathbb E(1-h\hat a)^2 = (1-h a)^2 + h^2\mathrm{Var}\,\hat a`.

    >>> sgd_second_moment("with").expr
    (-a*h + 1)**2 + h**2*s**2/B
    """
    a, s = SHARPNESS, NONUNIFORMITY
    v = batch_mean_variance(sampling)
    c = variance_factor(sampling).expr
    Ea, Ea2 = a, v.expr + a**2
    raw = 1 - 2 * ETA * Ea + ETA**2 * Ea2
    g = (1 - ETA * a)**2 + ETA**2 * c * s**2
    if sp.expand(raw - g) != 0:  # pragma: no cover - algebra guard
        raise ArithmeticError("second-moment factor does not reduce")
    steps = v.steps + (
        Step("x_{t+1}", r"(1 - h\hat a_t)\,x_t", "SGD step on the quadratic"),
        Step(r"\mathbb E(1-h\hat a)^2", sp.expand(raw), "batch independent of x_t; E a-hat = a"),
        Step("g", g, "collect"),
    )
    return Result("sgd-second-moment", g, steps, lhs=r"\mathbb E x_{t+1}^2/\mathbb E x_t^2",
                  meta={"sampling": sampling, "c": c})


@_by_sampling
def nonuniformity_bound(sampling: str = "without") -> Result:
    r"""The stability boundary s_max(a) with g(a, s_max) = 1, for 0 <= a <= 2/h.

    >>> nonuniformity_bound("with").expr
    sqrt(B)*sqrt(a)*sqrt(-a*h + 2)/sqrt(h)
    """
    g = sgd_second_moment(sampling).expr
    s_max = _positive_root_in_s(g, 1)
    return Result("nonuniformity-bound", s_max, (Step("s_{\\max}(a)", s_max, "solve g = 1 for s, s >= 0"),),
                  lhs=r"s_{\max}(a)", meta={"sampling": sampling})


def _positive_root_in_s(lhs, rhs):
    """The s >= 0 solving lhs = rhs when lhs depends on s through s**2 only (linearly)."""
    w = sp.Symbol("w", nonnegative=True)
    expr = sp.expand(lhs).subs(NONUNIFORMITY**2, w)
    if expr.has(NONUNIFORMITY):  # pragma: no cover
        raise ArithmeticError(f"{lhs} is not linear in s**2")
    slope, intercept = sp.Poly(expr - rhs, w).all_coeffs()
    w_sol = -intercept / slope
    return sp.sqrt(sp.factor(w_sol))


@_by_sampling
def sgd_stability(sampling: str = "without") -> StabilityCondition:
    r"""Stability of SGD with batch size B: g <= 1, with its two necessary conditions.

    Both terms of :math:`g` are nonnegative, so each is at most 1:
    :math:`0 \le a \le 2/h` and :math:`s \le 1/(h\sqrt{c(n,B)})`.

    >>> r = sgd_stability()
    >>> [str(c) for c in r.necessary]
    ['a <= 2/h', 's <= sqrt(B)*sqrt(n - 1)*sqrt(1/(-B + n))/h']
    """
    g_res = sgd_second_moment(sampling)
    g, c = g_res.expr, g_res.meta["c"]
    u = sp.Symbol("u", real=True)
    # (1 - u)^2 <= 1 for u = h a
    u_range = sp.solve_univariate_inequality((1 - u)**2 <= 1, u)
    a_max = sp.Max(*[arg.rhs for arg in sp.And.make_args(u_range) if arg.lhs == u]) / ETA
    s_max = _positive_root_in_s(ETA**2 * c * NONUNIFORMITY**2, 1)
    nec = (sp.Le(SHARPNESS, a_max), sp.Le(NONUNIFORMITY, s_max))
    cond = sp.Le(sp.factor_terms(g), 1)
    steps = g_res.steps + (
        Step("g", 1, "stability: the second moment does not grow", relation="<="),
        Step(r"(1-h a)^2", 1, "first term is nonnegative and at most g", relation="<="),
        Step("a", a_max, "solve for a, a nonnegative", relation="<="),
        Step(r"h^2 c(n,B) s^2", 1, "second term is nonnegative and at most g", relation="<="),
        Step("s", s_max, "solve for s, s nonnegative", relation="<="),
    )
    return StabilityCondition("stability", cond, steps, optimizer="sgd", necessary=nec, kind="exact",
                              meta={"sampling": sampling, "c": c, "growth": g,
                                    "s_boundary": nonuniformity_bound(sampling).expr})


def _as_matrices(Hs):
    if not isinstance(Hs, (list, tuple)):
        raise InputError("Hs", Hs, "must be a list of symmetric matrices")
    mats = [exact_matrix(H, "Hs") for H in Hs]
    if not mats:
        raise InputError("Hs", Hs, "needs at least one matrix")
    d = mats[0].shape
    for H in mats:
        if H.shape != d or H.shape[0] != H.shape[1] or H != H.T:
            raise InputError("Hs", Hs, "must be symmetric square matrices of one size")
    return mats


def _c_value(n, B, sampling):
    _check_sampling(sampling)
    B = size(B, "B", 1, n if sampling == "without" else 10 ** 6)
    if n == 1:
        return sp.Integer(0) if sampling == "without" else sp.Rational(1, B)
    return variance_factor(sampling).expr.subs({N_SAMPLES: n, BATCH: B})


def second_moment_matrix(Hs, eta, B: int, sampling: str = "without") -> sp.Matrix:
    r"""The lecture's matrix :math:`(I-h H)^2 + h^2 c(n,B)\Sigma` (exact).

    :math:`H = \frac1n\sum H_i`, :math:`\Sigma = \frac1n\sum H_i^2 - H^2`.  It equals
    :math:`\mathbb E[(I-h\hat H)^2]`: the scalar algebra of
    :func:`batch_mean_variance` uses only bilinearity and
    :math:`\sum_i (H_i - H) = 0`, so it holds for matrices.  ``lambda_max <= 1``
    is sufficient for mean-square stability.

    >>> second_moment_matrix([[[1]], [[3]]], sp.Rational(1, 2), 1)
    Matrix([[1/4]])
    """
    mats = _as_matrices(Hs)
    n = len(mats)
    c = _c_value(n, B, sampling)
    eta = positive(eta, "eta")
    H = sum(mats, sp.zeros(*mats[0].shape)) / n
    Sigma = sum((M * M for M in mats), sp.zeros(*mats[0].shape)) / n - H * H
    I = sp.eye(H.shape[0])
    return (I - eta * H)**2 + eta**2 * c * Sigma


def second_moment_operator(Hs, eta, B: int, sampling: str = "without") -> sp.Matrix:
    r"""The exact operator :math:`\mathcal L = \mathbb E[(I-h\hat H)\otimes(I-h\hat H)]`
    on :math:`\operatorname{vec} \mathbb E[xx^T]`:
    :math:`(I-h H)^{\otimes 2} + h^2 c(n,B)\,(\overline{H_i\otimes H_i} - H\otimes H)`.

    Mean-square stable iff :math:`\rho(\mathcal L) \le 1` (necessary and sufficient).

    >>> second_moment_operator([[[1]], [[3]]], sp.Rational(1, 2), 1)
    Matrix([[1/4]])
    """
    mats = _as_matrices(Hs)
    n = len(mats)
    c = _c_value(n, B, sampling)
    eta = positive(eta, "eta")
    kron = sp.kronecker_product
    d = mats[0].shape[0]
    H = sum(mats, sp.zeros(d, d)) / n
    I = sp.eye(d)
    mean_kron = sum((kron(M, M) for M in mats), sp.zeros(d * d, d * d)) / n
    return kron(I - eta * H, I - eta * H) + eta**2 * c * (mean_kron - kron(H, H))


@_by_sampling
def sgd_matrix_stability(sampling: str = "without") -> StabilityCondition:
    r"""Matrix form: sufficient :math:`\lambda_{\max}\{(I-h H)^2 + h^2c\Sigma\} \le 1`;
    exact :math:`\rho(\mathcal L) \le 1`; necessary for the former
    :math:`a = \lambda_{\max}(H) \le 2/h` and :math:`s = \sqrt{\lambda_{\max}(\Sigma)} \le 1/(h\sqrt c)`.

    :math:`\lambda_{\max}(A) \le 1` implies :math:`\rho(\mathcal L) \le 1` (the trace of
    :math:`\mathcal L(M)` is :math:`\mathrm{tr}(AM) \le \mathrm{tr} M` on PSD :math:`M`), and the
    two coincide when the :math:`H_i` commute; otherwise the converse can fail.

    >>> sgd_matrix_stability().kind
    'sufficient'
    """
    one_d = sgd_stability(sampling)
    c = one_d.meta["c"]
    lam_A, rho_L = sp.symbols("lambda_max_A rho_L", nonnegative=True)
    steps = (
        Step("x_{t+1}", r"(I - h\hat H_t)\,x_t", "SGD on the quadratic, H-hat the batch mean"),
        Step(r"\mathbb E[(I-h\hat H)^2]", r"(I-h H)^2 + h^2 c(n,B)\,\Sigma",
             "same indicator algebra as in one dimension"),
        Step("c(n,B)", c, "variance factor"),
        Step(r"\mathbb E\|x_{t+1}\|^2", r"\mathbb E\,x_t^T A\, x_t \le \lambda_{\max}(A)\,\mathbb E\|x_t\|^2",
             "sufficient condition: lambda max of A at most 1"),
        Step(r"\operatorname{vec}\mathbb E[x_{t+1}x_{t+1}^T]", r"\mathcal L\,\operatorname{vec}\mathbb E[x_tx_t^T]",
             "exact: spectral radius of L at most 1"),
        Step(r"\lambda_{\max}(A)", r"\max\{(1-h a)^2,\ h^2 c\, s^2\}", "both parts are PSD",
             relation=">="),
    ) + one_d.steps[-4:]
    return StabilityCondition("stability", sp.Le(lam_A, 1), steps, optimizer="sgd-matrix",
                              necessary=one_d.necessary + (sp.Le(rho_L, 1),), kind="sufficient",
                              meta={"sampling": sampling, "c": c, "exact": sp.Le(rho_L, 1)})
