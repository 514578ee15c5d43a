"""Arguments shared by the derive commands."""
from __future__ import annotations

from analytic.errors import InputError
from analytic.loss import parse_loss
from analytic.models import MODELS, get_model


def add_loss_arguments(parser):
    g = parser.add_argument_group("loss")
    g.add_argument("--loss", metavar="EXPR", help="the loss as text, e.g. '1/2*(y - w1*w2*x)**2'")
    g.add_argument("--vars", metavar="NAMES", help="its variables, e.g. w1,w2")
    g.add_argument("--params", metavar="ASSIGN", help="parameter values, e.g. x=1,y=3/5 (a bare name stays symbolic)")
    g.add_argument("--model", metavar="NAME", help="a built-in model instead: " + ", ".join(MODELS))


def loss_from_args(args):
    if getattr(args, "model", None):
        if args.loss:
            raise InputError("--loss", args.loss, "give either --loss or --model, not both")
        loss = get_model(args.model)
        if args.params:
            from analytic.loss import parse_assignments
            loss = loss.with_params(**parse_assignments(args.params))
        return loss
    if not getattr(args, "loss", None):
        raise InputError("--loss", None, "give a loss with --loss EXPR --vars NAMES, or --model NAME")
    if not args.vars:
        raise InputError("--vars", None, "declare the variables of the loss, e.g. --vars w1,w2")
    return parse_loss(args.loss, args.vars, args.params)
