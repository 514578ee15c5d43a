"""``implreg derive stability`` and ``implreg diagram``.

``derive stability --optimizer NAME | --method RULE [--params ...] [--init ...]
[--frozen s=VALUE] [--sampling without|with]`` prints the linear stability
condition of the optimizer at a minimum (JSON: ``optimizer``, ``condition``,
``necessary``, ``latex``, and for a spec read through the generic
linearization ``rule``, ``charpoly``, ``explicit``; symbols h, lambda,
lambda_max, beta, a, s, n, B).  ``gd``, ``heavy-ball``, ``nesterov``, ``sgd`` and
``quasi-newton`` without ``--params`` are closed forms; every other built-in and
every typed rule goes through :func:`analytic.spec_stability.spec_stability`.

``diagram --eta E [E ...] --batch B [B ...] [--n N] [--out FILE.png]`` draws the
sharpness / non-uniformity diagram (Wu, Ma & E 2018) for every pair (eta, B).
"""
from __future__ import annotations

import os

import sympy as sp

from analytic.errors import InputError

from .common import integer, output_file, real

#: the closed forms (regions solved by hand and checked against the generic path) and SGD's mean square
CLOSED_FORMS = ("gd", "heavy-ball", "nesterov", "sgd", "quasi-newton")


def _optimizer_names():
    from analytic.optimizers import OPTIMIZERS as BUILT_IN
    return tuple(dict.fromkeys(CLOSED_FORMS + tuple(BUILT_IN)))


OPTIMIZERS = _optimizer_names()


def _derive_arguments(parser):
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--optimizer", choices=OPTIMIZERS,
                       help="a built-in method (gd, heavy-ball, nesterov, sgd, quasi-newton: closed forms; "
                            "the others through the generic linearization of their step)")
    which.add_argument("--method", metavar="RULE",
                       help="a typed update rule, e.g. 'v = beta*v - h*g(x); x = x + v' "
                            "(implreg optimizers lists the language by example)")
    parser.add_argument("--params", metavar="NAME=VALUE,...",
                        help="hyperparameter values, e.g. 'beta=1/2, eps=1/10' (unset ones stay symbols)")
    parser.add_argument("--init", metavar="NAME=VALUE,...",
                        help="--method only: state initialisations, e.g. 'v=0' or 'xbar=x'")
    parser.add_argument("--frozen", metavar="NAME=VALUE",
                        help="hold a second-moment state at a value, e.g. 's=s_star' (preconditioned form; "
                             "default: held at its fixed point 0)")
    parser.add_argument("--sampling", choices=("without", "with"), default=None,
                        help="SGD only: batches drawn without (default) or with replacement")


def stability_condition(optimizer: str, sampling: str = "without"):
    """The StabilityCondition for a command-line optimizer name with a closed form."""
    from analytic import sgd_stability as sgd
    from analytic import stability as st
    table = {"gd": st.gd_stability, "heavy-ball": st.heavy_ball_stability, "nesterov": st.nesterov_stability,
             "quasi-newton": st.quasi_newton_stability}
    if optimizer == "sgd":
        return sgd.sgd_stability(sampling)
    if optimizer not in table:
        raise InputError("--optimizer", optimizer, f"must be one of {', '.join(CLOSED_FORMS)}")
    return table[optimizer]()


def _spec(args):
    """The spec of --optimizer NAME --params ... or of --method RULE (None for a closed form)."""
    from analytic.method import parse_method
    from analytic.optimizers import make_optimizer
    from analytic.symbols import H
    if args.method is not None:
        return parse_method(args.method, args.params, init=args.init, argument="--method", params_argument="--params",
                            init_argument="--init")
    if args.init is not None:
        raise InputError("--init", args.init, "only applies to --method")
    if args.optimizer in CLOSED_FORMS and args.params is None:
        return None
    if args.optimizer in ("sgd", "quasi-newton"):
        raise InputError("--params", args.params, f"{args.optimizer} has a closed form without hyperparameters")
    params = _params(args.params or "")
    try:
        return make_optimizer(args.optimizer, H, **params)
    except InputError as exc:
        raise InputError("--params", args.params, f"{exc.argument!r} {exc.reason}") from None


