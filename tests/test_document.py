"""Derivations as standalone LaTeX documents: they compile, carry every step,
and renaming the notation changes only the names."""
from __future__ import annotations

import re

import pytest
import sympy as sp

from analytic.calculus import global_minima, grad_norm_squared, gradient, hessian
from analytic.errors import InputError
from analytic.models import sigmoid2d
from verify.cli import main
from verify.document import notation_from_option
from verify.pdflatex import compile_tex
from verify.texlayout import escape_text, estimated_width, expression_rows

import pypdf  # noqa: E402  (the [test] extra: page counts of compiled PDFs)

DERIVATIONS = {"gradient": gradient, "hessian": hessian, "grad-norm": grad_norm_squared, "minima": global_minima}


@pytest.mark.needs_pdflatex
@pytest.mark.parametrize("quantity", sorted(DERIVATIONS))
def test_document_compiles_with_every_step(quantity, tmp_path, capsys):
    tex = tmp_path / f"{quantity}.tex"
    assert main(["derive", quantity, "--model", "sigmoid2d", "--document", str(tex)]) == 0
    capsys.readouterr()
    source = tex.read_text()
    steps = DERIVATIONS[quantity](sigmoid2d()).steps
    # one numbered align environment per step, each preceded by its justification
    assert source.count("\\begin{align}") == len(steps) + 1  # + the final result
    for k, s in enumerate(steps, start=1):
        assert f"\\textbf{{Step {k}.}} {escape_text(s.why)}" in source
    pdf = pypdf.PdfReader(compile_tex(tex, runs=1))
    text = " ".join(p.extract_text() for p in pdf.pages)
    assert 1 <= len(pdf.pages) <= len(steps) + 1
    assert all(f"Step {k}." in text for k in range(1, len(steps) + 1)) and "Result" in text


RENAMES = {r"\mathcal{L}": "E", r"\mathbf{g}": r"\nabla E", r"\mathbf{H}": r"\nabla^2 E", r"\eta": "h"}


@pytest.mark.needs_pdflatex
def test_renaming_the_notation_changes_only_the_names(tmp_path, capsys):
    default, renamed = tmp_path / "default.tex", tmp_path / "renamed.tex"
    assert main(["derive", "hessian", "--model", "sigmoid2d", "--document", str(default)]) == 0
    option = r"loss=\mathcal{L},step=\eta,grad=\mathbf{g},hess=\mathbf{H}"
    assert main(["derive", "hessian", "--model", "sigmoid2d", "--notation", option,
                 "--document", str(renamed)]) == 0
    capsys.readouterr()
    a, b = default.read_text(), renamed.read_text()
    assert a != b and r"\mathcal{L}" in b and "{E}" not in b
    back = b
    for new, old in RENAMES.items():
        back = back.replace(new, old)
    assert back == a
    assert len(pypdf.PdfReader(compile_tex(renamed, runs=1)).pages) >= 1


def test_eta_option_equals_step_notation(capsys):
    assert main(["derive", "grad-norm", "--model", "linear2d", "--eta", "--format", "latex"]) == 0
    eta = capsys.readouterr().out
    assert main(["derive", "grad-norm", "--model", "linear2d", "--notation", r"step=\eta", "--format", "latex"]) == 0
    assert capsys.readouterr().out == eta


def test_notation_option_errors_name_the_argument(capsys):
    with pytest.raises(InputError, match="--notation"):
        notation_from_option("loss")
    with pytest.raises(InputError, match="unbalanced"):
        notation_from_option("loss={L")
    assert main(["derive", "gradient", "--model", "linear2d", "--notation", "1x=y"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_long_sums_split_into_rows_that_keep_every_term():
    x = sp.Symbol("x")
    expr = sum(sp.Rational(1, k + 2) * x**k * sp.exp(-k * x) for k in range(25))
    rows = expression_rows(expr, width=60)
    assert len(rows) > 3
    assert all(estimated_width(r) <= 60 for r in rows)
    joined = " ".join(rows)
    positions = [joined.find(sp.latex(t)) for t in expr.as_ordered_terms()]
    assert -1 not in positions and positions == sorted(positions)
    assert len(re.findall(r"(?<![{^])[+-] ", joined)) == len(expr.args) - 1


@pytest.mark.needs_pdflatex
def test_document_from_a_plugin_dict_compiles(tmp_path):
    from verify.document import write_document
    payload = {"quantity": "custom", "text": "custom: 1",
               "latex": r"\begin{align} \IRloss &= w^2 && \text{the loss} \\ \IRgrad &= 2 w && \text{differentiate} \end{align}"}
    tex = write_document(tmp_path / "custom.tex", payload, notation_from_option(r"loss=L"))
    source = tex.read_text()
    assert r"\IRloss" not in source.split(r"\begin{document}")[1] and "{L} &" in source
    assert len(pypdf.PdfReader(compile_tex(tex, runs=1)).pages) == 1
    with pytest.raises(InputError, match="--document"):
        write_document(tmp_path / "custom.txt", payload)


@pytest.mark.needs_pdflatex  # kpsewhich ships with pdflatex
def test_every_package_used_ships_with_texlive_base_or_recommended():
    import subprocess
    from verify.texlayout import PACKAGES
    for package in PACKAGES:
        found = subprocess.run(["kpsewhich", f"{package}.sty"], capture_output=True, text=True).stdout.strip()
        assert found.startswith("/usr/share/tex"), (package, found)
