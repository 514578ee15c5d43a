r"""SGD with heavy-ball momentum over ``m`` reshuffled batches: the mean modified field at order 1.

``bea.sgd-momentum.order-1`` checks :mod:`analytic.sgd_momentum` four ways:

1. exactly, at coefficient level: at :math:`\beta = 0` it is the epoch composition of Euler
   B-series averaged over orderings (Smith et al.), and for one batch it is heavy ball's field;
2. against the exact mean of the reshuffled iterates on a least-squares loss (an exact linear
   recursion, :mod:`numeric.epoch_mean`): the slow generator's :math:`h`-coefficient, by
   Richardson extrapolation, equals the derived first-order term;
3. the mean iterates follow the order-0 and order-1 flows with measured slopes 1 and 2;
4. seeded driver runs (each drawing its own orderings) average to that exact mean within
   4 Monte Carlo standard errors, so the recursion models the driver's sampling.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy as sp

from analytic.bea import H, evaluate_field, modified_field, modified_loss, tree_coefficients
from analytic.bea_coefficients import sgd_tree_coefficients
from analytic.models import least_squares
from analytic.optimizers import HeavyBall, SGDMomentum
from analytic.sgd_momentum import sgd_momentum_tree_coefficients
from analytic.trees import RootedTree
from numeric.compile import compile_expr
from numeric.driver import batch_mean, run
from numeric.epoch_mean import heavy_ball_affine, mean_iterates, reshuffled_epoch_map, slow_generator
from numeric.flows import integrate_flow
from numeric.order import loglog_slope

from ..registry import Context, Outcome, claim

BETA = sp.Symbol("beta", real=True)
X = [[1, 0], [0, 2], [1, 1], [2, -1]]
Y = [1, 0, 2, -1]
M = 4                                    # one sample per batch
B = sp.Rational(1, 2)
X0 = np.array([2.0, -1.5])
HS = (0.004, 0.002, 0.001)
T = 2.0
TOLERANCE = 0.2


def _exact_identities():
    ok = True
    for m in (1, 2, 3):
        c, s = tree_coefficients(SGDMomentum(H, m, beta=BETA), 1), sgd_tree_coefficients(m, 1)
        ok &= set(c) == set(s) and all(sp.simplify(c[t].subs(BETA, 0) - s[t]) == 0 for t in s)
    one = tree_coefficients(SGDMomentum(H, 1, beta=BETA), 1)
    for t, v in tree_coefficients(HeavyBall(H, BETA), 1).items():
        ok &= sp.simplify(one[RootedTree(tuple(RootedTree((), 1) for _ in t.children), 1)] - v) == 0
    return bool(ok)


def _batch_data(loss):
    v = loss.variables
    grads = [sp.Matrix([sp.diff(t, w) for w in v]) for t in loss.concrete_terms]
    hess = [np.array(g.jacobian(v), dtype=float) for g in grads]
    g0 = [np.array(g.subs({w: 0 for w in v}), dtype=float).ravel() for g in grads]
    return grads, hess, g0


def _epoch(hess, g0, h):
    return reshuffled_epoch_map([heavy_ball_affine(A, c, h, float(B)) for A, c in zip(hess, g0)])


def _generator_check(loss, field, hess, g0):
    L0, L1 = (np.array(t.jacobian(loss.variables), dtype=float) for t in field.terms)
    h = 2.5e-4
    d = [(slow_generator(_epoch(hess, g0, s)[0], M * s, 2) - L0) / s for s in (h, h / 2)]
    measured = 2 * d[1] - d[0]
    wrong_c = sgd_momentum_tree_coefficients(M, sp.Integer(0), 1, tree_coefficients(HeavyBall(H, B), 1))
    by_order = tuple({t: c for t, c in wrong_c.items() if t.order == p + 1} for p in range(2))
    wrong = np.array(evaluate_field(replace(field, coefficients=by_order), loss).terms[1].jacobian(loss.variables),
                     dtype=float)
    return (float(np.abs(measured - L1).max() / np.abs(L1).max()),
            float(np.abs(measured - wrong).max() / np.abs(L1).max()))


def _slopes(field, hess, g0):
    fields = [compile_expr(t, field.loss.variables) for t in field.terms]
    errors = {0: [], 1: []}
    for h in HS:
        Mh, kh = _epoch(hess, g0, h)
        gbar = sum(A @ X0 + c for A, c in zip(hess, g0)) / M
        epochs = int(round(T / (M * h)))
        xs = mean_iterates(Mh, kh, np.concatenate([X0, -h * gbar / (1 - float(B))]), epochs)[:, :2]
        ts = M * h * np.arange(epochs + 1)
        for order in (0, 1):
            flow = integrate_flow(lambda x, o=order, h=h: sum(h ** j * np.asarray(fields[j](x), dtype=float).ravel()
                                                              for j in range(o + 1)), X0, ts[-1], t_eval=ts).xs
            errors[order].append(float(np.max(np.linalg.norm(xs - flow, axis=1))))
    return errors, {k: loglog_slope(HS, e) for k, e in errors.items()}


def _monte_carlo(loss, grads, hess, g0, ctx):
    h, epochs = 0.05, 6
    runs = 4000 if ctx.quick else 20000
    seed = int(ctx.rng(11).integers(2**31))
    term_grads = [compile_expr(g, loss.variables) for g in grads]
    traj = run(SGDMomentum(h, M, beta=B), batch_mean(term_grads), np.tile(X0, (runs, 1)), epochs * M,
               record_every=M, seed=seed, n_samples=M)
    traj.check("SGD with momentum")
    Mh, kh = _epoch(hess, g0, h)
    exact = mean_iterates(Mh, kh, np.concatenate([X0, np.zeros(2)]), epochs)[:, :2]
    mean, sem = traj.xs.mean(axis=1), traj.xs.std(axis=1) / np.sqrt(runs)
    z = float(np.max(np.abs(mean - exact)[1:] / sem[1:]))
    return z, runs, seed


@claim("bea.sgd-momentum.order-1",
       statement=r"\mathbb{E}\,x_{km} \text{ of SGD with momentum, } m \text{ reshuffled batches, follows } "
                 r"\dot x = -\tfrac{1}{1-\beta}\big(\nabla E + h\,\tfrac{S}{m-1}\,\nabla\tfrac{1}{2m}\sum_a"
                 r"\|\nabla E_a - \nabla E\|^2\big) - h\tfrac{1+\beta}{2(1-\beta)^3}\nabla^2E\,\nabla E + O(h^2)",
       source="Smith, Dherin, Barrett & De, ICLR 2021 (beta = 0); Ghosh, Lyu, Zhang & Wang, ICLR 2023")
def sgd_momentum_order_one(ctx: Context) -> Outcome:
    loss = least_squares(X, Y)
    field = evaluate_field(modified_field(SGDMomentum(H, M, beta=B), 1), loss)
    grads, hess, g0 = _batch_data(loss)
    identities = _exact_identities()
    gen_err, gen_wrong = _generator_check(loss, field, hess, g0)
    errors, slopes = _slopes(field, hess, g0)
    z, runs, seed = _monte_carlo(loss, grads, hess, g0, ctx)
    slope_ok = all(abs(slopes[k] - (k + 1)) <= TOLERANCE for k in (0, 1))
    passed = identities and gen_err < 2e-5 and gen_wrong > 1e-2 and slope_ok and z < 4
    table = "; ".join(f"h={h:g}: e0={e0:.3e}, e1={e1:.3e}" for h, e0, e1 in zip(HS, errors[0], errors[1]))
    return Outcome(passed,
                   prediction={"slope order 0": 1, "slope order 1": 2, "generator h-coefficient": "derived f_1"},
                   measurement={"beta = 0 and m = 1 identities": identities,
                                "generator: relative error of f_1": gen_err,
                                "generator: relative error with the beta = 0 weight": gen_wrong,
                                "slope order 0": slopes[0], "slope order 1": slopes[1],
                                "Monte Carlo max |z| (driver mean vs exact mean)": z, "runs": runs, "seed": seed},
                   tolerance=f"identities exact; generator error < 2e-5 relative (Richardson at h = 2.5e-4); slopes k+1 +- {TOLERANCE}; "
                             "|z| < 4",
                   details=(f"least squares, 4 samples, m = {M} batches of one, beta = {B}; mean iterates by the "
                            f"exact reshuffled recursion from the manifold start v = -h grad E/(1 - beta), "
                            f"T = {T}; errors: {table}"),
                   derivation=modified_loss(SGDMomentum(H, M, beta=B), loss, 1))
