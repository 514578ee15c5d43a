"""Stability conditions: symbolic results against root moduli, enumeration and simulation."""
import itertools
import json

import numpy as np
import pytest
import sympy as sp

from analytic.errors import DivergenceError, InputError
from analytic.optimizers import GD, HeavyBall, Nesterov
from analytic.sgd_stability import (BATCH, N_SAMPLES, NONUNIFORMITY, SHARPNESS, exact_batch_variance,
                                    second_moment_matrix, second_moment_operator, sgd_matrix_stability,
                                    sgd_second_moment, sgd_stability, variance_factor)
from analytic.stability import (BETA, ETA, LAMBDA, X_STEP, Z, characteristic_polynomial, gd_stability,
                                general_optimizer_stability, heavy_ball_stability, nesterov_stability,
                                quasi_newton_stability, schur_cohn)
from numeric.compile import compile_expr
from numeric.simulate import simulate
from numeric.stability_sim import (first_of, second_moment_matrix_np, second_moment_operator_np,
                                   sgd_quadratic, sgd_quadratic_1d, two_step_growth, variance_factor_value)
from verify.cli import main


def _region(res, key=None):
    expr = res.expr if key is None else res.meta[key]
    return compile_expr(expr.subs(ETA * LAMBDA, X_STEP), (X_STEP, BETA))


def _spectral_radius(coeffs):
    return max(abs(np.roots(coeffs)))


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_schur_cohn_matches_root_moduli(degree):
    rng = np.random.default_rng(degree)
    c = sp.symbols(f"c0:{degree}", real=True)
    poly = Z**degree + sum(ci * Z**i for i, ci in enumerate(c))
    conds = schur_cohn(poly).expr
    f = compile_expr(sp.Matrix(conds), c)
    pts = rng.uniform(-1.6, 1.6, size=(3000, degree))
    predicted = (f(pts) > 0).all(axis=1)
    observed = np.array([_spectral_radius([1] + list(p[::-1])) < 1 for p in pts])
    margin = np.array([abs(_spectral_radius([1] + list(p[::-1])) - 1) > 1e-9 for p in pts])
    assert (predicted == observed)[margin].all()
    assert 0.02 < observed.mean() < 0.98        # both outcomes are exercised


def test_schur_cohn_rejects_constant():
    with pytest.raises(InputError, match="degree"):
        schur_cohn(sp.Integer(3))


@pytest.mark.parametrize("name, spec, result", [
    ("heavy-ball", HeavyBall(ETA, BETA), heavy_ball_stability),
    ("nesterov", Nesterov(ETA, BETA), nesterov_stability)])
def test_momentum_regions_match_roots(name, spec, result):
    res = result()
    region = _region(res)
    charpoly = sp.Poly(characteristic_polynomial(spec).expr.subs(ETA * LAMBDA, X_STEP), Z)
    coeffs = compile_expr(sp.Matrix(charpoly.all_coeffs()), (X_STEP, BETA))
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(-0.5, 5, 4000), rng.uniform(-1.4, 1.4, 4000)])
    rho = np.array([_spectral_radius(c) for c in coeffs(pts)])
    keep = np.abs(rho - 1) > 1e-9
    assert ((region(pts) > 0.5) == (rho < 1))[keep].all()
    # the explicit form agrees with the Schur-Cohn form (Nesterov: 0 <= beta < 1)
    explicit = _region(res, "explicit")(pts) > 0.5
    mask = np.ones(len(pts), bool) if name == "heavy-ball" else (pts[:, 1] >= 0) & (pts[:, 1] < 1)
    assert (explicit == (region(pts) > 0.5))[mask].all()


def _upper_bound(explicit):
    (rel,) = [r for r in sp.And.make_args(explicit) if r.lhs == ETA * LAMBDA]
    return rel.rhs


def test_explicit_regions_are_the_known_intervals():
    hb = heavy_ball_stability().meta["explicit"]
    assert sp.expand(_upper_bound(hb) - 2 * (1 + BETA)) == 0
    assert {str(r) for r in sp.And.make_args(hb)} >= {"-1 < beta", "beta < 1", "0 < h*lambda"}
    nest = nesterov_stability().meta["explicit"]
    assert sp.cancel(_upper_bound(nest) - 2 * (1 + BETA) / (1 + 2 * BETA)) == 0


