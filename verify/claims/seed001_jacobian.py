r"""Claims from Lee, Park & Lee, "Implicit Jacobian regularization weighted with impurity
of probability output", ICML 2023 (seed 001), checked on real training runs.

Setup shared by claims 1-3: scikit-learn's digits (400 samples, pixels scaled to [0, 1],
not centred), a 64-4-10 tanh network (a narrow hidden layer keeps the task from being
interpolated in a few steps, so GD spends a long stretch at the edge of stability),
softmax cross-entropy, full-batch GD at eta in {0.4, 0.5, 0.7} for 600 steps, logged every 15.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from analytic.jacobian_reg import impurity_bounds, lambda_star_identity, softmax_logit_hessian
from numeric.data import digits
from numeric.mlp import MLP, single_blas_thread, softmax, softmax_hessian_norms, top_eigenvalue, train_gd

from ..registry import Context, Outcome, claim


SOURCE = "Lee, Park & Lee, ICML 2023 (slides, seed 001)"
N_SAMPLES, HIDDEN, CLASSES = 400, 4, 10
ETAS = (0.4, 0.5, 0.7)
STEPS, LOG_EVERY = 600, 15
LAST_PART = 0.5          # "last part of training": the second half of the logged steps


def _data(seed: int):
    X, y = digits(N_SAMPLES, seed=seed, standardize=False)
    return X / 16.0, y


def _net() -> MLP:
    return MLP((64, HIDDEN, CLASSES), activation="tanh", loss_name="cross_entropy")


@lru_cache(maxsize=8)
def _run(eta: float, seed: int):
    """GD run: the driver's trajectory, the parameters every LOG_EVERY steps, for the claims to analyse."""
    net = _net()
    X, y = _data(seed)
    return train_gd(net, net.init(seed), X, y, eta, STEPS, log_every=LOG_EVERY).check(f"GD (eta={eta})")


def _sharpness(net, X, y, thetas, seed):
    """||H|| and ||G|| by Lanczos (exact Hv and Gv products), warm-started along the run."""
    H, G, vh, vg = [], [], None, None
    for th in thetas:
        lh, vh = top_eigenvalue(lambda v: net.hvp(th, X, y, v), net.n_params, v0=vh, seed=seed, tol=1e-5)
        lg, vg = top_eigenvalue(lambda v: net.gnvp(th, X, y, v), net.n_params, v0=vg, seed=seed, tol=1e-5)
        H.append(lh)
        G.append(lg)
    return np.array(H), np.array(G)


@claim("seed001.edge-of-stability",
       statement=r"\frac{2}{\eta} \approx \|H\| \approx \|G\| \text{ at the edge of stability (softmax CE)}",
       source=SOURCE + ", main identity; Cohen et al. ICLR 2021")
@single_blas_thread()   # small matrices on shared cores: one BLAS thread is fastest
def edge_of_stability(ctx: Context) -> Outcome:
    net = _net()
    X, y = _data(ctx.seed)
    pred, meas, ok, figs = {}, {}, True, ()
    curves = {}
    for j, eta in enumerate(ETAS):
        rec = _run(eta, ctx.seed)
        thetas, steps = rec.xs[:, 0], rec.steps
        first = int(len(steps) * (1 - LAST_PART))
        # quick: every third logged step of the second half; full: the whole run (for the figure)
        sel = slice(first, None, 3) if ctx.quick else slice(0, None)
        H, G = _sharpness(net, X, y, thetas[sel], ctx.seed)
        st = steps[sel]
        last = st >= steps[first]
        rH, rG = H[last] * eta / 2, G[last] * eta / 2
        pred[f"2/eta (eta={eta:g})"] = 2 / eta
        meas[f"||H||/(2/eta), eta={eta:g}"] = f"{rH.mean():.3f} ± {rH.std():.3f}"
        meas[f"||G||/(2/eta), eta={eta:g}"] = f"{rG.mean():.3f} ± {rG.std():.3f}"
        meas[f"||G||/||H||, eta={eta:g}"] = float(np.mean(G[last] / H[last]))
        ok &= bool(abs(rH.mean() - 1) <= 0.25 and abs(rG.mean() - 1) <= 0.25)
        curves[eta] = (st, H * eta / 2, G * eta / 2)
        ctx.report((j + 1) / len(ETAS), f"eta={eta:g}")
    if ctx.figure_dir is not None:
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        for eta, (st, rh, rg) in curves.items():
            line, = ax.plot(st, rh, "-", label=fr"$\|H\|\,\eta/2$, $\eta={eta:g}$")
            ax.plot(st, rg, "--", color=line.get_color(), label=fr"$\|G\|\,\eta/2$, $\eta={eta:g}$")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.axvspan(STEPS * (1 - LAST_PART), STEPS, color="0.9", zorder=0, label="ratios reported")
        ax.set_xlabel("GD step")
        ax.set_ylabel("sharpness / (2/eta)")
        ax.legend(fontsize=7, ncol=2)
        figs = ctx.save_figure(fig, "seed001_edge_of_stability")
    return Outcome(ok, prediction=pred, measurement=meas,
                   tolerance="|mean ratio - 1| <= 0.25 over the second half of training, each eta",
                   details=f"digits n={N_SAMPLES}, 64-{HIDDEN}-10 tanh, softmax CE, {STEPS} GD steps; "
                           "Lanczos (scipy eigsh) on exact R-operator Hv and Gauss-Newton Gv products",
                   figures=figs)


