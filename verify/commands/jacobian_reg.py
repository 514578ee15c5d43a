"""``implreg derive jacobian-reg --classes K``: the softmax cross-entropy logit Hessian
M = diag(p) - p p^T, its spectral facts and its bounds (Lee, Park & Lee, ICML 2023)."""
from __future__ import annotations

from analytic import jacobian_reg as J
from analytic.jacobian_reg import MAX_SYMBOLIC_CLASSES, jacobian_reg_summary

from .common import integer

from ..document import derivation_notation


def add_arguments(parser) -> None:
    parser.add_argument("--classes", "-K", type=integer(2, MAX_SYMBOLIC_CLASSES), default=3, metavar="K",
                        help=f"number of classes, 2..{MAX_SYMBOLIC_CLASSES} (default 3)")


def run(args) -> dict:
    """The summary dict: ``text``, ``latex`` and the JSON fields (M, rank, bounds...)."""
    payload = jacobian_reg_summary(args.classes)
    # the same four derivations as the summary's "latex", in the notation of --notation
    parts = (J.softmax_logit_hessian(args.classes), J.logit_hessian_spectrum(args.classes),
             J.impurity_bounds(args.classes), J.lambda_star_identity())
    notation = derivation_notation(args, *parts)
    payload["latex"] = "\n".join(r.derivation_latex(notation) for r in parts)
    return payload


DERIVE = {"jacobian-reg": (add_arguments, run)}
