r"""Running ``pdflatex``: find it, compile a ``.tex`` file, report failures in one line.

The report and the derivation documents are compiled by the real
``pdflatex`` (Debian: ``texlive-latex-base`` and ``texlive-latex-recommended``).
It runs in non-stop mode with ``-halt-on-error`` and without shell escape, in
the directory of the ``.tex`` file, as many times as cross-references need
(``longtable`` and ``hyperref`` settle after two runs).

>>> INSTALL_HINT.startswith("apt-get install")
True
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from analytic.errors import ImplregError
from .atomic import atomic_write

__all__ = ["find_pdflatex", "find_pdftoppm", "compile_tex", "render_png", "LatexError", "ToolNotFound",
           "INSTALL_HINT", "PDFTOPPM_HINT", "not_installed"]

#: The Debian packages that give ``pdflatex`` and every LaTeX package the documents use.
INSTALL_HINT = "apt-get install texlive-latex-base texlive-latex-recommended"
#: The Debian package that gives ``pdftoppm``.
PDFTOPPM_HINT = "apt-get install poppler-utils"


class LatexError(ImplregError):
    """pdflatex ran and failed; the message names the log file and the first error."""


class ToolNotFound(ImplregError, FileNotFoundError):
    """``pdflatex`` or ``pdftoppm`` is not installed; the message says which Debian package gives it."""


def not_installed(tool: str) -> str:
    """One line: ``tool`` is not installed, and the command that installs it.

    >>> not_installed("pdflatex")
    'pdflatex not installed (Debian: apt-get install texlive-latex-base texlive-latex-recommended)'
    """
    hint = PDFTOPPM_HINT if tool == "pdftoppm" else INSTALL_HINT
    return f"{tool} not installed (Debian: {hint})"


def find_pdflatex() -> str | None:
    """The path of ``pdflatex`` on ``PATH``, or ``None``.

    >>> find_pdflatex() is None or find_pdflatex().endswith("pdflatex")
    True
    """
    return shutil.which("pdflatex")


def find_pdftoppm() -> str | None:
    """The path of ``pdftoppm`` (poppler-utils) on ``PATH``, or ``None``."""
    return shutil.which("pdftoppm")


def _first_error(log: str) -> str:
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!"):
            return " ".join(l.strip() for l in lines[i:i + 3])
    return "see the log"


def compile_tex(tex_path, runs: int = 2, timeout: float = 300.0) -> Path:
    r"""Compile ``tex_path`` to PDF next to it; return the PDF path.

    Raises :class:`LatexError` naming the log and the first ``!`` error line
    when pdflatex fails, and :class:`ToolNotFound` (a ``FileNotFoundError``)
    when it is not installed.  The example compiles only where pdflatex is installed:

    >>> import tempfile
    >>> tex = Path(tempfile.mkdtemp()) / "a.tex"
    >>> _ = tex.write_text("\\documentclass{article}\\begin{document}$x^2$\\end{document}")
    >>> find_pdflatex() is None or compile_tex(tex, runs=1).stat().st_size > 0
    True
    """
    exe = find_pdflatex()
    if exe is None:
        raise ToolNotFound(not_installed("pdflatex"))
    tex_path = Path(tex_path).resolve()
    env = dict(os.environ, TEXINPUTS=f"{tex_path.parent}{os.pathsep}", openout_any="p")
    for _ in range(runs):
        proc = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                               tex_path.name], cwd=tex_path.parent, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, env=env)
        if proc.returncode != 0:
            log = tex_path.with_suffix(".log")
            text = log.read_text(errors="replace") if log.exists() else proc.stdout.decode(errors="replace")
            raise LatexError(f"pdflatex failed on {tex_path.name} ({_first_error(text)}); log: {log}")
    return tex_path.with_suffix(".pdf")


def _crop_white(pixels, margin: int = 8):
    import numpy as np
    ink = (pixels[..., :3] < 250).any(axis=-1)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        raise LatexError("the rendered LaTeX is blank")
    r0, r1 = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, pixels.shape[0])
    c0, c1 = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, pixels.shape[1])
    return pixels[r0:r1, c0:c1]


def render_png(body: str, png_path, dpi: int = 140) -> Path:
    r"""Typeset a LaTeX ``body`` (e.g. an ``align`` block) and save it as a cropped PNG.

    Runs pdflatex on a one-page article (the shared preamble) and
    ``pdftoppm`` (poppler-utils) on the result; the white margin is cut away.
    The PNG is written atomically.
    """
    import numpy as np
    from PIL import Image

    from .texlayout import preamble
    exe = find_pdftoppm()
    if exe is None:
        raise ToolNotFound(not_installed("pdftoppm"))
    png_path = Path(png_path)
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        tex = Path(d) / "snippet.tex"
        tex.write_text(preamble() + "\\pagestyle{empty}\n\\begin{document}\n" + body + "\n\\end{document}\n")
        pdf = compile_tex(tex, runs=1)
        subprocess.run([exe, "-r", str(dpi), "-png", "-singlefile", str(pdf), str(Path(d) / "page")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        pixels = np.asarray(Image.open(Path(d) / "page.png").convert("RGB"))
        cropped = _crop_white(pixels)
        atomic_write(png_path, lambda tmp: Image.fromarray(cropped).save(tmp, format="PNG"))
    return png_path
