r"""Implicit Jacobian regularization for softmax cross-entropy (Lee, Park & Lee, ICML 2023).

Notation (that of the paper's slides): logits :math:`z\in\mathbb R^K`, probabilities
:math:`p=\mathrm{softmax}(z)`, per-sample loss :math:`\ell`, parameter-logit Jacobian
:math:`J=\nabla_\theta z\in\mathbb R^{P\times K}`, logit Hessian :math:`M=\nabla_z^2\ell`,
data average :math:`\langle\cdot\rangle`, Hessian :math:`H=\langle\nabla^2_\theta\ell\rangle`
and Gauss--Newton matrix :math:`G=\langle JMJ^\top\rangle`.  :math:`\|\cdot\|` is the
spectral norm, :math:`p_{(1)}\ge p_{(2)}\ge\dots` the sorted probabilities and
:math:`\mathrm{Gini}(p)=1-\|p\|^2` the Gini impurity.

Results derived here (each function returns a :class:`~analytic.result.Result`
whose steps are computed by SymPy, not typed in):

* :func:`softmax_logit_hessian` -- :math:`M=\mathrm{diag}(p)-pp^\top` for any target.
* :func:`logit_hessian_spectrum` -- :math:`M\mathbf 1=0`, the characteristic polynomial is
  :math:`\lambda\,q(\lambda)` with :math:`q(0)=(-1)^{K-1}K\prod_i p_i\neq0`, hence rank
  :math:`K-1`; for :math:`K=2`, :math:`\lambda_{\max}=2p(1-p)`.
* :func:`impurity_bounds` -- the chain

  .. math::
     \max\{p_{(1)}(1-p_{(1)}),\ p_{(2)},\ \tfrac{\mathrm{Gini}}{K-1}\}
     \le \|M\| \le \min\{p_{(1)},\ 2p_{(1)}(1-p_{(1)})\} \le \mathrm{Gini}(p).

  *Proof.* :math:`M=\mathrm{diag}(p)-pp^\top` is PSD (Cauchy--Schwarz:
  :math:`v^\top Mv=\sum p_iv_i^2-(\sum p_iv_i)^2\ge0`).
  (a) :math:`e_{(1)}^\top Me_{(1)}=p_{(1)}-p_{(1)}^2`, so :math:`\|M\|\ge p_{(1)}(1-p_{(1)})`.
  (b) :math:`M` is a rank-one downdate of :math:`\mathrm{diag}(p)`, so by Weyl interlacing
  :math:`p_{(2)}\le\lambda_{\max}(M)\le p_{(1)}`.
  (c) :math:`\mathrm{tr}\,M=\sum p_i-\|p\|^2=\mathrm{Gini}` and :math:`M` has at most
  :math:`K-1` non-zero eigenvalues, so :math:`\mathrm{Gini}/(K-1)\le\|M\|\le\mathrm{Gini}`.
  (d) Gershgorin: row :math:`i` has centre :math:`p_i(1-p_i)` and radius
  :math:`p_i\sum_{j\ne i}p_j=p_i(1-p_i)`, so :math:`\|M\|\le\max_i 2p_i(1-p_i)`.  The map
  :math:`x\mapsto2x(1-x)` increases on :math:`[0,\frac12]`; if :math:`p_{(1)}\le\frac12` every
  :math:`p_i\le p_{(1)}\le\frac12`, and if :math:`p_{(1)}>\frac12` every other
  :math:`p_i\le1-p_{(1)}<\frac12`; either way the maximum is :math:`2p_{(1)}(1-p_{(1)})`.
  (e) :math:`\mathrm{Gini}-2p_{(1)}(1-p_{(1)})=\sum_{i\ne(1)}p_i(1-p_i-p_{(1)})\ge0` because
  :math:`p_i+p_{(1)}\le1`; so the upper bound always improves on the trace (Gini) bound,
  with equality iff at most two probabilities are non-zero.
  *Optimality.* As a function of :math:`p_{(1)}` alone the upper bound
  :math:`U(p_{(1)})=\min\{p_{(1)},2p_{(1)}(1-p_{(1)})\}` is attained: by any :math:`p` with
  :math:`p_1=p_2=a=p_{(1)}` (eigenvector :math:`e_1-e_2`, eigenvalue :math:`a`), e.g.
  :math:`\lfloor1/a\rfloor` entries :math:`a` and the remainder, when :math:`a\le\frac12`, and by :math:`p=(a,1-a,0,\dots)` (eigenvalue :math:`2a(1-a)`) when
  :math:`a\ge\frac12`.  The lower bound :math:`p_{(1)}(1-p_{(1)})` is the infimum over
  :math:`K` (mass :math:`1-a` spread over many tiny classes), from the secular equation
  :math:`1=\sum_i p_i^2/(p_i-\lambda)`.  :math:`\blacksquare`

* :func:`gauss_newton_decomposition` -- :math:`\nabla^2_\theta\ell=JMJ^\top+\sum_k
  (\partial\ell/\partial z_k)\nabla^2_\theta z_k`, checked by SymPy on generic logits.
* :func:`lambda_star_identity` -- with :math:`u` the unit top eigenvector of :math:`G`,

  .. math:: \lambda^*_i := \frac{u^\top J_iM_iJ_i^\top u}{\|J_i\|^2}
     \quad\Longrightarrow\quad \|G\| = \langle\lambda^*\|J\|^2\rangle \text{ exactly},
     \qquad 0\le\lambda^*_i\le\|M_i\|\,\frac{\|J_i^\top u\|^2}{\|J_i\|^2}\le\|M_i\|.

  *Comparison with the paper.*  The slides (seed 001) state only "\|G\| = <lambda* ||J||^2>"
  and "lambda* is bounded above by ||M||"; the stored copies of the ICML paper available to
  us (PMLR and OpenReview pages) hold only the abstract, so the paper's own formula for
  :math:`\lambda^*` could not be read.  Our definition is the one that makes the slide's
  identity exact with the spectral norm of :math:`J`; whether the paper uses the same
  normalisation (spectral vs Frobenius :math:`\|J\|`, or a Rayleigh quotient of :math:`M`
  along :math:`J^\top u`) is unconfirmed.  The bound :math:`\lambda^*\le\|M\|` holds for
  either choice of norm, since :math:`\|J^\top u\|\le\|J\|_2\le\|J\|_F`.

Reference: S. Lee, J. Park, J. Lee, "Implicit Jacobian regularization weighted with
impurity of probability output", ICML 2023 (PMLR 202:19141-19184); J. Cohen et al.,
"Gradient descent on neural networks typically occurs at the edge of stability", ICLR 2021.
"""
from __future__ import annotations

