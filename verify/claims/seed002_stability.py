"""Claims from Lei Wu's lecture (seed 002) on dynamical stability, and Wu, Ma & E,
NeurIPS 2018: momentum regions, the SGD second moment, the sharpness /
non-uniformity diagram and the escape example."""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from analytic.loss import symbol
from analytic.models import escape
from analytic.optimizers import GD, HeavyBall, Nesterov
from analytic.sgd_stability import sgd_stability
from analytic.stability import BETA, ETA, LAMBDA, X_STEP, Z, heavy_ball_stability, nesterov_stability
from numeric.compile import compile_expr, compile_gradient
from numeric.simulate import simulate
from numeric.stability_sim import (second_moment_matrix_np, second_moment_operator_np, sgd_quadratic,
                                   sgd_quadratic_1d, sgd_terms, two_step_growth, variance_factor_value)

from ..registry import Context, Outcome, claim

SOURCE = "Wu, lecture 2020 (seed 002); Wu, Ma & E, NeurIPS 2018"
#: z-value of every Monte Carlo interval in this module (two-sided p = 6.3e-5 per check,
#: so a family of ~20 checks has a false-alarm rate below 0.2%)
Z_VALUE = 4.0


def _in_x(expr):
    return expr.subs(ETA * LAMBDA, X_STEP).subs(ETA, X_STEP / LAMBDA)


def _recursion_coefficients(charpoly):
    p = sp.Poly(_in_x(charpoly), Z)
    c = dict(zip(range(p.degree(), -1, -1), p.all_coeffs()))
    return compile_expr(sp.Matrix([-c[1], -c[0]]), (X_STEP, BETA))


def _near_boundary(region, X, Bt, rx, rb, frac=0.01):
    """Cells whose 1%-neighbourhood (of the grid ranges) crosses the predicted boundary."""
    base = region(np.stack([X, Bt], -1)) > 0.5
    near = np.zeros_like(base)
    for ang in np.linspace(0, 2 * np.pi, 16, endpoint=False):
        pts = np.stack([X + frac * rx * np.cos(ang), Bt + frac * rb * np.sin(ang)], -1)
        near |= (region(pts) > 0.5) != base
    return base, near


@claim("seed002.momentum-region",
       statement=r"\text{heavy ball stable} \iff |\beta|<1,\ 0<\eta\lambda<2(1+\beta);\quad"
                 r"\text{Nesterov } (0\le\beta<1) \iff 0<\eta\lambda<\tfrac{2(1+\beta)}{1+2\beta}",
       source="Polyak 1964; Schur-Cohn test on the characteristic polynomial (issue claim 1)")
def momentum_region(ctx: Context) -> Outcome:
    m = 90 if ctx.quick else 260
    steps = 200 if ctx.quick else 600
    xs = np.linspace(-0.5, 4.5, m + 1)
    bs = np.linspace(-1.3, 1.3, m + 1)
    xs = (xs[:-1] + xs[1:]) / 2                     # half-cell offsets: no cell on x = 0 or beta = 0
    bs = (bs[:-1] + bs[1:]) / 2
    X, Bt = np.meshgrid(xs, bs)
    meas, figs_data = {}, []
    passed = True
    derivation = None
    for name, spec, res in (("heavy-ball", HeavyBall(ETA, BETA), heavy_ball_stability()),
                            ("nesterov", Nesterov(ETA, BETA), nesterov_stability())):
        derivation = derivation or res
        coeffs = _recursion_coefficients(res.meta["charpoly"])(np.stack([X, Bt], -1))
        rate = two_step_growth(coeffs[..., 0], coeffs[..., 1], steps=steps)
        observed = rate < 0
        region = compile_expr(_in_x(res.expr), (X_STEP, BETA))
        predicted, near = _near_boundary(region, X, Bt, xs[-1] - xs[0], bs[-1] - bs[0])
        disagree = predicted != observed
        far = int((disagree & ~near).sum())
        close = int((disagree & near).sum())
        # the explicit region derived from the test agrees with the Schur-Cohn form
        explicit = compile_expr(_in_x(res.meta["explicit"]), (X_STEP, BETA))(np.stack([X, Bt], -1)) > 0.5
        mask = np.ones_like(predicted) if name == "heavy-ball" else (Bt >= 0) & (Bt < 1)
        explicit_mismatch = int((explicit != predicted)[mask].sum())
        meas.update({f"{name} cells": predicted.size, f"{name} disagree far": far,
                     f"{name} disagree within 1%": close, f"{name} explicit mismatches": explicit_mismatch,
                     f"{name} negative-beta cells stable": int((predicted & (Bt < 0)).sum())})
        passed &= far == 0 and explicit_mismatch == 0 and close <= 0.02 * predicted.size
        figs_data.append((name, predicted, disagree, near))
    figs = ()
    if ctx.figure_dir is not None:  # figures only when they are written
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
        for ax, (name, pred, dis, near) in zip(axes, figs_data):
            ax.imshow(pred, origin="lower", extent=(xs[0], xs[-1], bs[0], bs[-1]), aspect="auto", cmap="Blues", alpha=0.6)
            yy, xx = np.nonzero(dis)
            ax.plot(X[yy, xx], Bt[yy, xx], "r.", ms=2, label="simulation disagrees")
            ax.set_title(f"{name}: predicted stable region")
            ax.set_xlabel(r"$\eta\lambda$")
        axes[0].set_ylabel(r"$\beta$")
        axes[0].legend(loc="lower right", fontsize=7)
        figs = ctx.save_figure(fig, "seed002_momentum_region")
    return Outcome(passed, prediction={"heavy-ball": str(heavy_ball_stability().meta["explicit"]),
                                       "nesterov (0<=beta<1)": str(nesterov_stability().meta["explicit"])},
                   measurement=meas,
                   tolerance=f"no disagreement farther than 1% of the grid range from the boundary; "
                             f"{steps} steps, growth rate < 0 means convergent",
                   derivation=derivation, figures=figs)


