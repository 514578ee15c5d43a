r"""The modified loss of gradient descent with Gaussian label noise.

GD with label noise draws, at every step, fresh labels
:math:`y_i + \sigma\xi_i` with independent :math:`\xi_i \sim N(0, 1)` and takes
one GD step on the squared loss of those labels.  For one draw the loss is

.. math::
    E_\xi(w) = \sum_i c_i \big(r_i(w) - \sigma \xi_i\big)^2, \qquad r_i = P(X_i; w) - y_i,

with the weight :math:`c_i` of the normalisation: :math:`1/(2n)` for
``"mean"`` (:math:`E = \frac{1}{2n}\sum_i r_i^2`, the default), :math:`1/2` for
``"sum"``, :math:`1/n` for ``"mse"`` (the blog of seed 003).  Backward error
analysis of one GD step on :math:`E_\xi` gives the per-draw modified loss
:math:`E_\xi + \frac h4\|\nabla E_\xi\|^2` (Barrett & Dherin, "Implicit
Gradient Regularization", ICLR 2021).  Its expectation, taken here
symbolically with the Gaussian moments (:math:`\mathbb E\xi = 0`,
:math:`\mathbb E\xi^2 = 1`, :math:`\mathbb E\xi^{2k} = (2k-1)!!`, independent
draws), is

.. math::
    \tilde E = E + \frac h4 \|\nabla E\|^2 + h\sigma^2 \sum_i c_i^2 \|\nabla P(X_i)\|^2 + \sigma^2\sum_i c_i,

i.e. :math:`\frac{h\sigma^2}{4n^2}\sum_i\|\nabla P(X_i)\|^2 + \frac{\sigma^2}{2}` for
the mean normalisation (J. Wind, blog post 2022, seed 003, states it for
``"mse"``: :math:`\frac{h\sigma^2}{n^2}\sum_i\|\nabla P(X_i)\|^2 + \sigma^2`).
Nothing above is typed into the code: the coefficients come out of the
expectation.  The same regularizer is the drift of label-noise SGD near a
manifold of minima (Blanc, Gupta, Valiant & Valiant, COLT 2020; Damian, Ma &
Lee, NeurIPS 2021: :math:`\frac{h\sigma^2}{4n}\operatorname{tr}\nabla^2 E`).
"""
from __future__ import annotations

import functools

#: highest order of the label-noise modified field
MAX_ORDER = 12

import sympy as sp

from . import checks
from .budget import with_budget
from .errors import BudgetExceeded, InputError
from .values import exact_value
from .loss import Loss, parse_names, symbol
from .optimizers import LabelNoise
from .result import Result, Step
from .squared_loss import (NORMALIZATIONS, SquaredResiduals, normalization_weight,
                           squared_loss_from_predictions, squared_residuals)

__all__ = ["NORMALIZATIONS", "normalization_weight", "squared_loss_from_predictions",
           "SquaredResiduals", "squared_residuals", "gaussian_expectation", "general_modified_loss",
           "modified_field", "modified_loss"]

SYMBOLIC_BUDGET = 20.0


def gaussian_expectation(expr, noises):
    r"""The expectation of a polynomial in independent standard normals ``noises``.

    Monomials :math:`\prod_k \xi_k^{a_k}` become :math:`\prod_k \mathbb E\xi^{a_k}`
    with :math:`\mathbb E\xi^{2j+1} = 0` and :math:`\mathbb E\xi^{2j} = (2j-1)!!`.

    >>> a, x1, x2 = sp.symbols("a xi_1 xi_2")
    >>> gaussian_expectation((a + x1 + x2) ** 2 + x1 ** 4, [x1, x2])
    a**2 + 5
    """
    if not isinstance(expr, sp.Expr):
        raise InputError("expr", expr, "must be a SymPy expression")
    if not isinstance(noises, (list, tuple)) or not all(isinstance(x, sp.Symbol) for x in noises):
        raise InputError("noises", noises, "must be a list of SymPy symbols")
    noises = list(noises)
    if not noises:
        return expr
    try:
        poly = sp.Poly(_scalar(expr), *noises)
    except sp.PolynomialError:
        raise InputError("loss", str(expr)[:80], "the noisy loss is not polynomial in the label noise") from None
    total = sp.Integer(0)
    for powers, coeff in poly.terms():
        moment = sp.Integer(1)
        for p in powers:
            moment *= 0 if p % 2 else sp.factorial2(p - 1)
        total += moment * coeff
    return total


