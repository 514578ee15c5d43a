"""``implreg derive modified-loss``: modified fields and losses by backward error analysis.

JSON output::

    {"optimizer", "order", "time_scale",
     "terms": [{"order", "field": [str per variable], "abstract", "abstract_latex", "is_gradient"}],
     "modified_loss": str | null, "latex": str}

Expressions use SymPy's ``str`` form with ``h`` for the step size and
``beta``, ``sigma`` for momentum and label noise.
"""
from __future__ import annotations

import importlib
import importlib.util

import sympy as sp

from analytic.bea import H, MAX_ORDER, modified_loss, simplify_field
from analytic.errors import InputError
from analytic.optimizers import make_optimizer

from ..document import derivation_notation
from .common import add_loss_arguments, exact, integer, loss_from_args, real
from .spec_args import add_spec_arguments, small_names, spec_from_args

#: the optimizers derived at tree level (loss-agnostic coefficients); every other built-in and every
#: typed rule goes through the slaving ansatz (:mod:`verify.commands.slaved_output`)
OPTIMIZERS = ("gd", "heavy-ball", "nesterov", "sgd", "sgd-momentum", "label-noise")
#: mini-batches per epoch the command line accepts (the coloured-tree forest grows as M^(K+1))
MAX_BATCHES = 64


def add_arguments(parser):
    add_loss_arguments(parser)
    g = parser.add_argument_group("series")
    g.add_argument("--order", required=True, type=integer(0, MAX_ORDER), metavar="K",
                   help=f"highest power of h in the field, 0..{MAX_ORDER}")
    g.add_argument("--beta", metavar="B", type=exact(-1, 1, low_open=True, high_open=True, symbol={"real": True}),
                   help="momentum in (-1, 1): a number such as 1/2, -3/10 or 0.9, or a name "
                        "(default symbolic beta)")
    g.add_argument("--batches", type=integer(1, MAX_BATCHES), metavar="M",
                   help=f"SGD (with or without momentum): number of mini-batches per epoch, 1..{MAX_BATCHES} (default 2)")
    g.add_argument("--noise", metavar="SIGMA", type=exact(0, symbol={"positive": True}),
                   help="label noise: standard deviation >= 0, or a name (default symbolic sigma)")
    g.add_argument("--budget", type=real(0, 600, low_open=True), default=2.0, metavar="S",
                   help="seconds per gradient certificate / potential check, in (0, 600] (default 2)")
    g.add_argument("--simplify", type=real(0, 600), default=0.0, metavar="S",
                   help="optional simplification of each term, S seconds each, 0..600 (default 0: off)")
    add_spec_arguments(parser)


def _label_noise(args, loss):
    """Dispatch to :func:`analytic.label_noise.modified_field` (built separately),
    whose Result carries the JSON fields in ``meta``."""
    if importlib.util.find_spec("analytic.label_noise") is None:
        raise InputError("--optimizer", "label-noise", "not available: analytic.label_noise is not installed")
    module = importlib.import_module("analytic.label_noise")
    sigma = make_optimizer("label-noise", H, sigma=args.noise).sigma          # validates --noise
    result = module.modified_field(loss, H, sigma, order=args.order, certificate_budget=args.budget)
    notation = derivation_notation(args, result)
    meta = result.meta
    terms = [{k: ([str(e) for e in v] if k == "field" else notation.apply(v) if k == "abstract_latex" else v)
              for k, v in t.items()} for t in meta.get("terms", [])]
    modified = meta.get("modified_loss")
    payload = {"optimizer": "label-noise", "order": args.order, "time_scale": str(meta.get("time_scale", 1)),
               "terms": terms, "modified_loss": None if modified is None else str(modified),
               "latex": result.derivation_latex(notation)}
    lines = [f"expected modified field of GD with label noise, order h^{args.order}"]
    lines += [f"f_{t['order']} = {t['abstract']}   [gradient: {t['is_gradient']}]" for t in terms]
    lines.append(f"modified loss: {payload['modified_loss']}")
    payload["text"] = "\n".join(lines)
    return payload


_SLAVED_OPTIONS = ("hyper", "init", "small", *(f"hp_{f}" for f in ("b1", "b2", "eps", "rho", "decay", "weight_decay")))


