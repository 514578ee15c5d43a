"""The generic linearization of any spec (analytic.spec_stability): the closed forms come out of it
unchanged, and every region is checked against the spec's own step iterated in floating point."""
from dataclasses import dataclass

import numpy as np
import pytest
import sympy as sp

from analytic import stability as st
from analytic.errors import InputError
from analytic.namespace import NUMPY, SYMPY
from analytic.optimizers import (EMA, GD, SAM, SGD, Adam, AdamW, HeavyBall, LabelNoise, Nesterov, Optimizer, RMSProp,
                                 SGDMomentum, WeightDecay)
from analytic.spec_stability import (S_STAR, _leaves, _rebuild, spec_characteristic_polynomial, spec_stability,
                                     spectral_radius_condition, state_map_jacobian)
from analytic.stability import BETA, ETA, LAMBDA, Z, characteristic_polynomial


def _dump(r):
    d = {"expr": str(r.expr), "meta": {k: str(v) for k, v in r.meta.items()},
         "steps": [(s.lhs, str(s.rhs), s.why, s.relation) for s in r.steps]}
    if hasattr(r, "necessary"):
        d["necessary"] = sorted(str(c) for c in r.necessary)
    return d


# ---------------------------------------------------------------------------
# the closed forms, now read off the generic path
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["gd_stability", "heavy_ball_stability", "nesterov_stability",
                                 "charpoly_GD", "charpoly_HeavyBall", "charpoly_Nesterov"])
def test_closed_forms_are_unchanged(key):
    if key.startswith("charpoly_"):
        spec = {"GD": GD(ETA), "HeavyBall": HeavyBall(ETA, BETA), "Nesterov": Nesterov(ETA, BETA)}[key[9:]]
        res = characteristic_polynomial(spec)
    else:
        res = getattr(st, key)()
    assert _dump(res) == CLOSED_FORMS[key]
    # and in the module's own symbols (no look-alike with other assumptions)
    names = {"h": ETA, "lambda": LAMBDA, "beta": BETA, "z": Z}
    exprs = [res.expr] + [v for v in res.meta.values() if isinstance(v, sp.Basic)]
    for s in set().union(*(e.free_symbols for e in exprs)):
        assert s.name not in names or s == names[s.name], s


@pytest.mark.parametrize("spec, closed", [(HeavyBall(ETA, BETA), st.heavy_ball_stability),
                                          (Nesterov(ETA, BETA), st.nesterov_stability)])
def test_spec_stability_gives_the_momentum_regions(spec, closed):
    res, ref = spec_stability(spec), closed()
    assert res.expr == ref.expr
    assert res.meta["reduced"] == ref.meta["reduced"] and res.meta["schur_cohn"] == ref.meta["schur_cohn"]


def test_spec_stability_gives_the_gd_interval():
    res = spec_stability(GD("h"))                       # the spec's own step symbol becomes h
    assert str(res.meta["explicit"]) == "(0 < h*lambda) & (h*lambda < 2)"
    # the closed form's closed interval is the closure of the strict Schur-Cohn one
    per = st.gd_stability().meta["per_direction"]
    for x in [sp.Rational(k, 10) for k in range(-5, 26)]:
        inside = bool(res.expr.subs(ETA * LAMBDA, x).subs(LAMBDA, x / ETA))
        assert inside == (bool(per.subs(ETA * LAMBDA, x)) and x not in (0, 2))


def _two_step(spec):
    """The old derivation: the two-step form x_{k+1}(x_k, x_{k-1}) of spec.update, for comparison."""
    xk, xp = sp.Symbol("x_k"), sp.Symbol("x_{k-1}")
    nxt = sp.expand(spec.update(xk, xp, lambda v: LAMBDA * v, SYMPY))
    c1, c0 = nxt.coeff(xk), nxt.coeff(xp)
    return Z - c1 if spec.steps_back == 1 and c0 == 0 else Z**2 - c1 * Z - c0


@pytest.mark.parametrize("spec", [GD(ETA), HeavyBall(ETA, BETA), Nesterov(ETA, BETA), SGDMomentum(ETA, 2, beta=BETA),
                                  SAM(ETA, "rho"), LabelNoise(ETA, "1/2"), EMA(ETA, GD(ETA), "1/2")])
