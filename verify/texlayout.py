r"""LaTeX that compiles: escaping, line breaking of long formulas, a shared preamble.

Everything implreg typesets (the verification report, derivation documents,
the README snippet) goes through this module, so that

* plain text (measurement names, details, error messages) is escaped by
  :func:`escape_text` and can never break the document;
* long formulas are split into ``align`` rows at the top-level ``+``/``-`` of
  sums and between factors of products (:func:`expression_rows`), and a row
  still wider than the line is shrunk by the ``\IRfit`` macro of
  :data:`PACKAGES`/:func:`preamble`; displays may break across pages
  (``\allowdisplaybreaks``);
* only packages from Debian's ``texlive-latex-base`` and
  ``texlive-latex-recommended`` are used.

Reference: the amsmath user's guide (``align``, ``\allowdisplaybreaks``,
``\Bigl``/``\Bigr`` delimiters that may be split across rows).
"""
from __future__ import annotations

import re

import sympy as sp

from analytic.latex import DEFAULT_NOTATION, Notation, to_latex
from analytic.values import as_expression

__all__ = ["escape_text", "escape_text_keep_math", "PACKAGES", "preamble", "estimated_width", "expression_rows",
           "step_block", "result_body", "align_rows", "fit_align_block", "LAYOUT_MARK"]

#: Packages used by every document; each ships with texlive-latex-base/-recommended.
PACKAGES = ("amsmath", "amssymb", "graphicx", "geometry", "booktabs", "longtable", "xcolor", "hyperref")

#: First line of a derivation laid out by :func:`result_body` (already report-ready).
LAYOUT_MARK = "% implreg-layout"

#: Estimated width (in characters of rendered math) that fits one display line.
LINE_WIDTH = 78

_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}


_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
          "final-sigma sigma tau upsilon phi chi psi omega").split()
#: Non-ASCII characters common in measurement names, set as math.
_UNICODE_MATH = {chr(0x3B1 + i): "\\" + name for i, name in enumerate(_GREEK)
                 if name not in ("omicron", "final-sigma")}
_UNICODE_MATH.update({"\u0394": r"\Delta", "\u03a3": r"\Sigma", "\u03a9": r"\Omega", "\u2264": r"\le",
                      "\u2265": r"\ge", "\u00d7": r"\times", "\u00b1": r"\pm", "\u00b2": "^2", "\u221e": r"\infty",
                      "\u2192": r"\to", "\u2207": r"\nabla", "\u2016": r"\Vert", "\u00b7": r"\cdot", "\u2248": r"\approx"})
_UNICODE_TEXT = {"\u2013": "--", "\u2014": "---", "\u2019": "'", "\u2018": "`", "\u201c": "``", "\u201d": "''"}


def escape_text(text) -> str:
    r"""Plain text -> LaTeX text mode: every special character escaped.

    Greek letters and common mathematical signs are set as math; other
    non-ASCII characters, which pdflatex's default fonts cannot set, become
    ``?``, so arbitrary messages never stop a compilation.

    >>> escape_text("max |E| < 1e-12 & 50% of w_1")
    'max \\textbar{}E\\textbar{} \\textless{} 1e-12 \\& 50\\% of w\\_1'
    >>> escape_text("\u03c3 \u2264 2")
    '$\\sigma$ $\\le$ 2'
    """
    out = []
    for ch in str(text):
        if ch in _TEXT_ESCAPES:
            out.append(_TEXT_ESCAPES[ch])
        elif ch in _UNICODE_MATH:
            out.append(f"${_UNICODE_MATH[ch]}$")
        elif ch in _UNICODE_TEXT:
            out.append(_UNICODE_TEXT[ch])
        elif ch == "\n":
            out.append(" ")
        elif ord(ch) < 32 or ord(ch) > 126:
            out.append("?")
        else:
            out.append(ch)
    return "".join(out)


