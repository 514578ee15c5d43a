"""Every derivation the command line offers compiles as a standalone document:
one per optimizer for modified losses and stability conditions, one per mask,
and the threshold and Jacobian-regularization quantities."""
from __future__ import annotations

import pytest

from verify.cli import main
from verify.pdflatex import compile_tex

import pypdf  # noqa: E402  (the [test] extra)

pytestmark = pytest.mark.needs_pdflatex

CASES = {
    **{f"modified-loss-{o}": ["modified-loss", "--optimizer", o, "--model", "linear2d", "--order", "1"]
       for o in ("gd", "heavy-ball", "nesterov")},
    "modified-loss-sgd": ["modified-loss", "--optimizer", "sgd", "--model", "least_squares",
                          "--batches", "3", "--order", "1"],
    "modified-loss-label-noise": ["modified-loss", "--optimizer", "label-noise", "--model", "linear2d",
                                  "--order", "1"],
    **{f"stability-{o}": ["stability", "--optimizer", o]
       for o in ("gd", "heavy-ball", "nesterov", "sgd", "quasi-newton")},
    **{f"mask-{m}": ["mask", "--method", m] for m in ("gd", "gf", "ridge", "pca", "heavy-ball")},
    "threshold": ["threshold", "--tau", "1-1/e"],
    "jacobian-reg": ["jacobian-reg", "--classes", "3"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_derivation_document_compiles(name, tmp_path, capsys):
    tex = tmp_path / f"{name}.tex"
    assert main(["derive", *CASES[name], "--document", str(tex)]) == 0
    capsys.readouterr()
    source = tex.read_text()
    assert source.startswith("\\documentclass") and "\\begin{align" in source
    pdf = pypdf.PdfReader(compile_tex(tex, runs=1))
    pages = len(pdf.pages)
    assert 1 <= pages <= 40, pages
    text = " ".join(p.extract_text() for p in pdf.pages)
    assert len(text.split()) > 20