def test_generic_polynomial_equals_the_two_step_form(spec):
    if not hasattr(spec, "update"):
        pytest.skip("the two-step form is gone")
    assert sp.expand(spec_characteristic_polynomial(spec).expr - _two_step(spec)) == 0


def test_weight_decay_on_momentum_is_momentum_on_the_shifted_curvature():
    # (the two-step form spec.update cannot say this: it writes x - x_prev into state[0], which for
    # WeightDecay(HeavyBall) is the weight-decay transform's empty slot, and loses the momentum)
    w = sp.Symbol("w", real=True)
    p = characteristic_polynomial(WeightDecay(ETA, HeavyBall(ETA, BETA), w)).expr
    assert sp.expand(p - characteristic_polynomial(HeavyBall(ETA, BETA)).expr.subs(LAMBDA, LAMBDA + w)) == 0


# ---------------------------------------------------------------------------
# the Jacobian
# ---------------------------------------------------------------------------
def test_jacobians_of_the_state_maps():
    h, b, d, w, r, eps = sp.symbols("h b d w r epsilon", positive=True)
    assert state_map_jacobian(HeavyBall(h, b)).expr == sp.Matrix([[1 - h * LAMBDA, b], [-h * LAMBDA, b]])
    ema = state_map_jacobian(EMA(h, GD(h), d))
    assert ema.meta["variables"] == ("x", "xbar")
    assert sp.simplify(ema.expr - sp.Matrix([[1 - h * LAMBDA, 0], [(1 - d) * (1 - h * LAMBDA), d]])) == sp.zeros(2)
    assert sp.simplify(state_map_jacobian(WeightDecay(h, GD(h), w)).expr[0] - (1 - h * (LAMBDA + w))) == 0
    sam = state_map_jacobian(SAM(h, r)).expr[0]
    assert sp.expand(sam - (1 - h * LAMBDA * (1 + r * LAMBDA))) == 0        # the linearized SAM multiplier
    # RMSProp: s is frozen (at 0 by default: the true fixed point), the effective step h/(sqrt(s*) + eps)
    rms = state_map_jacobian(RMSProp(h, r, eps))
    assert rms.meta["frozen"] == {"s": 0} and rms.meta["rates"] == sp.Matrix([[r]])
    assert sp.simplify(rms.expr[0] - (1 - h * LAMBDA / eps)) == 0
    pre = state_map_jacobian(RMSProp(h, r, eps), frozen={"s": S_STAR}).expr[0]
    assert sp.simplify(pre - (1 - h * LAMBDA / (sp.sqrt(S_STAR) + eps))) == 0


def test_adam_bias_correction_asymptotic_and_at_a_step():
    h, eps = sp.symbols("h epsilon", positive=True)
    b1, b2 = sp.Rational(9, 10), sp.Rational(99, 100)
    no_bc = state_map_jacobian(Adam(h, b1, b2, eps, bias_correction=False), frozen={"s": S_STAR})
    bc = state_map_jacobian(Adam(h, b1, b2, eps), frozen={"s": S_STAR})
    assert bc.meta["counters"] == ("k",) and bc.meta["variables"] == ("x", "m")
    assert sp.simplify(bc.expr - no_bc.expr) == sp.zeros(2)             # 1 - b**k -> 1
    P = sp.sqrt(S_STAR) + eps
    expected = sp.Matrix([[1 - h * (1 - b1) * LAMBDA / P, -h * b1 / P], [(1 - b1) * LAMBDA, b1]])
    assert sp.simplify(no_bc.expr - expected) == sp.zeros(2)
    # the step after n = 2 steps reads 1 - b**3 (at s* = 0)
    c1 = 1 - b1**3
    at2 = state_map_jacobian(Adam(h, b1, b2, eps), counter=2).expr
    assert sp.simplify(at2 - sp.Matrix([[1 - h * (1 - b1) * LAMBDA / (c1 * eps), -h * b1 / (c1 * eps)],
                                         [(1 - b1) * LAMBDA, b1]])) == sp.zeros(2)
    # preconditioned Adam = heavy ball with beta = b1 and step (1 - b1) h / P
    region = spec_stability(Adam(ETA, b1, b2, "1/10"), frozen={"s": S_STAR}).meta["explicit"]
    assert str(region) == "(0 < h*lambda) & (h*lambda < 38*sqrt(s_star) + 19/5)"