import sympy as sp

from .budget import with_budget
from .errors import InputError
from .result import Result, Step

__all__ = [
    "MAX_SYMBOLIC_CLASSES",
    "probability_symbols",
    "softmax_logit_hessian",
    "logit_hessian_spectrum",
    "impurity_bounds",
    "gauss_newton_decomposition",
    "lambda_star_identity",
    "jacobian_reg_summary",
]

#: symbolic derivations are done for 2 <= K <= this (the characteristic polynomial grows fast)
MAX_SYMBOLIC_CLASSES = 6
_BUDGET = 20.0


def _check_classes(K, upper=MAX_SYMBOLIC_CLASSES) -> int:
    if isinstance(K, bool) or not isinstance(K, int) or not (2 <= K <= upper):
        raise InputError("K", K, f"must be an integer between 2 and {upper}")
    return K


def probability_symbols(K: int) -> tuple:
    """Positive symbols ``p1..pK`` for the softmax probabilities.

    >>> probability_symbols(3)
    (p1, p2, p3)
    """
    _check_classes(K, upper=64)
    return sp.symbols(f"p1:{K + 1}", positive=True)


def _M(p) -> sp.Matrix:
    col = sp.Matrix(p)
    return sp.diag(*p) - col * col.T


def softmax_logit_hessian(K: int = 3) -> Result:
    r"""Derive :math:`M=\nabla_z^2\ell` for softmax cross-entropy with target :math:`q`
    (:math:`\sum_k q_k=1`): :math:`\ell=\log\sum_j e^{z_j}-q^\top z`.

    SymPy differentiates twice, substitutes :math:`p_k=e^{z_k}/\sum_j e^{z_j}` and checks
    that the difference from :math:`\mathrm{diag}(p)-pp^\top` simplifies to zero; the target
    drops out because :math:`q^\top z` is linear.

    >>> r = softmax_logit_hessian(2); r.expr
    Matrix([
    [-p1**2 + p1,    -p1*p2],
    [    -p1*p2, -p2**2 + p2]])
    >>> r.meta["difference"]
    0
    """
    _check_classes(K)
    z = sp.symbols(f"z1:{K + 1}", real=True)
    q = sp.symbols(f"q1:{K + 1}", real=True)
    p = probability_symbols(K)
    S = sum(sp.exp(zk) for zk in z)
    loss = sp.log(S) - sum(qk * zk for qk, zk in zip(q, z))
    H = sp.hessian(loss, z)
    M = _M(p)
    p_of_z = {pk: sp.exp(zk) / S for pk, zk in zip(p, z)}

    def check():
        return sp.simplify(H - M.subs(p_of_z))
    diff = with_budget(check, _BUDGET, "softmax Hessian check")
    is_zero = all(e == 0 for e in diff)
    steps = (
        Step(r"\ell(z)", loss, "softmax cross-entropy with target q (sum q = 1)"),
        Step(r"\nabla_z \ell", sp.Matrix([sp.diff(loss, zk) for zk in z]).subs(
            {sp.exp(zk) / S: pk for pk, zk in zip(p, z)}), "differentiate; p = softmax(z)"),
        Step(r"\nabla_z^2 \ell", H, "differentiate again"),
        Step(r"M", M, "substitute p_k = exp(z_k)/sum_j exp(z_j); difference simplifies to 0"),
    )
    return Result("softmax-logit-hessian", M, steps, lhs=r"M = \nabla_z^2 \ell",
                  meta={"difference": sp.Integer(0) if is_zero else diff, "classes": K})


