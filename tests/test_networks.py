"""Shallow-net Jacobians: exact arguments, float64 vs mpmath entries, activations."""
from fractions import Fraction

import mpmath
import numpy as np
import pytest

from analytic.errors import InputError
from numeric.networks import ACTIVATIONS, jacobian, jacobian_arguments, jacobian_mp_values, jacobian_mpmath


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_float64_and_mpmath_entries_agree(name):
    A = jacobian(name, 7, 5, scale="5/2")
    B = jacobian_mpmath(name, 7, 5, scale="5/2", dps=30)
    ref = np.array([[float(B[i, j]) for j in range(5)] for i in range(7)])
    assert np.allclose(A, ref, rtol=1e-13, atol=1e-15)


def test_arguments_are_exact_rationals():
    d, den = jacobian_arguments(4, 3)
    for i in range(4):
        for j in range(3):
            assert Fraction(int(d[i, j]), den) == Fraction(i, 3) - Fraction(j, 2)


def test_mp_values_are_correct_to_the_digits_asked():
    vals, idx = jacobian_mp_values("tanh", 5, 5, scale=3, dps=40)
    with mpmath.workdps(60):
        exact = mpmath.tanh(mpmath.mpf(3) * (mpmath.mpf(4) / 4 - mpmath.mpf(1) / 4))
        assert abs(vals[idx[4, 1]] - exact) < mpmath.mpf(10) ** -39


def test_heaviside_is_lower_triangular_ones():
    assert (jacobian("heaviside", 6, 6) == np.tril(np.ones((6, 6)))).all()


def test_bad_input():
    with pytest.raises(InputError, match="activation"):
        jacobian("softsign", 4, 4)
    with pytest.raises(InputError, match="n"):
        jacobian("relu", 1, 4)
    with pytest.raises(InputError, match="scale"):
        jacobian("tanh", 4, 4, scale="-1")
