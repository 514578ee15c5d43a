"""The Markdown summary of a verification run (``report.md``).

A table of every claim (failing claims last), then one short section per
claim: statement (as ``$$`` math, which GitHub renders), source, values,
tolerance and figures.  Table cells are escaped so that ``|`` in a value or a
statement never breaks the table.
"""
from __future__ import annotations

from pathlib import Path

from .report_tex import format_value
from .runner import failures_last

__all__ = ["report_markdown", "md_cell"]


def md_cell(text) -> str:
    r"""Text safe inside a Markdown table cell (one line, pipes escaped).

    >>> md_cell("a|b\nc")
    'a\\|b c'
    """
    return " ".join(str(text).split("\n")).replace("|", r"\|")


def _values(mapping) -> str:
    return "; ".join(f"{k} = {format_value(v)}" for k, v in mapping.items())


def report_markdown(verdicts, root, seed: int, quick: bool, seconds: float, pdf: bool) -> str:
    """The text of ``report.md``; figure links are relative to ``root``.

    >>> from verify.registry import get_claim
    >>> v = get_claim("seed000.minima-curve").run(quick=True)
    >>> report_markdown([v], ".", 0, True, 0.1, pdf=False).splitlines()[0]
    '# implreg verification report'
    """
    root = Path(root)
    rows = failures_last(verdicts)
    n_fail = sum(not v.passed for v in rows)
    out = ["# implreg verification report", "",
           f"{len(rows)} claims: **{len(rows) - n_fail} passed, {n_fail} failed** "
           f"(seed {seed}, {'quick' if quick else 'full'} mode, {seconds:.1f} s)."
           + (" Full report: [report.pdf](report.pdf)." if pdf else " report.tex was written; pdflatex was not available."),
           "", "| claim | verdict | measured | tolerance | time |", "|---|---|---|---|---|"]
    for v in rows:
        measured = _values(v.measurement) or (v.error or "")
        out.append(f"| [`{v.claim_id}`](#{v.claim_id.replace('.', '').lower()}) | {'PASS' if v.passed else '**FAIL**'} | "
                   f"{md_cell(measured)} | {md_cell(v.tolerance)} | {v.seconds:.2f} s |")
    if n_fail:
        out += ["", "Failed: " + ", ".join(f"`{v.claim_id}`" for v in rows if not v.passed)]
    for v in rows:
        out += ["", f"## {v.claim_id}", "", f"**{'PASS' if v.passed else 'FAIL'}** — {v.source}", "",
                "$$", v.statement, "$$", ""]
        if v.prediction:
            out.append(f"- prediction: {_values(v.prediction)}")
        if v.measurement:
            out.append(f"- measurement: {_values(v.measurement)}")
        out.append(f"- tolerance: {v.tolerance or '-'}")
        if v.error:
            out.append(f"- error: `{v.error}`")
        for f in v.figures:
            if str(f).endswith(".png"):
                p = Path(f)
                try:
                    rel = p.relative_to(root).as_posix()
                except ValueError:
                    rel = f"figures/{p.parent.name}/{p.name}"
                out += ["", f"![{p.stem}]({rel})"]
    return "\n".join(out) + "\n"
