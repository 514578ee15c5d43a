"""``derive modified-loss`` for specs with state or a typed rule: the slaved modified field.

JSON (the series path's fields, plus the manifold)::

    {"optimizer", "rule", "order", "time_scale": "1", "calculus": "local" | "concrete",
     "assumptions": [str], "small": [str],
     "terms": [{"order", "field": [str per variable], "abstract": [str] (in E_a = derivatives of E),
                "abstract_latex", "is_gradient": true | false | null, "why"}],
     "manifold": [{"order", "state": {name: [str] | str}, "abstract": {name: [str] | str}}],
     "modified_loss": str | null, "latex"}
"""
from __future__ import annotations

import sympy as sp

from analytic.errors import BudgetExceeded, InputError


def slaved_payload(args, spec, loss, order, small, label, budget):
    from analytic.latex import to_latex
    from analytic.potential import gradient_certificate, homotopy_potential
    from analytic.slaving import MAX_SLAVED_ORDER, slaved_field

    from ..document import derivation_notation
    if order > MAX_SLAVED_ORDER:
        raise InputError("--order", order, f"must be at most {MAX_SLAVED_ORDER} for a method with state or a typed rule")
    try:
        field = slaved_field(spec, loss, order, small=small, budget=max(budget, 1.0) * 30)
    except BudgetExceeded:
        raise
    except InputError as exc:
        option = "--small" if exc.argument == "small" else "--method" if args.method is not None else "--optimizer"
        raise InputError(option, args.method or args.optimizer, exc.reason) from None
    notation = derivation_notation(args, field)
    variables = loss.variables
    local = field.meta["calculus"] == "local"
    terms, potentials = [], []
    for j, t in enumerate(field.terms):
        ok, why = gradient_certificate(t, variables, budget)
        abstract = field.local_terms[j] if local else t
        terms.append({"order": j, "field": [sp.sstr(e, order="none") for e in t],
                      "abstract": [sp.sstr(e, order="none") for e in abstract],
                      "abstract_latex": notation.apply(to_latex(abstract, notation)),
                      "is_gradient": ok, "why": why})
        potentials.append(homotopy_potential(-t, variables, budget) if ok else None)
    modified = None
    if all(p is not None for p in potentials):
        total = sum((spec.h ** j * p for j, p in enumerate(potentials)), sp.Integer(0))
        grad = sp.Matrix([sp.diff(total, v) for v in variables])
        if all(sp.simplify(g + f) == 0 for g, f in zip(grad, field.expr)):          # -grad E~ is the field
            modified = total
    manifold = []
    for j, m in enumerate(field.manifold):
        shown = field.local_manifold[j] if local else m
        manifold.append({"order": j, "state": {n: _strs(v) for n, v in m.items()},
                         "abstract": {n: _strs(v) for n, v in shown.items()}})
    payload = {"optimizer": label, "rule": list(spec.lines()), "order": order, "time_scale": "1",
               "calculus": field.meta["calculus"], "assumptions": list(field.meta["assumptions"]),
               "small": list(small), "terms": terms, "manifold": manifold,
               "modified_loss": None if modified is None else sp.sstr(modified, order="none"),
               "latex": field.derivation_latex(notation)}
    payload["text"] = _text(payload)
    return payload


def _strs(v):
    return [sp.sstr(e, order="none") for e in v] if isinstance(v, sp.MatrixBase) else sp.sstr(v, order="none")


def _text(p) -> str:
    where = " (E_a: derivatives of E at x)" if p["calculus"] == "local" else ""
    lines = [f"modified field of {p['optimizer']} to order h^{p['order']}: " + "; ".join(p["rule"]),
             "assumptions: " + "; ".join(p["assumptions"])]
    for t in p["terms"]:
        lines.append(f"F_{t['order']} = {t['abstract']}{where}   [gradient: {t['is_gradient']}]")
        if p["calculus"] == "local":
            lines.append(f"    on the loss: {t['field']}")
    for m in p["manifold"]:
        for n, v in m["abstract"].items():
            lines.append(f"{n}_{m['order']} = {v}")
    if p["modified_loss"] is not None:
        lines.append(f"modified loss (F = -grad E~): E~ = {p['modified_loss']}")
    else:
        lines.append("no modified loss: some term is not (or not provably) a gradient, or its potential was not found")
    return "\n".join(lines)
