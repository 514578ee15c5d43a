r"""Squared losses built from per-sample predictions, and their split into
weighted squared residuals.

A squared loss is :math:`E = \sum_i c_i r_i^2` with residuals
:math:`r_i = P(X_i; w) - y_i`.  The normalisation fixes the weights:
``"mean"`` :math:`c = 1/(2n)` (the implreg default, as in
:func:`analytic.models.least_squares`), ``"sum"`` :math:`c = 1/2`, ``"mse"``
:math:`c = 1/n` (the mean squared error of PyTorch's ``mean((P - y)**2)``,
used by the blog of seed 003).  :mod:`analytic.label_noise` needs the split to
put the noise on each label.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .budget import with_budget
from .errors import InputError, LossSyntaxError
from .values import exact_value
from .loss import Loss, _exact_value, parse_assignments, parse_names, symbol
from .parse import parse_expression

__all__ = ["NORMALIZATIONS", "normalization_weight", "squared_loss_from_predictions",
           "SquaredResiduals", "squared_residuals"]

#: name -> weight c(n) in E = c * sum_i r_i^2
NORMALIZATIONS = ("mean", "sum", "mse")
SYMBOLIC_BUDGET = 20.0


def normalization_weight(normalization: str, n):
    r"""The weight :math:`c` in :math:`E = c\sum_{i=1}^n r_i^2`.

    >>> [normalization_weight(k, 4) for k in NORMALIZATIONS]
    [1/8, 1/2, 1/4]
    """
    n = exact_value(n, "n", symbol={"positive": True, "integer": True}) if not isinstance(n, sp.Basic) else n
    if n.is_number and not (n.is_Integer and n > 0):
        raise InputError("n", n, "must be a positive integer")
    if normalization == "mean":
        return 1 / (2 * n)
    if normalization == "sum":
        return sp.Rational(1, 2)
    if normalization == "mse":
        return 1 / n
    raise InputError("normalization", normalization, f"must be one of {', '.join(NORMALIZATIONS)}")


def squared_loss_from_predictions(predictions, labels, variables, normalization: str = "mean",
                                  params=None, name: str = "squared_loss") -> Loss:
    r"""The loss :math:`c\sum_i (P_i - y_i)^2` of per-sample predictions :math:`P_i`.

    ``predictions`` are SymPy expressions (or loss-language text) in the
    ``variables`` and ``params``; ``labels`` are numbers, or names that become
    symbolic parameters.  ``terms`` are the per-sample losses
    :math:`n c (P_i - y_i)^2`, whose mean is the loss (the convention of
    :class:`~analytic.loss.Loss`).

    >>> E = squared_loss_from_predictions(["w*x1", "w*x2"], [1, 2], "w", params={"x1": 1, "x2": 3})
    >>> E.concrete
    (w - 1)**2/4 + (3*w - 2)**2/4
    >>> E.terms
    ((w*x1 - 1)**2/2, (w*x2 - 2)**2/2)
    """
    names = parse_names("variables", variables)
    params = dict(parse_assignments(params))
    for argument, value in (("predictions", predictions), ("labels", labels)):
        if not isinstance(value, (list, tuple)):
            raise InputError(argument, value, "must be a list, one entry per sample")
    predictions, labels = list(predictions), list(labels)
    if not predictions:
        raise InputError("predictions", predictions, "need at least one sample")
    if len(labels) != len(predictions):
        raise InputError("labels", labels, f"need one label per prediction ({len(predictions)})")
    label_exprs = []
    for k, y in enumerate(labels):
        if isinstance(y, str) and y.isidentifier():
            params.setdefault(y, None)
            label_exprs.append(symbol(y))
        elif isinstance(y, sp.Symbol):
            params.setdefault(y.name, None)
            label_exprs.append(symbol(y.name))
        else:
            v = _exact_value(f"labels[{k}]", y)
            if v is None:
                raise InputError(f"labels[{k}]", y, "must be a number or a name")
            label_exprs.append(v)
    table = {v: symbol(v) for v in names}
    table.update({p: symbol(p) for p in params})
    preds = []
    for k, p in enumerate(predictions):
        if isinstance(p, str):
            try:
                p = parse_expression(p, table)
            except LossSyntaxError as exc:
                raise InputError(f"predictions[{k}]", p, str(exc)) from None
        elif not isinstance(p, sp.Expr):
            raise InputError(f"predictions[{k}]", p, "must be a SymPy expression or loss-language text")
        preds.append(p.subs({s: symbol(s.name) for s in p.free_symbols if s.name in table}))
    n = len(preds)
    c = normalization_weight(normalization, n)
    terms = tuple(n * c * (P - y) ** 2 for P, y in zip(preds, label_exprs))
    return Loss(sp.Add(*terms) / n, tuple(symbol(v) for v in names), params, name=name, terms=terms)


@dataclass(frozen=True)
class SquaredResiduals:
    r"""A loss written as :math:`\sum_k c_k r_k^2` (parameter values substituted)."""

    residuals: tuple
    weights: tuple

    def __post_init__(self):
        if len(self.residuals) != len(self.weights) or not self.residuals:
            raise InputError("residuals", self.residuals, "need one positive weight per residual")
        for c in self.weights:
            if not (c.is_number and c.is_positive):
                raise InputError("weights", c, "must be positive numbers")

    @property
    def uniform_weight(self):
        """The common weight when all :math:`c_k` agree, else ``None``."""
        return self.weights[0] if all(c == self.weights[0] for c in self.weights) else None

    @property
    def normalization(self):
        """``"mean"``, ``"sum"`` or ``"mse"`` if the weights are one of those, else ``None``."""
        c = self.uniform_weight
        for name in NORMALIZATIONS:
            if c is not None and c == normalization_weight(name, len(self.weights)):
                return name
        return None


def _square(term, argument):
    for form in (term, None):
        if form is None:   # an expanded square, e.g. least_squares' terms: factor it
            form = with_budget(lambda: sp.factor(term), SYMBOLIC_BUDGET, "factoring a term", fallback=term)
        a, rest = form.as_coeff_Mul()
        if rest.is_Pow and rest.exp.is_even and rest.exp.is_positive and a.is_positive:
            return a, rest.base ** (rest.exp / 2)
    raise InputError(argument, str(term), "is not a positive multiple of a squared residual; "
                     "pass labels=... or build the loss with squared_loss_from_predictions")


def squared_residuals(loss: Loss) -> SquaredResiduals:
    r"""Split a loss into weighted squared residuals :math:`\sum_k c_k r_k^2`.

    Per-sample ``terms`` (``least_squares``, :func:`squared_loss_from_predictions`)
    are used when present; otherwise each summand of the loss is one sample.

    >>> from analytic.models import least_squares
    >>> s = squared_residuals(least_squares([[1, 0], [0, 1]], [1, 2]))
    >>> s.residuals, s.weights, s.normalization
    ((w1 - 1, w2 - 2), (1/4, 1/4), 'mean')
    """
    if not isinstance(loss, Loss):
        raise InputError("loss", loss, "must be a Loss (use parse_loss, a built-in model or squared_loss_from_predictions)")
    if loss.terms:
        n = len(loss.terms)
        pairs = [_square(t, "loss.terms") for t in loss.concrete_terms]
        pairs = [(a / n, r) for a, r in pairs]
        total = sp.Add(*[c * r ** 2 for c, r in pairs])
        same = with_budget(lambda: sp.expand(total - loss.concrete) == 0, SYMBOLIC_BUDGET,
                           "checking the per-sample terms", fallback=None)
        if same is False:
            raise InputError("loss.terms", loss.terms, "their mean is not the loss")
    else:
        coeff, rest = loss.concrete.as_coeff_Mul()
        pairs = [_square(t, "loss") for t in sp.Add.make_args(rest)]
        pairs = [(coeff * a, r) for a, r in pairs]
    return SquaredResiduals(tuple(r for _, r in pairs), tuple(c for c, _ in pairs))
