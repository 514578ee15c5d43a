r"""The LaTeX source of the verification report.

Layout: a title block (seed, mode, counts), the summary table first (failing
claims last), then one section per claim with its statement, source,
derivation, prediction and measurement, tolerance, verdict and figures.

Claim statements and derivations are LaTeX written by claim authors; every
other string (measurement names and values, tolerances, details, errors) is
plain text and goes through :func:`verify.texlayout.escape_text`.  Should a
claim's LaTeX still fail to compile, :func:`report_tex` can be asked to set
that claim's LaTeX as escaped text instead (``unsafe``), so one broken
statement never costs the whole report.
"""
from __future__ import annotations

from pathlib import Path

from .runner import failures_last, safe_name
from .texlayout import LAYOUT_MARK, escape_text, fit_align_block, preamble

__all__ = ["report_tex", "format_value", "claim_label", "BEGIN_CLAIM"]

#: Comment opening each claim's section; lets a LaTeX error be traced to its claim.
BEGIN_CLAIM = "% implreg-claim: "


def format_value(value) -> str:
    """A prediction or measurement value as short plain text.

    >>> format_value(0.000123456789), format_value(True), format_value([1.0, 2.5])
    ('0.000123457', 'True', '[1, 2.5]')
    """
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return format_value(value.item())
    return str(value)


def _breakable(text: str) -> str:
    """Escaped text that may break after separators (long formulas printed as text)."""
    out = escape_text(text)
    for sep in (",", "+", "*", "/", "=", ")"):
        out = out.replace(sep, sep + r"\allowbreak{}")
    return out


def claim_label(claim_id: str) -> str:
    return "claim:" + safe_name(claim_id)


def _verdict_mark(passed: bool) -> str:
    return r"\textcolor{passgreen}{\textbf{PASS}}" if passed else r"\textcolor{failred}{\textbf{FAIL}}"


def _summary(verdicts) -> str:
    rows = []
    for v in failures_last(verdicts):
        rows.append(rf"\hyperref[{claim_label(v.claim_id)}]{{\texttt{{{_breakable(v.claim_id)}}}}} & "
                    rf"{escape_text(v.source)} & {_verdict_mark(v.passed)} & {v.seconds:.2f}\,s \\")
    return "\n".join([
        r"\begin{longtable}{p{0.36\linewidth}p{0.40\linewidth}cr}",
        r"\toprule claim & source & verdict & time \\ \midrule \endhead",
        *rows,
        r"\bottomrule",
        r"\end{longtable}",
    ])


def _values_table(v) -> str:
    keys = list(dict.fromkeys(list(v.prediction) + list(v.measurement)))
    if not keys:
        return ""
    rows = []
    for k in keys:
        p = _breakable(format_value(v.prediction[k])) if k in v.prediction else "--"
        m = _breakable(format_value(v.measurement[k])) if k in v.measurement else "--"
        # '{}' first: a cell starting with '(' or '[' must not be read as an
        # argument of booktabs' rules or of the preceding '\\'
        rows.append(f"{{}}{_breakable(k)} & {p} & {m} \\\\")
    return "\n".join([
        r"\begin{longtable}{p{0.28\linewidth}p{0.32\linewidth}p{0.32\linewidth}}",
        r"\toprule quantity & prediction & measurement \\ \midrule",
        *rows,
        r"\bottomrule",
        r"\end{longtable}",
    ])


def _derivation(v, unsafe: bool) -> str:
    text = v.derivation or ""
    if not text.strip():
        return ""
    if unsafe:
        return r"{\small\ttfamily " + _breakable(text) + "}"
    body = text.split("\n", 1)[1] if text.startswith(LAYOUT_MARK) else fit_align_block(text)
    return "{\\small\n" + body + "\n}"