@claim("seed001.lambda-star-identity",
       statement=r"\|G\| = \langle \lambda^* \|J\|^2\rangle,\quad "
                 r"\lambda^*_i = \frac{u^\top J_i M_i J_i^\top u}{\|J_i\|^2} \le \|M_i\|",
       source=SOURCE + ", main theorem (identity and bound on lambda*)")
@single_blas_thread()   # small matrices on shared cores: one BLAS thread is fastest
def lambda_star(ctx: Context) -> Outcome:
    net = _net()
    X, y = _data(ctx.seed)
    eta = ETAS[1]
    rec = _run(eta, ctx.seed)
    n_logs = len(rec.steps)
    # the bound at every logged step (every 4th in quick mode), by the cheap route:
    # J_i^T u from the R-operator, ||J_i||^2 from per-sample Gram matrices
    bound_steps = np.arange(0, n_logs, 4 if ctx.quick else 1)
    # the identity against an explicitly assembled dense G at a few of them
    dense_steps = set(np.unique(np.linspace(0, n_logs - 1, 2 if ctx.quick else 6).round().astype(int)).tolist())
    rel_errors, worst_ratio, mean_ratio, u = [], 0.0, [], None
    for j, i in enumerate(bound_steps):
        th = rec.xs[i, 0]
        M = net.logit_hessians(th, X)                                   # (n, K, K)
        G_lanczos, u = top_eigenvalue(lambda v: net.gnvp(th, X, y, v), net.n_params, v0=u,
                                      seed=ctx.seed, tol=1e-12)
        Ju = net.jvp(th, X, u)                                          # J_i^T u, (n, K)
        J_norm2 = np.linalg.eigvalsh(net.logit_jacobian_grams(th, X))[:, -1]
        lam_star = np.einsum("nk,nkl,nl->n", Ju, M, Ju) / J_norm2
        ratio = lam_star / np.linalg.eigvalsh(M)[:, -1]
        worst_ratio = max(worst_ratio, float(ratio.max()))
        mean_ratio.append(float(ratio.mean()))
        if i in dense_steps:
            J = net.logit_jacobians(th, X)                              # (n, P, K)
            G_dense = np.tensordot(J, J @ M, axes=([0, 2], [0, 2])) / len(X)   # <J M J^T> assembled
            G_norm = float(np.linalg.eigvalsh(0.5 * (G_dense + G_dense.T))[-1])
            rel_errors.append(abs(np.mean(lam_star * J_norm2) - G_norm) / G_norm)
        ctx.report((j + 1) / len(bound_steps), f"step {rec.steps[i]}")
    max_rel = float(max(rel_errors))
    ok = max_rel < 1e-9 and worst_ratio <= 1 + 1e-12
    return Outcome(ok, prediction={"<lambda* ||J||^2> / ||G|| - 1": 0.0, "max lambda*/||M||": "<= 1"},
                   measurement={"max rel. error of the identity": max_rel,
                                "max lambda*_i/||M_i|| over samples and steps": worst_ratio,
                                "mean lambda*/||M|| (first, last checked step)": (mean_ratio[0], mean_ratio[-1]),
                                "steps checked (bound, identity vs dense G)": (len(bound_steps), len(rel_errors))},
                   tolerance="identity to 1e-9 relative (dense G vs Lanczos u); lambda*/||M|| <= 1 + 1e-12",
                   details=f"eta={eta:g}; ||G|| from the eigendecomposition of the explicitly assembled "
                           "<J M J^T>; u from Lanczos on hand-written Gauss-Newton products; ||J_i|| spectral "
                           "norms from per-sample Gram matrices",
                   derivation=lambda_star_identity())


