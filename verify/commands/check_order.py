"""``implreg check order``: the measured order of accuracy of a method's modified flows on your loss.

    implreg check order --optimizer adam --beta1 1/2 --beta2 3/5 --eps 1/10 \\
        --loss "1/2*(y - a*tanh(b*x))**2" --vars a,b --params x=1,y=1/2 --order 1 --start 1,1/2

derives the modified field of order K and the state's invariant manifold
(:func:`analytic.slaving.slaved_field`), runs the spec from the manifold for step sizes
``h_max, h_max/2, ...`` over ``[0, T]``, integrates the order-0..K flows with SciPy (DOP853),
and fits log-log slopes of ``max_k |x_k - X(kh)|`` (:func:`numeric.order_check.order_errors`).
It prints the error table, the slopes and the transient of the spec's own initial state,
writes ``OUT/order-check.json`` and the figure ``OUT/order-loglog.png``/``.pdf``, and exits 1
when a slope is outside ``k + 1 +- tolerance`` (the message gives the slope).

JSON: ``{"method", "rule", "loss", "variables", "order", "small", "assumptions",
"measurement": {hs, T, x0, errors, slopes, expected, tolerance, transient, transient_slopes,
warnings, failures}, "passed"}``.
"""
from __future__ import annotations

import json
import os

from analytic.errors import InputError

from .common import add_loss_arguments, integer, loss_from_args, output_directory, real
from .spec_args import add_spec_arguments, small_names, spec_from_args


def _arguments(parser):
    sub = parser.add_subparsers(dest="check", required=True, metavar="CHECK")
    p = sub.add_parser("order", help="measure the order of accuracy of a method's modified flows on a loss")
    add_loss_arguments(p)
    add_spec_arguments(p)
    from analytic.slaving import MAX_SLAVED_ORDER
    g = p.add_argument_group("measurement")
    g.add_argument("--order", type=integer(0, MAX_SLAVED_ORDER), default=1, metavar="K",
                   help=f"check the flows of order 0..K, K in 0..{MAX_SLAVED_ORDER} (default 1)")
    g.add_argument("--start", metavar="X0",
                   help="the start, one number per variable, e.g. '3/2,-1/2' (default 1/2 each)")
    g.add_argument("--h-max", type=real(0, 1, low_open=True, high_open=True), default=0.01, metavar="H",
                   help="the largest step size of the grid, in (0, 1) (default 0.01)")
    g.add_argument("--steps", type=integer(3, 8), default=4, metavar="N",
                   help="step sizes in the grid h_max, h_max/2, ... (3..8, default 4)")
    g.add_argument("--time", type=real(0, 100, low_open=True), default=0.5, metavar="T",
                   help="the time window [0, T], T in (0, 100] (default 0.5)")
    g.add_argument("--tolerance", type=real(0, 1, low_open=True), default=0.2, metavar="TOL",
                   help="accepted distance of each slope from k + 1, in (0, 1] (default 0.2)")
    g.add_argument("--budget", type=real(0, 3600, low_open=True), default=120.0, metavar="S",
                   help="seconds for the derivation, in (0, 3600] (default 120)")
    g.add_argument("--out", type=output_directory, default="order-check", metavar="DIR",
                   help="directory for order-check.json and the figure (default ./order-check)")
    g.add_argument("--format", choices=("text", "json"), default="text")
    g.add_argument("--no-figure", action="store_true", help="write only order-check.json (no log-log figure)")
    p.set_defaults(check_run=_order)


def _run(args) -> int:
    return args.check_run(args)


def _start(args, loss):
    from analytic.values import exact_value
    d = len(loss.variables)
    if args.start is None:
        return [0.5] * d
    parts = [p.strip() for p in args.start.split(",")]
    if len(parts) != d:
        raise InputError("--start", args.start, f"give {d} numbers, one per variable ({', '.join(v.name for v in loss.variables)})")
    out = []
    for i, p in enumerate(parts):
        try:
            v = exact_value(p, f"--start[{i}]")
        except InputError as exc:
            raise InputError("--start", args.start, f"entry {i} ({p!r}): {exc.reason}") from None
        if not v.is_number:
            raise InputError("--start", args.start, f"entry {i} ({p!r}) must be a number")
        out.append(float(v))
    return out


