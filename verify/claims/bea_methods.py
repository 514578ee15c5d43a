r"""Modified equations of methods with state (SAM, normalized SAM, RMSProp, Adam, ...),
derived by the slaving ansatz and checked two ways: exactly against a closed form
derived independently, and by the measured order of accuracy of the flows.

* ``bea.sam.first-order``: unnormalized SAM with :math:`\rho = O(h)` follows
  :math:`\dot x = -\nabla(E + (\rho/2 + h/4)\|\nabla E\|^2)` to :math:`O(h^2)`.
* ``bea.sam.normalized``: normalized SAM's leading regularizer is :math:`\rho\|\nabla E\|`.
* ``bea.adaptive.one-norm``: RMSProp's and Adam's order-1 fields are the closed forms of
  :mod:`analytic.adaptive_bias`; Adam's one-norm term is penalized iff :math:`\beta_1 > \beta_2`.
* ``bea.order.methods``: every deterministic built-in, on sigmoid2d and on a typed
  3-parameter loss, has order-:math:`k` flows with measured slopes :math:`k + 1`.

The exact comparisons are made in the derivative symbols :math:`E_\alpha` when the method
reads the gradient near :math:`x` (then they hold for every loss in these variables), else on
the concrete loss.  The iterates start on the state's invariant manifold, with step counters
far into the run (bias corrections equal to 1); see :mod:`numeric.order_check`.
"""
from __future__ import annotations

import itertools
import random

import sympy as sp

from functools import lru_cache

from analytic.adaptive_bias import adaptive_first_order_terms, one_norm_coefficient, penalizes_one_norm
from analytic.loss import parse_loss
from analytic.models import get_model
from analytic.optimizers import make_optimizer
from analytic.slaving import slaved_field
from analytic.symbols import H
from numeric.order_check import order_errors, step_grid

from ..registry import Context, Outcome, claim

R = sp.Rational
RHO = sp.Symbol("rho", positive=True)
TOLERANCE = 0.2
#: rho at the largest step of the grid when rho = O(h): rho = RHO_AT_H_MAX * h / h_max
RHO_AT_H_MAX = R(1, 20)
#: the typed loss of the per-method claim: a sigmoid unit with a bias, whose minima form a surface
TYPED = ("1/2*(y - a*sigmoid(b*x + c))**2", "a,b,c", "x=1, y=3/5")
STARTS = {"sigmoid2d": (1.5, -0.5), "typed": (1.0, 0.5, 0.2)}
WINDOW = 0.5


@lru_cache(maxsize=None)
def _loss(name):
    return get_model("sigmoid2d") if name == "sigmoid2d" else parse_loss(*TYPED, name="sigmoid3")


@lru_cache(maxsize=None)
def _derived(name, hyper, model, order, small=()):
    """``(spec, slaved field)`` of the built-in ``name`` (hyperparameters as sorted pairs) on
    ``model``; shared by the claims of one run."""
    spec = make_optimizer(name, H, **dict(hyper))
    return spec, slaved_field(spec, _loss(model), order, small=small)


def _grid(ctx):
    return step_grid(0.01, 3 if ctx.quick else 4)


def _measure(spec, field, model, ctx, scaled=None):
    return order_errors(spec, field, _grid(ctx), STARTS[model], WINDOW, scaled=scaled)


def _jets(d):
    r"""The gradient column and Hessian of the loss at :math:`x` in the symbols
    :math:`E_i, E_{ij}` of :class:`analytic.jets.LocalCalculus`, built here from their names."""
    E = lambda *a: sp.Symbol("E_{" + "".join(str(i + 1) for i in sorted(a)) + "}", real=True)  # noqa: E731
    return sp.Matrix([E(i) for i in range(d)]), sp.Matrix(d, d, lambda i, j: E(i, j))


#: integer gradients with integer norms (3-4-5, 1-2-2-3), so a norm is exact at every sample
_PYTHAGOREAN = {2: ((3, 4), (5, 12), (8, 15)), 3: ((1, 2, 2), (2, 3, 6), (1, 4, 8))}


def _samples(d):
    """Exact values of E_i (every sign pattern of each Pythagorean gradient) and E_ij."""
    g, hess = _jets(d)
    rng = random.Random(20261203)
    for base in _PYTHAGOREAN[d]:
        for signs in itertools.product((1, -1), repeat=d):
            sub = {g[i]: R(signs[i] * base[i], 7) for i in range(d)}
            for i in range(d):
                for j in range(i, d):
                    sub[hess[i, j]] = R(rng.randint(-40, 40), rng.randint(1, 40))
            yield sub