def preamble(title: str = "", notation: Notation | None = None, fontsize: str = "10pt") -> str:
    r"""The document preamble shared by every implreg document.

    Defines ``\IRfit{math}``: the display-style formula, shrunk to 85 % of the
    line if it is wider; and the notation placeholders of ``notation``.

    >>> "\\usepackage{amsmath}" in preamble()
    True
    """
    notation = notation or DEFAULT_NOTATION
    pkgs = "\n".join(
        r"\usepackage[margin=2cm]{geometry}" if p == "geometry"
        else r"\usepackage[hidelinks]{hyperref}" if p == "hyperref"
        else rf"\usepackage{{{p}}}" for p in PACKAGES)
    lines = [
        rf"\documentclass[{fontsize},a4paper]{{article}}",
        pkgs,
        r"\allowdisplaybreaks",
        r"\setlength{\parindent}{0pt}",
        r"\setlength{\parskip}{4pt}",
        r"\newsavebox{\IRbox}",
        r"\newcommand{\IRfit}[1]{\sbox{\IRbox}{$\displaystyle #1$}%",
        r"  \ifdim\wd\IRbox>0.85\linewidth\resizebox{0.85\linewidth}{!}{\usebox{\IRbox}}\else\usebox{\IRbox}\fi}",
        notation.preamble(),
    ]
    if title:
        lines.append(rf"\title{{{title}}}")
        lines.append(r"\date{}")
    return "\n".join(lines) + "\n"


_COMMAND = re.compile(r"\\(left|right|big|Big|bigg|Bigg)[lr]?(?![A-Za-z])|\\(displaystyle|quad|qquad)(?![A-Za-z])")


def estimated_width(tex: str) -> int:
    r"""A rough rendered width of a math formula, in characters.

    Commands count as one glyph; braces, spaces and ``\left``/``\right`` as
    none; a fraction counts its numerator and denominator side by side, which
    overestimates (so formulas are split early rather than late).

    >>> estimated_width(r"\frac{a}{b} + \alpha")
    5
    """
    s = _COMMAND.sub("", tex)
    s = re.sub(r"\\[A-Za-z]+", "x", s)
    s = re.sub(r"[{}\s\\]", "", s)
    return len(s)


def _tex(expr, notation) -> str:
    return to_latex(expr, notation)


def _paren(expr, notation) -> str:
    body = _tex(expr, notation)
    return rf"\left({body}\right)" if expr.is_Add else body


def _signed_terms(expr: sp.Add, notation) -> list[tuple[str, sp.Expr]]:
    out = []
    for t in expr.as_ordered_terms():
        if t.could_extract_minus_sign():
            out.append(("-", -t))
        else:
            out.append(("+", t))
    return out


def _pack(pieces: list[str], width: int) -> list[str]:
    """Greedy packing of pieces (each starting with its operator) into rows."""
    rows: list[str] = []
    current = ""
    for p in pieces:
        if current and estimated_width(current + p) > width:
            rows.append(current)
            current = p
        else:
            current = (current + " " + p).strip()
    if current:
        rows.append(current)
    return rows


def _split(expr, notation, width: int, depth: int = 0) -> list[str]:
    """Rows of ``expr``; every row after the first starts with its operator."""
    tex = _tex(expr, notation)
    if estimated_width(tex) <= width or depth > 3 or not isinstance(expr, sp.Expr):
        return [tex]
    if expr.is_Add:
        pieces = []
        for i, (sign, term) in enumerate(_signed_terms(expr, notation)):
            lead = "" if (i == 0 and sign == "+") else sign + " "
            sub = _split(term, notation, width - 4, depth + 1) if not term.is_Add else [_paren(term, notation)]
            pieces.append(lead + sub[0])
            pieces.extend(sub[1:])
        return _pack(pieces, width)
    if expr.is_Mul:
        coeff, rest = expr.as_coeff_Mul()
        if coeff < 0:
            sub = _split(-expr, notation, width - 2, depth + 1)
            return ["- " + sub[0]] + sub[1:]
        num, den = sp.fraction(sp.together(expr) if depth else expr)
        factors = list(sp.Mul.make_args(num))
        pieces = []
        if den != 1:
            pieces.append(r"\frac{1}{" + _tex(den, notation) + "}")
        for f in factors:
            if f == 1:
                continue
            if estimated_width(_tex(f, notation)) > width:
                sub = _split(f, notation, width - 4, depth + 1)
                pieces.append(sub[0])
                pieces.extend(sub[1:])
            else:
                pieces.append(_paren(f, notation))
        if len(pieces) <= 1:
            return [tex]
        pieces = [pieces[0]] + [r"\cdot " + p if not p.startswith(("+", "-", r"\cdot", r"\Bigr")) else p
                                for p in pieces[1:]]
        return _pack(pieces, width)
    if expr.is_Pow and expr.base.is_Add and estimated_width(_tex(expr.base, notation)) > width - 6:
        inner = _split(expr.base, notation, width - 6, depth + 1)
        exp = "" if expr.exp == 1 else "^{" + _tex(expr.exp, notation) + "}"
        if len(inner) == 1:
            return [tex]
        return [r"\Bigl(" + inner[0]] + inner[1:-1] + [inner[-1] + r"\Bigr)" + exp]
    return [tex]


