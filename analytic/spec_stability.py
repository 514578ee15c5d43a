r"""Linear stability of *any* optimizer spec at a minimum, read off the spec's own ``step``.

**Linearization.**  A spec (:mod:`analytic.optimizers`, or a user-typed method)
is a map :math:`(x, w) \mapsto (x', w')` of the iterate and its flattened state
(velocity, moments, moving averages).  On :math:`E = \tfrac12\lambda x^2`, one
eigendirection of a Hessian :math:`H`, the gradient is :math:`\lambda p`;
:func:`state_map_jacobian` runs ``spec.step`` once on the exact namespace
:data:`~analytic.namespace.SYMPY` with a symbol for :math:`x` and for every
state entry and differentiates exactly at the minimum :math:`x = 0`, :math:`w = 0`
(a fixed point, which is checked).  Since every rule is built from the
gradient, linear combinations and elementwise operations, the linear map on
:math:`\mathbb R^d \times` states is the 1-D Jacobian with :math:`\lambda`
replaced by :math:`H`; its spectrum is the union over the eigenvalues of
:math:`H` of the roots of the 1-D characteristic polynomial
:math:`p(z;\lambda) = \det(zI - J(\lambda))`, so stability in every direction
is the Schur--Cohn test on :math:`p` (:func:`spec_stability`), and for a
given matrix :func:`spectral_radius_condition` decides
:math:`\rho < 1` exactly through the resultant
:math:`\operatorname{Res}_\lambda(\chi_H(\lambda), p(z;\lambda)) = \prod_i p(z;\lambda_i)`.

**Non-smooth points, handled explicitly.**  Only ``Abs``, ``sign``,
``Heaviside`` and fractional powers of the variables may occur.  Write the map
as :math:`G(v, a(v))` with :math:`a` the non-smooth atoms that vanish at the
point :math:`p^*` and :math:`G` smooth.  If :math:`\partial G/\partial a = 0` at
:math:`p^*` and each atom is *calm* there (:math:`|a(v)| \le C\|v - p^*\|`:
:math:`|q|` for smooth :math:`q`; :math:`q^e` when :math:`q` vanishes to order
:math:`\ge 1/e`), or :math:`a(v) = o(\|v - p^*\|)` whatever :math:`\partial G/\partial a`,
then :math:`G(v, a(v)) - G(v, 0) = o(\|v - p^*\|)` and the
Jacobian is :math:`\partial G/\partial v` at :math:`a = 0`.  A calm atom with
:math:`\partial G/\partial a \ne 0` (:math:`|g|`, :math:`\sqrt{|g|}`) makes the
rule non-differentiable, a jump (``sign``) too; an atom that is not calm with
:math:`\partial G/\partial a = 0` is refused conservatively.  Either way an
:class:`~analytic.errors.InputError` is raised; a rule undefined at the minimum
(normalized SAM's :math:`g/\|g\|`, :math:`0/0`) is rejected the same way.

**Preconditioned form.**  RMSProp's :math:`s' = \rho s + (1-\rho)g^2` enters as
:math:`\sqrt{s'}`, which is not calm in :math:`s` at :math:`s = 0`.  Such
entries are *frozen*: removed from the variables, held so that the value the
step reads is :math:`s^*` (the input solves :math:`s'(x{=}0) = s^*`), and their
own rates :math:`\partial s'/\partial s` kept as separate roots (their rows do
not depend on :math:`x` at first order, :math:`\partial s'/\partial x = 2(1-\rho)g\,\lambda = 0`,
which is checked, so the spectrum is block triangular).  With :math:`s^* = 0`,
the default and the true fixed point, the effective step is :math:`h/\epsilon`;
with :math:`s^* > 0` (``frozen={"s": S_STAR}``) it is :math:`h/(\sqrt{s^*}+\epsilon)`, the
quasi-static *preconditioned sharpness* condition of Cohen et al. (2022):
RMSProp stable iff :math:`\lambda/(\sqrt{s^*}+\epsilon) < 2/h`, Adam iff
:math:`\lambda/(\sqrt{s^*}+\epsilon) < (2+2\beta_1)/((1-\beta_1)h)`.

**Counters.**  A state entry that ``init`` returns as a Python ``int`` (Adam's
:math:`k`) is a parameter, not a variable: it adds no root (no factor
:math:`z` or :math:`z - 1`).  ``counter="asymptotic"`` (default) takes the run
far in, every power :math:`c^k` with :math:`|c| < 1` replaced by 0 (so
:math:`1-\beta^k \to 1`; symbolic bases are assumed in :math:`(-1, 1)`, as the
specs require of numbers); an integer ``counter = n`` linearizes the step taken
after :math:`n` steps.

References: Jury, "Theory and Application of the z-Transform Method" (1964),
Ch. 3; Cohen et al., "Adaptive gradient methods at the edge of stability",
arXiv:2207.14484 (2022), Sec. 2; Foret et al., "Sharpness-aware minimization",
ICLR 2021; Cox, Little & O'Shea, "Ideals, Varieties, and Algorithms", Ch. 3 Sec. 6
(resultants).
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from fractions import Fraction

import sympy as sp

from .budget import with_budget
from .errors import ImplregError, InputError
from .namespace import SYMPY
from .result import Result, Step
from .stability import (ETA, FACTOR_SECONDS, LAMBDA, X_STEP, Z, StabilityCondition, _drop_even_factors,
                        _positive_interval, schur_cohn)
from .values import exact_value

__all__ = ["S_STAR", "state_map_jacobian", "spec_characteristic_polynomial", "spec_stability",
           "spectral_radius_condition"]

#: the frozen value of a second-moment state (the preconditioner is sqrt(s_star) + eps)
S_STAR = sp.Symbol("s_star", positive=True)
#: largest step count accepted for ``counter``, and largest dimension for ``H``
MAX_COUNTER, MAX_DIM = 1000, 8
_JUMPS = (sp.sign, sp.Heaviside, sp.floor, sp.ceiling)
_UNSUPPORTED = (sp.Min, sp.Max, sp.Piecewise)


# ---------------------------------------------------------------------------
# running the spec once
# ---------------------------------------------------------------------------
def _leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for t in tree for leaf in _leaves(t)]
    return [tree]


def _rebuild(tree, values):
    if isinstance(tree, (tuple, list)):
        return tuple(_rebuild(t, values) for t in tree)
    return next(values)


def _is_counter(leaf) -> bool:
    return isinstance(leaf, numbers.Integral) and not isinstance(leaf, (bool, sp.Basic))


def _check_spec(spec):
    if isinstance(spec, type) or not (callable(getattr(spec, "init", None)) and callable(getattr(spec, "step", None))):
        raise InputError("spec", spec, "must be an optimizer spec with init(x, ns) and step(state, x, grad, ns)")


def _run_step(spec, lam):
    """Symbols for x and the flattened state, and the step's outputs on E = lam x^2/2."""
    x = sp.Dummy("x", real=True)
    lam_d = sp.Dummy("lambda", real=True)
    try:
        init = spec.init(x, SYMPY)
        leaves = _leaves(init)
        names = tuple(getattr(spec, "state_names", ()) or ())
        if len(names) != len(leaves) or len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
            names = tuple(f"w{i}" for i in range(len(leaves)))
        syms = [sp.Dummy(n, integer=True, nonnegative=True) if _is_counter(v) else sp.Dummy(n, real=True)
                for n, v in zip(names, leaves)]
        new_state, x_new = spec.step(_rebuild(init, iter(syms)), x, lambda p: lam_d * p, SYMPY)
        out = [_scalar(o) for o in [x_new] + _leaves(new_state)]
    except ImplregError:
        raise
    except Exception as exc:  # noqa: BLE001 - a user rule may fail in any way: report it as bad input
        raise InputError("spec", spec, f"its step does not run on exact SymPy scalars ({type(exc).__name__}: {exc})") \
            from None
    if len(out) != len(leaves) + 1 or not all(isinstance(o, sp.Expr) for o in out):
        raise InputError("spec", spec, "its step must return the state in the shape init gives, with scalar entries")
    used = {s.name for o in out for s in o.free_symbols if not isinstance(s, sp.Dummy)}
    if isinstance(lam, sp.Basic) and {s.name for s in lam.free_symbols} & used:
        raise InputError("lam", lam, "is also the name of a hyperparameter of the spec")
    return x, names, leaves, syms, [o.subs(lam_d, lam) for o in out]