def _ensemble(rng, n, a_target, spread):
    """n nonnegative values with mean a_target; Dirichlet weights set the non-uniformity."""
    w = rng.dirichlet(np.full(n, spread))
    return a_target * n * w


@claim("seed002.sgd-second-moment",
       statement=r"\mathbb E x_{t+1}^2 = \Big[(1-\eta a)^2 + \eta^2\tfrac{n-B}{B(n-1)}s^2\Big]\mathbb E x_t^2;"
                 r"\ \ \mathbb E\|x_{t+1}\|^2 = \mathbb E x_t^T[(I-\eta H)^2 + \eta^2 c\,\Sigma]x_t",
       source=SOURCE + ", eqs. (22)-(23) and the high-dimensional case (issue claim 2)")
def sgd_second_moment(ctx: Context) -> Outcome:
    rng = ctx.rng(2)
    paths, steps = (4000, 10) if ctx.quick else (20000, 20)
    configs = [(10, 2, 0.6, "without"), (10, 5, 0.8, "without"), (16, 4, 0.5, "without"),
               (20, 10, 0.9, "without"), (12, 3, 0.6, "with")]
    meas, worst, wrong_min = {}, 0.0, np.inf
    sym = sgd_stability()
    for n, B, eta, sampling in configs:
        a_vals = _ensemble(rng, n, 1.0, 0.7)
        a, s2 = a_vals.mean(), a_vals.var()
        c = variance_factor_value(n, B, sampling)
        g = (1 - eta * a)**2 + eta**2 * c * s2
        wrong_c = 1 / B if sampling == "without" else (n - B) / (B * (n - 1))
        g_wrong = (1 - eta * a)**2 + eta**2 * wrong_c * s2
        # sample size chosen so that the wrong factor sits 2 Z_VALUE standard errors away (power)
        pilot = sgd_quadratic_1d(a_vals, eta, B, 2000, 1, rng, sampling)["factor"]
        needed = (2 * Z_VALUE * pilot.stderr * np.sqrt(pilot.samples) / abs(g - g_wrong))**2
        n_steps = int(np.clip(np.ceil(needed / paths), steps, 40 * steps))
        out = sgd_quadratic_1d(a_vals, eta, B, paths, n_steps, rng, sampling)
        f = out["factor"]
        T = 3
        outT = sgd_quadratic_1d(a_vals, eta, B, paths, T, rng, sampling)["second_moment"]
        zf, zT, zw = f.z_score(g), outT.z_score(g**T), f.z_score(g_wrong)
        worst = max(worst, abs(zf), abs(zT))
        wrong_min = min(wrong_min, abs(zw))
        key = f"n={n},B={B},eta={eta},{sampling}"
        meas[key] = f"g={g:.4f} MC={f.mean:.4f}+-{f.stderr:.4f} (z={zf:.2f}, {f.samples} samples); " \
                    f"E x_3^2 z={zT:.2f}; wrong c z={zw:.1f}"
    # matrix case: random PSD H_i, one step from fixed x0 and T steps of the full second moment
    n, d, B, eta = 6, 3, 2, 0.35
    G = rng.normal(size=(n, d, d)) / np.sqrt(d)
    H = np.einsum("nij,nkj->nik", G, G)
    A = second_moment_matrix_np(H, eta, B)
    L = second_moment_operator_np(H, eta, B)
    w = np.linalg.eigvalsh(A)
    Sigma = np.einsum("nij,njk->ik", H, H) / n - H.mean(0) @ H.mean(0)
    A_wrong = A + eta**2 * (1 / B - variance_factor_value(n, B)) * Sigma     # the factor c = 1/B
    x0 = np.linalg.eigh(Sigma)[1][:, -1]            # the direction where the factor c matters most
    pilot = (sgd_quadratic(H, eta, B, x0, 2000, 1, rng)**2).sum(1)
    gap = abs(x0 @ (A_wrong - A) @ x0)
    n_paths = int(np.clip((2 * Z_VALUE * pilot.std() / gap)**2, 5 * paths, 100 * paths))
    sq1 = (sgd_quadratic(H, eta, B, x0, n_paths, 1, rng)**2).sum(1)
    m1, se1 = sq1.mean(), sq1.std(ddof=1) / np.sqrt(sq1.size)
    z1 = (m1 - x0 @ A @ x0) / se1
    zMw = (m1 - x0 @ A_wrong @ x0) / se1
    T = 4
    xT = sgd_quadratic(H, eta, B, x0, paths * 5, T, rng)
    sqT = (xT**2).sum(1)
    M = np.outer(x0, x0).ravel()
    for _ in range(T):
        M = L @ M
    predT = np.trace(M.reshape(d, d))
    zM = (sqT.mean() - predT) / (sqT.std(ddof=1) / np.sqrt(sqT.size))
    worst = max(worst, abs(z1), abs(zM))
    wrong_min = min(wrong_min, abs(zMw))
    meas["matrix one step"] = f"x0'Ax0={x0 @ A @ x0:.4f} MC={m1:.4f}+-{se1:.4f} (z={z1:.2f}, {n_paths} paths); " \
                              f"wrong c z={zMw:.1f}"
    meas["matrix 4 steps"] = f"tr L^4 M0={predT:.4f} (z={zM:.2f})"
    meas["lambda_max(A), rho(L)"] = f"{w[-1]:.4f}, {max(abs(np.linalg.eigvals(L))):.4f}"
    meas["max |z|"] = worst
    meas["min |z| of the wrong formula"] = wrong_min
    passed = worst < Z_VALUE and wrong_min > Z_VALUE
    return Outcome(passed, prediction={"c(n,B) without": str(sym.meta["c"]), "g": str(sym.meta["growth"])},
                   measurement=meas,
                   tolerance=f"|z| < {Z_VALUE} (two-sided 99.994% interval, normal approximation) for the derived "
                             f"formula, and |z| > {Z_VALUE} for the wrong factor (1/B without replacement, "
                             f"(n-B)/(B(n-1)) with)",
                   derivation=sym)


