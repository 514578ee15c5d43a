r"""A derivation as a standalone LaTeX article (``implreg derive ... --document FILE.tex``).

The article gives the notation table, then every step of the Result in its
own numbered ``align`` environment, preceded by its one-line justification
(the loss, the expansion, the matching of orders, the solved terms, the
certificate, the final modified loss: whatever steps the Result carries), then
the final result.  Long formulas are split across rows by
:mod:`verify.texlayout`; the document uses only packages from
``texlive-latex-base`` and ``texlive-latex-recommended``.

All names go through one :class:`analytic.latex.Notation`, so renaming the
loss, the step size or the derivatives changes only those names.

>>> import sympy as sp
>>> from analytic.result import Result, Step
>>> x = sp.Symbol("x")
>>> r = Result("square", x**2, (Step(r"\IRloss", x**2, "the loss"),), lhs=r"\IRloss")
>>> text = document_text(r)
>>> text.startswith("\\documentclass") and text.rstrip().endswith("\\end{document}")
True
"""
from __future__ import annotations

from pathlib import Path

from analytic.latex import DEFAULT_NOTATION, Notation

from .texlayout import LAYOUT_MARK, escape_text, expression_rows, fit_align_block, preamble, step_block
from .atomic import atomic_write_text

__all__ = ["document_text", "write_document", "notation_table", "notation_from_option"]


def notation_table(notation: Notation | None = None) -> str:
    r"""A ``booktabs`` table listing the names used.

    >>> "step size" in notation_table(Notation(step=r"\eta"))
    True
    """
    t = (notation or DEFAULT_NOTATION).table()
    rows = [("loss", t["IRloss"]), ("step size", t["IRstep"]), ("gradient", t["IRgrad"]),
            ("Hessian", t["IRhess"]), ("third derivative", t["IRthird"])]
    body = " \\\\\n".join(f"{name} & ${value}$" for name, value in rows)
    return ("\\begin{center}\n\\begin{tabular}{ll}\n\\toprule\nquantity & symbol \\\\\n\\midrule\n"
            + body + " \\\\\n\\bottomrule\n\\end{tabular}\n\\end{center}")


def _final_block(result, notation) -> str:
    lhs = notation.apply(result.lhs) if getattr(result, "lhs", "") else ""
    expr = result.expr
    if isinstance(expr, tuple):
        rows = []
        for e in expr:
            if hasattr(e, "lhs") and hasattr(e, "rhs"):
                from analytic.latex import to_latex
                parts = expression_rows(e.rhs, notation)
                rows.append(rf"{to_latex(e.lhs, notation)} &= \IRfit{{{parts[0]}}}")
                rows += [rf"&\quad \IRfit{{{{}}{p}}} \notag" for p in parts[1:]]
            else:
                rows.append(rf"&\IRfit{{{expression_rows(e, notation)[0]}}}")
    else:
        from analytic.result import Step
        return step_block(Step(lhs or result.quantity, expr, "result"), notation).split("\n", 1)[1]
    return "\\begin{align}\n" + " \\\\\n".join(rows) + "\n\\end{align}"


def document_text(result, notation: Notation | None = None, title: str | None = None) -> str:
    """The LaTeX source of the standalone article for ``result``.

    ``result`` is a :class:`analytic.result.Result` or the dict a derive
    plugin returns (its ``derivation_latex`` or ``latex`` is typeset).
    """
    notation = notation or DEFAULT_NOTATION
    if isinstance(result, dict):
        quantity = str(result.get("quantity", "result"))
        title = title or f"Derivation of {quantity}"
        latex = result.get("derivation_latex") or result.get("latex") or ""
        body = fit_align_block(notation.apply(latex))
        final = ""
    else:
        quantity = result.quantity
        title = title or f"Derivation of {quantity}"
        blocks = [step_block(s, notation, number=i + 1, numbered=True) for i, s in enumerate(result.steps)]
        body = "\n\n".join(blocks) if blocks else ""
        final = "\\section*{Result}\n" + _final_block(result, notation)
    parts = [
        preamble(escape_text(title), notation),
        "\\begin{document}",
        "\\maketitle",
        "\\section*{Notation}",
        notation_table(notation),
        "\\section*{Derivation}",
        body.replace(LAYOUT_MARK + "\n", ""),
        final,
        "\\end{document}",
        "",
    ]
    return "\n".join(p for p in parts if p is not None)


def write_document(path, result, notation: Notation | None = None, title: str | None = None) -> Path:
    """Write :func:`document_text` to ``path`` atomically (temporary file + rename).

    >>> import tempfile
    >>> from analytic.calculus import gradient
    >>> from analytic.models import linear2d
    >>> p = write_document(tempfile.mkdtemp() + "/grad.tex", gradient(linear2d()))
    >>> "begin{align}" in p.read_text()
    True
    """
    path = Path(path)
    if path.suffix != ".tex":
        from analytic.errors import InputError
        raise InputError("--document", str(path), "the document must be a .tex file")
    return atomic_write_text(path, document_text(result, notation, title))


_NOTATION_KEYS = ("loss", "step", "grad", "hess", "third")


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "{") - (ch == "}")
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def notation_from_option(text: str | None, eta: bool = False) -> Notation:
    r"""The :class:`Notation` given by ``--notation`` (and ``--eta``).

    ``text`` is ``name=LaTeX`` pairs separated by commas (commas inside
    braces belong to the value); names are ``loss``, ``step``, ``grad``,
    ``hess``, ``third``, or any other symbol name of the expressions (``beta=\rho``).

    >>> n = notation_from_option(r"loss=L,step=\eta,grad=g_{t,1}")
    >>> n.loss, n.step, n.grad
    ('L', '\\eta', 'g_{t,1}')
    >>> notation_from_option("loss").loss
    Traceback (most recent call last):
    ...
    analytic.errors.InputError: argument '--notation' = 'loss': write name=LaTeX pairs ...
    """
    from analytic.errors import InputError
    values: dict = {"step": r"\eta"} if eta else {}
    symbols: dict = {}
    for item in _split_top(text or "", ","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise InputError("--notation", text, r"write name=LaTeX pairs separated by commas, e.g. loss=L,step=\eta")
        if value.count("{") != value.count("}"):
            raise InputError("--notation", text, f"unbalanced braces in the value of {name}")
        if name in _NOTATION_KEYS:
            values[name] = value
        elif name.isidentifier():
            symbols[name] = value
        else:
            raise InputError("--notation", text, f"{name!r} is not a notation name ({', '.join(_NOTATION_KEYS)}) "
                             "or a symbol name")
    return Notation(symbol_names=symbols, **values)