def _scalar(value):
    """A state entry as a SymPy scalar (never parsed from text); anything else is rejected by the caller."""
    if _is_counter(value):
        return sp.Integer(int(value))
    return value


def _counter(counter):
    if isinstance(counter, str) and counter == "asymptotic":
        return counter
    if isinstance(counter, numbers.Integral) and not isinstance(counter, bool) and 0 <= counter <= MAX_COUNTER:
        return int(counter)
    raise InputError("counter", counter, f"must be 'asymptotic' or a step count between 0 and {MAX_COUNTER}")


def _asymptotic(expr, kappas):
    def vanish(e):
        if e.base.is_number and not bool(abs(e.base) < 1):
            raise InputError("counter", "asymptotic", f"the power {e} does not vanish as the step count grows")
        return sp.Integer(0)
    expr = expr.replace(lambda e: e.is_Pow and e.exp.has(*kappas) and not e.base.has(*kappas), vanish)
    if expr.has(*kappas):
        raise InputError("counter", "asymptotic", "the step reads the step count other than through powers c**k")
    return expr


# ---------------------------------------------------------------------------
# exact values and non-smooth atoms
# ---------------------------------------------------------------------------
def _value(spec, expr, point):
    v = (sp.Integer(expr) if isinstance(expr, int) else expr).subs(point)
    if v.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        raise InputError("spec", spec, "is not defined at the minimum x = 0: it divides by a quantity that vanishes "
                                       "there (e.g. a normalized gradient g/|g|)")
    return sp.cancel(sp.together(v))