def _noise_symbols(count, taken):
    xs = tuple(sp.Symbol(f"xi_{k + 1}", real=True) for k in range(count))
    clash = {x.name for x in xs} & {s.name for s in taken}
    if clash:
        raise InputError("loss", sorted(clash), "the names xi_k are reserved for the label noise")
    return xs


def _grad(expr, variables):
    return sp.Matrix([sp.diff(expr, v) for v in variables])


def _norm2(vec):
    return sp.Add(*[e ** 2 for e in vec])


def _structured_expectations(structure, variables, sigma, xi):
    r"""Expectations for :math:`E_\xi = \sum_k c_k (r_k - \sigma\xi_k)^2`, taken with
    the residuals :math:`r_k` and their gradients as opaque symbols (so the
    result keeps the structure), then substituted back.  Returns
    :math:`\mathbb E E_\xi`, :math:`\frac14\mathbb E\|\nabla E_\xi\|^2`, :math:`\frac14\|\nabla E\|^2`."""
    K, p = len(structure.residuals), len(variables)
    rho = sp.symbols(f"rho_1:{K + 1}", real=True)
    G = [sp.symbols(f"G_{k + 1}_1:{p + 1}", real=True) for k in range(K)]
    cs = structure.weights
    noisy = sp.Add(*[c * (r - sigma * z) ** 2 for c, r, z in zip(cs, rho, xi)])
    grad_noisy = [sp.Add(*[2 * c * (r - sigma * z) * g[v] for c, r, z, g in zip(cs, rho, xi, G)]) for v in range(p)]
    grad_clean = [sp.Add(*[2 * c * r * g[v] for c, r, g in zip(cs, rho, G)]) for v in range(p)]
    back = {}
    for k, r in enumerate(structure.residuals):
        back[rho[k]] = r
        for v, var in enumerate(variables):
            back[G[k][v]] = sp.diff(r, var)
    e_loss = gaussian_expectation(sp.expand(noisy), xi)
    e_norm = gaussian_expectation(sp.expand(_norm2(grad_noisy)), xi) / 4
    c_norm = _norm2(grad_clean) / 4
    # regroup: clean part + the noise part, which only involves sum_k c_k^2 |G_k|^2
    e_norm = c_norm + sp.factor_terms(sp.expand(e_norm - c_norm))
    return tuple(e.xreplace(back) for e in (e_loss, e_norm, c_norm))


def _gd_field_terms(expr, variables, order):
    r"""Coefficients :math:`f_0, \dots, f_K` of the GD modified field
    :math:`\sum_j h^j f_j` of ``expr``: the flow of the truncated field at
    time :math:`h` matches :math:`x - h\nabla E` up to :math:`O(h^{K+2})`.
    Matching the coefficient of :math:`h^{j+1}` in
    :math:`\sum_k \frac{h^k}{k!} \mathcal L^{k-1} \tilde f`, with
    :math:`\mathcal L u = (Du)\tilde f`, gives :math:`f_j`."""
    var = list(variables)
    f = [-_grad(expr, var)]
    for j in range(1, order + 1):
        # current[i]: coefficient of h^i in L^(k-1) F, with F = sum_{i<j} h^i f_i
        current = list(f)
        coeff = sp.zeros(len(var), 1)
        for k in range(2, j + 2):
            need = j + 1 - k          # highest power of h still needed
            jac = [current[a].jacobian(var) for a in range(min(len(current), need + 1))]
            current = [sum((jac[a] * f[i - a] for a in range(min(i + 1, len(jac))) if i - a < len(f)),
                           sp.zeros(len(var), 1)) for i in range(need + 1)]
            coeff += current[need] / sp.factorial(k)
        f.append(-coeff)
    return f