def _figure(path: str, root: Path) -> str:
    p = Path(path)
    try:
        rel = p.relative_to(root)
    except ValueError:
        rel = Path("figures") / p.parent.name / p.name
    stem = rel.with_suffix("").as_posix()
    return (r"\begin{center}" + "\n"
            + rf"\includegraphics[width=0.85\linewidth,height=0.4\textheight,keepaspectratio]{{{{{stem}}}.pdf}}"
            + "\n" + r"\end{center}")


def _details(text: str) -> str:
    lines = [escape_text(l) for l in text.strip().splitlines() if l.strip()]
    return r"{\small\ttfamily " + r"\newline ".join(lines) + "}" if lines else ""


def _claim_section(v, root: Path, unsafe: bool) -> str:
    parts = [BEGIN_CLAIM + v.claim_id,
             rf"\section{{\texorpdfstring{{\texttt{{{_breakable(v.claim_id)}}}}}{{{escape_text(v.claim_id)}}}}}"
             rf"\label{{{claim_label(v.claim_id)}}}",
             rf"\textbf{{Verdict:}} {_verdict_mark(v.passed)} \quad \textbf{{Time:}} {v.seconds:.2f}\,s"
             rf" \quad \textbf{{Seed:}} {v.seed}{' (quick)' if v.quick else ''}", "",
             r"\textbf{Statement.}"]
    if unsafe:
        parts.append(r"{\ttfamily " + _breakable(v.statement) + r"}\\ \emph{(this LaTeX did not compile; shown as text)}\par")
    else:
        parts.append(r"\[ \IRfit{" + v.statement + r"} \]")
    parts += [rf"\textbf{{Source.}} {escape_text(v.source)}", ""]
    deriv = _derivation(v, unsafe)
    if deriv:
        parts += [r"\textbf{Derivation.}", deriv, ""]
    table = _values_table(v)
    if table:
        parts += [r"\textbf{Prediction and measurement.}", table]
    parts += [rf"\textbf{{Tolerance.}} {_breakable(v.tolerance) or '--'}", ""]
    if v.error:
        parts += [rf"\textbf{{Error.}} \textcolor{{failred}}{{{_breakable(v.error)}}}", ""]
    if v.details and v.details.strip() != (v.error or "").strip():
        parts += [r"\textbf{Details.}", _details(v.details), ""]
    for f in v.figures:
        if str(f).endswith(".pdf"):
            parts.append(rf"\emph{{figure {escape_text(Path(f).name)} omitted}}" if unsafe else _figure(f, root))
    return "\n".join(parts)


def report_tex(verdicts, root, seed: int, quick: bool, seconds: float, unsafe=frozenset()) -> str:
    r"""The full report source; ``root`` is the report directory (figure paths are relative to it).

    >>> from verify.registry import get_claim
    >>> v = get_claim("seed000.minima-curve").run(quick=True)
    >>> tex = report_tex([v], ".", seed=0, quick=True, seconds=0.1)
    >>> tex.count("\\section{"), tex.rstrip().endswith("\\end{document}")
    (1, True)
    """
    root = Path(root)
    n_fail = sum(not v.passed for v in verdicts)
    mode = "quick" if quick else "full"
    head = [
        preamble("implreg verification report"),
        r"\definecolor{passgreen}{rgb}{0.0,0.5,0.1}",
        r"\definecolor{failred}{rgb}{0.75,0.0,0.0}",
        r"\begin{document}",
        r"\maketitle",
        rf"{len(verdicts)} claims, \textbf{{{len(verdicts) - n_fail} passed}}, "
        rf"\textbf{{{n_fail} failed}}; seed {seed}, {mode} mode; {seconds:.1f}\,s in total."
        + (" Failing claims are listed last." if n_fail else ""),
        r"\section*{Summary}",
        _summary(verdicts),
    ]
    sections = [_claim_section(v, root, v.claim_id in unsafe) for v in failures_last(verdicts)]
    return "\n".join(head) + "\n\n" + "".join("\\clearpage\n" + s + "\n\n" for s in sections) + "\\end{document}\n"