def _vanishes(spec, expr, point):
    """True/False, or None when SymPy cannot decide (after a budgeted simplify)."""
    v = _value(spec, expr, point)
    if v.is_zero is None:
        v = with_budget(sp.simplify, FACTOR_SECONDS, "simplifying a value at the minimum", v, fallback=v)
    return v.is_zero


def _atoms(exprs, variables):
    """The non-smooth atoms (Abs, sign, fractional powers...) of the variables in ``exprs``."""
    found = set()
    for e in exprs:
        for a in sp.preorder_traversal(e):
            if not isinstance(a, sp.Basic) or not (a.free_symbols & variables):
                continue
            if isinstance(a, _UNSUPPORTED):
                raise InputError("spec", a.func.__name__, "is not supported by the linearization (use Abs or sqrt)")
            if isinstance(a, (sp.Abs,) + _JUMPS) or (a.is_Pow and not a.exp.is_Integer):
                found.add(a)
    return found


def _argument(atom):
    return atom.base if atom.is_Pow else atom.args[0]


def _vanishing_atoms(spec, exprs, variables, point):
    out = []
    for atom in _atoms(exprs, variables):
        zero = _vanishes(spec, _argument(atom), point)
        if zero is None:
            raise InputError("spec", spec, f"cannot decide whether {_argument(atom)} vanishes at the minimum")
        if zero:
            out.append(atom)
    return out


def _order(spec, atom, point, variables, vanishing):
    """A lower bound on the order r of |atom(v)| = O(|v - p|**r) near the point (1: calm)."""
    arg = _argument(atom)
    if atom.is_Pow and isinstance(arg, sp.Abs):
        arg = arg.args[0]                                    # |q|**e vanishes like q**e
    if isinstance(atom, _JUMPS) or (atom.is_Pow and atom.exp.free_symbols & set(variables)):
        raise InputError("spec", spec, f"is not differentiable at the minimum: {atom} jumps there")
    if any(arg.has(b) for b in vanishing if b != atom):
        raise InputError("spec", spec, f"cannot certify differentiability at the minimum: nested non-smooth {atom}")
    e = atom.exp if atom.is_Pow else sp.Integer(1)
    if not (e.is_number and e.is_positive):
        raise InputError("spec", spec, f"is not defined at the minimum: {atom} with a vanishing base")
    j, derivs = 1, [arg]
    while j * e <= 1 and j < 4:                              # the smooth q vanishes to order >= j
        derivs = [sp.diff(d, v) for d in derivs for v in variables]
        if not all(_vanishes(spec, d, point) for d in derivs):
            break
        j += 1
    return j * e


# ---------------------------------------------------------------------------
# the Jacobian
# ---------------------------------------------------------------------------
def _frozen(frozen, names, counters):
    if frozen is None:
        return {}
    if not isinstance(frozen, Mapping):
        raise InputError("frozen", frozen, "must be a mapping from state names to values")
    out = {}
    for key, value in frozen.items():
        if key not in names or names.index(key) in counters:
            raise InputError("frozen", key, f"must name a state entry of the spec ({', '.join(names) or 'none'})")
        v = exact_value(value, "frozen", symbol={"positive": True})
        if v.is_nonnegative is not True:
            raise InputError("frozen", {key: value}, "a held second moment must be a number >= 0 or a "
                                                     "nonnegative symbol")
        out[names.index(key)] = v
    return out


