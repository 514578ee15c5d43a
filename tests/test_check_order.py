"""``implreg check order`` and :func:`numeric.order_check.order_errors`: measured orders of the
slaved modified flows on losses and methods defined only here, and a check that can fail."""
from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

from analytic.errors import InputError
from analytic.loss import parse_loss
from analytic.method import parse_method
from analytic.models import get_model
from analytic.optimizers import SAM, with_hyperparameters, with_step
from analytic.slaving import slaved_field
from analytic.symbols import H
from numeric.order_check import order_errors, regime_warnings, step_grid
from verify.cli import main

#: a 3-parameter loss no other test uses
LOSS = "1/2*(1 - a*tanh(b*c))**2 + 1/10*c**2"


def test_typed_heavy_ball_orders_on_an_unseen_loss():
    spec = parse_method("v = beta*v - h*g(x); x = x + v", {"beta": sp.Rational(1, 2)})
    loss = parse_loss(LOSS, "a,b,c")
    r = order_errors(spec, slaved_field(spec, loss, 2), step_grid(0.01, 4), [0.5, 1.0, 1.0], 0.5)
    for k in (0, 1, 2):
        assert abs(r.slopes[k] - (k + 1)) < 0.2, (k, r.slopes)
    # from v = 0 the iterates are off the manifold by O(h): the transient caps every order at ~1
    assert all(abs(r.transient_slopes[k] - 1) < 0.2 for k in (0, 1, 2))
    assert not r.failures()


def test_a_wrong_field_fails_the_check():
    # the order-1 term of heavy ball with beta = 1/2 used for beta = 0.6 iterates: the order-1 flow
    # is then only first-order accurate, and the check must say so
    loss = parse_loss(LOSS, "a,b,c")
    right = parse_method("v = beta*v - h*g(x); x = x + v", {"beta": sp.Rational(1, 2)})
    wrong = parse_method("v = beta*v - h*g(x); x = x + v", {"beta": sp.Rational(3, 5)})
    field = slaved_field(right, loss, 1)
    r = order_errors(wrong, field, step_grid(0.01, 3), [0.5, 1.0, 1.0], 0.5)
    assert r.failures() and abs(r.slopes[1] - 2) > 0.5


def test_sam_with_rho_scaled_with_h():
    spec = SAM(H, sp.Symbol("rho", positive=True))
    field = slaved_field(spec, get_model("sigmoid2d"), 2, small=("rho",))
    r = order_errors(spec, field, step_grid(0.01, 4), [1.5, -0.5], 0.5, scaled={"rho": sp.Rational(1, 20)})
    assert all(abs(r.slopes[k] - (k + 1)) < 0.15 for k in (0, 1, 2)), r.slopes


def test_regime_warning_for_slow_states():
    from analytic.optimizers import Adam
    assert any("b2" in w for w in regime_warnings(Adam(H), [0.01]))
    assert regime_warnings(Adam(H, "1/2", "3/5"), [0.01]) == ()


def test_spec_copies():
    spec = with_step(SAM(H, "rho"), sp.Rational(1, 10))
    assert spec.h == sp.Rational(1, 10) and with_hyperparameters(spec, {"rho": 2}).rho == 2
    with pytest.raises(InputError, match="beta"):
        with_hyperparameters(spec, {"beta": 1})


def test_bad_measurements_are_named():
    spec = parse_method("v = beta*v - h*g(x); x = x + v")          # beta stays a symbol
    field = slaved_field(spec, get_model("linear2d"), 1)
    with pytest.raises(InputError, match="beta"):
        order_errors(spec, field, [0.01, 0.005], [1.0, 0.5], 0.5)
    with pytest.raises(InputError, match="x0"):
        order_errors(spec, field, [0.01, 0.005], [1.0], 0.5)
    with pytest.raises(InputError, match="count"):
        step_grid(0.01, 1)


def _cli(tmp_path, *argv):
    out = tmp_path / "out"
    code = main(["check", "order", *argv, "--out", str(out), "--format", "json"])
    return code, out


