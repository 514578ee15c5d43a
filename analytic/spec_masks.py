r"""The shrinkage mask of any linear optimizer spec, from the spec applied to one singular pair.

On least squares :math:`E(w) = \tfrac12\|y - Aw\|^2` with :math:`A = U\operatorname{diag}(s)V^\top`,
the coefficient :math:`c = v^\top w` of one singular pair sees the gradient
:math:`s^2 c - s b` (:math:`b = u^\top y`).  Running ``spec.step`` on the exact SymPy
namespace with that gradient gives an affine map :math:`z \mapsto Jz + r` of
:math:`z = (c, \text{state})`; its fixed point has :math:`c^* = b/s`.  From
:math:`w_0 = 0` and the spec's initial state, the error :math:`\delta_T = J^T\delta_0`
and the mask is

.. math::
    m_T(s) = 1 - \frac{(J^T\delta_0)_c}{(\delta_0)_c}.

:math:`(J^T\delta_0)_c` obeys the recurrence of the characteristic polynomial of
:math:`J` (Cayley--Hamilton), so with distinct roots :math:`r_i` it is
:math:`\sum_i C_i r_i^T`, the :math:`C_i` fixed by the first :math:`\deg` values.  GD,
heavy ball and Nesterov -- and any linear rule a user types -- get their masks from
this one function; gradient flow is the limit :math:`\eta = t/T`, :math:`T\to\infty` of GD.

>>> from analytic.optimizers import GD
>>> from analytic.masks import eta, s, T
>>> spec_mask(GD(eta)).expr
1 - (-h*s**2 + 1)**T

Reference: S. Lucey, "Gradient Descent as a Shrinkage Operator for Spectral Bias",
Prop. 4.1 (GD) and App. C (momentum), here derived for any linear spec.
"""
from __future__ import annotations

import sympy as sp

from .errors import InputError
from .masks import T, b, s
from .namespace import SYMPY
from .optimizers import Optimizer
from .result import Result, Step

__all__ = ["spec_mask", "linear_pair_map"]


def _leaves(state, out):
    if isinstance(state, tuple):
        return tuple(_leaves(e, out) for e in state)
    out.append(state)
    return len(out) - 1


def _rebuild(structure, values):
    if isinstance(structure, tuple):
        return tuple(_rebuild(e, values) for e in structure)
    return values[structure]


def linear_pair_map(spec: Optimizer):
    """``(J, r, z0, names)``: the spec's step on one singular pair as ``z' = J z + r``,
    ``z = (c, state...)``, with the start ``z0`` (``c = 0``, the spec's initial state)."""
    if not isinstance(spec, Optimizer):
        raise InputError("spec", spec, "must be an optimizer spec")
    if spec.sampling is not None:
        raise InputError("spec", spec, "is stochastic: its mask is an expectation, not derived here")
    c = sp.Symbol("c")
    init0 = []
    structure = _leaves(spec.init(sp.Integer(0), SYMPY), init0)
    names = [sp.Symbol(f"z_{i}") for i in range(len(init0))]
    new_state, c_new = spec.step(_rebuild(structure, names), c, lambda p: s**2 * p - s * b, SYMPY)
    out = []
    _leaves(new_state, out)
    z = [c] + names
    rows = [sp.expand(e) for e in [c_new] + out]
    J = sp.Matrix([[sp.diff(e, v) for v in z] for e in rows])
    if any(entry.has(*z) for entry in J):
        raise InputError("spec", spec, "is not linear on least squares (its step is not affine in the state)")
    r = sp.Matrix([e.subs({v: 0 for v in z}) for e in rows])
    z0 = sp.Matrix([0] + [sp.Integer(v) if isinstance(v, int) else v for v in init0])
    return J, r, z0, z


def spec_mask(spec: Optimizer) -> Result:
    r"""The mask :math:`m_T(s)` of a linear spec (see the module docstring).

    ``meta["in_roots"]`` is the mask in the roots ``r_i`` of the characteristic
    polynomial, ``meta["roots"]`` the roots, ``meta["jacobian"]`` the map :math:`J`.
    """
    J, r, z0, z = linear_pair_map(spec)
    n = J.shape[0]
    fixed = (sp.eye(n) - J).LUsolve(r)
    fixed = fixed.applyfunc(sp.simplify)
    if sp.simplify(fixed[0] - b / s) != 0:
        raise InputError("spec", spec, f"does not converge to b/s on one singular pair (fixed point {fixed[0]})")
    delta0 = z0 - fixed
    # keep only the part of the state that feeds back into c: the c-row's reachable block
    lam = sp.Symbol("lambda")
    charpoly = sp.factor(J.charpoly(lam).as_expr())
    poly = sp.Poly(J.charpoly(lam).as_expr(), lam)
    # the c-component sequence e_k = (J^k delta0)_c for k < degree fixes the C_i
    seq, v = [], delta0
    for _ in range(n):
        seq.append(sp.simplify(v[0]))
        v = J * v
    roots_sym = sp.symbols(f"r_1:{n + 1}")
    C = sp.symbols(f"C_1:{n + 1}")
    sol = sp.solve([sum(Ci * ri ** k for Ci, ri in zip(C, roots_sym)) - seq[k] for k in range(n)], C, dict=True)
    if not sol:
        raise InputError("spec", spec, "its characteristic roots are not distinct (no closed form here)")
    e_T = sum(sol[0][Ci] * ri ** T for Ci, ri in zip(C, roots_sym))
    in_roots = sp.simplify(1 - e_T / seq[0])
    roots = sp.roots(poly, multiple=True)
    if len(roots) != n:
        raise InputError("spec", spec, "its characteristic polynomial has no closed-form roots")
    # drop zero roots (states that do not feed back) only when their coefficient vanishes
    m = in_roots.subs(dict(zip(roots_sym, roots)))
    m = sp.simplify(m)
    steps = [
        Step(r"\nabla E(c)", s ** 2 * sp.Symbol("c") - s * b, "least squares on one singular pair, b = u^T y"),
        Step("z_{k+1}", sp.MatMul(J, sp.Matrix(z), evaluate=False), f"{spec.name}'s step on (c, state), "
             "read from the spec (affine part omitted)"),
        Step(r"\det(\lambda I - J)", charpoly, "characteristic polynomial"),
        Step("m(s)", in_roots, "e_T = sum_i C_i r_i^T, C_i from the first values of e_k = c_k - b/s"),
        Step("m(s)", m, "the roots inserted"),
    ]
    return Result("mask", m, tuple(steps), lhs="m(s)",
                  meta={"method": spec.name, "in_roots": in_roots, "roots": tuple(roots), "jacobian": J})
