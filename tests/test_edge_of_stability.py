"""Tests of numeric.gd_ensemble (batched gradients, Hessian-vector products and Lanczos
against numeric.mlp and dense eigenvalues) and of the edge-of-stability statistic: on
recorded sharpness curves the 2/eta prediction passes, and 1/eta, 1.5/eta or 4/eta fail."""
import numpy as np
import pytest

from analytic.errors import DivergenceError, InputError
from numeric.data import digits
from numeric.gd_ensemble import (TwoLayerEnsemble, batched_top_eigenvalues, losses_along, sharpness_along,
                                 train_gd_ensemble)
from numeric.mlp import single_blas_thread, top_eigenvalue
from verify.claims.seed002_edge_of_stability import edge_summary, edge_verdict, train_runs


def _problem(B=3, n=7, seed=0):
    rng = np.random.default_rng(seed)
    ens = TwoLayerEnsemble(5, 4, 3)
    X = rng.normal(size=(n, 5))
    Y = np.eye(3)[rng.integers(0, 3, size=n)]
    return ens, ens.init(range(B), scale=1.4), X, Y


def test_batched_gradient_and_hvp_equal_the_single_network_ones():
    ens, Th, X, Y = _problem()
    V = np.random.default_rng(1).normal(size=Th.shape)
    L, G = ens.loss_and_grad(Th, X, Y)
    HV = ens.hvp(Th, X, Y, V)
    for b in range(Th.shape[0]):
        l1, g1 = ens.mlp.loss_and_grad(Th[b], X, Y)
        assert L[b] == pytest.approx(l1, rel=1e-13)
        assert np.allclose(G[b], g1, rtol=0, atol=1e-14)
        assert np.allclose(HV[b], ens.mlp.hvp(Th[b], X, Y, V[b]), rtol=0, atol=1e-13)


def test_batched_lanczos_matches_dense_and_eigsh():
    ens, Th, X, Y = _problem(B=2)
    P = ens.n_params
    lam, U, res = batched_top_eigenvalues(lambda V: ens.hvp(Th, X, Y, V),
                                          np.random.default_rng(2).normal(size=Th.shape), P)
    for b in range(2):
        H = np.stack([ens.mlp.hvp(Th[b], X, Y, e) for e in np.eye(P)], axis=1)
        dense = np.linalg.eigvalsh(0.5 * (H + H.T))[-1]
        assert lam[b] == pytest.approx(dense, rel=1e-10)
        assert lam[b] == pytest.approx(top_eigenvalue(lambda v: ens.mlp.hvp(Th[b], X, Y, v), P)[0], rel=1e-6)
    assert res.max() < 1e-8


def test_divergence_is_reported_with_its_step_and_bad_input_is_named():
    ens, Th, X, Y = _problem(B=2)
    rec = train_gd_ensemble(ens, Th, X, Y, [0.05, 500.0], 100, log_every=10)    # |theta| > 1e150: diverged
    assert rec.diverged_at[0] == -1 and 0 < rec.diverged_at[1] <= 100 and np.isfinite(rec.xs).all()
    with pytest.raises(DivergenceError, match=f"diverged at step {rec.diverged_at[1]}"):
        rec.check()
    sharpness, _ = sharpness_along(ens, rec, X, Y)
    loss = losses_along(ens, rec, X, Y)
    assert not sharpness.mask[:, 0].any() and not loss.mask[:, 0].any() and sharpness.mask[-1, 1]
    assert np.isfinite(sharpness.data).all() and np.isfinite(loss.data).all()     # no NaN handed back
    with pytest.raises(InputError, match="etas"):
        train_gd_ensemble(ens, Th, X, Y, [0.1], 5)
    with pytest.raises(InputError, match="warmup"):
        train_gd_ensemble(ens, Th, X, Y, [0.1, 0.1], 5, warmup=-1)


@pytest.fixture(scope="module")
def recorded_curves():
    """Sharpness curves of 2 short runs at eta = 0.5 (the claim's setup, fewer steps)."""
    X, labels = digits(200, seed=0, standardize=True)
    with single_blas_thread():
        traj, sharpness, _ = train_runs(X, np.eye(10)[labels], np.array([0.5, 0.5]), [0, 2], 700)
    assert np.all(traj.diverged_at == -1)
    return traj.steps, sharpness, 0.5


def test_the_statistic_accepts_two_over_eta(recorded_curves):
    steps, sharpness, eta = recorded_curves
    sums = [edge_summary(steps, sharpness[:, b], 2 / eta) for b in range(2)]
    verdict = edge_verdict(sums)
    assert verdict["passed"] and verdict["reached"] >= 1
    judged = [s for s in sums if s.reached_at is not None]
    assert all(abs(s.window_mean - 1) < 0.1 for s in judged)


@pytest.mark.parametrize("c", [1.0, 1.5, 2.5, 4.0])
def test_the_statistic_rejects_a_wrong_edge(recorded_curves, c):
    steps, sharpness, eta = recorded_curves
    verdict = edge_verdict(edge_summary(steps, sharpness[:, b], c / eta) for b in range(2))
    assert not verdict["passed"]
    if c < 2:      # the edge would lie below the measured sharpness: peak or average too high
        assert not (verdict["peak_ok"] and verdict["settle_ok"])
    else:          # the edge would lie above it: GD never reaches it
        assert verdict["reached"] == 0


def test_a_short_lanczos_is_restarted_until_its_residual_is_small():
    ens, Th, X, Y = _problem(B=2, n=9)
    etas = [0.05, 0.2]
    traj = train_gd_ensemble(ens, Th, X, Y, etas, 20, log_every=10)
    exact, _ = sharpness_along(ens, traj, X, Y, lanczos_iterations=ens.n_params)
    short, residual = sharpness_along(ens, traj, X, Y, lanczos_iterations=3, residual_tol=1e-6)
    assert residual.max() < 1e-3
    assert np.allclose(short, exact, rtol=1e-6)
