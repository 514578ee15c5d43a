"""Claims from Ghosh, Lyu, Zhang & Wang, "Implicit regularization in heavy-ball
momentum accelerated stochastic gradient descent", ICLR 2023, Appendix 8
(the 2-D sigmoid model, seed 000)."""
from __future__ import annotations

import numpy as np
import sympy as sp

from analytic.calculus import global_minima, grad_norm_squared
from analytic.loss import symbol
from analytic.models import sigmoid2d
from analytic.optimizers import GD
from numeric.compile import compile_expr, compile_gradient, compile_loss
from numeric.simulate import simulate

from ..registry import Context, Outcome, claim

SOURCE = "Ghosh et al., ICLR 2023, App. 8"


def seed000_closed_form():
    """The printed closed form of ||grad E||^2 (App. 8), typed from the paper
    only to be compared with the derivation."""
    w1, w2, x, y = (symbol(n) for n in ("w1", "w2", "x", "y"))
    s = 1 + sp.exp(-w2 * x)
    return (1 / s**2 + w1**2 * x**2 * sp.exp(-2 * w2 * x) / s**4) * (y - w1 / s)**2


@claim("seed000.grad-norm-closed-form",
       statement=r"\|\nabla E\|^2 = \Big(\frac{1}{(1+e^{-w_2x})^2} + \frac{w_1^2x^2e^{-2w_2x}}{(1+e^{-w_2x})^4}\Big)"
                 r"\Big(y - \frac{w_1}{1+e^{-w_2x}}\Big)^2",
       source=SOURCE + ", equation for the gradient norm")
def grad_norm_closed_form(ctx: Context) -> Outcome:
    loss = sigmoid2d()
    derived = grad_norm_squared(loss, substitute=False)
    diff = sp.simplify(derived.expr - seed000_closed_form())
    # independent numeric check: central finite differences of E at random points
    rng = ctx.rng()
    n = 200 if ctx.quick else 2000
    pts = rng.uniform([-4, -4], [8, 4], size=(n, 2))
    E = compile_loss(loss)
    h = 1e-5
    fd = np.stack([(E(pts + h * e) - E(pts - h * e)) / (2 * h) for e in np.eye(2)], axis=-1)
    fd_norm = (fd**2).sum(axis=1)
    closed = compile_expr(loss.substitute(seed000_closed_form()), loss.variables)(pts)
    rel = np.max(np.abs(fd_norm - closed) / np.maximum(1e-3, np.abs(closed)))
    passed = diff == 0 and rel < 1e-6
    return Outcome(passed, prediction={"symbolic difference": "0", "max rel. FD error": 0.0},
                   measurement={"symbolic difference": str(diff), "max rel. FD error": rel, "points": n},
                   tolerance="exact symbolic zero; FD rel. error < 1e-6",
                   derivation=derived)


@claim("seed000.minima-curve",
       statement=r"E\big(w_1, -\log(w_1/y - 1)/x\big) = 0 \text{ for } w_1 > y",
       source=SOURCE + ", curve of global minima")
def minima_curve(ctx: Context) -> Outcome:
    loss = sigmoid2d()
    res = global_minima(loss, substitute=False)
    w1, w2, x, y = (symbol(n) for n in ("w1", "w2", "x", "y"))
    expected = -sp.log(w1 / y - 1) / x
    sol = res.expr[0].rhs
    same = sp.simplify(sol - expected) == 0
    on_curve = sp.simplify(loss.expr.subs(w2, sol)) == 0
    # numeric: E vanishes along the curve (float64 round-off only)
    w = np.linspace(0.61, 8, 200 if ctx.quick else 2000)
    curve = compile_expr(loss.substitute(sol), (w1,))(w[:, None])
    E = compile_loss(loss)(np.stack([w, curve], axis=1))
    err = float(np.max(np.abs(E)))
    return Outcome(same and on_curve and err < 1e-25,
                   prediction={"w2(w1)": str(sol), "max E on curve": 0.0},
                   measurement={"matches paper": bool(same), "max E on curve": err},
                   tolerance="symbolic identity; max E < 1e-25", derivation=res)


@claim("seed000.gd-converges-to-minima",
       statement=r"\text{GD from } (6, 2) \text{ with } h = 0.01 \text{ converges onto the curve } E = 0",
       source=SOURCE + ", Figure 3 (GD trajectory)")
def gd_converges(ctx: Context) -> Outcome:
    loss = sigmoid2d()
    grad = compile_gradient(loss)
    steps = 20000 if ctx.quick else 60000
    traj = simulate(GD(0.01), grad, [[6.0, 2.0]], steps, record_every=steps // 400).check("GD on sigmoid2d")
    w1, w2 = traj.final[0]
    E = compile_loss(loss)
    E_final = float(E(traj.final)[0])
    w2_curve = -np.log(w1 / 0.6 - 1.0)
    dist = abs(w2 - w2_curve)
    figures = ctx.save_figure(_trajectory_figure(E, traj), "gd-trajectory")
    return Outcome(E_final < 1e-12 and dist < 1e-5,
                   prediction={"E final": 0.0, "|w2 - curve|": 0.0},
                   measurement={"E final": E_final, "|w2 - curve|": dist, "w1": w1, "w2": w2, "steps": steps},
                   tolerance="E < 1e-12, distance < 1e-5", figures=figures)


def _trajectory_figure(E, traj):
    """Left: the GD path over log10 E with the curve of minima; right: E along the path."""
    from ..figures import new_figure
    fig, (ax_path, ax_loss) = new_figure(1, 2)
    g1, g2 = np.meshgrid(np.linspace(0.7, 7, 120), np.linspace(-4, 3, 100))
    levels = np.log10(E(np.stack([g1, g2], axis=-1)) + 1e-12)
    cs = ax_path.contourf(g1, g2, levels, levels=20, cmap="viridis")
    fig.colorbar(cs, ax=ax_path, label=r"$\log_{10} E$")
    w1 = np.linspace(0.61, 7, 300)
    ax_path.plot(w1, -np.log(w1 / 0.6 - 1.0), "w--", lw=1.2, label="minima $E = 0$")
    path = traj.xs[:, 0, :]
    ax_path.plot(path[:, 0], path[:, 1], "r-", lw=1.6, label="GD, $h = 0.01$")
    ax_path.plot(*path[0], "ro", ms=4)
    ax_path.set(xlim=(0.7, 7), ylim=(-4, 3), xlabel="$w_1$", ylabel="$w_2$", title="GD path")
    ax_path.legend(loc="lower left", framealpha=0.9)
    ax_loss.semilogy(traj.steps[1:], E(path)[1:])
    ax_loss.set(xlabel="step", ylabel="$E$", title="loss along the path")
    return fig