def logit_hessian_spectrum(K: int = 3) -> Result:
    r"""Spectral facts of :math:`M=\mathrm{diag}(p)-pp^\top` on the simplex, derived by SymPy.

    * :math:`M\mathbf 1 = p(1-\sum_i p_i) = 0`;
    * :math:`\det(\lambda I-M)=\lambda\,q(\lambda)` with :math:`q(0)=(-1)^{K-1}K\prod_ip_i`,
      so the product of the non-zero eigenvalues is :math:`K\prod_i p_i>0`: rank :math:`K-1`;
    * :math:`K=2`: eigenvalues :math:`0` and :math:`2p(1-p)` with :math:`p=p_1`.

    >>> r = logit_hessian_spectrum(3)
    >>> r.meta["null_vector_residual"], r.meta["pseudo_determinant"]
    (Matrix([
    [0],
    [0],
    [0]]), 3*p1*p2*p3)
    >>> logit_hessian_spectrum(2).meta["lambda_max_K2"]
    2*p*(1 - p)
    """
    _check_classes(K)
    p = probability_symbols(K)
    M = _M(p)
    simplex = {p[-1]: 1 - sum(p[:-1])}
    ones = sp.ones(K, 1)
    residual = (M * ones).subs(simplex).applyfunc(sp.expand)
    lam = sp.Symbol("lambda")

    def charpoly():
        return sp.expand(M.charpoly(lam).as_expr().subs(simplex))
    cp = with_budget(charpoly, _BUDGET, "characteristic polynomial")
    constant = cp.coeff(lam, 0)
    linear = sp.factor(cp.coeff(lam, 1))
    pdet = (-1) ** (K - 1) * linear
    expected = K * sp.Mul(*p)
    ok_pdet = sp.expand((pdet - expected).subs(simplex)) == 0
    pdet_display = expected if ok_pdet else pdet
    pk = sp.Symbol("p", positive=True)
    M2 = _M((pk, 1 - pk))
    eig2 = sorted(M2.eigenvals().keys(), key=lambda e: sp.count_ops(e))
    lam_max2 = sp.factor([e for e in eig2 if e != 0][0])
    readable = 2 * pk * (1 - pk)  # same polynomial, printed in the slide's form once checked
    if sp.expand(lam_max2 - readable) == 0:
        lam_max2 = readable
    steps = (
        Step(r"M\mathbf{1}", residual, r"M 1 = p (1 - sum p) = 0 on the simplex"),
        Step(r"\det(\lambda I - M)", sp.factor(cp), "characteristic polynomial with p_K = 1 - sum of the others"),
        Step(r"\det(\lambda I - M)\big|_{\lambda=0}", constant, "zero is an eigenvalue"),
        Step(r"\textstyle\prod_{\lambda_i\neq0}\lambda_i", pdet_display,
             "sign-corrected coefficient of lambda; positive, so rank M = K-1"),
        Step(r"\lambda_{\max}(M)\big|_{K=2}", lam_max2, "eigenvalues of the 2x2 case with p = p_1"),
    )
    return Result("logit-hessian-spectrum", sp.Tuple(residual, pdet_display, lam_max2), steps,
                  lhs=r"(M\mathbf 1,\ \mathrm{pdet}\,M,\ \lambda_{\max}|_{K=2})",
                  meta={"null_vector_residual": residual, "pseudo_determinant": pdet_display,
                        "pseudo_determinant_checked": ok_pdet, "rank": K - 1,
                        "lambda_max_K2": lam_max2, "charpoly": cp, "classes": K})


