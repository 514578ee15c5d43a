r"""Backward error analysis: the modified vector field of an optimizer, to any order.

The iterates of an optimizer with step ``h`` are matched by the exact flow of a
*modified field*

.. math::
    \tilde f = f_0 + h f_1 + h^2 f_2 + \dots + h^K f_K, \qquad x_k = X(kh) + O(h^{K+1}).

Every term is a B-series over rooted trees in the elementary differentials
of :math:`g = \nabla E` (see :mod:`analytic.trees`):
:math:`f_p = \sum_{|t| = p+1} c(t)\, F(t)`.  The coefficients :math:`c(t)` do
not depend on the loss; they come out of matching Taylor (B-) series, nothing
is typed in.

**Derivation (momentum family).**  Heavy ball, Nesterov and GD share the rule
:math:`x_{k+1} = x_k + \beta (x_k - x_{k-1}) + h f(x_k + \gamma (x_k - x_{k-1}))`
with :math:`f = -\nabla E`.  Put the iterates on the flow of
:math:`\tilde f = \sum_t h^{|t|-1} \frac{b(t)}{\sigma(t)} F_f(t)`, so
:math:`x_{k\pm1} = \varphi_{\pm h}(x_k)`.  The flow over :math:`\pm h` is a B-series
with coefficients :math:`A_\pm(t) = \sum_{p} (\pm1)^{\#\mathrm{forest}}
\prod_{s \in \mathrm{forest}(p)} b(s) / \gamma(\mathrm{skel}(p))` (substitution
law, Chartier-Hairer-Vilmart 2010), and :math:`h f(B(c))` has coefficients
:math:`c'([t_1..t_k]) = \prod c(t_i)` (HLW Lemma III.1.9) with
:math:`c = 1 - \gamma A_-`.  Matching the coefficient of every tree gives

.. math::
    (1-\beta)\, b(t) = c'(t) - R_+(t) - \beta R_-(t),

where :math:`R_\pm` collect the partitions other than the trivial one; it is
solved tree by tree in increasing order.  :math:`b(\bullet) = 1/(1-\beta)` is the
time scale.  Since :math:`F_f(t) = (-1)^{|t|} F_g(t)`, :math:`c(t) = (-1)^{|t|} b(t)/\sigma(t)`.

**SGD.**  One epoch of ``m`` GD steps on the batch losses :math:`E_1..E_m`
(coloured trees, colour = batch) is the composition of ``m`` explicit Euler
B-series (HLW Thm. III.1.10), averaged over the ``m!`` orderings of the
batches; the modified field is matched against the flow over time ``m h``.
:math:`E = \frac1m \sum_k E_k`.

References: Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed.,
Ch. III and IX; Barrett & Dherin, ICLR 2021 (IGR); Ghosh et al., ICLR 2023
(IGR-M); Smith, Dherin, Barrett & De, ICLR 2021 (SGD); Chartier, Hairer &
Vilmart, Found. Comput. Math. 10 (2010).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp

from .bea_coefficients import (H, MAX_ORDER, MAX_SGD_TREES, momentum_parameters,
                               sgd_tree_coefficients, tree_coefficients)
from . import checks
from .budget import with_budget
from .errors import BudgetExceeded, InputError
from .loss import Loss
from .method_series import series_form
from .optimizers import Optimizer
from .potential import abstract_potential, evaluate_potential, gradient_certificate, homotopy_potential, numeric_zero
from .result import Result, Step
from .trees import DifferentialEvaluator, differential_latex, differential_str, scalar_latex

__all__ = ["H", "ModifiedField", "modified_field", "evaluate_field", "tree_coefficients",
           "sgd_tree_coefficients", "modified_loss", "simplify_field", "MAX_ORDER", "MAX_SGD_TREES"]


# -- the result object ---------------------------------------------------------------

@dataclass(frozen=True)
class ModifiedField(Result):
    r"""A modified field: coefficients over trees per order, optionally evaluated on a loss.

    ``coefficients[p]`` maps each tree with ``p + 1`` nodes to its coefficient
    (of :math:`h^p F_g(t)`); ``terms[p]`` is the concrete vector :math:`f_p` on
    ``loss`` (empty when abstract); ``certificates[p]`` is True/False/None;
    ``potential[p]`` is :math:`E_p` with :math:`f_p = -s \nabla E_p` when known.
    """

    optimizer: object = None
    order: int = 0
    time_scale: object = 1
    coefficients: tuple = ()
    loss: object = None
    terms: tuple = ()
    certificates: tuple = ()
    potential: tuple = ()
    modified_loss: object = None

    def __post_init__(self):
        super().__post_init__()
        if len(self.coefficients) != self.order + 1:
            raise InputError("coefficients", len(self.coefficients), f"need one table per order 0..{self.order}")

    def abstract_str(self, p: int) -> str:
        """``f_p`` in elementary differentials, e.g. ``h**2*(-1/3*H^2 g - 1/12*T(g, g))``."""
        parts = []
        for t, c in self.coefficients[p].items():
            if c == 0:
                continue
            cs = {1: "", -1: "-"}.get(c, f"({c})*") if c.is_number else f"({c})*"
            parts.append(cs + differential_str(t))
        body = " + ".join(parts).replace("+ -", "- ") if parts else "0"
        hp = "" if p == 0 else ("h*" if p == 1 else f"h**{p}*")
        return f"{hp}({body})"

    def abstract_latex(self, p: int) -> str:
        r"""LaTeX of ``f_p`` (placeholders for :math:`\nabla E` etc.).

        >>> from analytic.optimizers import GD
        >>> modified_field(GD(H), 1).abstract_latex(1)
        '\\IRstep \\left(-\\frac{1}{2} \\IRhess \\IRgrad\\right)'
        """
        parts = []
        for t, c in self.coefficients[p].items():
            if c == 0:
                continue
            num, rest = c.as_coeff_Mul()
            cl = sp.latex(c if rest == 1 else sp.Mul(num, rest))      # -P/(12 (1-beta)^5), not nested fractions
            if c.is_Add:
                cl = rf"\left({cl}\right)"
            sign = ""
            if cl.startswith("-"):
                sign, cl = "-", cl[1:]
            if cl == "1":
                cl = ""
            parts.append((sign, rf"{cl} {differential_latex(t)}".strip()))
        if not parts:
            return "0"
        out = (parts[0][0] + parts[0][1])
        for sign, body in parts[1:]:
            out += (" - " if sign else " + ") + body
        hp = "" if p == 0 else (r"\IRstep " if p == 1 else rf"\IRstep^{{{p}}}")
        return f"{hp}\\left({out}\\right)" if hp else out

    def abstract_certificates(self) -> tuple:
        """Per order: True if the term is a gradient for every loss (free-tree
        potential exists), False if it is not for a generic loss.

        >>> from analytic.optimizers import GD
        >>> modified_field(GD(H), 2).abstract_certificates()
        (True, True, False)
        """
        return (True,) + tuple(abstract_potential(self.coefficients[p], self.time_scale) is not None
                               for p in range(1, self.order + 1))

    def field(self, upto: int | None = None):
        """The concrete truncated field :math:`\\sum_{p \\le upto} h^p f_p` (Matrix)."""
        if not self.terms:
            raise InputError("field", self.quantity, "abstract field: use evaluate_field(field, loss) first")
        upto = self.order if upto is None else upto
        out = sp.zeros(len(self.terms[0]), 1)
        for p in range(upto + 1):
            out += H ** p * self.terms[p]
        return out

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.update(self.json_fields())
        return d

    def json_fields(self) -> dict:
        """The JSON schema of ``implreg derive modified-loss``."""
        certificates = self.certificates or self.abstract_certificates()
        terms = []
        for p in range(self.order + 1):
            terms.append({
                "order": p,
                "field": [sp.sstr(e, order="none") for e in self.terms[p]] if self.terms else [],
                "abstract": self.abstract_str(p),
                "abstract_latex": self.abstract_latex(p),
                "is_gradient": certificates[p],
            })
        return {"optimizer": _optimizer_name(self.optimizer), "order": self.order,
                "time_scale": str(self.time_scale), "terms": terms,
                "modified_loss": None if self.modified_loss is None else sp.sstr(self.modified_loss, order="none"),
                "latex": self.derivation_latex()}


def _optimizer_name(opt) -> str:
    return {"GD": "gd", "HeavyBall": "heavy-ball", "Nesterov": "nesterov", "SGD": "sgd", "SGDMomentum": "sgd-momentum",
            "LabelNoise": "label-noise"}.get(type(opt).__name__, type(opt).__name__)


def _expansion_steps(optimizer) -> list:
    form = series_form(optimizer)
    if form.batches is not None and form.beta != 0:
        m, beta = form.batches, sp.latex(form.beta)
        return [
            Step(r"\text{update}", rf"v_{{n+1}} = {beta} v_n - \IRstep\nabla E_{{b_n}}(x_n),\quad x_{{n+1}} = x_n + v_{{n+1}}",
                 f"heavy ball on one batch per step; each epoch visits the m = {m} batches in a fresh random order",
                 relation=":"),
            Step(r"g_{b_j}(x_j)", r"g_{b_j}(\bar x_j) - \IRstep\sum_{l<j} r(j-l)\, \nabla^2 E_{b_j}"
                 r"\big(\nabla E_{b_l} - \nabla E\big) + O(\IRstep^2)",
                 "expand about the mean path; step l moves x_j by -h r(j-l) grad E_{b_l}, r(d) = (1 - beta^d)/(1 - beta)"),
            Step(r"G", r"\nabla E + \IRstep\,\frac{S}{m-1}\,\nabla\frac{1}{2m}\sum_a\|\nabla E_a - \nabla E\|^2",
                 "average over the positions of a random permutation; batches of different epochs are independent; "
                 "S = (1/m) sum over pairs l < j of r(j - l)"),
            Step(r"\tilde f", r"-\frac{G}{1-\beta} - \IRstep\frac{1+\beta}{2(1-\beta)^3}\nabla^2E\,\nabla E",
                 "heavy ball's modified field of the effective gradient G, to order 1"),
        ]
    if form.batches is not None:
        m = form.batches
        return [
            Step(r"x_{k+m}", rf"\big(\Phi^{{E_{{\pi(m)}}}}_h \circ \dots \circ \Phi^{{E_{{\pi(1)}}}}_h\big)(x_k),"
                 rf"\quad \Phi^{{E_j}}_h(x) = x - \IRstep \nabla E_j(x)",
                 f"one epoch of m = {m} GD steps on the batch losses, in a random order pi"),
            Step(r"\mathbb{E}_\pi\, x_{k+m}", r"x + \sum_{t} \IRstep^{|t|} \frac{\bar a(t)}{\sigma(t)} F(t)(x)",
                 "compose the Euler B-series (HLW Thm III.1.10) and average over the orderings"),
            Step(r"X(t + m\IRstep)", r"x + \sum_{t} \IRstep^{|t|} \frac{(b \star e_m)(t)}{\sigma(t)} F(t)(x)",
                 "flow of the modified field over one epoch (substitution law), e_m(t) = m to the power |t| over gamma(t)"),
        ]
    beta, gamma = form.beta, form.gamma
    rule = r"x_{k+1} = x_k - \IRstep\nabla\IRloss(x_k)"
    if beta != 0 or gamma != 0:
        rule = (rf"x_{{k+1}} = x_k + {sp.latex(beta)}(x_k - x_{{k-1}}) - \IRstep\nabla\IRloss"
                rf"\big(x_k + {sp.latex(gamma)}(x_k - x_{{k-1}})\big)")
    return [
        Step(r"\text{update}", rule, "the optimizer, f = -grad E", relation=":"),
        Step(r"x_{k\pm1}", r"\varphi_{\pm\IRstep}(x_k) = x_k + \sum_t \IRstep^{|t|}\frac{A_\pm(t)}{\sigma(t)} F(t)(x_k)",
             "put the iterates on the modified flow; substitution law gives A_+- from b"),
        Step(r"(1-\beta)\, b(t)", r"c'(t) - R_+(t) - \beta R_-(t)",
             "match the coefficient of every tree; c'(t) = prod of c(t_i), c = 1 - gamma A_-"),
    ]


def modified_field(optimizer: Optimizer, order: int) -> ModifiedField:
    r"""The modified field at coefficient level (loss-agnostic).

    >>> from analytic.optimizers import GD, HeavyBall
    >>> mf = modified_field(GD(H), 2)
    >>> mf.abstract_str(1), mf.abstract_str(2)
    ('h*((-1/2)*H g)', 'h**2*((-1/12)*T(g, g) + (-1/3)*H^2 g)')
    >>> beta = sp.Symbol("beta")
    >>> modified_field(HeavyBall(H, beta), 1).abstract_str(1)
    'h*((-(beta + 1)/(2*(1 - beta)**3))*H g)'
    """
    if not isinstance(optimizer, Optimizer):
        raise InputError("optimizer", optimizer, "must be an optimizer spec (GD, HeavyBall, Nesterov, SGD)")
    coeffs = tree_coefficients(optimizer, order)
    by_order = tuple({t: c for t, c in coeffs.items() if t.order == p + 1} for p in range(order + 1))
    form = series_form(optimizer)
    beta = form.beta
    scale = sp.Integer(1) if beta == 0 else (1 / (1 - beta) if beta.is_number else sp.Pow(1 - beta, -1))
    steps = _expansion_steps(optimizer)
    proto = ModifiedField("modified-field", None, (), optimizer=optimizer, order=order, time_scale=scale,
                          coefficients=by_order)
    for p in range(order + 1):
        steps.append(Step(rf"\tilde f_{{{p}}}", proto.abstract_latex(p),
                          f"match the terms of power {p + 1} in h: trees with {p + 1} node(s)"))
    total = r"\tilde f = " + " + ".join(proto.abstract_latex(p) for p in range(order + 1))
    steps.append(Step(r"\tilde f", total.split("=", 1)[1], "solution: the modified field"))
    return ModifiedField("modified-field", total, tuple(steps), lhs="", optimizer=optimizer, order=order,
                         time_scale=scale, coefficients=by_order)


def _batch_losses(loss: Loss, m: int) -> dict:
    terms = loss.concrete_terms
    if not terms:
        raise InputError("loss", loss.name or str(loss.expr), "SGD needs per-sample terms (e.g. --model least_squares)")
    if len(terms) % m:
        raise InputError("batches", m, f"must divide the number of samples ({len(terms)})")
    size = len(terms) // m
    return {c + 1: sp.Add(*terms[c * size:(c + 1) * size]) / size for c in range(m)}


def _losses_for(mf: ModifiedField, loss: Loss) -> dict:
    batches = series_form(mf.optimizer).batches
    if batches is not None:
        return _batch_losses(loss, batches)
    return {0: loss.concrete}


def evaluate_field(mf: ModifiedField, loss: Loss, evaluator: DifferentialEvaluator | None = None) -> ModifiedField:
    r"""Evaluate each order's tree sum on a concrete loss: :math:`f_p = \sum c(t) F_g(t)`.

    For SGD the batches are fixed contiguous groups of ``loss.terms`` (batch
    loss = their mean), visited in a random order each epoch.

    >>> from analytic.models import quadratic
    >>> from analytic.optimizers import GD
    >>> ev = evaluate_field(modified_field(GD(H), 2), quadratic([[2, 0], [0, 1]]))
    >>> ev.terms[2].T
    Matrix([[-8*w1/3, -w2/3]])
    """
    if not isinstance(loss, Loss):
        raise InputError("loss", loss, "must be a Loss")
    if not isinstance(mf, ModifiedField):
        raise InputError("field", mf, "must be a ModifiedField (from modified_field)")
    if evaluator is not None and not isinstance(evaluator, DifferentialEvaluator):
        raise InputError("evaluator", evaluator, "must be a DifferentialEvaluator or None")
    ev = evaluator or DifferentialEvaluator(_losses_for(mf, loss), loss.variables)
    terms = []
    for p in range(mf.order + 1):
        comps = [[] for _ in loss.variables]
        for t, c in mf.coefficients[p].items():
            if c == 0:
                continue
            vec = ev(t)
            for i, e in enumerate(vec):
                if e != 0:
                    comps[i].append(c * e)
        terms.append(sp.Matrix([sp.Add(*cs) for cs in comps]))
    return replace(mf, loss=loss, terms=tuple(terms))


def modified_loss(optimizer: Optimizer, loss: Loss, order: int, budget: float | None = 2.0) -> ModifiedField:
    r"""The modified field on ``loss`` with a gradient certificate per order and,
    when every term is a gradient, the modified loss :math:`\tilde E` with
    :math:`\tilde f = -s\nabla\tilde E` (``s`` the time scale), verified by
    differentiating.

    >>> from analytic.models import linear2d
    >>> from analytic.optimizers import GD
    >>> mf = modified_loss(GD(H), linear2d(), 1)
    >>> mf.certificates, mf.meta["potential_check"]
    ((True, True), 'exact')
    >>> sp.factor(mf.potential[1])
    (w1**2 + w2**2)*(5*w1*w2 - 3)**2/100
    """
    if not isinstance(loss, Loss):
        raise InputError("loss", loss, "must be a Loss")
    checks.budget(budget, "budget")
    mf = modified_field(optimizer, order)
    ev = DifferentialEvaluator(_losses_for(mf, loss), loss.variables)
    mf = evaluate_field(mf, loss, ev)
    scale = mf.time_scale
    base = sp.Add(*ev.losses.values()) / len(ev.losses)
    certs, pots, reasons = [True], [base], ["the gradient flow of E (time scale s)"]
    steps = list(mf.steps)
    for p in range(1, order + 1):
        weights = abstract_potential(mf.coefficients[p], scale)
        if weights is not None:
            certs.append(True)
            pots.append(evaluate_potential(weights, ev))
            reasons.append("abstract: a combination of gradients of free-tree scalars")
            steps.append(Step(rf"\IRloss_{{{p}}}", _potential_latex(weights),
                              f"f_{p} = -s grad E_{p}: solve for the free-tree weights"))
            continue
        cert, why = gradient_certificate(mf.terms[p], loss.variables, budget)
        certs.append(cert)
        reasons.append(why)
        pot = homotopy_potential(-mf.terms[p] / scale, loss.variables, budget) if cert else None
        pots.append(pot)
        if pot is not None:
            steps.append(Step(rf"\IRloss_{{{p}}}", pot, f"f_{p} is a gradient on this loss ({why}); integrate"))
        else:
            steps.append(Step(rf"\tilde f_{{{p}}}", r"\text{not a gradient}" if cert is False else r"\text{undecided}",
                              f"gradient certificate: {why}", relation=":"))
    total, check = None, None
    if all(pt is not None for pt in pots):
        total = sp.Add(*[H ** p * pt for p, pt in enumerate(pots)])
        check = _verify_potential(total, mf.field(), scale, loss.variables, budget)
        s_latex = "" if scale == 1 else sp.latex(scale)
        steps.append(Step(r"\tilde\IRloss", total,
                          f"the modified loss, checked by differentiating ({check})"))
    meta = dict(mf.meta)
    meta.update({"certificate_reasons": tuple(reasons), "potential_check": check})
    return replace(mf, quantity="modified-loss", steps=tuple(steps), certificates=tuple(certs),
                   potential=tuple(pots), modified_loss=total, meta=meta,
                   expr=total if total is not None else mf.expr)


def simplify_field(mf: ModifiedField, budget: float | None = 5.0) -> ModifiedField:
    r"""Optional tidy-up of the concrete terms (and the modified loss), each
    within ``budget`` seconds; a term whose simplification runs out of time is
    kept as it was.  ``meta["simplified"]`` lists, per order, whether it finished.

    >>> from analytic.models import linear2d
    >>> from analytic.optimizers import GD
    >>> s = simplify_field(evaluate_field(modified_field(GD(H), 1), linear2d()))
    >>> s.terms[1].T, s.meta["simplified"]
    (Matrix([[-(5*w1*w2 - 3)*(10*w1**2*w2 - 3*w1 + 5*w2**3)/50, -(5*w1*w2 - 3)*(5*w1**3 + 10*w1*w2**2 - 3*w2)/50]]), (True, True))
    """
    if not isinstance(mf, ModifiedField):
        raise InputError("field", mf, "must be a ModifiedField (from modified_field)")
    checks.budget(budget, "budget")
    if not mf.terms:
        raise InputError("field", mf.quantity, "abstract field: evaluate it on a loss first")
    done, terms = [], []
    for term in mf.terms:
        try:
            terms.append(with_budget(lambda: term.applyfunc(lambda e: sp.factor(sp.cancel(e))), budget,
                                     "simplification"))
            done.append(True)
        except BudgetExceeded:
            terms.append(term)
            done.append(False)
    total = mf.modified_loss
    if total is not None:
        total = with_budget(lambda: sp.collect(sp.factor_terms(total), H), budget, "simplification", fallback=total)
    meta = dict(mf.meta)
    meta["simplified"] = tuple(done)
    return replace(mf, terms=tuple(terms), modified_loss=total, meta=meta,
                   expr=total if total is not None else mf.expr)


def _potential_latex(weights) -> str:
    parts = []
    for tau, a in weights.items():
        if a == 0:
            continue
        al = sp.latex(a)
        if a.is_Add:
            al = rf"\left({al}\right)"
        parts.append(f"{al} {scalar_latex(tau)}")
    return " + ".join(parts).replace("+ -", "- ") or "0"


def _verify_potential(total, field, scale, variables, budget) -> str:
    """Differentiate the potential and compare with the field: 'exact', 'numeric' or 'FAILED'."""
    diff = [sp.diff(total, v) * (-scale) - field[i] for i, v in enumerate(variables)]
    symbols = list(variables) + sorted(set().union(*[d.free_symbols for d in diff]) - set(variables),
                                       key=lambda s: s.name)
    try:
        worst = max(with_budget(numeric_zero, budget, "potential check", d, symbols)[0] for d in diff)
    except BudgetExceeded:
        return "undecided"
    if worst > 1e-15:
        return "FAILED"
    exact = with_budget(lambda: all(sp.simplify(sp.expand(d)) == 0 for d in diff), budget,
                        "exact potential check", fallback=None)
    return "exact" if exact else "numeric"
