"""Parts of ``bench_precision.py``: the result table, the xprec comparison and the digit checks
(see that script's docstring for what is measured and how)."""
from __future__ import annotations

import math
import time
import warnings

import mpmath
import numpy as np
import numpy.ma  # noqa: F401  (must precede xprec: numpy.ma's import fails once ddouble is registered)

from numeric.networks import jacobian_mp_values
from numeric.precision import matrix_spectrum, mpmath_singular_values
from _timing import best_time  # noqa: E402  (benchmarks/ is the script's directory)

DIGITS = 30
REF_DIGITS = DIGITS + 4          # certified reference for xprec: beyond its ~32 digits
MP_REF_DPS = math.ceil(2.5 * DIGITS)
REF_BUDGET = 300.0               # seconds for the certified reference of the xprec comparison
OURS_BUDGET = 300.0              # and for each of our timed runs there (--budget)
LABELS = {"relu2": "ReLU²", "tanh": "tanh", "sinc": "sinc", "gelu": "GELU"}
ROWS = []                        # the final Markdown table


def row(matrix, ours, baseline, ratio, digits, target):
    ROWS.append((matrix, ours, baseline, ratio, digits, target))


def fmt_t(t):
    return f"{t:.3g} s"


def fmt_d(d):
    return "exact" if d == math.inf else f"{d:.1f}"


# --- xprec -----------------------------------------------------------------------------------

def _xprec():
    import xprec
    import xprec.linalg  # noqa: F401
    return xprec


def dd_matrix(values, index):
    """The ddouble matrix ``A[i, j] = values[index[i, j]]`` with every entry rounded to
    double-double (``hi = float(v)``, ``lo = float(v - hi)``, the difference exact), and the
    exact values ``hi + lo`` of the distinct entries as mpf.

    A ddouble is stored as the float64 pair (hi, lo), so the pairs are written through a float64
    view: ``hi.astype(ddouble) + lo`` gives the same pairs except next to the float64 underflow
    (GELU has entries near 1e-308), where xprec's two-sum can flip a subnormal ``lo``.
    """
    xprec = _xprec()
    hi = np.array([float(v) for v in values])
    lo = np.array([float(mpmath.fsub(v, h, exact=True)) for v, h in zip(values, hi.tolist())])
    D = np.zeros(len(hi), xprec.ddouble)
    parts = D.view(np.float64).reshape(-1, 2)
    parts[:, 0], parts[:, 1] = hi, lo
    exact = [mpmath.fadd(h, l, exact=True) for h, l in zip(hi.tolist(), lo.tolist())]
    return D[np.asarray(index)], exact


XPREC_METHODS = {
    "svd": "xprec svd",                                  # Golub-Kahan, the library's SVD
    "jacobi": "xprec svd_trunc (RRQR + Jacobi)",
}