def run(args):
    if args.order is None or args.order < 0:
        raise InputError("--order", args.order, "must be a nonnegative integer")
    if args.method is not None or args.optimizer not in OPTIMIZERS:
        return _slaved(args)
    for name in _SLAVED_OPTIONS:
        if getattr(args, name, None) is not None:
            option = "--" + name.removeprefix("hp_").replace("_", "-").replace("b1", "beta1").replace("b2", "beta2")
            raise InputError(option, getattr(args, name), f"does not apply to {args.optimizer} (its hyperparameters: "
                             "--beta, --batches, --noise)")
    if args.batches is not None and args.optimizer not in ("sgd", "sgd-momentum"):
        raise InputError("--batches", args.batches, "only applies to --optimizer sgd and sgd-momentum")
    if args.beta is not None and args.optimizer not in ("heavy-ball", "nesterov", "sgd-momentum"):
        raise InputError("--beta", args.beta, "only applies to heavy-ball, nesterov and sgd-momentum")
    if args.noise is not None and args.optimizer != "label-noise":
        raise InputError("--noise", args.noise, "only applies to label-noise")
    if args.simplify and args.optimizer == "label-noise":
        raise InputError("--simplify", args.simplify, "does not apply to label-noise (its terms are simplified "
                         "as they are derived)")
    loss = loss_from_args(args)
    if H.name in {v.name for v in loss.variables} | set(loss.params):
        option = "--vars" if H.name in {v.name for v in loss.variables} else "--params"
        raise InputError(option, H.name, "is the step size of the modified field; rename it in the loss")
    taken = {v.name for v in loss.variables} | set(loss.params) | {H.name}
    for option, value in (("--beta", args.beta), ("--noise", args.noise)):
        if isinstance(value, sp.Symbol) and value.name in taken:
            what = "the step size" if value.name == H.name else "a variable or parameter of the loss"
            raise InputError(option, value.name, f"is the name of {what}; give it a name of its own")
    if args.optimizer == "label-noise":
        return _label_noise(args, loss)
    else:
        try:
            optimizer = make_optimizer(args.optimizer, H, beta=args.beta, batches=args.batches)
        except InputError as exc:
            if exc.argument in ("beta", "batches"):
                raise InputError(f"--{exc.argument}", getattr(args, exc.argument), exc.reason) from None
            raise
        try:
            result = modified_loss(optimizer, loss, args.order, budget=args.budget)
        except InputError as exc:
            if exc.argument in ("batches", "order"):
                raise InputError(f"--{exc.argument}", getattr(args, exc.argument), exc.reason) from None
            raise
        if args.simplify and args.simplify > 0:
            result = simplify_field(result, args.simplify)
    notation = derivation_notation(args, result)
    payload = result.json_fields()
    for term in payload["terms"]:
        term["abstract_latex"] = notation.apply(term["abstract_latex"])
    payload["latex"] = result.derivation_latex(notation)
    payload["text"] = _text(payload)
    return payload


def _slaved(args):
    from .slaved_output import slaved_payload
    for option, value in (("--batches", args.batches), ("--noise", args.noise)):
        if value is not None:
            raise InputError(option, value, "only applies to sgd and label-noise")
    if args.simplify:
        raise InputError("--simplify", args.simplify, "applies to the tree-level series (gd, heavy-ball, nesterov, sgd, "
                                                      "sgd-momentum)")
    loss = loss_from_args(args)
    spec, values = spec_from_args(args, H)
    small = small_names(args)
    if values:
        raise InputError("--small", ", ".join(values), "a small hyperparameter stays a symbol here (its order in h "
                                                         "is what is expanded); give no value for it")
    taken = {v.name for v in loss.variables} | set(loss.params)
    clash = sorted(taken & {k for k in spec.hyperparameters()})
    if clash:
        raise InputError("--vars" if clash[0] in {v.name for v in loss.variables} else "--params", clash[0],
                         "is also a hyperparameter of the method; give it a name of its own")
    return slaved_payload(args, spec, loss, args.order, small, args.optimizer or "typed method", args.budget)


def _text(payload) -> str:
    lines = [f"modified field of {payload['optimizer']} to order h^{payload['order']}, "
             f"time scale s = {payload['time_scale']}"]
    for term in payload["terms"]:
        lines.append(f"f_{term['order']} = {term['abstract']}   [gradient: {term['is_gradient']}]")
        if term["field"]:
            lines.append(f"    on the loss: {term['field']}")
    if payload["modified_loss"] is not None:
        lines.append(f"modified loss (f~ = -s grad E~): E~ = {payload['modified_loss']}")
    else:
        lines.append("no modified loss: some term is not (or not provably) a gradient")
    return "\n".join(lines)


DERIVE = {"modified-loss": (add_arguments, run)}
