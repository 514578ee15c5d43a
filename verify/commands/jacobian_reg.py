"""``implreg derive jacobian-reg --classes K``: the softmax cross-entropy logit Hessian
M = diag(p) - p p^T, its spectral facts and its bounds (Lee, Park & Lee, ICML 2023)."""
from __future__ import annotations

from analytic.jacobian_reg import MAX_SYMBOLIC_CLASSES, jacobian_reg_summary


def add_arguments(parser) -> None:
    parser.add_argument("--classes", "-K", type=int, default=3, metavar="K",
                        help=f"number of classes, 2..{MAX_SYMBOLIC_CLASSES} (default 3)")


def run(args) -> dict:
    """The summary dict: ``text``, ``latex`` and the JSON fields (M, rank, bounds...)."""
    return jacobian_reg_summary(args.classes)


DERIVE = {"jacobian-reg": (add_arguments, run)}