def xprec_svd(A, method="svd"):
    """All singular values of ``A`` (a ddouble array; float64 converts exactly) from xprec, as
    the exact mpf values of its double-double results, descending, and a note (``"ok"``, xprec's
    warnings, or why it failed; the values are then None).

    ``method="svd"``: ``xprec.linalg.svd`` (Householder bidiagonalisation, implicit-shift
    Golub-Kahan QR; it always forms U and V, there is no values-only mode).  ``"jacobi"``:
    ``xprec.linalg.svd_trunc`` (rank-revealing QR, then one-sided Jacobi on R^T), which drops
    the values below 5e-32 |R_11|; they are returned as 0.

    Exactly zero rows and columns are removed first and their exact zero singular values
    appended: xprec 1.4.7 registers its ddouble ``<=`` and ``>=`` loops with the strict
    comparisons, so the deflation test ``|e| <= eps (|d| + |e|)`` of ``svd`` fails on a zero
    diagonal entry with a zero neighbour and the bidiagonal QR runs past the matrix
    (IndexError) or divides by zero.
    """
    xprec = _xprec()
    A = np.asarray(A)
    if A.dtype != xprec.ddouble:
        A = A.astype(xprec.ddouble)
    nonzero = A.view(np.float64)[:, 0::2] != 0          # the hi parts
    B = A[nonzero.any(axis=1)][:, nonzero.any(axis=0)]
    count = min(A.shape)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if not B.size:
                s = np.zeros(0, xprec.ddouble)
            elif method == "svd":
                s = xprec.linalg.svd(B, full_matrices=False)[1]
            elif method == "jacobi":
                s = xprec.linalg.svd_trunc(B, method="jacobi")[1]
            else:
                raise ValueError(f"unknown method {method!r}")
        except Exception as exc:                          # noqa: BLE001  (reported, not raised)
            return None, f"failed: {type(exc).__name__}: {str(exc)[:80]}"
    notes = sorted({f"{type(w.message).__name__}: {w.message}" for w in caught})
    pairs = s.view(np.float64).reshape(-1, 2)
    if not np.isfinite(pairs).all():
        return None, "failed: non-finite values" + (f" ({'; '.join(notes)})" if notes else "")
    if method == "jacobi" and len(pairs) < min(B.shape):
        notes.append(f"{min(B.shape) - len(pairs)} values below its tolerance returned as 0")
    vals = sorted((mpmath.fadd(h, l, exact=True) for h, l in pairs.tolist()), reverse=True)
    return vals + [mpmath.mpf(0)] * (count - len(vals)), "; ".join(notes) or "ok"


def time_xprec(A, repeats, threads, method="svd"):
    """Best time of ``xprec_svd(A, method)`` over ``repeats`` calls for each OpenMP thread count in
    ``threads``: ``(best, {threads: time}, (values, note))``.  A setting whose first call takes
    over 3x the best so far is not repeated (2 threads on a busy machine can be 50x slower)."""
    from threadpoolctl import threadpool_limits
    _xprec()                                   # load libgomp before limiting it
    per, out = {}, None
    for th in threads:
        with threadpool_limits(th, user_api="openmp"):
            first, out = best_time(lambda: xprec_svd(A, method), 1)
            if per and first > 3 * min(per.values()):
                per[th] = first
                continue
            rest, out = best_time(lambda: xprec_svd(A, method), repeats - 1) if repeats > 1 else (first, out)
            per[th] = min(first, rest)
    return min(per.values()), per, out


# --- digits ----------------------------------------------------------------------------------

def _digits(err, scale):
    return math.inf if err == 0 else float(-mpmath.log10(err / scale))


def checked_digits(x, ref, bounds=None):
    """Digits of ``x`` guaranteed by the reference ``ref`` (both descending, mpf) with absolute
    error bounds ``bounds`` (None: taken as exact): ``(each, top, worst)``, where ``each`` is
    the minimum over the non-zero reference values of ``-log10((|x_i - r_i| + b_i) / |r_i|)``,
    ``top`` the same with ``|r_1|`` as divisor for every value, ``worst`` the 1-based position
    that sets ``each``.

    >>> with mpmath.workdps(40):
    ...     x = [mpmath.mpf(1), mpmath.mpf("1e-3")]
    ...     ref = [mpmath.mpf(1), mpmath.mpf("1e-3") + mpmath.mpf("1e-20")]
    >>> e, t, w = checked_digits(x, ref)
    >>> round(e, 6), round(t, 6), w
    (17.0, 20.0, 2)
    """
    if len(x) != len(ref):
        raise ValueError(f"{len(x)} values against {len(ref)} reference values")
    each, worst = math.inf, None
    r1 = abs(ref[0]) if len(ref) else 0
    top = math.inf
    for i, (a, r) in enumerate(zip(x, ref)):
        err = abs(a - r) + (bounds[i] if bounds is not None and len(bounds) else 0)
        if r1:
            top = min(top, _digits(err, r1))
        if r:
            d = _digits(err, abs(r))
            if d < each:
                each, worst = d, i + 1
    return each, top, worst


def resolution(ref, bounds):
    """The digits a reference with these bounds can confirm (relative to each non-zero value)."""
    return min((_digits(b, abs(r)) for r, b in zip(ref, bounds) if r), default=math.inf)


