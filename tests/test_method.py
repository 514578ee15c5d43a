"""The typed method language: a rule typed as text is the same spec as the built-in it spells.

* A typed heavy ball steps bit for bit like ``HeavyBall`` through the compiled driver (many
  starts, 2000 steps) and has the same series form and modified field.
* Every built-in's ``lines()`` parse back into a typed method with the same iterates, bit for
  bit on NumPy and exactly on SymPy, so ``implreg optimizers`` prints rules that are true.
* Bad rules are refused with the token and its column.
* ``implreg derive stability --method`` reads the typed rule through the generic linearization.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

from analytic.bea import modified_loss
from analytic.errors import InputError
from analytic.method import MethodError, parse_method
from analytic.method_series import series_form
from analytic.models import get_model
from analytic.namespace import SYMPY
from analytic.optimizers import OPTIMIZERS, HeavyBall, Nesterov, make_optimizer
from analytic.symbols import BETA, H
from numeric.compile import compile_gradient
from numeric.driver import run
from verify.cli import main

HEAVY_BALL = "v = beta*v - h*g(x); x = x + v"


def _grad(p):
    return 2 * np.tanh(p) + 0.3 * p ** 3


def test_typed_heavy_ball_is_bit_for_bit_the_built_in():
    grad = compile_gradient(get_model("sigmoid2d"))
    x0 = np.random.default_rng(3).normal(size=(64, 2))
    typed = parse_method(HEAVY_BALL, "h=1/10, beta=9/10")
    a = run(HeavyBall("1/10", "9/10"), grad, x0, 2000, record_every=50)
    b = run(typed, grad, x0, 2000, record_every=50)
    assert a.xs.shape == b.xs.shape == (41, 64, 2)
    assert np.array_equal(a.xs, b.xs)
    assert np.abs(a.xs[-1] - a.xs[0]).max() > 0.1          # the runs moved: the comparison is not vacuous
    # a one-ulp change of beta is seen: bit-for-bit equality can fail
    other = run(parse_method(HEAVY_BALL, "h=1/10, beta=900000000001/1000000000000"), grad, x0, 2000, record_every=50)
    assert not np.array_equal(a.xs, other.xs)


def test_typed_heavy_ball_has_the_built_in_modified_field():
    typed = parse_method(HEAVY_BALL)
    assert series_form(typed) == series_form(HeavyBall(H, BETA))
    loss = get_model("sigmoid2d")
    a, b = modified_loss(typed, loss, 2), modified_loss(HeavyBall(H, BETA), loss, 2)
    assert a.coefficients == b.coefficients and a.time_scale == b.time_scale
    assert a.terms == b.terms and a.modified_loss == b.modified_loss
    assert a.terms[1] != sp.zeros(*a.terms[1].shape)           # order 1 is not trivially equal
    nesterov = parse_method("y = x + beta*v; v = beta*v - h*g(y); x = x + v")
    assert series_form(nesterov) == series_form(Nesterov(H, BETA))
    assert series_form(nesterov) != series_form(typed)


_VALUES = {"beta": "1/2", "sigma": "1/10"}


def _pair(name):
    """The built-in with numbers and the typed method parsed from its printed rule."""
    reads = OPTIMIZERS[name][1]
    num = make_optimizer(name, "1/10", **{k: v for k, v in _VALUES.items() if k in reads})
    text = "; ".join(make_optimizer(name, H).lines())
    hyper = {k: v for k, v in num.hyperparameters().items() if k != "h" and isinstance(v, sp.Basic)
             and k in text}
    return num, parse_method(text, {**hyper, "h": "1/10"})


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_printed_rules_step_like_the_built_ins(name):
    num, typed = _pair(name)
    x0 = np.random.default_rng(1).normal(size=(7, 3))
    if num.sampling is None:
        a, b = run(num, _grad, x0, 60, record_every=1), run(typed, _grad, x0, 60, record_every=1)
        assert np.array_equal(a.xs, b.xs), name
    # exactly, one step on SymPy (the sampling only changes which gradient is read)
    x = sp.Rational(1, 3)
    g = lambda p: p ** 3 + p / 2          # noqa: E731
    s1, x1 = num.step(num.init(x, SYMPY), x, g, SYMPY)
    s2, x2 = typed.step(typed.init(x, SYMPY), x, g, SYMPY)
    s1, x1 = num.step(s1, x1, g, SYMPY)
    s2, x2 = typed.step(s2, x2, g, SYMPY)
    assert sp.simplify(x1 - x2) == 0 and x1 != x, name


def test_weight_decay_is_printed_at_every_gradient_read():
    from analytic.optimizers import SAM, WeightDecay
    lines = "; ".join(WeightDecay("h", SAM("h"), "1/10").lines())
    assert lines.startswith("u = g(x + rho*(g(x) + weight_decay*x)) + weight_decay*(x + rho*(g(x) + weight_decay*x))")
    num = WeightDecay("1/10", SAM("1/10", "1/20"), "1/10")
    typed = parse_method(lines, "h=1/10, rho=1/20, weight_decay=1/10")
    x0 = np.random.default_rng(2).normal(size=(5, 2))
    assert np.array_equal(run(num, _grad, x0, 40).xs, run(typed, _grad, x0, 40).xs)


@pytest.mark.parametrize("text, token, message", [
    ("x = x - h*abs(g(x))", "abs", "non-smooth"),
    ("x = x - h*relu(g(x))", "relu", "non-smooth"),
    ("x = x - h*foo(x)", "foo", "unknown function"),
    ("y = 2*x; x = x - h*g(x)", "y", "never read"),
    ("v = 1; v = 2; x = x - h*v*g(x)", "v", "overwritten before it is read"),
    ("g = x; x = x - h*g(x)", "g", "cannot be assigned"),
    ("h = 1; x = x - h*g(x)", "h", "step size"),
    ("x = x - h*g(x).T", "g(x).T", "attribute access"),
    ("x = x - h*g(x)**x", "g(x)**x", "exponent"),
    ("x = x - h*g(x, x)", "g", "one point"),
    ("v = beta*v - h*g(x)", "", "x is never assigned"),
    ("x = x - 0.1*g(x)", "", "step size h"),
    ("x += h", "x += h", "one assignment"),
    ("x = x - h*g(x) # comment", "'#'", "not allowed"),
])
def test_bad_rules_name_the_token(text, token, message):
    with pytest.raises(MethodError, match=message) as info:
        parse_method(text)
    assert info.value.argument == "method"
    if token:
        assert info.value.token == token
        assert info.value.column is None or text[info.value.column - 1:].startswith(token.strip("'"))


def test_bad_params_and_init():
    with pytest.raises(InputError, match="'params'.*not a hyperparameter"):
        parse_method(HEAVY_BALL, "rho=1/2")
    with pytest.raises(InputError, match=r"'params\[beta\]'"):
        parse_method(HEAVY_BALL, "beta=1/0")
    with pytest.raises(InputError, match="'init'.*not a state variable"):
        parse_method(HEAVY_BALL, init="w=1")
    with pytest.raises(InputError, match="'optimizer'.*must be numbers"):
        run(parse_method(HEAVY_BALL, "h=1/10"), _grad, [[1.0]], 3)


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_stability_of_a_typed_heavy_ball_is_the_closed_form(capsys):
    from analytic.stability import heavy_ball_stability
    code, out, err = _cli(capsys, "derive", "stability", "--method", HEAVY_BALL, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["rule"] == ["v = beta*v - h*g(x)", "x = x + v"]
    h, lam, beta = H, sp.Symbol("lambda", real=True), BETA
    from analytic.spec_stability import spec_stability
    closed = heavy_ball_stability()
    typed = spec_stability(parse_method(HEAVY_BALL)).expr
    assert str(typed) == data["condition"]
    # the same region: agree on a grid of (beta, h*lambda), both inside and outside
    grid = [(b, x) for b in (-0.9, -0.3, 0, 0.5, 0.95) for x in np.linspace(-0.5, 4.5, 41)]
    inside = 0
    for b, x in grid:
        sub = {beta: sp.Rational(b).limit_denominator(100), h: sp.Rational(x).limit_denominator(1000), lam: 1}
        assert bool(closed.expr.subs(sub)) == bool(typed.subs(sub)), (b, x)
        inside += bool(typed.subs(sub))
    assert 0 < inside < len(grid)


def test_cli_stability_of_typed_sam_and_rmsprop(capsys):
    code, out, err = _cli(capsys, "derive", "stability", "--method", "x = x - h*g(x + rho*g(x))",
                          "--params", "rho=1/2", "--format", "json")
    assert code == 0, err
    cond = json.loads(out)["charpoly"]
    # the multiplier is 1 - h lambda (1 + rho lambda): p(z) = z - 1 + h lambda (1 + lambda/2)
    h, lam, z = H, sp.Symbol("lambda", real=True), sp.Symbol("z")
    from analytic.spec_stability import spec_characteristic_polynomial
    p = spec_characteristic_polynomial(parse_method("x = x - h*g(x + rho*g(x))", "rho=1/2")).expr
    assert sp.expand(p - (z - 1 + h * lam * (1 + lam / 2))) == 0 and str(p) == cond
    code, out, err = _cli(capsys, "derive", "stability", "--method",
                          "s = r*s + (1-r)*g(x)**2; x = x - h*g(x)/(sqrt(s) + eps)",
                          "--params", "r=9/10, eps=1/10", "--frozen", "s=1/4", "--format", "json")
    assert code == 0, err
    # preconditioned GD: h lambda / (sqrt(1/4) + 1/10) < 2, i.e. h lambda < 6/5
    assert json.loads(out)["explicit"] == "(0 < h*lambda) & (h*lambda < 6/5)"


@pytest.mark.parametrize("argv, option", [
    (["--method", "x = x - h*abs(g(x))"], "'--method'"),
    (["--method", HEAVY_BALL, "--params", "gamma=1"], "'--params'"),
    (["--optimizer", "adam", "--params", "b1=2"], "'--params'"),
    (["--optimizer", "rmsprop", "--frozen", "s=-1"], "'--frozen'"),
    (["--optimizer", "gd", "--init", "v=1"], "'--init'"),
    (["--optimizer", "sam-normalized"], "'--optimizer'"),
])
def test_cli_stability_rejects_bad_input(argv, option, capsys):
    code, out, err = _cli(capsys, "derive", "stability", *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and option in err, err


def test_cli_optimizers_lists_every_built_in(capsys):
    code, out, err = _cli(capsys, "optimizers", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert [d["name"] for d in data] == list(OPTIMIZERS)
    adam = next(d for d in data if d["name"] == "adam")
    assert adam["state"] == ["k", "m", "s"] and adam["rule"][-1] == "x = x + u"
    code, out, _ = _cli(capsys, "optimizers", "heavy-ball")
    assert out.splitlines() == ["heavy-ball: HeavyBall(h=h, beta=beta)", "    u = g(x)",
                                "    v = beta*v - h*u", "    u = v", "    x = x + u"]
    assert _cli(capsys, "optimizers", "adagrad")[0] == 2


@pytest.mark.needs_pdflatex
def test_cli_optimizers_latex_compiles(tmp_path, capsys):
    from verify.pdflatex import compile_tex
    code, out, err = _cli(capsys, "optimizers", "--format", "latex", "--notation", r"step=\eta,b1=\beta_1")
    assert code == 0, err
    assert r"\eta" in out and r"\beta_1" in out and r"\leftarrow" in out
    tex = tmp_path / "optimizers.tex"
    tex.write_text("\\documentclass{article}\n\\usepackage{amsmath}\n\\usepackage{amssymb}\n"
                   "\\begin{document}\n" + out + "\n\\end{document}\n")
    assert compile_tex(tex).exists()