def _params(text):
    """``"beta=1/2, eps=eps"`` -> exact values; a name is a symbol (real for beta, else positive)."""
    from analytic.values import exact_value
    out = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        k, v = (t.strip() for t in part.split("=", 1)) if "=" in part else (part, "")
        if not k.isidentifier() or k in out or not v:
            raise InputError("--params", text, f"{k!r}: write each hyperparameter once as name=value")
        out[k] = exact_value(v, f"--params[{k}]", symbol={"real": True} if k == "beta" else {"positive": True})
    return out


def _reading(option, read, text):
    try:
        return read(text)
    except InputError as exc:
        raise InputError(option, text, exc.reason) from None


def _frozen(args):
    """``--frozen 's=s_star'`` -> {"s": s_star}: exact numbers or names (positive symbols)."""
    from analytic.values import exact_value
    if args.frozen is None:
        return None
    out = {}
    for part in (p.strip() for p in args.frozen.split(",")):
        if not part:
            continue
        if "=" not in part:
            raise InputError("--frozen", args.frozen, f"give {part!r} a value, e.g. '{part}=s_star' or '{part}=1/4'")
        k, v = (t.strip() for t in part.split("=", 1))
        if not k.isidentifier() or k in out:
            raise InputError("--frozen", args.frozen, f"{k!r} must be a state name, given once")
        out[k] = _reading("--frozen", lambda t: exact_value(t, "--frozen", symbol={"positive": True}), v)
    return out


def _derive_run(args):
    from analytic.spec_stability import spec_stability

    from ..document import derivation_notation
    if args.sampling is not None and args.optimizer != "sgd":
        raise InputError("--sampling", args.sampling, "only applies to --optimizer sgd")
    args.sampling = args.sampling or "without"
    spec = _spec(args)
    frozen = _frozen(args)
    if spec is None:
        if frozen is not None:
            raise InputError("--frozen", args.frozen, f"{args.optimizer} has no second-moment state")
        res = stability_condition(args.optimizer, args.sampling)
        label = args.optimizer
    else:
        label = args.optimizer or "typed method"
        try:
            res = spec_stability(spec, label, frozen=frozen)
        except InputError as exc:
            if exc.argument == "frozen":
                raise InputError("--frozen", args.frozen, exc.reason) from None
            raise InputError("--method" if args.method is not None else "--optimizer",
                             args.method or args.optimizer, exc.reason) from None
    notation = derivation_notation(args, res, step_symbol="h")
    cond = res.meta.get("explicit", res.expr)
    text_lines = [f"{label} stability: {cond}"]
    if spec is not None:
        text_lines.insert(0, "rule: " + "; ".join(spec.lines()))
    if cond is not res.expr:
        text_lines.append(f"  Schur-Cohn form: {res.expr}")
    if args.optimizer == "sgd" and spec is None:
        text_lines.append(f"  c(n,B) ({args.sampling} replacement) = {res.meta['c']}")
    if spec is not None and res.meta.get("frozen"):
        text_lines.append("  held: " + ", ".join(f"{k} = {v}" for k, v in res.meta["frozen"].items()))
    text_lines += [f"  necessary: {c}" for c in res.necessary if c is not sp.true]
    text_lines.append(f"  kind: {res.kind}")
    payload = {
        "text": "\n".join(text_lines),
        "optimizer": label,
        "condition": str(res.expr),
        "necessary": [str(c) for c in res.necessary if c is not sp.true],
        "latex": res.latex(notation),
        "derivation_latex": res.derivation_latex(notation),
    }
    if spec is not None:
        payload["rule"] = list(spec.lines())
        payload["charpoly"] = str(res.meta["charpoly"])
        if "explicit" in res.meta:
            payload["explicit"] = str(res.meta["explicit"])
    return payload


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
