r"""Simulated iterates of the optimizer specs, many starting points at once.

Thin entry points over the one driver, :func:`numeric.driver.run`: the rule is
the spec's own (:mod:`analytic.transforms`), compiled once into in-place steps, with
the driver's divergence policy (a start whose iterate overflows ``|x| > 1e150`` or
becomes NaN is frozen at its last finite value and reported as "diverged at step k"
by :meth:`Trajectory.check`) and its one :class:`Trajectory` record.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np

from analytic import checks
from analytic import transforms as tx
from analytic.errors import InputError
from analytic.optimizers import SGD, Optimizer

from .driver import MAX_STEPS, OVERFLOW, Trajectory, batch_mean, check_steps, record_interval, run, starts

__all__ = ["Trajectory", "simulate", "simulate_sgd", "OVERFLOW", "MAX_STEPS"]


def _threads(requested, grad, n) -> int:
    if not isinstance(requested, (int, np.integer)) or isinstance(requested, bool) or requested < 1:
        raise InputError("threads", requested, "must be a positive integer")
    if requested > 1 and getattr(grad, "kernel", None) is None:
        raise InputError("threads", requested, "threads need a compiled gradient (compile_gradient), "
                         "whose kernel is known to be thread-safe")
    return int(min(requested, n))


def simulate(optimizer: Optimizer, grad: Callable, x0, steps: int, x_prev=None,
             record_every: int = 1, threads: int = 1, workers: int = 1) -> Trajectory:
    r"""Run a deterministic optimizer spec (GD, heavy ball, Nesterov, Adam, SAM, ...).

    ``grad`` maps points ``(n, d) -> (n, d)``.  For the momentum methods the
    starting convention is explicit: ``x_prev=None`` means :math:`x_{-1} = x_0`
    (velocity 0); otherwise ``x_prev`` is :math:`x_{-1}`.  ``record_every`` keeps every
    ``k``-th iterate (``None`` keeps only the first and the last).

    The step is the spec's, compiled once into in-place operations (with the
    compiled kernel's buffers when ``grad`` is a compiled function) by
    :func:`numeric.driver.run`, whose bounds check replays a failing block step by
    step, so ``diverged_at`` is the exact first step with a non-finite iterate or
    one beyond :data:`OVERFLOW`.

    The starts are independent: with a compiled gradient they can be split
    over ``threads`` threads (NumPy releases the GIL inside ufuncs), with
    bit-for-bit the same result.  It is opt-in: on a loaded 2-core machine
    two threads measured slower than one.  ``workers`` splits them over forked
    processes instead (:func:`numeric.driver.run`), also bit for bit; on 10^4
    starts two workers measured 1.5-1.9x one process on 2 cores
    (``benchmarks/bench_heavyball.py``).

    >>> from analytic.optimizers import GD
    >>> t = simulate(GD(0.1), lambda x: 2 * x, [1.0], 3)
    >>> t.xs[:, 0, 0].round(6).tolist()
    [1.0, 0.8, 0.64, 0.512]
    """
    if not isinstance(optimizer, Optimizer):
        raise InputError("optimizer", optimizer, "must be an optimizer spec")
    checks.callable_(grad, "grad")
    if optimizer.sampling is not None:
        raise InputError("optimizer", optimizer, "stochastic: use simulate_sgd or numeric.driver.run with a seed")
    x = starts(x0)
    state = None
    if x_prev is not None:
        xp = starts(x_prev, "x_prev")
        if xp.shape != x.shape:
            raise InputError("x_prev", xp.shape, f"must match x0's shape {x.shape}")
        first = optimizer.transform.transforms[0] if optimizer.transform.transforms else None
        if not isinstance(first, tx.velocity):
            raise InputError("x_prev", "given", f"{optimizer.name} is a one-step method: it reads no x_prev")
        state = optimizer.init(x)
        state = ((x - xp,),) + tuple(state[1:])        # the velocity v_0 = x_0 - x_{-1}
    check_steps(steps)
    record_interval(record_every, steps)
    n_threads = _threads(threads, grad, x.shape[0])
    if n_threads > 1 and workers != 1:
        raise InputError("workers", workers, "split the starts over threads or over workers, not both")
    if n_threads == 1:
        return run(optimizer, grad, x, steps, record_every, state=state, workers=workers)
    parts = np.array_split(np.arange(x.shape[0]), n_threads)

    def part(rows):
        sub = None if state is None else ((state[0][0][rows],),) + tuple(state[1:])
        return run(optimizer, grad, x[rows], steps, record_every, state=sub)
    with ThreadPoolExecutor(n_threads) as pool:
        results = list(pool.map(part, parts))
    return Trajectory(np.concatenate([r.xs for r in results], axis=1), results[0].steps,
                      np.concatenate([r.diverged_at for r in results]))


def simulate_sgd(optimizer: SGD, term_grads: Sequence[Callable], x0, epochs: int, seed: int,
                 same_ordering: bool = False, record_every: int = 1) -> Trajectory:
    r"""Mini-batch SGD over ``len(term_grads)`` per-sample losses.

    Each epoch draws a permutation of the samples (without replacement,
    seeded), splits it into ``optimizer.batches`` equal batches and takes one
    GD step on each batch's mean loss.  Each start gets its own ordering unless
    ``same_ordering``.  Steps are counted in SGD steps.

    >>> from analytic.optimizers import SGD
    >>> g = [lambda x: x - 1.0, lambda x: x + 1.0]
    >>> t = simulate_sgd(SGD(0.5, 2), g, [[0.0]], 1, seed=0)
    >>> t.xs.shape
    (3, 1, 1)
    """
    if not isinstance(optimizer, SGD):
        raise InputError("optimizer", optimizer, "must be an SGD spec")
    grad = batch_mean(term_grads)
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or not 0 <= epochs <= MAX_STEPS:
        raise InputError("epochs", epochs, f"must be an integer between 0 and {MAX_STEPS}")
    if len(term_grads) % optimizer.batches:
        raise InputError("batches", optimizer.batches, f"must divide the number of samples ({len(term_grads)})")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise InputError("seed", seed, "must be a nonnegative integer")
    return run(optimizer, grad, x0, int(epochs) * optimizer.batches, record_every, seed=int(seed),
               n_samples=len(term_grads), same_ordering=same_ordering)