def test_normalized_sam_and_other_non_differentiable_rules_are_rejected():
    with pytest.raises(InputError, match="'spec'.*not defined at the minimum"):
        state_map_jacobian(SAM(ETA, "1/2", normalized=True))

    @dataclass(frozen=True)
    class SignGD(Optimizer):          # x - h sign(g): a jump at the minimum
        def step(self, state, x, grad, ns=NUMPY):
            return state, x - ns.scalar(self.h) * ns.apply(sp.sign, grad(x))

    with pytest.raises(InputError, match="'spec'.*jumps"):
        state_map_jacobian(SignGD(ETA))

    @dataclass(frozen=True)
    class Rule(Optimizer):            # x - h * f(g) for a given f
        f: object = None

        def step(self, state, x, grad, ns=NUMPY):
            return state, x - ns.scalar(self.h) * self.f(grad(x), ns)

    with pytest.raises(InputError, match="'spec'.*not differentiable.*first order"):
        state_map_jacobian(Rule(ETA, lambda g, ns: ns.sqrt(ns.norm(g))))          # sqrt|g|
    with pytest.raises(InputError, match="'spec'.*not differentiable.*first order"):
        state_map_jacobian(Rule(ETA, lambda g, ns: ns.norm(g)))                   # |g|
    with pytest.raises(InputError, match="'spec'.*cannot certify"):               # refused, conservatively
        state_map_jacobian(Rule(ETA, lambda g, ns: g * ns.sqrt(ns.norm(g))))
    # non-smooth but differentiable at the minimum: g + g|g| has derivative lambda there
    ok = state_map_jacobian(Rule(ETA, lambda g, ns: g + g * ns.norm(g) + ns.square(g) / (1 + ns.norm(g))))
    assert sp.expand(ok.expr[0] - (1 - ETA * LAMBDA)) == 0


@dataclass(frozen=True)
class ThreeStep(Optimizer):
    r"""A user-typed method with two remembered iterates:
    :math:`x_{k+1} = x_k - h g + b(x_k - x_{k-1}) + c(x_{k-1} - x_{k-2})`."""

    b: object = 0
    c: object = 0

    def init(self, x, ns=NUMPY):
        return (x * 1, x * 1)

    def step(self, state, x, grad, ns=NUMPY):
        p1, p2 = state
        h, b, c = ns.scalar(self.h), ns.scalar(self.b), ns.scalar(self.c)
        return (x, p1), x - h * grad(x) + b * (x - p1) + c * (p1 - p2)


def test_user_method_with_three_state_variables():
    h, b, c = sp.symbols("h b c", real=True)
    p = spec_characteristic_polynomial(ThreeStep(h, b, c)).expr
    assert sp.expand(p - (Z**3 - (1 + b - h * LAMBDA) * Z**2 + (b - c) * Z + c)) == 0
    res = spec_stability(ThreeStep(h, b, c))
    region = sp.lambdify((ETA, LAMBDA, b, c), res.expr)
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(60):
        hv, bv, cv = rng.uniform(0.05, 3), rng.uniform(-0.9, 0.9), rng.uniform(-0.6, 0.6)
        rho = max(abs(np.roots([1, -(1 + bv - hv), bv - cv, cv])))
        if abs(rho - 1) < 0.02:
            continue
        spec = ThreeStep(hv, bv, cv)
        grew = _final(spec, 1.0, 1e-6, 2500) > 1e-4
        assert bool(region(hv, 1.0, bv, cv)) == (not grew) == (rho < 1)
        checked += 1
    assert checked > 40


# ---------------------------------------------------------------------------
# regions against the spec's own step, iterated in floats
# ---------------------------------------------------------------------------
def _iterate(spec, lam, x0, steps, hold=None, count=None):
    """|x| over the run of spec.step (NUMPY) on E = lam x^2/2; ``hold`` sets named state entries before
    every step (the frozen preconditioner), ``count`` sets the step counter at the start."""
    x = np.array([[x0]])
    state = spec.init(x, NUMPY)
    names = spec.state_names
    if count is not None:
        state = _rebuild(state, iter([count if n == "k" else v for n, v in zip(names, _leaves(state))]))
    out = []
    for _ in range(steps):
        if hold:
            leaves = [np.full_like(v, hold[n]) if n in hold else v for n, v in zip(names, _leaves(state))]
            state = _rebuild(state, iter(leaves))
        state, x = spec.step(state, x, lambda p: lam * p, NUMPY)
        out.append(abs(float(x[0, 0])))
        if not np.isfinite(out[-1]) or out[-1] > 1e6:
            return np.array(out + [np.inf])
    return np.array(out)


