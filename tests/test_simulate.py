"""Simulated iterates against plain Python loops of the written update rules."""
import math

import numpy as np
import pytest

from analytic.errors import DivergenceError, InputError
from analytic.models import quadratic, sigmoid2d
from analytic.optimizers import GD, SGD, HeavyBall, Nesterov
from numeric.compile import compile_gradient
from numeric.driver import CHECK_EVERY
from numeric.simulate import OVERFLOW, simulate, simulate_sgd

H, X, Y = 0.3, 1.0, 0.6


def grad_py(w1, w2):
    """grad of 1/2 (y - w1 s)^2, s = 1/(1 + e^{-w2 x}), written out by hand."""
    s = 1.0 / (1.0 + math.exp(-w2 * X))
    r = Y - w1 * s
    return -r * s, -r * w1 * X * s * (1.0 - s)


def loop(x0, steps, h, beta=0.0, gamma=0.0, x_prev=None):
    """x_{k+1} = x_k + beta (x_k - x_{k-1}) - h grad(x_k + gamma (x_k - x_{k-1}))."""
    x = list(x0)
    xp = list(x0 if x_prev is None else x_prev)
    out = [tuple(x)]
    for _ in range(steps):
        v = [a - b for a, b in zip(x, xp)]
        g = grad_py(*[a + gamma * b for a, b in zip(x, v)])
        x, xp = [a + beta * b - h * c for a, b, c in zip(x, v, g)], x
        out.append(tuple(x))
    return np.array(out)


STARTS = np.array([[6.0, 2.0], [0.5, -1.0], [2.0, 0.3]])
GRAD = compile_gradient(sigmoid2d())


def test_gd_matches_loop():
    t = simulate(GD(H), GRAD, STARTS, 150)
    for i, s in enumerate(STARTS):
        assert np.allclose(t.xs[:, i], loop(s, 150, H), rtol=1e-12, atol=1e-13)
    assert (t.diverged_at == -1).all() and t.steps.tolist() == list(range(151))


def test_heavy_ball_convention_x_prev_equals_x0():
    t = simulate(HeavyBall(H, 0.8), GRAD, STARTS, 120)
    for i, s in enumerate(STARTS):
        assert np.allclose(t.xs[:, i], loop(s, 120, H, beta=0.8), rtol=1e-11, atol=1e-12)
    # x_{-1} = x_0 means the first step is a plain GD step
    assert np.allclose(t.xs[1], simulate(GD(H), GRAD, STARTS, 1).xs[1], rtol=1e-15)


def test_heavy_ball_with_given_x_prev():
    prev = STARTS + np.array([0.1, -0.2])
    t = simulate(HeavyBall(H, 0.8), GRAD, STARTS, 120, x_prev=prev)
    for i, s in enumerate(STARTS):
        assert np.allclose(t.xs[:, i], loop(s, 120, H, beta=0.8, x_prev=prev[i]), rtol=1e-11, atol=1e-12)
    # the two conventions really differ
    t0 = simulate(HeavyBall(H, 0.8), GRAD, STARTS, 1)
    assert not np.allclose(t.xs[1], t0.xs[1])
    assert np.allclose(t.xs[1] - t0.xs[1], 0.8 * (STARTS - prev), rtol=1e-12)


def test_nesterov_matches_loop():
    t = simulate(Nesterov(H, 0.7), GRAD, STARTS, 100)
    for i, s in enumerate(STARTS):
        assert np.allclose(t.xs[:, i], loop(s, 100, H, beta=0.7, gamma=0.7), rtol=1e-11, atol=1e-12)


def test_plain_callable_gradient_and_single_start():
    t = simulate(GD(0.1), lambda x: 2 * x, [1.0], 3)
    assert t.xs[:, 0, 0].tolist() == pytest.approx([1.0, 0.8, 0.64, 0.512], rel=1e-15)


def test_record_every():
    t = simulate(GD(H), GRAD, STARTS, 20, record_every=7)
    assert t.steps.tolist() == [0, 7, 14, 20]
    full = simulate(GD(H), GRAD, STARTS, 20)
    assert np.array_equal(t.xs, full.xs[[0, 7, 14, 20]])
    t = simulate(GD(H), GRAD, STARTS, 20, record_every=None)
    assert t.steps.tolist() == [0, 20] and np.array_equal(t.final, full.final)


def first_overflow_step(x0, factor):
    x, k = x0, 0
    while abs(x) <= OVERFLOW:
        x, k = factor * x, k + 1
    return k