def _same_function(a, b, d) -> bool:
    """``a == b`` as functions of the derivative symbols: equal at every exact sample (the
    entries are algebraic in E_i, E_ij; a polynomial difference is also expanded to 0)."""
    diff = [x - y for x, y in zip(a, b)]
    if all(sp.expand(e) == 0 for e in diff):
        return True
    return all(e.xreplace(sub) == 0 for sub in _samples(d) for e in diff)


def _first_order(field):
    return field.local_terms[0] + H * field.local_terms[1]


def _slopes(r, prefix=""):
    return {f"{prefix}slope of order {k}": round(r.slopes[k], 3) for k in r.orders}


def _orders_ok(r):
    return not r.failures(TOLERANCE)


def _error_table(label, r) -> str:
    """The measured errors behind the slopes, one line per order (the report prints them)."""
    hs = ", ".join(f"{h:g}" for h in r.hs)
    lines = [f"{label}: from x0 = {tuple(round(v, 4) for v in r.x0)}, T = {r.T:g}, h = {hs}"]
    for k in r.orders:
        errors = ", ".join(f"{e:.3e}" for e in r.errors[k])
        lines.append(f"  e_{k}(h) = {errors}; least-squares log-log slope {r.slopes[k]:.3f} (expected {k + 1})")
    return "\n".join(lines)


@claim("bea.sam.first-order",
       statement=r"x_{k+1} = x_k - h\nabla E(x_k + \rho\nabla E(x_k)),\ \rho = O(h):\quad "
                 r"\dot x = -\nabla\Big(E + \big(\tfrac{\rho}{2} + \tfrac{h}{4}\big)\|\nabla E\|^2\Big) + O(h^2)",
       source="Foret et al., ICLR 2021 (SAM, unnormalized variant); Compagnoni et al., ICML 2023, "
              "'An SDE for modeling SAM' (USAM's deterministic drift); h/4 term: Barrett & Dherin, ICLR 2021")
def sam_first_order(ctx: Context) -> Outcome:
    closed = lambda g, hess: -(g + (RHO + H / 2) * hess * g)     # noqa: E731 -grad(E + (rho/2 + h/4)|grad E|^2)
    return _sam_outcome("sam", 1 if ctx.quick else 2, closed, ctx,
                        "the closed form is differentiated independently from E")


def _sam_outcome(method, order, closed, ctx, note):
    """A SAM variant with rho = O(h) against ``closed(g, hess)`` (in E_i, E_ij), and its orders."""
    prediction, measurement, ok, tables = {}, {}, True, []
    for model in ("sigmoid2d", "typed"):
        g, hess = _jets(len(_loss(model).variables))
        spec, field = _derived(method, (("rho", RHO),), model, order, ("rho",))
        exact = field.meta["calculus"] == "local" and _same_function(_first_order(field), closed(g, hess), len(g))
        r = _measure(spec, field, model, ctx, scaled={"rho": RHO_AT_H_MAX})
        tables.append(_error_table(model, r))
        prediction[f"{model}: F_0 + h F_1 - closed form"] = 0
        measurement[f"{model}: F_0 + h F_1 - closed form"] = "0 (exact)" if exact else "nonzero"
        prediction.update({f"{model}: slope of order {k}": k + 1 for k in r.orders})
        measurement.update(_slopes(r, f"{model}: "))
        ok &= exact and _orders_ok(r)
    return Outcome(ok, prediction=prediction, measurement=measurement,
                   tolerance=(f"exact equality in E_i, E_ij (expanded, or at {len(list(_samples(3)))} exact samples "
                              f"for d = 3); |slope - (k+1)| <= {TOLERANCE}"),
                   details="\n".join([f"rho = {RHO_AT_H_MAX} h / h_max along the grid h = {_grid(ctx)}, window "
                                       f"T = {WINDOW}; slaved field derived with rho = O(h) (SlavedField.small); "
                                       + note] + tables),
                   derivation=field)


@claim("bea.sam.normalized",
       statement=r"x_{k+1} = x_k - h\nabla E\Big(x_k + \rho\frac{\nabla E(x_k)}{\|\nabla E(x_k)\|}\Big),\ "
                 r"\rho = O(h):\quad \dot x = -\nabla\Big(E + \rho\|\nabla E\| + \tfrac{h}{4}\|\nabla E\|^2\Big) + O(h^2)",
       source="Foret et al., ICLR 2021 (SAM); Compagnoni et al., ICML 2023, 'An SDE for modeling SAM' "
              "(SAM's drift, the gradient of f + rho |grad f|)")