def _expectation_by_derivatives(expr, noises, degree):
    r""":math:`\mathbb E\, p(\xi) = \sum_\alpha \partial^\alpha p(0) \prod_k \frac{\mathbb E\xi^{\alpha_k}}{\alpha_k!}`
    for a polynomial of total degree at most ``degree`` in independent standard
    normals (no expansion of the coefficients)."""
    total = sp.Integer(0)
    zero = {x: 0 for x in noises}

    def walk(k, e, remaining, weight):
        nonlocal total
        if k == len(noises):
            total += weight * e.subs(zero)
            return
        a = 0
        while a <= remaining:
            walk(k + 1, e, remaining - a, weight * sp.factorial2(a - 1) / sp.factorial(a) if a else weight)
            e = sp.diff(e, noises[k], 2)
            a += 2

    walk(0, expr, degree, sp.Integer(1))
    return total


def _is_symmetric(field, variables, budget, noises=()):
    """Gradient certificate: is the Jacobian of ``field`` symmetric?  ``False``
    when it is clearly not at a random rational point (30 digits), ``True``
    when the differences simplify to zero within the budget, else ``None``."""
    J = field.jacobian(list(variables))
    diffs = [J[i, k] - J[k, i] for i in range(J.rows) for k in range(i + 1, J.cols)]
    if not diffs:
        return True
    point = {v: sp.Rational(37 + 11 * i, 23 + 5 * i) for i, v in enumerate(sorted(
        set().union(*[e.free_symbols for e in diffs]), key=str))}
    for e in diffs:
        value = e.xreplace(point).evalf(30)
        if value.is_number and abs(value) > 1e-15:
            return False
    try:
        zero = with_budget(lambda: all(sp.simplify(e) == 0 for e in diffs), budget, "gradient certificate")
        return True if zero else False
    except BudgetExceeded:
        return None


