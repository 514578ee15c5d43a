"""Every public function and constructor rejects bad input with an ImplregError.

For each callable a small table gives bad values per parameter (wrong types,
code and garbage text, NaN/inf, bools for integers, zero/negative/huge sizes,
mismatched or non-symmetric matrices, unknown names); the other arguments are
valid and cheap.  Each call must raise :class:`analytic.errors.ImplregError`
naming the argument, within :data:`TIMEOUT` seconds, without executing text:
a canary file must never appear and ``builtins.implreg_pwned`` is never called.

The calls run in forked workers with a memory limit (the runner of
``test_hostile_cli``), so a huge size that is not rejected shows up as a kill
or a timeout instead of exhausting the machine.
"""
from __future__ import annotations

import builtins
import math
import os
import signal
import sys
import time

import numpy as np
import pytest
import sympy as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_hostile_cli as H  # noqa: E402  (forked runner, canary mark, implreg_pwned)

from analytic import bea as B  # noqa: E402
from analytic import calculus as C  # noqa: E402
from analytic import jacobian_reg as J  # noqa: E402
from analytic import label_noise as LN  # noqa: E402
from analytic import linear_regression as LR  # noqa: E402
from analytic import loss as L  # noqa: E402
from analytic import masks as M  # noqa: E402
from analytic import models as MO  # noqa: E402
from analytic import optimizers as O  # noqa: E402
from analytic import principal_flow as PF  # noqa: E402
from analytic import sgd_stability as SG  # noqa: E402
from analytic import squared_loss as SQ  # noqa: E402
from analytic import stability as ST  # noqa: E402
from analytic.errors import ImplregError  # noqa: E402
from numeric import compile as NC  # noqa: E402
from numeric import flows as NF  # noqa: E402
from numeric import networks as NN  # noqa: E402
from numeric import simulate as NS  # noqa: E402

TIMEOUT = 5.0
NAN, INF = float("nan"), float("inf")
CODE = f"__import__('os').system('touch {H.MARK}')"
PWN = "implreg_pwned()"
HUGE = 10 ** 9

#: bad values for a real number (a hyperparameter, a data value)
NUMBER = [None, [1], {"a": 1}, CODE, PWN, "0.9.1", NAN, INF, -INF, object()]
#: ... that must also be positive
POSITIVE = NUMBER + [0, -1, "-1/2"]
#: bad values for a size, an order or a count
SIZE = [None, [2], {"a": 1}, CODE, "0.9.1", True, 2.5, NAN, -1, 0, HUGE]
#: bad values for a name looked up in a table
NAME = [None, 1, ["gd"], {}, CODE, "no-such-name"]
#: bad values for a (symmetric) matrix
MATRIX = [None, 5, "garbage", CODE, {"a": 1}, [[1, 2], [3]], [[1, 2], [3, 4]], [[NAN]], [[CODE]], [[PWN]],
          [[[1]]], []]
#: bad values for a float seconds budget
BUDGET = [-1, NAN, "x", [1], CODE, True]
#: bad values for a flag
FLAG = ["yes", None, 2, [True]]

w1, w2 = sp.symbols("w1 w2", real=True)
LINEAR = MO.linear2d()
QUAD = MO.quadratic([[2, 0], [0, 1]])
NOT_LOSS = [None, "w**2", 1, {"expr": 1}, CODE]
NOT_OPT = [None, "gd", 1, CODE]
GD = O.GD(sp.Rational(1, 10))
SGD2 = O.SGD(sp.Rational(1, 10), 2)
LSQ = MO.least_squares()
MF = B.modified_field(O.GD(B.H), 1)


def _grad(x):
    return x


# (label, function, valid kwargs, {parameter: (bad values, names the message may use)})
def _case(func, valid, bad, label=None):
    return (label or f"{func.__module__.split('.')[-1]}.{getattr(func, '__name__', func)}", func, valid, bad)


def _p(values, *names):
    return values, names


