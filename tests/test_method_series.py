"""Method to series: the modified field is read from the spec's step, whatever its class."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import sympy as sp

from analytic import optimizers as O
from analytic import transforms as tx
from analytic.bea import H, modified_field
from analytic.bea_coefficients import tree_coefficients
from analytic.errors import InputError
from analytic.method_series import SeriesForm, series_form

BETA = sp.Symbol("beta", real=True)


@dataclass(frozen=True)
class TraceMomentum(O.Optimizer):
    """Heavy ball written in gradient space (optax's trace): m <- beta m + g, x <- x - h m."""

    beta: object = 0

    @property
    def transform(self):
        return tx.chain(tx.trace(self.beta), tx.scale(-self.h))


@dataclass(frozen=True)
class LookaheadTrace(O.Optimizer):
    """A rule of no built-in class: the velocity with its look-ahead, then nothing else."""

    beta: object = 0

    @property
    def transform(self):
        return tx.chain(tx.velocity(self.h, self.beta, lookahead=True))


def test_the_same_rule_in_another_form_gives_the_same_series():
    assert series_form(TraceMomentum(H, BETA)) == series_form(O.HeavyBall(H, BETA))
    a, b = tree_coefficients(TraceMomentum(H, BETA), 3), tree_coefficients(O.HeavyBall(H, BETA), 3)
    assert a.keys() == b.keys() and all(sp.simplify(a[t] - b[t]) == 0 for t in a)
    assert series_form(LookaheadTrace(H, BETA)) == series_form(O.Nesterov(H, BETA))
    assert modified_field(LookaheadTrace(H, "1/3"), 2).abstract_str(2) == \
        modified_field(O.Nesterov(H, "1/3"), 2).abstract_str(2)


def test_series_form_of_the_built_ins():
    assert (series_form(O.GD(H)).beta, series_form(O.GD(H)).gamma, series_form(O.GD(H)).batches) == (0, 0, None)
    assert series_form(O.SGD(H, 4)).batches == 4 and series_form(O.SGD(H, 4)).beta == 0
    assert series_form(O.Nesterov(H, "1/2")).gamma == sp.Rational(1, 2)
    assert series_form(O.EMA(H, O.GD(H), "1/2")).beta == 0      # the average does not feed back
    assert series_form(O.SGDMomentum(H, 3, beta="1/2")) == SeriesForm(sp.Rational(1, 2), 0, 3)


@pytest.mark.parametrize("spec, reason", [
    (O.SAM(H, "1/20"), "gradient at 2 points"),
    (O.EMA(H, O.HeavyBall(H, "1/2"), "1/2"), "state has 2 entries"),
    (O.Adam(H), "state has"),
    (O.RMSProp(H), "not linear"),
    (O.WeightDecay(H, O.GD(H), "1/10"), "not linear"),
    (O.SGD(H, 2, replacement=True), "replacement"),
    (O.SGDMomentum(H, 2, beta="1/2", replacement=True), "replacement"),
    (O.LabelNoise(H, "1/5"), "label noise"),
])
def test_methods_outside_the_family_are_refused_with_the_reason(spec, reason):
    with pytest.raises(InputError, match=reason):
        series_form(spec)
