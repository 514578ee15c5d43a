"""Tests of analytic.jacobian_reg against independent numerics (finite differences,
LAPACK eigenvalues, random probability vectors) and of `implreg derive jacobian-reg`."""
import json

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from analytic.errors import InputError
from analytic.jacobian_reg import (gauss_newton_decomposition, impurity_bounds, jacobian_reg_summary,
                                   lambda_star_identity, logit_hessian_spectrum, probability_symbols,
                                   softmax_logit_hessian)
from verify.cli import main


def _ce(z, label):
    return np.log(np.sum(np.exp(z))) - z[label]


def _M(p):
    return np.diag(p) - np.outer(p, p)


@pytest.mark.parametrize("K", [2, 3, 4])
def test_softmax_hessian_matches_finite_differences(K):
    res = softmax_logit_hessian(K)
    assert res.meta["difference"] == 0
    rng = np.random.default_rng(K)
    z = rng.normal(size=K)
    p = np.exp(z) / np.exp(z).sum()
    M = np.array(res.expr.subs(dict(zip(probability_symbols(K), p))).tolist(), dtype=float)
    h = 1e-4
    fd = np.empty((K, K))
    for i in range(K):
        for j in range(K):
            ei, ej = np.eye(K)[i] * h, np.eye(K)[j] * h
            fd[i, j] = (_ce(z + ei + ej, 0) - _ce(z + ei - ej, 0) - _ce(z - ei + ej, 0)
                        + _ce(z - ei - ej, 0)) / (4 * h * h)
    assert np.max(np.abs(fd - M)) < 1e-6


@pytest.mark.parametrize("K", [2, 3, 5])
def test_spectrum_rank_null_vector_and_pseudodeterminant_numerically(K):
    res = logit_hessian_spectrum(K)
    assert res.meta["pseudo_determinant_checked"] and res.meta["rank"] == K - 1
    rng = np.random.default_rng(10 + K)
    for p in rng.dirichlet(np.ones(K), size=20):
        M = _M(p)
        w = np.linalg.eigvalsh(M)
        assert np.linalg.matrix_rank(M, tol=1e-12) == K - 1
        assert np.allclose(M @ np.ones(K), 0, atol=1e-15)
        assert np.isclose(np.prod(w[1:]), K * np.prod(p), rtol=1e-9)
        pd = float(res.meta["pseudo_determinant"].subs(dict(zip(probability_symbols(K), p))))
        assert np.isclose(pd, np.prod(w[1:]), rtol=1e-9)


def test_two_class_lambda_max():
    lam = logit_hessian_spectrum(2).meta["lambda_max_K2"]
    for q in (0.1, 0.37, 0.5, 0.93):
        expected = np.linalg.eigvalsh(_M(np.array([q, 1 - q])))[-1]
        assert np.isclose(float(lam.subs(sp.Symbol("p", positive=True), q)), expected, rtol=1e-12)


def test_impurity_bound_identities_are_checked_symbolically():
    for K in (2, 3, 4):
        assert all(impurity_bounds(K).meta["checks"].values())


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 8), st.integers(0, 2**32 - 1), st.floats(0.05, 20))
def test_bound_chain_on_random_probabilities(K, seed, alpha):
    p = np.random.default_rng(seed).dirichlet(np.full(K, alpha))
    lam = np.linalg.eigvalsh(_M(p))[-1]
    s = np.sort(p)[::-1]
    gini = 1 - p @ p
    eps = 1e-12
    assert s[0] * (1 - s[0]) <= lam + eps and s[1] <= lam + eps and gini / (K - 1) <= lam + eps
    assert lam <= min(s[0], 2 * s[0] * (1 - s[0])) + eps
    assert 2 * s[0] * (1 - s[0]) <= gini + eps


@pytest.mark.parametrize("a", [0.2, 0.3, 0.45, 0.6, 0.9])
def test_upper_bound_is_attained(a):
    if a <= 0.5:   # floor(1/a) copies of a, then the remainder (< a): p_(1) = p_(2) = a
        m = int(np.floor(1 / a + 1e-12))
        p = np.r_[np.full(m, a), 1 - m * a, 0.0]
    else:
        p = np.array([a, 1 - a, 0.0, 0.0])
    assert np.isclose(p.sum(), 1) and np.isclose(p.max(), a)
    lam = np.linalg.eigvalsh(_M(p))[-1]
    assert np.isclose(lam, min(a, 2 * a * (1 - a)), rtol=1e-12)


def test_lower_bound_is_approached_with_many_tiny_classes():
    a = 0.7
    ratios = []
    for K in (10, 100, 1000):
        p = np.r_[a, np.full(K - 1, (1 - a) / (K - 1))]
        ratios.append(a * (1 - a) / np.linalg.eigvalsh(_M(p))[-1])
    assert ratios[0] < ratios[1] < ratios[2] < 1 and ratios[2] > 0.99


def test_gauss_newton_difference_vanishes():
    diff = gauss_newton_decomposition(2, 2).meta["difference"]
    assert all(e == 0 for e in diff)
    diff3 = gauss_newton_decomposition(3, 1).meta["difference"]
    assert all(e == 0 for e in diff3)


def test_lambda_star_identity_numerically():
    rng = np.random.default_rng(3)
    n, P, K = 7, 6, 3
    J = rng.normal(size=(n, P, K))
    Ms = np.stack([_M(p) for p in rng.dirichlet(np.ones(K), size=n)])
    G = np.einsum("npk,nkl,nql->pq", J, Ms, J) / n
    w, V = np.linalg.eigh(G)
    u = V[:, -1]
    Ju = np.einsum("npk,p->nk", J, u)
    Jn2 = np.array([np.linalg.norm(Ji, 2) ** 2 for Ji in J])
    lam_star = np.einsum("nk,nkl,nl->n", Ju, Ms, Ju) / Jn2
    assert np.isclose(np.mean(lam_star * Jn2), w[-1], rtol=1e-12)
    assert np.all(lam_star <= np.linalg.eigvalsh(Ms)[:, -1] + 1e-15)
    assert len(lambda_star_identity().steps) == 5


@pytest.mark.parametrize("bad", [1, 7, True, "3", 2.0])
def test_bad_class_count_is_an_input_error(bad):
    with pytest.raises(InputError, match="argument .K."):
        jacobian_reg_summary(bad)


def test_cli_json_and_errors(capsys):
    assert main(["derive", "jacobian-reg", "--classes", "3", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rank"] == 2 and data["null_vector"] == [1, 1, 1]
    assert data["pseudo_determinant"] == "3*p1*p2*p3"
    assert "2*p_(1)*(1 - p_(1))" in data["upper_bound"]
    assert main(["derive", "jacobian-reg", "--classes", "2", "--format", "latex"]) == 0
    assert r"\begin{align}" in capsys.readouterr().out
    assert main(["derive", "jacobian-reg", "--classes", "12"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--classes" in err and "'12'" in err and "between 2 and 6" in err