@claim("seed002.sharpness-nonuniformity-diagram",
       statement=r"(1-\eta a)^2 + \eta^2 c(n,B)\,s^2 \le 1 \text{ delimits the minima SGD can stay at}",
       source=SOURCE + ", sharpness-non-uniformity diagram (issue claim 3)")
def diagram(ctx: Context) -> Outcome:
    rng = ctx.rng(3)
    n = 20
    settings = [(0.5, 1), (0.5, 4), (0.25, 4)]
    minima = 40 if ctx.quick else 120
    paths, steps = (400, 8) if ctx.quick else (2000, 20)
    agree = disagree = ambiguous = 0
    eta, B = settings[0]
    c = variance_factor_value(n, B)
    pts = []
    for _ in range(minima):
        a_t = rng.uniform(0.05, 2.2 / eta)
        vals = _ensemble(rng, n, a_t, np.exp(rng.uniform(np.log(0.05), np.log(20))))
        a, s = vals.mean(), vals.std()
        g = (1 - eta * a)**2 + eta**2 * c * s**2
        f = sgd_quadratic_1d(vals, eta, B, paths, steps, rng)["factor"]
        lo, hi = f.interval(Z_VALUE)
        obs = "stable" if hi < 1 else ("unstable" if lo > 1 else "ambiguous")
        pred = "stable" if g <= 1 else "unstable"
        if obs == "ambiguous":
            ambiguous += 1
        elif obs == pred:
            agree += 1
        else:
            disagree += 1
        pts.append((a, s, obs))
    figs = ()
    if ctx.figure_dir is not None:  # figures only when they are written
        import matplotlib.pyplot as plt
        from ..stability_plots import draw_diagram
        fig, ax = plt.subplots(figsize=(5.2, 4))
        draw_diagram(ax, settings, n)
        for a, s, obs in pts:
            mk = {"stable": ("o", "k"), "unstable": ("x", "r"), "ambiguous": ("s", "grey")}[obs]
            ax.scatter(a, s, marker=mk[0], c=mk[1], s=14)
        ax.set_title(f"n = {n}; markers: simulated minima (eta={eta}, B={B})", fontsize=9)
        figs = ctx.save_figure(fig, "seed002_diagram")
    return Outcome(disagree == 0 and agree >= 0.8 * minima,
                   prediction={"boundary": "s = sqrt(a (2 - eta a) / (eta c(n,B)))"},
                   measurement={"minima": minima, "agree": agree, "disagree": disagree,
                                "ambiguous (CI contains 1)": ambiguous},
                   tolerance=f"no minimum classified against the prediction by a {Z_VALUE}-sigma interval; "
                             f">= 80% classified", figures=figs)


