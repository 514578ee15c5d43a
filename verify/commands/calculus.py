"""``implreg derive gradient|hessian|grad-norm|minima``."""
from __future__ import annotations

from analytic.calculus import global_minima, grad_norm_squared, gradient, hessian

from .common import add_loss_arguments, loss_from_args


def _make(func):
    def run(args):
        loss = loss_from_args(args)
        return func(loss)
    return run


DERIVE = {
    "gradient": (add_loss_arguments, _make(gradient)),
    "hessian": (add_loss_arguments, _make(hessian)),
    "grad-norm": (add_loss_arguments, _make(grad_norm_squared)),
    "minima": (add_loss_arguments, _make(global_minima)),
}
