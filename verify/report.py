r"""The verification report directory (``implreg verify``).

``build_report`` runs the claims and writes::

    implreg-report/
        report.pdf        compiled by pdflatex (report.tex is kept beside it);
                          without pdflatex everything else is still written
        report.md         the summary for a terminal or a repository page
        results.json      per claim: id, verdict, prediction, measurement,
                          tolerance, seed, time (``seconds``)
        figures/<claim>/  PNG + PDF (+ JSON sidecar) of every figure
        derivations/      one standalone .tex per derivation

Atomicity: everything, including the claims' figures, is built in a hidden
temporary directory next to the target; only when it is complete does it
replace the target: one ``renameat2(RENAME_EXCHANGE)`` on Linux, else two
renames (the old report put back if the second fails), the old report
removed last.  An interruption or an error at any point leaves either the
previous report or the new one in place, and no hidden directory behind.

Determinism: claims draw their randomness from the seed only and numbers are
rounded to 12 significant digits, so two runs with the same seed give the
same ``results.json`` apart from the ``seconds`` fields.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from analytic.errors import InputError

from .pdflatex import LatexError, ToolNotFound, compile_tex, find_pdflatex, not_installed
from .progress import progress_printer
from .registry import Verdict
from .report_md import report_markdown
from .report_tex import BEGIN_CLAIM, report_tex
from .runner import run_claims, safe_name, write_json_atomic
from .texlayout import LAYOUT_MARK, fit_align_block, preamble
from .atomic import atomic_write_text

__all__ = ["DEFAULT_DIR", "ReportOutcome", "build_report", "results_dict", "write_report_files",
           "progress_printer", "strip_timings"]

DEFAULT_DIR = "implreg-report"

#: The problem reported (one line) when pdflatex is not installed; the rest of the report is written.
PDF_NOT_COMPILED = f"report.pdf not compiled: {not_installed('pdflatex')}; wrote report.tex, report.md and results.json"


@dataclass(frozen=True)
class ReportOutcome:
    """What a report run produced: the verdicts, the directory, the PDF (or None) and any LaTeX problem.

    ``pdflatex_missing`` is true when the PDF was not compiled only because
    pdflatex is not installed (everything else was written).
    """

    verdicts: tuple
    directory: Path
    pdf: Path | None
    problem: str | None = None

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    @property
    def pdflatex_missing(self) -> bool:
        return self.pdf is None and self.problem == PDF_NOT_COMPILED


def _relative(path, root: Path) -> str:
    p = Path(path)
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return p.name


def results_dict(verdicts, root, seed: int, quick: bool, seconds: float, derivations: dict) -> dict:
    """The content of ``results.json``.

    ``derivations`` maps claim ids to their derivation file (relative path).
    """
    root = Path(root)
    claims = []
    for v in verdicts:
        d = v.to_dict()
        d["figures"] = [_relative(f, root) for f in v.figures]
        d["derivation"] = derivations.get(v.claim_id)
        claims.append(d)
    n_fail = sum(not v.passed for v in verdicts)
    return {"seed": seed, "quick": quick, "passed": len(verdicts) - n_fail, "failed": n_fail,
            "failed_claims": [v.claim_id for v in verdicts if not v.passed],
            "seconds": round(seconds, 3), "claims": claims}


def strip_timings(data):
    """``data`` without its ``seconds`` fields (to compare two runs).

    >>> strip_timings({"a": 1, "seconds": 2.0, "claims": [{"id": "x", "seconds": 0.1}]})
    {'a': 1, 'claims': [{'id': 'x'}]}
    """
    if isinstance(data, dict):
        return {k: strip_timings(v) for k, v in data.items() if k != "seconds"}
    if isinstance(data, list):
        return [strip_timings(v) for v in data]
    return data


def _write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def _derivation_document(v: Verdict) -> str:
    body = v.derivation.split("\n", 1)[1] if v.derivation.startswith(LAYOUT_MARK) else fit_align_block(v.derivation)
    from .texlayout import escape_text
    return "\n".join([preamble(escape_text(f"Derivation for claim {v.claim_id}")), r"\begin{document}", r"\maketitle",
                      rf"\textbf{{Source.}} {escape_text(v.source)}", "",
                      r"\textbf{Statement.}", r"\[ \IRfit{" + v.statement + r"} \]", "",
                      r"\textbf{Derivation.}", body, r"\end{document}", ""])


def _claim_of_line(tex: str, line_no: int) -> str | None:
    current = None
    for i, line in enumerate(tex.splitlines(), start=1):
        if i > line_no:
            break
        if line.startswith(BEGIN_CLAIM):
            current = line[len(BEGIN_CLAIM):].strip()
    return current


def _compile_report(root: Path, verdicts, seed, quick, seconds) -> tuple[Path | None, str | None]:
    """Write report.tex and compile it; claims whose LaTeX breaks are retried as text."""
    unsafe: set[str] = set()
    tex_path = root / "report.tex"
    while True:
        tex = report_tex(verdicts, root, seed, quick, seconds, frozenset(unsafe))
        _write_text(tex_path, tex)
        if find_pdflatex() is None:
            return None, PDF_NOT_COMPILED
        try:
            pdf = compile_tex(tex_path)
        except ToolNotFound:
            return None, PDF_NOT_COMPILED
        except LatexError as exc:
            log = (root / "report.log").read_text(errors="replace") if (root / "report.log").exists() else ""
            m = re.search(r"^l\.(\d+)", log, re.M)
            culprit = _claim_of_line(tex, int(m.group(1))) if m else None
            if culprit is None or culprit in unsafe:
                return None, str(exc)
            unsafe.add(culprit)
            continue
        for ext in (".aux", ".out", ".log"):
            (root / f"report{ext}").unlink(missing_ok=True)
        problem = None
        if unsafe:
            problem = "LaTeX of " + ", ".join(sorted(unsafe)) + " did not compile; shown as text in the report"
        return pdf, problem


def write_report_files(root, verdicts, seed: int, quick: bool, seconds: float,
                       compile_pdf: bool = True) -> tuple[Path | None, str | None]:
    """Write everything but the figures into the directory ``root``; return (pdf, problem)."""
    root = Path(root)
    derivations = {}
    for v in verdicts:
        if v.derivation and v.derivation.strip():
            rel = f"derivations/{safe_name(v.claim_id)}.tex"
            _write_text(root / rel, _derivation_document(v))
            derivations[v.claim_id] = rel
    data = results_dict(verdicts, root, seed, quick, seconds, derivations)
    write_json_atomic(root / "results.json", data)
    (root / "figures").mkdir(exist_ok=True)
    pdf, problem = (None, None)
    if compile_pdf:
        pdf, problem = _compile_report(root, verdicts, seed, quick, seconds)
    else:
        _write_text(root / "report.tex", report_tex(verdicts, root, seed, quick, seconds))
    _write_text(root / "report.md", report_markdown(verdicts, root, seed, quick, seconds, pdf is not None))
    return pdf, problem


def _check_target(target: Path) -> None:
    if target.exists():
        if not target.is_dir():
            raise InputError("--out", str(target), "exists and is not a directory")
        if any(target.iterdir()) and not (target / "results.json").exists():
            raise InputError("--out", str(target), "exists and is not an implreg report; refusing to replace it")


def _remove_tree(path: Path) -> None:
    """``shutil.rmtree(path)`` that finishes even when interrupted (Ctrl-C), then re-raises the interrupt."""
    interrupt = None
    for _ in range(10):
        try:
            shutil.rmtree(path, ignore_errors=True)
            break
        except KeyboardInterrupt as exc:
            interrupt = exc
    if interrupt is not None:
        raise interrupt


@functools.lru_cache(maxsize=None)
def _renameat2():
    if not sys.platform.startswith("linux"):
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange the directories ``a`` and ``b`` (Linux ``renameat2``); False where unsupported."""
    func = _renameat2()
    if func is None:
        return False
    if func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.ENOTSUP, errno.EXDEV):
        return False        # no RENAME_EXCHANGE here (old kernel, some file systems): two renames
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(tmp: Path, target: Path) -> None:
    """Replace ``target`` by ``tmp``, keeping either the old or the new report whatever happens.

    With ``RENAME_EXCHANGE`` the swap is one system call and ``tmp`` then
    holds the old report, which the caller's clean-up of ``tmp`` removes.
    Otherwise the old report is renamed aside, ``tmp`` renamed into place
    and the old report removed in a ``finally`` (or put back if the second
    rename did not happen).
    """
    if not target.exists():
        os.rename(tmp, target)
        return
    if _exchange(tmp, target):
        _remove_tree(tmp)
        return
    old = target.with_name(f".{target.name}.old-{secrets.token_hex(6)}")
    try:
        os.rename(target, old)
        os.rename(tmp, target)
    finally:
        if os.path.lexists(old):
            if os.path.lexists(tmp):
                os.rename(old, target)      # the new report did not go in: put the old one back
            else:
                _remove_tree(old)