def _final(spec, lam, x0, steps, **kw):
    return _iterate(spec, lam, x0, steps, **kw)[-20:].max()


EPS, R, B1, B2 = sp.Rational(1, 10), sp.Rational(9, 10), sp.Rational(9, 10), sp.Rational(999, 1000)
Q = sp.Rational(1, 4)                                     # the frozen second moment s* of the preconditioned cases
#: name, spec(h), lambda, the boundary h* in closed form, frozen values, held state entries, counter at the start
CASES = [
    ("rmsprop", lambda h: RMSProp(h, R, EPS), 2, 2 * EPS / 2, None, None, None),
    ("rmsprop-preconditioned", lambda h: RMSProp(h, R, EPS), 2, 2 * (sp.sqrt(Q) + EPS) / 2, {"s": Q}, {"s": Q / R},
     None),
    ("adam", lambda h: Adam(h, B1, B2, EPS), 1, 2 * (1 + B1) * EPS / (1 - B1), None, None, 10**6),
    ("adam-no-bias-correction", lambda h: Adam(h, B1, B2, EPS, bias_correction=False), 1,
     2 * (1 + B1) * EPS / (1 - B1), None, None, None),
    ("adam-preconditioned", lambda h: Adam(h, B1, B2, EPS), 1, 2 * (1 + B1) * (sp.sqrt(Q) + EPS) / (1 - B1),
     {"s": Q}, {"s": Q / B2}, 10**6),
    ("sam", lambda h: SAM(h, sp.Rational(1, 2)), 2, sp.Rational(2, 2 * (1 + 1)), None, None, None),
    ("sgd-momentum", lambda h: SGDMomentum(h, 2, beta=sp.Rational(1, 2)), 1, 2 * (1 + sp.Rational(1, 2)), None, None,
     None),
    ("weight-decay", lambda h: WeightDecay(h, GD(h), sp.Rational(1, 2)), 1, sp.Rational(2, 1) / (1 + sp.Rational(1, 2)),
     None, None, None),
    ("ema", lambda h: EMA(h, GD(h), sp.Rational(9, 10)), 1, 2, None, None, None),
    ("ema-heavy-ball", lambda h: EMA(h, HeavyBall(h, sp.Rational(-1, 2)), sp.Rational(1, 2)), 1, 1, None, None, None),
]


@pytest.mark.parametrize("name, make, lam, boundary, frozen, hold, count", CASES, ids=[c[0] for c in CASES])
def test_region_against_simulated_iterates(name, make, lam, boundary, frozen, hold, count):
    res = spec_stability(make(ETA), frozen=frozen)
    assert res.kind == ("necessary" if name == "sgd-momentum" else "exact")
    cond = res.expr.subs(LAMBDA, lam)
    for factor, stable in ((sp.Rational(97, 100), True), (sp.Rational(103, 100), False)):
        h = boundary * factor
        assert bool(cond.subs(ETA, h)) == stable, (name, h)               # the exact region
        x = _iterate(make(float(h)), float(lam), 1e-9, 3000, hold=hold, count=count)
        if stable:
            assert x[-20:].max() < 1e-11, (name, h, x[-1])                # converges
        else:
            assert x[-20:].max() > 1e-7, (name, h, x[-1])                 # grows (then saturates for RMSProp/Adam)
    if name.startswith("ema"):       # the average follows the iterate, its own root is inside the unit disk
        assert all(bool(c) for c in res.meta["parameter_conditions"])


def test_preconditioned_regions_in_closed_form():
    eps, rho = sp.symbols("epsilon rho", positive=True)
    rms = spec_stability(RMSProp(ETA, "9/10", eps), frozen={"s": S_STAR})
    assert sp.simplify(_upper(rms.meta["explicit"]) - 2 * (sp.sqrt(S_STAR) + eps)) == 0
    sam = spec_stability(SAM(ETA, rho))
    # |1 - h lambda (1 + rho lambda)| < 1 for lambda > 0 iff h < 2/(lambda (1 + rho lambda))
    for lam, r in [(1, sp.Rational(1, 2)), (3, 2), (sp.Rational(1, 3), sp.Rational(1, 10))]:
        edge = 2 / (lam * (1 + r * lam))
        c = sam.expr.subs({LAMBDA: lam, rho: r})
        assert bool(c.subs(ETA, edge * sp.Rational(99, 100))) and not bool(c.subs(ETA, edge * sp.Rational(101, 100)))