def _frozen_inputs(spec, out, fixed, names, syms, point):
    """Inputs sigma of the frozen entries such that the step leaves s* in them at the minimum."""
    unknown = [syms[i] for i in fixed]
    eqs = [sp.expand(out[i + 1].subs(point) - v) for i, v in fixed.items()]
    if all(_vanishes(spec, e, {u: 0 for u in unknown}) for e in eqs):
        return {u: sp.Integer(0) for u in unknown}
    sols = sp.solve(eqs, unknown, dict=True)
    if len(sols) != 1 or set(sols[0]) != set(unknown):
        raise InputError("frozen", {names[i]: v for i, v in fixed.items()},
                         "no unique state value makes the step read these values at the minimum")
    return sols[0]


def state_map_jacobian(spec, lam=LAMBDA, *, frozen=None, counter="asymptotic") -> Result:
    r"""The exact Jacobian of one step :math:`(x, w) \mapsto (x', w')` at the minimum of
    :math:`E = \tfrac12\lambda x^2` (see the module docstring for the method).

    ``expr`` is the matrix over :math:`x` and the non-frozen state entries
    (``meta["variables"]``); ``meta["rates"]`` is the block of the frozen entries,
    ``meta["frozen"]`` their values :math:`s^*`.  ``frozen`` maps state names to
    values (numbers, :data:`S_STAR`); entries read through a non-calm square root
    are frozen at 0 unless given.  ``counter``: ``"asymptotic"`` or a step count.

    >>> from analytic.optimizers import HeavyBall, RMSProp
    >>> from analytic.stability import BETA, ETA
    >>> state_map_jacobian(HeavyBall(ETA, BETA)).expr
    Matrix([
    [-h*lambda + 1, beta],
    [    -h*lambda, beta]])
    >>> j = state_map_jacobian(RMSProp(ETA, eps="1/10"), frozen={"s": S_STAR})
    >>> j.expr, j.meta["rates"]
    (Matrix([[-(10*h*lambda - 10*sqrt(s_star) - 1)/(10*sqrt(s_star) + 1)]]), Matrix([[9/10]]))
    """
    _check_spec(spec)
    lam = exact_value(lam, "lam", symbol={"real": True})
    counter = _counter(counter)
    x, names, leaves, syms, out = _run_step(spec, lam)
    counters = {i for i, v in enumerate(leaves) if _is_counter(v)}
    states = [i for i in range(len(leaves)) if i not in counters]
    kappas = [syms[i] for i in counters]
    real_vars = {x} | {syms[i] for i in states}
    for i in counters:
        if out[i + 1].free_symbols & real_vars:
            raise InputError("spec", spec, f"its counter {names[i]} depends on the iterate or the state")
    if kappas:
        keep = [0] + [i + 1 for i in states]           # the counters' own outputs are not read
        out = [o if j not in keep else _asymptotic(o, kappas) if counter == "asymptotic"
               else o.subs({k: counter for k in kappas}) for j, o in enumerate(out)]
    fixed = _frozen(frozen, names, counters)
    zero = {v: 0 for v in real_vars}
    for atom in _vanishing_atoms(spec, [out[0]] + [out[i + 1] for i in states], real_vars, zero):
        fixed.update({i: sp.Integer(0) for i in states if atom.has(syms[i]) and i not in fixed})
    free = [i for i in states if i not in fixed]
    point = {x: 0, **{syms[i]: 0 for i in free}}
    sigma = _frozen_inputs(spec, out, fixed, names, syms, point) if fixed else {}
    held = [o.subs(sigma) for o in out]               # the map of (x, free entries), frozen entries held
    variables = [x] + [syms[i] for i in free]
    for j in [0] + [i + 1 for i in free]:
        if not _vanishes(spec, held[j], point):
            what = "x" if j == 0 else names[j - 1]
            raise InputError("spec", spec, f"x = 0 with zero state is not a fixed point: {what} moves")
    rows, frozen_rows = [0] + [i + 1 for i in free], [i + 1 for i in fixed]
    vanishing = _vanishing_atoms(spec, [held[j] for j in rows + frozen_rows], set(variables), point)
    alphas = {a: sp.Dummy("a") for a in vanishing}
    at = {**point, **{al: 0 for al in alphas.values()}}
    G = [o.xreplace(alphas) for o in held]
    for a, al in alphas.items():          # F = G(v, a(v)): drop the a-terms if dG/da = 0 and a is calm
        order = _order(spec, a, point, variables, vanishing)
        if any(G[j].has(al) for j in frozen_rows):
            raise InputError("frozen", names[frozen_rows[0] - 1], "a frozen entry must be smooth at the minimum")
        if not all(_vanishes(spec, sp.diff(G[j], al), at) for j in rows):
            if order <= 1:
                raise InputError("spec", spec, f"is not differentiable at the minimum: it depends on {a} at first order")
        elif order < 1:
            raise InputError("spec", spec, f"cannot certify differentiability at the minimum: {a} of a quantity "
                                           "vanishing to first order (a state entry? frozen=...)")

    def jac(exprs, cols, where):
        return sp.Matrix(len(exprs), len(cols), lambda r, c: _tidy_entry(_value(spec, sp.diff(exprs[r], cols[c]), where)))
    J = jac([G[j] for j in rows], variables, at)
    if any(_vanishes(spec, c, at) is not True for c in jac([G[j] for j in frozen_rows], variables, at)):
        raise InputError("frozen", [names[i] for i in fixed], "a frozen entry is driven by the iterate at first order")
    rates = jac([out[j] for j in frozen_rows], [syms[i] for i in fixed], {**point, **sigma})
    show = {s: sp.Symbol(f"{n}_k") for s, n in zip(syms, names)} | {x: sp.Symbol("x_k")}
    steps = [Step("x_{k+1}", out[0].xreplace(show), "one step of the spec, gradient lambda p of E = lambda x squared / 2")]
    steps += [Step(f"{names[i]}_{{k+1}}", out[i + 1].xreplace(show), "the state entry after the step") for i in states]
    steps.append(Step("J", J, "exact derivative at x = 0 with zero state" +
                      (", frozen entries held (their rows do not feed back)" if fixed else "")))
    meta = {"variables": ("x",) + tuple(names[i] for i in free), "frozen": {names[i]: v for i, v in fixed.items()},
            "rates": rates, "counter": counter, "counters": tuple(names[i] for i in counters)}
    return Result("state-map-jacobian", J, tuple(steps), lhs="J", meta=meta)