CALLABLES = [
    # -- analytic.optimizers -------------------------------------------------
    _case(O.GD, {"h": "1/10"}, {"h": _p(POSITIVE, "h")}),
    _case(O.HeavyBall, {"h": "1/10", "beta": "1/2"},
          {"h": _p(POSITIVE, "h"), "beta": _p(NUMBER + [1, -1, 2, "3/2"], "beta")}),
    _case(O.Nesterov, {"h": "1/10", "beta": "1/2"},
          {"h": _p(POSITIVE, "h"), "beta": _p(NUMBER + [1, 2], "beta")}),
    _case(O.SGD, {"h": "1/10", "batches": 2},
          {"h": _p(POSITIVE, "h"), "batches": _p([b for b in SIZE if b != HUGE] + ["2"], "batches")}),
    _case(O.LabelNoise, {"h": "1/10", "sigma": "1/5"},
          {"h": _p(POSITIVE, "h"), "sigma": _p(NUMBER + [-1], "sigma")}),
    _case(O.make_optimizer, {"name": "heavy-ball", "h": "1/10", "beta": "1/2"},
          {"name": _p(NAME, "name", "optimizer"), "h": _p(POSITIVE, "h"), "beta": _p(NUMBER[1:] + [1], "beta")}),
    _case(O.make_optimizer, {"name": "sgd", "h": "1/10", "batches": 2},
          {"batches": _p([b for b in SIZE if b not in (None, HUGE)], "batches")}, label="optimizers.make_optimizer(sgd)"),
    _case(O.make_optimizer, {"name": "label-noise", "h": "1/10", "sigma": "1/5"},
          {"sigma": _p([s for s in NUMBER if s is not None] + [-1], "sigma")},
          label="optimizers.make_optimizer(label-noise)"),
    # -- analytic.models -----------------------------------------------------
    _case(MO.sigmoid2d, {"x": 1, "y": "3/5"}, {"x": _p(NUMBER[1:], "x"), "y": _p(NUMBER[1:], "y")}),
    _case(MO.linear2d, {"x": 1, "y": "3/5"}, {"x": _p(NUMBER[1:], "x"), "y": _p(NUMBER[1:], "y")}),
    _case(MO.quadratic, {"A": [[1, 0], [0, 2]]}, {"A": _p(MATRIX, "A")}),
    _case(MO.least_squares, {"X": [[1, 0], [0, 1]], "y": [1, 2]},
          {"X": _p([m for m in MATRIX if m != [[1, 2], [3, 4]]], "X"),
           "y": _p([None, 5, "garbage", CODE, {"a": 1}, [1, 2, 3], [NAN, 1], [CODE, 1], [[1, 2]]], "y")}),
    _case(MO.get_model, {"name": "linear2d"}, {"name": _p(NAME, "name", "model")}),
    # -- analytic.loss -------------------------------------------------------
    _case(L.parse_loss, {"text": "w**2 + x", "variables": "w", "params": "x=1"},
          {"text": _p([None, 1, [1], CODE, PWN, "0.9.1", "w +", ""], "text", "loss"),
           "variables": _p([None, 1, "", "1w", "w,w", CODE, [1], {"w": 1}, "exp"], "variables"),
           "params": _p([5, [1], "x=0.9.1", f"x={CODE}", "x=" + PWN, {"x": [1]}, {"x": NAN}, {"x": CODE},
                         {1: 2}, "1x=2", "x=1,x=2"], "params", "x"),
           "name": _p([1, [1], None], "name")}),
    _case(L.parse_assignments, {"text": "x=1"},
          {"text": _p([5, [1], "x=0.9.1", f"x={CODE}", "1x=2", {"x": [1]}, {1: 2}, {"x": INF}, True],
                      "text", "params", "x")}),
    _case(L.parse_names, {"argument": "variables", "names": "w1,w2"},
          {"names": _p([None, 5, [1], "1a", CODE, {"w": 1}, "w,w"], "variables"),
           "argument": _p([None, 1, [1]], "argument")}),
    _case(L.Loss, {"expr": w1 ** 2, "variables": (w1,)},
          {"expr": _p(["w1**2", None, 1, [w1], CODE], "expr"),
           "variables": _p([None, 5, ["w1"], [], "w1", CODE], "variables"),
           "params": _p([5, {"x": CODE}, {"x": [1]}, "x=0.9.1", {1: 2}], "params", "x"),
           "terms": _p([5, "w1", [CODE]], "terms"), "name": _p([1, None], "name"),
           "text": _p([1, [1]], "text")}),
    _case(L.symbol, {"name": "w"}, {"name": _p([None, 1, [1], CODE, "", "1w"], "name")}),
    # -- analytic.calculus ---------------------------------------------------
    _case(C.gradient, {"loss": LINEAR}, {"loss": _p(NOT_LOSS, "loss"), "substitute": _p(FLAG, "substitute")}),
    _case(C.hessian, {"loss": LINEAR}, {"loss": _p(NOT_LOSS, "loss"), "substitute": _p(FLAG, "substitute")}),
    _case(C.grad_norm_squared, {"loss": LINEAR},
          {"loss": _p(NOT_LOSS, "loss"), "substitute": _p(FLAG, "substitute"),
           "simplify": _p(FLAG, "simplify"), "budget": _p(BUDGET, "budget")}),
    _case(C.global_minima, {"loss": LINEAR},
          {"loss": _p(NOT_LOSS, "loss"), "solve_for": _p([1, "nope", CODE, [w1]], "solve_for"),
           "substitute": _p(FLAG, "substitute"), "budget": _p(BUDGET, "budget")}),
    _case(C.tidy, {"expr": w1 ** 2}, {"expr": _p(["w1**2", CODE, None, [1], {"a": 1}], "expr"),
                                      "seconds": _p(BUDGET, "seconds")}),
    # -- analytic.bea --------------------------------------------------------
    _case(B.modified_field, {"optimizer": GD, "order": 1},
          {"optimizer": _p(NOT_OPT, "optimizer"), "order": _p([o for o in SIZE if o != 0] + ["1", B.MAX_ORDER + 1], "order")}),
    _case(B.modified_loss, {"optimizer": GD, "loss": LINEAR, "order": 1},
          {"optimizer": _p(NOT_OPT, "optimizer"), "loss": _p(NOT_LOSS, "loss"),
           "order": _p([o for o in SIZE if o != 0] + ["1", B.MAX_ORDER + 1], "order"), "budget": _p(BUDGET, "budget")}),
    _case(B.evaluate_field, {"mf": MF, "loss": QUAD},
          {"mf": _p([None, "field", 1, GD], "mf", "field"), "loss": _p(NOT_LOSS, "loss"),
           "evaluator": _p(["x", 1, [1]], "evaluator")}),
    _case(B.simplify_field, {"mf": B.evaluate_field(MF, QUAD)},
          {"mf": _p([None, "field", 1, GD, MF], "mf", "field"), "budget": _p(BUDGET, "budget")}),
    _case(B.tree_coefficients, {"optimizer": GD, "order": 1},
          {"optimizer": _p(NOT_OPT, "optimizer"), "order": _p([o for o in SIZE if o != 0] + [B.MAX_ORDER + 1], "order")}),
    _case(B.sgd_tree_coefficients, {"m": 2, "order": 1},
          {"m": _p(SIZE, "m"), "order": _p([o for o in SIZE if o != 0] + [B.MAX_ORDER + 1], "order")}),
    # -- analytic.stability --------------------------------------------------
    _case(ST.schur_cohn, {"poly": "z**2 - 1/4"},
          {"poly": _p([None, [1], {"a": 1}, CODE, PWN, "0.9.1", "z**" + "9" * 6, NAN], "poly"),
           "z": _p(["z", 1, None, [1]], "z")}),
    _case(ST.characteristic_polynomial, {"spec": GD},
          {"spec": _p(NOT_OPT, "spec"), "lam": _p([None, [1], CODE, "0.9.1", NAN], "lam")}),
    _case(ST.momentum_stability, {"spec": O.HeavyBall(ST.ETA, ST.BETA), "name": "heavy ball"},
          {"spec": _p(NOT_OPT, "spec"), "name": _p([None, 1, [1]], "name")}),
    # -- analytic.sgd_stability ----------------------------------------------
    _case(SG.inclusion_probabilities, {"n": 10, "B": 2},
          {"n": _p([None, [1], CODE, "0.9.1", True, 2.5, NAN, -1, 0], "n"),
           "B": _p([None, [1], CODE, "0.9.1", True, 2.5, NAN, -1, 0, 11], "B")}),
    *[_case(f, {"sampling": "without"}, {"sampling": _p(NAME, "sampling")})
      for f in (SG.batch_mean_variance, SG.variance_factor, SG.sgd_second_moment, SG.sgd_stability,
                SG.nonuniformity_bound, SG.sgd_matrix_stability)],
    *[_case(f, {"Hs": [[[1]], [[3]]], "eta": "1/2", "B": 1},
            {"Hs": _p([None, 5, "x", CODE, [[[CODE]]], [[[NAN]]], [[[1]], [[1, 2]]], [[[1, 2], [3, 4]]], [], [1, 2]],
                      "Hs"),
             "eta": _p(POSITIVE, "eta"), "B": _p(SIZE + [3], "B"), "sampling": _p(NAME, "sampling")})
      for f in (SG.second_moment_matrix, SG.second_moment_operator)],
    _case(SG.exact_batch_variance, {"values": [0, "1/2", 2, 5], "B": 2},
          {"values": _p([None, 5, "x", CODE, [CODE, 1], [NAN, 1], [[1], [2]], []], "values"),
           "B": _p(SIZE + [5], "B"), "sampling": _p(NAME, "sampling")}),
    # -- analytic.masks ------------------------------------------------------
    _case(M.mask, {"method": "gd"}, {"method": _p(NAME, "method")}),
    _case(M.threshold_relation, {"tau_value": "1/2"},
          {"tau_value": _p(NUMBER[1:] + [0, 1, 2, -1], "tau_value", "tau")}),
    _case(M.grey_zone, {"upper": "99/100", "lower": "1/100"},
          {"upper": _p(NUMBER + [0, 1, 2, "1/1000"], "upper"), "lower": _p(NUMBER + [0, 1, -1], "lower")}),
    *[_case(f, {"sv": [1.0, 0.5], "step": 0.1, "iters": 10},
            {"sv": _p([None, "x", CODE, [CODE], [[1.0], [2.0]], [NAN], {"a": 1}, [-1.0]], "sv"),
             "step": _p(NUMBER + [0, -1], "step"),
             "iters": _p([None, "x", CODE, True, NAN, -1, HUGE * 1000, [1, "x"], [1, -2]]
                         , "iters")})   # a fractional count continues the mask in T
      for f in (M.gd_mask_values, M.gd_mask_naive, M.gf_mask_values)],
    _case(M.heavy_ball_mask_values, {"sv": [1.0, 0.5], "step": 0.1, "momentum": 0.5, "iters": 10},
          {"sv": _p([None, "x", CODE, [CODE], [NAN]], "sv"), "step": _p(NUMBER + [0, -1], "step"),
           "momentum": _p(NUMBER + [1, -1, 2], "momentum"),
           "iters": _p([None, "x", CODE, True, 2.5, NAN, -1], "iters")}),
    _case(M.grey_zone_db, {"upper": 0.99, "lower": 0.01},
          {"upper": _p(NUMBER + [0, 1, 2], "upper"), "lower": _p(NUMBER + [0, 1, -1], "lower")}),
    # -- analytic.principal_flow ---------------------------------------------
    _case(PF.principal_flow, {"A": [[2, 0], [0, 1]], "h": "1/4"},
          {"A": _p(MATRIX + [[[1] * 40] * 40, [[1] * 11] * 11], "A"), "h": _p(POSITIVE, "h"),
           "budget": _p(BUDGET, "budget")}),
    _case(PF.principal_flow_series, {"order": 2, "h": "1/4"},
          {"order": _p([o for o in SIZE if o != 0], "order"), "lam": _p([[1], CODE, "0.9.1", NAN, {"a": 1}], "lam"),
           "h": _p(POSITIVE, "h")}),
    # -- analytic.label_noise ------------------------------------------------
    _case(LN.general_modified_loss, {"normalization": "mean"}, {"normalization": _p(NAME, "normalization")}),
    _case(LN.modified_field, {"loss": LINEAR, "h": "1/10", "sigma": "1/10"},
          {"loss": _p(NOT_LOSS + [MO.escape()], "loss"), "h": _p(POSITIVE[1:], "h"),
           "sigma": _p(NUMBER[1:] + [-1], "sigma"), "order": _p(SIZE, "order"),
           "labels": _p([5, CODE, ["nope"], "nope"], "labels"), "budget": _p(BUDGET, "budget"),
           "certificate_budget": _p(BUDGET, "certificate_budget")}),
    _case(LN.modified_loss, {"loss": LINEAR, "h": "1/10", "sigma": "1/10"},
          {"loss": _p(NOT_LOSS, "loss"), "h": _p(POSITIVE[1:], "h"), "sigma": _p(NUMBER[1:] + [-1], "sigma"),
           "labels": _p([5, CODE, ["nope"]], "labels"), "budget": _p(BUDGET, "budget")}),
    _case(LN.gaussian_expectation, {"expr": w1 ** 2, "noises": (w1,)},
          {"expr": _p(["w1**2", CODE, None, [1]], "expr"), "noises": _p([None, 5, "w1", [CODE], [1]], "noises")}),
    # -- analytic.jacobian_reg -----------------------------------------------
    *[_case(f, {"K": 3}, {"K": _p([k for k in SIZE] + [1, "3"], "K")})
      for f in (J.probability_symbols, J.softmax_logit_hessian, J.logit_hessian_spectrum, J.impurity_bounds,
                J.jacobian_reg_summary)],
    _case(J.gauss_newton_decomposition, {"K": 2, "n_params": 2},
          {"K": _p(SIZE + [1], "K"), "n_params": _p(SIZE, "n_params")}),
    # -- analytic.squared_loss -----------------------------------------------
    _case(SQ.normalization_weight, {"normalization": "mean", "n": 3},
          {"normalization": _p(NAME, "normalization"), "n": _p([None, [1], CODE, "0.9.1", True, 2.5, -1, 0], "n")}),
    _case(SQ.squared_loss_from_predictions, {"predictions": ["w1*x"], "labels": ["y"], "variables": "w1",
                                             "params": {"x": 1, "y": "1/2"}},
          {"predictions": _p([None, 5, CODE, [CODE], [PWN], ["0.9.1"], [], {"a": 1}], "predictions"),
           "labels": _p([None, 5, [CODE], ["y", "y"], [], [NAN]], "labels"),
           "variables": _p([None, 5, "1w", CODE, [1]], "variables"),
           "normalization": _p(NAME, "normalization"),
           "params": _p([5, f"x={CODE}", "x=0.9.1", [1]], "params", "x"),
           "name": _p([1, None], "name")}),
    _case(SQ.squared_residuals, {"loss": LINEAR}, {"loss": _p(NOT_LOSS + [MO.escape()], "loss")}),
    # -- analytic.linear_regression ------------------------------------------
    _case(LR.expected_error, {}, {"discrete": _p(FLAG, "discrete")}),
    # -- numeric.compile -----------------------------------------------------
    _case(NC.compile_expr, {"expr": [w1 ** 2], "variables": (w1,)},
          {"expr": _p([CODE, [CODE], [PWN], None, {"a": 1}, [w2]], "expr"),
           "variables": _p([None, "w1", [1], CODE, [CODE]], "variables"),
           "cse": _p(FLAG, "cse"), "method": _p(NAME, "method")}),
    _case(NC.compile_loss, {"loss": LINEAR}, {"loss": _p(NOT_LOSS, "loss"), "cse": _p(FLAG, "cse")}),
    _case(NC.compile_gradient, {"loss": LINEAR}, {"loss": _p(NOT_LOSS, "loss"), "cse": _p(FLAG, "cse")}),
    # -- numeric.simulate ----------------------------------------------------
    _case(NS.simulate, {"optimizer": O.GD(0.1), "grad": _grad, "x0": [1.0, 2.0], "steps": 5},
          {"optimizer": _p(NOT_OPT + [O.GD("h")], "optimizer"), "grad": _p([None, "x", CODE, 1], "grad"),
           "x0": _p([None, "x", CODE, [CODE], [NAN], {"a": 1}, [[[1.0]]], []], "x0"),
           "steps": _p([v for v in SIZE[:-1] if v != 0] + [HUGE * 1000], "steps"),
           "x_prev": _p(["x", CODE, [1.0], [NAN, 1.0]], "x_prev"),
           "record_every": _p(SIZE[1:-1], "record_every"), "threads": _p(SIZE, "threads"),
           "workers": _p(SIZE, "workers")}),
    _case(NS.simulate_sgd, {"optimizer": O.SGD(0.1, 2), "term_grads": [_grad, _grad], "x0": [1.0], "epochs": 2,
                            "seed": 0},
          {"optimizer": _p(NOT_OPT + [O.GD(0.1), O.SGD("h", 2)], "optimizer"),
           "term_grads": _p([None, "x", [CODE], [1]], "term_grads"),
           "x0": _p([None, "x", CODE, [NAN], {"a": 1}], "x0"),
           "epochs": _p([v for v in SIZE[:-1] if v != 0] + [HUGE * 1000], "epochs"), "seed": _p([None, "x", CODE, 2.5, -1, True], "seed"),
           "same_ordering": _p(FLAG, "same_ordering"), "record_every": _p(SIZE[1:-1], "record_every")}),
    # -- numeric.networks ----------------------------------------------------
    _case(NN.get_activation, {"name": "relu"}, {"name": _p(NAME, "name", "activation")}),
    _case(NN.grid, {"n": 4}, {"n": _p(SIZE, "n")}),
    _case(NN.exact_scale, {"scale": "3/2"}, {"scale": _p(POSITIVE, "scale")}),
    _case(NN.jacobian, {"activation": "relu", "n": 4, "width": 4},
          {"activation": _p(NAME, "activation"), "n": _p(SIZE, "n"), "width": _p(SIZE, "width"),
           "scale": _p(POSITIVE[1:], "scale")}),
    _case(NN.jacobian_arguments, {"n": 4, "width": 4}, {"n": _p(SIZE, "n"), "width": _p(SIZE, "width")}),
    *[_case(f, {"activation": "relu", "n": 3, "width": 3, "dps": 15},
            {"activation": _p(NAME, "activation"), "n": _p(SIZE, "n"), "width": _p(SIZE, "width"),
             "scale": _p(POSITIVE[1:], "scale"), "dps": _p(SIZE, "dps")})
      for f in (NN.jacobian_mp_values, NN.jacobian_mpmath)],
    _case(NN.dst_basis, {"n": 4, "k": 2}, {"n": _p(SIZE, "n"), "k": _p(SIZE + [5], "k")}),
    _case(NN.default_scale, {"name": "relu", "width": 4}, {"name": _p(NAME, "name", "activation"),
                                                          "width": _p(SIZE, "width")}),
    # -- numeric.flows -------------------------------------------------------
    _case(NF.integrate_flow, {"field": lambda x: -x, "x0": [1.0], "t_end": 1.0},
          {"field": _p([None, "x", CODE, 1], "field"), "x0": _p([None, "x", CODE, [NAN], {"a": 1}, []], "x0"),
           "t_end": _p(NUMBER + [-1], "t_end"), "t_eval": _p(["x", CODE, [NAN], [2.0]], "t_eval"),
           "rtol": _p(NUMBER + [0, -1], "rtol"), "atol": _p(NUMBER + [0, -1], "atol"),
           "bound": _p(NUMBER + [0, -1], "bound"), "method": _p(NAME, "method")}),
    _case(NF.gradient_flow, {"grad": _grad, "x0": [1.0], "t_end": 1.0},
          {"grad": _p([None, "x", CODE, 1], "grad"), "x0": _p([None, "x", CODE, [NAN]], "x0"),
           "t_end": _p(NUMBER + [-1], "t_end")}),
]

