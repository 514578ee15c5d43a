"""High-precision singular values against mpmath at a much higher precision (can fail)."""
import mpmath
import numpy as np
import pytest

from numeric.fixedpoint import Fixed, limb_bits
from numeric.networks import jacobian_mpmath
from numeric.precision import agreeing_digits, matrix_spectrum, mpmath_singular_values, network_spectrum


def _reference(name, n, scale, dps):
    return mpmath_singular_values(jacobian_mpmath(name, n, n, scale, dps=dps), dps)


@pytest.mark.parametrize("name,n,scale", [
    ("relu2", 16, None),       # graded, one exact zero
    ("tanh", 14, None),        # singular values in exactly equal pairs (odd activation)
    ("sinc", 16, 15),          # sinc at the sampling rate: identity, one 16-fold cluster
    ("sinc", 20, 6),           # plateau (clustered near the top) then a drop far below 1e-16
    ("gaussian", 24, 2),       # drop below float64's floor
    ("sinc", 40, None),        # default scale: a 30-fold cluster split at 1e-14 ... 1e-20 and below
])
def test_thirty_digits_against_mpmath(name, n, scale):
    res = network_spectrum(name, n, n, scale, digits=30, verify=True)
    ref = _reference(name, n, scale, 60 + res.stats.get("range_digits", 16))
    got = agreeing_digits(res.values, ref, ref[0], 30 + res.stats.get("range_digits", 16))
    assert got >= 30, (got, res.stats)
    assert res.verified and res.digits_achieved >= 30


def test_float64_is_wrong_where_high_precision_is_right():
    res = network_spectrum("gaussian", 24, 24, 2, digits=20, verify=False)
    ref = _reference("gaussian", 24, 2, 90)
    sv64 = np.linalg.svd(np.array(jacobian_mpmath("gaussian", 24, 24, 2, dps=20).tolist(), dtype=float),
                         compute_uv=False)
    assert ref[-1] < 1e-20 * ref[0]                               # far below float64's floor
    assert abs(sv64[-1] - float(ref[-1])) > 1e3 * float(ref[-1])  # float64 is garbage there
    assert abs(res.values[-1] - ref[-1]) < mpmath.mpf(10) ** -19 * ref[-1]


def test_fixed_point_products_are_exact():
    rng = np.random.default_rng(3)
    n = 12
    beta = limb_bits(n)
    A = Fixed.from_float(rng.standard_normal((n, n)), beta, 3)
    B = Fixed.from_float(rng.standard_normal((n, n)), beta, 3)
    C = A.matmul(B, 8)
    ia, ea = A.to_ints()
    ib, eb = B.to_ints()
    ic, ec = C.to_ints()
    IA = np.array(ia, dtype=object).reshape(n, n)
    IB = np.array(ib, dtype=object).reshape(n, n)
    exact = IA.dot(IB)
    shift = ea + eb - ec
    for i in range(n):
        for j in range(n):
            val = int(exact[i, j]) * 2**shift if shift >= 0 else None
            assert val is not None and val == ic[i * n + j]


def test_verification_detects_too_few_digits():
    # asking 5 digits: the recomputation at 17 digits agrees only to about the working accuracy
    res = network_spectrum("relu", 10, 10, digits=5, verify=True)
    assert res.verified and 5 <= res.digits_achieved < 60