def test_heavy_ball_region_against_spine_simulator():
    # a point just inside and just outside the boundary h*lambda = 2(1 + beta), beta = -0.3
    lam = 1.0
    for x, stable in ((1.35, True), (1.45, False)):
        t = simulate(HeavyBall(x, -0.3), lambda v: lam * v, [[1.0]], 3000, record_every=None)
        assert (abs(t.final[0, 0]) < 1e-6) == stable


def test_two_step_growth_recovers_log_spectral_radius():
    rng = np.random.default_rng(1)
    c1, c0 = rng.uniform(-2, 2, 200), rng.uniform(-1, 1, 200)
    rate = two_step_growth(c1, c0, steps=2000)
    rho = np.array([_spectral_radius([1, -a, -b]) for a, b in zip(c1, c0)])
    assert np.allclose(rate, np.log(rho), atol=5e-3)


def test_gd_condition_and_simulation():
    res = gd_stability()
    assert res.expr == sp.Le(sp.Symbol("lambda_max", nonnegative=True), 2 / ETA)
    H = np.diag([0.5, 4.0])
    for eta, ok in ((1.9 / 4, True), (2.1 / 4, False)):
        t = simulate(GD(eta), lambda x: x @ H, [[1.0, 1.0]], 400, record_every=None)
        assert (np.abs(t.final).max() < 1e-3) == ok


def test_quasi_newton_condition_simulated():
    res = quasi_newton_stability()
    assert str(res.expr) == "lambda_max <= 2/h"
    rng = np.random.default_rng(2)
    G = rng.normal(size=(3, 3))
    H = G @ G.T
    D = np.diag(rng.uniform(0.5, 3, 3))
    mu = np.linalg.eigvals(np.linalg.solve(D, H)).real.max()
    P = np.linalg.solve(D, H)
    for eta, ok in ((1.95 / mu, True), (2.05 / mu, False)):
        t = simulate(GD(eta), lambda x: x @ P.T, [[1.0, -1.0, 0.5]], 3000, record_every=None)
        assert (np.abs(t.final).max() < 1e-3) == ok


def test_general_optimizer_kinds():
    res = general_optimizer_stability()
    assert res.kind == "sufficient" and "rho_L <= 1" in [str(c) for c in res.necessary]


@pytest.mark.parametrize("sampling", ["without", "with"])
def test_variance_factor_against_enumeration(sampling):
    c = variance_factor(sampling).expr
    rng = np.random.default_rng(3)
    for n, B in [(3, 1), (4, 2), (5, 3), (6, 2), (5, 5)]:
        vals = [sp.Rational(int(v), 7) for v in rng.integers(0, 30, n)]
        mean = sum(vals) / n
        s2 = sum((v - mean)**2 for v in vals) / n
        assert exact_batch_variance(vals, B, sampling) == sp.nsimplify(c.subs({N_SAMPLES: n, BATCH: B}) * s2)


def test_variance_factor_closed_forms():
    n, B = N_SAMPLES, BATCH
    assert sp.simplify(variance_factor("without").expr - (n - B) / (B * (n - 1))) == 0
    assert variance_factor("with").expr == 1 / B


def test_sgd_necessary_conditions():
    res = sgd_stability("without")
    a_cond, s_cond = res.necessary
    assert a_cond == sp.Le(SHARPNESS, 2 / ETA)
    target = sp.sqrt(BATCH * (N_SAMPLES - 1) / (N_SAMPLES - BATCH)) / ETA
    assert sp.simplify(s_cond.rhs**2 - target**2) == 0
    assert sp.simplify(sgd_stability("with").necessary[1].rhs - sp.sqrt(BATCH) / ETA) == 0
    # the boundary s_max(a) makes g exactly 1
    g = sgd_second_moment().expr
    assert sp.simplify(g.subs(NONUNIFORMITY, res.meta["s_boundary"]) - 1) == 0


