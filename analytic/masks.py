r"""Shrinkage masks: gradient methods on least squares as filters of singular values.

Least squares :math:`E(w) = \tfrac12\|y - A w\|^2` with :math:`A = U\,\mathrm{diag}(s)\,V^\top`
decouples in the singular basis: the coefficient :math:`c = v^\top w` of one
singular pair obeys a scalar recursion driven by :math:`b = u^\top y`.  Every
method below ends at :math:`c = m(s)\, b / s`; the *mask* :math:`m(s)` is derived
here (never typed in):

* ``gd``: summing the Neumann series of the GD recursion,
  :math:`m = 1 - (1-\eta s^2)^T`; from a non-zero start the start's component
  decays like :math:`(1-\eta s^2)^T`;
* ``gf``: solving the gradient-flow ODE up to time :math:`t = \eta T`;
* ``ridge``: minimising the penalised scalar problem;
* ``pca``: the hard threshold at :math:`s_{th}`;
* ``heavy-ball``: from the roots of the characteristic polynomial of the
  two-step recursion (not in the paper).

Reference: S. Lucey, "Gradient Descent as a Shrinkage Operator for Spectral
Bias", Prop. 4.1, 4.2 and App. B, C.  Numeric evaluators at the end use the
cancellation-free form :math:`-\operatorname{expm1}(T\operatorname{log1p}(-\eta s^2))`.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from . import checks
from . import symbols as _SYMBOLS
from .errors import InputError
from .values import exact_number, exact_value
from .result import Result, Step

__all__ = ["SYMBOLS", "gd_mask", "gd_start_decay", "gf_mask", "ridge_mask", "pca_mask",
           "heavy_ball_mask", "mask", "METHODS", "threshold_relation", "active_window",
           "grey_zone", "stable_form", "gd_mask_values", "gd_mask_naive", "gf_mask_values",
           "heavy_ball_mask_values", "grey_zone_db"]

s, lam, tau = sp.symbols("s lambda tau", positive=True)
eta, beta = _SYMBOLS.H, _SYMBOLS.BETA          # the engine's step and momentum (printed as h, beta)
T = sp.Symbol("T", positive=True, integer=True)
t = sp.Symbol("t", nonnegative=True)
b, c0 = sp.symbols("b c_0", real=True)
s_th, s_1, x = sp.symbols("s_th s_1 x", positive=True)
r1, r2 = sp.symbols("r_1 r_2")
SYMBOLS = {"s": s, "h": eta, "T": T, "beta": beta, "lambda": lam, "tau": tau, "s_th": s_th,
           "s_1": s_1}


def _mask_result(method, expr, steps, **meta):
    return Result("mask", expr, tuple(steps), lhs="m(s)", meta={"method": method, **meta})


def gd_mask() -> Result:
    r"""GD from :math:`w_0=0`: :math:`m(s) = 1-(1-\eta s^2)^T`, by summing the Neumann series.

    :math:`c_{k+1} = (1-\eta s^2)c_k + \eta s b` gives
    :math:`c_T = \eta s b\sum_{k<T}(1-\eta s^2)^k`.  The sum is done by SymPy.

    >>> gd_mask().expr == 1 - (1 - eta*s**2)**T
    True
    """
    q, k = sp.Symbol("q", positive=True), sp.Symbol("k", integer=True, nonnegative=True)
    geometric = sp.summation(q**k, (k, 0, T - 1))          # Piecewise((T, q == 1), (..., True))
    generic = [e for e, cond in geometric.args if cond == sp.true][0]
    c_T = eta * s * b * generic.subs(q, 1 - eta * s**2)
    m = sp.simplify(sp.factor(c_T * s / b))
    m = sp.expand(m) if sp.count_ops(sp.expand(m)) <= sp.count_ops(m) else m
    # independent check: m solves the scalar recursion m_{T+1} = (1-eta s^2) m_T + eta s^2, m_0 = 0
    assert sp.simplify(m.subs(T, T + 1) - ((1 - eta * s**2) * m + eta * s**2)) == 0
    assert m.subs(T, 0) == 0
    steps = [
        Step("c_{k+1}", (1 - eta * s**2) * sp.Symbol("c_k") + eta * s * b, "GD on one singular pair, b = u^T y"),
        Step("c_T", eta * s * b * sp.Sum((1 - eta * s**2)**k, (k, 0, T - 1)), "unroll from c_0 = 0 (Neumann series)"),
        Step("c_T", c_T, "geometric sum, eta s^2 != 0"),
        Step("m(s) = s c_T / b", m, "mask of the shrinkage operator V diag(m/s) U^T y"),
    ]
    return _mask_result("gd", m, steps)


def gd_start_decay() -> Result:
    r"""GD from :math:`c_0 \ne 0`: :math:`c_T = (1-\eta s^2)^T c_0 + m(s)\, b/s`.

    >>> gd_start_decay().meta["decay"] == (1 - eta*s**2)**T
    True
    """
    m = gd_mask().expr
    n = sp.Symbol("n", integer=True, nonnegative=True)
    cf = sp.Function("c")
    sol = sp.rsolve(cf(n + 1) - (1 - eta * s**2) * cf(n) - eta * s * b, cf(n), {cf(0): c0})
    c_T = sp.expand(sol.subs(n, T))
    decay = sp.simplify(sp.diff(c_T, c0))
    rest = sp.simplify(c_T - decay * c0 - m * b / s)
    assert rest == 0, rest
    steps = [Step("c_T", c_T, "solve the recursion with c(0) = c_0 (rsolve)"),
             Step(r"\partial c_T / \partial c_0", decay, "the start decays geometrically"),
             Step("c_T", decay * c0 + sp.Symbol("m(s)") * b / s, "the rest is the mask from zero")]
    return Result("mask-nonzero-start", decay * c0 + m * b / s, tuple(steps), lhs="c_T",
                  meta={"method": "gd", "decay": decay})


def gf_mask() -> Result:
    r"""Gradient flow :math:`\dot c = -s^2 c + s b` up to :math:`t=\eta T`: :math:`m = 1-e^{-\eta T s^2}`.

    >>> gf_mask().expr
    1 - exp(-T*h*s**2)
    """
    c = sp.Function("c")
    ode = sp.Eq(c(t).diff(t), -s**2 * c(t) + s * b)
    sol = sp.dsolve(ode, c(t), ics={c(0): 0}).rhs
    m = sp.expand(sp.simplify(sol * s / b).subs(t, eta * T))
    assert sp.simplify(sp.diff(sol, t) - (-s**2 * sol + s * b)) == 0
    steps = [Step(r"\dot c", ode.rhs, "gradient flow on one singular pair"),
             Step("c(t)", sol, "dsolve with c(0) = 0"),
             Step("m(s)", m, "t = eta T (one unit of time per step)")]
    return _mask_result("gf", m, steps)


def ridge_mask() -> Result:
    r"""Ridge :math:`\min_c (b - s c)^2 + \lambda c^2`: :math:`m = s^2/(s^2+\lambda)`.

    >>> ridge_mask().expr
    s**2/(lambda + s**2)
    """
    c = sp.Symbol("c", real=True)
    objective = (b - s * c)**2 + lam * c**2
    c_star = sp.solve(sp.diff(objective, c), c)[0]
    m = sp.simplify(c_star * s / b)
    assert sp.diff(objective, c, 2).is_positive
    steps = [Step("J(c)", objective, "penalised least squares on one singular pair"),
             Step("c^*", c_star, "dJ/dc = 0 (J convex)"), Step("m(s)", m, "m = s c*/b")]
    return _mask_result("ridge", m, steps)


def pca_mask() -> Result:
    r"""PCA (truncated SVD): keep a pair iff :math:`s \ge s_{th}`.

    >>> pca_mask().expr
    Heaviside(s - s_th, 1)
    """
    m = sp.Heaviside(s - s_th, 1)
    return _mask_result("pca", m, [Step("m(s)", m, "hard threshold: c = b/s above s_th, 0 below")])


def heavy_ball_mask() -> Result:
    r"""Heavy ball from :math:`w_{-1}=w_0=0`, from the roots :math:`r_{1,2}` of its characteristic polynomial.

    The error :math:`e_k = c_k - b/s` obeys :math:`e_{k+1} = (1+\beta-\eta s^2)e_k - \beta e_{k-1}`,
    so :math:`m = 1 - e_T/e_0 = 1 - \frac{r_1^{T+1}(1-r_2) - r_2^{T+1}(1-r_1)}{r_1 - r_2}`.

    >>> sp.simplify(heavy_ball_mask().meta["in_roots"].subs({r2: 0, T: 2}))
    1 - r_1**2
    """
    rr = sp.Symbol("r")
    a = 1 + beta - eta * s**2
    charpoly = rr**2 - a * rr + beta
    roots = sp.solve(charpoly, rr)
    C1, C2 = sp.symbols("C_1 C_2")
    # e_k = C1 r1^k + C2 r2^k normalised by e_0 = e_{-1}
    coeffs = sp.solve([C1 + C2 - 1, C1 / r1 + C2 / r2 - 1], [C1, C2], dict=True)[0]
    in_roots = sp.factor_terms(1 - (coeffs[C1] * r1**T + coeffs[C2] * r2**T))
    in_roots = 1 - sp.simplify(sp.together(1 - in_roots))
    m = in_roots.subs({r1: roots[0], r2: roots[1]})
    # independent checks: beta -> 0 gives GD; first steps equal the iterated recursion (exact rationals)
    assert sp.simplify(in_roots.subs({r1: 1 - eta * s**2, r2: 0}) - gd_mask().expr) == 0
    # (the iterates are the heavy-ball spec's own steps, in exact arithmetic, b = 1)
    from .namespace import SYMPY
    from .optimizers import HeavyBall
    vals = {s: sp.Rational(3, 2), eta: sp.Rational(1, 5), beta: sp.Rational(1, 3)}
    spec = HeavyBall(vals[eta], vals[beta])
    cur = sp.Integer(0)
    state = spec.init(cur, SYMPY)
    for k in range(1, 6):
        state, cur = spec.step(state, cur, lambda p: vals[s]**2 * p - vals[s], SYMPY)
        assert sp.simplify(sp.expand(m.subs(vals).subs(T, k)) - cur * vals[s]) == 0
    steps = [
        Step("c_{k+1}", sp.Symbol("c_k") + beta * (sp.Symbol("c_k") - sp.Symbol("c_{k-1}"))
             - eta * (s**2 * sp.Symbol("c_k") - s * b), "heavy ball on one singular pair"),
        Step("e_{k+1}", a * sp.Symbol("e_k") - beta * sp.Symbol("e_{k-1}"), "error e_k = c_k - b/s"),
        Step("0", charpoly, "characteristic polynomial"),
        Step("r_{1,2}", sp.Tuple(*roots), "its roots"),
        Step("m(s)", in_roots, "e_k = C_1 r_1^k + C_2 r_2^k with e_{-1} = e_0 = -b/s"),
    ]
    return _mask_result("heavy-ball", m, steps, in_roots=in_roots, roots=tuple(roots))


def _from_spec(name):
    """The mask of a linear optimizer from its spec applied to one singular pair
    (:func:`analytic.spec_masks.spec_mask`); the derivations above are its independent checks."""
    def derive():
        from .optimizers import GD, HeavyBall, Nesterov
        from .spec_masks import spec_mask
        spec = {"gd": GD(eta), "heavy-ball": HeavyBall(eta, beta), "nesterov": Nesterov(eta, beta)}[name]
        return spec_mask(spec)
    derive.__name__ = f"{name}_spec_mask"
    return derive


def _gf_from_spec():
    r"""Gradient flow as the limit of the GD spec's mask with :math:`\eta = \tau/T`, :math:`T\to\infty`
    at fixed time :math:`\tau = \eta T` (derived from the same spec code as GD)."""
    gd = _from_spec("gd")()
    tau_ = sp.Symbol("tau_t", positive=True)
    m = sp.expand(sp.limit(gd.expr.subs(eta, tau_ / T), T, sp.oo).subs(tau_, eta * T))
    steps = list(gd.steps) + [Step("m(s)", m, "eta = t/T, T -> infinity at fixed t = eta T: gradient flow")]
    return Result("mask", m, tuple(steps), lhs="m(s)", meta={"method": "gf"})


METHODS = {"gd": _from_spec("gd"), "gf": _gf_from_spec, "ridge": ridge_mask, "pca": pca_mask,
           "heavy-ball": _from_spec("heavy-ball"), "nesterov": _from_spec("nesterov")}


def mask(method) -> Result:
    """The mask of ``method`` (one of :data:`METHODS`, or any linear optimizer spec).

    The optimizers' masks come from their specs applied to one singular pair
    (:mod:`analytic.spec_masks`); ridge and PCA are not iterations.

    >>> mask("ridge").meta["method"]
    'ridge'
    >>> mask("gd").expr
    1 - (-h*s**2 + 1)**T
    """
    from .optimizers import Optimizer
    if isinstance(method, Optimizer):
        from .spec_masks import spec_mask
        return spec_mask(method)
    if not isinstance(method, str) or method not in METHODS:
        raise InputError("method", method, "must be one of " + ", ".join(METHODS) + " or an optimizer spec")
    return METHODS[method]()


# -- relations derived from the GD mask -----------------------------------------------------
def threshold_relation(tau_value=None) -> Result:
    r"""Iterations :math:`T` at which :math:`m(s_{th}) = \tau`.

    Exact: :math:`T = \log(1-\tau)/\log(1-\eta s_{th}^2)`; small :math:`\eta s^2`:
    :math:`T \approx -\log(1-\tau)/(\eta s_{th}^2)`; with :math:`\eta = 1/s_1^2`,
    :math:`\tau = 1-1/e`: :math:`T \approx (s_1/s_{th})^2`.

    >>> threshold_relation().meta["paper_choice"]
    s_1**2/s_th**2
    """
    if tau_value is not None:
        tau_value = exact_number(tau_value, "tau", low=0, high=1, low_open=True, high_open=True)
    m = gd_mask().expr.subs(s, s_th)
    sol = sp.solve(sp.Eq(m, tau), T)
    exact = sp.expand_log(sol[0], force=True)
    xs = sp.Symbol("x", positive=True)          # x = eta s_th^2
    in_x = exact.subs(eta, xs / s_th**2)
    small = sp.simplify((sp.limit(in_x * xs, xs, 0) / xs).subs(xs, eta * s_th**2))
    correction = sp.simplify(sp.limit(in_x - sp.limit(in_x * xs, xs, 0) / xs, xs, 0))
    paper = sp.simplify(small.subs({eta: 1 / s_1**2, tau: 1 - sp.exp(-1)}))
    assert sp.simplify(m.subs(T, exact) - tau) == 0            # the exact T gives the threshold
    steps = [Step(r"\tau", m, "mask at the threshold singular value"),
             Step("T", exact, "solve for T (exact)"),
             Step("T", small, "log(1 - eta s_th^2) = -eta s_th^2 + O(eta^2 s_th^4)", relation="approx"),
             Step("T", paper, "eta = 1/s_1^2, tau = 1 - 1/e", relation="approx")]
    expr = exact if tau_value is None else exact.subs(tau, tau_value)
    meta = {"exact": exact, "small_eta": small, "paper_choice": paper, "next_order": correction}
    if tau_value is not None:
        meta["small_eta_at_tau"] = small.subs(tau, tau_value)
    return Result("threshold", expr, tuple(steps), lhs="T", meta=meta)


def active_window() -> Result:
    r"""Active-window width :math:`\rho = s_1/s_{th}` at :math:`\eta=1/s_1^2`, :math:`\tau=1-1/e`.

    Exactly :math:`\rho^2 = 1/(1-e^{-1/T}) = T + 1/2 + 1/(12T) + O(T^{-3})`, so :math:`\rho\approx\sqrt T`.

    >>> active_window().meta["leading"]
    sqrt(T)
    """
    rho = sp.Symbol("rho", positive=True)
    z = sp.Symbol("z", positive=True)                     # z = 1/rho^2 = eta s_th^2
    m = gd_mask().expr.subs({eta: 1 / s_1**2, s: s_1 / rho})
    zsol = sp.solve(sp.Eq(m.subs(rho, 1 / sp.sqrt(z)), 1 - sp.exp(-1)), z)
    rho2 = sp.simplify(1 / zsol[0])
    assert sp.simplify(m.subs(rho, sp.sqrt(rho2)) - (1 - sp.exp(-1))) == 0
    u = sp.Symbol("u", positive=True)                     # u = 1/T
    ser = sp.series(rho2.subs(T, 1 / u), u, 0, 3).removeO().subs(u, 1 / T)
    steps = [Step(r"1 - e^{-1}", m, "mask at s = s_1/rho with eta = 1/s_1^2"),
             Step(r"\rho^2", rho2, "solve (exact)"),
             Step(r"\rho^2", sp.expand(ser), "expand for large T", relation="approx"),
             Step(r"\rho", sp.sqrt(T), "leading order", relation="approx")]
    return Result("active-window", rho2, tuple(steps), lhs=r"\rho^2",
                  meta={"series": sp.expand(ser), "leading": sp.sqrt(T)})


def grey_zone(upper=sp.Rational(99, 100), lower=sp.Rational(1, 100)) -> Result:
    r"""Width in dB of :math:`s` (:math:`20\log_{10}`) over which the mask falls from ``upper`` to ``lower``.

    For GD at finite :math:`T`: :math:`10\log_{10}\frac{1-(1-\mathrm{lo})^{1/T}}{1-(1-\mathrm{up})^{1/T}}`,
    tending (and equal for gradient flow) to
    :math:`10\log_{10}\frac{\log(1-\mathrm{up})}{\log(1-\mathrm{lo})}` — independent of :math:`\eta, T`.

    >>> round(float(grey_zone().expr), 4)
    26.6107
    """
    up, lo = exact_value(upper, "upper"), exact_value(lower, "lower")
    if not (0 < lo < up < 1):
        raise InputError("upper/lower", (upper, lower), "need 0 < lower < upper < 1")
    m = gd_mask().expr
    s_of = {}
    for level in (up, lo):
        sq = sp.solve(sp.Eq(m.subs(s, sp.sqrt(x)), level), x)[0]      # x = s^2
        s_of[level] = sq
    finite = 10 * sp.log(s_of[up] / s_of[lo], 10)
    limit = sp.simplify(sp.limit(s_of[up] / s_of[lo], T, sp.oo))
    simple = sp.log(1 - up) / sp.log(1 - lo)
    assert sp.simplify(simple - limit) == 0
    width = 10 * sp.log(simple, 10)
    gfm = gf_mask().expr
    gf_ratio = sp.simplify(sp.solve(sp.Eq(gfm.subs(s, sp.sqrt(x)), up), x)[0]
                           / sp.solve(sp.Eq(gfm.subs(s, sp.sqrt(x)), lo), x)[0])
    assert sp.simplify(gf_ratio - limit) == 0
    steps = [Step("s_{up}^2 / s_{lo}^2", s_of[up] / s_of[lo], "solve m(s) = level for s^2"),
             Step(r"\Delta_{dB}", finite, "20 log10 of the s ratio (finite T)"),
             Step(r"\Delta_{dB}", width, "T -> infinity; equal for gradient flow at any T"),
             Step(r"\Delta_{dB}", sp.Float(width.evalf(15), 6), "numerically", relation="approx")]
    return Result("grey-zone", width, tuple(steps), lhs=r"\Delta_{dB}",
                  meta={"finite_T": finite, "dB": float(width.evalf(17))})


def grey_zone_db(upper: float = 0.99, lower: float = 0.01) -> float:
    """The grey-zone width as a float (dB of s).

    >>> round(grey_zone_db(), 3)
    26.611
    """
    up = checks.real_float(upper, "upper", low=0, high=1, low_open=True, high_open=True)
    lo = checks.real_float(lower, "lower", low=0, high=1, low_open=True, high_open=True)
    if not lo < up:
        raise InputError("lower", lower, f"must be below upper = {upper}")
    return 10 * math.log10(math.log1p(-up) / math.log1p(-lo))


def stable_form() -> Result:
    r"""The cancellation-free GD mask :math:`-\operatorname{expm1}(T\operatorname{log1p}(-x))`, :math:`x=\eta s^2`.

    Naively, :math:`\mathrm{fl}(1-x)=(1-x)(1+\delta)`, :math:`|\delta|\le u = 2^{-53}`, so the mask's
    relative error is :math:`\approx T u (1-x)^T/(1-(1-x)^T) \to u/x` for :math:`Tx\ll 1`:
    all digits are lost once :math:`x < u`.

    >>> stable_form().meta["naive_relative_error_small_Tx"]
    u/x
    """
    u, d = sp.symbols("u delta", positive=True)
    naive = 1 - (1 - x)**T
    from sympy.codegen.cfunctions import expm1, log1p
    stable = -expm1(T * log1p(-x))
    plain = stable.rewrite(sp.log).rewrite(sp.exp)                 # 1 - exp(T log(1 - x))
    assert sp.simplify(plain - naive.rewrite(sp.exp)) == 0, plain
    err = sp.diff((1 - x)**T * (1 + d)**T, d).subs(d, 0) * u / naive          # first order in delta
    small = sp.limit(sp.series(err, T, 0, 2).removeO() * T / T, T, 0)
    small = sp.limit(small * x, x, 0) / x                                     # leading term for x -> 0
    steps = [Step("m", naive, "naive form"),
             Step("m", r"-\operatorname{expm1}\big(T\,\operatorname{log1p}(-x)\big)", "stable form, x = eta s^2"),
             Step(r"\frac{|\Delta m|}{m}", err, "rounding 1 - x once, to first order in u"),
             Step(r"\frac{|\Delta m|}{m}", small, "T x << 1, x << 1: digits lost", relation="approx")]
    return Result("stable-form", stable, tuple(steps), lhs="m",
                  meta={"naive": naive, "naive_relative_error": err, "naive_relative_error_small_Tx": small})


# -- numeric evaluators ---------------------------------------------------------------------
#: the largest step count the evaluators take (beyond it every mask in use is 0 or 1 in double precision)
MAX_ITERS = 10 ** 9


def _arrays(sv, step, iters, *, integer_iters=True):
    """Checked float arrays ``(sv, step, iters)``: singular values finite and >= 0,
    ``step > 0``, step counts in ``[0, MAX_ITERS]`` (integers unless ``integer_iters`` is False)."""
    sv = checks.vector(sv, "sv")
    if np.any(sv < 0):
        raise InputError("sv", sv, "singular values must be nonnegative")
    step = checks.real_float(step, "step", low=0, low_open=True)
    if isinstance(iters, (bool, np.bool_)):
        raise InputError("iters", iters, "must be a nonnegative step count")
    t = checks.vector(iters, "iters", ndim=None)
    if np.any(t < 0) or np.any(t > MAX_ITERS):
        raise InputError("iters", iters, f"must lie in [0, {MAX_ITERS}]")
    if integer_iters and np.any(t != np.round(t)):
        raise InputError("iters", iters, "must be whole numbers of steps")
    return sv, step, t


def _gd_ratio(sv, step, iters):
    """``x = eta s^2``, checked: GD contracts only for x < 2, and for x > 1 the factor
    ``1 - x`` is negative, so a fractional power of it (a non-whole ``iters``) is undefined."""
    q = step * sv**2
    if np.any(q >= 2):
        raise InputError("step", step, f"GD diverges: eta s^2 = {float(np.max(q)):g} >= 2")
    if np.any(q > 1) and np.any(iters != np.round(iters)):
        raise InputError("iters", iters, "must be whole numbers of steps where eta s^2 > 1")
    return q


def gd_mask_values(sv, step: float, iters) -> np.ndarray:
    r"""GD mask :math:`-\operatorname{expm1}(T\operatorname{log1p}(-\eta s^2))` (stable; needs :math:`\eta s^2 < 2`).

    ``iters`` may be fractional (the mask's continuation in :math:`T`) where :math:`\eta s^2 \le 1`.

    >>> round(float(gd_mask_values(1e-10, 1.0, 10)) * 1e19, 12)
    1.0
    """
    sv, step, iters = _arrays(sv, step, iters, integer_iters=False)
    q = _gd_ratio(sv, step, iters)
    with np.errstate(divide="ignore"):
        lg = np.log1p(-np.minimum(q, 1.0))
    with np.errstate(invalid="ignore"):
        out = np.where(iters == 0, 0.0, -np.expm1(iters * lg))
    odd = q > 1                                       # 1 - eta s^2 < 0: sign alternates
    if np.any(odd):
        out = np.where(odd, 1.0 - np.sign(1 - q) ** iters * np.abs(1 - q) ** iters, out)
    return out


def gd_mask_naive(sv, step: float, iters) -> np.ndarray:
    """The naive ``1 - (1 - eta s^2)**T`` (for showing where it breaks).

    >>> float(gd_mask_naive(1e-10, 1.0, 10))
    0.0
    """
    sv, step, iters = _arrays(sv, step, iters, integer_iters=False)
    return 1.0 - (1.0 - _gd_ratio(sv, step, iters)) ** iters


def gf_mask_values(sv, step: float, iters) -> np.ndarray:
    """Gradient-flow mask ``-expm1(-eta T s^2)``; ``iters`` may be a flow time ``t/eta`` (not whole).

    >>> float(gf_mask_values(1.0, 1.0, 1)) == -math.expm1(-1)
    True
    """
    sv, step, iters = _arrays(sv, step, iters, integer_iters=False)
    return -np.expm1(-step * iters * sv**2)


def heavy_ball_mask_values(sv, step: float, momentum: float, iters) -> np.ndarray:
    r"""Heavy-ball mask from the roots (complex arithmetic when they are complex).

    Ill-conditioned at a double root (critical damping), where :math:`r_1 - r_2 \to 0`.

    >>> float(heavy_ball_mask_values(1.0, 0.5, 0.0, 3))
    0.875
    """
    sv, step, iters = _arrays(sv, step, iters)
    momentum = checks.real_float(momentum, "momentum", low=0, high=1, high_open=True)
    a = (1 + momentum - step * sv**2).astype(complex)
    disc = np.sqrt(a * a - 4 * momentum)
    ra = np.where(a.real >= 0, (a + disc) / 2, (a - disc) / 2)      # the larger root, no cancellation
    rb = np.where(ra != 0, momentum / np.where(ra != 0, ra, 1), 0)  # r_1 r_2 = beta
    # e_T/e_0 = D_{T+1} - beta D_T with D_n = (r1^n - r2^n)/(r1 - r2) = r1^(n-1) expm1(n L)/expm1(L),
    # L = log(r2/r1): stable at (near-)double roots, where r1 - r2 -> 0
    with np.errstate(divide="ignore", invalid="ignore"):
        L = np.log(rb / ra)
        def D(nn):
            ratio = np.where(np.abs(L) > 0, np.expm1(nn * L) / np.expm1(L), nn)
            return ra ** (nn - 1) * ratio
        e = D(iters + 1) - momentum * D(iters) if momentum > 0 else ra ** iters
        near_double = 1 - e
        # away from a double root: t = 1 - r solves t^2 - (1 - beta + x) t + x = 0 (x = eta s^2), and
        # m = [t2 (1 - r1^(T+1)) - t1 (1 - r2^(T+1))] / (t2 - t1), free of cancellation for small x
        x = step * sv**2
        B = 1 - momentum + x
        disc = B * B - 4 * x
        real = disc >= 0
        root = np.sqrt(np.abs(disc))
        t2 = np.where(real, (B + root) / 2, 0).astype(complex) + np.where(real, 0, (B + 1j * root) / 2)
        t1 = x / t2
        def pw(t):                                   # 1 - (1 - t)^(T+1), stable for small real t
            r = 1 - t
            positive = (np.abs(r.imag) == 0) & (r.real > 0)
            safe = np.where(positive, t.real, 0.0)
            stable = -np.expm1((iters + 1) * np.log1p(-safe))
            return np.where(positive, stable, 1 - r ** (iters + 1))
        separated = t2 * pw(t1) - t1 * pw(t2)
        far = np.abs(t2 - t1) > 1e-3 * np.abs(t2)
        m = np.where(far, separated / np.where(far, t2 - t1, 1), near_double)
    return np.where(iters == 0, 0.0, np.real(m))
