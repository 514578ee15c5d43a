"""Throughput of the compiled gradient of ||grad E||^2 for sigmoid2d.

    PYTHONPATH=. python benchmarks/bench_compile.py [--points N] [--repeats R]

Compares, in one run and on the same points:

* implreg's ``compile_expr`` (default: generated chunked in-place kernel);
* plain ``sympy.lambdify`` without common-subexpression elimination;
* ``sympy.lambdify`` with ``cse=True``;
* a hand-written NumPy version (derived by hand, checked against the others);
* JAX ``jit(vmap(grad(...)))`` on CPU in float64, when jax is importable;
* symengine's LLVM ``Lambdify``, when symengine is importable.

Every candidate is timed ``R`` times, interleaved, and its best time is kept
(the machine is shared).  Results are checked against each other to 1e-10
relative to the size of the row before any number is printed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import sympy as sp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from analytic.calculus import grad_norm_squared  # noqa: E402
from analytic.models import sigmoid2d  # noqa: E402
from numeric.compile import compile_expr  # noqa: E402
from _timing import print_rates  # noqa: E402  (benchmarks/ is the script's directory)

X_DATA, Y_DATA = 1.0, 0.6


def hand_written(W):
    """d/dw ||grad E||^2 for E = 1/2 (y - w1 s)^2, s = sigmoid(w2 x), by hand.

    With r = y - w1 s, q = s (1 - s) = ds/d(w2 x) and
    G = r^2 (s^2 + w1^2 x^2 q^2):
      dG/dw1 = -2 r s (s^2 + w1^2 x^2 q^2) + 2 r^2 w1 x^2 q^2
      dG/dw2 = -2 r w1 x q (s^2 + w1^2 x^2 q^2)
               + r^2 (2 s x q + 2 w1^2 x^3 q^2 (1 - 2 s)).
    """
    w1, w2 = W[:, 0], W[:, 1]
    x, y = X_DATA, Y_DATA
    s = 1.0 / (1.0 + np.exp(-w2 * x))
    q = s * (1.0 - s)
    r = y - w1 * s
    bracket = s * s + (w1 * x * q) ** 2
    d1 = -2.0 * r * s * bracket + 2.0 * r * r * w1 * x * x * q * q
    d2 = -2.0 * r * w1 * x * q * bracket + r * r * (2.0 * s * x * q + 2.0 * w1 * w1 * x ** 3 * q * q * (1.0 - 2.0 * s))
    return np.stack([d1, d2], axis=-1)


def jax_candidate():
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platform_name", "cpu")
    import jax.numpy as jnp

    def loss(w):
        return 0.5 * (Y_DATA - w[0] / (1.0 + jnp.exp(-w[1] * X_DATA))) ** 2

    def grad_norm_sq(w):
        g = jax.grad(loss)(w)
        return jnp.sum(g * g)

    f = jax.jit(jax.vmap(jax.grad(grad_norm_sq)))

    def run(W, _f=f):
        return np.asarray(_f(W).block_until_ready())
    return run, jax.__version__


def symengine_candidate(g, variables):
    try:
        import symengine as se
    except ImportError:
        return None
    f = se.Lambdify(list(variables), list(g), backend="llvm", cse=True)

    def run(W):
        return np.asarray(f(W)).reshape(W.shape[0], -1)
    return run, se.__version__


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=10**6)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    loss = sigmoid2d()
    G = grad_norm_squared(loss).expr
    g = sp.Matrix([sp.diff(G, v) for v in loss.variables])
    W = np.random.default_rng(0).uniform([-4.0, -4.0], [8.0, 4.0], size=(args.points, 2))

    candidates = {
        "implreg compile_expr": compile_expr(g, loss.variables),
        "lambdify (no cse)": compile_expr(g, loss.variables, cse=False, method="lambdify"),
        "lambdify (cse)": compile_expr(g, loss.variables, cse=True, method="lambdify"),
        "hand-written NumPy": hand_written,
    }
    assert candidates["implreg compile_expr"].kernel is not None, "kernel path not taken"
    notes = []
    jx = jax_candidate()
    if jx is None:
        notes.append("jax not installed")
    else:
        candidates[f"JAX {jx[1]} jit(vmap(grad)) f64"] = jx[0]
    se_c = symengine_candidate(g, loss.variables)
    if se_c is None:
        notes.append("symengine not installed")
    else:
        candidates[f"symengine {se_c[1]} LLVM Lambdify"] = se_c[0]

    reference = candidates["lambdify (cse)"](W)
    scale = np.abs(reference).max(axis=1, keepdims=True) + 1e-300
    for name, f in candidates.items():
        err = np.max(np.abs(f(W) - reference) / scale)     # also warms up / compiles
        if err > 1e-10:
            raise SystemExit(f"{name} disagrees with lambdify: max relative error {err:.2e}")

    best = {name: np.inf for name in candidates}
    for _ in range(args.repeats):
        for name, f in candidates.items():
            t = time.perf_counter()
            f(W)
            best[name] = min(best[name], time.perf_counter() - t)
    rate = {name: args.points / t for name, t in best.items()}
    print(f"gradient of ||grad E||^2, sigmoid2d, {args.points} points, best of {args.repeats}, "
          f"numpy {np.__version__}, sympy {sp.__version__}")
    print_rates(rate, "implreg compile_expr", "points/s", notes, width=40)


if __name__ == "__main__":
    main()
