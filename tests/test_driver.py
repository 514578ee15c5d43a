"""The one driver and the compiled step: every built-in spec, checked against
independent hand-written loops and against its own generic (uncompiled) step."""
from __future__ import annotations

import numpy as np
import pytest

from analytic import optimizers as O
from analytic.errors import DivergenceError, InputError
from analytic.models import sigmoid2d
from numeric.compile import compile_gradient
from numeric.driver import OVERFLOW, batch_mean, run
from numeric.stepper import compile_step

GRAD = compile_gradient(sigmoid2d())
X0 = np.random.default_rng(3).uniform(-2, 2, (40, 2))

DETERMINISTIC = [O.GD(0.1), O.HeavyBall(0.1, 0.9), O.Nesterov(0.1, 0.5), O.RMSProp(0.01),
                 O.Adam(0.01), O.Adam(0.01, bias_correction=False), O.AdamW(0.01, weight_decay=0.1),
                 O.SAM(0.1, 0.05), O.SAM(0.1, 0.05, normalized=True), O.WeightDecay(0.1, O.Nesterov(0.1, 0.5), 0.1),
                 O.EMA(0.1, O.HeavyBall(0.1, 0.5), 0.9)]


def hand_gradient(W):
    """grad of 1/2 (y - w1 s)^2, s = sigmoid(w2 x), x = 1, y = 3/5 (sigmoid2d's defaults)."""
    s = 1.0 / (1.0 + np.exp(-W[:, 1]))
    r = 0.6 - W[:, 0] * s
    return np.stack([-r * s, -r * W[:, 0] * s * (1.0 - s)], axis=-1)