@pytest.mark.parametrize("lam,h", [(1.0, 2.5), (10.0, 0.21), (4.0, 0.9)])
def test_gd_divergence_step_on_quadratic(lam, h):
    """h > 2/lambda: |x_k| = |1 - h lambda|^k |x_0| crosses OVERFLOW at a known step."""
    assert h > 2 / lam
    loss = quadratic([[lam]])
    x0 = 0.7
    k_loop = first_overflow_step(x0, 1 - h * lam)
    k_formula = math.ceil((math.log(OVERFLOW) - math.log(x0)) / math.log(abs(1 - h * lam)))
    assert abs(k_loop - k_formula) <= 1
    t = simulate(GD(h), compile_gradient(loss), [[x0]], k_loop + 50, record_every=None)
    assert t.diverged_at.tolist() == [k_loop]
    assert np.isfinite(t.xs).all()
    with pytest.raises(DivergenceError, match=f"diverged at step {k_loop}$"):
        t.check("GD")


def test_only_the_diverging_start_is_frozen():
    loss = quadratic([[1, 0], [0, 10]])
    h = 0.25                                   # stable for lambda = 1, unstable for 10
    x0 = np.array([[1.0, 0.0], [0.0, 1.0]])
    t = simulate(GD(h), compile_gradient(loss), x0, 1200, record_every=1)
    k = first_overflow_step(1.0, 1 - h * 10)
    assert t.diverged_at.tolist() == [-1, k]
    assert t.final[0].tolist() == pytest.approx([0.75**1200, 0.0], rel=1e-12)
    # frozen at the last finite iterate
    assert t.final[1, 1] == pytest.approx((-1.5)**(k - 1), rel=1e-12)
    assert np.isfinite(t.xs).all()


def test_heavy_ball_divergence_step_matches_loop():
    loss = quadratic([[1]])
    h, beta = 5.0, 0.5          # roots of r^2 + 3.5 r + 0.5: |r| > 1, unstable
    x, xp, k = 0.3, 0.3, 0
    while abs(x) <= OVERFLOW:
        x, xp, k = x + beta * (x - xp) - h * x, x, k + 1
    t = simulate(HeavyBall(h, beta), compile_gradient(loss), [[0.3]], k + 3 * CHECK_EVERY, record_every=None)
    assert t.diverged_at.tolist() == [k]


def test_nan_divergence_reported():
    # x_k = k; the gradient is NaN once x > 5, so x_7 is NaN
    t = simulate(GD(1.0), lambda x: np.sqrt(5.0 - x) * 0.0 - 1.0, [[0.0]], 40)
    assert t.diverged_at.tolist() == [7]
    assert t.final.tolist() == [[6.0]]


def sgd_setup(n_terms=6):
    centers = np.arange(1.0, n_terms + 1.0) ** 1.5
    grads = [lambda x, c=c: x - c for c in centers]
    return centers, grads


def recovered_indices(t, centers, h):
    xs = t.xs[:, :, 0]
    c = (xs[1:] - (1 - h) * xs[:-1]) / h          # batch size 1: x' = x - h (x - c_j)
    return np.abs(c[:, :, None] - centers[None, None, :]).argmin(axis=2), c


def test_sgd_samples_without_replacement_each_epoch():
    centers, grads = sgd_setup()
    h = 0.25
    t = simulate_sgd(SGD(h, 6), grads, np.zeros((4, 1)), epochs=5, seed=3)
    idx, c = recovered_indices(t, centers, h)
    assert np.allclose(c, centers[idx], atol=1e-9)
    for start in range(4):
        for e in range(5):
            assert sorted(idx[6 * e: 6 * e + 6, start]) == list(range(6))
    # different starts get different orderings (with overwhelming probability)
    assert len({tuple(idx[:, s]) for s in range(4)}) > 1


def test_sgd_same_ordering_and_determinism():
    centers, grads = sgd_setup()
    a = simulate_sgd(SGD(0.25, 6), grads, np.zeros((3, 1)), 4, seed=11)
    b = simulate_sgd(SGD(0.25, 6), grads, np.zeros((3, 1)), 4, seed=11)
    c = simulate_sgd(SGD(0.25, 6), grads, np.zeros((3, 1)), 4, seed=12)
    assert np.array_equal(a.xs, b.xs) and not np.array_equal(a.xs, c.xs)
    same = simulate_sgd(SGD(0.25, 6), grads, np.zeros((3, 1)), 4, seed=11, same_ordering=True)
    assert np.array_equal(same.xs[:, 0], same.xs[:, 1])