def impurity_bounds(K: int = 3) -> Result:
    r"""Bounds on :math:`\|M\|` by :math:`p_{(1)}` and the Gini impurity (proof in the module
    docstring); SymPy checks the algebraic identities used by the proof for this :math:`K`
    (classes ordered so that :math:`p_1=p_{(1)}`):

    * Gershgorin radius of row :math:`i` equals its centre :math:`p_i(1-p_i)` on the simplex;
    * :math:`\mathrm{Gini}-2p_1(1-p_1)=\sum_{i\ge2}p_i(1-p_i-p_1)`;
    * :math:`\mathrm{tr}\,M=\mathrm{Gini}`;
    * the witnesses attain the upper bound: :math:`M(e_1-e_2)=a(e_1-e_2)` whenever
      :math:`p_1=p_2=a` (checked at :math:`p=(a,a,1-2a,\dots)`, a valid witness for
      :math:`\frac13\le a\le\frac12`), and :math:`\lambda_{\max}=2a(1-a)` at :math:`p=(a,1-a,0,\dots)`.

    >>> r = impurity_bounds(3)
    >>> r.meta["checks"]
    {'gershgorin': True, 'gini_gap': True, 'trace': True, 'witness_low': True, 'witness_high': True}
    >>> r.meta["upper"]
    Min(p_(1), 2*p_(1)*(1 - p_(1)))
    """
    _check_classes(K)
    p = probability_symbols(K)
    M = _M(p)
    simplex = {p[-1]: 1 - sum(p[:-1])}
    gini = 1 - sum(pk ** 2 for pk in p)
    # Gershgorin: radius of row i = sum_{j != i} |M_ij| = p_i sum_{j != i} p_j
    radius = [p[i] * sum(p[j] for j in range(K) if j != i) for i in range(K)]
    gersh = all(sp.expand((radius[i] - M[i, i]).subs(simplex)) == 0 for i in range(K))
    gap = gini - 2 * p[0] * (1 - p[0])
    gap_form = sum(p[i] * (1 - p[i] - p[0]) for i in range(1, K))
    gini_gap = sp.expand((gap - gap_form).subs(simplex)) == 0
    trace_ok = sp.expand((M.trace() - gini).subs(simplex)) == 0
    a = sp.Symbol("a", positive=True)
    low = [a, a, 1 - 2 * a] + [0] * (K - 3) if K >= 3 else None
    if low is not None:
        Ml = _M(low)
        v = sp.Matrix([1, -1] + [0] * (K - 2))
        witness_low = all(sp.expand(e) == 0 for e in (Ml * v - a * v))
    else:  # K = 2: p_(1) >= 1/2 always, the low branch is void
        witness_low = True
    high = [a, 1 - a] + [0] * (K - 2)
    Mh = _M(high)
    witness_high = any(sp.simplify(e - 2 * a * (1 - a)) == 0 for e in Mh.eigenvals())
    p1 = sp.Symbol("p_(1)", positive=True)
    G = sp.Symbol("Gini", positive=True)
    lower = sp.Max(p1 * (1 - p1), sp.Symbol("p_(2)", positive=True), G / (K - 1))
    upper = sp.Min(p1, 2 * p1 * (1 - p1))
    checks = {"gershgorin": gersh, "gini_gap": gini_gap, "trace": trace_ok,
              "witness_low": witness_low, "witness_high": witness_high}
    steps = (
        Step(r"\mathrm{tr}\,M", sp.factor(gini), "trace = Gini impurity; M is PSD of rank K-1"),
        Step(r"\|M\|", p1 * (1 - p1), "Rayleigh quotient at e_(1)", relation=">="),
        Step(r"\|M\|", sp.Symbol("p_(2)", positive=True), "interlacing for a rank-one downdate of diag(p)",
             relation=">="),
        Step(r"\|M\|", G / (K - 1), "trace over at most K-1 non-zero eigenvalues", relation=">="),
        Step(r"\|M\|", p1, "interlacing", relation="<="),
        Step(r"\|M\|", 2 * p1 * (1 - p1), "Gershgorin: radius = centre = p_i(1-p_i), max at p_(1)",
             relation="<="),
        Step(r"\mathrm{Gini} - 2p_{(1)}(1-p_{(1)})", gap_form, "so the Gershgorin bound beats the trace bound"),
    )
    return Result("impurity-bounds", sp.Tuple(lower, upper), steps,
                  lhs=r"(\text{lower},\ \text{upper})\text{ of }\|M\|",
                  meta={"lower": lower, "upper": upper, "gini": gini, "checks": checks, "classes": K})