@checks.cached_after(functools.partial(checks.choice, choices=NORMALIZATIONS))
def general_modified_loss(normalization: str = "mean") -> Result:
    r"""The label-noise modified loss for any per-sample predictions, derived on
    two generic samples (undefined functions :math:`r_1, r_2` of two variables)
    with a symbolic sample count :math:`n` in the weight.

    ``meta["coefficient"]`` is the weight of :math:`\sum_i\|\nabla P(X_i)\|^2`
    and ``meta["constant"]`` the additive constant over :math:`n` samples.

    >>> r = general_modified_loss("mean")
    >>> r.meta["coefficient"], r.meta["constant"]
    (h*sigma**2/(4*n**2), sigma**2/2)
    >>> general_modified_loss("mse").meta["coefficient"]
    h*sigma**2/n**2
    """
    n = sp.Symbol("n", positive=True, integer=True)
    h, sigma = sp.Symbol("h", positive=True), sp.Symbol("sigma", positive=True)
    c = normalization_weight(normalization, n)
    w = (symbol("w1"), symbol("w2"))
    r = [sp.Function(f"r_{k}")(*w) for k in (1, 2)]
    xi = _noise_symbols(2, set())

    def noise_terms(rs):
        noisy = sp.Add(*[c * (rk - sigma * x) ** 2 for rk, x in zip(rs, xi)])
        clean = sp.Add(*[c * rk ** 2 for rk in rs])
        expected = gaussian_expectation(sp.expand(noisy + h / 4 * _norm2(_grad(noisy, w))), xi[:len(rs)])
        return sp.expand(expected - clean - h / 4 * _norm2(_grad(clean, w)))

    one, extra = noise_terms(r[:1]), noise_terms(r)
    if sp.expand(extra - one - one.subs(r[0], r[1])) != 0:
        raise InputError("normalization", normalization, "the samples' noise terms do not add up")
    constant_one = one.subs(h, 0)
    coefficient = sp.simplify((one - constant_one) / _norm2(_grad(r[0], w)))
    if (coefficient.free_symbols | constant_one.free_symbols) & set(w) or coefficient.has(r[0]):
        raise InputError("normalization", normalization, "the per-sample noise terms are not of the form a + b |grad r|^2")
    constant = sp.simplify(n * constant_one)
    i = sp.Symbol("i", integer=True, positive=True)
    gp = sp.Symbol(r"\|\nabla P(X_i)\|^2")
    collected = (r"\IRloss + \frac{\IRstep}{4}\|\IRgrad\|^2 + " + sp.latex(coefficient)
                 + r"\sum_{i=1}^{n}\|\nabla P(X_i)\|^2 + " + sp.latex(constant))
    steps = (
        Step(r"E_\xi", r"\sum_{i=1}^{n}" + sp.latex(c) + r"\,(r_i - \sigma\xi_i)^2",
             f"{normalization} normalisation, labels y_i + sigma xi_i, r_i = P(X_i) - y_i"),
        Step(r"\tilde E_\xi", r"E_\xi + \frac{\IRstep}{4}\|\nabla E_\xi\|^2", "GD modified loss of one draw"),
        Step(r"\mathbb{E}_\xi\tilde E_\xi - \tilde E|_{\sigma=0}", extra,
             "Gaussian moments on two generic samples: no cross terms"),
        Step(r"\tilde E", collected, "each sample adds the same terms; sum over n samples"),
    )
    expr = sp.Symbol("E") + h / 4 * sp.Symbol(r"\|\nabla E\|^2") + coefficient * sp.Sum(gp, (i, 1, n)) + constant
    return Result("modified-loss", expr, steps, lhs=r"\tilde E",
                  meta={"coefficient": coefficient, "constant": constant, "normalization": normalization})


def _scalar(value):
    return value if isinstance(value, sp.Basic) else exact_value(value, "value", symbol={"real": True})


