"""Result objects: an expression together with the derivation that produced it.

Everything :mod:`analytic` returns is a :class:`Result` (or a small subclass).
A result carries

* ``expr`` — the SymPy object (expression, Matrix, tuple, relation...);
* ``steps`` — a tuple of :class:`Step`, each an equation with a one-line
  justification;
* ``quantity`` — a short machine name (``"grad-norm"``, ``"modified-loss"``...);
* ``lhs`` — LaTeX of the left-hand side written with the placeholder macros of
  :mod:`analytic.latex`, e.g. ``r"\\|\\IRgrad\\|^2"``.

It prints itself in Jupyter through ``_repr_latex_`` and inside other SymPy
LaTeX through ``_latex``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import sympy as sp

from .errors import InputError
from .latex import DEFAULT_NOTATION, Notation, to_latex

__all__ = ["Step", "Result"]


_TEXT_ESCAPES = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "^": r"\^{}", "~": r"\~{}"}


def _text(why: str) -> str:
    r"""Escape a justification for ``\text{...}``; ``$...$`` pieces stay math.

    >>> _text("b = u^T y, 5% of x_1 and $x_1^2$")
    'b = u\\^{}T y, 5\\% of x\\_1 and $x_1^2$'
    """
    parts = why.split("$")
    if len(parts) % 2 == 0:          # unbalanced '$': treat everything as text
        parts = [why.replace("$", r"\$")]
    out = []
    for i, part in enumerate(parts):
        out.append(part if i % 2 else "".join(_TEXT_ESCAPES.get(c, c) for c in part))
    return "$".join(out)


@dataclass(frozen=True)
class Step:
    r"""One step of a derivation: ``lhs = rhs`` and why.

    ``lhs`` is LaTeX (placeholders allowed); ``rhs`` is a SymPy object or a
    LaTeX string.

    >>> x = sp.Symbol("x")
    >>> Step(r"\IRgrad", 2*x, "differentiate").latex()
    '{\\nabla E} &= 2 x && \\text{differentiate}'
    """

    lhs: str
    rhs: Any
    why: str
    relation: str = "="

    def __post_init__(self):
        if not isinstance(self.lhs, str):
            raise InputError("lhs", self.lhs, "must be a LaTeX string")
        if not isinstance(self.why, str) or not self.why.strip():
            raise InputError("why", self.why, "every step needs a one-line justification")

    def latex(self, notation: Notation | None = None) -> str:
        notation = notation or DEFAULT_NOTATION
        rel = {"=": "=", "<=": r"\le", ">=": r"\ge", "<": "<", ">": ">",
               "iff": r"\iff", "approx": r"\approx", ":": ":"}.get(self.relation, self.relation)
        why = _text(self.why)
        return f"{notation.apply(self.lhs)} &{rel} {to_latex(self.rhs, notation)} && \\text{{{why}}}"

    def to_dict(self) -> dict:
        return {"lhs": self.lhs, "rhs": str(self.rhs), "why": self.why, "relation": self.relation}


@dataclass(frozen=True)
class Result:
    r"""A derived quantity with its derivation.

    >>> x = sp.Symbol("x")
    >>> r = Result("square", x**2, (Step("f", x**2, "definition"),), lhs="f")
    >>> r.latex()
    'f = x^{2}'
    >>> print(r.derivation_latex())
    \begin{align}
    f &= x^{2} && \text{definition}
    \end{align}
    """

    quantity: str
    expr: Any
    steps: tuple = ()
    lhs: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.quantity, str) or not self.quantity:
            raise InputError("quantity", self.quantity, "must be a non-empty string")
        steps = tuple(self.steps)
        for s in steps:
            if not isinstance(s, Step):
                raise InputError("steps", s, "every step must be a Step")
        object.__setattr__(self, "steps", steps)

    # -- LaTeX -------------------------------------------------------------
    def latex(self, notation: Notation | None = None) -> str:
        """LaTeX of the result itself: ``lhs = expr`` (or just ``expr``)."""
        notation = notation or DEFAULT_NOTATION
        body = to_latex(self.expr, notation)
        if self.lhs:
            return f"{notation.apply(self.lhs)} = {body}"
        return body

    def derivation_latex(self, notation: Notation | None = None) -> str:
        """The derivation as an ``align`` block, one line per step."""
        notation = notation or DEFAULT_NOTATION
        if not self.steps:
            return "\\begin{align}\n" + self.latex(notation).replace(" = ", " &= ", 1) + "\n\\end{align}"
        lines = [s.latex(notation) for s in self.steps]
        return "\\begin{align}\n" + " \\\\\n".join(lines) + "\n\\end{align}"

    def _latex(self, printer=None) -> str:
        return self.latex()

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    def __str__(self) -> str:
        return f"{self.quantity}: {self.expr}"

    # -- export ------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "quantity": self.quantity,
            "result": str(self.expr),
            "latex": self.latex(),
            "steps": [s.to_dict() for s in self.steps],
        }