@claim("seed001.inverted-u",
       statement=r"\langle\|M\|\rangle \text{ rises, then falls during training (inverted U)}",
       source=SOURCE + ", figure 'Inverted U-shaped curve of evolution of ||M||'")
@single_blas_thread()   # small matrices on shared cores: one BLAS thread is fastest
def inverted_u(ctx: Context) -> Outcome:
    net = _net()
    X, y = _data(ctx.seed)
    eta = ETAS[0]
    rec = _run(eta, ctx.seed)
    steps, thetas = rec.steps, rec.xs[:, 0]
    mean_M = np.array([softmax_hessian_norms(softmax(net.logits(th, X))).mean() for th in thetas])
    # sharpness on a coarse grid to locate the onset of the edge of stability (phase I -> II)
    stride = 4 if ctx.quick else 2
    idx = np.arange(0, len(steps), stride)
    Hs, v = [], None
    for i in idx:
        lam, v = top_eigenvalue(lambda w: net.hvp(thetas[i], X, y, w), net.n_params, v0=v, seed=ctx.seed,
                                tol=1e-5)
        Hs.append(lam)
    Hs = np.array(Hs)
    ctx.report(0.7, "sharpness")
    at_edge = Hs >= 0.95 * 2 / eta
    onset = int(steps[idx[np.argmax(at_edge)]]) if at_edge.any() else None
    k = int(np.argmax(mean_M))
    peak_step = int(steps[k])
    after = np.nonzero((np.arange(len(steps)) > k) & (mean_M <= mean_M[0] + (mean_M[k] - mean_M[0]) / 2))[0]
    arp_end = int(steps[after[0]]) if after.size else None
    interior = 0.1 * STEPS <= peak_step <= 0.9 * STEPS
    rises = mean_M[k] >= 1.3 * mean_M[0]
    falls = mean_M[-1] <= 0.8 * mean_M[k]
    figs = ()
    if ctx.figure_dir is not None:
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        ax.plot(steps, mean_M, "C0-", label=r"$\langle\|M\|\rangle$")
        ax.set_xlabel("GD step")
        ax.set_ylabel(r"$\langle\|M\|\rangle$", color="C0")
        ax2 = ax.twinx()
        ax2.plot(steps[idx], Hs * eta / 2, "C3.--", label=r"$\|H\|\,\eta/2$")
        ax2.set_ylabel(r"$\|H\|/(2/\eta)$", color="C3")
        edges = [0, onset if onset is not None else 0, arp_end if arp_end is not None else STEPS, STEPS]
        for (a, b), name, shade in zip(zip(edges[:-1], edges[1:]), ("I", "II (ARP)", "III"),
                                       ("0.93", "#ffe2c2", "0.97")):
            if b > a:
                ax.axvspan(a, b, color=shade, zorder=0)
                ax.text((a + b) / 2, 0.98, name, transform=ax.get_xaxis_transform(), ha="center", va="top")
        ax.set_title(fr"digits, softmax CE, $\eta={eta:g}$", fontsize=9)
        figs = ctx.save_figure(fig, "seed001_inverted_u")
    ctx.report(1.0, "done")
    return Outcome(interior and rises and falls,
                   prediction={"peak": "interior", "rise": ">= 1.3 x initial", "fall": "<= 0.8 x peak"},
                   measurement={"<||M||> initial": float(mean_M[0]), "<||M||> peak": float(mean_M[k]),
                                "peak step": peak_step, "<||M||> final": float(mean_M[-1]),
                                "phase II starts (||H|| >= 0.95*2/eta)": onset,
                                "phase III starts (<||M||> back below half-way)": arp_end},
                   tolerance="peak within the middle 80% of training; rise >= 30%; fall >= 20%",
                   details="phase I: before ||H|| first reaches 0.95*2/eta; II (active regularization period): "
                           "until <||M||> falls back below half-way between its initial and peak values; III: after",
                   derivation=softmax_logit_hessian(3), figures=figs)


