"""Rigorous singular-value bounds (numeric.certify): they contain high-precision references,
they are sharp when the vectors are, and a perturbed claimed value is rejected."""
import flint
import mpmath
import numpy as np
import pytest

from numeric.certify import ball_matrix, fixed_to_ball, singular_value_bounds
from numeric.fixedpoint import Fixed
from numeric.networks import jacobian_mp_values


@pytest.fixture(autouse=True)
def _precision():
    old = flint.ctx.prec
    flint.ctx.prec = 300
    yield
    flint.ctx.prec = old


def _reference(rows, dps):
    with mpmath.workdps(dps):
        S = mpmath.svd_r(mpmath.matrix(rows), compute_uv=False)
        return sorted((S[i] for i in range(S.rows)), reverse=True)


def _random_rows(n, seed):
    rng = np.random.default_rng(seed)
    return [[mpmath.mpf(int(v)) / 97 for v in row] for row in rng.integers(-50, 50, (n, n))]


def test_bounds_contain_the_reference_and_are_sharp_with_float_vectors():
    rows = _random_rows(7, 0)
    M = np.array([[float(v) for v in r] for r in rows])
    U, s, Vt = np.linalg.svd(M)
    b = singular_value_bounds(ball_matrix(rows), ball_matrix(U), ball_matrix(Vt.T))
    ref = _reference(rows, 60)
    for lo, hi, r in zip(b.lower, b.upper, ref):
        assert lo <= r <= hi
        assert (hi - lo) / r < 1e-12                       # float64 vectors: about 1e-15
    bounds = b.bound_for([mpmath.mpf(v) for v in s])
    assert all(bd >= abs(mpmath.mpf(v) - r) for bd, v, r in zip(bounds, s, ref))


def test_a_perturbed_value_is_rejected():
    rows = _random_rows(6, 1)
    M = np.array([[float(v) for v in r] for r in rows])
    U, s, Vt = np.linalg.svd(M)
    b = singular_value_bounds(ball_matrix(rows), ball_matrix(U), ball_matrix(Vt.T))
    claimed = [mpmath.mpf(v) for v in s]
    good = b.bound_for(claimed)
    claimed[3] *= 1 + mpmath.mpf(10) ** -9              # one value off in the 9th digit
    bad = b.bound_for(claimed)
    assert bad[3] >= mpmath.mpf(10) ** -9 * claimed[3] * 0.99
    assert bad[3] > 1000 * good[3]
    assert not (b.lower[3] <= claimed[3] <= b.upper[3])


def test_graded_spectrum_certified_to_30_digits_with_accurate_vectors():
    # tanh(x_i - b_j), scale 1: values fall to ~1e-14 of the largest at N = 12; vectors from
    # mpmath at 80 digits, values checked against a 120-digit reference
    vals, idx = jacobian_mp_values("tanh", 12, 12, 1, dps=130)
    rows = [[vals[k] for k in r] for r in idx.tolist()]
    with mpmath.workdps(80):
        U, S, V = mpmath.svd_r(mpmath.matrix(rows))
        order = sorted(range(12), key=lambda i: -S[i])
        Um = [[U[i, k] for k in order] for i in range(12)]
        Vm = [[V[k, j] for k in order] for j in range(12)]          # columns: right vectors
        claimed = [S[k] for k in order]
    b = singular_value_bounds(ball_matrix(rows), ball_matrix(Um), ball_matrix(Vm))
    ref = _reference(rows, 120)
    bounds = b.bound_for(claimed)
    for bd, c, r in zip(bounds, claimed, ref):
        assert abs(c - r) <= bd
        assert bd <= mpmath.mpf(10) ** -30 * r
    assert ref[-1] / ref[0] < 1e-10                                  # it is graded


def test_bounds_hold_whatever_the_signs_of_the_vectors():
    rows = _random_rows(5, 2)
    M = np.array([[float(v) for v in r] for r in rows])
    U, s, Vt = np.linalg.svd(M)
    U[:, 1] *= -1                                                     # T_11 < 0
    b = singular_value_bounds(ball_matrix(rows), ball_matrix(U), ball_matrix(Vt.T))
    for lo, hi, r in zip(b.lower, b.upper, _reference(rows, 50)):
        assert lo <= r <= hi


def test_wrong_vectors_give_wide_not_wrong_bounds():
    rows = _random_rows(5, 3)
    U = np.linalg.qr(np.random.default_rng(4).standard_normal((5, 5)))[0]
    b = singular_value_bounds(ball_matrix(rows), ball_matrix(U), ball_matrix(np.eye(5)))
    for lo, hi, r in zip(b.lower, b.upper, _reference(rows, 50)):
        assert lo <= r <= hi
    assert b.coupling > 0.1


def test_fixed_to_ball_is_exact():
    X = np.array([[1 / 3, -2.5], [1e-30, 7.0]])
    F = Fixed.from_float(X, 20)
    B = fixed_to_ball(F)
    for i in range(2):
        for j in range(2):
            assert B[i, j].is_exact() and float(B[i, j].mid()) == F.to_float()[i, j]


def test_entries_known_only_roughly_are_not_certified():
    from numeric.precision import matrix_spectrum
    rows = _random_rows(6, 5)
    values = [v for r in rows for v in r]
    index = np.arange(36).reshape(6, 6)

    def balls(prec):                         # every entry known to +- 1e-12 only
        return [flint.arb(flint.arb(v.man_exp[0]) * flint.arb(2) ** int(v.man_exp[1]) * (1 if v > 0 else -1),
                          flint.arb(10) ** -12) for v in values]
    res = matrix_spectrum(values, index, digits=30, balls=balls)
    assert not res.verified and res.uncertified == tuple(range(1, 7))
    assert res.digits_achieved < 13
    assert all(b > mpmath.mpf(10) ** -13 for b in res.bounds)


def test_graded_tanh_spectrum_is_certified_and_correct():
    # tanh at scale 1: exact pairs and a spectrum down to ~1e-43 of the largest (the case whose
    # digits were once wrong below 1e-22); every value within its bound of a deep reference
    from numeric.networks import jacobian_mpmath
    from numeric.precision import mpmath_singular_values, network_spectrum
    res = network_spectrum("tanh", 32, 32, 1, digits=30)
    assert res.verified and res.digits_achieved >= 30
    ref = mpmath_singular_values(jacobian_mpmath("tanh", 32, 32, 1, dps=130), 130)
    with mpmath.workdps(130):
        assert ref[-1] < mpmath.mpf(10) ** -40 * ref[0]
        for v, b, r in zip(res.values, res.bounds, ref):
            assert abs(v - r) <= b and b <= mpmath.mpf(10) ** -30 * r


def test_spectrum_cli_writes_the_bounds_column(tmp_path, capsys):
    from verify.cli import main
    out = tmp_path / "s.csv"
    assert main(["spectrum", "--activation", "gelu", "--n", "12", "--width", "10", "--scale", "10",
                 "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "k,singular_value,normalized,abs_error_bound" and len(lines) == 11
    assert all(float(l.split(",")[3]) <= 1e-30 * float(l.split(",")[1]) for l in lines[1:])
    assert "certified to at least" in capsys.readouterr().out