@claim("seed002.escape",
       statement=r"f=\tfrac12(f_1+f_2):\ \text{GD}(\eta=0.7)\text{ stays at }1,\ \text{SGD leaves }1\text{ for }0",
       source=SOURCE + ", the illustrative counter-example (issue claim 4)")
def escape_example(ctx: Context) -> Outcome:
    loss = escape()
    x = symbol("x")
    eta = 0.7
    x0 = 1 - 1e-5
    # sharpness and non-uniformity at both minima from the per-sample second derivatives
    info = {}
    for xm in (0, 1):
        ai = [float(sp.diff(t, x, 2).subs(x, xm).replace(sp.DiracDelta, lambda *a: 0)) for t in loss.terms]
        a, s = np.mean(ai), np.std(ai)
        info[xm] = (ai, a, s, (1 - eta * a)**2 + eta**2 * s**2)   # n = 2, B = 1: c = 1
    grad = compile_gradient(loss)
    gd = simulate(GD(eta), grad, [[x0]], 200 if ctx.quick else 1000, record_every=None).check("GD on escape")
    gd_final = float(gd.final[0, 0])
    term_grads = [compile_expr(sp.Matrix([sp.diff(t, x)]), (x,)) for t in loss.terms]
    paths = 1000 if ctx.quick else 10000
    steps = 150 if ctx.quick else 300
    xs = sgd_terms(term_grads, np.full((paths, 1), x0), eta, 1, steps, ctx.rng(4))
    at0 = int((np.abs(xs[:, 0]) < 1e-6).sum())
    at1 = int((np.abs(xs[:, 0] - 1) < 1e-6).sum())
    frac = at0 / paths
    zz = 3.29  # Wilson interval, 99.9%
    centre = (frac + zz**2 / (2 * paths)) / (1 + zz**2 / paths)
    half = zz * math.sqrt(frac * (1 - frac) / paths + zz**2 / (4 * paths**2)) / (1 + zz**2 / paths)
    passed = abs(gd_final - 1) < 1e-8 and centre - half > 0.98 and info[1][3] > 1 and info[0][3] < 1 \
        and eta * info[1][1] <= 2
    return Outcome(passed,
                   prediction={"f_i''(1)": info[1][0], "f_i''(0)": info[0][0], "a, s at 1": (info[1][1], info[1][2]),
                               "g at 1 (unstable if > 1)": info[1][3], "g at 0": info[0][3],
                               "GD stable at 1 (eta a <= 2)": eta * info[1][1] <= 2},
                   measurement={"GD final": gd_final, "SGD paths": paths, "ended at 0": at0, "ended at 1": at1,
                                "fraction at 0": frac, "99.9% Wilson interval": (centre - half, centre + half)},
                   tolerance="GD |x - 1| < 1e-8; lower 99.9% Wilson bound of the SGD fraction at 0 > 0.98",
                   details="With f1, f2 as printed, f_i''(1) = 0.2 and 3.8 and f''(0) = f''(1) = 2: the "
                           "lecture's 0.1, 1.9 and 1 are half of these (a factor-2 convention); the "
                           "conclusion is unchanged since eta f''/2 = 0.7 < 1 for GD.")
