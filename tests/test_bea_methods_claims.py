"""The exact comparisons behind the ``bea.sam.*`` and ``bea.adaptive.one-norm`` claims can fail:
a closed form with one coefficient changed is rejected, in E_i, E_ij, for d = 2 and 3."""
from __future__ import annotations

import sympy as sp

from analytic.adaptive_bias import adaptive_first_order_terms
from analytic.symbols import H
from verify.claims import bea_methods as B

R = sp.Rational


def test_sam_closed_form_is_accepted_and_a_changed_one_rejected():
    for model in ("sigmoid2d", "typed"):
        g, hess = B._jets(len(B._loss(model).variables))
        _, field = B._derived("sam", (("rho", B.RHO),), model, 1, ("rho",))
        F = B._first_order(field)
        assert B._same_function(F, -(g + (B.RHO + H / 2) * hess * g), len(g))
        assert not B._same_function(F, -(g + (B.RHO / 2 + H / 2) * hess * g), len(g))   # rho/4 in the loss
        assert not B._same_function(F, -(g + (B.RHO + H / 4) * hess * g), len(g))       # h/8 in the loss


def test_normalized_sam_needs_the_norm():
    g, hess = B._jets(2)
    _, field = B._derived("sam-normalized", (("rho", B.RHO),), "sigmoid2d", 1, ("rho",))
    F = B._first_order(field)
    norm = sp.sqrt((g.T * g)[0])
    assert B._same_function(F, -(g + B.RHO * hess * g / norm + H / 2 * hess * g), 2)
    assert not B._same_function(F, -(g + B.RHO * hess * g / norm ** 2 + H / 2 * hess * g), 2)   # not |g|
    assert not B._same_function(F, -(g + B.RHO * hess * g + H / 2 * hess * g), 2)               # unnormalized


def test_adam_closed_form_with_swapped_decays_is_rejected():
    g, hess = B._jets(2)
    hyper = (("b1", R(1, 2)), ("b2", R(3, 5)), ("eps", B.EPS))
    _, field = B._derived("adam", hyper, "sigmoid2d", 1)
    F = B._first_order(field)
    F0, F1 = adaptive_first_order_terms(g, hess, R(1, 2), R(3, 5), B.EPS)
    W0, W1 = adaptive_first_order_terms(g, hess, R(3, 5), R(1, 2), B.EPS)
    assert B._same_function(F, F0 + H * F1, 2)
    assert not B._same_function(F, W0 + H * W1, 2)
    assert not B._same_function(F, F0 - H * F1, 2)


def test_every_deterministic_built_in_is_measured_and_the_stochastic_ones_are_named():
    from analytic.optimizers import OPTIMIZERS
    measured = {m[0] for m in B.METHODS}
    assert measured | set(B.EXCLUDED) == set(OPTIMIZERS)
    assert not measured & set(B.EXCLUDED)