def _tidy_entry(e):
    return with_budget(sp.factor, FACTOR_SECONDS, "factoring a Jacobian entry", e, fallback=e)


def _tidy(poly):
    """A monic polynomial in z: collected if its coefficients are polynomials, else factored coefficients."""
    p = sp.Poly(sp.together(poly), Z)
    lc = p.LC()
    coeffs = [sp.cancel(c / lc) for c in p.all_coeffs()]
    n = len(coeffs) - 1
    if all(not sp.fraction(c)[1].free_symbols for c in coeffs):
        return sp.collect(sp.expand(sum(c * Z ** (n - i) for i, c in enumerate(coeffs))), Z)
    return sp.Add(*[_tidy_entry(c) * Z ** (n - i) for i, c in enumerate(coeffs)])


def spec_characteristic_polynomial(spec, lam=LAMBDA, *, frozen=None, counter="asymptotic", drop=True) -> Result:
    r"""The characteristic polynomial :math:`\det(zI - J)\det(zI - R)` of the linearized step
    (:math:`J` from :func:`state_map_jacobian`, :math:`R` the frozen rates).

    With ``drop`` (default) ``expr`` keeps the factors that involve :math:`\lambda`;
    the others (an EMA's :math:`z - \delta`, RMSProp's :math:`z - \rho`) do not depend
    on the curvature and go to ``meta["dropped"]`` (``spec_stability`` still
    requires them to be Schur stable).  ``meta["full"]`` is the whole polynomial.

    >>> from analytic.optimizers import EMA, GD
    >>> from analytic.stability import ETA
    >>> cp = spec_characteristic_polynomial(EMA(ETA, GD(ETA), "1/2"))
    >>> cp.expr, cp.meta["dropped"]
    (h*lambda + z - 1, (z - 1/2,))
    """
    jac = state_map_jacobian(spec, lam, frozen=frozen, counter=counter)
    J, R = jac.expr, jac.meta["rates"]
    det = (Z * sp.eye(J.rows) - J).det(method="berkowitz") * (Z * sp.eye(R.rows) - R).det(method="berkowitz")
    full = _tidy(det)
    kept, dropped = full, []
    if drop and isinstance(lam, sp.Symbol):
        _, factors = with_budget(sp.factor_list, FACTOR_SECONDS, "factoring a characteristic polynomial",
                                 full, Z, fallback=(1, [(full, 1)]))
        kept = sp.Integer(1)
        for f, power in factors:
            if sp.Poly(f, Z).degree() < 1:
                continue
            if f.has(lam):
                kept *= _tidy(f) ** power
            else:
                dropped += [_tidy(f)] * power
        kept = _tidy(kept) if kept != 1 else kept
    steps = jac.steps + (Step("p(z)", full, "determinant of z I - J, times that of the frozen rates"),)
    if dropped:
        steps += (Step(r"p_\lambda(z)", kept, "the factors that involve lambda; the others do not see the curvature"),)
    meta = dict(jac.meta, full=full, dropped=tuple(dropped), jacobian=J)
    return Result("characteristic-polynomial", kept, steps, lhs="p(z)", meta=meta)


