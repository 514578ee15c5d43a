"""The optimizer options shared by ``derive modified-loss`` and ``check order``.

``--optimizer NAME`` (any built-in, ``implreg optimizers`` lists them) or ``--method RULE``
(a typed update rule); hyperparameters by name (``--beta1 9/10 --beta2 999/1000 --eps 1e-8``,
``--rho``, ``--beta``, ``--decay``, ``--weight-decay``) or as ``--hyper 'name=value, ...'``
(the only way for a typed rule); ``--init`` sets a typed rule's states; ``--small rho``
takes hyperparameters of order h.  Every value goes through the one number reader.
"""
from __future__ import annotations

import sympy as sp

from analytic.errors import InputError

#: command-line option -> the hyperparameter it sets (the spec's own field name)
NAMED = {"beta": "beta", "beta1": "b1", "beta2": "b2", "eps": "eps", "rho": "rho", "decay": "decay",
         "weight_decay": "weight_decay"}


def add_spec_arguments(parser, *, required=True, names=None, named=True):
    """``--optimizer | --method``, ``--hyper``, ``--init``, ``--small`` and the named hyperparameters."""
    from analytic.optimizers import OPTIMIZERS
    g = parser.add_argument_group("optimizer")
    which = g.add_mutually_exclusive_group(required=required)
    which.add_argument("--optimizer", choices=names or tuple(OPTIMIZERS), help="a built-in update rule")
    which.add_argument("--method", metavar="RULE",
                       help="a typed update rule, e.g. 'v = beta*v - h*g(x); x = x + v' "
                            "(implreg optimizers lists the language by example)")
    g.add_argument("--hyper", metavar="NAME=VALUE,...",
                   help="hyperparameter values, e.g. 'b1=9/10, eps=1e-8' (a name stays a symbol)")
    g.add_argument("--init", metavar="NAME=VALUE,...", help="--method only: state initialisations, e.g. 'v=0'")
    g.add_argument("--small", metavar="NAMES",
                   help="hyperparameters of order h, expanded jointly with h (e.g. 'rho' for SAM)")
    if named:
        for option, field in NAMED.items():
            if option == "beta" and any(a.dest == "beta" for a in parser._actions):
                continue
            g.add_argument("--" + option.replace("_", "-"), dest="hp_" + field, metavar="V",
                           help=f"the hyperparameter {field} (a number or a name)")


def hyperparameters(args) -> dict:
    """The named options and ``--hyper`` merged, each value exact (a name is a symbol)."""
    from analytic.values import exact_value
    out = {}
    for field in set(NAMED.values()):
        text = getattr(args, "hp_" + field, None)
        if text is not None:
            option = "--" + next(o for o, f in NAMED.items() if f == field).replace("_", "-")
            out[field] = exact_value(text, option, symbol={"real": True} if field == "beta" else {"positive": True})
    if "beta" not in out and getattr(args, "beta", None) is not None:      # a command's own --beta
        out["beta"] = args.beta
    for part in (p.strip() for p in (getattr(args, "hyper", None) or "").split(",")):
        if not part:
            continue
        k, v = (t.strip() for t in part.split("=", 1)) if "=" in part else (part, "")
        if not k.isidentifier() or not v:
            raise InputError("--hyper", args.hyper, f"{k!r}: write each hyperparameter as name=value")
        if k in out:
            raise InputError("--hyper", args.hyper, f"{k!r} is given twice")
        out[k] = exact_value(v, f"--hyper[{k}]", symbol={"real": True} if k == "beta" else {"positive": True})
    return out


def small_names(args) -> tuple:
    text = getattr(args, "small", None) or ""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if getattr(args, "small", None) is not None and not names:
        raise InputError("--small", text, "give the names of hyperparameters of order h, e.g. rho")
    if len(set(names)) != len(names):
        raise InputError("--small", text, "names a hyperparameter twice")
    for n in names:
        if not n.isidentifier():
            raise InputError("--small", text, f"{n!r} is not a hyperparameter name")
    return names


def spec_from_args(args, h, *, symbolic_small=True):
    """The spec of ``--optimizer``/``--method`` with step size ``h``; hyperparameters named in
    ``--small`` become symbols (their given values are returned apart, ``(spec, small_values)``)."""
    hyper = hyperparameters(args)
    small = small_names(args)
    try:
        spec, values = _build(args, h, hyper, small, symbolic_small)
    except InputError as exc:
        culprit = [n for n in small if n == str(exc.value) or f"[{n}]" in exc.argument or repr(n) in exc.reason]
        if culprit and exc.argument != "--small":
            raise InputError("--small", args.small, f"{culprit[0]!r}: {exc.reason}") from None
        raise
    return spec, values


def _build(args, h, hyper, small, symbolic_small):
    from analytic.method import parse_method
    from analytic.optimizers import make_optimizer
    values = {}
    for n in small:
        if n in hyper and not isinstance(hyper[n], sp.Symbol):
            values[n] = hyper[n]
        hyper[n] = sp.Symbol(n, positive=True) if symbolic_small else hyper.get(n)
    if args.method is not None:
        try:
            spec = parse_method(args.method, hyper, init=args.init, argument="--method",
                                params_argument="--hyper", init_argument="--init")
        except InputError as exc:
            if exc.argument != "--hyper":
                raise
            raise InputError("--hyper", getattr(args, "hyper", None) or ", ".join(hyper),
                             f"{exc.value!r} {exc.reason}") from None
    else:
        if args.init is not None:
            raise InputError("--init", args.init, "only applies to --method")
        try:
            spec = make_optimizer(args.optimizer, h, **{k: v for k, v in hyper.items() if v is not None})
        except InputError as exc:
            raise InputError("--hyper" if exc.argument not in NAMED.values() else f"--{_option(exc.argument)}",
                             exc.value, exc.reason) from None
    known = spec.hyperparameters()
    for n in small:
        if n not in known:
            raise InputError("--small", n, f"is not a hyperparameter of this rule ({', '.join(sorted(known))})")
    return spec, values


def _option(field):
    return next((o for o, f in NAMED.items() if f == field), field).replace("_", "-")

