r"""Simulated iterates of the optimizer specs, many starting points at once.

Every simulator reads the update rule from the spec in
:mod:`analytic.optimizers` (so the rule is written once), runs all starting
points as one array of shape ``(n, d)``, and detects divergence: a start
whose iterate overflows (``|x| > 1e150``) or becomes NaN is frozen at its last
finite value and its step is recorded.  :meth:`Trajectory.check` turns that into
``DivergenceError("... diverged at step k")``; no NaN is ever handed back as a
result.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from analytic import checks
from analytic.errors import DivergenceError, InputError
from analytic.optimizers import SGD, LabelNoise, Optimizer

__all__ = ["Trajectory", "simulate", "simulate_sgd", "OVERFLOW"]

OVERFLOW = 1e150


@dataclass(frozen=True)
class Trajectory:
    """Iterates ``xs[k, i, :]`` at recorded steps ``steps[k]`` for start ``i``.

    ``diverged_at[i]`` is the step at which start ``i`` diverged, or -1.
    """

    xs: np.ndarray
    steps: np.ndarray
    diverged_at: np.ndarray

    @property
    def final(self) -> np.ndarray:
        return self.xs[-1]

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0

    def check(self, what: str = "iteration") -> "Trajectory":
        """Raise :class:`DivergenceError` if any start diverged."""
        if self.diverged.any():
            i = int(np.argmax(self.diverged))
            first = int(self.diverged_at[self.diverged].min())
            raise DivergenceError(f"{what} (start {i} of {len(self.diverged_at)})", first)
        return self


def _starts(x0, argument="x0") -> tuple[np.ndarray, bool]:
    x = checks.vector(x0, argument, ndim=None)
    single = x.ndim == 1
    if single:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(argument, np.shape(x0), "must have shape (d,) or (n, d)")
    return x, single


def _record_every(record_every, steps) -> int:
    if record_every is None:
        return max(int(steps), 1)
    if not isinstance(record_every, (int, np.integer)) or isinstance(record_every, bool) or record_every < 1:
        raise InputError("record_every", record_every, "must be a positive integer or None")
    return int(record_every)


#: most steps (or SGD epochs) one call runs
MAX_STEPS = 10 ** 9


def _check_steps(steps):
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or not 0 <= steps <= MAX_STEPS:
        raise InputError("steps", steps, f"must be an integer between 0 and {MAX_STEPS}")


def _run(step_fn, x, x_prev, steps, record_every, single, start: int = 0, last: int | None = None,
         return_prev: bool = False):
    """Generic loop: ``step_fn(k, x, x_prev) -> x_next`` (new arrays), one
    divergence check per step, diverged starts frozen.  Steps are numbered
    ``start + 1 ... steps``; iterates are recorded at multiples of
    ``record_every`` and at step ``last`` (default ``steps``)."""
    last = steps if last is None else last
    _check_steps(steps)
    every = _record_every(record_every, steps)
    n = x.shape[0]
    diverged_at = np.full(n, -1, dtype=np.int64)
    rec = [x.copy()]
    rec_steps = [start]
    alive = np.ones(n, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in range(start + 1, steps + 1):
            x_new = step_fn(k, x, x_prev)
            bad = ~np.isfinite(x_new).all(axis=1) | (np.abs(x_new) > OVERFLOW).any(axis=1)
            newly = bad & alive
            if newly.any():
                diverged_at[newly] = k
                alive &= ~newly
            if not alive.all():
                x_new = np.where(alive[:, None], x_new, x)
                x_prev_new = np.where(alive[:, None], x, x_prev)
            else:
                x_prev_new = x
            x_prev, x = x_prev_new, x_new
            if k % every == 0 or k == last:
                rec.append(x.copy())
                rec_steps.append(k)
    traj = Trajectory(np.stack(rec), np.array(rec_steps), diverged_at)
    return (traj, x, x_prev) if return_prev else traj


#: steps between two divergence checks of the fast loop
CHECK_EVERY = 32


def _in_bounds(x) -> bool:
    """True when every entry is finite and |x| <= OVERFLOW (NaN fails both tests)."""
    return bool(x.max() <= OVERFLOW) and bool(x.min() >= -OVERFLOW)


def _in_place_stepper(optimizer, grad, n, d):
    """``step(x, xp) -> (x_next, x)`` computing into ``xp``'s memory, no allocation.

    Uses the compiled kernel of ``grad`` with preallocated buffers when there
    is one.
    """
    from .kernel import make_workspace
    h, beta, gamma = float(optimizer.h), float(optimizer.beta), float(optimizer.gamma)
    g = np.empty((n, d), order="F")
    kernel = getattr(grad, "kernel", None)
    if kernel is not None and getattr(grad, "shape", None) == (d,) and len(grad.variables) == d:
        work = make_workspace(kernel, n)

        def evaluate(x):
            kernel(x, g, work)
    else:
        def evaluate(x):
            g[...] = grad(x)
    if beta == 0 and gamma == 0:
        def step(x, xp):
            evaluate(x)
            np.multiply(g, -h, out=g)
            np.add(x, g, out=xp)
            return xp, x
    elif gamma == 0:
        def step(x, xp):
            evaluate(x)
            np.subtract(x, xp, out=xp)
            np.multiply(xp, beta, out=xp)
            np.multiply(g, h, out=g)
            np.subtract(xp, g, out=xp)
            np.add(xp, x, out=xp)
            return xp, x
    else:
        v = np.empty((n, d), order="F")

        def step(x, xp):
            np.subtract(x, xp, out=v)
            np.multiply(v, gamma, out=xp)
            np.add(xp, x, out=xp)
            evaluate(xp)
            np.multiply(v, beta, out=xp)
            np.multiply(g, h, out=g)
            np.subtract(xp, g, out=xp)
            np.add(xp, x, out=xp)
            return xp, x
    return step


def _run_fast(make_step, slow_step, x, xp, steps, record_every):
    """The in-place loop with a cheap bounds check every :data:`CHECK_EVERY` steps.

    ``make_step(n)`` builds an in-place stepper for ``n`` starts.  A block of
    steps that fails the check is replayed from its start with the
    step-by-step loop :func:`_run`, which finds the exact step of divergence;
    the diverged starts are then frozen and the others go on in the fast loop.
    """
    _check_steps(steps)
    every = _record_every(record_every, steps)
    n, d = x.shape
    diverged_at = np.full(n, -1, dtype=np.int64)
    frozen = np.array(x, dtype=float)       # last state of every start (C order)
    running = np.arange(n)                   # indices of the starts still running
    step = make_step(n)
    # column-major state: each coordinate of all starts is one contiguous
    # array, which the compiled kernel reads and writes without copies
    x, xp = np.asfortranarray(x).copy(order="F"), np.asfortranarray(xp).copy(order="F")
    rec, rec_steps = [frozen.copy()], [0]

    def snapshot(state):
        if len(running) == n:
            return np.array(state, order="C")
        full = frozen.copy()
        full[running] = state
        return full

    k = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while k < steps:
            next_record = min((k // every + 1) * every, steps)
            end = min(k + CHECK_EVERY, next_record)
            saved = (x.copy(order="C"), xp.copy(order="C"))
            for _ in range(end - k):
                x, xp = step(x, xp)
            if not _in_bounds(x):
                part, x_end, xp_end = _run(slow_step, saved[0], saved[1], end, every, False, start=k,
                                           last=steps, return_prev=True)
                newly = part.diverged_at >= 0
                diverged_at[running[newly]] = part.diverged_at[newly]
                frozen[running] = x_end
                running = running[~newly]
                x = np.asfortranarray(x_end[~newly]).copy(order="F")
                xp = np.asfortranarray(xp_end[~newly]).copy(order="F")
                if len(running) == 0:       # everything frozen: constant records
                    rec += [frozen.copy() for s in range(k + 1, steps + 1) if s % every == 0 or s == steps]
                    rec_steps += [s for s in range(k + 1, steps + 1) if s % every == 0 or s == steps]
                    break
                step = make_step(len(running))
            k = end
            if k == next_record:
                rec.append(snapshot(x))
                rec_steps.append(k)
    return Trajectory(np.stack(rec), np.array(rec_steps), diverged_at)


def _threads(requested, grad, n) -> int:
    if not isinstance(requested, (int, np.integer)) or isinstance(requested, bool) or requested < 1:
        raise InputError("threads", requested, "must be a positive integer")
    if requested > 1 and getattr(grad, "kernel", None) is None:
        raise InputError("threads", requested, "threads need a compiled gradient (compile_gradient), "
                         "whose kernel is known to be thread-safe")
    return int(min(requested, n))


def simulate(optimizer: Optimizer, grad: Callable, x0, steps: int, x_prev=None,
             record_every: int = 1, threads: int = 1) -> Trajectory:
    r"""Run a deterministic optimizer spec (GD, heavy ball, Nesterov).

    ``grad`` maps points ``(n, d) -> (n, d)``.  For two-step methods the
    starting convention is explicit: ``x_prev=None`` means :math:`x_{-1} = x_0`;
    otherwise ``x_prev`` is :math:`x_{-1}`.  ``record_every`` keeps every
    ``k``-th iterate (``None`` keeps only the first and the last).

    The update runs in place on preallocated arrays (with the compiled
    kernel's buffers when ``grad`` is a compiled function) and the bounds are
    checked every :data:`CHECK_EVERY` steps; a failing block is replayed step
    by step, so ``diverged_at`` is the exact first step with a non-finite
    iterate or one beyond :data:`OVERFLOW`.

    The starts are independent: with a compiled gradient they can be split
    over ``threads`` threads (NumPy releases the GIL inside ufuncs), with
    bit-for-bit the same result.  It is opt-in: on a loaded 2-core machine
    two threads measured slower than one.

    >>> from analytic.optimizers import GD
    >>> t = simulate(GD(0.1), lambda x: 2 * x, [1.0], 3)
    >>> t.xs[:, 0, 0].round(6).tolist()
    [1.0, 0.8, 0.64, 0.512]
    """
    if not isinstance(optimizer, Optimizer):
        raise InputError("optimizer", optimizer, "must be an optimizer spec (GD, HeavyBall, Nesterov)")
    checks.callable_(grad, "grad")
    if isinstance(optimizer, (SGD, LabelNoise)):
        raise InputError("optimizer", optimizer, "stochastic: use simulate_sgd or a label-noise simulator")
    x, single = _starts(x0)
    if x_prev is None:
        xp = x.copy()
    else:
        xp, _ = _starts(x_prev, "x_prev")
        if xp.shape != x.shape:
            raise InputError("x_prev", xp.shape, f"must match x0's shape {x.shape}")
    try:
        h, beta, gamma = float(optimizer.h), float(optimizer.beta), float(optimizer.gamma)
    except TypeError:
        raise InputError("optimizer", optimizer, "h and beta must be numbers to simulate") from None

    if beta == 0 and gamma == 0:
        def step_fn(k, x, xp):
            return x - h * grad(x)
    elif gamma == 0:
        def step_fn(k, x, xp):
            return x + beta * (x - xp) - h * grad(x)
    else:
        def step_fn(k, x, xp):
            v = x - xp
            return x + beta * v - h * grad(x + gamma * v)
    _check_steps(steps)
    _record_every(record_every, steps)

    def run(rows):
        return _run_fast(lambda n: _in_place_stepper(optimizer, grad, n, x.shape[1]), step_fn, x[rows],
                         xp[rows], steps, record_every)
    n_threads = _threads(threads, grad, x.shape[0])
    if n_threads == 1:
        return run(slice(None))
    parts = np.array_split(np.arange(x.shape[0]), n_threads)
    with ThreadPoolExecutor(n_threads) as pool:
        results = list(pool.map(run, parts))
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
    try:
        float(optimizer.h)
    except TypeError:
        raise InputError("optimizer", optimizer, "h must be a number to simulate") from None
    if isinstance(term_grads, (str, bytes)) or not hasattr(term_grads, "__len__") or not len(term_grads):
        raise InputError("term_grads", term_grads, "must be a non-empty sequence of callables")
    for g in term_grads:
        checks.callable_(g, "term_grads")
    checks.flag(same_ordering, "same_ordering")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise InputError("seed", seed, "must be a nonnegative integer")
    n_terms = len(term_grads)
    m = optimizer.batches
    if n_terms % m:
        raise InputError("batches", m, f"must divide the number of samples ({n_terms})")
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or not 0 <= epochs <= MAX_STEPS:
        raise InputError("epochs", epochs, f"must be an integer between 0 and {MAX_STEPS}")
    x, single = _starts(x0)
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    size = n_terms // m
    h = float(optimizer.h)
    orders = []
    for _ in range(epochs):
        if same_ordering:
            p = np.broadcast_to(rng.permutation(n_terms), (n, n_terms))
        else:
            p = rng.permuted(np.broadcast_to(np.arange(n_terms), (n, n_terms)).copy(), axis=1)
        orders.append(p)
    def step_fn(k, x, xp):
        e, b = divmod(k - 1, m)
        batch = orders[e][:, b * size:(b + 1) * size]          # (n, size)
        g = np.zeros_like(x)
        for j in range(n_terms):
            w = (batch == j).any(axis=1)
            if w.any():
                g[w] += term_grads[j](x[w])
        return x - h * g / size
    return _run(step_fn, x, x.copy(), epochs * m, record_every, single)
