r"""Seed 000 (Ghosh, Lyu, Zhang & Wang, ICLR 2023), Figure 3, reproduced.

GD and GD with heavy-ball momentum at equal effective learning rate
:math:`h/(1-\beta) = 0.01` (so :math:`h = 0.01(1-\beta)`), 2000 iterations,
:math:`\beta \in \{0, 0.5, 0.8, 0.9\}`, :math:`x_{-1} = x_0`, on

* ``sigmoid2d`` (x = 1, y = 3/5) from (6, 2), as in the paper;
* ``linear2d`` from (2.8, 3.4).

Drawn: :math:`\|\nabla E\|^2` as background, the curve of global minima, the
gradient flow of :math:`E`, the gradient flow of :math:`\|\nabla E\|^2` from
the same start, and the trajectories.  Verdicts:

1. the mean distance from each trajectory to the path of the
   :math:`\|\nabla E\|^2` flow shrinks as :math:`\beta` grows;
2. each GD+M trajectory stays closer (mean distance of its iterates to the
   path, as in the figure; at equal times the start from rest adds a time lag
   of about :math:`\beta h/(1-\beta)` that dominates) to the flow of its modified loss
   :math:`\dot x = -\frac{1}{1-\beta}\nabla\tilde E`,
   :math:`\tilde E = E + \frac{h(1+\beta)}{4(1-\beta)^2}\|\nabla E\|^2`
   (derived by :mod:`analytic.bea`), than to the flow of :math:`E`,
   :math:`\dot x = -\frac{1}{1-\beta}\nabla E`.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from analytic.bea import H, evaluate_field, modified_field
from analytic.calculus import global_minima, grad_norm_squared
from analytic.models import linear2d, sigmoid2d
from analytic.optimizers import HeavyBall
from numeric.compile import compile_expr, compile_gradient
from numeric.flows import integrate_flow
from numeric.order import momentum_iterates

from ..registry import Context, Outcome, claim

BETAS = (0.0, 0.5, 0.8, 0.9)
EFFECTIVE_LR = 0.01
ITERATIONS = 2000
SOURCE = "Ghosh et al., ICLR 2023, App. 8, Figure 3"


def _path_distance(points, path):
    """Mean over ``points`` of the distance to the nearest point of ``path`` (densely sampled)."""
    from scipy.spatial import cKDTree
    d, _ = cKDTree(path).query(points)
    return float(np.mean(d))


def _figure3(loss, start, ctx: Context, name: str) -> Outcome:
    beta_sym = sp.Symbol("beta", real=True)
    order1 = evaluate_field(modified_field(HeavyBall(H, beta_sym), 1), loss)
    grad = compile_gradient(loss)
    # the order-0 and order-1 terms, compiled once with beta as an extra input column
    term0, term1 = (compile_expr(order1.terms[p], (*loss.variables, beta_sym)) for p in (0, 1))
    gn2 = grad_norm_squared(loss, simplify=False).expr
    f_gn2 = compile_expr(-sp.Matrix([sp.diff(gn2, v) for v in loss.variables]), loss.variables)
    x0 = np.array(start, dtype=float)
    t_eff = EFFECTIVE_LR * ITERATIONS
    tol = {"rtol": 1e-9, "atol": 1e-11}     # paths are compared at the 1e-3 level
    gf_E = integrate_flow(lambda x: -grad(x), x0, t_eff, t_eval=np.linspace(0, t_eff, 400), **tol)
    gf_R = integrate_flow(lambda x: f_gn2(x), x0, t_eff, t_eval=np.linspace(0, t_eff, 2000), **tol)
    dist_R, closer, details = {}, {}, {}
    trajectories = {}
    hs = np.array([EFFECTIVE_LR * (1 - b) for b in BETAS])
    # every fifth iterate (the ones the distances use), x_-1 = x_0
    runs = momentum_iterates(grad, hs, np.array(BETAS), x0, ITERATIONS, record_every=5)
    for i, beta in enumerate(BETAS):
        h = hs[i]
        xs = runs[:, i, :]
        trajectories[beta] = xs
        dist_R[beta] = _path_distance(xs, gf_R.xs)
        if beta == 0:
            continue
        def field(x, h=h, beta=beta):
            xb = np.append(x, beta)
            return term0(xb) + h * term1(xb)
        t_end = ITERATIONS * h
        dense = np.linspace(0, t_end, 2000)
        mod = integrate_flow(lambda x: field(x), x0, t_end, t_eval=dense, **tol).xs
        plain = integrate_flow(lambda x: -grad(x) / (1 - beta), x0, t_end, t_eval=dense, **tol).xs
        d_mod = _path_distance(xs, mod)
        d_plain = _path_distance(xs, plain)
        closer[beta] = d_mod < d_plain
        details[f"beta={beta:g}: mean distance to modified-loss flow"] = d_mod
        details[f"beta={beta:g}: mean distance to flow of E"] = d_plain
    ordered = [dist_R[b] for b in BETAS]
    shrinks = all(a > b for a, b in zip(ordered, ordered[1:]))
    figures = ()
    if ctx.figure_dir is not None:
        figures = _draw(loss, gn2, gf_E.xs, gf_R.xs, trajectories, name)
        figures = ctx.save_figure(figures, f"seed000_figure3_{name}")
    measurement = {f"beta={b:g}: mean distance to ||grad E||^2 flow": dist_R[b] for b in BETAS}
    measurement.update(details)
    return Outcome(shrinks and all(closer.values()),
                   prediction={"distance to ||grad E||^2 flow": "decreasing in beta",
                               "closer to": "modified-loss flow than flow of E, every beta > 0"},
                   measurement=measurement,
                   tolerance="strict decrease over beta = 0, 0.5, 0.8, 0.9; strict inequality of mean path distances per beta",
                   details=(f"h = {EFFECTIVE_LR}(1-beta), {ITERATIONS} iterations, x_-1 = x_0, start {tuple(start)}; "
                            "modified loss E + h(1+beta)/(4(1-beta)^2)||grad E||^2 with time scale 1/(1-beta)"),
                   derivation=order1, figures=figures)


def _draw(loss, gn2, path_E, path_R, trajectories, name):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pts = np.concatenate([path_E, path_R] + list(trajectories.values()))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.15 * (hi - lo) + 0.1
    g1 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 160)
    g2 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 160)
    W1, W2 = np.meshgrid(g1, g2)
    Z = compile_expr(gn2 if not loss.substitutions else loss.substitute(gn2), loss.variables)(
        np.stack([W1, W2], axis=-1))
    fig, ax = plt.subplots(figsize=(6, 5))
    cs = ax.contourf(W1, W2, np.log10(Z + 1e-12), levels=30, cmap="Greys")
    fig.colorbar(cs, ax=ax, label=r"$\log_{10}\|\nabla E\|^2$")
    curve = global_minima(loss).expr[0]
    w1s, w2s = loss.variables
    if curve.lhs == w2s:
        xs = g1[g1 > (0.61 if loss.name == "sigmoid2d" else 0.02)]     # the branch with w1 > 0
        ys = compile_expr(curve.rhs, (w1s,))(xs[:, None])
        ys = np.where((ys > g2[0] - 1) & (ys < g2[-1] + 1), ys, np.nan)
        ax.plot(xs, ys, "k--", lw=1, label="global minima")
    ax.plot(path_E[:, 0], path_E[:, 1], color="tab:blue", lw=2, label=r"gradient flow of $E$")
    ax.plot(path_R[:, 0], path_R[:, 1], color="tab:red", lw=2, label=r"gradient flow of $\|\nabla E\|^2$")
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(trajectories)))
    for (beta, xs_), color in zip(trajectories.items(), colors):
        ax.plot(xs_[:, 0], xs_[:, 1], lw=1.2, color=color, label=rf"GD+M $\beta={beta:g}$")
    ax.set_xlim(g1[0], g1[-1])
    ax.set_ylim(g2[0], g2[-1])
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_title(f"{name}: equal effective learning rate h/(1-beta) = {EFFECTIVE_LR}")
    ax.legend(fontsize=7, loc="best")
    return fig


@claim("seed000.figure3.sigmoid2d",
       statement=r"\text{GD+M trajectories approach the flow of } \|\nabla E\|^2 \text{ as } \beta \text{ grows, "
                 r"and follow } \dot x = -\tfrac{1}{1-\beta}\nabla\tilde E",
       source=SOURCE)
def figure3_sigmoid2d(ctx: Context) -> Outcome:
    return _figure3(sigmoid2d(), (6.0, 2.0), ctx, "sigmoid2d")


@claim("seed000.figure3.linear2d",
       statement=r"\text{same as Figure 3 for } E = \tfrac12(y - w_1 w_2 x)^2 \text{ from } (2.8, 3.4)",
       source=SOURCE + " (setting of Sec. 4.1)")
def figure3_linear2d(ctx: Context) -> Outcome:
    return _figure3(linear2d(), (2.8, 3.4), ctx, "linear2d")