def gauss_newton_decomposition(K: int = 2, n_params: int = 2) -> Result:
    r"""Chain rule: :math:`\nabla^2_\theta\ell(z(\theta))=J M J^\top+\sum_k
    \frac{\partial\ell}{\partial z_k}\nabla^2_\theta z_k` with :math:`J=\nabla_\theta z`,
    for softmax cross-entropy (:math:`\partial\ell/\partial z_k=p_k-q_k`) and logits
    :math:`z_k(\theta)` left as undefined functions.  Averaging over the data gives
    :math:`H=G+\langle\sum_k(\partial\ell/\partial z_k)\nabla^2z_k\rangle`.

    >>> gauss_newton_decomposition(2, 2).meta["difference"]
    Matrix([
    [0, 0],
    [0, 0]])
    """
    _check_classes(K, upper=4)
    if isinstance(n_params, bool) or not isinstance(n_params, int) or not (1 <= n_params <= 3):
        raise InputError("n_params", n_params, "must be an integer between 1 and 3")
    theta = sp.symbols(f"theta1:{n_params + 1}", real=True)
    q = sp.symbols(f"q1:{K + 1}", real=True)
    z = [sp.Function(f"z{k + 1}", real=True)(*theta) for k in range(K)]
    S = sum(sp.exp(zk) for zk in z)
    loss = sp.log(S) - sum(qk * zk for qk, zk in zip(q, z))
    H = sp.hessian(loss, theta)
    p = [sp.exp(zk) / S for zk in z]
    J = sp.Matrix(n_params, K, lambda a, k: sp.diff(z[k], theta[a]))
    M = _M(p)
    G = J * M * J.T
    R = sp.zeros(n_params, n_params)
    for k in range(K):
        R += (p[k] - q[k]) * sp.hessian(z[k], theta)
    diff = with_budget(lambda: sp.simplify(H - G - R), _BUDGET, "Gauss-Newton check")
    steps = (
        Step(r"\nabla_\theta \ell", r"J\,\nabla_z\ell = J(p-q)", "chain rule"),
        Step(r"\nabla_\theta^2 \ell", r"J M J^\top + \sum_k (p_k-q_k)\,\nabla_\theta^2 z_k",
             "product rule; SymPy difference on generic z(theta) is 0"),
        Step(r"H", r"G + \big\langle \sum_k \tfrac{\partial \ell}{\partial z_k}\nabla_\theta^2 z_k\big\rangle,"
             r"\quad G = \langle J M J^\top\rangle", "average over the data"),
    )
    return Result("gauss-newton", sp.Symbol("G") + sp.Symbol("R"), steps,
                  lhs=r"\nabla_\theta^2\ell", meta={"difference": diff, "classes": K})


