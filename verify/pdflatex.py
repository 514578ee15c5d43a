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

__all__ = ["find_pdflatex", "compile_tex", "LatexError", "INSTALL_HINT"]

INSTALL_HINT = "apt-get install texlive-latex-base texlive-latex-recommended"


class LatexError(ImplregError):
    """pdflatex ran and failed; the message names the log file and the first error."""


def find_pdflatex() -> str | None:
    """The path of ``pdflatex`` on ``PATH``, or ``None``.

    >>> find_pdflatex() is None or find_pdflatex().endswith("pdflatex")
    True
    """
    return shutil.which("pdflatex")


def _first_error(log: str) -> str:
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!"):
            return " ".join(l.strip() for l in lines[i:i + 3])
    return "see the log"


def compile_tex(tex_path, runs: int = 2, timeout: float = 300.0) -> Path:
    """Compile ``tex_path`` to PDF next to it; return the PDF path.

    Raises :class:`LatexError` naming the log and the first ``!`` error line
    when pdflatex fails, and :class:`FileNotFoundError` when it is missing.
    """
    exe = find_pdflatex()
    if exe is None:
        raise FileNotFoundError(f"pdflatex not found; install it with: {INSTALL_HINT}")
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