def test_bad_sampling_and_batch():
    with pytest.raises(InputError, match="sampling"):
        variance_factor("sometimes")
    with pytest.raises(InputError, match="'B'"):
        sgd_quadratic_1d([1.0, 2.0, 3.0, 4.0], 0.1, 5, 3, 1, np.random.default_rng(0))
    with pytest.raises(InputError, match="'B'"):
        exact_batch_variance([1, 2], 3)


def test_sgd_monte_carlo_matches_and_wrong_factor_fails():
    rng = np.random.default_rng(4)
    a_vals = rng.gamma(0.8, 1.0, size=10)
    n, B, eta = 10, 3, 0.7
    a, s2 = a_vals.mean(), a_vals.var()
    g = (1 - eta * a)**2 + eta**2 * variance_factor_value(n, B) * s2
    g_wrong = (1 - eta * a)**2 + eta**2 * s2 / B
    est = sgd_quadratic_1d(a_vals, eta, B, 5000, 10, rng)["factor"]
    assert abs(est.z_score(g)) < 4
    assert abs(est.z_score(g_wrong)) > 4


@pytest.mark.parametrize("n, B", [(4, 2), (5, 2), (5, 3)])
def test_model_batches_without_replacement_are_uniform_and_independent(n, B):
    from math import comb
    from analytic.optimizers import SGD
    from numeric.driver import run
    seen = []           # the batches the SGD models read: the first B of the driver's fresh orderings
    run(SGD(0.1, 1), first_of(B, lambda X, idx: seen.append(idx.copy()) or 0 * X), np.zeros((60000, 1)), 2,
        seed=5, n_samples=n)
    idx = seen[0]
    same = (seen[0][:, 0] == seen[1][:, 0]).mean()     # independent across steps (not disjoint, as in an epoch)
    assert abs(same - 1 / n) < 4 * np.sqrt((1 / n) * (1 - 1 / n) / 60000)
    assert (np.diff(np.sort(idx, 1), axis=1) > 0).all()
    codes = (np.sort(idx, 1) * n**np.arange(B)).sum(1)
    counts = np.unique(codes, return_counts=True)[1]
    p = 1 / comb(n, B)
    assert len(counts) == comb(n, B) and np.all(np.abs(counts / 60000 - p) < 4 * np.sqrt(p * (1 - p) / 60000))


def _random_psd(rng, n, d, rational=False):
    if rational:
        out = []
        for _ in range(n):
            G = sp.Matrix(d, d, [sp.Rational(int(v), 3) for v in rng.integers(-3, 4, d * d)])
            out.append(G * G.T)
        return out
    G = rng.normal(size=(n, d, d))
    return np.einsum("nij,nkj->nik", G, G) / d


@pytest.mark.parametrize("sampling", ["without", "with"])
def test_matrix_forms_against_batch_enumeration(sampling):
    rng = np.random.default_rng(6)
    n, d, B, eta = 4, 2, 2, sp.Rational(1, 5)
    Hs = _random_psd(rng, n, d, rational=True)
    batches = itertools.combinations(range(n), B) if sampling == "without" else itertools.product(range(n), repeat=B)
    batches = list(batches)
    I = sp.eye(d)
    Ms = [I - eta * sum((Hs[i] for i in b), sp.zeros(d, d)) / B for b in batches]
    A_enum = sum((M * M for M in Ms), sp.zeros(d, d)) / len(Ms)
    L_enum = sum((sp.kronecker_product(M, M) for M in Ms), sp.zeros(d * d, d * d)) / len(Ms)
    assert second_moment_matrix(Hs, eta, B, sampling) == A_enum
    assert second_moment_operator(Hs, eta, B, sampling) == L_enum
    Hn = np.array([np.array(H, dtype=float) for H in Hs])
    assert np.allclose(second_moment_matrix_np(Hn, 0.2, B, sampling), np.array(A_enum, dtype=float))
    assert np.allclose(second_moment_operator_np(Hn, 0.2, B, sampling), np.array(L_enum, dtype=float))