def sam_normalized(ctx: Context) -> Outcome:
    def closed(g, hess):                 # -grad(E + rho |grad E| + h |grad E|^2 / 4)
        return -(g + RHO * hess * g / sp.sqrt((g.T * g)[0]) + H / 2 * hess * g)
    return _sam_outcome("sam-normalized", 1, closed, ctx, "the expansion needs grad E != 0, where the "
                        "normalization is smooth")


#: Adam hyperparameters in the slaved regime h << 1 - b2, one with b1 > b2 and one with b1 < b2
ADAM_SETTINGS = ((R(3, 5), R(1, 2)), (R(1, 2), R(3, 5)))
EPS = R(1, 10)
#: RMSProp's decay: with rho = 1/2 the grid h <= 0.01 is still pre-asymptotic at order 1 (local
#: slopes 1.82, 1.92, 1.95 from (3/2, -1/2)); rho = 3/10 gives 2.00
RMSPROP_RHO = R(3, 10)


@claim("bea.adaptive.one-norm",
       statement=r"\text{RMSProp, Adam (order 1)}: \dot x = -P\nabla\big(E + h\lambda\,\|\nabla E\|_{1,\varepsilon}\big)"
                 r" - hc\,(DF_0)F_0,\ P = \mathrm{diag}(1/(|\nabla_i E| + \varepsilon)),\ "
                 r"\lambda = \frac{\beta_1 - \beta_2}{(1-\beta_1)(1-\beta_2)}:\ "
                 r"\text{the one-norm is penalized iff } \beta_1 > \beta_2",
       source="Cattaneo, Klusowski & Shigida, 'On the Implicit Bias of Adam', ICML 2024 (arXiv 2309.00079): "
              "the full-batch RMSProp and Adam theorems (their rho is our b2, their beta our b1; eps inside "
              "the root there, outside here: both forms are derived in analytic.adaptive_bias)")
def adaptive_one_norm(ctx: Context) -> Outcome:
    prediction, measurement, ok = {}, {}, True
    tables = []
    cases = [("rmsprop", (("eps", EPS), ("rho", RMSPROP_RHO)), (0, RMSPROP_RHO), False)]
    cases += [("adam", (("b1", b1), ("b2", b2), ("eps", EPS)), (b1, b2), True) for b1, b2 in ADAM_SETTINGS]
    last = None
    for method, hyper, (b1, b2), adam in cases:
        name = method if not adam else f"adam b1={b1}, b2={b2}"
        for model in ("sigmoid2d",) if ctx.quick else ("sigmoid2d", "typed"):
            g, hess = _jets(len(_loss(model).variables))
            F0, F1 = adaptive_first_order_terms(g, hess, b1, b2, EPS)
            spec, field = _derived(method, hyper, model, 1)
            exact = field.meta["calculus"] == "local" and _same_function(_first_order(field), F0 + H * F1, len(g))
            prediction[f"{name}, {model}: slaved - closed form"] = 0
            measurement[f"{name}, {model}: slaved - closed form"] = "0 (exact)" if exact else "nonzero"
            ok &= exact
            last = field
            if model == "sigmoid2d":
                r = _measure(spec, field, model, ctx)
                tables.append(_error_table(f"{name}, {model}", r))
                prediction.update({f"{name}, {model}: slope of order {k}": k + 1 for k in r.orders})
                measurement.update(_slopes(r, f"{name}, {model}: "))
                ok &= _orders_ok(r)
        if adam:
            lam = one_norm_coefficient(b1, b2)
            prediction[f"{name}: one-norm penalized (b1 > b2)"] = bool(b1 > b2)
            measurement[f"{name}: one-norm penalized (b1 > b2)"] = bool(penalizes_one_norm(b1, b2))
            measurement[f"{name}: lambda"] = str(lam)
            ok &= bool(penalizes_one_norm(b1, b2)) == bool(b1 > b2) == bool(lam > 0)
    return Outcome(ok, prediction=prediction, measurement=measurement,
                   tolerance=(f"exact equality in E_i, E_ij at {len(list(_samples(3)))} exact samples (d = 3; "
                              f"{len(list(_samples(2)))} for d = 2); |slope - (k+1)| <= {TOLERANCE}; sign of lambda"),
                   details=(f"eps = {EPS} outside the root; Adam with bias correction, far into the run "
                            f"(1 - b^k = 1); grid h = {_grid(ctx)}, window T = {WINDOW}, on sigmoid2d; the decays "
                            "are kept in the slaved regime h/(1 - b) <= 0.025 (Adam's default b2 = 0.999 is not, "
                            "on this grid); the closed form is analytic.adaptive_bias, derived apart from the "
                            "slaving code" + "\n" + "\n".join(tables)),
                   derivation=last)