def expression_rows(expr, notation: Notation | None = None, width: int = LINE_WIDTH) -> list[str]:
    r"""Split the LaTeX of ``expr`` into display rows no wider than ``width``.

    Sums break at their top-level signs, products between factors; the
    continuation rows begin with their operator.  Joined with spaces, the
    rows are the same formula.

    >>> x = sp.Symbol("x")
    >>> rows = expression_rows(sum(x**k / (k + 1) for k in range(30)), width=40)
    >>> len(rows) > 1 and rows[1][0] in "+-"
    True
    """
    notation = notation or DEFAULT_NOTATION
    if isinstance(expr, str):
        return [notation.apply(expr)]
    if isinstance(expr, (list, tuple)):
        expr = sp.Tuple(*(as_expression(e, "expr") for e in expr))
    if not isinstance(expr, sp.MatrixBase):
        expr = as_expression(expr, "expr")
    return _split(expr, notation, width)


_RELATIONS = {"=": "=", "<=": r"\le", ">=": r"\ge", "<": "<", ">": ">", "iff": r"\iff",
              "approx": r"\approx", ":": ":"}


def escape_text_keep_math(text: str) -> str:
    r"""Like :func:`escape_text`, but balanced ``$...$`` segments stay math.

    >>> escape_text_keep_math("as $h \\to 0$, 100% sure")
    'as $h \\to 0$, 100\\% sure'
    """
    parts = str(text).split("$")
    if len(parts) % 2 == 0:          # unbalanced: all text
        return escape_text(text)
    return "".join(escape_text(p) if i % 2 == 0 else f"${p}$" for i, p in enumerate(parts))


def _why_text(why: str) -> str:
    return escape_text_keep_math(why)


def _binary(row: str) -> str:
    """A leading operator of a continuation row must stay binary inside a box."""
    return "{}" + row if row.startswith(("+", "-", r"\cdot", "=")) else row


def _rows_for(lhs: str, rel: str, rhs, notation, width) -> list[str]:
    r"""``lhs &rel row1 \\ &\quad row2 ...`` for one equation (matrix entries split if wide)."""
    if isinstance(rhs, sp.MatrixBase) and estimated_width(_tex(rhs, notation)) > width:
        rows = []
        for i in range(rhs.rows):
            for j in range(rhs.cols):
                index = f"{i + 1}" if rhs.cols == 1 else f"{i + 1}{j + 1}"
                rows += _rows_for(rf"\bigl[{lhs}\bigr]_{{{index}}}", rel, rhs[i, j], notation, width)
        return rows
    parts = expression_rows(rhs, notation, width)
    rows = [rf"{lhs} &{rel} \IRfit{{{parts[0]}}}"]
    rows += [rf"&\quad \IRfit{{{_binary(p)}}}" for p in parts[1:]]
    return rows