def test_cli_spectrum_writes_csv_atomically(tmp_path, capsys):
    import csv

    from verify.cli import main
    out = tmp_path / "s.csv"
    assert main(["spectrum", "--activation", "relu2", "--n", "10", "--width", "8", "--digits", "25",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "achieved" in text and " s" in text
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["k", "singular_value", "normalized"] and len(rows) == 9
    ref = _reference_rect("relu2", 10, 8, 60)
    with mpmath.workdps(40):
        assert abs(mpmath.mpf(rows[1][1]) - ref[0]) < mpmath.mpf(10) ** -24 * ref[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".spectrum-")]
    assert main(["spectrum", "--activation", "relu", "--n", "1", "--width", "3"]) == 2


def _reference_rect(name, n, k, dps):
    from numeric.networks import jacobian_mpmath as jm
    return mpmath_singular_values(jm(name, n, k, None, dps=dps), dps)


def test_gram_and_anti_diagonal_sums_are_exact():
    # several limb products are summed in float64 before splitting: compare with exact integers
    rng = np.random.default_rng(5)
    n = 40
    beta = limb_bits(n)
    X = Fixed.from_float(rng.standard_normal((n, n)) * 1e3, beta, 6)
    Y = Fixed.from_float(rng.standard_normal((n, n)), beta, 6)
    ix, ex = X.to_ints()
    iy, ey = Y.to_ints()
    IX = np.array(ix, dtype=object).reshape(n, n)
    IY = np.array(iy, dtype=object).reshape(n, n)
    for got, exact, e_exact in ((X.matmul(Y, 14), IX.dot(IY), ex + ey), (X.gram(14), IX.T.dot(IX), 2 * ex)):
        ig, eg = got.to_ints()
        assert eg <= e_exact
        assert [int(v) * 2 ** (e_exact - eg) for v in exact.ravel()] == ig


def test_graded_tail_is_resolved_by_rotation():
    # relu2 at n = 48: the small singular values are grouped by float64 and resolved in place
    res = network_spectrum("relu2", 48, 48, digits=30, verify=False)
    ref = _reference("relu2", 48, None, 60 + res.stats.get("range_digits", 16))
    assert res.stats.get("rotations", 0) >= 1, res.stats
    assert agreeing_digits(res.values, ref, ref[0], 30 + res.stats.get("range_digits", 16)) >= 30


def _exact(F):
    ints, e = F.to_ints()
    return np.array(ints, dtype=object).reshape(F.shape), e


def _assert_exact(got, exact, e_exact):
    ig, eg = got.to_ints()
    assert eg <= e_exact
    assert [int(v) * 2 ** (e_exact - eg) for v in exact.ravel()] == ig


def test_products_at_the_exact_summation_limit_stay_exact():
    # every limb at 2^(beta-1) - 1 with an odd inner dimension: each limb product is an odd
    # integer just below 2^52, two sum exactly in float64 and a third would round, so the
    # measured bounds must split the anti-diagonal sums
    n = 63
    beta = limb_bits(n)
    top = 2.0 ** (beta - 1) - 1
    X = Fixed(np.full((5, n, n), top), 0, beta)
    Y = Fixed(np.full((5, n, n), top), 0, beta)
    IX, ex = _exact(X)
    IY, ey = _exact(Y)
    _assert_exact(X.matmul(Y, 12), IX.dot(IY), ex + ey)
    _assert_exact(X.gram(12), IX.T.dot(IX), 2 * ex)


def test_gram_with_many_pairs_per_split_is_exact():
    # narrow limbs: a whole anti-diagonal is summed by syrk/syr2k before one split
    rng = np.random.default_rng(11)
    X = Fixed.from_float(rng.standard_normal((30, 20)), 14, 8)
    IX, ex = _exact(X)
    _assert_exact(X.gram(20), IX.T.dot(IX), 2 * ex)


def test_evaluation_pass_equals_the_full_products():
    from numeric.evaluation_pass import Evaluation
    rng = np.random.default_rng(2)
    n = 24
    beta = limb_bits(n)
    U = Fixed.from_float(np.linalg.qr(rng.standard_normal((n, n)))[0], beta)
    V = Fixed.from_float(np.linalg.qr(rng.standard_normal((n, n)))[0], beta)
    A = Fixed.from_float(rng.standard_normal((n, n)), beta)
    P = A.matmul(V, 8)
    groups = [np.array([3, 1, 7]), np.array([0]), np.array([5, 2])] + \
        [np.array([i]) for i in (4, 6)] + [np.arange(8, n)]
    ev = Evaluation.of(U, V, P, groups, 8)
    Tm = U.T.matmul(P, 8)
    assert ev.diagT.to_ints() == Tm.diagonal().to_ints()
    for idx in ([1, 3, 7], [2, 5], list(range(8, n))):
        assert ev.blocks[tuple(idx)].to_float().tolist() == Tm.block(idx, idx).to_float().tolist()
    R = U.gram(8).identity_minus_float()
    S = V.gram(8).identity_minus_float()
    assert np.allclose(ev.rho, (np.diag(R) + np.diag(S)) / 2, rtol=1e-12, atol=0)
    assert 0 < ev.orthonormality_error < 1e-14


def test_high_precision_run_finishes_with_an_evaluation_pass():
    res = network_spectrum("tanh", 40, 40, digits=30, verify=True)
    assert res.stats.get("evaluation_passes", 0) >= 1, res.stats
    ref = _reference("tanh", 40, None, 60 + res.stats.get("range_digits", 16))
    assert agreeing_digits(res.values, ref, ref[0], 30 + res.stats.get("range_digits", 16)) >= 30
    assert res.verified


def test_a_value_first_found_below_the_range_is_resolved_not_zeroed():
    # float64 sees 1e-60 as 0 relative to 1: the first pass (16 digits of range) can only call it
    # zero, which must deepen the range instead of reporting an exact zero
    tiny = mpmath.mpf("1e-60")
    values = [mpmath.mpf(1), tiny, mpmath.mpf(0), mpmath.mpf(1) / 2, mpmath.mpf(1) / 3]
    index = np.array([[0, 2, 4], [2, 1, 2], [2, 2, 3]])
    res = matrix_spectrum(values, index, digits=30, verify=True)
    ref = mpmath_singular_values(mpmath.matrix([[values[k] for k in row] for row in index.tolist()]), 90)
    assert res.zeros == 0 and res.values[-1] != 0, res.stats
    assert abs(res.values[-1] - ref[-1]) < mpmath.mpf(10) ** -29 * ref[-1]
    assert res.verified


@pytest.mark.parametrize("name,scale", [("sinc", 8), ("sinc", 100), ("tanh", 10)])
def test_graded_tails_with_clusters_or_pairs_are_confirmed_by_the_recomputation(name, scale):
    # sinc at these scales: a cluster near the top, then graded tails down to 1e-23 .. 1e-100
    # of the top, below float64's resolution; tanh at scale 10: exact pairs graded to 1e-39.
    # The tail rotations and the updates must resolve the tail's own gaps (the recomputation
    # is independent: transposed, 42 digits)
    res = network_spectrum(name, 128, 128, scale, digits=30, verify=True)
    assert res.method.startswith("ogita"), res.method
    assert res.verified and res.digits_achieved >= 30, (res.digits_achieved, res.stats)
    assert res.stats.get("rotations", 0) >= 1 and res.stats["range_digits"] > 30
