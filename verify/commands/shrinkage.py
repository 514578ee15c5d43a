"""``implreg derive mask|threshold`` and ``implreg spectrum`` (seed 004: GD as a shrinkage operator)."""
from __future__ import annotations

import csv
import io
import os
import time

import sympy as sp

from analytic import masks as M
from analytic.errors import InputError
from ..atomic import atomic_write_text

METHOD_NAMES = tuple(M.METHODS)


def _add_mask_arguments(parser):
    parser.add_argument("--method", required=True, choices=METHOD_NAMES,
                        help="gd, gf (gradient flow), ridge, pca or heavy-ball")


def _run_mask(args):
    result = M.mask(args.method)
    expr = result.expr
    return {"text": f"m(s) = {expr}", "method": args.method, "mask": str(expr),
            "latex": result.latex(), "derivation_latex": result.derivation_latex()}


def parse_tau(text: str):
    """``tau`` from text: a decimal or fraction in (0, 1), or ``1-1/e``.

    >>> parse_tau("1-1/e"), parse_tau("0.5"), parse_tau("2/3")
    (1 - exp(-1), 1/2, 2/3)
    """
    t = str(text).strip().replace(" ", "")
    if t in ("1-1/e", "1-exp(-1)"):
        return 1 - sp.exp(-1)
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            value = sp.Rational(int(num), int(den))
        else:
            value = sp.Rational(t)
    except (ValueError, TypeError, ZeroDivisionError):
        raise InputError("--tau", text, "must be a number in (0, 1), a fraction p/q, or 1-1/e") from None
    if not (0 < value < 1):
        raise InputError("--tau", text, "must lie strictly between 0 and 1")
    return value


def _add_threshold_arguments(parser):
    parser.add_argument("--tau", default="1-1/e", help="mask threshold in (0, 1) (default 1-1/e)")


def _run_threshold(args):
    tau = parse_tau(args.tau)
    result = M.threshold_relation(tau)
    small = result.meta["small_eta_at_tau"]
    paper = sp.simplify(small.subs(M.eta, 1 / M.s_1**2))
    return {"text": f"T = {result.expr}   (small eta s^2: T ~ {small}; eta = 1/s_1^2: T ~ {paper})",
            "tau": str(tau), "T_exact": str(result.expr), "T_small_eta": str(small),
            "T_eta_1_over_s1_sq": str(paper), "latex": result.latex(),
            "derivation_latex": result.derivation_latex()}


DERIVE = {"mask": (_add_mask_arguments, _run_mask),
          "threshold": (_add_threshold_arguments, _run_threshold)}


# -- implreg spectrum ------------------------------------------------------------------------
def _add_spectrum_arguments(parser):
    from numeric.networks import ACTIVATIONS
    parser.add_argument("--activation", required=True, help="one of " + ", ".join(ACTIVATIONS))
    parser.add_argument("--n", type=int, required=True, help="number of samples N")
    parser.add_argument("--width", type=int, required=True, help="number of biases K")
    parser.add_argument("--scale", default=None, help="activation scale s (default: 1 or K)")
    parser.add_argument("--digits", type=int, default=30, help="significant digits (default 30)")
    parser.add_argument("--out", metavar="FILE.csv", help="write k, s_k, s_k/s_1 as CSV")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the recomputation at higher precision (precision then not stated)")


def write_csv_atomic(path: str, rows, header) -> None:
    """Write CSV through a temporary file in the same directory and ``os.replace``.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> write_csv_atomic(str(f), [(1, "2.5")], ("k", "s")); f.read_text().splitlines()
    ['k,s', '1,2.5']
    """
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise InputError("--out", path, "its directory does not exist")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _run_spectrum(args) -> int:
    import mpmath

    from numeric.networks import exact_scale, get_activation
    from numeric.precision import network_spectrum
    get_activation(args.activation)
    if args.n < 2 or args.n > 4000:
        raise InputError("--n", args.n, "must be between 2 and 4000")
    if args.width < 2 or args.width > 4000:
        raise InputError("--width", args.width, "must be between 2 and 4000")
    if not (1 <= args.digits <= 300):
        raise InputError("--digits", args.digits, "must be between 1 and 300")
    scale = None if args.scale is None else exact_scale(args.scale)
    start = time.perf_counter()
    res = network_spectrum(args.activation, args.n, args.width, scale, digits=args.digits,
                           verify=not args.no_verify)
    seconds = time.perf_counter() - start
    values = res.as_strings(args.digits)
    with mpmath.workdps(args.digits + 5):
        top = res.values[0]
        normalized = [mpmath.nstr(v / top, args.digits) if top and v else "0" for v in res.values]
    if args.no_verify:
        precision = f"precision not verified (requested {args.digits} digits)"
    else:
        precision = (f"achieved {min(res.digits_achieved, 99):.1f} significant digits "
                     f"(recomputed at {args.digits + 12} digits on the transposed matrix)")
    summary = (f"{len(values)} singular values of {args.activation} N={args.n} K={args.width} "
               f"scale={scale if scale is not None else 'default'}: {precision}; "
               f"{res.zeros} exact zeros; {res.method}; {seconds:.2f} s")
    if args.out:
        write_csv_atomic(args.out, [(k + 1, v, nv) for k, (v, nv) in enumerate(zip(values, normalized))],
                         ("k", "singular_value", "normalized"))
        print(summary)
        print(f"wrote {args.out}")
    else:
        for k, v in enumerate(values, 1):
            print(f"{k}\t{v}")
        print("# " + summary)
    return 0 if (args.no_verify or res.verified) else 1


COMMANDS = {"spectrum": ("singular values of a shallow-net Jacobian to many digits",
                         _add_spectrum_arguments, _run_spectrum)}
