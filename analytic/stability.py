r"""Linear (dynamical) stability of gradient methods at a minimum, in closed form.

Near a minimum with Hessian :math:`H` every method of
:mod:`analytic.optimizers` is a linear map of the iterate and its state.  In an
eigendirection of :math:`H` with eigenvalue :math:`\lambda` the spec's own
``step``, applied to the gradient :math:`\nabla E(x) = \lambda x`, is
linearized exactly by the generic engine :mod:`analytic.spec_stability`
(:func:`state_map_jacobian`, :func:`spec_characteristic_polynomial`,
:func:`spec_stability`, :func:`spectral_radius_condition`, re-exported here,
for any number of state variables, Adam and RMSProp included); the closed
forms below are read off that path:

* GD: :math:`x_{k+1} = (1 - h\lambda) x_k`, stable iff
  :math:`0 \le h\lambda \le 2`, i.e. :math:`h \le 2/\lambda_{\max}`;
* heavy ball / Nesterov: a two-step recursion with characteristic polynomial
  :math:`z^2 - c_1 z - c_0`; its region of stability (both roots in the open
  unit disk) is obtained by running the Schur--Cohn test *symbolically*
  (:func:`schur_cohn`) on that polynomial;
* quasi-Newton :math:`x_{k+1} = x_k - h D^{-1}\nabla f`:
  :math:`\lambda_{\max}(D^{-1}H) \le 2/h`;
* a general stochastic optimizer :math:`x_{k+1} = x_k - h G(x_k;\xi)`:
  see :func:`general_optimizer_stability`.

The stochastic (SGD) conditions live in :mod:`analytic.sgd_stability`.

References: Polyak, "Some methods of speeding up the convergence of iteration
methods" (1964); Jury, "Theory and Application of the z-Transform Method"
(1964), Ch. 3 (Schur--Cohn--Jury test); Wu, Ma & E, "How SGD selects the global
minima in over-parameterized learning: a dynamical stability perspective",
NeurIPS 2018 (the lecture of seed 002).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import sympy as sp

from . import checks
from .budget import with_budget
from .errors import InputError
from .values import as_expression
from .optimizers import GD, HeavyBall, Nesterov
from .result import Result, Step
from .symbols import BETA, H, LAMBDA

#: the generic engine, imported on first use (it builds on this module's Schur-Cohn test)
_GENERIC = ("S_STAR", "state_map_jacobian", "spec_characteristic_polynomial", "spec_stability",
            "spectral_radius_condition")

__all__ = [
    "ETA", "LAMBDA", "LAMBDA_MAX", "BETA", "Z", "X_STEP",
    "StabilityCondition", "schur_cohn", "characteristic_polynomial",
    "gd_stability", "heavy_ball_stability", "nesterov_stability", "momentum_stability",
    "quasi_newton_stability", "general_optimizer_stability", *_GENERIC,
]


def __getattr__(name):
    if name in _GENERIC:
        from . import spec_stability
        return getattr(spec_stability, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: the step size: the engine's h (:mod:`analytic.symbols`); LaTeX may print it as h through the notation table
ETA = H
LAMBDA_MAX = sp.Symbol("lambda_max", nonnegative=True)
Z = sp.Symbol("z")
#: the dimensionless product h*lambda used while solving inequalities
X_STEP = sp.Symbol("x", real=True)
#: seconds allowed for factoring one Schur-Cohn condition (it stays expanded beyond)
FACTOR_SECONDS = 5.0


@dataclass(frozen=True)
class StabilityCondition(Result):
    r"""A stability condition with its derivation.

    ``expr`` is the condition (a SymPy boolean); ``necessary`` holds necessary
    conditions implied by it; ``kind`` says what the condition is
    (``"exact"``: necessary and sufficient, ``"sufficient"``...).

    >>> c = gd_stability()
    >>> c.optimizer, str(c.expr)
    ('gd', 'lambda_max <= 2/h')
    """

    optimizer: str = ""
    necessary: tuple = ()
    kind: str = "exact"

    def __post_init__(self):
        super().__post_init__()
        if self.kind not in ("exact", "sufficient", "necessary"):
            raise InputError("kind", self.kind, "must be exact, sufficient or necessary")
        object.__setattr__(self, "necessary", tuple(self.necessary))
        # results are cached and shared: keep their metadata read-only
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    @property
    def condition(self):
        return self.expr

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update({"optimizer": self.optimizer, "condition": str(self.expr),
                  "necessary": [str(c) for c in self.necessary], "kind": self.kind})
        return d


# ---------------------------------------------------------------------------
# Schur--Cohn test
# ---------------------------------------------------------------------------
def _reverse(poly: sp.Poly) -> sp.Poly:
    """The reciprocal polynomial z^n p(1/z) (real coefficients)."""
    return sp.Poly(list(reversed(poly.all_coeffs())), poly.gen)


def schur_cohn(poly, z=Z) -> Result:
    r"""The Schur--Cohn conditions for all roots of a real polynomial in |z| < 1.

    For :math:`p(z) = a_n z^n + \dots + a_0` the test reads: :math:`p` is
    Schur stable iff :math:`a_n^2 - a_0^2 > 0` and the degree-:math:`(n-1)`
    polynomial :math:`Tp(z) = (a_n p(z) - a_0 p^*(z))/z` is Schur stable, with
    :math:`p^*(z) = z^n p(1/z)`.  Iterating gives :math:`n` polynomial
    inequalities ``expr[k] > 0`` in the coefficients, returned factored.

    >>> b, c = sp.symbols("b c", real=True)
    >>> schur_cohn(Z**2 + b*Z + c).expr
    (-(c - 1)*(c + 1), -(c - 1)**2*(b - c - 1)*(b + c + 1))

    Reference: Jury (1964), Ch. 3; Henrici, Applied and Computational Complex
    Analysis I (1974), Sec. 6.8.
    """
    if not isinstance(z, sp.Symbol):
        raise InputError("z", z, "must be a SymPy symbol")
    p = sp.Poly(as_expression(poly, "poly", {z.name: z}), z)
    if p.degree() < 1:
        raise InputError("poly", poly, f"must have degree >= 1 in {z}")
    if any(c.is_real is False for c in p.all_coeffs()):
        raise InputError("poly", poly, "must have real coefficients")
    conditions, steps = [], [Step("p(z)", p.as_expr(), "the polynomial tested")]
    q = p
    level = 0
    while q.degree() >= 1:
        level += 1
        an, a0 = q.LC(), q.all_coeffs()[-1]
        raw = sp.expand(an**2 - a0**2)
        cond = with_budget(sp.factor, FACTOR_SECONDS, "factoring a Schur-Cohn condition", raw, fallback=raw)
        conditions.append(cond)
        steps.append(Step(rf"\Delta_{level}", cond, f"level {level}: constant term smaller than leading coefficient in modulus",
                          relation="="))
        # Tp has leading coefficient an^2 - a0^2, nonzero under the condition
        q = sp.Poly(sp.cancel((an * q.as_expr() - a0 * _reverse(q).as_expr()) / z), z)
        if q.degree() >= 1:
            steps.append(Step(rf"p_{level}(z)", q.as_expr(), "Schur transform of the previous polynomial"))
    steps.append(Step(r"\text{stable}", r"\iff " + r",\ ".join(rf"\Delta_{k + 1} > 0" for k in range(level)),
                      "Schur-Cohn: all roots in the open unit disk", relation=":"))
    return Result("schur-cohn", tuple(conditions), tuple(steps), meta={"degree": p.degree()})


def _drop_even_factors(conditions):
    """Remove squared factors that the earlier conditions already keep nonzero.

    A factor ``f**2k`` of condition ``j`` is positive as soon as ``f != 0``;
    it is dropped when every zero of ``f`` violates an earlier condition.
    Returns the reduced conditions and the list of dropped factors.
    """
    reduced, dropped = [], []
    for j, cond in enumerate(conditions):
        coeff, factors = sp.factor_list(cond)
        keep = [sp.Integer(1) * coeff]      # the content may be a fraction (-1/4)
        for base, power in factors:
            if power % 2 == 0 and j > 0 and _zeros_violate(base, conditions[:j]):
                dropped.append(base)
                continue
            keep.append(base**power)
        reduced.append(sp.Mul(*keep))
    return reduced, dropped


def _zeros_violate(base, earlier) -> bool:
    syms = sorted(base.free_symbols, key=lambda s: s.name)
    for v in syms:
        sols = sp.solve(base, v)
        if sols:
            return all(all(_decided(sp.factor(sp.cancel(c.subs(v, s))) <= 0) for c in earlier) for s in sols)
    return False


def _decided(relation) -> bool:
    """True only when SymPy decides the relation is true (undecided: keep the factor, still exact)."""
    return relation is sp.true or relation is True


# ---------------------------------------------------------------------------
# deterministic methods
# ---------------------------------------------------------------------------
def _recurrence(poly):
    """The scalar recursion x_{k+1} = ... that every component obeys (Cayley-Hamilton), expanded."""
    coeffs = sp.Poly(poly, Z).all_coeffs()
    xs = [sp.Symbol("x_k")] + [sp.Symbol(f"x_{{k-{j}}}") for j in range(1, len(coeffs) - 1)]
    return sp.expand(-sum(c * xj for c, xj in zip(coeffs[1:], xs)))


def characteristic_polynomial(spec, lam=LAMBDA) -> Result:
    r"""The characteristic polynomial of the spec on :math:`E = \tfrac12\lambda x^2`.

    :math:`p(z) = \det(zI - J)` with :math:`J` the exact Jacobian of the spec's
    own ``step`` at the minimum (:func:`state_map_jacobian`, any number of state
    entries); by Cayley--Hamilton every component, the iterate included, obeys
    the scalar recursion with this polynomial (the first step shown).

    >>> characteristic_polynomial(HeavyBall(ETA, BETA)).expr
    beta + z**2 + z*(-beta + h*lambda - 1)
    """
    from .spec_stability import spec_characteristic_polynomial
    poly = spec_characteristic_polynomial(spec, lam, drop=False).expr
    name = getattr(spec, "name", type(spec).__name__)
    steps = (Step("x_{k+1}", _recurrence(poly), f"{name} update with gradient lambda x"),
             Step("p(z)", poly, "insert geometric solutions x_k = z to the power k"))
    return Result("characteristic-polynomial", poly, steps, lhs="p(z)")


@lru_cache(maxsize=None)
def gd_stability() -> StabilityCondition:
    r"""GD: multiplier :math:`1 - h\lambda` per eigendirection; stable iff
    :math:`|1-h\lambda| \le 1`, i.e. :math:`0 \le h\lambda \le 2`; for
    :math:`H \succeq 0` that is :math:`h \le 2/\lambda_{\max}(H)`.

    >>> str(gd_stability().meta["per_direction"])
    '(0 <= h*lambda) & (h*lambda <= 2)'
    """
    from .spec_stability import state_map_jacobian
    m = sp.factor(state_map_jacobian(GD(ETA)).expr[0, 0])
    nxt = _recurrence(Z - m)
    x = X_STEP
    interval = sp.solve_univariate_inequality(sp.Abs(m.subs(ETA * LAMBDA, x)) <= 1, x, relational=True)
    per = interval.subs(x, ETA * LAMBDA)
    cond = sp.Le(LAMBDA_MAX, 2 / ETA)
    steps = (
        Step("x_{k+1}", nxt, "GD on E = lambda x squared / 2 (one eigendirection of H)"),
        Step("m(\\lambda)", m, "per-eigendirection multiplier"),
        Step("|m| \\le 1", per, "solve for x = h lambda: modulus of 1 - x at most 1", relation="iff"),
        Step("\\lambda_{\\max}", 2 / ETA, "every eigenvalue of H, all nonnegative, lies in [0, 2/h]", relation="<="),
    )
    return StabilityCondition("stability", cond, steps, lhs="", optimizer="gd",
                              necessary=(cond,), kind="exact",
                              meta={"multiplier": m, "per_direction": per})


def momentum_stability(spec, name: str) -> StabilityCondition:
    r"""Stability region of a two-step method from the Schur--Cohn test.

    The conditions come out of :func:`schur_cohn` applied to
    :func:`characteristic_polynomial`; squared factors kept nonzero by the
    earlier conditions are removed.  ``expr`` is the conjunction
    ``And(Delta_k > 0)`` in :math:`h\lambda` and :math:`\beta`.
    """
    checks.text(name, "name")
    charpoly = characteristic_polynomial(spec)
    sc = schur_cohn(charpoly.expr, Z)
    reduced, dropped = _drop_even_factors(sc.expr)
    cond = sp.And(*[sp.StrictGreaterThan(r, 0) for r in reduced])
    steps = list(charpoly.steps) + list(sc.steps[1:])
    if dropped:
        steps.append(Step(r"\text{drop}", sp.Tuple(*[d**2 for d in dropped]),
                          "positive, since their zeros violate the earlier conditions", relation=":"))
    steps.append(Step(r"\text{stable}", cond, "Schur-Cohn conditions, reduced", relation="iff"))
    return StabilityCondition("stability", cond, tuple(steps), optimizer=name,
                              necessary=tuple(sp.StrictGreaterThan(r, 0) for r in reduced), kind="exact",
                              meta={"schur_cohn": sc.expr, "reduced": tuple(reduced),
                                    "charpoly": charpoly.expr})


@lru_cache(maxsize=None)
def heavy_ball_stability() -> StabilityCondition:
    r"""Heavy ball :math:`x_{k+1} = x_k - h\lambda x_k + \beta(x_k - x_{k-1})`.

    Schur--Cohn on :math:`z^2 - (1+\beta-h\lambda)z + \beta` gives
    :math:`1-\beta^2 > 0` and :math:`h\lambda(2+2\beta-h\lambda)(1-\beta)^2 > 0`,
    that is :math:`|\beta| < 1,\ 0 < h\lambda < 2(1+\beta)`.

    >>> str(heavy_ball_stability().meta["explicit"])
    '(-1 < beta) & (beta < 1) & (0 < h*lambda) & (h*lambda < 2*(beta + 1))'
    """
    res = momentum_stability(HeavyBall(ETA, BETA), "heavy-ball")
    first, second = res.meta["reduced"]
    x = X_STEP
    beta_range = sp.solve_univariate_inequality(first > 0, BETA)
    # on -1 < beta write beta = p - 1 with p > 0 so that the roots in x can be ordered
    p = sp.Symbol("p", positive=True)
    lo, hi = _positive_interval(second.subs(ETA * LAMBDA, x), x, {BETA: p - 1})
    x_range = sp.And(sp.StrictLessThan(lo, ETA * LAMBDA), sp.StrictLessThan(ETA * LAMBDA, hi))
    explicit = sp.And(beta_range, x_range)
    return _with_explicit(res, explicit, "solve Delta_1 positive for beta, then Delta_2 positive for h lambda")


@lru_cache(maxsize=None)
def nesterov_stability() -> StabilityCondition:
    r"""Nesterov :math:`x_{k+1} = y_k - h\lambda y_k`, :math:`y_k = x_k + \beta(x_k - x_{k-1})`.

    Schur--Cohn on :math:`z^2 - (1+\beta)(1-h\lambda) z + \beta(1-h\lambda)`.
    For :math:`0 \le \beta < 1` the region is
    :math:`0 < h\lambda < 2(1+\beta)/(1+2\beta)`.

    >>> str(nesterov_stability().meta["explicit"])
    '(0 < h*lambda) & (h*lambda < 2*(beta + 1)/(2*beta + 1))'
    """
    res = momentum_stability(Nesterov(ETA, BETA), "nesterov")
    first, second = res.meta["reduced"]
    x = X_STEP
    # 0 <= beta < 1: write beta = q/(1+q), q >= 0
    q = sp.Symbol("q", nonnegative=True)
    sub = {BETA: q / (1 + q)}
    lo, hi = _positive_interval(second.subs(ETA * LAMBDA, x), x, sub)
    # Delta_1 is implied on the interval: |beta (1 - x)| < 1 at both ends (it is linear in x)
    a0 = -sp.Poly(res.meta["charpoly"], Z).all_coeffs()[-1]
    ends_ok = all(sp.factor(sp.cancel((1 - a0.subs(ETA * LAMBDA, e)**2).subs(sub))).is_positive
                  for e in (lo, hi))
    if not ends_ok:  # pragma: no cover - would mean the derivation is wrong
        raise ArithmeticError("Delta_1 not implied on the Nesterov interval")
    explicit = sp.And(sp.StrictLessThan(lo, ETA * LAMBDA), sp.StrictLessThan(ETA * LAMBDA, hi))
    return _with_explicit(res, explicit, "for beta in [0, 1), written q/(1+q): Delta_2 positive in h lambda; "
                          "Delta_1 holds at both ends", general=False)


def _positive_interval(product, x, sub):
    """The interval (lo, hi) of x where a product of two linear factors in x is positive.

    ``sub`` rewrites the parameters through positive symbols (e.g. beta = p - 1
    with p > 0) so that SymPy can decide the sign of the leading coefficient
    and the order of the two roots; the roots are returned in the original
    parameters.
    """
    coeff, factors = sp.factor_list(product, x)
    roots, lead = [], sp.Integer(1) * coeff
    for f, power in factors:
        poly = sp.Poly(f, x)
        if poly.degree() != 1 or power != 1:
            raise ArithmeticError(f"factor {f} is not a simple linear factor in {x}")
        u, v = poly.all_coeffs()
        roots.append(sp.factor(-v / u))
        lead *= u
    if len(roots) != 2 or not sp.factor(sp.cancel(lead.subs(sub))).is_negative:
        raise ArithmeticError(f"{product} > 0 is not a bounded interval in {x}")
    lo, hi = roots
    gap = sp.factor(sp.cancel((hi - lo).subs(sub)))
    if gap.is_negative:
        lo, hi = hi, lo
    elif not gap.is_positive:
        raise ArithmeticError(f"cannot order the roots {roots}")
    return lo, hi


def _with_explicit(res: StabilityCondition, explicit, why: str, general: bool = True) -> StabilityCondition:
    steps = res.steps + (Step(r"\text{stable}", explicit, why, relation="iff"),)
    meta = dict(res.meta)
    meta["explicit"] = explicit
    necessary = tuple(sp.And.make_args(explicit)) if general else res.necessary
    return StabilityCondition(res.quantity, res.expr, steps, res.lhs, meta, optimizer=res.optimizer,
                              necessary=necessary, kind=res.kind)


@lru_cache(maxsize=None)
def quasi_newton_stability() -> StabilityCondition:
    r"""Quasi-Newton :math:`x_{k+1} = x_k - h D^{-1}\nabla f(x_k)`, :math:`D \succ 0`, :math:`H \succeq 0`.

    Linearized: :math:`x_{k+1} = (I - h D^{-1}H)x_k`.  :math:`D^{-1}H =
    D^{-1/2}(D^{-1/2}HD^{-1/2})D^{1/2}` is similar to a symmetric PSD matrix,
    so its eigenvalues :math:`\mu` are real and nonnegative; each gives the GD
    multiplier :math:`1 - h\mu`, whence :math:`\lambda_{\max}(D^{-1}H) \le 2/h`.

    >>> str(quasi_newton_stability().expr)
    'lambda_max <= 2/h'
    """
    gd = gd_stability()
    steps = (Step("x_{k+1}", r"(I - h D^{-1} H) x_k", "linearize at the minimum"),
             Step("D^{-1}H", r"D^{-1/2}\,(D^{-1/2} H D^{-1/2})\,D^{1/2}", "similar to a symmetric PSD matrix"),
             Step(r"\mu", r"\mathrm{spec}(D^{-1}H) \subset [0, \infty)", "so the eigenvalues are real and nonnegative", relation=":"),
             ) + gd.steps[1:3] + (
             Step(r"\lambda_{\max}(D^{-1}H)", 2 / ETA, "apply to every eigenvalue mu of the inverse of D times H", relation="<="),)
    return StabilityCondition("stability", gd.expr, steps, optimizer="quasi-newton", necessary=gd.necessary,
                              kind="exact", meta={"lambda_max": "largest eigenvalue of D^{-1} H",
                                                  "per_direction": gd.meta["per_direction"]})


@lru_cache(maxsize=None)
def general_optimizer_stability() -> StabilityCondition:
    r"""Linear stability of :math:`x_{t+1} = x_t - h G(x_t; \xi_t)` at :math:`x^*`
    with :math:`G(x^*; \xi) = 0` for every :math:`\xi` (over-parameterized case).

    With :math:`A_\xi = \nabla_x G(x^*;\xi)` and :math:`B_\xi = I - h A_\xi`:

    * mean: :math:`\mathbb E x_{t+1} = \mathbb E[B_\xi]\,\mathbb E x_t`, so
      :math:`\rho(I - h\,\mathbb E A_\xi) \le 1` is **necessary**;
    * second moments :math:`M_t = \mathbb E x_tx_t^T` obey :math:`M_{t+1} = \mathbb E[B_\xi M_t B_\xi^T]`,
      a linear map with matrix :math:`\mathcal L = \mathbb E[B_\xi \otimes B_\xi]`;
      :math:`\rho(\mathcal L) \le 1` is the **exact** mean-square condition
      (:math:`< 1` for convergence);
    * :math:`\lambda_{\max}(\mathbb E[B_\xi^TB_\xi]) \le 1` (the lecture's condition) is
      **sufficient**: :math:`\mathbb E\|x_{t+1}\|^2 = \mathbb E\, x_t^T \mathbb E[B^TB] x_t
      \le \lambda_{\max}\,\mathbb E\|x_t\|^2`.  It is not necessary unless the
      :math:`A_\xi` commute.

    >>> general_optimizer_stability().kind
    'sufficient'
    """
    rho_mean, rho_L, lam_BB = sp.symbols("rho_mean rho_L lambda_max_EBtB", nonnegative=True)
    steps = (
        Step("x_{t+1}", r"x_t - h A_{\xi_t}(x_t - x^*) =: x^* + B_{\xi_t}(x_t - x^*)",
             "linearize, using that G vanishes at the minimum for every xi"),
        Step(r"\mathbb{E}x_{t+1}", r"(I - h\,\mathbb{E}A_\xi)\,\mathbb{E}x_t", "xi_t independent of x_t"),
        Step(r"\rho_{\mathrm{mean}}", r"\rho(I - h\,\mathbb{E}A_\xi) \le 1", "necessary, by Jensen inequality for the mean",
             relation=":"),
        Step(r"\operatorname{vec} M_{t+1}", r"\mathbb{E}[B_\xi\otimes B_\xi]\operatorname{vec}M_t",
             "second moments evolve linearly"),
        Step(r"\rho_{\mathcal L}", r"\rho(\mathbb{E}[B_\xi\otimes B_\xi]) \le 1", "exact mean-square condition",
             relation=":"),
        Step(r"\mathbb{E}\|x_{t+1}\|^2", r"\mathbb{E}\,x_t^T\,\mathbb{E}[B_\xi^TB_\xi]\,x_t \le "
             r"\lambda_{\max}(\mathbb{E}[B_\xi^TB_\xi])\,\mathbb{E}\|x_t\|^2", "Rayleigh quotient"),
    )
    cond = sp.Le(lam_BB, 1)
    return StabilityCondition("stability", cond, steps, optimizer="general",
                              necessary=(sp.Le(rho_mean, 1), sp.Le(rho_L, 1)), kind="sufficient",
                              meta={"exact": sp.Le(rho_L, 1)})
