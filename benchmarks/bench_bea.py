"""Modified fields on sigmoid2d, orders 1..5: implreg vs the bseries package, same run.

    PYTHONPATH=. python benchmarks/bench_bea.py [--repeat 3]

implreg's time covers everything from scratch (tree generation, coefficient
matching, evaluation on the loss; every cache, SymPy's included, cleared before each
repetition, and likewise for bseries);
bseries' time is the gradient plus ``BSeries.bs.modified_equation`` for explicit Euler with trees
up to K+1 nodes (the field to h^K), unsimplified like ours.  Heavy ball, which
bseries cannot do (two-step method), is timed alone with symbolic and numeric
beta.  Best of ``--repeat`` runs.  Ratio = bseries time / implreg time
(> 1: implreg faster).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import sympy as sp

from analytic import bea_coefficients, trees
from analytic.bea import H, evaluate_field, modified_field
from analytic.loss import Loss
from analytic.models import sigmoid2d
from analytic.optimizers import GD, HeavyBall, Nesterov


def _clear():
    from sympy.core.cache import clear_cache
    clear_cache()                     # SymPy memoizes diff/construction: start cold, like bseries
    for f in (trees.trees_of_order, trees.partitions, trees.rootings, trees.free_trees_of_order,
              trees.splittings, trees._labelled, trees._symmetry, trees._density,
              bea_coefficients._momentum_b, bea_coefficients._sgd_b):
        f.cache_clear()


def _ours(spec, K, loss):
    _clear()
    t = time.perf_counter()
    mf = evaluate_field(modified_field(spec, K), loss)
    return time.perf_counter() - t, mf


def _bseries(K, loss):
    from BSeries import bs
    from sympy.core.cache import clear_cache
    clear_cache()
    t = time.perf_counter()
    f = np.array([-sp.diff(loss.expr, v) for v in loss.variables], dtype=object)
    bs.modified_equation(list(loss.variables), f, np.array([[0]]), np.array([1]), order=K + 1)
    return time.perf_counter() - t


def best(fn, repeat):
    return min(fn() for _ in range(repeat))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--max-order", type=int, default=5)
    args = p.parse_args(argv)
    # both sides start from the same concrete E (parameter values substituted)
    model = sigmoid2d()
    loss = Loss(model.concrete, model.variables, name="sigmoid2d")
    try:
        import BSeries  # noqa: F401
        have_bseries = True
    except ImportError:
        have_bseries = False
        print("bseries is not installed (pip install bseries): baseline column left empty")
    print(f"{'K':>2} {'implreg GD [s]':>15} {'bseries [s]':>12} {'ratio':>7}")
    for K in range(1, args.max_order + 1):
        ours = best(lambda: _ours(GD(H), K, loss)[0], args.repeat)
        ref = best(lambda: _bseries(K, loss), args.repeat) if have_bseries else float("nan")
        print(f"{K:>2} {ours:>15.4f} {ref:>12.4f} {ref / ours:>7.2f}")
    beta = sp.Symbol("beta", real=True)
    K = args.max_order
    for name, spec in (("heavy ball, symbolic beta", HeavyBall(H, beta)),
                       ("heavy ball, beta = 9/10", HeavyBall(H, sp.Rational(9, 10))),
                       ("Nesterov, symbolic beta", Nesterov(H, beta))):
        t = best(lambda: _ours(spec, K, loss)[0], args.repeat)
        print(f"{name}, order {K}: {t:.4f} s (target < 2 s)")


if __name__ == "__main__":
    main()
