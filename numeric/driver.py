r"""The one driver: any optimizer spec, any state, many starts at once.

:func:`run` steps ``optimizer.step(state, x, grad, NUMPY)`` (the rule written once in
:mod:`analytic.transforms`) on an array of starts ``(n, d)``.  It owns

* **sampling** -- read from ``optimizer.sampling``: mini-batches of sample indices
  (:class:`~analytic.optimizers.Batches`, with or without replacement) or Gaussian
  label noise (:class:`~analytic.optimizers.LabelNoiseSampling`); every gradient read
  within one step sees the same draw (SAM and Nesterov read two points);
* **recording** -- every ``record_every`` steps and the last one, into one :class:`Trajectory`;
* **the divergence policy** -- one rule for every simulation: a start whose iterate or state
  becomes non-finite or exceeds :data:`OVERFLOW` in absolute value is frozen at its last
  finite step ``k - 1`` and reported as "diverged at step k" (:meth:`Trajectory.check`).
  No NaN is ever handed back.

The bounds are checked every :data:`CHECK_EVERY` steps; a block that fails is replayed
step by step from its saved state and random-generator state, so ``diverged_at`` is the
exact step and the draws do not depend on whether anything diverged.

>>> from analytic.optimizers import HeavyBall
>>> t = run(HeavyBall(0.1, 0.5), lambda x: 2 * x, [[1.0], [2.0]], 3)
>>> t.xs[:, 0, 0].round(4).tolist()
[1.0, 0.8, 0.54, 0.302]
"""
from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from typing import Callable

import numpy as np

from analytic import checks
from analytic.errors import DivergenceError, InputError
from analytic.namespace import NUMPY
from analytic.optimizers import Batches, LabelNoiseSampling, Optimizer

__all__ = ["Trajectory", "run", "OVERFLOW", "CHECK_EVERY", "MAX_STEPS", "batch_mean"]

#: the divergence threshold of every simulation
OVERFLOW = 1e150
#: steps between two bounds checks (a failing block is replayed step by step)
CHECK_EVERY = 32
#: most steps one call runs
MAX_STEPS = 10 ** 9
#: most worker processes one call forks
MAX_WORKERS = 256


@dataclass(frozen=True)
class Trajectory:
    """Iterates ``xs[k, i, :]`` at recorded steps ``steps[k]`` for start ``i``.

    ``diverged_at[i]`` is the step at which start ``i`` diverged, or -1; ``state`` is the
    optimizer state after the last step (diverged starts: their last finite state).
    """

    xs: np.ndarray
    steps: np.ndarray
    diverged_at: np.ndarray
    state: tuple = ()

    @property
    def final(self) -> np.ndarray:
        return self.xs[-1]

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0

    def check(self, what: str = "iteration") -> "Trajectory":
        """Raise :class:`DivergenceError` ("... diverged at step k") if any start diverged."""
        if self.diverged.any():
            i = int(np.argmax(self.diverged))
            first = int(self.diverged_at[self.diverged].min())
            raise DivergenceError(f"{what} (start {i} of {len(self.diverged_at)})", first)
        return self


def starts(x0, argument="x0") -> np.ndarray:
    """The starts as a float array ``(n, d)`` (a single point ``(d,)`` becomes one row)."""
    x = checks.vector(x0, argument, ndim=None)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(argument, np.shape(x0), "must have shape (d,) or (n, d)")
    return x.copy()


def check_steps(steps, argument="steps") -> int:
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or not 0 <= steps <= MAX_STEPS:
        raise InputError(argument, steps, f"must be an integer between 0 and {MAX_STEPS}")
    return int(steps)


def record_interval(record_every, steps) -> int:
    if record_every is None:
        return max(int(steps), 1)
    if not isinstance(record_every, (int, np.integer)) or isinstance(record_every, bool) or record_every < 1:
        raise InputError("record_every", record_every, "must be a positive integer or None")
    return int(record_every)


# -- state as a pytree of arrays ------------------------------------------------------------
def _leaves(state):
    if isinstance(state, tuple):
        for s in state:
            yield from _leaves(s)
    elif isinstance(state, np.ndarray):
        yield state


def _map(state, f):
    """``f`` applied to every per-start array of ``state`` (scalars such as a step count stay)."""
    if isinstance(state, tuple):
        return tuple(_map(s, f) for s in state)
    return f(state) if isinstance(state, np.ndarray) and state.ndim >= 1 else state


