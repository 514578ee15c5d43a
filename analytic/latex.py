"""One notation table for every piece of LaTeX that implreg writes.

Templates inside implreg write the loss, the step size, the gradient and the
Hessian through the placeholder macros ``\\IRloss``, ``\\IRstep``, ``\\IRgrad``
and ``\\IRhess`` (and ``\\IRthird`` for the third derivative).  A
:class:`Notation` replaces them by the names of the user's own paper; symbols
inside SymPy expressions (the step size ``h``, momentum ``beta``...) are
renamed through SymPy's printer.  Renaming therefore changes only names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

import sympy as sp

__all__ = ["Notation", "DEFAULT_NOTATION", "to_latex", "PLACEHOLDERS"]

PLACEHOLDERS = ("IRloss", "IRstep", "IRgrad", "IRhess", "IRthird")


@dataclass(frozen=True)
class Notation:
    r"""Names used in the LaTeX output.

    >>> n = Notation(step=r"\eta", loss="L")
    >>> n.apply(r"\IRloss + \frac{\IRstep}{4}\|\IRgrad\|^2")
    '{L} + \\frac{{\\eta}}{4}\\|{\\nabla L}\\|^2'
    """

    loss: str = "E"
    step: str | None = None       # defaults to the LaTeX of the symbol ``step_symbol``
    grad: str | None = None       # defaults to \nabla <loss>
    hess: str | None = None       # defaults to \nabla^2 <loss>
    third: str | None = None      # defaults to \nabla^3 <loss>
    symbol_names: Mapping[str, str] = field(default_factory=dict)
    step_symbol: str = "h"        # the SymPy symbol that is the step size

    def __post_init__(self):
        for name in ("loss", "step"):
            value = getattr(self, name)
            if (name == "loss" or value is not None) and (not isinstance(value, str) or not value.strip()):
                from .errors import InputError
                raise InputError(name, value, "must be a non-empty LaTeX string")

    def step_tex(self) -> str:
        r"""The step size: ``step`` if given, else the symbol ``step_symbol`` as named.

        >>> Notation().step_tex(), Notation(step_symbol="eta").step_tex(), Notation(step="a").step_tex()
        ('h', '\\eta', 'a')
        """
        if self.step is not None:
            return self.step
        if self.step_symbol in self.symbol_names:
            return self.symbol_names[self.step_symbol]
        return sp.latex(sp.Symbol(self.step_symbol))

    def with_step_symbol(self, name: str) -> "Notation":
        r"""The same names for a derivation whose step size is the symbol ``name``
        (``eta`` in the stability conditions and masks, ``h`` elsewhere).

        >>> h, eta = sp.symbols("h eta")
        >>> n = Notation(step=r"\alpha").with_step_symbol("eta")
        >>> to_latex(eta * h, n), to_latex(eta, Notation().with_step_symbol("eta"))
        ('\\alpha h', '\\eta')
        """
        from dataclasses import replace
        return replace(self, step_symbol=name)

    def table(self) -> dict[str, str]:
        return {
            "IRloss": self.loss,
            "IRstep": self.step_tex(),
            "IRgrad": self.grad or rf"\nabla {self.loss}",
            "IRhess": self.hess or rf"\nabla^2 {self.loss}",
            "IRthird": self.third or rf"\nabla^3 {self.loss}",
        }

    def apply(self, text: str) -> str:
        """Replace the placeholder macros in ``text``."""
        table = self.table()
        return re.sub(r"\\(IRloss|IRstep|IRgrad|IRhess|IRthird)(?![A-Za-z])",
                      lambda m: "{" + table[m.group(1)] + "}", text)

    def symbol_map(self) -> dict[str, str]:
        names = {"beta": r"\beta", "sigma": r"\sigma",
                 "eta": r"\eta", "lambda": r"\lambda", "lamda": r"\lambda"}
        names[self.step_symbol] = self.step_tex()
        names.update(self.symbol_names)
        return names

    def preamble(self) -> str:
        """``\\newcommand`` lines defining the placeholders (for documents)."""
        return "\n".join(rf"\newcommand{{\{k}}}{{{v}}}" for k, v in self.table().items())


DEFAULT_NOTATION = Notation()


def to_latex(obj, notation: Notation | None = None) -> str:
    r"""LaTeX of a SymPy object (or a plain LaTeX string) in the given notation.

    >>> h, x = sp.symbols("h x")
    >>> to_latex(h * x, Notation(step=r"\eta"))
    '\\eta x'
    """
    notation = notation or DEFAULT_NOTATION
    if isinstance(obj, str):
        return notation.apply(obj)
    if hasattr(obj, "latex") and not isinstance(obj, sp.Basic):
        return obj.latex(notation)
    names = {}
    free = getattr(obj, "free_symbols", set())
    table = notation.symbol_map()
    for s in free:
        if s.name in table:
            names[s] = table[s.name]
    return sp.latex(obj, symbol_names=names)