def _upper(explicit):
    (rel,) = [a for a in sp.And.make_args(explicit) if a.lhs == ETA * LAMBDA]
    return rel.rhs


def test_frozen_entries_that_feed_back_are_refused():
    # freezing heavy ball's velocity: v' = beta v - h lambda x is driven by x at first order
    with pytest.raises(InputError, match="'frozen'.*driven by the iterate"):
        state_map_jacobian(HeavyBall(ETA, "1/2"), frozen={"v": 0})


# ---------------------------------------------------------------------------
# a given Hessian
# ---------------------------------------------------------------------------
def _direct_charpoly(spec, H):
    """det(zI - J) of the d-dimensional step on exact SymPy column vectors, for comparison."""
    d = H.rows
    x = sp.Matrix(sp.symbols(f"x0:{d}", real=True))
    init = spec.init(x, SYMPY)
    leaves = _leaves(init)
    syms = [sp.Matrix(sp.symbols(f"w{i}_0:{d}", real=True)) for i in range(len(leaves))]
    new, xn = spec.step(_rebuild(init, iter(syms)), x, lambda p: H * p, SYMPY)
    out = sp.Matrix.vstack(xn, *_leaves(new))
    v = list(x) + [e for s in syms for e in s]
    J = out.jacobian(v).subs({e: 0 for e in v})
    return sp.expand((Z * sp.eye(J.rows) - J).det(method="berkowitz"))


H2 = sp.Matrix([[2, 1], [1, 2]])
H3 = sp.Matrix([[2, 1, 0], [1, 3, 1], [0, 1, 1]])


@pytest.mark.parametrize("spec", [HeavyBall("1/3", "1/2"), Nesterov("h", "b"), EMA("1/2", GD("1/2"), "1/3"),
                                  SAM("1/5", "1/2"), WeightDecay("1/4", HeavyBall("1/4", "1/5"), "1/2")])
def test_resultant_is_the_characteristic_polynomial_of_the_d_dimensional_map(spec):
    for H in (H2, H3):
        res = spectral_radius_condition(spec, H)
        h = getattr(spec, "h")
        direct = _direct_charpoly(spec, H)
        if isinstance(h, sp.Symbol):
            direct = direct.subs(h, ETA)
        assert sp.expand(res.meta["charpoly"] - direct) == 0


def _probed_radius(spec, H):
    """The spectral radius of the (linear) d-dim step, from its action on unit vectors (floats)."""
    d = H.shape[0]
    x = np.zeros((1, d))
    n = 1 + len(_leaves(spec.init(x, NUMPY)))
    cols = []
    for j in range(n * d):
        e = np.zeros(n * d)
        e[j] = 1
        blocks = [e[i * d:(i + 1) * d][None, :] for i in range(n)]
        state = _rebuild(spec.init(x, NUMPY), iter(blocks[1:]))
        new, xn = spec.step(state, blocks[0], lambda p: p @ H, NUMPY)
        cols.append(np.concatenate([xn.ravel()] + [b.ravel() for b in _leaves(new)]))
    return max(abs(np.linalg.eigvals(np.array(cols).T)))


@pytest.mark.parametrize("spec", [HeavyBall("1/3", "1/2"), Nesterov("2/3", "9/10"), SAM("1/3", "1/2"),
                                  EMA("1/2", HeavyBall("1/2", "-1/4"), "1/3"), GD("2/3")])
def test_spectral_radius_against_the_float_map(spec):
    res = spectral_radius_condition(spec, H3)
    Hf = np.array(H3, dtype=float)
    rho = _probed_radius(spec, Hf)
    assert res.meta["certified"] and abs(float(res.meta["rho"]) - rho) < 1e-9
    assert bool(res.expr) == (rho < 1 - 1e-9)


