"""The verification report: compiled PDF, Markdown, JSON, figures, derivations;
atomic replacement, determinism, missing pdflatex, failing claims last."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from verify.cli import main
from verify.figures import figure_info, new_figure, save_figure
from verify.progress import ProgressBar
from verify.registry import REGISTRY, Outcome, all_claims, claim
from verify.report import build_report, strip_timings
from verify.runner import select_claims

import pypdf  # noqa: E402  (the [test] extra: page counts of compiled PDFs)

ROOT = Path(__file__).resolve().parents[1]


def ink_fraction(png) -> float:
    """Fraction of pixels that are not (near) white."""
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return float((pixels < 240).any(axis=-1).mean())


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "implreg-report"
    ids = [c.id for c in all_claims()]
    status = main(["verify", "--quick", "--out", str(out), "--only", *ids])
    return out, status, ids


def test_report_covers_every_registered_claim(report):
    out, status, ids = report
    data = json.loads((out / "results.json").read_text())
    assert [c["id"] for c in data["claims"]] == ids
    assert status == (1 if data["failed"] else 0)
    for c in data["claims"]:
        assert c["seed"] == 0 and c["verdict"] in ("pass", "fail") and isinstance(c["seconds"], float)
        assert set(c) >= {"prediction", "measurement", "tolerance"}
    # failing claims listed last in the Markdown table
    md = (out / "report.md").read_text()
    rows = [l for l in md.splitlines() if l.startswith("| [`")]
    verdicts = ["FAIL" in r for r in rows]
    assert len(rows) == len(ids) and verdicts == sorted(verdicts)


@pytest.mark.needs_pdflatex
@pytest.mark.needs_pdftoppm
def test_report_pdf_pages_and_first_page_not_blank(report, tmp_path):
    out, _, ids = report
    pdf = pypdf.PdfReader(out / "report.pdf")
    # summary page, then every claim starts a new page
    assert len(pdf.pages) >= 1 + len(ids)
    assert "Summary" in pdf.pages[0].extract_text()
    text = " ".join(p.extract_text() for p in pdf.pages)
    for cid in ids:
        assert cid in text.replace("\n", "")
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-singlefile", "-f", "1", "-l", "1",
                    str(out / "report.pdf"), str(tmp_path / "page1")], check=True)
    assert ink_fraction(tmp_path / "page1.png") > 0.003


def test_report_figures_have_content_and_axes(report):
    out, _, _ = report
    data = json.loads((out / "results.json").read_text())
    listed = [f for c in data["claims"] for f in c["figures"]]
    for f in listed:
        assert (out / f).exists(), f
    pngs = [out / f for f in listed if f.endswith(".png")]
    assert len(pngs) == len([f for f in listed if f.endswith(".pdf")])
    for png in pngs:
        info = figure_info(png)
        assert info["axes"] >= 1
        assert ink_fraction(png) > 0.02
    gd = out / "figures/seed000-gd-converges-to-minima/gd-trajectory.png"
    assert figure_info(gd)["axes"] == 2  # path panel + loss panel (the colorbar is not counted)


def test_derivations_written_one_per_claim_with_derivation(report):
    out, _, _ = report
    data = json.loads((out / "results.json").read_text())
    expected = sorted(c["derivation"] for c in data["claims"] if c["derivation"])
    found = sorted(f"derivations/{p.name}" for p in (out / "derivations").glob("*.tex"))
    assert found == expected and expected
    tex = (out / expected[0]).read_text()
    assert tex.startswith("\\documentclass") and "\\begin{align" in tex


def test_same_seed_same_results_json_in_parallel(report, tmp_path):
    out, _, ids = report
    second = build_report(select_claims(ids), out=tmp_path / "again", quick=True, seed=0, jobs=2,
                          compile_pdf=False)
    first = json.loads((out / "results.json").read_text())
    again = json.loads((second.directory / "results.json").read_text())
    assert strip_timings(first) == strip_timings(again)
    assert "seconds" in json.dumps(first)


def _digest(directory: Path) -> dict:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def temporary_claims():
    added = []

    def add(cid, func, statement="x = 1"):
        claim(cid, statement=statement, source="test suite")(func)
        added.append(cid)
    yield add
    for cid in added:
        REGISTRY.pop(cid, None)


@pytest.mark.needs_pdflatex  # its second half breaks compile_tex, which runs only with pdflatex
def test_interrupted_run_leaves_previous_report_intact(report, tmp_path, temporary_claims, monkeypatch):
    out, _, _ = report
    target = tmp_path / "implreg-report"
    shutil.copytree(out, target)
    before = _digest(target)

    def interrupted(ctx):
        raise KeyboardInterrupt
    temporary_claims("zz.interrupted", interrupted)
    assert main(["verify", "--quick", "--out", str(target), "--only", "seed000.minima-curve",
                 "zz.interrupted"]) == 130
    assert _digest(target) == before
    # a failure while compiling (after every claim ran) changes nothing either
    import verify.report as report_module

    def broken(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(report_module, "compile_tex", broken)
    assert main(["verify", "--quick", "--out", str(target), "--only", "seed000.minima-curve"]) == 2
    assert _digest(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["implreg-report"]  # no temporary left


@pytest.mark.needs_pdflatex
def test_failing_claim_exit_code_listed_last_and_bad_latex_survives(tmp_path, temporary_claims, capsys):
    nasty = "50% of w_1 & {x} ~ ^ # $ \\ | <>"

    def failing(ctx):
        return Outcome(False, prediction={nasty: 1.0}, measurement={nasty: "a_b & c"},
                       tolerance="|x| < 1e-3 & 5%", details="trace\n  with_underscores & {braces}",
                       derivation=r"\begin{align} a &= \undefinedmacro{b} && \text{why} \end{align}")
    temporary_claims("aaa.failing", failing, statement=r"\alsoundefined x = 1")
    out = tmp_path / "rep"
    status = main(["verify", "--quick", "--out", str(out), "--only", "aaa.failing", "seed000.minima-curve"])
    captured = capsys.readouterr()
    assert status == 1
    lines = captured.out.strip().splitlines()
    assert lines[-2] == "failed: aaa.failing"
    table = [l for l in lines if l.startswith(("aaa.", "seed000."))]
    assert table[-1].startswith("aaa.failing") and "FAIL" in table[-1]
    data = json.loads((out / "results.json").read_text())
    assert data["failed_claims"] == ["aaa.failing"]
    # the broken LaTeX of that claim is shown as text; the rest still compiles
    assert (out / "report.pdf").exists() and "aaa.failing" in captured.err
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(out / "report.pdf").pages)
    assert "did not compile" in text and "50% of w" in text


def test_missing_pdflatex_writes_everything_else(tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = dict(os.environ, PATH=str(empty_bin), PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    out = tmp_path / "rep"
    proc = subprocess.run([sys.executable, "-m", "verify.cli", "verify", "--quick", "--out", str(out),
                           "--only", "seed000.minima-curve"], env=env, capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    hint = [l for l in proc.stderr.splitlines() if "apt-get install texlive-latex-base texlive-latex-recommended" in l]
    assert len(hint) == 1 and "pdflatex" in hint[0]
    assert not (out / "report.pdf").exists()
    for name in ("report.tex", "report.md", "results.json"):
        assert (out / name).stat().st_size > 0
    assert (out / "derivations" / "seed000-minima-curve.tex").exists()


def test_refuses_to_replace_a_directory_that_is_not_a_report(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    assert main(["verify", "--quick", "--out", str(tmp_path / "mine"), "--only", "seed000.minima-curve"]) == 2
    assert "--out" in capsys.readouterr().err
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_save_figure_counts_axes_and_is_atomic(tmp_path):
    fig, axes = new_figure(1, 3)
    for k, ax in enumerate(axes):
        im = ax.imshow(np.arange(12.0).reshape(3, 4) * (k + 1))
    fig.colorbar(im, ax=axes[-1])
    png, pdf = save_figure(fig, tmp_path, "three")
    assert figure_info(png)["axes"] == 3
    assert ink_fraction(png) > 0.05 and Path(pdf).read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["three.json", "three.pdf", "three.png"]


def test_progress_bar_redraws_in_place_on_a_terminal():
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True
    out = Tty()
    bar = ProgressBar(out, min_interval=0.0)
    bar(0, 2, "a", 0.0)
    bar(0.5, 2, "a steps 50%", 0.5)
    bar(2, 2, "", 1.0)
    text = out.getvalue()
    assert text.count("\r\x1b[K") == 3 and "a steps 50%" in text and "1.0s" in text
    assert text.endswith("done: 2 claims in 1.0s\n")


def test_repository_readme_table_is_current(report):
    """README.md lists exactly the registered claims, with the statuses of this quick run (seed 0)."""
    from verify.readme import statuses_from_results, update_readme
    out, _, _ = report
    assert update_readme(ROOT / "README.md", statuses_from_results(out / "results.json"), write=False), \
        "README claims table out of date: run 'implreg readme --write'"


def test_claims_report_their_own_progress(temporary_claims):
    from verify.runner import run_claims

    def long_claim(ctx):
        for k in range(1, 4):
            ctx.report(k / 4, f"sweep {k}/4")
        return Outcome(True)
    temporary_claims("zz.long", long_claim)
    calls = []
    run_claims(select_claims(["seed000.minima-curve", "zz.long"]), quick=True,
               progress=lambda done, total, current, elapsed: calls.append((done, total, current)))
    assert (1.5, 2, "zz.long sweep 2/4") in calls
    assert calls[0] == (0, 2, "seed000.minima-curve") and calls[-1] == (2, 2, "")


@pytest.mark.needs_pdflatex
def test_table_cells_opening_with_brackets_compile(tmp_path, temporary_claims, capsys):
    # a value row opening with '(' or '[' once made booktabs/longtable read it as an argument
    def bracketed(ctx):
        return Outcome(True, prediction={"(a) tracking": "tanh", "[b] range": 1.0},
                       measurement={"(a) tracking": "tanh", "[b] range": [1.0, 2.0]}, tolerance="equal")
    temporary_claims("aaa.bracketed", bracketed, statement=r"\text{(a) holds}")
    out = tmp_path / "rep"
    assert main(["verify", "--quick", "--out", str(out), "--only", "aaa.bracketed"]) == 0
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(out / "report.pdf").pages)
    assert "did not compile" not in text and "(a) tracking" in text


def test_every_claim_latex_compiles(report):
    # a claim whose statement or derivation stops pdflatex is shown as text: none may be
    out, _, _ = report
    tex = (out / "report.tex").read_text()
    assert "did not compile" not in tex