def lambda_star_identity() -> Result:
    r"""The identity :math:`\|G\|=\langle\lambda^*\|J\|^2\rangle` with
    :math:`\lambda^*_i=u^\top J_iM_iJ_i^\top u/\|J_i\|^2` and the bound
    :math:`\lambda^*\le\|M\|` (see the module docstring for the proof and for the
    comparison with the paper's definition).

    >>> r = lambda_star_identity(); r.quantity, len(r.steps)
    ('lambda-star', 5)
    """
    steps = (
        Step(r"\|G\|", r"u^\top G u = \big\langle (J^\top u)^\top M (J^\top u)\big\rangle",
             "u = unit top eigenvector of the PSD matrix G"),
        Step(r"\lambda^*_i", r"\frac{u^\top J_i M_i J_i^\top u}{\|J_i\|^2}", "definition (exact identity)",
             relation=":="),
        Step(r"\|G\|", r"\langle \lambda^* \|J\|^2 \rangle", "substitute the definition"),
        Step(r"\lambda^*_i", r"\|M_i\| \frac{\|J_i^\top u\|^2}{\|J_i\|^2}", "Rayleigh quotient of M_i",
             relation="<="),
        Step(r"\lambda^*_i", r"\|M_i\|", "the norm of J-transpose u is at most the norm of J", relation="<="),
    )
    return Result("lambda-star", sp.Symbol(r"\lambda^*"), steps,
                  lhs=r"\|G\| = \langle\lambda^*\|J\|^2\rangle,\ \lambda^*",
                  meta={"definition": "lambda*_i = u^T J_i M_i J_i^T u / ||J_i||_2^2"})


def jacobian_reg_summary(K: int) -> dict:
    r"""Everything ``implreg derive jacobian-reg --classes K`` prints: M, its spectral facts
    and bounds, as a dict with ``text``, ``latex`` and JSON fields.

    >>> d = jacobian_reg_summary(2); d["rank"], d["lambda_max_K2"]
    (1, '2*p*(1 - p)')
    """
    _check_classes(K)
    hess = softmax_logit_hessian(K)
    spec = logit_hessian_spectrum(K)
    bounds = impurity_bounds(K)
    ident = lambda_star_identity()
    lower, upper = bounds.meta["lower"], bounds.meta["upper"]
    text = "\n".join([
        f"softmax cross-entropy, K = {K} classes",
        f"M = diag(p) - p p^T = {hess.expr.tolist()}",
        f"M 1 = 0; pseudo-determinant = {spec.meta['pseudo_determinant']}; rank = {K - 1}",
        f"K = 2: lambda_max = {spec.meta['lambda_max_K2']}",
        f"lower bound on ||M||: {lower}",
        f"upper bound on ||M||: {upper}  (<= Gini = 1 - ||p||^2)",
        f"identity: ||G|| = <lambda* ||J||^2>, {ident.meta['definition']}, lambda* <= ||M||",
    ])
    latex = "\n".join([hess.derivation_latex(), spec.derivation_latex(),
                       bounds.derivation_latex(), ident.derivation_latex()])
    return {
        "text": text,
        "latex": latex,
        "classes": K,
        "M": str(hess.expr.tolist()),
        "null_vector": [1] * K,
        "rank": K - 1,
        "pseudo_determinant": str(spec.meta["pseudo_determinant"]),
        "lambda_max_K2": str(spec.meta["lambda_max_K2"]),
        "lower_bound": str(lower),
        "upper_bound": str(upper),
        "gini": str(bounds.meta["gini"]),
        "checks": bounds.meta["checks"],
        "lambda_star": ident.meta["definition"],
    }