# ---------------------------------------------------------------------------
# regions
# ---------------------------------------------------------------------------
def _renaming(spec, poly):
    h = getattr(spec, "h", None)
    if any(s.name == ETA.name and s != h for s in poly.free_symbols):
        raise InputError("spec", spec, "uses the symbol h for a hyperparameter other than its step size")
    if not isinstance(h, sp.Symbol) or h == ETA:
        return {}
    return {h: ETA}


def _explicit(reduced):
    """The conditions solved for h*lambda (or lambda) when SymPy can order the roots, else None."""
    conds = [sp.cancel(r.subs(LAMBDA, X_STEP / ETA)) for r in reduced]
    var, back = X_STEP, {X_STEP: ETA * LAMBDA}
    if any(c.has(ETA) for c in conds) or not any(c.has(X_STEP) for c in conds):
        var, back, conds = LAMBDA, {}, list(reduced)
    dep = [c for c in conds if c.has(var)]
    rest = [sp.StrictGreaterThan(c, 0) for c in conds if not c.has(var)]
    if not dep:
        return None
    try:
        if not set().union(*(c.free_symbols for c in dep)) - {var}:
            region = sp.reduce_inequalities([sp.StrictGreaterThan(c, 0) for c in dep], var)
        elif len(dep) == 1:
            lo, hi = _positive_interval(dep[0], var, {})
            region = sp.And(sp.StrictLessThan(lo, var), sp.StrictLessThan(var, hi))
        else:
            return None
    except (ArithmeticError, NotImplementedError, TypeError, ValueError):
        return None
    return sp.And(*rest, region.subs(back))


def _numerator(poly):
    """``poly`` times its z-free denominator c: the Schur-Cohn conditions only gain factors c**2 > 0."""
    return sp.expand(sp.fraction(sp.together(poly))[0])


def _square_roots(exprs):
    """sigma -> r**2 for the positive symbols read through sqrt (r > 0: exact, and SymPy factors in r)."""
    found = {a.base for e in exprs for a in e.atoms(sp.Pow)
             if isinstance(a.base, sp.Symbol) and a.base.is_positive and a.exp.is_Rational and a.exp.q == 2}
    roots = {s: sp.Dummy(f"sqrt_{s.name}", positive=True) for s in found}
    return {s: r**2 for s, r in roots.items()}, {r: sp.sqrt(s) for s, r in roots.items()}