def build_report(claims, out=None, quick: bool = False, seed: int = 0, jobs: int = 1, progress=None,
                 compile_pdf: bool = True) -> ReportOutcome:
    """Run ``claims`` and write the report directory ``out`` atomically.

    >>> import tempfile
    >>> from verify.runner import select_claims
    >>> out = build_report(select_claims(["seed000.minima-curve"]), out=tempfile.mkdtemp() + "/r",
    ...                    quick=True, compile_pdf=False)
    >>> out.passed, sorted(p.name for p in out.directory.iterdir())
    (True, ['derivations', 'figures', 'report.md', 'report.tex', 'results.json'])
    """
    target = Path(out or DEFAULT_DIR).absolute()
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        start = time.perf_counter()
        verdicts = run_claims(claims, quick=quick, seed=seed, jobs=jobs, progress=progress,
                              figure_root=tmp / "figures")
        seconds = time.perf_counter() - start
        pdf, problem = write_report_files(tmp, verdicts, seed, quick, seconds, compile_pdf)
        _swap_in(tmp, target)
    except BaseException:
        _remove_tree(tmp)
        raise
    remap = lambda p: target / Path(p).relative_to(tmp) if str(p).startswith(str(tmp)) else Path(p)
    verdicts = tuple(_moved(v, tmp, target) for v in verdicts)
    return ReportOutcome(verdicts, target, remap(pdf) if pdf else None, problem)


def _moved(v: Verdict, tmp: Path, target: Path) -> Verdict:
    from dataclasses import replace
    figs = tuple(str(target / Path(f).relative_to(tmp)) if str(f).startswith(str(tmp)) else f for f in v.figures)
    return replace(v, figures=figs)