IDS = [c[0] for c in CALLABLES]
assert len(set(IDS)) == len(IDS), "labels must be distinct"


def _mark(value, canary: str):
    """``value`` with the canary mark replaced by the canary path, inside containers too."""
    if isinstance(value, str):
        return value.replace(H.MARK, canary)
    if isinstance(value, list):
        return [_mark(v, canary) for v in value]
    if isinstance(value, tuple):
        return tuple(_mark(v, canary) for v in value)
    if isinstance(value, dict):
        return {k: _mark(v, canary) for k, v in value.items()}
    return value


def _show(value) -> str:
    r = repr(value).replace(H.MARK, "<canary>")
    return r if len(r) <= 50 else r[:47] + "..."


def _cases():
    out = []
    for label, func, valid, bad in CALLABLES:
        for param, (values, names) in bad.items():
            for v in values:
                out.append((label, func, valid, param, v, names))
    return out


CASES = _cases()


def _run(case, timeout, canary):
    label, func, valid, param, value, names = case
    kwargs = dict(valid)
    kwargs[param] = _mark(value, str(canary))
    H.PWNED["calls"] = 0
    signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.perf_counter()
    try:
        func(**kwargs)
        outcome, message = "accepted", ""
    except H.Hang:
        outcome, message = "hang", ""
    except ImplregError as exc:
        outcome, message = "ImplregError", str(exc)
    except BaseException as exc:  # noqa: BLE001 - reported
        outcome, message = type(exc).__name__, str(exc)[:160]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    elapsed = time.perf_counter() - start
    created = canary.exists()
    if created:
        canary.unlink()
    return {"outcome": outcome, "message": message[:300], "elapsed": elapsed, "pwned": H.PWNED["calls"],
            "canary": created, "hang": outcome == "hang"}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    canary = tmp_path_factory.mktemp("api-hostile") / "CANARY"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builtins, "implreg_pwned", H.implreg_pwned, raising=False)
        res = H.run_isolated(CASES, lambda case, timeout: _run(case, timeout, canary), timeout=TIMEOUT)
    return {i: r for i, r in enumerate(res)}