def test_spectral_radius_symbolic_and_adam_in_two_dimensions():
    gd = spectral_radius_condition(GD("h"), H2)               # eigenvalues 1 and 3
    for h, ok in ((sp.Rational(66, 100), True), (sp.Rational(67, 100), False)):
        assert bool(gd.expr.subs(ETA, h)) == ok
    # Adam at the true fixed point: stable iff h lambda_max < 2 (1 + b1) eps / (1 - b1) = 19/5 * ... with eps = 1/10
    edge = 2 * (1 + B1) * EPS / (1 - B1) / 3
    for factor, stable in ((sp.Rational(97, 100), True), (sp.Rational(103, 100), False)):
        h = edge * factor
        res = spectral_radius_condition(Adam(h, B1, B2, EPS), H2)
        assert bool(res.expr) == stable and res.meta["certified"]
        assert float(res.meta["rho"]) >= float(B2)            # the second moment relaxes at rate b2
        spec = Adam(float(h), B1, B2, EPS, bias_correction=False)
        x = np.array([[1e-9, -2e-9]])
        state = spec.init(x, NUMPY)
        for _ in range(3000):
            state, x = spec.step(state, x, lambda p: p @ np.array(H2, dtype=float), NUMPY)
        assert (np.abs(x).max() < 1e-11) == stable, (h, x)


@pytest.mark.parametrize("H", [None, 5, "garbage", {"a": 1}, [[1, 2], [3]], [[1, 2], [3, 4]], [[float("nan")]],
                               [["__import__('os')"]], [[[1]]], [], [[1] * 9] * 9])
def test_bad_matrices(H):
    with pytest.raises(InputError, match="'H'"):
        spectral_radius_condition(GD("1/2"), H)


@pytest.mark.parametrize("func", [state_map_jacobian, spec_characteristic_polynomial, spec_stability])
def test_bad_arguments_name_themselves(func):
    for spec in (None, "gd", 1, GD):
        with pytest.raises(InputError, match="'spec'"):
            func(spec)
    for frozen in ("s", {"q": 1}, {"s": "__import__('os')"}, {"s": float("nan")}, {"k": 1}):
        with pytest.raises(InputError, match="'frozen'"):
            func(Adam(ETA), frozen=frozen)
    for counter in (-1, "soon", True, 10**6, 2.5, None):
        with pytest.raises(InputError, match="'counter'"):
            func(Adam(ETA), counter=counter)


def test_bad_lam_and_clashing_symbols():
    for lam in (None, [1], "0.9.1", float("nan")):
        with pytest.raises(InputError, match="'lam'"):
            state_map_jacobian(GD(ETA), lam)
    with pytest.raises(InputError, match="'lam'"):
        state_map_jacobian(WeightDecay(ETA, GD(ETA), LAMBDA))      # the eigenvalue symbol as a hyperparameter
    with pytest.raises(InputError, match="'beta'.*step size"):
        spec_stability(HeavyBall("h", "h"))


@dataclass(frozen=True)
class Growing(Optimizer):
    """A step read through (3/2)**k: no limit far into the run."""

    def init(self, x, ns=NUMPY):
        return (0,)

    def step(self, state, x, grad, ns=NUMPY):
        k = state[0] + 1
        return (k,), x - ns.scalar(self.h) * grad(x) / (1 + sp.Rational(3, 2) ** k)


def test_counters():
    with pytest.raises(InputError, match="'counter'.*does not vanish"):
        state_map_jacobian(Growing(ETA))
    j = state_map_jacobian(Growing(ETA), counter=1)          # the step after one step reads k = 2
    assert j.meta["variables"] == ("x",) and sp.simplify(j.expr[0] - (1 - ETA * LAMBDA / (1 + sp.Rational(9, 4)))) == 0


def test_engine_is_reexported_and_symbols_are_shared():
    assert st.spec_stability is spec_stability and st.S_STAR is S_STAR
    assert "spectral_radius_condition" in st.__all__
    assert HeavyBall("h", "beta").beta == BETA               # a typed beta is the module's beta
    assert state_map_jacobian(GD(1)).meta["counter"] == "asymptotic"