def test_hand_gradient_is_the_models():
    assert np.allclose(hand_gradient(X0), GRAD(X0), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("opt", DETERMINISTIC, ids=lambda o: repr(o)[:40])
def test_compiled_step_is_the_generic_step_bit_for_bit(opt):
    a = run(opt, GRAD, X0, 150, record_every=7, compiled=False)
    b = run(opt, GRAD, X0, 150, record_every=7)
    assert np.array_equal(a.xs, b.xs) and np.array_equal(a.steps, b.steps)
    assert np.array_equal(a.diverged_at, b.diverged_at)


def test_which_specs_compile():
    compiled = {type(o).__name__ + str(getattr(o, "bias_correction", "")): compile_step(o, GRAD, 2) is not None
                for o in DETERMINISTIC}
    assert compiled["HeavyBall"] and compiled["SAM"] and compiled["RMSProp"]
    assert compiled["AdamTrue"] and compiled["AdamFalse"]       # the step count: a scalar register
    assert compile_step(O.SGD(0.1, 2), GRAD, 2) is None


def _adam_loop(W, steps, h, b1, b2, eps, wd=0.0):
    """Adam (Kingma & Ba 2015, Algorithm 1), decoupled decay as in AdamW, written out."""
    x = W.copy()
    m, v = np.zeros_like(x), np.zeros_like(x)
    for k in range(1, steps + 1):
        g = hand_gradient(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - h * (m / (1 - b1 ** k) / (np.sqrt(v / (1 - b2 ** k)) + eps) + wd * x)
    return x


def test_adam_and_adamw_match_the_paper_algorithm():
    got = run(O.Adam(0.01), GRAD, X0, 300, record_every=None).final
    assert np.allclose(got, _adam_loop(X0, 300, 0.01, 0.9, 0.999, 1e-8), rtol=1e-11, atol=1e-13)
    got = run(O.AdamW(0.01, weight_decay=0.1), GRAD, X0, 300, record_every=None).final
    assert np.allclose(got, _adam_loop(X0, 300, 0.01, 0.9, 0.999, 1e-8, 0.1), rtol=1e-11, atol=1e-13)


def test_rmsprop_sam_and_nesterov_match_written_out_loops():
    # RMSProp near a minimum is close to sign descent, whose oscillation amplifies rounding
    # differences (1e-16 at step 60, 1e-2 at step 100): compared over 40 steps
    x, s = X0.copy(), np.zeros_like(X0)
    for _ in range(40):
        g = hand_gradient(x)
        s = 0.9 * s + (1 - 0.9) * g * g
        x = x - 0.01 * g / (np.sqrt(s) + 1e-8)
    assert np.allclose(run(O.RMSProp(0.01), GRAD, X0, 40, None).final, x, rtol=1e-12, atol=1e-14)
    x = X0.copy()
    for _ in range(200):
        g = hand_gradient(x)
        x = x - 0.1 * hand_gradient(x + 0.05 * g / np.linalg.norm(g, axis=1, keepdims=True))
    assert np.allclose(run(O.SAM(0.1, 0.05, True), GRAD, X0, 200, None).final, x, rtol=1e-11, atol=1e-13)
    x, xp = X0.copy(), X0.copy()
    for _ in range(200):
        x, xp = x + 0.5 * (x - xp) - 0.1 * hand_gradient(x + 0.5 * (x - xp)), x
    assert np.allclose(run(O.Nesterov(0.1, 0.5), GRAD, X0, 200, None).final, x, rtol=1e-11, atol=1e-13)


def test_ema_tracks_the_average_and_leaves_the_iterates():
    t = run(O.EMA(0.1, O.GD(0.1), 0.5), lambda x: 2 * x, [[1.0]], 3)
    assert np.allclose(t.xs[:, 0, 0], [1.0, 0.8, 0.64, 0.512])
    xbar = 1.0
    for x in (0.8, 0.64, 0.512):
        xbar = 0.5 * xbar + 0.5 * x
    assert t.state[-1][0][0, 0] == pytest.approx(xbar, rel=1e-15)


def test_divergence_is_one_policy_for_any_state():
    # GD on E = 3 x^2 / 2 with h = 1 multiplies by -2 per step: |x| > 1e150 first at step k with 2^k > 1e150
    t = run(O.GD(1.0), lambda x: 3 * x, [[1.0], [0.0]], 600)
    k = int(np.ceil(150 / np.log10(2)))
    assert t.diverged_at.tolist() == [k, -1]
    assert np.isfinite(t.xs).all() and abs(t.final[0, 0]) <= OVERFLOW
    with pytest.raises(DivergenceError, match=f"diverged at step {k}"):
        t.check("GD")
    # Adam's second moment overflows before its iterate does: the state is checked too
    t = run(O.Adam(1e-3), lambda x: 1e70 * x ** 3, [[1e30], [0.1]], 50)
    assert t.diverged_at[0] >= 1 and t.diverged_at[1] == -1
    assert all(np.isfinite(leaf).all() for leaf in (t.state[0][0], t.state[0][1]))


def test_sgd_with_and_without_replacement_is_seeded_and_uniform():
    grad = batch_mean([lambda x, j=j: x * 0 + j for j in range(4)])        # gradient j at sample j
    for replacement in (False, True):
        opt = O.SGD(1.0, 4, replacement=replacement)
        a = run(opt, grad, np.zeros((500, 1)), 400, seed=11, n_samples=4)
        b = run(opt, grad, np.zeros((500, 1)), 400, seed=11, n_samples=4)
        assert np.array_equal(a.xs, b.xs)
        steps = -np.diff(a.xs[:, :, 0], axis=0)                     # the sample index used at each step
        counts = np.array([(steps == j).sum() for j in range(4)]) / steps.size
        assert np.allclose(counts, 0.25, atol=0.01)
        if not replacement:                                         # each epoch visits every sample once
            assert (np.sort(steps[:4], axis=0) == np.arange(4)[:, None]).all()
    with pytest.raises(InputError, match="seed"):
        run(O.SGD(1.0, 4), grad, [[0.0]], 4, n_samples=4)


def test_label_noise_draws_are_seeded_and_standard_normal():
    t = run(O.LabelNoise(1.0, 1), lambda x, xi: x * 0 - xi, np.zeros((4000, 1)), 1, seed=5, noise_dim=1)
    draws = t.final[:, 0]
    assert abs(draws.mean()) < 0.06 and abs(draws.std() - 1) < 0.04
    assert np.array_equal(draws, run(O.LabelNoise(1.0, 1), lambda x, xi: x * 0 - xi, np.zeros((4000, 1)), 1,
                                     seed=5, noise_dim=1).final[:, 0])


def test_symbolic_hyperparameters_are_refused():
    with pytest.raises(InputError, match="numbers to simulate"):
        run(O.HeavyBall("h", "1/2"), GRAD, X0, 3)


WORKER_SPECS = [O.HeavyBall(0.1, 0.9), O.Adam(0.01), O.SAM(0.1, 0.05, normalized=True),
                O.EMA(0.1, O.HeavyBall(0.1, 0.5), 0.9), O.Nesterov(2.5, 0.9)]


@pytest.mark.parametrize("opt", WORKER_SPECS, ids=lambda o: repr(o)[:40])
def test_workers_give_the_one_process_result_bit_for_bit(opt):
    # Nesterov with h = 2.5 diverges from some starts: the steps and the frozen iterates must agree too
    x0 = np.concatenate([X0, 3 * X0])
    one = run(opt, GRAD, x0, 120, record_every=11)
    for workers in (2, 3):
        split = run(opt, GRAD, x0, 120, record_every=11, workers=workers)
        assert np.array_equal(one.xs, split.xs) and np.array_equal(one.steps, split.steps)
        assert np.array_equal(one.diverged_at, split.diverged_at)
        a, b = [], []
        _leaves = lambda s, out: [_leaves(t, out) for t in s] if isinstance(s, tuple) else out.append(s)  # noqa: E731
        _leaves(one.state, a), _leaves(split.state, b)
        assert len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))
    if isinstance(opt, O.Nesterov):
        assert one.diverged.any() and not one.diverged.all()


