"""Masks: derived closed forms against exact iteration, solve_ivp and high-precision references."""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp

from analytic import masks as M
from analytic.parse import parse_expression
from analytic.errors import InputError


def _iterate_gd(s, eta, T, dps=50):
    """Exact scalar GD recursion c_{k+1} = (1 - eta s^2) c_k + eta s b with b = 1, in mpmath."""
    with mpmath.workdps(dps):
        s, eta = mpmath.mpf(s), mpmath.mpf(eta)
        c = mpmath.mpf(0)
        for _ in range(T):
            c = (1 - eta * s * s) * c + eta * s
        return c * s


def test_gd_mask_is_the_neumann_sum():
    m = M.gd_mask().expr
    s, eta, T = M.s, M.eta, M.T
    for sv, step, iters in ((sp.Rational(1, 2), sp.Rational(1, 3), 7), (sp.Rational(3, 2), sp.Rational(1, 4), 5)):
        c = sp.Integer(0)
        for _ in range(iters):
            c = (1 - step * sv**2) * c + step * sv
        assert sp.simplify(m.subs({s: sv, eta: step, T: iters}) - c * sv) == 0


def test_nonzero_start_decays_geometrically():
    r = M.gd_start_decay()
    s, eta, T, c0, b = M.s, M.eta, M.T, M.c0, M.b
    vals = {s: sp.Rational(2, 3), eta: sp.Rational(1, 2), c0: sp.Rational(5), b: sp.Rational(-1, 7)}
    c = vals[c0]
    for k in range(1, 6):
        c = (1 - vals[eta] * vals[s]**2) * c + vals[eta] * vals[s] * vals[b]
        assert sp.simplify(r.expr.subs(vals).subs(T, k) - c) == 0


def test_gradient_flow_mask_against_solve_ivp():
    m = sp.lambdify((M.s, M.eta, M.T), M.gf_mask().expr)
    s, eta, T = 0.7, 0.3, 25
    sol = solve_ivp(lambda t, c: -s**2 * c + s, (0, eta * T), [0.0], rtol=1e-12, atol=1e-14)
    assert abs(sol.y[0, -1] * s - m(s, eta, T)) < 1e-10


def test_ridge_mask_minimises_the_penalised_problem():
    m = M.ridge_mask().expr
    s, lam = 1.3, 0.4
    c = np.linspace(-2, 2, 400001)
    best = c[np.argmin((1 - s * c) ** 2 + lam * c**2)]
    assert abs(best * s - float(m.subs({M.s: s, M.lam: lam}))) < 1e-4


def test_pca_mask_is_a_hard_threshold():
    m = M.pca_mask().expr
    assert m.subs({M.s: 2, M.s_th: 1}) == 1 and m.subs({M.s: sp.Rational(1, 2), M.s_th: 1}) == 0


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_heavy_ball_mask_matches_iterates(beta):
    s_vals = np.array([1e-4, 0.05, 0.3, 0.7, 1.0, 1.3])
    for T in (1, 3, 40, 1000):
        got = M.heavy_ball_mask_values(s_vals, 1.0, beta, T)
        for sv, g in zip(s_vals, got):
            with mpmath.workdps(40):
                c = cp = mpmath.mpf(0)
                for _ in range(T):
                    c, cp = c + beta * (c - cp) - (sv * sv * c - sv), c
                ref = float(c * sv)
            assert abs(g - ref) <= 1e-11 * abs(ref)


def test_heavy_ball_symbolic_mask_reduces_to_gd_at_zero_momentum():
    r = M.heavy_ball_mask()
    val = r.expr.subs({M.beta: 0, M.s: sp.Rational(1, 2), M.eta: sp.Rational(1, 2), M.T: 4})
    assert sp.nsimplify(sp.simplify(val)) == 1 - (1 - sp.Rational(1, 8)) ** 4


def test_threshold_relation_and_paper_choice():
    r = M.threshold_relation()
    assert sp.simplify(r.meta["paper_choice"] - M.s_1**2 / M.s_th**2) == 0
    # exact T gives m(s_th) = tau numerically
    T = float(r.expr.subs({M.tau: 0.5, M.eta: 0.01, M.s_th: 1.0}))
    assert abs(M.gd_mask_values(1.0, 0.01, T) - 0.5) < 1e-12


def test_active_window_series_against_numeric_root():
    series = M.active_window().meta["series"]
    from scipy.optimize import brentq
    for T in (20, 500):
        s_th = brentq(lambda s: float(M.gd_mask_values(s, 1.0, T)) - (1 - math.exp(-1)), 1e-6, 1, xtol=1e-16)
        assert abs(1 / s_th**2 - float(series.subs(M.T, T))) / T < 1e-6


def test_grey_zone_is_26_61_db_and_matches_root_finding():
    r = M.grey_zone()
    assert abs(r.meta["dB"] - 10 * math.log10(math.log(100) / math.log(100 / 99))) < 1e-12
    from scipy.optimize import brentq
    T = 10**6
    f = lambda s, lev: float(M.gd_mask_values(s, 1.0, T)) - lev  # noqa: E731
    hi = brentq(f, 1e-9, 1, args=(0.99,), xtol=1e-18, rtol=1e-15)
    lo = brentq(f, 1e-9, 1, args=(0.01,), xtol=1e-18, rtol=1e-15)
    assert abs(20 * math.log10(hi / lo) - r.meta["dB"]) < 1e-4