def _random_probabilities(rng, n: int, K: int) -> np.ndarray:
    """Dirichlet vectors with a concentration drawn log-uniformly in [0.1, 10] per vector."""
    alpha = np.exp(rng.uniform(np.log(0.1), np.log(10.0), size=(n, 1)))
    g = rng.gamma(np.broadcast_to(alpha, (n, K)))
    g[:, 0] += 1e-300                                   # no all-zero row
    return g / g.sum(axis=1, keepdims=True)


@claim("seed001.impurity-bounds",
       statement=r"\max\{p_{(1)}(1-p_{(1)}),\,p_{(2)},\,\tfrac{1-\|p\|^2}{K-1}\} \le \|M\| \le "
                 r"\min\{p_{(1)},\,2p_{(1)}(1-p_{(1)})\} \le 1-\|p\|^2",
       source=SOURCE + ", ||M|| and the impurity of p (bounds derived in analytic.jacobian_reg)")
@single_blas_thread()   # small matrices on shared cores: one BLAS thread is fastest
def bounds_on_M(ctx: Context) -> Outcome:
    rng = ctx.rng(4)
    total = 100_000 if ctx.quick else 1_000_000
    classes = (2, 3, 5, 10)
    names = ("p1(1-p1)", "p2", "Gini/(K-1)", "p1", "2p1(1-p1)", "Gini")
    worst_lower = dict.fromkeys(names[:3], 0.0)
    worst_upper = dict.fromkeys(names[3:], np.inf)
    violations = 0
    check_err = 0.0
    for j, K in enumerate(classes):
        P = _random_probabilities(rng, total // len(classes), K)
        lam = softmax_hessian_norms(P)
        sub = P[:2000]
        Ms = sub[:, :, None] * np.eye(K) - sub[:, :, None] * sub[:, None, :]
        check_err = max(check_err, float(np.max(np.abs(np.linalg.eigvalsh(Ms)[:, -1] - lam[:2000]))))
        top2 = -np.partition(-P, 1, axis=1)[:, :2]
        p1, p2 = top2[:, 0], top2[:, 1]
        gini = 1.0 - np.sum(P * P, axis=1)
        bounds = dict(zip(names, (p1 * (1 - p1), p2, gini / (K - 1), p1, 2 * p1 * (1 - p1), gini)))
        slack = 1e-12 * lam + 1e-15                      # the secular solve is exact to ~1e-16 absolute
        resolved = lam > 1e-4                            # ratios only where round-off cannot dominate
        for name in names[:3]:
            violations += int(np.sum(bounds[name] > lam + slack))
            worst_lower[name] = max(worst_lower[name], float(np.max(bounds[name][resolved] / lam[resolved])))
        for name in names[3:]:
            violations += int(np.sum(bounds[name] < lam - slack))
            worst_upper[name] = min(worst_upper[name], float(np.min(bounds[name][resolved] / lam[resolved])))
        violations += int(np.sum(2 * p1 * (1 - p1) > gini + 1e-15))
        ctx.report((j + 1) / len(classes), f"K={K}")
    meas = {f"max {k}/||M||": v for k, v in worst_lower.items()}
    meas.update({f"min {k}/||M||": v for k, v in worst_upper.items()})
    meas.update({"violations": violations, "vectors": total, "secular vs eigvalsh max error": check_err})
    ok = violations == 0 and check_err < 1e-12
    return Outcome(ok, prediction={"violations": 0, "lower ratios": "<= 1", "upper ratios": ">= 1"},
                   measurement=meas,
                   tolerance="no violation beyond 1e-12 relative; ||M|| by the secular equation, "
                             "checked against eigvalsh on 2000 vectors per K to 1e-12",
                   details="Dirichlet vectors, K in {2, 3, 5, 10}, concentration log-uniform in [0.1, 10]; "
                           "tightest ratios over vectors with ||M|| > 1e-4",
                   derivation=impurity_bounds(3))