def modified_field(loss: Loss, h, sigma, order: int = 1, labels=None,
                   budget: float | None = SYMBOLIC_BUDGET, certificate_budget: float | None = 2.0) -> Result:
    r"""The expected modified field of GD with Gaussian label noise (std ``sigma``).

    ``expr`` is the field :math:`\sum_{j\le K} h^j \mathbb E_\xi f_j[E_\xi]` (the flow is
    :math:`x' =` field); ``meta["modified_loss"]`` the potential (order 1), and
    ``meta["terms"]`` one dict per order ``{"order", "field", "abstract",
    "abstract_latex", "is_gradient"}`` with :math:`h^j` included (``abstract_latex``
    in the placeholder macros of :class:`~analytic.latex.Notation`).  Without
    ``labels`` each squared residual :math:`c_k r_k^2` of the loss is one sample and
    becomes :math:`c_k (r_k - \sigma\xi_k)^2` with :math:`r_k` as written (its sign does
    not matter: :math:`\xi` is symmetric); with ``labels``
    (parameter names) those parameters get the noise.  ``h`` and ``sigma``
    are numbers, names or Symbols (``None``: the symbols ``h``, ``sigma``).
    ``meta`` also holds ``regularizer`` (the :math:`\sigma`-dependent part),
    ``constant``, ``noise_free_modified_loss`` and ``normalization``.

    >>> from analytic.models import linear2d
    >>> r = modified_field(linear2d(), "h", "sigma")
    >>> sp.factor(r.meta["regularizer"])
    h*sigma**2*(w1**2 + w2**2)/4
    >>> r.meta["constant"]
    sigma**2/2
    """
    spec = LabelNoise("h" if h is None else h, "sigma" if sigma is None else sigma)   # validates both
    h, sigma = _scalar(spec.h), _scalar(spec.sigma)
    if not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= MAX_ORDER:
        raise InputError("order", order, f"must be an integer between 1 and {MAX_ORDER}")
    if not isinstance(loss, Loss):
        raise InputError("loss", loss, "must be a Loss")
    checks.budget(budget, "budget")
    checks.budget(certificate_budget, "certificate_budget")
    variables = loss.variables
    structure = None
    if labels is not None:
        names = parse_names("labels", labels)
        missing = [x for x in names if x not in loss.params]
        if missing:
            raise InputError("labels", missing, f"must be parameters of the loss (have {sorted(loss.params)})")
        xi = _noise_symbols(len(names), loss.expr.free_symbols)
        noisy = loss.substitute(loss.expr.subs({symbol(x): symbol(x) + sigma * z for x, z in zip(names, xi)},
                                               simultaneous=True))
        clean = loss.concrete
    else:
        structure = squared_residuals(loss)
        xi = _noise_symbols(len(structure.residuals), loss.expr.free_symbols)
        noisy = sp.Add(*[c * (r - sigma * z) ** 2 for c, r, z in zip(structure.weights, structure.residuals, xi)])
        clean = sp.Add(*[c * r ** 2 for c, r in zip(structure.weights, structure.residuals)])

    def derive():
        if structure is not None:
            expected_loss, expected_norm, clean_norm = _structured_expectations(structure, variables, sigma, xi)
        else:
            expected_loss = gaussian_expectation(sp.expand(noisy), xi)
            expected_norm = gaussian_expectation(sp.expand(_norm2(_grad(noisy, variables))), xi) / 4
            clean_norm = _norm2(_grad(clean, variables)) / 4
        constant = with_budget(lambda: sp.simplify(expected_loss - clean), budget, "simplification",
                               fallback=sp.expand(expected_loss - clean))
        potential = clean + constant + h * expected_norm
        regularizer = h * sp.expand(expected_norm - clean_norm)
        fields = [-_grad(clean + constant, variables), -h * _grad(expected_norm, variables)]
        if order >= 2:
            per_draw_terms = _gd_field_terms(noisy, variables, order)
            loss_degree = sp.Poly(sp.expand(noisy), *xi).total_degree()
            for j in range(2, order + 1):
                fields.append(h ** j * per_draw_terms[j].applyfunc(
                    lambda e: _expectation_by_derivatives(e, xi, (j + 1) * loss_degree)))
        return potential, clean + h * clean_norm, constant, regularizer, fields

    potential, base, constant, regularizer, fields = with_budget(derive, budget, "label-noise modified field")
    terms = []
    for j, f in enumerate(fields):
        abstract, latex = _abstract(j, structure, sigma)
        cert = True if j <= 1 else _is_symmetric(f, variables, certificate_budget)
        terms.append({"order": j, "field": [str(e) for e in f], "abstract": abstract,
                      "abstract_latex": latex, "is_gradient": cert})
    field = sp.zeros(len(variables), 1)
    for f in fields:
        field += f
    modified = potential if order == 1 else None
    steps = (
        Step(r"E_\xi", noisy, "labels y_i -> y_i + sigma xi_i with independent xi_i ~ N(0, 1)"),
        Step(r"\tilde E_\xi", r"E_\xi + \frac{\IRstep}{4}\|\nabla E_\xi\|^2",
             "GD modified loss of one draw (Barrett and Dherin 2021)"),
        Step(r"\mathbb{E}_\xi \tilde E_\xi", potential, "Gaussian moments: E xi = 0, E xi^2 = 1, independence"),
        Step(r"\mathbb{E}_\xi \tilde E_\xi", _collected_latex(structure, h, sigma, constant),
             "collect: the h-free part is a constant, the rest the noise regularizer"),
        Step(r"R_\sigma", regularizer, "the label-noise regularizer on this loss"),
    )
    meta = {"optimizer": "label-noise", "order": order, "time_scale": sp.Integer(1),
            "modified_loss": modified, "terms": terms, "regularizer": regularizer,
            "constant": constant, "noise_free_modified_loss": base,
            "normalization": None if structure is None else structure.normalization,
            "noises": xi, "noisy_loss": noisy,
            "legend": "g = grad E, H = Hess E; r_i = P(X_i) - y_i the residuals, g_i = grad r_i, "
                      "H_i = Hess r_i; E_xi the loss of one noise draw; f_j^GD the GD term of order j"}
    if order > 1:
        meta["note"] = ("orders >= 2 are the expectation of the per-draw GD modified field; "
                        "no potential is returned beyond order 1")
    return Result("modified-loss", field, steps, lhs=r"\tilde f", meta=meta)