def ours_certified(values, index, digits, repeat, budget=None):
    """Best time of ``matrix_spectrum(values, index, digits, verify=True, budget)`` and its
    result; a first run over 20 s is not repeated."""
    budget = OURS_BUDGET if budget is None else budget

    def run():
        return matrix_spectrum(values, index, digits=digits, verify=True, budget=budget)
    first, res = best_time(run, 1)
    if repeat <= 1 or first > 20:
        return first, res
    rest, res = best_time(run, repeat - 1)
    return min(first, rest), res


def ratio_words(t_base, t_ours):
    r = t_base / t_ours
    return f"{r:.3g} (ours {1 / r:.3g}x the time)" if r < 1 else f"{r:.3g} (ours {r:.3g}x faster)"


def compare_xprec(label, values, index, mp_ref, repeats, threads, float_entries=False,
                  certified_ref=False):
    """xprec against ours on one matrix (see the module docstring).  When ``xprec.linalg.svd``
    fails or does not converge, xprec's other SVD (``svd_trunc``, Jacobi) is measured as well."""
    A, dd_vals = dd_matrix(values, index)
    t_o, res = ours_certified(values, index, DIGITS, repeats)
    print(f"{label}: ours (verify=True, {DIGITS} digits) {t_o:.3f} s, certified "
          f"{res.digits_achieved:.1f} digits, verified {res.verified}"
          + ("" if res.verified else f", uncertified {_positions(res.uncertified)}"), flush=True)

    # references for the matrix xprec was given
    refs = []                                     # (name, values, bounds or None)
    if float_entries:
        refs.append(("ours certified (same matrix)", res.values, res.bounds))
    if mp_ref:
        with mpmath.workdps(MP_REF_DPS):
            M = mpmath.matrix([[dd_vals[k] for k in r] for r in np.asarray(index).tolist()])
        t = time.perf_counter()
        mp = mpmath_singular_values(M, MP_REF_DPS)
        print(f"{label}: reference: mpmath.svd_r at {MP_REF_DPS} digits on the double-double entries, "
              f"{time.perf_counter() - t:.1f} s", flush=True)
        refs.append((f"mpmath.svd_r ({MP_REF_DPS} digits)", mp, None))
    if not float_entries and (not mp_ref or certified_ref):
        t = time.perf_counter()
        ref = matrix_spectrum(dd_vals, index, digits=REF_DIGITS, verify=True, budget=REF_BUDGET)
        print(f"{label}: reference: ours certified at {REF_DIGITS} digits on the double-double "
              f"entries, {time.perf_counter() - t:.2f} s, verified {ref.verified}, resolves "
              f"{fmt_d(resolution(ref.values, ref.bounds))} digits (each value)", flush=True)
        refs.insert(0, (f"certified ({REF_DIGITS} digits)", ref.values, ref.bounds))
        if mp_ref:
            e, tp, _ = checked_digits(mp, ref.values, ref.bounds)
            print(f"{label}: the two references agree to {fmt_d(e)} digits (each value) / {fmt_d(tp)} "
                  f"(s_1)", flush=True)
    if not float_entries:
        rname, rv, rb = refs[0]
        both = [a + (rb[i] if rb is not None else 0) for i, a in enumerate(res.bounds)]
        d_each, d_top, _ = checked_digits(res.values, rv, both)
        print(f"{label}: the double-double rounding of the entries moves the values by less than "
              f"10^-{fmt_d(d_each)} of each value / 10^-{fmt_d(d_top)} of s_1 (our certified "
              f"values against the {rname} reference)", flush=True)

    equal = {DIGITS: (t_o, res)}                  # ours at a number of digits
    for method in XPREC_METHODS:
        ok = _xprec_line(label, method, A, repeats, threads, refs, res, t_o, values, index, equal)
        if ok:
            break


