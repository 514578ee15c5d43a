"""The sharpness / non-uniformity diagram (Wu, Ma & E, NeurIPS 2018, Fig. 3; seed 002).

The stable region of SGD with step ``eta`` and batch ``B`` on ``n`` samples is
:math:`(1-\\eta a)^2 + \\eta^2 c(n,B) s^2 \\le 1`, a half-ellipse in the
(sharpness a, non-uniformity s) plane; its boundary
:math:`s_{\\max}(a)` comes from :func:`analytic.sgd_stability.nonuniformity_bound`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from analytic.errors import InputError
from analytic.sgd_stability import BATCH, N_SAMPLES, SHARPNESS, nonuniformity_bound
from analytic.stability import ETA
from numeric.compile import compile_expr
from .atomic import atomic_write

__all__ = ["boundary_curve", "draw_diagram", "save_figure_atomic"]


def boundary_curve(eta: float, B: int, n: int, sampling: str = "without", points: int = 300):
    """(a, s_max(a)) on 0 <= a <= 2/eta, from the derived boundary."""
    if not (isinstance(eta, (int, float)) and eta > 0):
        raise InputError("--eta", eta, "must be a positive number")
    if not isinstance(B, int) or B < 1 or (sampling == "without" and B > n):
        raise InputError("--batch", B, f"must be an integer in [1, n={n}]")
    expr = nonuniformity_bound(sampling).expr.subs({ETA: eta, N_SAMPLES: n, BATCH: B})
    f = compile_expr(expr, (SHARPNESS,))
    a = np.linspace(0.0, 2.0 / eta, points)
    with np.errstate(invalid="ignore"):
        s = f(a[:, None])
    return a, np.where(np.isnan(s), 0.0, s)   # round-off at a = 2/eta, where s_max = 0


def draw_diagram(ax, settings, n: int, sampling: str = "without"):
    """Draw the stable regions for every (eta, B) in ``settings`` on ``ax``."""
    for k, (eta, B) in enumerate(settings):
        a, s = boundary_curve(eta, B, n, sampling)
        ax.plot(a, s, color=f"C{k}", label=rf"$\eta={eta:g},\ B={B}$")
        ax.fill_between(a, 0, s, color=f"C{k}", alpha=0.08)
    ax.set_xlabel("sharpness $a$")
    ax.set_ylabel("non-uniformity $s$")
    ax.set_xlim(0, None)
    ax.set_ylim(0, None)
    ax.legend(fontsize=7)
    return ax


def save_figure_atomic(fig, path) -> str:
    """Save ``fig`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise InputError("--out", str(path), "must end in .png, .pdf or .svg")
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight"))
    return str(path)