def _abstract(j, structure, sigma):
    if j == 0:
        return "-g", r"-\IRgrad"
    if j == 1:
        if structure is not None and structure.uniform_weight is not None:
            k = 2 * sigma ** 2 * structure.uniform_weight ** 2
            return (f"-h*(1/2*H*g + {k}*Sum_i(H_i*g_i))",
                    rf"-\IRstep\Big(\tfrac12 \IRhess\IRgrad + {sp.latex(k)}\sum_i \nabla^2 r_i \nabla r_i\Big)")
        if structure is not None:
            return ("-h*(1/2*H*g + 2*sigma**2*Sum_i(c_i**2*H_i*g_i))",
                    r"-\IRstep\Big(\tfrac12 \IRhess\IRgrad + 2\sigma^2\sum_i c_i^2 \nabla^2 r_i \nabla r_i\Big)")
        return ("-h*(1/2*H*g + 1/4*grad(E_xi||grad E_xi||^2 - ||grad E||^2))",
                r"-\IRstep\Big(\tfrac12 \IRhess\IRgrad + \tfrac14\nabla\big(\mathbb{E}_\xi\|\nabla E_\xi\|^2 - \|\IRgrad\|^2\big)\Big)")
    return (f"h**{j}*E_xi[f_{j}^GD(E_xi)]", rf"\IRstep^{{{j}}}\,\mathbb{{E}}_\xi\, f^{{\mathrm{{GD}}}}_{{{j}}}[E_\xi]")


def _collected_latex(structure, h, sigma, constant):
    head = r"\IRloss + \frac{\IRstep}{4}\|\IRgrad\|^2 + "
    tail = " + " + sp.latex(constant)
    if structure is None:
        return head + r"\frac{\IRstep}{4}\big(\mathbb{E}_\xi\|\nabla E_\xi\|^2 - \|\IRgrad\|^2\big)" + tail
    c = structure.uniform_weight
    if c is not None:
        return head + sp.latex(h * sigma ** 2 * c ** 2) + r"\sum_{i}\|\nabla r_i\|^2" + tail
    return head + sp.latex(h * sigma ** 2) + r"\sum_i c_i^2\|\nabla r_i\|^2" + tail


def modified_loss(loss: Loss, h, sigma, labels=None, budget: float | None = SYMBOLIC_BUDGET) -> Result:
    r"""The order-1 expected modified loss :math:`\mathbb E_\xi[E_\xi + \frac h4\|\nabla E_\xi\|^2]`.

    >>> from analytic.models import linear2d
    >>> r = modified_loss(linear2d(), "h", 0)
    >>> sp.simplify(r.expr - linear2d().concrete - sp.Symbol("h", positive=True) / 4
    ...             * sum(d ** 2 for d in sp.derive_by_array(linear2d().concrete, linear2d().variables)))
    0
    """
    field = modified_field(loss, h, sigma, 1, labels=labels, budget=budget)
    return Result("modified-loss", field.meta["modified_loss"], field.steps, lhs=r"\tilde E",
                  meta=dict(field.meta))
