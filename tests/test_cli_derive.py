"""implreg derive gradient|hessian|grad-norm|minima."""
import json
import subprocess
import sys
import os

import pytest
import sympy as sp

from analytic.loss import symbol
from analytic.parse import parse_expression
from verify.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGMOID = ["--loss", "1/2*(y - w1/(1+exp(-w2*x)))**2", "--vars", "w1,w2", "--params", "x=1,y=3/5"]
QUANTITIES = ["gradient", "hessian", "grad-norm", "minima"]
w1, w2 = symbol("w1"), symbol("w2")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("quantity", QUANTITIES)
def test_json_has_the_documented_keys(capsys, quantity):
    code, out, err = run(capsys, "derive", quantity, *SIGMOID, "--format", "json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert set(data) == {"quantity", "loss", "variables", "params", "result", "latex"}
    assert data["quantity"] == quantity
    assert data["variables"] == ["w1", "w2"] and data["params"] == {"x": "1", "y": "3/5"}
    assert data["latex"]


def test_grad_norm_json_result_is_the_seed000_form(capsys):
    _, out, _ = run(capsys, "derive", "grad-norm", "--model", "sigmoid2d", "--format", "json")
    result = parse_expression(json.loads(out)["result"], {"w1": w1, "w2": w2})
    s = 1 + sp.exp(-w2)
    closed = (1 / s**2 + w1**2 * sp.exp(-2 * w2) / s**4) * (sp.Rational(3, 5) - w1 / s)**2
    assert sp.simplify(result - closed) == 0


def test_minima_text_and_latex(capsys):
    code, out, _ = run(capsys, "derive", "minima", "--model", "sigmoid2d")
    assert code == 0 and "w2" in out and "log(5*w1/3 - 1)" in out
    code, out, _ = run(capsys, "derive", "minima", "--model", "sigmoid2d", "--format", "latex")
    assert out.startswith("\\begin{align}") and "\\log" in out


@pytest.mark.parametrize("quantity", QUANTITIES)
def test_text_and_latex_formats(capsys, quantity):
    code, out, _ = run(capsys, "derive", quantity, "--model", "linear2d", "--format", "text")
    assert code == 0 and out.startswith(f"{quantity}: ")
    code, out, _ = run(capsys, "derive", quantity, "--model", "linear2d", "--format", "latex")
    assert code == 0 and "\\begin{align}" in out and "\\end{align}" in out


def test_gradient_text_value(capsys):
    _, out, _ = run(capsys, "derive", "gradient", "--loss", "w1**2*w2", "--vars", "w1,w2")
    assert out.strip() == f"gradient: {sp.Matrix([2 * w1 * w2, w1**2])}"


@pytest.mark.parametrize("argv", [
    ["derive", "gradient", "--loss", "w^2", "--vars", "w"],
    ["derive", "hessian", "--loss", "__import__('os')", "--vars", "w"],
    ["derive", "grad-norm", "--loss", "w*z", "--vars", "w"],
    ["derive", "minima", "--loss", "w**2"],
    ["derive", "gradient", "--model", "nope"],
    ["derive", "gradient", "--loss", "w", "--vars", "w", "--params", "x=abc("],
    ["derive", "gradient", "--loss", "w", "--vars", "1w"],
    ["derive", "gradient", "--model", "sigmoid2d", "--loss", "w"],
])
def test_bad_input_exits_2_with_one_line(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("implreg: error: ")
    assert "Traceback" not in err


def test_subprocess_bad_input_has_no_traceback():
    p = subprocess.run([sys.executable, "-m", "verify.cli", "derive", "grad-norm", "--loss", "w1.__class__",
                        "--vars", "w1"], capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env={**os.environ, "PYTHONPATH": ROOT})
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "attribute" in p.stderr and "Traceback" not in p.stderr


def test_argparse_usage_errors_are_one_line(capsys):
    from verify.cli import main as cli_main
    for argv in (["derive", "gradient", "--model", "sigmoid2d", "--format", "xml"], ["no-such-command"]):
        assert cli_main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error" in err, err