def test_stable_form_accurate_where_naive_fails():
    xs = np.array([1e-19, 1e-14, 1e-9, 1e-3])
    T = 5000
    with mpmath.workdps(60):
        exact = np.array([float(1 - (1 - mpmath.mpf(float(x))) ** T) for x in xs])
    stable = M.gd_mask_values(np.sqrt(xs), 1.0, T)
    naive = M.gd_mask_naive(np.sqrt(xs), 1.0, T)
    assert np.all(np.abs(stable - exact) <= 1e-13 * exact)
    assert abs(naive[0] - exact[0]) > 0.5 * exact[0]                 # 1 - 1e-19 rounds to 1
    # predicted naive error ~ u/x (analytic.masks.stable_form) within a factor 10 at x = 1e-9
    assert 0.1 * 2**-53 / 1e-9 < abs(naive[2] - exact[2]) / exact[2] < 10 * 2**-53 / 1e-9
    assert str(M.stable_form().meta["naive_relative_error_small_Tx"]) == "u/x"


def test_gd_mask_matches_exact_iteration_large_T():
    for s, T in ((0.3, 10000), (1e-3, 10000), (1.0, 7)):
        ref = float(_iterate_gd(s, 1.0, T))
        assert abs(float(M.gd_mask_values(s, 1.0, T)) - ref) <= 1e-13 * ref


def test_bad_inputs_raise():
    with pytest.raises(InputError, match="method"):
        M.mask("adam")
    with pytest.raises(InputError, match="diverges"):
        M.gd_mask_values(2.0, 1.0, 3)
    with pytest.raises(InputError, match="momentum"):
        M.heavy_ball_mask_values(1.0, 1.0, 1.0, 3)
    with pytest.raises(InputError, match="whole"):          # (1 - 3/2)^2.5 is not real
        M.gd_mask_values(np.sqrt(1.5), 1.0, 2.5)
    with pytest.raises(InputError, match="whole"):
        M.heavy_ball_mask_values(1.0, 0.5, 0.5, 2.5)
    assert float(M.gd_mask_values(np.sqrt(1.5), 1.0, 3)) == pytest.approx(1 - (-0.5) ** 3, rel=1e-15)


def test_cli_derive_mask_json(capsys):
    import json

    from verify.cli import main
    assert main(["derive", "mask", "--method", "ridge", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "ridge" and out["mask"] == "s**2/(lambda + s**2)"
    assert "frac" in out["latex"]


def test_cli_derive_threshold_and_bad_tau(capsys):
    from verify.cli import main
    assert main(["derive", "threshold", "--tau", "1-1/e", "--format", "json"]) == 0
    assert "s_1**2/s_th**2" in capsys.readouterr().out
    assert main(["derive", "threshold", "--tau", "__import__"]) == 2
    assert "--tau" in capsys.readouterr().err


def test_threshold_cli_paper_form_for_a_typed_tau(capsys):
    # T ~ -log(1 - tau) s_1^2 / s_th^2 at eta = 1/s_1^2 (small eta s^2), for the exact tau typed
    import json

    from verify.cli import main
    assert main(["derive", "threshold", "--tau", "0.99", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    s1, sth = sp.symbols("s_1 s_th", positive=True)
    got = parse_expression(data["T_eta_1_over_s1_sq"], {"s_1": s1, "s_th": sth})
    assert sp.simplify(got - sp.log(100) * s1**2 / sth**2) == 0
    assert "**(" not in data["T_eta_1_over_s1_sq"]          # no log of a power


# -- masks from the specs (analytic.spec_masks) against the independent derivations ------------
def test_spec_masks_agree_with_the_derivations_and_the_iterates():
    from analytic.optimizers import GD, EMA, HeavyBall, Nesterov
    from analytic.spec_masks import spec_mask
    from numeric.driver import run
    assert M.mask("gd").expr == M.gd_mask().expr
    assert M.mask("gf").expr == M.gf_mask().expr
    assert spec_mask(EMA(M.eta, GD(M.eta), sp.Rational(1, 2))).expr == M.gd_mask().expr   # the average: no feedback
    hb_spec = M.mask("heavy-ball").expr
    hb_roots = M.heavy_ball_mask().expr
    for sv, step, mom in ((sp.Rational(3, 2), sp.Rational(1, 5), sp.Rational(1, 3)),     # complex roots
                          (sp.Rational(1, 2), sp.Rational(1, 2), sp.Rational(1, 10))):   # real roots
        vals = {M.s: sv, M.eta: step, M.beta: mom}
        for k in range(1, 7):
            a = complex(sp.N(hb_spec.subs(vals).subs(M.T, k), 30))
            b = complex(sp.N(hb_roots.subs(vals).subs(M.T, k), 30))
            assert abs(a - b) < 1e-25 and abs(a.imag) < 1e-25
    # Nesterov's mask against its simulated iterates on one singular pair (b = 1): c_T s / b
    nes = M.mask("nesterov").expr
    for sv, step, mom in ((1.5, 0.2, 0.5), (0.3, 0.9, 0.8)):
        traj = run(Nesterov(step, mom), lambda c: sv ** 2 * c - sv, [[0.0]], 12)
        for k in range(1, 13):
            pred = complex(sp.N(nes.subs({M.s: sp.Float(sv), M.eta: sp.Float(step), M.beta: sp.Float(mom),
                                          M.T: k}), 20))
            assert abs(pred.real - traj.xs[k, 0, 0] * sv) < 1e-12 and abs(pred.imag) < 1e-12