def _bad_rows(x, state) -> np.ndarray:
    """Starts whose iterate or state is non-finite or beyond OVERFLOW (NaN fails the test)."""
    bad = ~(np.abs(x) <= OVERFLOW).all(axis=1)
    for s in _leaves(state):
        if s.ndim >= 1 and s.shape[0] == x.shape[0]:
            bad |= ~(np.abs(s.reshape(s.shape[0], -1)) <= OVERFLOW).all(axis=1)
    return bad


def _in_bounds(x, state) -> bool:
    for a in (x, *_leaves(state)):
        if a.size and not (bool(a.max() <= OVERFLOW) and bool(a.min() >= -OVERFLOW)):
            return False
    return True


# -- sampling ---------------------------------------------------------------------------------
class _Sampler:
    """The per-step draws of a stochastic spec for all ``n`` starts; ``draw(k)`` for step k,
    in order (replays restore the generator state)."""

    def __init__(self, sampling, n, n_samples, noise_dim, seed, same_ordering):
        self.sampling, self.n = sampling, n
        self.rng = np.random.default_rng(seed)
        self.same = same_ordering
        if isinstance(sampling, Batches):
            if n_samples is None:
                raise InputError("n_samples", n_samples, "mini-batch sampling needs the number of samples")
            m = sampling.batches
            if n_samples % m:
                raise InputError("batches", m, f"must divide the number of samples ({n_samples})")
            self.n_samples, self.m, self.size = n_samples, m, n_samples // m
            self.order = None
        elif isinstance(sampling, LabelNoiseSampling):
            if noise_dim is None:
                raise InputError("noise_dim", noise_dim, "label noise needs the number of labels")
            self.noise_dim = noise_dim

    def snapshot(self):
        return self.rng.bit_generator.state, getattr(self, "order", None)

    def restore(self, snap):
        self.rng.bit_generator.state, order = snap
        if hasattr(self, "order"):
            self.order = order

    def draw(self, k):
        if isinstance(self.sampling, LabelNoiseSampling):
            return self.rng.standard_normal((self.n, self.noise_dim))
        e, b = divmod(k - 1, self.m)
        if self.sampling.replacement:
            shape = (1 if self.same else self.n, self.size)
            return np.broadcast_to(self.rng.integers(0, self.n_samples, shape), (self.n, self.size))
        if b == 0:                               # a new epoch: fresh orderings
            if self.same:
                self.order = np.broadcast_to(self.rng.permutation(self.n_samples), (self.n, self.n_samples))
            else:
                self.order = self.rng.permuted(
                    np.broadcast_to(np.arange(self.n_samples), (self.n, self.n_samples)).copy(), axis=1)
        return self.order[:, b * self.size:(b + 1) * self.size]


def batch_mean(term_grads) -> Callable:
    """``grad(X, batch)``: the mean of the per-sample gradients ``term_grads[j]`` over each
    start's batch of indices (``batch`` of shape ``(n, B)``).

    >>> g = batch_mean([lambda x: x - 1.0, lambda x: x + 1.0])
    >>> g(np.zeros((2, 1)), np.array([[0], [1]])).tolist()
    [[-1.0], [1.0]]
    """
    if isinstance(term_grads, (str, bytes)) or not hasattr(term_grads, "__len__") or not len(term_grads):
        raise InputError("term_grads", term_grads, "must be a non-empty sequence of callables")
    for g in term_grads:
        checks.callable_(g, "term_grads")
    terms = list(term_grads)

    def grad(x, batch):
        g = np.zeros_like(x)
        for j, term in enumerate(terms):
            count = (batch == j).sum(axis=1)
            w = count > 0
            if w.any():
                g[w] += count[w, None] * term(x[w])
        return g / batch.shape[1]
    grad.n_samples = len(terms)
    return grad