#: every deterministic built-in: hyperparameters, the orders derived, the small hyperparameters
METHODS = (
    ("gd", (), 2, ()),
    ("heavy-ball", (("beta", R(1, 2)),), 2, ()),
    ("nesterov", (("beta", R(1, 2)),), 2, ()),
    ("weight-decay", (("weight_decay", R(1, 10)),), 2, ()),
    ("ema", (("decay", R(1, 2)),), 2, ()),
    ("sam", (("rho", RHO),), 2, ("rho",)),
    ("sam-normalized", (("rho", RHO),), 1, ("rho",)),
    ("rmsprop", (("eps", EPS), ("rho", RMSPROP_RHO)), 1, ()),
    ("adam", (("b1", R(1, 2)), ("b2", R(3, 5)), ("eps", EPS)), 1, ()),
    ("adam-no-bias-correction", (("b1", R(1, 2)), ("b2", R(3, 5)), ("eps", EPS)), 1, ()),
    ("adamw", (("b1", R(1, 2)), ("b2", R(3, 5)), ("eps", EPS), ("weight_decay", R(1, 10))), 1, ()),
)
#: stochastic built-ins, whose modified equation is that of the mean or an SDE (other claims)
EXCLUDED = ("sgd", "sgd-momentum", "label-noise")


@claim("bea.order.methods",
       statement=r"\max_{kh\le T}|x_k - X_K(kh)| = O(h^{K+1})\ \text{for the slaved field of every deterministic "
                 r"built-in, } K \le 2",
       source="Hairer, Lubich & Wanner, GNI Ch. IX (modified equations) and XV.3 (invariant manifolds of "
              "multistep methods); the slaving ansatz of analytic.slaving")
def order_methods(ctx: Context) -> Outcome:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ..commands.check_order import draw_orders

    prediction, measurement, ok = {}, {}, True
    tables = []
    results = []
    models = ("sigmoid2d",) if ctx.quick else ("sigmoid2d", "typed")
    for i, (name, hyper, K, small) in enumerate(METHODS):
        scaled = {n: RHO_AT_H_MAX for n in small}
        for j, model in enumerate(models):
            ctx.report((len(models) * i + j) / (len(models) * len(METHODS)), f"{name} on {model}")
            spec, field = _derived(name, hyper, model, min(K, 1) if ctx.quick else K, small)
            r = _measure(spec, field, model, ctx, scaled=scaled or None)
            tables.append(_error_table(f"{name}, {model}", r))
            for k in r.orders:
                prediction[f"{name}, {model}, K={k}"] = k + 1
                measurement[f"{name}, {model}, K={k}"] = round(r.slopes[k], 3)
            ok &= _orders_ok(r)
            results.append((name, model, r))
    cols = 4
    rows = -(-len(results) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, (name, model, r) in zip(axes.flat, results):
        draw_orders(ax, r, f"{name}, {model}")
    for ax in list(axes.flat)[len(results):]:
        ax.axis("off")
    fig.tight_layout()
    figures = ctx.save_figure(fig, "bea_order_methods")
    return Outcome(ok, prediction=prediction, measurement=measurement,
                   tolerance=(f"|slope - (K+1)| <= {TOLERANCE} from the state on the manifold"
                              + ("; quick: K <= 1 on sigmoid2d only" if ctx.quick else "")),
                   details=(f"grid h = {_grid(ctx)}, window T = {WINDOW}; losses {', '.join(models)} (typed: "
                            f"{TYPED[0]}, {TYPED[2]}); starts {STARTS}; "
                            f"SAM's rho = {RHO_AT_H_MAX} h / h_max; RMSProp and Adam "
                            f"to order 1 (order 2 takes minutes); excluded, being stochastic: "
                            f"{', '.join(EXCLUDED)}" + "\n" + "\n".join(tables)),
                   figures=figures)