def test_sgd_minibatch_means():
    centers, grads = sgd_setup(4)
    h = 0.5
    t = simulate_sgd(SGD(h, 2), grads, np.zeros((1, 1)), 1, seed=0)
    # two steps, each on the mean of two distinct samples; one epoch covers all four
    c1 = (t.xs[1, 0, 0] - (1 - h) * t.xs[0, 0, 0]) / h
    c2 = (t.xs[2, 0, 0] - (1 - h) * t.xs[1, 0, 0]) / h
    assert c1 + c2 == pytest.approx(centers.sum() / 2, rel=1e-12)
    pair_means = {(centers[i] + centers[j]) / 2 for i in range(4) for j in range(i + 1, 4)}
    assert min(abs(c1 - m) for m in pair_means) < 1e-9


def test_bad_inputs_name_the_argument():
    with pytest.raises(InputError, match="'steps'"):
        simulate(GD(0.1), GRAD, STARTS, -1)
    with pytest.raises(InputError, match="'x0'"):
        simulate(GD(0.1), GRAD, np.ones((2, 2, 2)), 3)
    with pytest.raises(InputError, match="'x0'"):
        simulate(GD(0.1), GRAD, [[np.nan, 1.0]], 3)
    with pytest.raises(InputError, match="'x_prev'"):
        simulate(HeavyBall(0.1, 0.5), GRAD, STARTS, 3, x_prev=np.ones((2, 2)))
    with pytest.raises(InputError, match="'record_every'"):
        simulate(GD(0.1), GRAD, STARTS, 3, record_every=0)
    with pytest.raises(InputError, match="'optimizer'"):
        simulate(SGD(0.1, 1), GRAD, STARTS, 3)
    with pytest.raises(InputError, match="'batches'"):
        simulate_sgd(SGD(0.1, 4), sgd_setup(6)[1], [[0.0]], 1, seed=0)
    with pytest.raises(InputError, match="'h'"):
        GD(-1)


@pytest.mark.parametrize("record_every", [None, 10, 1])
def test_starts_diverging_at_different_steps_are_each_frozen(record_every):
    """GD on diag(1, 10) with h = 0.25: the w2 component grows like 1.5^k, so
    starts of different size cross OVERFLOW at different steps; the others
    go on and must match the plain loop."""
    loss = quadratic([[1, 0], [0, 10]])
    h, steps = 0.25, 1000
    x0 = np.array([[1.0, 0.0], [0.5, 1e-3], [2.0, 1e40], [1.0, 0.0], [0.1, 1e100], [3.0, 0.0]])
    expected_step = [first_overflow_step(b, -1.5) if b else -1 for b in x0[:, 1]]
    assert len(set(expected_step)) == 4
    t = simulate(GD(h), compile_gradient(loss), x0, steps, record_every=record_every)
    assert t.diverged_at.tolist() == expected_step
    assert np.isfinite(t.xs).all()
    for i, k in enumerate(expected_step):
        if k < 0:
            assert t.final[i].tolist() == pytest.approx([x0[i, 0] * 0.75**steps, 0.0], rel=1e-12)
        else:   # frozen at the last finite iterate
            assert t.final[i, 1] == pytest.approx(x0[i, 1] * (-1.5)**(k - 1), rel=1e-12)
    every = steps if record_every is None else record_every
    assert t.steps.tolist() == list(range(0, steps + 1, every))
    k = t.steps.tolist().index(100) if 100 in t.steps.tolist() else None
    if k is not None:   # at step 100 start 1 is still running
        assert t.xs[k, 1, 1] == pytest.approx(1e-3 * 1.5**100, rel=1e-12)


def test_threads_give_bit_identical_results_including_divergence():
    loss = quadratic([[1, 0], [0, 10]])
    x0 = np.random.default_rng(5).uniform(-1, 1, size=(3000, 2)) * np.array([1.0, 1e-10])
    x0[::7, 1] = 0.0                                  # these never diverge
    g = compile_gradient(loss)
    one = simulate(GD(0.25), g, x0, 1000, record_every=50, threads=1)
    three = simulate(GD(0.25), g, x0, 1000, record_every=50, threads=3)
    assert np.array_equal(one.xs, three.xs) and np.array_equal(one.diverged_at, three.diverged_at)
    assert (one.diverged_at[::7] == -1).all() and (one.diverged_at > 0).sum() > 2000
    hb1 = simulate(HeavyBall(H, 0.9), GRAD, np.tile(STARTS, (700, 1)), 60, record_every=None, threads=1)
    hb2 = simulate(HeavyBall(H, 0.9), GRAD, np.tile(STARTS, (700, 1)), 60, record_every=None, threads=2)
    assert np.array_equal(hb1.xs, hb2.xs)
    with pytest.raises(InputError, match="'threads'"):
        simulate(GD(H), GRAD, STARTS, 3, threads=0)


def test_threads_need_a_compiled_gradient():
    with pytest.raises(InputError, match="'threads'"):
        simulate(GD(0.1), lambda x: 2 * x, [[1.0]], 3, threads=2)