def _xprec_line(label, method, A, repeats, threads, refs, res, t_o, values, index, equal):
    """Time, check and report one xprec method; True when it converged."""
    name = XPREC_METHODS[method]
    t_x, per, (sx, note) = time_xprec(A, repeats, threads, method)
    threads_txt = ", ".join(f"{th} thread{'s' if th > 1 else ''} {t:.3f} s" for th, t in per.items())
    if sx is None:
        print(f"{label}: {name} {t_x:.3f} s ({threads_txt}) {note}", flush=True)
        row(label, f"{fmt_t(t_o)} ({DIGITS} digits)", f"{name}: {note}", "-",
            f"{res.digits_achieved:.1f} / none", "-")
        return False
    checks = [(rname, checked_digits(sx, rv, rb)) for rname, rv, rb in refs]
    each = min(c[1][0] for c in checks)           # the more cautious of the references
    top = min(c[1][1] for c in checks)
    got = " | ".join(f"vs {rname}: {fmt_d(e)} digits each value (worst s_{w}), {fmt_d(tp)} relative "
                     f"to s_1" for rname, (e, tp, w) in checks)
    print(f"{label}: {name} {t_x:.3f} s ({threads_txt}; {note}) delivers {got} "
          f"-> xprec / ours {ratio_words(t_x, t_o)}", flush=True)
    converged = "converge" not in note
    row(label, f"{fmt_t(t_o)} ({DIGITS} digits)", f"{name} {fmt_t(t_x)}"
        + ("" if converged else " (did not converge)"), ratio_words(t_x, t_o) if converged else "-",
        f"{res.digits_achieved:.1f} / {fmt_d(each)} (s_1: {fmt_d(top)})", "-")

    if not converged:
        print(f"{label}: {name} did not converge: no equal-digits run", flush=True)
        return False
    d_eq = max(1, min(int(math.floor(each)) if each < math.inf else DIGITS + 2, 100))
    if d_eq not in equal:
        equal[d_eq] = ours_certified(values, index, d_eq, repeats)
    t_eq, res_eq = equal[d_eq]
    plural = "s" if d_eq > 1 else ""
    print(f"{label}: ours at the {d_eq} digit{plural} {name} delivered (verify=True) {t_eq:.3f} s, "
          f"certified {res_eq.digits_achieved:.1f} digits, verified {res_eq.verified} -> xprec / ours "
          f"{ratio_words(t_x, t_eq)}", flush=True)
    row(f"{label}, ours at {d_eq} digit{plural}", fmt_t(t_eq), f"{name} {fmt_t(t_x)}",
        ratio_words(t_x, t_eq), f"{res_eq.digits_achieved:.1f} / {fmt_d(each)}", "equal digits")
    return True


def _positions(pos, limit=12):
    pos = list(pos)
    if not pos:
        return "none"
    return ", ".join(map(str, pos[:limit])) + (f", ... ({len(pos)} values)" if len(pos) > limit else "")


def bench_xprec(sizes, args):
    xprec = _xprec()
    print(f"\n== xprec {xprec.__version__} (double-double) vs ours, at equal delivered digits ==")
    threads = args.xprec_threads or (1, 2)
    for n in sizes:
        for name in args.matrices:
            values, index = jacobian_mp_values(name, n, n, None, dps=DIGITS + 10)
            compare_xprec(f"{LABELS[name]}, N = {n}", values, index,
                          mp_ref=not args.no_mpmath_ref and n <= args.n_small, repeats=3 if n <= 256 else 1,
                          threads=threads, certified_ref=args.certified_ref)


def bench_xprec_random(n, args):
    rng = np.random.default_rng(20240601)
    F = rng.standard_normal((n, n))
    values = [mpmath.mpf(v) for v in F.ravel().tolist()]
    index = np.arange(n * n).reshape(n, n)
    threads = args.xprec_threads or ((1, 2) if n <= 256 else (1,))
    compare_xprec(f"random normal (seeded), N = {n}", values, index,
                  mp_ref=not args.no_mpmath_ref and n <= args.n_small, repeats=3 if n <= 256 else 1,
                  threads=threads, float_entries=True)
