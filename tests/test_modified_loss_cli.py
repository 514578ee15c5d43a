import importlib.util
import json

import pytest
import sympy as sp

from verify.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_schema_and_igr(capsys):
    out = _json(capsys, ["derive", "modified-loss", "--optimizer", "gd", "--model", "linear2d", "--order", "2",
                         "--format", "json"])
    assert set(out) >= {"optimizer", "order", "time_scale", "terms", "modified_loss", "latex"}
    assert out["optimizer"] == "gd" and out["order"] == 2 and out["time_scale"] == "1"
    assert [t["order"] for t in out["terms"]] == [0, 1, 2]
    assert [t["is_gradient"] for t in out["terms"]] == [True, True, False]
    assert out["modified_loss"] is None
    t1 = out["terms"][1]
    assert set(t1) == {"order", "field", "abstract", "abstract_latex", "is_gradient"}
    assert t1["abstract"] == "h*((-1/2)*H g)" and len(t1["field"]) == 2


def test_heavy_ball_symbolic_beta_modified_loss(capsys):
    out = _json(capsys, ["derive", "modified-loss", "--optimizer", "heavy-ball", "--loss", "1/2*(y - w1*w2*x)**2",
                         "--vars", "w1,w2", "--params", "x=1,y=3/5", "--order", "1", "--format", "json"])
    h, beta, w1, w2 = sp.symbols("h beta w1 w2")
    E = (sp.Rational(3, 5) - w1 * w2) ** 2 / 2
    G = sp.diff(E, w1) ** 2 + sp.diff(E, w2) ** 2
    names = {"h": h, "beta": beta, "w1": w1, "w2": w2}
    got = sp.sympify(out["modified_loss"], locals=names)
    assert sp.simplify(got - (E + h * (1 + beta) / (4 * (1 - beta) ** 2) * G)) == 0
    assert sp.simplify(sp.sympify(out["time_scale"], locals=names) - 1 / (1 - beta)) == 0


def test_latex_is_an_align_block_with_the_steps(capsys):
    assert main(["derive", "modified-loss", "--optimizer", "nesterov", "--beta", "1/2", "--model", "sigmoid2d",
                 "--order", "1", "--format", "latex"]) == 0
    tex = capsys.readouterr().out
    assert tex.startswith("\\begin{align}") and tex.rstrip().endswith("\\end{align}")
    for word in ("update", "match", "solution", "modified loss"):
        assert word in tex


def test_sgd_needs_terms_and_batches_must_divide(capsys):
    assert main(["derive", "modified-loss", "--optimizer", "sgd", "--model", "linear2d", "--order", "1"]) == 2
    assert "per-sample" in capsys.readouterr().err
    assert main(["derive", "modified-loss", "--optimizer", "sgd", "--model", "least_squares", "--batches", "2",
                 "--order", "1"]) == 2
    assert "batches" in capsys.readouterr().err
    out = _json(capsys, ["derive", "modified-loss", "--optimizer", "sgd", "--model", "least_squares", "--batches", "3",
                         "--order", "1", "--format", "json"])
    assert "H1 g1" in out["terms"][1]["abstract"] and out["modified_loss"] is not None


def test_bad_arguments_exit_2(capsys):
    assert main(["derive", "modified-loss", "--optimizer", "heavy-ball", "--beta", "1", "--model", "linear2d",
                 "--order", "1"]) == 2
    assert "--beta" in capsys.readouterr().err
    assert main(["derive", "modified-loss", "--optimizer", "gd", "--model", "linear2d", "--order", "-1"]) == 2
    assert "--order" in capsys.readouterr().err
    assert main(["derive", "modified-loss", "--optimizer", "gd", "--beta", "0.5", "--model", "linear2d",
                 "--order", "1"]) == 2
    capsys.readouterr()


def test_label_noise_dispatch(capsys):
    argv = ["derive", "modified-loss", "--optimizer", "label-noise", "--model", "linear2d", "--order", "1",
            "--format", "json"]
    if importlib.util.find_spec("analytic.label_noise") is None:
        assert main(argv) == 2 and "not available" in capsys.readouterr().err
    else:
        out = _json(capsys, argv)
        assert out["optimizer"] == "label-noise" and [t["order"] for t in out["terms"]] == [0, 1]
        assert "sigma" in out["modified_loss"]


@pytest.mark.needs_pdflatex
def test_latex_derivations_compile_with_pdflatex(capsys, tmp_path):
    import subprocess
    from analytic.latex import Notation
    bodies = []
    for argv in (["--optimizer", "sgd", "--batches", "3", "--model", "least_squares", "--order", "2"],
                 ["--optimizer", "nesterov", "--model", "sigmoid2d", "--order", "2", "--eta"]):
        assert main(["derive", "modified-loss", *argv, "--format", "latex"]) == 0
        bodies.append(capsys.readouterr().out)
    doc = (r"\documentclass{article}\usepackage{amsmath,amssymb}" + Notation().preamble()
           + r"\begin{document}" + "\n".join(bodies) + r"\end{document}")
    (tmp_path / "doc.tex").write_text(doc)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