def step_block(step, notation: Notation | None = None, number: int | None = None,
               numbered: bool = True, width: int = LINE_WIDTH) -> str:
    r"""One derivation step: its justification as a line of text, then its
    equation in an ``align`` environment (continuation rows unnumbered).

    >>> from analytic.result import Step
    >>> print(step_block(Step("f", sp.Symbol("x")**2, "definition"), number=1, numbered=False))
    \textbf{Step 1.} definition
    \begin{align*}
    f &= \IRfit{x^{2}}
    \end{align*}
    """
    notation = notation or DEFAULT_NOTATION
    rel = _RELATIONS.get(step.relation, step.relation)
    rows = _rows_for(notation.apply(step.lhs), rel, step.rhs, notation, width)
    env = "align" if numbered else "align*"
    if numbered:
        rows = [rows[0]] + [r + r" \notag" for r in rows[1:]] if len(rows) > 1 else rows
    head = (rf"\textbf{{Step {number}.}} " if number is not None else "") + _why_text(step.why)
    return head + "\n" + rf"\begin{{{env}}}" + "\n" + " \\\\\n".join(rows) + "\n" + rf"\end{{{env}}}"


def result_body(result, notation: Notation | None = None, numbered: bool = False) -> str:
    r"""The whole derivation of a Result, step by step, ready to include.

    Starts with :data:`LAYOUT_MARK` so that the report knows it needs no
    further processing.

    >>> from analytic.result import Result, Step
    >>> x = sp.Symbol("x")
    >>> body = result_body(Result("sq", x**2, (Step("f", x**2, "definition"),), lhs="f"))
    >>> body.splitlines()[0] == LAYOUT_MARK and "align*" in body
    True
    """
    notation = notation or DEFAULT_NOTATION
    steps = list(getattr(result, "steps", ()))
    if not steps:
        from analytic.result import Step
        steps = [Step(getattr(result, "lhs", "") or getattr(result, "quantity", "result"), result.expr, "result")]
    blocks = [step_block(s, notation, number=i + 1, numbered=numbered) for i, s in enumerate(steps)]
    return LAYOUT_MARK + "\n" + "\n\n".join(blocks) + "\n"


# -- hand-written align blocks -------------------------------------------------
_TOKEN = re.compile(r"\\begin\{[^}]*\}|\\end\{[^}]*\}|\\\\|\\[&{}%$#_]|[{}&]|[^\\{}&]+|\\[A-Za-z]+|\\.?")


def align_rows(block: str) -> list[list[str]]:
    r"""The rows of an ``align`` body, each a list of its top-level cells.

    Separators inside braces or nested environments (matrices) are kept.

    >>> align_rows(r"a &= \begin{matrix}1 & 2\\3 & 4\end{matrix} \\ b &= 1")
    [['a ', '= \\begin{matrix}1 & 2\\\\3 & 4\\end{matrix} '], [' b ', '= 1']]
    """
    rows: list[list[str]] = [[""]]
    depth = 0
    for tok in _TOKEN.findall(block):
        if tok.startswith(r"\begin{") or tok == "{":
            depth += 1
        elif tok.startswith(r"\end{") or tok == "}":
            depth -= 1
        if depth == 0 and tok == r"\\":
            rows.append([""])
        elif depth == 0 and tok == "&":
            rows[-1].append("")
        else:
            rows[-1][-1] += tok
    return [r for r in rows if any(c.strip() for c in r)]


_ENV = re.compile(r"\\begin\{(align\*?|equation\*?|gather\*?)\}(.*?)\\end\{\1\}", re.S)


def fit_align_block(tex: str) -> str:
    r"""Make a hand-written derivation safe to typeset: every ``align``,
    ``equation`` or ``gather`` becomes unnumbered and each row's formula is
    shrunk to the line width if needed; justification cells stay text.

    >>> print(fit_align_block(r"\begin{align} a &= b && \text{why} \end{align}"))
    \begin{align*}
    a &\IRfit{{}= b} && \text{why}
    \end{align*}
    """
    def one(m):
        rows = []
        for cells in align_rows(m.group(2)):
            cells = [c.strip() for c in cells]
            if len(cells) == 1:
                rows.append(rf"&\IRfit{{{cells[0]}}}")
                continue
            rest = " && ".join(c for c in cells[2:] if c)
            row = rf"{cells[0]} &\IRfit{{{_binary(cells[1])}}}"
            rows.append(row + (f" && {rest}" if rest else ""))
        return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"
    if not _ENV.search(tex):
        return "\\begin{align*}\n" + rf"&\IRfit{{{tex.strip()}}}" + "\n\\end{align*}" if tex.strip() else ""
    return _ENV.sub(one, tex)
