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

import re
from pathlib import Path

from analytic.latex import DEFAULT_NOTATION, Notation

from .texlayout import LAYOUT_MARK, escape_text, expression_rows, fit_align_block, preamble, step_block
from .atomic import atomic_write_text

__all__ = ["document_text", "write_document", "notation_table", "notation_from_option",
           "derivation_notation", "symbol_names_of"]


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

#: Longest LaTeX accepted for one name of ``--notation``.
MAX_NAME_TEX = 40

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
#: Pieces of TeX that would break the surrounding formula or document.
_FORBIDDEN_TEX = ((r"%", "a comment character"), (r"#", "a parameter character"), (r"\$", "a math shift"),
                  (r"&", "an alignment tab"), (r"\\\\", "a line break"),
                  (r"\\(?:begin|end)(?![A-Za-z])", "an environment"), (r"\\par(?![A-Za-z])", "a paragraph break"))


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


def _tex_problem(value: str) -> str | None:
    """Why ``value`` cannot be set as a name inside a formula (``None`` if it can)."""
    if not value:
        return "the LaTeX is empty"
    if len(value) > MAX_NAME_TEX:
        return f"the LaTeX is longer than {MAX_NAME_TEX} characters"
    if any(not (32 <= ord(ch) <= 126) for ch in value):
        return "the LaTeX may contain only printable ASCII characters (no newlines or tabs)"
    depth = 0
    for i, ch in enumerate(value):
        if ch in "{}" and i and value[i - 1] == "\\":
            continue                                  # \{ and \} are characters, not groups
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            break
    if depth != 0:
        return "unbalanced braces"
    for pattern, what in _FORBIDDEN_TEX:
        found = re.search(pattern, value)
        if found:
            return f"{found.group(0)!r} ({what}) is not allowed"
    return None


def notation_from_option(text: str | None, eta: bool = False) -> Notation:
    r"""The :class:`Notation` given by ``--notation`` (and ``--eta``).

    ``text`` is ``name=LaTeX`` pairs separated by commas (commas inside
    braces belong to the value); names are ``loss``, ``step``, ``grad``,
    ``hess``, ``third``, or the name of a symbol of the derivation
    (``beta=\rho``; checked against the derivation by
    :func:`derivation_notation`).  Each LaTeX value is a short formula piece:
    balanced braces, printable ASCII, at most :data:`MAX_NAME_TEX` characters,
    no ``% # $ &``, line breaks or environments.  ``--eta`` is ``step=\eta``.

    >>> n = notation_from_option(r"loss=L,step=\eta,grad=g_{t,1}")
    >>> n.loss, n.step, n.grad
    ('L', '\\eta', 'g_{t,1}')
    >>> notation_from_option("loss").loss
    Traceback (most recent call last):
    ...
    analytic.errors.InputError: argument '--notation' = 'loss': entry 'loss': write name=LaTeX pairs ...
    """
    from analytic.errors import InputError
    values: dict = {"step": r"\eta"} if eta else {}
    symbols: dict = {}
    given: set = set()
    for item in _split_top(text or "", ","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        entry = f"entry {item.strip()!r}"
        if not sep or not name:
            raise InputError("--notation", text,
                             rf"{entry}: write name=LaTeX pairs separated by commas, e.g. loss=L,step=\eta")
        if not _NAME.match(name):
            raise InputError("--notation", text, f"unknown name {name!r} (known: {', '.join(_NOTATION_KEYS)}, "
                             "or a symbol of the derivation)")
        problem = _tex_problem(value)
        if problem:
            raise InputError("--notation", text, f"{entry}: {problem}")
        if name in given:
            raise InputError("--notation", text, f"{entry}: {name!r} is given twice")
        given.add(name)
        if name in _NOTATION_KEYS:
            values[name] = value
        else:
            symbols[name] = value
    return Notation(symbol_names=symbols, **values)


def symbol_names_of(*objects) -> set[str]:
    """Names of the SymPy symbols in results, steps and expressions (what a symbol renaming can reach).

    >>> from analytic.calculus import gradient
    >>> from analytic.models import linear2d
    >>> sorted(symbol_names_of(gradient(linear2d())))
    ['w1', 'w2', 'x', 'y']
    """
    from analytic.result import Result, Step
    names: set[str] = set()
    stack = list(objects)
    while stack:
        obj = stack.pop()
        if isinstance(obj, Result):
            stack.append(obj.expr)
            stack.extend(obj.steps)
        elif isinstance(obj, Step):
            stack.append(obj.rhs)
        elif isinstance(obj, (tuple, list)):
            stack.extend(obj)
        elif not isinstance(obj, str):
            names.update(s.name for s in getattr(obj, "free_symbols", ()) if hasattr(s, "name"))
    return names


def derivation_notation(args, *results, step_symbol: str = "h") -> Notation:
    r"""The notation of one ``implreg derive`` command.

    The command line parses ``--notation``/``--eta`` once into
    ``args.notation_tex``; a derive command passes the results it typesets
    (and the symbol that is its step size, ``h`` or ``eta``).  Every symbol
    name given in ``--notation`` must be a symbol of those results, else the
    option is rejected; the checked notation is stored back in
    ``args.notation_tex`` (the command line writes ``--document`` with it).

    >>> import argparse, sympy as sp
    >>> from analytic.result import Result
    >>> r = Result("q", sp.Symbol("eta") * sp.Symbol("s"))
    >>> args = argparse.Namespace(notation=r"step=\alpha,s=\sigma", eta=False)
    >>> derivation_notation(args, r, step_symbol="eta").symbol_map()["eta"]
    '\\alpha'
    >>> derivation_notation(argparse.Namespace(notation="foo=F", eta=False), r)
    Traceback (most recent call last):
    ...
    analytic.errors.InputError: argument '--notation' = 'foo=F': unknown name 'foo' (known: loss, step, grad, hess, third, or a symbol of this derivation: eta, s)
    """
    from analytic.errors import InputError
    option = getattr(args, "notation", None)
    notation = getattr(args, "notation_tex", None)
    if notation is None:
        notation = notation_from_option(option, getattr(args, "eta", False))
    known = symbol_names_of(*results)
    for name in notation.symbol_names:
        if name not in known:
            listed = sorted((n for n in known if _NAME.match(n)), key=lambda n: (n.lower(), n))
            symbols = f", or a symbol of this derivation: {', '.join(listed)}" if listed else ""
            raise InputError("--notation", option,
                             f"unknown name {name!r} (known: {', '.join(_NOTATION_KEYS)}{symbols})")
    notation = notation.with_step_symbol(step_symbol)
    args.notation_tex = notation
    args.notation_checked = True
    return notation