def _region(spec, cp, name):
    ren = _renaming(spec, cp.meta["full"])
    fwd, back = _square_roots([cp.meta["full"]])
    kept = cp.expr.subs(ren).subs(fwd)
    dropped = [d.subs(ren).subs(fwd) for d in cp.meta["dropped"]]
    steps = []
    reduced, sc = [], ()
    if sp.Poly(kept, Z).degree() >= 1:
        res = schur_cohn(_numerator(kept), Z)
        sc = res.expr
        reduced, even = _drop_even_factors(sc)
        steps += list(res.steps[1:])
        if even:
            steps.append(Step(r"\text{drop}", sp.Tuple(*[d**2 for d in even]),
                              "positive, since their zeros violate the earlier conditions", relation=":"))
    params = [sp.StrictGreaterThan(c, 0) for d in dropped for c in schur_cohn(_numerator(d), Z).expr]
    necessary = tuple(sp.StrictGreaterThan(r, 0) for r in reduced) + tuple(params)
    cond = sp.And(*necessary)
    steps.append(Step(r"\text{stable}", cond, "Schur-Cohn conditions, reduced, with those of the dropped factors",
                      relation="iff"))
    explicit = _explicit(reduced)
    if explicit is not None:
        explicit = sp.And(explicit, *params)
        steps.append(Step(r"\text{stable}", explicit, "solved for h lambda where the roots can be ordered",
                          relation="iff"))

    def out(e):
        return e.subs(back) if isinstance(e, sp.Basic) else e
    steps = list(cp.steps) + [Step(s.lhs, out(s.rhs), s.why, s.relation) for s in steps]
    stochastic = getattr(spec, "sampling", None) is not None
    meta = {"charpoly": cp.expr.subs(ren), "schur_cohn": tuple(out(c) for c in sc),
            "reduced": tuple(out(r) for r in reduced), "dropped": tuple(out(d) for d in dropped),
            "parameter_conditions": tuple(out(c) for c in params), "jacobian": cp.meta["jacobian"].subs(ren),
            "frozen": cp.meta["frozen"], "counter": cp.meta["counter"], "step": getattr(spec, "h", None),
            "full": cp.meta["full"].subs(ren)}
    if explicit is not None:
        meta["explicit"] = out(explicit)
    return StabilityCondition("stability", out(cond), tuple(steps), optimizer=name,
                              necessary=tuple(out(c) for c in necessary),
                              kind="necessary" if stochastic else "exact", meta=meta)


def _name(spec, name):
    if name is None:
        return str(getattr(spec, "name", type(spec).__name__)).lower()
    if not isinstance(name, str) or not name.strip():
        raise InputError("name", name, "must be a non-empty string")
    return name


def spec_stability(spec, name=None, *, frozen=None, counter="asymptotic") -> StabilityCondition:
    r"""The region of linear stability of any spec, in :math:`h\lambda`: the Schur--Cohn
    conditions on :func:`spec_characteristic_polynomial` (the spec's step symbol is
    renamed :data:`~analytic.stability.ETA`; squared factors kept nonzero by earlier
    conditions are removed) and on the dropped curvature-free factors.

    ``meta["explicit"]`` solves the conditions for :math:`h\lambda` (or for
    :math:`\lambda`) when SymPy can order the roots.  For a stochastic spec the
    linearization is that of the mean iterate, so the condition is ``necessary``
    (mean-square stability: :mod:`analytic.sgd_stability`).

    >>> from analytic.optimizers import SAM, Adam
    >>> str(spec_stability(SAM("h", "1/2")).expr)
    '-h*lambda*(lambda + 2)*(h*lambda**2 + 2*h*lambda - 4) > 0'
    >>> str(spec_stability(Adam("h", eps="1/10")).meta["explicit"])
    '(0 < h*lambda) & (h*lambda < 19/5)'
    """
    name = _name(spec, name)
    return _region(spec, spec_characteristic_polynomial(spec, LAMBDA, frozen=frozen, counter=counter), name)


def _symmetric(H):
    rows = H.tolist() if isinstance(H, sp.MatrixBase) else H
    if not isinstance(rows, (list, tuple)) or not rows or not all(isinstance(r, (list, tuple)) for r in rows):
        raise InputError("H", H, "must be a square symmetric matrix (a list of rows)")
    d = len(rows)
    if d > MAX_DIM or any(len(r) != d for r in rows):
        raise InputError("H", H, f"must be a square matrix of size at most {MAX_DIM}")
    M = sp.Matrix(d, d, [exact_value(v, "H") for r in rows for v in r])
    if M != M.T:
        raise InputError("H", H, "must be symmetric")
    return M


def _schur_stable(poly) -> bool:
    """All roots in |z| < 1, decided exactly (the Schur-Cohn recursion; Fractions for rational coefficients)."""
    p = sp.Poly(poly, Z)
    if p.degree() < 1:
        return True
    coeffs = p.all_coeffs()
    if not all(c.is_Rational for c in coeffs):
        return all(bool(c > 0) for c in schur_cohn(p.as_expr(), Z).expr)
    a = [Fraction(int(c.p), int(c.q)) for c in coeffs]            # leading coefficient first
    while len(a) > 1:
        an, a0 = a[0], a[-1]
        if an * an <= a0 * a0:
            return False
        a = [an * u - a0 * w for u, w in zip(a, reversed(a))][:-1]   # (an p - a0 p*)/z
    return True