#: the results of the closed-form functions before they went through the generic path
#: (recorded from the two-step implementation, ``spec.update``; ``necessary`` sorted; the step since
#: renamed h, heavy ball re-recorded in the sort order of h, its factors checked equal)
CLOSED_FORMS = {'charpoly_GD': {'expr': 'h*lambda + z - 1',
                 'meta': {},
                 'steps': [('x_{k+1}', '-h*lambda*x_k + x_k', 'GD update with gradient lambda x', '='),
                           ('p(z)',
                            'h*lambda + z - 1',
                            'insert geometric solutions x_k = z to the power k',
                            '=')]},
 'charpoly_HeavyBall': {'expr': 'beta + z**2 + z*(-beta + h*lambda - 1)',
                        'meta': {},
                        'steps': [('x_{k+1}',
                                   'beta*x_k - beta*x_{k-1} - h*lambda*x_k + x_k',
                                   'HeavyBall update with gradient lambda x',
                                   '='),
                                  ('p(z)',
                                   'beta + z**2 + z*(-beta + h*lambda - 1)',
                                   'insert geometric solutions x_k = z to the power k',
                                   '=')]},
 'charpoly_Nesterov': {'expr': '-beta*h*lambda + beta + z**2 + z*(beta*h*lambda - beta + h*lambda - 1)',
                       'meta': {},
                       'steps': [('x_{k+1}',
                                  '-beta*h*lambda*x_k + beta*h*lambda*x_{k-1} + beta*x_k - beta*x_{k-1} - '
                                  'h*lambda*x_k + x_k',
                                  'Nesterov update with gradient lambda x',
                                  '='),
                                 ('p(z)',
                                  '-beta*h*lambda + beta + z**2 + z*(beta*h*lambda - beta + h*lambda - 1)',
                                  'insert geometric solutions x_k = z to the power k',
                                  '=')]},
 'gd_stability': {'expr': 'lambda_max <= 2/h',
                  'meta': {'multiplier': '-h*lambda + 1', 'per_direction': '(0 <= h*lambda) & (h*lambda <= 2)'},
                  'necessary': ['lambda_max <= 2/h'],
                  'steps': [('x_{k+1}',
                             '-h*lambda*x_k + x_k',
                             'GD on E = lambda x squared / 2 (one eigendirection of H)',
                             '='),
                            ('m(\\lambda)', '-h*lambda + 1', 'per-eigendirection multiplier', '='),
                            ('|m| \\le 1',
                             '(0 <= h*lambda) & (h*lambda <= 2)',
                             'solve for x = h lambda: modulus of 1 - x at most 1',
                             'iff'),
                            ('\\lambda_{\\max}',
                             '2/h',
                             'every eigenvalue of H, all nonnegative, lies in [0, 2/h]',
                             '<=')]},
 'heavy_ball_stability': {'expr': '(-(beta - 1)*(beta + 1) > 0) & (-h*lambda*(-2*beta + h*lambda - 2) > 0)',
                          'meta': {'charpoly': 'beta + z**2 + z*(-beta + h*lambda - 1)',
                                   'explicit': '(-1 < beta) & (beta < 1) & (0 < h*lambda) & (h*lambda < 2*(beta + '
                                               '1))',
                                   'reduced': '(-(beta - 1)*(beta + 1), -h*lambda*(-2*beta + h*lambda - 2))',
                                   'schur_cohn': '(-(beta - 1)*(beta + 1), -h*lambda*(beta - 1)**2*(-2*beta + '
                                                 'h*lambda - 2))'},
                          'necessary': ['-1 < beta', '0 < h*lambda', 'beta < 1', 'h*lambda < 2*(beta + 1)'],
                          'steps': [('x_{k+1}',
                                     'beta*x_k - beta*x_{k-1} - h*lambda*x_k + x_k',
                                     'HeavyBall update with gradient lambda x',
                                     '='),
                                    ('p(z)',
                                     'beta + z**2 + z*(-beta + h*lambda - 1)',
                                     'insert geometric solutions x_k = z to the power k',
                                     '='),
                                    ('\\Delta_1',
                                     '-(beta - 1)*(beta + 1)',
                                     'level 1: constant term smaller than leading coefficient in modulus',
                                     '='),
                                    ('p_1(z)',
                                     'beta**2 - beta*h*lambda + h*lambda + z*(1 - beta**2) - 1',
                                     'Schur transform of the previous polynomial',
                                     '='),
                                    ('\\Delta_2',
                                     '-h*lambda*(beta - 1)**2*(-2*beta + h*lambda - 2)',
                                     'level 2: constant term smaller than leading coefficient in modulus',
                                     '='),
                                    ('\\text{stable}',
                                     '\\iff \\Delta_1 > 0,\\ \\Delta_2 > 0',
                                     'Schur-Cohn: all roots in the open unit disk',
                                     ':'),
                                    ('\\text{drop}',
                                     '((beta - 1)**2,)',
                                     'positive, since their zeros violate the earlier conditions',
                                     ':'),
                                    ('\\text{stable}',
                                     '(-(beta - 1)*(beta + 1) > 0) & (-h*lambda*(-2*beta + h*lambda - 2) > 0)',
                                     'Schur-Cohn conditions, reduced',
                                     'iff'),
                                    ('\\text{stable}',
                                     '(-1 < beta) & (beta < 1) & (0 < h*lambda) & (h*lambda < 2*(beta + 1))',
                                     'solve Delta_1 positive for beta, then Delta_2 positive for h lambda',
                                     'iff')]},
 'nesterov_stability': {'expr': '(-h*lambda*(2*beta*h*lambda - 2*beta + h*lambda - 2) > 0) & (-(beta*h*lambda - '
                                'beta - 1)*(beta*h*lambda - beta + 1) > 0)',
                        'meta': {'charpoly': '-beta*h*lambda + beta + z**2 + z*(beta*h*lambda - beta + h*lambda - '
                                             '1)',
                                 'explicit': '(0 < h*lambda) & (h*lambda < 2*(beta + 1)/(2*beta + 1))',
                                 'reduced': '(-(beta*h*lambda - beta - 1)*(beta*h*lambda - beta + 1), '
                                            '-h*lambda*(2*beta*h*lambda - 2*beta + h*lambda - 2))',
                                 'schur_cohn': '(-(beta*h*lambda - beta - 1)*(beta*h*lambda - beta + 1), '
                                               '-h*lambda*(beta*h*lambda - beta + 1)**2*(2*beta*h*lambda - 2*beta '
                                               '+ h*lambda - 2))'},
                        'necessary': ['-(beta*h*lambda - beta - 1)*(beta*h*lambda - beta + 1) > 0',
                                      '-h*lambda*(2*beta*h*lambda - 2*beta + h*lambda - 2) > 0'],
                        'steps': [('x_{k+1}',
                                   '-beta*h*lambda*x_k + beta*h*lambda*x_{k-1} + beta*x_k - beta*x_{k-1} - '
                                   'h*lambda*x_k + x_k',
                                   'Nesterov update with gradient lambda x',
                                   '='),
                                  ('p(z)',
                                   '-beta*h*lambda + beta + z**2 + z*(beta*h*lambda - beta + h*lambda - 1)',
                                   'insert geometric solutions x_k = z to the power k',
                                   '='),
                                  ('\\Delta_1',
                                   '-(beta*h*lambda - beta - 1)*(beta*h*lambda - beta + 1)',
                                   'level 1: constant term smaller than leading coefficient in modulus',
                                   '='),
                                  ('p_1(z)',
                                   'beta**2*h**2*lambda**2 - 2*beta**2*h*lambda + beta**2 + beta*h**2*lambda**2 - '
                                   'beta*h*lambda + h*lambda + z*(-beta**2*h**2*lambda**2 + 2*beta**2*h*lambda - '
                                   'beta**2 + 1) - 1',
                                   'Schur transform of the previous polynomial',
                                   '='),
                                  ('\\Delta_2',
                                   '-h*lambda*(beta*h*lambda - beta + 1)**2*(2*beta*h*lambda - 2*beta + h*lambda '
                                   '- 2)',
                                   'level 2: constant term smaller than leading coefficient in modulus',
                                   '='),
                                  ('\\text{stable}',
                                   '\\iff \\Delta_1 > 0,\\ \\Delta_2 > 0',
                                   'Schur-Cohn: all roots in the open unit disk',
                                   ':'),
                                  ('\\text{drop}',
                                   '((beta*h*lambda - beta + 1)**2,)',
                                   'positive, since their zeros violate the earlier conditions',
                                   ':'),
                                  ('\\text{stable}',
                                   '(-h*lambda*(2*beta*h*lambda - 2*beta + h*lambda - 2) > 0) & (-(beta*h*lambda '
                                   '- beta - 1)*(beta*h*lambda - beta + 1) > 0)',
                                   'Schur-Cohn conditions, reduced',
                                   'iff'),
                                  ('\\text{stable}',
                                   '(0 < h*lambda) & (h*lambda < 2*(beta + 1)/(2*beta + 1))',
                                   'for beta in [0, 1), written q/(1+q): Delta_2 positive in h lambda; Delta_1 '
                                   'holds at both ends',
                                   'iff')]}}
