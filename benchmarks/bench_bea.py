"""Backward error analysis timings against their targets, with bseries as baseline, same run.

    PYTHONPATH=. python benchmarks/bench_bea.py [--repeat 3] [--max-order 5] [--slow]

Prints one markdown table: each quantity with its time, its target and whether the
target is met.  Every time is a cold start: before each repetition every cache of
``analytic`` (tree generation, partitions, coefficients, ...) and SymPy's own are
cleared, and likewise before each bseries run.  Best of ``--repeat`` runs (Adam at
order 2, about two minutes, is run ``--slow-repeat`` times and only with ``--slow``).

Rows:

* tree coefficients (loss-agnostic, ``tree_coefficients``) of GD and of heavy ball
  with symbolic beta at order 8, and GD at order 10 (or the refusal above ``MAX_ORDER``);
* the concrete field of GD at order 6 on a typed 3-parameter sigmoid loss
  (coefficients, then ``evaluate_field``);
* Adam without bias correction, slaved field (``slaved_field``) on sigmoid2d, orders 1, 2;
* heavy ball and Nesterov fields on sigmoid2d at order 5 (bseries cannot do two-step methods);
* GD fields on sigmoid2d, orders 1..``--max-order`` (7), against bseries: its time is the
  gradient plus ``BSeries.bs.modified_equation`` for explicit Euler with trees up to
  K+1 nodes (the field to h^K), unsimplified like ours; both start from the same
  concrete E.  Ratio = bseries time / implreg time (> 1: implreg faster).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import sympy as sp

from analytic.bea import H, evaluate_field, modified_field
from analytic.bea_coefficients import MAX_ORDER, tree_coefficients
from analytic.errors import InputError
from analytic.loss import Loss, parse_loss
from analytic.models import get_model
from analytic.optimizers import GD, Adam, HeavyBall, Nesterov, make_optimizer
from analytic.slaving import slaved_field

SIGMOID3 = ("1/2*(y - a*sigmoid(b*x + c))**2", "a,b,c", "x=1, y=3/5")


def _clear():
    """Cold start: SymPy's cache and every ``lru_cache`` defined in an ``analytic`` module."""
    from sympy.core.cache import clear_cache
    clear_cache()
    for name, mod in list(sys.modules.items()):
        if mod is None or not (name == "analytic" or name.startswith("analytic.")):
            continue
        for obj in list(vars(mod).values()):
            if getattr(obj, "__module__", None) == name and callable(getattr(obj, "cache_clear", None)):
                obj.cache_clear()


def timed(fn, repeat):
    """Best cold-start wall time of ``fn()`` over ``repeat`` runs."""
    best = float("inf")
    for _ in range(max(repeat, 1)):
        _clear()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _bseries(K, loss):
    from BSeries import bs
    f = np.array([-sp.diff(loss.expr, v) for v in loss.variables], dtype=object)
    bs.modified_equation(list(loss.variables), f, np.array([[0]]), np.array([1]), order=K + 1)


class Table:
    def __init__(self):
        self.rows = []

    def add(self, quantity, ours, baseline, target, met, status=None):
        self.rows.append((quantity, ours, baseline, target, status or ("met" if met else "NOT met")))
        print(" | ".join(self.rows[-1]), file=sys.stderr, flush=True)       # progress

    def time_row(self, quantity, fn, limit, repeat):
        t = timed(fn, repeat)
        self.add(quantity, f"{t:.3f} s", "", f"< {limit:g} s", t < limit)
        return t

    def markdown(self):
        head = ("quantity", "implreg", "baseline", "target", "status")
        widths = [max(len(r[i]) for r in self.rows + [head]) for i in range(len(head))]
        line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
        out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        return "\n".join(out + [line(r) for r in self.rows])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--max-order", type=int, default=7, help="highest order compared with bseries")
    p.add_argument("--slow", action="store_true", help="also time Adam at order 2 (about 140 s)")
    p.add_argument("--slow-repeat", type=int, default=1, help="runs of the --slow row")
    args = p.parse_args(argv)
    rep = args.repeat
    table = Table()
    beta = sp.Symbol("beta", real=True)

    # loss-agnostic coefficients
    table.time_row("GD tree coefficients, order 8", lambda: tree_coefficients(GD(H), 8), 1, rep)
    hb = make_optimizer("heavy-ball", H)                  # beta = Symbol("beta", real=True)
    table.time_row("heavy-ball tree coefficients, symbolic beta, order 8",
                   lambda: tree_coefficients(hb, 8), 3, rep)
    if MAX_ORDER >= 10:
        t = timed(lambda: tree_coefficients(GD(H), 10), rep)
        table.add("GD tree coefficients, order 10", f"{t:.3f} s", "", "reachable", True)
    else:
        try:
            tree_coefficients(GD(H), 10)
            table.add("GD tree coefficients, order 10", "accepted", "", "reachable", True)
        except InputError:
            table.add("GD tree coefficients, order 10", f"refused (MAX_ORDER = {MAX_ORDER})", "",
                      "reachable", False)

    # concrete field on a typed 3-parameter loss
    text, variables, params = SIGMOID3

    def concrete6():
        loss = parse_loss(text, variables, params, name="sigmoid3")
        return evaluate_field(modified_field(GD(H), 6), loss)
    table.time_row(f"GD field, order 6, on typed `{text}` ({params})", concrete6, 5, rep)

    # Adam through the slaving ansatz
    sigmoid2d = get_model("sigmoid2d")
    table.time_row("Adam (no bias correction) slaved field on sigmoid2d, order 1",
                   lambda: slaved_field(Adam(H, bias_correction=False), sigmoid2d, 1), 10, rep)
    name2 = "Adam (no bias correction) slaved field on sigmoid2d, order 2"
    if args.slow:
        table.time_row(name2, lambda: slaved_field(Adam(H, bias_correction=False), sigmoid2d, 2,
                                                   budget=600), 60, args.slow_repeat)
    else:
        table.add(name2, "skipped (--slow)", "", "< 60 s", False, status="not run")

    # fields on sigmoid2d: both sides start from the same concrete E
    loss = Loss(sigmoid2d.concrete, sigmoid2d.variables, name="sigmoid2d")
    K = 5
    for name, spec in (("heavy ball, symbolic beta", HeavyBall(H, beta)),
                       ("heavy ball, beta = 9/10", HeavyBall(H, sp.Rational(9, 10))),
                       ("Nesterov, symbolic beta", Nesterov(H, beta))):
        table.time_row(f"{name} field on sigmoid2d, order {K}",
                       lambda: evaluate_field(modified_field(spec, K), loss), 2, rep)
    try:
        import BSeries  # noqa: F401
        have_bseries = True
    except ImportError:
        have_bseries = False
    for k in range(1, args.max_order + 1):
        ours = timed(lambda: evaluate_field(modified_field(GD(H), k), loss), rep)
        quantity = f"GD field on sigmoid2d, order {k}, vs bseries"
        if have_bseries:
            ref = timed(lambda: _bseries(k, loss), rep)
            table.add(quantity, f"{ours:.4f} s", f"{ref:.4f} s ({ref / ours:.1f}x)", ">= 3x faster",
                      ref / ours >= 3)
        else:
            table.add(quantity, f"{ours:.4f} s", "bseries not installed", ">= 3x faster", False)
    print(table.markdown())


if __name__ == "__main__":
    main()
