"""A machine without pdflatex: ``implreg verify`` writes everything but the PDF
and says so in one line, ``derive --document`` needs no TeX, tests that need
TeX are skipped (or fail under ``IMPLREG_REQUIRE_TEX=1``); and an interrupt
while the report directory is swapped leaves one intact report and nothing
hidden behind."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import verify.report as report_module
from verify.cli import main
from verify.runner import select_claims

PACKAGE = "texlive-latex-base"
CLAIM = "seed000.minima-curve"


@pytest.fixture
def no_tex(monkeypatch):
    """``pdflatex``, ``pdftoppm`` and ``kpsewhich`` are not on PATH, and nothing may run them."""
    which = shutil.which
    hidden = {"pdflatex", "pdftoppm", "kpsewhich"}
    monkeypatch.setattr(shutil, "which",
                        lambda name, *a, **k: None if os.path.basename(str(name)) in hidden else which(name, *a, **k))
    run = subprocess.run

    def guarded(cmd, *a, **k):
        program = os.path.basename(str(cmd[0] if isinstance(cmd, (list, tuple)) else cmd).split()[0])
        if program in hidden:
            raise FileNotFoundError(2, "No such file or directory", program)
        return run(cmd, *a, **k)
    monkeypatch.setattr(subprocess, "run", guarded)


def test_verify_without_pdflatex_writes_everything_else(no_tex, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["verify", "--quick", "--out", str(out), "--only", CLAIM]) == 0
    captured = capsys.readouterr()
    for name in ("report.md", "report.tex", "results.json"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "report.pdf").exists()
    assert (out / "figures").is_dir() and (out / "derivations" / "seed000-minima-curve.tex").exists()
    data = json.loads((out / "results.json").read_text())
    assert [c["id"] for c in data["claims"]] == [CLAIM] and data["failed"] == 0
    notes = [line for line in captured.err.splitlines() if PACKAGE in line]
    assert len(notes) == 1, captured.err
    assert "report.pdf not compiled" in notes[0] and "pdflatex not installed" in notes[0]
    assert "texlive-latex-recommended" in notes[0]
    assert f"report: {out / 'report.tex'}" in captured.out
    assert "pdflatex was not available" in (out / "report.md").read_text()


def test_derive_document_needs_no_pdflatex(no_tex, tmp_path, capsys):
    tex = tmp_path / "grad-norm.tex"
    assert main(["derive", "grad-norm", "--model", "sigmoid2d", "--document", str(tex)]) == 0
    captured = capsys.readouterr()
    assert tex.read_text().startswith("\\documentclass") and "\\end{document}" in tex.read_text()
    assert captured.out.startswith("grad-norm:") and captured.err == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grad-norm.tex"]


def test_compile_tex_without_pdflatex_is_one_line_input_error(no_tex, tmp_path):
    from analytic.errors import ImplregError
    from verify.pdflatex import ToolNotFound, compile_tex, render_png
    tex = tmp_path / "a.tex"
    tex.write_text("\\documentclass{article}\\begin{document}x\\end{document}")
    with pytest.raises(ToolNotFound, match=PACKAGE) as info:
        compile_tex(tex)
    assert isinstance(info.value, ImplregError) and isinstance(info.value, FileNotFoundError)
    assert "\n" not in str(info.value)
    with pytest.raises(ToolNotFound, match="pdftoppm not installed.*poppler-utils"):
        render_png("$x$", tmp_path / "x.png")


# ---------------------------------------------------------------- the markers

_SAMPLE = '''
import pytest

@pytest.mark.needs_pdflatex
def test_latex():
    pass

@pytest.mark.needs_pdftoppm
def test_poppler():
    pass

def test_plain():
    pass
'''


def _run_sample(tmp_path, require: str | None):
    shutil.copyfile(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(_SAMPLE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    needs_pdflatex: x\n    needs_pdftoppm: x\n")
    (tmp_path / "bin").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "IMPLREG_REQUIRE_TEX"}
    env["PATH"] = str(tmp_path / "bin")
    if require is not None:
        env["IMPLREG_REQUIRE_TEX"] = require
    return subprocess.run([sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", "-q",
                           "test_sample.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_tex_tests_are_skipped_where_tex_is_missing(tmp_path):
    proc = _run_sample(tmp_path, None)
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 2 skipped" in proc.stdout
    assert "pdflatex not installed" in proc.stdout and "pdftoppm not installed" in proc.stdout


def test_require_tex_turns_the_skips_into_failures(tmp_path):
    proc = _run_sample(tmp_path, "1")
    assert proc.returncode == 1, proc.stdout
    assert "1 passed, 2 errors" in proc.stdout and "IMPLREG_REQUIRE_TEX=1 requires it" in proc.stdout
    assert "pdflatex not installed" in proc.stdout and "pdftoppm not installed" in proc.stdout


# ------------------------------------------------------- interrupted swapping

def _report(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "results.json").write_text(text)
    (path / "figures").mkdir()
    (path / "figures" / "a.png").write_text(text)
    return path


def _state(parent: Path) -> dict:
    return {p.name: (p / "results.json").read_text() for p in parent.iterdir()}


def _interrupt(after):
    """A stand-in that raises KeyboardInterrupt before or after doing the real work."""
    def wrapper(*args, **kwargs):
        if after:
            after(*args, **kwargs)
        raise KeyboardInterrupt
    return wrapper


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
@pytest.mark.parametrize("when", ["before", "after"])
def test_interrupted_swap_leaves_one_report_and_nothing_hidden(tmp_path, monkeypatch, exchange, when):
    target = _report(tmp_path / "r", "old")
    tmp = _report(tmp_path / ".r.tmp-x", "new")
    if exchange:
        if not report_module._exchange(tmp, target):
            pytest.skip("no renameat2(RENAME_EXCHANGE) here")
        report_module._exchange(tmp, target)            # back again
        real = report_module._exchange
        monkeypatch.setattr(report_module, "_exchange", _interrupt(real if when == "after" else None))
    else:
        monkeypatch.setattr(report_module, "_exchange", lambda a, b: False)
        calls = []
        real_rename = os.rename

        def rename(src, dst):           # the second rename (new report into place) is interrupted
            calls.append(src)
            if len(calls) == 2:
                return _interrupt(real_rename if when == "after" else None)(src, dst)
            return real_rename(src, dst)
        monkeypatch.setattr(report_module.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        try:
            report_module._swap_in(tmp, target)
        except BaseException:
            report_module._remove_tree(tmp)      # what build_report does on any exception
            raise
    monkeypatch.undo()
    assert _state(tmp_path) == {"r": "new" if when == "after" else "old"}
    assert (target / "figures" / "a.png").read_text() == _state(tmp_path)["r"]


def test_interrupted_clean_up_of_the_old_report_still_finishes(tmp_path, monkeypatch):
    target = _report(tmp_path / "r", "old")
    tmp = _report(tmp_path / ".r.tmp-x", "new")
    monkeypatch.setattr(report_module, "_exchange", lambda a, b: False)
    rmtree = shutil.rmtree
    calls = []

    def interrupted_once(path, *a, **k):
        calls.append(path)
        if len(calls) == 1:
            rmtree(Path(path) / "figures")      # halfway through, then Ctrl-C
            raise KeyboardInterrupt
        return rmtree(path, *a, **k)
    monkeypatch.setattr(report_module.shutil, "rmtree", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        report_module._swap_in(tmp, target)
    monkeypatch.undo()
    assert _state(tmp_path) == {"r": "new"}


def test_build_report_interrupted_at_the_swap(tmp_path, monkeypatch):
    out = tmp_path / "r"
    first = report_module.build_report(select_claims([CLAIM]), out=out, quick=True, compile_pdf=False)
    before = (first.directory / "results.json").read_text()
    monkeypatch.setattr(report_module, "_exchange", _interrupt(None))
    with pytest.raises(KeyboardInterrupt):
        report_module.build_report(select_claims([CLAIM]), out=out, quick=True, compile_pdf=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    assert (out / "results.json").read_text() == before and (out / "report.md").exists()
