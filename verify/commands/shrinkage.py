"""``implreg derive mask|threshold`` and ``implreg spectrum`` (seed 004: GD as a shrinkage operator)."""
from __future__ import annotations

import csv
import io
import os
import time

import sympy as sp

from analytic import masks as M
from analytic.budget import time_budget
from analytic.errors import InputError
from analytic.values import bounded_int, exact_number

from ..atomic import atomic_write_text
from .common import integer, output_file, real, typed

#: largest N and K of ``implreg spectrum`` (an N x K float64 SVD and its limbs stay in memory)
MAX_SIZE = 4000
#: most significant digits ``implreg spectrum`` computes
MAX_DIGITS = 300
#: wall-clock seconds ``implreg spectrum`` may take (default and largest)
DEFAULT_BUDGET, MAX_BUDGET = 300, 3600
from ..document import derivation_notation

METHOD_NAMES = tuple(M.METHODS)


def _add_mask_arguments(parser):
    parser.add_argument("--method", required=True, choices=METHOD_NAMES,
                        help="gd, gf (gradient flow), ridge, pca or heavy-ball")


def _run_mask(args):
    result = M.mask(args.method)
    notation = derivation_notation(args, result, step_symbol="h")
    expr = result.expr
    return {"text": f"m(s) = {expr}", "method": args.method, "mask": str(expr),
            "latex": result.latex(notation), "derivation_latex": result.derivation_latex(notation)}


def parse_tau(text: str):
    """``tau`` from text: a decimal or fraction in (0, 1), or ``1-1/e``.

    >>> parse_tau("1-1/e"), parse_tau("0.5"), parse_tau("2/3")
    (1 - exp(-1), 1/2, 2/3)
    """
    t = str(text).strip().replace(" ", "")
    if t in ("1-1/e", "1-exp(-1)"):
        return 1 - sp.exp(-1)
    return exact_number(text, "--tau", low=0, high=1, low_open=True, high_open=True)


def _add_threshold_arguments(parser):
    parser.add_argument("--tau", default="1-1/e", type=typed("number", parse_tau),
                        help="mask threshold in (0, 1): a decimal, a fraction p/q or 1-1/e (default 1-1/e)")


def _run_threshold(args):
    tau = args.tau if isinstance(args.tau, sp.Basic) else parse_tau(args.tau)
    result = M.threshold_relation(tau)
    notation = derivation_notation(args, result, step_symbol="h")
    small = result.meta["small_eta_at_tau"]
    paper = sp.factor(sp.expand_log(small.subs(M.eta, 1 / M.s_1**2), force=True))
    return {"text": f"T = {result.expr}   (small eta s^2: T ~ {small}; eta = 1/s_1^2: T ~ {paper})",
            "tau": str(tau), "T_exact": str(result.expr), "T_small_eta": str(small),
            "T_eta_1_over_s1_sq": str(paper), "latex": result.latex(notation),
            "derivation_latex": result.derivation_latex(notation)}


DERIVE = {"mask": (_add_mask_arguments, _run_mask),
          "threshold": (_add_threshold_arguments, _run_threshold)}


# -- implreg spectrum ------------------------------------------------------------------------
def _add_spectrum_arguments(parser):
    from numeric.networks import ACTIVATIONS, MAX_SCALE, exact_scale
    parser.add_argument("--activation", required=True, choices=tuple(ACTIVATIONS),
                        help="one of " + ", ".join(ACTIVATIONS))
    parser.add_argument("--n", type=integer(2, MAX_SIZE), required=True, help=f"number of samples N, 2..{MAX_SIZE}")
    parser.add_argument("--width", type=integer(2, MAX_SIZE), required=True,
                        help=f"number of biases K, 2..{MAX_SIZE}")
    parser.add_argument("--scale", default=None, type=typed("number", exact_scale),
                        help=f"activation scale s in (0, {MAX_SCALE}], a decimal or fraction (default: 1 or K)")
    parser.add_argument("--digits", type=integer(1, MAX_DIGITS), default=30,
                        help=f"significant digits, 1..{MAX_DIGITS} (default 30)")
    parser.add_argument("--out", metavar="FILE.csv", type=output_file, help="write k, s_k, s_k/s_1 as CSV")
    parser.add_argument("--budget", metavar="S", type=real(0, MAX_BUDGET, low_open=True), default=DEFAULT_BUDGET,
                        help=f"seconds the computation may take, in (0, {MAX_BUDGET}] (default {DEFAULT_BUDGET}); "
                             "tall or wide matrices of a few thousand rows take minutes")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the certification (no error bounds; precision then not stated)")


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
    for option, value, high in (("--n", args.n, MAX_SIZE), ("--width", args.width, MAX_SIZE),
                                ("--digits", args.digits, MAX_DIGITS)):
        bounded_int(value, option, 1 if option == "--digits" else 2, high)
    scale = None if args.scale is None else exact_scale(args.scale)
    start = time.perf_counter()
    with time_budget(args.budget + 30, f"spectrum of {args.activation} N={args.n} K={args.width} "
                                       f"at {args.digits} digits (raise --budget)"):
        res = network_spectrum(args.activation, args.n, args.width, scale, digits=args.digits,
                               verify=not args.no_verify, budget=args.budget)
    seconds = time.perf_counter() - start
    values = res.as_strings(args.digits)
    with mpmath.workdps(args.digits + 5):
        top = res.values[0]
        normalized = [mpmath.nstr(v / top, args.digits) if top and v else "0" for v in res.values]
    bounds = [mpmath.nstr(b * mpmath.mpf("1.01"), 3) for b in res.bounds] if res.bounds else [""] * len(values)   # rounded up
    if args.no_verify:
        precision = f"precision not verified (requested {args.digits} digits)"
    elif res.verified:
        precision = (f"every value certified to at least {min(res.digits_achieved, 99):.1f} significant digits "
                     "(rigorous error bounds for the exact matrix, ball arithmetic)")
    else:
        shown = ", ".join(f"s_{k}" for k in res.uncertified[:12]) + (" ..." if len(res.uncertified) > 12 else "")
        precision = (f"NOT CERTIFIED to {args.digits} digits within the budget: {len(res.uncertified)} values "
                     f"({shown}); their error bounds are in the abs_error_bound column")
    summary = (f"{len(values)} singular values of {args.activation} N={args.n} K={args.width} "
               f"scale={scale if scale is not None else 'default'}: {precision}; "
               f"{res.zeros} zeros; {res.method}; {seconds:.2f} s")
    if args.out:
        write_csv_atomic(args.out, [(k + 1, v, nv, b) for k, (v, nv, b) in enumerate(zip(values, normalized, bounds))],
                         ("k", "singular_value", "normalized", "abs_error_bound"))
        print(summary)
        print(f"wrote {args.out}")
    else:
        for k, (v, b) in enumerate(zip(values, bounds), 1):
            print(f"{k}\t{v}\t+- {b}" if b else f"{k}\t{v}")
        print("# " + summary)
    return 0 if (args.no_verify or res.verified) else 1


COMMANDS = {"spectrum": ("singular values of a shallow-net Jacobian to many digits",
                         _add_spectrum_arguments, _run_spectrum)}
