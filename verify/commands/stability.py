"""``implreg derive stability`` and ``implreg diagram``.

``derive stability --optimizer gd|heavy-ball|nesterov|sgd|quasi-newton
[--sampling without|with]`` prints the linear stability condition of the
optimizer at a minimum (JSON: ``optimizer``, ``condition``, ``necessary``,
``latex``; symbols eta, lambda, lambda_max, beta, a, s, n, B).

``diagram --eta E [E ...] --batch B [B ...] [--n N] [--out FILE.png]`` draws the
sharpness / non-uniformity diagram (Wu, Ma & E 2018) for every pair (eta, B).
"""
from __future__ import annotations

import os

from analytic.errors import InputError

from .common import integer, output_file, real

OPTIMIZERS = ("gd", "heavy-ball", "nesterov", "sgd", "quasi-newton")


def _derive_arguments(parser):
    parser.add_argument("--optimizer", required=True, choices=OPTIMIZERS,
                        help="the method whose stability condition is derived")
    parser.add_argument("--sampling", choices=("without", "with"), default=None,
                        help="SGD only: batches drawn without (default) or with replacement")


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
    from ..document import derivation_notation
    if args.sampling is not None and args.optimizer != "sgd":
        raise InputError("--sampling", args.sampling, "only applies to --optimizer sgd")
    args.sampling = args.sampling or "without"
    res = stability_condition(args.optimizer, args.sampling)
    notation = derivation_notation(args, res, step_symbol="eta")
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


#: most samples, settings and the largest step size the diagram accepts
MAX_SAMPLES = 10 ** 9
MAX_SETTINGS = 64
MAX_STEP = 10 ** 6


def _diagram_arguments(parser):
    parser.add_argument("--eta", type=real(0, MAX_STEP, low_open=True), nargs="+", required=True,
                        help=f"step sizes in (0, {MAX_STEP}]")
    parser.add_argument("--batch", type=integer(1, MAX_SAMPLES), nargs="+", required=True,
                        help="batch sizes, 1..n")
    parser.add_argument("--n", type=integer(1, MAX_SAMPLES), default=1000,
                        help=f"number of samples, 1..{MAX_SAMPLES} (default 1000)")
    parser.add_argument("--sampling", choices=("without", "with"), default="without")
    parser.add_argument("--out", metavar="FILE.png", type=output_file, default="diagram.png",
                        help="output figure (png, pdf or svg)")


def _diagram_run(args) -> int:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..stability_plots import draw_diagram, save_figure_atomic
    settings = [(e, b) for e in args.eta for b in args.batch]
    if len(settings) > MAX_SETTINGS:
        raise InputError("--eta/--batch", len(settings), f"at most {MAX_SETTINGS} pairs (eta, B) in one diagram")
    if os.path.splitext(args.out)[1].lower() not in (".png", ".pdf", ".svg"):
        raise InputError("--out", args.out, "must end in .png, .pdf or .svg")
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
