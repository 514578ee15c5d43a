"""``implreg derive stability`` and ``implreg diagram``.

``derive stability --optimizer gd|heavy-ball|nesterov|sgd|quasi-newton
[--sampling without|with]`` prints the linear stability condition of the
optimizer at a minimum (JSON: ``optimizer``, ``condition``, ``necessary``,
``latex``; symbols eta, lambda, lambda_max, beta, a, s, n, B).

``diagram --eta E [E ...] --batch B [B ...] [--n N] [--out FILE.png]`` draws the
sharpness / non-uniformity diagram (Wu, Ma & E 2018) for every pair (eta, B).
"""
from __future__ import annotations

import argparse

from analytic.errors import InputError

OPTIMIZERS = ("gd", "heavy-ball", "nesterov", "sgd", "quasi-newton")


def _derive_arguments(parser):
    parser.add_argument("--optimizer", required=True, choices=OPTIMIZERS,
                        help="the method whose stability condition is derived")
    parser.add_argument("--sampling", choices=("without", "with"), default="without",
                        help="SGD batches drawn without (default) or with replacement")


def stability_condition(optimizer: str, sampling: str = "without"):
    """The StabilityCondition for a command-line optimizer name."""
    from analytic import sgd_stability as sgd
    from analytic import stability as st
    table = {"gd": st.gd_stability, "heavy-ball": st.heavy_ball_stability, "nesterov": st.nesterov_stability,
             "quasi-newton": st.quasi_newton_stability}
    if optimizer == "sgd":
        return sgd.sgd_stability(sampling)
    if optimizer not in table:
        raise InputError("--optimizer", optimizer, f"must be one of {', '.join(OPTIMIZERS)}")
    return table[optimizer]()


def _derive_run(args):
    from analytic.latex import Notation
    res = stability_condition(args.optimizer, args.sampling)
    notation = Notation(step=r"\eta")
    cond = res.meta.get("explicit", res.expr)
    text_lines = [f"{args.optimizer} stability: {cond}"]
    if cond is not res.expr:
        text_lines.append(f"  Schur-Cohn form: {res.expr}")
    if args.optimizer == "sgd":
        text_lines.append(f"  c(n,B) ({args.sampling} replacement) = {res.meta['c']}")
    text_lines += [f"  necessary: {c}" for c in res.necessary]
    text_lines.append(f"  kind: {res.kind}")
    return {
        "text": "\n".join(text_lines),
        "optimizer": args.optimizer,
        "condition": str(res.expr),
        "necessary": [str(c) for c in res.necessary],
        "latex": res.latex(notation),
        "derivation_latex": res.derivation_latex(notation),
    }


DERIVE = {"stability": (_derive_arguments, _derive_run)}


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return v


def _diagram_arguments(parser):
    parser.add_argument("--eta", type=_positive_float, nargs="+", required=True, help="step sizes")
    parser.add_argument("--batch", type=_positive_int, nargs="+", required=True, help="batch sizes")
    parser.add_argument("--n", type=_positive_int, default=1000, help="number of samples (default 1000)")
    parser.add_argument("--sampling", choices=("without", "with"), default="without")
    parser.add_argument("--out", metavar="FILE.png", default="diagram.png", help="output figure (png, pdf, svg)")


def _diagram_run(args) -> int:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..stability_plots import draw_diagram, save_figure_atomic
    settings = [(e, b) for e in args.eta for b in args.batch]
    for e, b in settings:
        if args.sampling == "without" and b > args.n:
            raise InputError("--batch", b, f"must be at most --n = {args.n}")
    fig, ax = plt.subplots(figsize=(5.2, 4))
    try:
        draw_diagram(ax, settings, args.n, args.sampling)
        ax.set_title(f"SGD stable regions, n = {args.n}, sampling {args.sampling} replacement", fontsize=9)
        path = save_figure_atomic(fig, args.out)
    finally:
        plt.close(fig)
    print(path)
    return 0


COMMANDS = {"diagram": ("draw the sharpness / non-uniformity diagram of SGD", _diagram_arguments, _diagram_run)}