def _problem(case, res) -> str | None:
    label, func, valid, param, value, names = case
    where = f"{param}={_show(value)}"
    if res is None or "outcome" not in res:
        return f"{where}: no result ({res})"
    if res["pwned"] or res["canary"]:
        return f"{where}: EXECUTED text"
    if res["outcome"] != "ImplregError":
        return f"{where}: {res['outcome']} {res['message'][:120]!r}"
    if not any(n in res["message"] for n in names):
        return f"{where}: message does not name {names[0]!r}: {res['message'][:120]!r}"
    if res["elapsed"] > TIMEOUT:
        return f"{where}: took {res['elapsed']:.1f} s"
    return None


@pytest.mark.parametrize("label", IDS)
def test_public_callable_rejects_bad_input(label, results):
    failures = [p for i, case in enumerate(CASES) if case[0] == label
                for p in [_problem(case, results[i])] if p]
    assert not failures, f"{label}: {len(failures)} bad input(s) not rejected properly:\n  " + "\n  ".join(failures)


def test_valid_arguments_of_the_table_are_accepted():
    """The otherwise-valid arguments really are valid (else every rejection is vacuous)."""
    failures = []
    for label, func, valid, bad in CALLABLES:
        if label in ("numeric.simulate", "numeric.simulate_sgd"):
            continue   # checked cheaply below: they run numeric loops
        try:
            func(**valid)
        except Exception as exc:  # noqa: BLE001 - reported
            failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:120]}")
    NS.simulate(O.GD(0.1), _grad, [1.0, 2.0], 5)
    NS.simulate_sgd(O.SGD(0.1, 2), [_grad, _grad], [1.0], 2, 0)
    assert not failures, "\n".join(failures)


def test_the_table_covers_every_listed_module():
    modules = {c[1].__module__ for c in CALLABLES}
    for name in ("analytic.optimizers", "analytic.models", "analytic.loss", "analytic.calculus", "analytic.bea",
                 "analytic.stability", "analytic.sgd_stability", "analytic.masks", "analytic.principal_flow",
                 "analytic.label_noise", "analytic.jacobian_reg", "analytic.squared_loss",
                 "analytic.linear_regression", "numeric.compile", "numeric.simulate", "numeric.networks",
                 "numeric.flows"):
        assert name in modules, name
    assert math.isnan(NAN) and np.isinf(INF)
