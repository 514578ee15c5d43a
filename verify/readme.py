r"""The README's table of claims, generated from the registry.

The table sits between the markers ``<!-- claims:start -->`` and
``<!-- claims:end -->`` of ``README.md``; ``implreg readme --write`` replaces
it, ``implreg readme --check`` exits with status 1 when it is out of date.
Each row gives the claim id, its statement (as GitHub math), its source and
its status in a quick run with seed 0 (or as read from a ``results.json``
given with ``--results``).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from analytic.errors import InputError
from .atomic import atomic_write_text

__all__ = ["START", "END", "claims_table", "replace_block", "statuses_from_results", "update_readme"]

START = "<!-- claims:start -->"
END = "<!-- claims:end -->"


def _github_math(statement: str) -> str:
    r"""A statement safe inside ``$...$`` in a Markdown table cell (no ``|``, one line).

    >>> _github_math(r"\|\nabla E\|^2 = |x|")
    '\\Vert \\nabla E\\Vert ^2 = \\vert x\\vert '
    """
    s = " ".join(statement.split())
    return s.replace(r"\|", r"\Vert ").replace("|", r"\vert ")


def claims_table(claims, statuses: dict) -> str:
    r"""The Markdown table: one row per claim, in registry order.

    ``statuses`` maps claim ids to ``"pass"``/``"fail"`` (absent: not run).

    >>> from verify.registry import get_claim
    >>> print(claims_table([get_claim("seed000.minima-curve")], {"seed000.minima-curve": "pass"}).splitlines()[-1])
    | `seed000.minima-curve` | $E\big(w_1, -\log(w_1/y - 1)/x\big) = 0 \text{ for } w_1 > y$ | Ghosh et al., ICLR 2023, App. 8, curve of global minima | pass |
    """
    mark = {"pass": "pass", "fail": "**FAIL**"}
    rows = ["| claim | statement | source | status |", "|---|---|---|---|"]
    for c in claims:
        status = mark.get(statuses.get(c.id), "not run")
        rows.append(f"| `{c.id}` | ${_github_math(c.statement)}$ | {c.source.replace('|', '/')} | {status} |")
    return "\n".join(rows)


def replace_block(text: str, block: str, where: str = "README.md") -> str:
    """``text`` with everything between :data:`START` and :data:`END` replaced by ``block``.

    >>> replace_block("a\\n<!-- claims:start -->\\nold\\n<!-- claims:end -->\\nb", "new")
    'a\\n<!-- claims:start -->\\nnew\\n<!-- claims:end -->\\nb'
    """
    i, j = text.find(START), text.find(END)
    if i < 0 or j < i:
        raise InputError("--readme", where, f"needs the markers {START} and {END} (in this order)")
    return text[: i + len(START)] + "\n" + block.strip("\n") + "\n" + text[j:]


def statuses_from_results(path) -> dict:
    """``{claim id: "pass"|"fail"}`` from a report's ``results.json``."""
    try:
        data = json.loads(Path(path).read_text())
        return {c["id"]: c["verdict"] for c in data["claims"]}
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InputError("--results", str(path), f"not a readable results.json ({type(exc).__name__})") from None


def quick_statuses(claims, jobs: int = 1, progress=None) -> dict:
    """Run ``claims`` in quick mode with seed 0 (no figures) and collect their verdicts."""
    from .runner import run_claims
    return {v.claim_id: "pass" if v.passed else "fail"
            for v in run_claims(claims, quick=True, seed=0, jobs=jobs, progress=progress)}


def update_readme(readme, statuses: dict, claims=None, write: bool = False) -> bool:
    """Whether the README's table is current; with ``write``, make it so (atomically)."""
    from .registry import all_claims
    claims = all_claims() if claims is None else claims
    path = Path(readme)
    if not path.exists():
        raise InputError("--readme", str(path), "no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("--readme", str(path), f"cannot be read as UTF-8 text ({exc})") from None
    new = replace_block(text, claims_table(claims, statuses), str(path))
    if new == text:
        return True
    if write:
        atomic_write_text(path, new)
    return False


#: The derivation shown in the README (command line as a user types it).
SNIPPET_COMMAND = ("derive", "grad-norm", "--model", "linear2d", "--params", "x,y", "--format", "latex")
#: The claim whose figure the README shows, and the figure's name.
FIGURE_CLAIM, FIGURE_NAME = "seed000.gd-converges-to-minima", "gd-trajectory"


def snippet_latex() -> str:
    """The LaTeX printed by :data:`SNIPPET_COMMAND`."""
    import contextlib
    import io
    from .cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(list(SNIPPET_COMMAND))
    if status != 0:
        raise InputError("snippet", " ".join(SNIPPET_COMMAND), f"exited with status {status}")
    return out.getvalue().strip()


def write_assets(docs_dir) -> list[Path]:
    """Regenerate the README's pictures in ``docs_dir``: the report figure and the rendered snippet."""
    import shutil as _shutil
    from .pdflatex import render_png
    from .registry import get_claim
    docs = Path(docs_dir)
    docs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        verdict = get_claim(FIGURE_CLAIM).run(quick=True, seed=0, figure_dir=d)
        png = next(f for f in verdict.figures if f.endswith(".png"))
        figure = docs / f"{FIGURE_NAME}.png"
        _shutil.copyfile(png, docs / f".{FIGURE_NAME}.tmp.png")
        os.replace(docs / f".{FIGURE_NAME}.tmp.png", figure)
    snippet = render_png(snippet_latex(), docs / "grad-norm-snippet.png")
    return [figure, snippet]
