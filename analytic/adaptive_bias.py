r"""Closed forms of the order-1 modified equations of RMSProp and Adam, and their one-norm term.

Adam as :mod:`analytic.optimizers` runs it (elementwise, :math:`g = \nabla E`),

.. math::
    m \leftarrow \beta_1 m + (1-\beta_1) g, \quad s \leftarrow \beta_2 s + (1-\beta_2) g^2, \quad
    x \leftarrow x - h\, m/(\sqrt s + \epsilon),

with RMSProp the case :math:`\beta_1 = 0,\ \beta_2 = \rho`.  With the bias corrections
:math:`m/(1-\beta_1^k)`, :math:`s/(1-\beta_2^k)` the field far into the run is the same (they
tend to 1 like :math:`\beta^k`).  Write :math:`D_i` for the denominator at :math:`s = g^2`,
:math:`\phi_i = g_i/D_i` for the update direction, :math:`\sigma_i` for the elasticity of
:math:`D_i` in :math:`|g_i|`, and :math:`N` for the potential whose gradient is
:math:`H\phi` (:math:`H = \nabla^2 E`):

- :math:`\epsilon` outside (the project's rule): :math:`D_i = |g_i| + \epsilon`,
  :math:`\sigma_i = |g_i|/D_i`, :math:`N = \sum_i |g_i| - \epsilon\log(1 + |g_i|/\epsilon)`;
- :math:`\epsilon` inside (the paper's rule, :math:`m/\sqrt{s+\epsilon}`):
  :math:`D_i = \sqrt{g_i^2+\epsilon}`, :math:`\sigma_i = g_i^2/D_i^2`,
  :math:`N = \|\nabla E\|_{1,\epsilon} = \sum_i \sqrt{g_i^2+\epsilon}`.

**Derivation.**  On the slow manifold the moments remember the path:
:math:`m = (1-\beta_1)\sum_k \beta_1^k g(x - k h\dot x) = g + h\tau_1 H\phi + O(h^2)` and
:math:`s = g^2 + 2h\tau_2\, g\odot H\phi + O(h^2)`, with :math:`\tau = \beta/(1-\beta)` (since
:math:`(1-\beta)\sum_k k\beta^k = \tau` and :math:`\dot x = -\phi + O(h)`).  Then
:math:`m_i/D(s_i) = \phi_i + h(\tau_1 - \tau_2\sigma_i)(H\phi)_i/D_i`, and matching the step to
the flow, :math:`x' - x = hF + \tfrac{h^2}{2}(DF_0)F_0`, with
:math:`(DF_0F_0)_i = \phi'(g_i)(H\phi)_i` and :math:`\phi'(g_i) = (1-\sigma_i)/D_i` gives

.. math::
    F_0 = -\phi, \qquad F_{1,i} = -\frac{K_i}{D_i}(H\phi)_i = -\frac{K_i}{D_i}\,\partial_i N, \qquad
    K_i = \frac12\Big(\frac{1+\beta_1}{1-\beta_1} - \sigma_i\,\frac{1+\beta_2}{1-\beta_2}\Big).

**Modified loss.**  With :math:`P = \operatorname{diag}(1/D_i)`,
:math:`\lambda = \frac{\beta_1}{1-\beta_1} - \frac{\beta_2}{1-\beta_2}` and
:math:`c = \frac{1+\beta_2}{2(1-\beta_2)}`, since :math:`K_i = \lambda + c(1-\sigma_i)`,

.. math::
    \dot x = -P\nabla\big(E + h\lambda N\big) - h c\,(DF_0)F_0 + O(h^2),

a preconditioned gradient flow of :math:`E + h\lambda N` plus a remainder that is not a
:math:`P`-gradient in general and is smaller than the one-norm term by a factor
:math:`O(\epsilon/|g_i|)` (:math:`O(\epsilon/g_i^2)` inside) where the gradient components
dominate.  There :math:`N \to \|\nabla E\|_1` and the one-norm is penalized iff
:math:`\lambda > 0`, i.e. iff :math:`\beta_1 > \beta_2`
(:math:`\lambda = (\beta_1-\beta_2)/((1-\beta_1)(1-\beta_2))`); the usual
:math:`\beta_2 > \beta_1` (and RMSProp with :math:`\rho > 0`) *anti*-penalizes it.  Where
:math:`\epsilon \gg |g_i|` instead, :math:`\sigma_i \to 0`,
:math:`K_i \to (1+\beta_1)/(2(1-\beta_1))` and the field is heavy ball's with step
:math:`h/\epsilon` (:math:`h/\sqrt\epsilon` inside), which penalizes :math:`\|\nabla E\|_2^2`.
Expansions hold where every :math:`g_i \ne 0` (:math:`|\cdot|` is smooth there), for fixed
:math:`\beta_1, \beta_2 \in [0, 1)` as :math:`h \to 0`.

**The paper.**  Cattaneo, Klusowski & Shigida (ICML 2024) write :math:`\beta` for the
first-moment and :math:`\rho` for the second-moment decay (our :math:`\beta_1, \beta_2`), treat
:math:`\epsilon` inside and outside the square root, and define the perturbed one-norm
:math:`\|v\|_{1,\epsilon} = \sum_i \sqrt{v_i^2+\epsilon}` -- the potential :math:`N` of the
:math:`\epsilon`-inside rule (``eps_inside=True``).  Their statement: the :math:`h` term
penalizes :math:`\|\nabla E\|_{1,\epsilon}` or, when :math:`\rho > \beta` (the typical case),
hinders its decrease, while :math:`\sqrt\epsilon` is small against the gradient components,
and penalizes the two-norm when :math:`\epsilon` is large.  The derivation above gives that
statement with the coefficient :math:`\lambda = \beta/(1-\beta) - \rho/(1-\rho)` and the exact
finite-:math:`\epsilon` field.  For the project's rule (:math:`\epsilon` outside) the same
structure holds with :math:`D_i`, :math:`\sigma_i`, :math:`N` of the first item; the two rules
agree as :math:`\epsilon \to 0`, where both potentials tend to :math:`\|\nabla E\|_1`.

Reference: M. D. Cattaneo, J. M. Klusowski, B. Shigida, "On the implicit bias of Adam",
ICML 2024 (PMLR 235), arXiv:2309.00079 (the full-batch modified-equation theorems for RMSProp
and Adam).  The formulas here are derived as above and checked against
:func:`analytic.slaving.slaved_field` in ``tests/test_adaptive_bias.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .errors import InputError
from .loss import Loss
from .values import exact_value

__all__ = ["adaptive_first_order_terms", "adam_first_order_field", "rmsprop_first_order_field",
           "one_norm_potential", "one_norm_coefficient", "penalizes_one_norm", "adam_modified_loss",
           "AdaptiveModifiedLoss"]


def _hyper(argument, value, *, unit=False, positive=False):
    """A hyperparameter: an exact number (in [0, 1) for a decay, > 0 for eps and h) or a symbol."""
    v = exact_value(value, argument, symbol={"positive": True} if positive else {"real": True})
    if v.is_number:
        x = float(v)
        if unit and not 0 <= x < 1:
            raise InputError(argument, value, "must lie in [0, 1)")
        if positive and not x > 0:
            raise InputError(argument, value, "must be positive")
    return v


def _decays(b1, b2):
    return _hyper("b1", b1, unit=True), _hyper("b2", b2, unit=True)


def _flag(argument, value):
    if not isinstance(value, bool):
        raise InputError(argument, value, "must be True or False")
    return value


def _check_loss(loss):
    if not isinstance(loss, Loss):
        raise InputError("loss", loss, "must be a Loss (analytic.loss.parse_loss)")
    return loss


def _step(h, others):
    h = _hyper("h", h, positive=True)
    names = {s.name for s in h.free_symbols}
    for name, v in others.items():
        if names & {s.name for s in v.free_symbols}:
            raise InputError(name, v, f"shares a symbol with the step size h = {h}")
    return h


def _derivatives(loss):
    xs = tuple(loss.variables)
    g = sp.Matrix([sp.diff(loss.concrete, x) for x in xs])
    return g, sp.Matrix(len(xs), len(xs), lambda i, j: sp.diff(g[i], xs[j]))


def _expressions(argument, rows) -> sp.Matrix:
    """A matrix of SymPy expressions or integers, never text (nothing here is parsed)."""
    if isinstance(rows, sp.MatrixBase):
        rows = rows.tolist()
    elif not isinstance(rows, (list, tuple)):
        raise InputError(argument, rows, "must be a list (of lists) of SymPy expressions")
    rows = [list(r) if isinstance(r, (list, tuple)) else [r] for r in rows]
    for e in (e for r in rows for e in r):
        if not (isinstance(e, sp.Expr) or (isinstance(e, int) and not isinstance(e, bool))):
            raise InputError(argument, e, "entries must be SymPy expressions")
    if not rows or len({len(r) for r in rows}) != 1:
        raise InputError(argument, rows, "must be a non-empty matrix")
    return sp.Matrix([[sp.Integer(e) if isinstance(e, int) else e for e in r] for r in rows])


def _parts(grad, eps, eps_inside):
    """Denominators D_i, directions phi_i and elasticities sigma_i at s = g^2."""
    if eps_inside:
        D = [sp.sqrt(g ** 2 + eps) for g in grad]
        return D, [g / d for g, d in zip(grad, D)], [g ** 2 / (g ** 2 + eps) for g in grad]
    D = [sp.Abs(g) + eps for g in grad]
    return D, [g / d for g, d in zip(grad, D)], [sp.Abs(g) / d for g, d in zip(grad, D)]


def adaptive_first_order_terms(grad, hessian, b1, b2, eps, *, eps_inside=False):
    r"""``(F_0, F_1)`` of Adam (RMSProp: ``b1 = 0``) from the gradient column ``grad`` and the
    symmetric ``hessian`` of the loss at :math:`x`, any expressions (e.g. the symbols
    :math:`E_\alpha` of :class:`analytic.jets.LocalCalculus`): :math:`F_0 = -\phi`,
    :math:`F_{1,i} = -K_i (H\phi)_i / D_i` (module docstring).

    >>> E1, E11 = sp.symbols("E_1 E_11", real=True)
    >>> F0, F1 = adaptive_first_order_terms([E1], [[E11]], 0, 0, "eps", eps_inside=True)
    >>> sp.simplify(F1[0] + F0.jacobian([E1])[0] * E11 * F0[0] / 2)  # b1 = b2 = 0: Euler's -(DF0)F0/2
    0
    """
    b1, b2 = _decays(b1, b2)
    eps = _hyper("eps", eps, positive=True)
    _flag("eps_inside", eps_inside)
    g, H = _expressions("grad", grad), _expressions("hessian", hessian)
    d = g.shape[0]
    if g.shape[1] != 1:
        raise InputError("grad", g.shape, "must be a column (one entry per variable)")
    if H.shape != (d, d):
        raise InputError("hessian", H.shape, f"must be {d} x {d} for a gradient of {d} entries")
    D, phi, sigma = _parts(list(g), eps, eps_inside)
    Hphi = H * sp.Matrix(phi)
    c1, c2 = (1 + b1) / (1 - b1), (1 + b2) / (1 - b2)
    F1 = sp.Matrix([-(c1 - sigma[i] * c2) / (2 * D[i]) * Hphi[i] for i in range(d)])
    return -sp.Matrix(phi), F1


def adam_first_order_field(loss, b1, b2, eps, h, *, eps_inside=False) -> sp.Matrix:
    r"""The modified field :math:`F_0 + hF_1` of Adam (bias-corrected far into the run, or
    without correction) on ``loss``; ``eps_inside`` uses :math:`\sqrt{s+\epsilon}` (the paper's
    rule) instead of the project's :math:`\sqrt s + \epsilon`.

    >>> from analytic.loss import parse_loss
    >>> loss = parse_loss("x**2/2", "x")
    >>> F = adam_first_order_field(loss, "1/2", "1/2", "eps", "h")
    >>> sp.factor(F[0].subs(loss.variables[0], 1))   # b1 = b2: lambda = 0, the remainder stays
    -(2*eps**2 + 3*eps*h + 4*eps + 2)/(2*(eps + 1)**3)
    """
    _check_loss(loss)
    b1, b2 = _decays(b1, b2)
    eps = _hyper("eps", eps, positive=True)
    h = _step(h, {"b1": b1, "b2": b2, "eps": eps})
    F0, F1 = adaptive_first_order_terms(*_derivatives(loss), b1, b2, eps, eps_inside=eps_inside)
    return F0 + h * F1


def rmsprop_first_order_field(loss, rho, eps, h, *, eps_inside=False) -> sp.Matrix:
    r"""The modified field :math:`F_0 + hF_1` of RMSProp (:math:`s \leftarrow \rho s + (1-\rho)g^2`,
    :math:`x \leftarrow x - hg/(\sqrt s + \epsilon)`): Adam's with :math:`\beta_1 = 0,\ \beta_2 = \rho`.

    >>> from analytic.loss import parse_loss
    >>> loss = parse_loss("x**2/2", "x")
    >>> F = rmsprop_first_order_field(loss, 0, "1/10", "h")
    >>> F[0].subs(loss.variables[0], 1)   # rho = 0: sign-like descent, F1 = -(1/2)(DF0)F0
    -50*h/1331 - 10/11
    """
    _check_loss(loss)
    rho = _hyper("rho", rho, unit=True)
    return adam_first_order_field(loss, 0, rho, eps, h, eps_inside=eps_inside)


def one_norm_potential(loss, eps, *, eps_inside=False) -> sp.Expr:
    r"""The potential :math:`N` with :math:`\nabla N = H\phi`: the paper's perturbed one-norm
    :math:`\|\nabla E\|_{1,\epsilon} = \sum_i\sqrt{E_i^2+\epsilon}` for ``eps_inside``, else
    :math:`\sum_i |E_i| - \epsilon\log(1+|E_i|/\epsilon)`; both tend to :math:`\|\nabla E\|_1`
    as :math:`\epsilon \to 0`.

    >>> from analytic.loss import parse_loss
    >>> one_norm_potential(parse_loss("x**2/2", "x"), "eps", eps_inside=True)
    sqrt(eps + x**2)
    """
    _check_loss(loss)
    eps = _hyper("eps", eps, positive=True)
    g, _ = _derivatives(loss)
    if _flag("eps_inside", eps_inside):
        return sp.Add(*[sp.sqrt(gi ** 2 + eps) for gi in g])
    return sp.Add(*[sp.Abs(gi) - eps * sp.log(1 + sp.Abs(gi) / eps) for gi in g])


def one_norm_coefficient(b1, b2) -> sp.Expr:
    r""":math:`\lambda = \beta_1/(1-\beta_1) - \beta_2/(1-\beta_2)`, the coefficient of
    :math:`hN` in the modified loss :math:`E + h\lambda N` (RMSProp: :math:`\beta_1 = 0`).

    >>> one_norm_coefficient("9/10", "999/1000")       # the defaults anti-penalize: -990 h
    -990
    """
    b1, b2 = _decays(b1, b2)
    return b1 / (1 - b1) - b2 / (1 - b2)


def penalizes_one_norm(b1, b2):
    r"""When the one-norm term is a penalty (:math:`\lambda > 0`): :math:`\beta_1 > \beta_2`, a
    SymPy relation (``true``/``false`` for numbers), since
    :math:`\lambda = (\beta_1-\beta_2)/((1-\beta_1)(1-\beta_2))`; it is zero iff
    :math:`\beta_1 = \beta_2` and an anti-penalty iff :math:`\beta_2 > \beta_1`.

    >>> penalizes_one_norm("b1", "b2"), penalizes_one_norm("9/10", "999/1000")
    (b1 > b2, False)
    """
    b1, b2 = _decays(b1, b2)
    return sp.Gt(b1, b2)


@dataclass(frozen=True)
class AdaptiveModifiedLoss:
    r"""The order-1 field as :math:`-P\nabla\tilde E + r`: ``preconditioner`` the column of
    :math:`1/D_i`, ``modified_loss`` :math:`\tilde E = E + h\lambda N`, ``coefficient``
    :math:`\lambda`, ``potential`` :math:`N`, ``remainder`` :math:`r = -hc\,(DF_0)F_0`."""

    preconditioner: sp.Matrix
    modified_loss: sp.Expr
    coefficient: sp.Expr
    potential: sp.Expr
    remainder: sp.Matrix
    variables: tuple

    def field(self) -> sp.Matrix:
        """:math:`-P\\nabla\\tilde E + r`, equal to :func:`adam_first_order_field` (the gradient
        of :math:`N` is differentiated here, not taken from the closed form)."""
        grad = sp.Matrix([sp.diff(self.modified_loss, v) for v in self.variables])
        return sp.Matrix([-p * q for p, q in zip(self.preconditioner, grad)]) + self.remainder


def adam_modified_loss(loss, b1, b2, eps, h, *, eps_inside=False) -> AdaptiveModifiedLoss:
    r"""Adam's order-1 field split into the preconditioned gradient of :math:`E + h\lambda N`
    and the remainder :math:`-h\frac{1+\beta_2}{2(1-\beta_2)}(DF_0)F_0` (module docstring).

    >>> from analytic.loss import parse_loss
    >>> m = adam_modified_loss(parse_loss("x**2/2", "x"), 0, "b2", "eps", "h", eps_inside=True)
    >>> m.modified_loss
    -b2*h*sqrt(eps + x**2)/(1 - b2) + x**2/2
    """
    _check_loss(loss)
    b1, b2 = _decays(b1, b2)
    eps = _hyper("eps", eps, positive=True)
    h = _step(h, {"b1": b1, "b2": b2, "eps": eps})
    _flag("eps_inside", eps_inside)
    g, H = _derivatives(loss)
    D, phi, sigma = _parts(list(g), eps, eps_inside)
    Hphi = H * sp.Matrix(phi)
    lam, c = one_norm_coefficient(b1, b2), (1 + b2) / (2 * (1 - b2))
    N = one_norm_potential(loss, eps, eps_inside=eps_inside)
    remainder = sp.Matrix([-h * c * (1 - sigma[i]) / D[i] * Hphi[i] for i in range(len(D))])
    return AdaptiveModifiedLoss(sp.Matrix([1 / d for d in D]), loss.concrete + h * lam * N, lam, N,
                                remainder, tuple(loss.variables))