def _certified_radius(poly):
    """(rho, certified): rho from roots, certified when rho(1 -+ 1e-20) brackets it exactly."""
    p = sp.Poly(sp.sqf_part(poly), Z)
    if p.degree() < 1:
        return sp.Integer(0), True
    rho = max(abs(r) for r in p.nroots(n=40, maxsteps=200))
    for tol in (sp.Rational(1, 10**20), sp.Rational(1, 10**12), sp.Rational(1, 10**6)):
        sign, man, exp, _ = sp.Float(rho, 40)._mpf_         # its exact binary value
        r0 = sp.Integer(-man if sign else man) * sp.Integer(2) ** exp
        hi, lo = r0 * (1 + tol), r0 * (1 - tol)
        if _schur_stable(p.as_expr().subs(Z, hi * Z)) and (lo <= 0 or not _schur_stable(p.as_expr().subs(Z, lo * Z))):
            return sp.Float(rho, 30), True
    return sp.Float(rho, 30), False


def spectral_radius_condition(spec, H, name=None, *, frozen=None, counter="asymptotic") -> StabilityCondition:
    r"""Stability of the spec at a minimum with Hessian ``H`` (exact, symmetric):
    :math:`\rho < 1` for the linear map on :math:`\mathbb R^d \times` states.

    Its characteristic polynomial is the resultant
    :math:`\operatorname{Res}_\lambda(\chi_H, p(z;\lambda)) = \prod_i p(z;\lambda_i)`
    (``meta["charpoly"]``, exact, degree :math:`d\cdot n`); ``expr`` is the
    conjunction of the :func:`spec_stability` conditions at the eigenvalues of
    ``H``.  With numeric hyperparameters it is ``True``/``False``, checked
    against the exact Schur--Cohn test of the resultant, and ``meta["rho"]`` is
    the spectral radius, ``meta["certified"]`` whether exact Schur--Cohn tests
    of :math:`p(r z)` bracket it to a relative :math:`10^{-20}`.

    >>> from analytic.optimizers import HeavyBall
    >>> c = spectral_radius_condition(HeavyBall("1/2", "1/2"), [[2, 1], [1, 2]])
    >>> c.expr, round(float(c.meta["rho"]), 6), c.meta["certified"]
    (True, 0.707107, True)
    """
    name = _name(spec, name)
    M = _symmetric(H)
    cp = spec_characteristic_polynomial(spec, LAMBDA, frozen=frozen, counter=counter)
    region = _region(spec, cp, name)
    full = cp.meta["full"]
    try:
        sp.Poly(full, Z, LAMBDA)
    except sp.PolynomialError:
        raise InputError("spec", spec, "its characteristic polynomial is not polynomial in lambda") from None
    chi = sp.expand((LAMBDA * sp.eye(M.rows) - M).det(method="berkowitz"))   # charpoly() would drop lambda's assumptions
    res = _tidy(sp.resultant(chi, sp.expand(full), LAMBDA))
    eig = {}
    for ev in sp.Poly(chi, LAMBDA).real_roots():       # exact (CRootOf): H is symmetric, all roots real
        eig[ev] = eig.get(ev, 0) + 1
    ren = _renaming(spec, full)
    cond = sp.And(*[region.expr.subs(LAMBDA, ev) for ev in eig])
    steps = (Step(r"\chi_H(\lambda)", chi, "characteristic polynomial of H"),
             Step(r"P(z)", res, "resultant in lambda of chi_H and p: the product of p(z, lambda_i)"),
             Step(r"\text{stable}", cond, "the one-direction conditions at every eigenvalue of H", relation="iff"))
    meta = {"charpoly": res.subs(ren), "eigenvalues": eig, "direction": region.expr, "rho": None,
            "certified": False}
    if not res.free_symbols - {Z}:
        verdict = _schur_stable(res)
        if cond in (sp.true, sp.false) and bool(cond) != verdict:   # pragma: no cover - a derivation bug
            raise ArithmeticError(f"the eigenvalue conditions {cond} disagree with Schur-Cohn on {res}")
        cond = sp.true if verdict else sp.false          # exact even where the signs at CRootOf stay undecided
        meta["rho"], meta["certified"] = _certified_radius(res)
        steps += (Step(r"\rho", meta["rho"], "largest root modulus of P, bracketed by exact Schur-Cohn tests"),)
    return StabilityCondition("stability", cond, steps, optimizer=name, necessary=(cond,),
                              kind=region.kind, meta=meta)