def _order(args) -> int:
    from analytic.slaving import slaved_field
    from analytic.symbols import H
    from numeric.order_check import order_errors, step_grid

    loss = loss_from_args(args)
    spec, small_values = spec_from_args(args, H)
    small = small_names(args)
    missing = [n for n in small if n not in small_values]
    if missing:
        raise InputError("--small", missing[0], "give its value at h_max too (e.g. --rho 1/20): along the grid it "
                                                "is scaled with h")
    x0 = _start(args, loss)
    hs = step_grid(args.h_max, args.steps)
    try:
        field = slaved_field(spec, loss, args.order, small=small, budget=args.budget)
    except InputError as exc:
        raise InputError("--method" if args.method is not None else "--optimizer", args.method or args.optimizer,
                         exc.reason) from None
    r = order_errors(spec, field, hs, x0, args.time, scaled=small_values)
    passed = not r.failures(args.tolerance)
    label = args.optimizer or "typed method"
    record = {"method": label, "rule": list(spec.lines()), "loss": str(loss.expr),
              "variables": [v.name for v in loss.variables], "order": args.order,
              "small": {n: str(v) for n, v in small_values.items()},
              "assumptions": list(field.meta["assumptions"]),
              "measurement": r.as_json(args.tolerance), "passed": passed}
    _write(args.out, record, r, label, figure=not args.no_figure)
    if args.format == "json":
        print(json.dumps(record, indent=2))
    else:
        print(_text(record, r, args))
    if not passed:
        import sys
        print("order check failed: " + "; ".join(r.failures(args.tolerance)), file=sys.stderr)
        return 1
    return 0


def _text(record, r, args) -> str:
    lines = [f"{record['method']}: " + "; ".join(record["rule"]),
             f"loss E = {record['loss']}, start {list(r.x0)}, window [0, {r.T:g}]"]
    if record["small"]:
        lines.append("scaled with h (value at h_max): " + ", ".join(f"{k} = {v}" for k, v in record["small"].items()))
    lines.append("assumptions: " + "; ".join(record["assumptions"]))
    head = "h".ljust(12) + "".join(f"e_{k} (order {k})".ljust(18) for k in r.orders)
    lines += ["", "max |x_k - X(kh)| from the invariant manifold:", head]
    for row in r.table():
        lines.append(f"{row[0]:<12.6g}" + "".join(f"{e:<18.4e}" for e in row[1:]))
    lines.append("slope".ljust(12) + "".join(f"{r.slopes[k]:<18.3f}" for k in r.orders))
    lines.append("expected".ljust(12) + "".join(f"{k + 1:<18d}" for k in r.orders))
    lines += ["", "from the spec's own initial state (transient, not judged):"]
    lines.append("slope".ljust(12) + "".join(f"{r.transient_slopes[k]:<18.3f}" for k in r.orders))
    lines += [f"warning: {w}" for w in r.warnings]
    lines.append(f"verdict: {'pass' if record['passed'] else 'FAIL'} (slopes within k + 1 +- {args.tolerance:g})")
    wrote = os.path.join(args.out, "order-check.json")
    if not args.no_figure:
        wrote += f" and {os.path.join(args.out, 'order-loglog.png')}"
    lines.append(f"wrote {wrote}")
    return "\n".join(lines)


def _write(directory, record, r, label, figure=True):
    from ..atomic import atomic_write_text
    atomic_write_text(os.path.join(directory, "order-check.json"), json.dumps(record, indent=2) + "\n")
    if not figure:
        return
    from ..figures import new_figure, save_figure
    fig, ax = new_figure()
    draw_orders(ax, r, label)
    save_figure(fig, directory, "order-loglog")


def draw_orders(ax, r, label):
    """The log-log errors of each order (solid), the transient (dotted) and slope guides."""
    import numpy as np
    hs = np.array(r.hs)
    for k in r.orders:
        e = np.array(r.errors[k])
        line, = ax.loglog(hs, e, "o-", label=f"order {k}: slope {r.slopes[k]:.2f}")
        ax.loglog(hs, e[-1] * (hs / hs[-1]) ** (k + 1), ":", color=line.get_color(), alpha=0.6, linewidth=1)
        ax.loglog(hs, r.transient[k], "x--", color=line.get_color(), alpha=0.5, linewidth=0.8)
    ax.set_xlabel("step size h")
    ax.set_ylabel(r"$\max_{kh\leq T}\,|x_k - X(kh)|$")
    ax.set_title(f"{label}: modified flows (dotted: slope k+1; x: from init)", fontsize=8)
    ax.legend(fontsize=7)


COMMANDS = {"check": ("check a method's modified flows against its iterates on your loss", _arguments, _run)}