# -- the driver -------------------------------------------------------------------------------
def run(optimizer: Optimizer, grad: Callable, x0, steps: int, record_every: int | None = 1, *,
        seed: int | None = None, n_samples: int | None = None, noise_dim: int | None = None,
        same_ordering: bool = False, state=None, compiled: bool = True, workers: int = 1) -> Trajectory:
    r"""Run ``optimizer`` from the starts ``x0`` (``(n, d)``) for ``steps`` steps.

    ``grad`` is ``grad(X)`` for a deterministic spec, ``grad(X, batch)`` (indices ``(n, B)``,
    see :func:`batch_mean`) for mini-batches over ``n_samples`` samples, and ``grad(X, xi)``
    (standard normals ``(n, noise_dim)``) for label noise.  ``seed`` seeds every draw.
    ``state`` replaces ``optimizer.init`` (e.g. a heavy-ball velocity ``x_0 - x_{-1}``).
    A deterministic spec's step is compiled once into in-place operations
    (:func:`numeric.stepper.compile_step`: the same operations, bit for bit) unless
    ``compiled=False`` or it cannot be traced.

    ``workers > 1`` splits the starts of a deterministic spec into that many parts and runs
    them in forked processes (POSIX): the starts are independent and every operation is
    elementwise over them, so the result is the one-process result bit for bit, divergence
    steps included.  It pays off when a part is large (thousands of starts): a fork and the
    return of the iterates cost milliseconds.

    >>> from analytic.optimizers import SGD
    >>> t = run(SGD(0.5, 2), batch_mean([lambda x: x - 1.0, lambda x: x + 1.0]), [[0.0]], 2,
    ...         seed=0, n_samples=2)
    >>> t.xs.shape, t.steps.tolist()
    ((3, 1, 1), [0, 1, 2])
    """
    if not isinstance(optimizer, Optimizer):
        raise InputError("optimizer", optimizer, "must be an optimizer spec")
    checks.callable_(grad, "grad")
    try:
        float(optimizer.h)
        for v in optimizer.transform.hyperparameters().values():
            if not isinstance(v, bool):
                float(v)
    except TypeError:
        raise InputError("optimizer", optimizer, "its hyperparameters must be numbers to simulate") from None
    sampling = optimizer.sampling
    if sampling is not None and (seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or not 0 <= seed < 2 ** 63):
        raise InputError("seed", seed, "a stochastic optimizer needs a nonnegative integer seed")
    checks.flag(same_ordering, "same_ordering")
    checks.flag(compiled, "compiled")
    x = starts(x0)
    steps = check_steps(steps)
    every = record_interval(record_every, steps)
    n = x.shape[0]
    if state is None:
        state = optimizer.init(x, NUMPY)
    workers = _check_workers(workers, sampling, n)
    if workers > 1:
        return _forked(workers, x, state, lambda xr, sr: run(optimizer, grad, xr, steps, record_every,
                                                                state=sr, compiled=compiled))
    sampler = _Sampler(sampling, n, n_samples, noise_dim, seed, same_ordering) if sampling is not None else None

    def one_step(k, state, x, rows):
        if sampler is None:
            g = grad
        else:
            draw = sampler.draw(k)[rows]
            g = lambda p: grad(p, draw)       # noqa: E731 - one draw for every read of this step
        return optimizer.step(state, x, g, NUMPY)

    stepper = None
    if compiled and sampler is None:
        from .stepper import compile_step
        stepper = compile_step(optimizer, grad, x.shape[1])
    block = stepper.block if stepper is not None else None
    diverged_at = np.full(n, -1, dtype=np.int64)
    frozen_x, frozen_state = x.copy(), state
    running = np.arange(n)
    rec, rec_steps = [x.copy()], [0]

    def snapshot(xr):
        if len(running) == n:
            return np.array(xr)
        full = frozen_x.copy()
        full[running] = xr
        return full

    k = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while k < steps:
            next_record = min((k // every + 1) * every, steps)
            end = min(k + CHECK_EVERY, next_record)
            saved = (x, state, sampler.snapshot() if sampler else None)
            if block is not None and sampler is None:
                x, state = block(state, x, end - k)
            else:
                for s in range(k + 1, end + 1):
                    state, x = one_step(s, state, x, running)
            if not _in_bounds(x, state):
                x, state = saved[0], saved[1]
                if sampler:
                    sampler.restore(saved[2])
                for s in range(k + 1, end + 1):
                    new_state, new_x = one_step(s, state, x, running)
                    bad = _bad_rows(new_x, new_state)
                    if bad.any():
                        diverged_at[running[bad]] = s
                        frozen_x[running[bad]] = x[bad]
                        frozen_state = _freeze(frozen_state, state, running, bad, n)
                        keep = ~bad
                        running = running[keep]
                        new_x = new_x[keep]
                        new_state = _map(new_state, lambda a: a[keep])
                        if stepper is not None:
                            block = stepper.block_for(len(running))
                    x, state = new_x, new_state
                    if not len(running):
                        break
                if not len(running):
                    rec += [frozen_x.copy() for t in range(k + 1, steps + 1) if t % every == 0 or t == steps]
                    rec_steps += [t for t in range(k + 1, steps + 1) if t % every == 0 or t == steps]
                    break
            k = end
            if k == next_record:
                rec.append(snapshot(x))
                rec_steps.append(k)
    final_state = _merge(frozen_state, state, running, n) if len(running) else frozen_state
    return Trajectory(np.stack(rec), np.array(rec_steps), diverged_at, final_state)


def _check_workers(workers, sampling, n) -> int:
    if not isinstance(workers, (int, np.integer)) or isinstance(workers, bool) or not 1 <= workers <= MAX_WORKERS:
        raise InputError("workers", workers, f"must be an integer between 1 and {MAX_WORKERS}")
    if workers > 1 and sampling is not None:
        raise InputError("workers", workers, "a stochastic spec draws for all starts from one generator: "
                         "split the starts only for a deterministic spec")
    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        raise InputError("workers", workers, "needs the 'fork' start method (POSIX); use workers=1")
    if workers > 1 and multiprocessing.current_process().daemon:
        raise InputError("workers", workers, "this process is a daemonic worker (e.g. of a pool), which may not "
                         "fork children; use workers=1 here")
    return int(min(workers, max(n, 1)))


def _forked(workers, x, state, part):
    """``part(x[rows], state[rows])`` for ``workers`` slices of the starts: the first here,
    the others in forked children, merged back in order."""
    n = x.shape[0]
    parts = np.array_split(np.arange(n), workers)
    rows_of = lambda s, rows: _zip_map(s, s, lambda a, _: a[rows] if _per_start(a, n) else a)  # noqa: E731
    context = multiprocessing.get_context("fork")
    children = []
    for rows in parts[1:]:
        receive, send = context.Pipe(duplex=False)

        def child(rows=rows, send=send):
            try:
                send.send(("ok", part(x[rows], rows_of(state, rows))))
            except BaseException as e:          # noqa: BLE001 - handed to the parent
                send.send(("error", e))
            finally:
                send.close()
        proc = context.Process(target=child, daemon=True)
        proc.start()
        send.close()
        children.append((proc, receive))
    results = [part(x[parts[0]], rows_of(state, parts[0]))]
    for proc, receive in children:
        try:
            kind, value = receive.recv()
        except EOFError:
            raise RuntimeError(f"a worker process ended without a result (exit code {proc.exitcode})") from None
        finally:
            proc.join()
        if kind == "error":
            raise value
        results.append(value)
    first = results[0]

    def merge(*leaves):
        a = leaves[0]
        return np.concatenate(leaves) if isinstance(a, np.ndarray) and a.ndim >= 1 and \
            all(isinstance(b, np.ndarray) and b.shape[1:] == a.shape[1:] for b in leaves) else a
    return Trajectory(np.concatenate([r.xs for r in results], axis=1), first.steps,
                      np.concatenate([r.diverged_at for r in results]),
                      _zip_many([r.state for r in results], merge))


def _per_start(a, n) -> bool:
    return isinstance(a, np.ndarray) and a.ndim >= 1 and a.shape[0] == n


def _zip_many(states, f):
    if isinstance(states[0], tuple):
        return tuple(_zip_many(list(group), f) for group in zip(*states))
    return f(*states)


def _freeze(frozen, state, running, bad, n):
    """Store the last finite state of the starts ``running[bad]`` into ``frozen`` (full size)."""
    def put(f, s):
        if isinstance(f, np.ndarray) and f.ndim >= 1 and f.shape[0] == n:
            f = f.copy()
            f[running[bad]] = s[bad]
        return f
    return _zip_map(frozen, state, put)


def _merge(frozen, state, running, n):
    def put(f, s):
        if isinstance(f, np.ndarray) and f.ndim >= 1 and f.shape[0] == n:
            f = f.copy()
            f[running] = s
            return f
        return s
    return _zip_map(frozen, state, put)


def _zip_map(a, b, f):
    if isinstance(a, tuple):
        return tuple(_zip_map(p, q, f) for p, q in zip(a, b))
    return f(a, b)