def test_lambda_max_condition_is_sufficient_not_necessary():
    rng = np.random.default_rng(7)
    counterexample = False
    for _ in range(400):
        H = _random_psd(rng, 2, 2)
        eta = rng.uniform(0.1, 1.5) / np.linalg.eigvalsh(H.mean(0)).max()
        lam = np.linalg.eigvalsh(second_moment_matrix_np(H, eta, 1)).max()
        rho = np.abs(np.linalg.eigvals(second_moment_operator_np(H, eta, 1))).max()
        assert rho <= lam + 1e-10                           # lambda_max(A) <= 1 implies rho(L) <= 1
        counterexample |= rho < 0.98 and lam > 1.02
    assert counterexample                                   # but not conversely
    # commuting (diagonal) H_i: the two coincide
    D = np.array([np.diag(rng.uniform(0, 2, 3)) for _ in range(5)])
    lam = np.linalg.eigvalsh(second_moment_matrix_np(D, 0.6, 2)).max()
    rho = np.abs(np.linalg.eigvals(second_moment_operator_np(D, 0.6, 2))).max()
    assert np.isclose(lam, rho)


def test_matrix_monte_carlo_one_step():
    rng = np.random.default_rng(8)
    H = _random_psd(rng, 6, 3)
    A = second_moment_matrix_np(H, 0.4, 2)
    x0 = np.linalg.eigh(A)[1][:, -1]
    x1 = sgd_quadratic(H, 0.4, 2, x0, 40000, 1, rng)
    sq = (x1**2).sum(1)
    assert abs(sq.mean() - x0 @ A @ x0) < 4 * sq.std() / np.sqrt(sq.size)
    assert sgd_matrix_stability().kind == "sufficient"


def test_divergence_is_reported():
    with pytest.raises(DivergenceError, match="diverged at step"):
        sgd_quadratic_1d([1000.0, 1e6], 10.0, 1, 10, 400, np.random.default_rng(0))


def test_cli_derive_stability_json(capsys):
    assert main(["derive", "stability", "--optimizer", "sgd", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"optimizer", "condition", "necessary", "latex"} <= set(out)
    assert out["optimizer"] == "sgd" and "(-B + n)/(B*(n - 1))" in out["condition"]
    assert out["necessary"][0] == "a <= 2/h"
    assert main(["derive", "stability", "--optimizer", "heavy-ball", "--format", "latex"]) == 0
    assert "\\begin{align}" in capsys.readouterr().out


def test_cli_bad_optimizer_exits_2(capsys):
    assert main(["derive", "stability", "--optimizer", "adagrad"]) == 2


def test_cli_diagram_writes_png(tmp_path, capsys):
    out = tmp_path / "sub" / "d.png"
    assert main(["diagram", "--eta", "0.1", "0.5", "--batch", "1", "4", "--n", "50", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["diagram", "--eta", "0.1", "--batch", "80", "--n", "50", "--out", str(out)]) == 2
    assert "--batch" in capsys.readouterr().err


SEED002_CLAIMS = ["seed002.momentum-region", "seed002.sgd-second-moment", "seed002.sharpness-nonuniformity-diagram",
                  "seed002.escape", "seed002.minimum-norm", "seed002.error-dynamics", "seed002.arccos-kernel"]


def test_seed002_claims_pass_in_quick_mode(tmp_path, capsys):
    out = tmp_path / "v.json"
    assert main(["verify", "--quick", "--only", *SEED002_CLAIMS, "--json", str(out)]) == 0
    verdicts = json.loads(out.read_text())["claims"]
    assert [v["verdict"] for v in verdicts] == ["pass"] * len(SEED002_CLAIMS)


def test_derivation_texts_are_safe_in_latex_text_mode():
    from analytic.kernels import arccos_kernel
    from analytic.linear_regression import early_stopping, expected_error, minimum_norm_limit
    results = [gd_stability(), heavy_ball_stability(), nesterov_stability(), quasi_newton_stability(),
               general_optimizer_stability(), sgd_stability(), sgd_stability("with"), sgd_matrix_stability(),
               arccos_kernel(), minimum_norm_limit(), expected_error(), early_stopping()]
    for r in results:
        for step in r.steps:
            assert not set(step.why) & set("^~<>|{}\\"), step.why
        assert r.derivation_latex().count("\\begin{align}") == 1


def test_cached_results_are_read_only():
    with pytest.raises(TypeError):
        heavy_ball_stability().meta["explicit"] = None