def test_cli_rmsprop_passes_and_writes_its_record(tmp_path, capsys):
    code, out = _cli(tmp_path, "--optimizer", "rmsprop", "--rho", "1/2", "--eps", "1/10", "--model", "sigmoid2d",
                     "--order", "1", "--start", "3/2,-1/2", "--steps", "3")
    record = json.loads(capsys.readouterr().out)
    assert code == 0 and record["passed"]
    assert json.loads((out / "order-check.json").read_text()) == record
    assert (out / "order-loglog.png").stat().st_size > 0
    slopes = record["measurement"]["slopes"]
    assert abs(slopes["0"] - 1) < 0.2 and abs(slopes["1"] - 2) < 0.2


def test_cli_exits_1_with_the_slope_outside_the_regime(tmp_path, capsys):
    # Adam's default beta2 = 0.999 at h = 0.01: h/(1 - beta2) = 10, the state is not slaved
    code, _ = _cli(tmp_path, "--optimizer", "adam", "--model", "sigmoid2d", "--order", "1",
                   "--start", "3/2,-1/2", "--steps", "3")
    captured = capsys.readouterr()
    assert code == 1 and "measured slope" in captured.err
    assert json.loads(captured.out)["measurement"]["warnings"]


def test_cli_bad_input_is_named(tmp_path, capsys):
    code, _ = _cli(tmp_path, "--optimizer", "gd", "--model", "sigmoid2d", "--start", "1,2,3")
    assert code == 2 and "--start" in capsys.readouterr().err
    code, _ = _cli(tmp_path, "--optimizer", "sam", "--small", "rho", "--model", "sigmoid2d")
    assert code == 2 and "--small" in capsys.readouterr().err
    code, _ = _cli(tmp_path, "--method", "x = x - h*g(x)", "--init", "v=0", "--model", "sigmoid2d")
    assert code == 2 and "--init" in capsys.readouterr().err


def test_derive_modified_loss_of_a_stateful_method(capsys):
    # heavy ball typed: F_0 = -grad E/(1 - beta), and the manifold v = h F_0 + ...
    code = main(["derive", "modified-loss", "--method", "v = beta*v - h*g(x); x = x + v", "--beta", "1/2",
                 "--loss", "a**2*b**2/2", "--vars", "a,b", "--order", "1", "--format", "json"])
    p = json.loads(capsys.readouterr().out)
    assert code == 0 and p["terms"][0]["abstract"] == ["-2*E_{1}", "-2*E_{2}"]
    a, b = sp.symbols("a b", real=True)
    v1 = p["manifold"][1]["state"]["v"]
    assert [sp.simplify(sp.parse_expr(e, {"a": a, "b": b}) - r) for e, r in zip(v1, (-2 * a * b ** 2, -2 * a ** 2 * b))] == [0, 0]


def test_derive_modified_loss_of_adam_gives_the_manifold(capsys):
    code = main(["derive", "modified-loss", "--optimizer", "adam", "--beta1", "1/2", "--beta2", "3/5", "--eps",
                 "1/10", "--model", "sigmoid2d", "--order", "1", "--format", "json"])
    p = json.loads(capsys.readouterr().out)
    assert code == 0 and p["calculus"] == "local"
    assert p["manifold"][0]["abstract"] == {"m": ["E_{1}", "E_{2}"], "s": ["E_{1}**2", "E_{2}**2"]}
    assert p["terms"][0]["is_gradient"] is False
    assert any("bias correction" in a for a in p["assumptions"])


def test_no_figure_writes_only_the_record(tmp_path, capsys):
    out = tmp_path / "o"
    status = main(["check", "order", "--optimizer", "gd", "--model", "sigmoid2d", "--order", "0", "--steps", "3",
                   "--time", "1/10", "--no-figure", "--out", str(out)])
    assert status == 0 and sorted(p.name for p in out.iterdir()) == ["order-check.json"]
    assert json.loads((out / "order-check.json").read_text())["passed"] is True
    assert "order-loglog" not in capsys.readouterr().out