def test_workers_are_checked_and_refused_for_a_stochastic_spec():
    for bad in (0, -1, True, 2.5, "2", 257):
        with pytest.raises(InputError, match="'workers'"):
            run(O.GD(0.1), GRAD, X0, 3, workers=bad)
    g = batch_mean([lambda x: x - 1.0, lambda x: x + 1.0])
    with pytest.raises(InputError, match="'workers'.*stochastic"):
        run(O.SGD(0.1, 2), g, np.zeros((4, 1)), 3, seed=0, n_samples=2, workers=2)


def test_an_error_in_a_worker_reaches_the_caller():
    def grad(x):
        if (x > 50).any():
            raise ValueError("gradient undefined beyond 50")
        return 2 * x
    x0 = np.array([[1.0], [2.0], [60.0], [70.0]])          # the bad starts are in the second half
    with pytest.raises(ValueError, match="undefined beyond 50"):
        run(O.GD(0.1), grad, x0, 3, workers=2)


def test_compiled_step_over_many_chunks_is_the_generic_step():
    # more starts than one kernel chunk: the step calls the whole chunked kernel
    from numeric.kernel import CHUNK
    x0 = np.random.default_rng(5).uniform(-2, 2, (2 * CHUNK + 7, 2))
    a = run(O.HeavyBall(0.1, 0.9), GRAD, x0, 40, record_every=None, compiled=False)
    b = run(O.HeavyBall(0.1, 0.9), GRAD, x0, 40, record_every=None)
    assert np.array_equal(a.xs, b.xs)


def _run_in_daemon(queue):
    try:
        run(O.GD(0.1), GRAD, X0, 3, workers=2)
        queue.put("ran")
    except InputError as e:
        queue.put(str(e))


def test_workers_inside_a_daemonic_process_are_refused_by_name():
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run_in_daemon, args=(queue,), daemon=True)
    proc.start()
    message = queue.get(timeout=60)
    proc.join()
    assert "'workers'" in message and "daemonic" in message
