r"""``implreg optimizers``: the built-in optimizers and their rules, in text, LaTeX or JSON.

Each built-in is listed with its default hyperparameters and its rule in the
method language (the language of ``--method``: assignments read top to bottom,
``g(p)`` the gradient at ``p``, ``u`` the update).  The LaTeX form typesets the
same rule through :meth:`analytic.method.TypedMethod.latex`: the listed text is
parsed back as a typed method, so what is printed is a rule the parser reads,
and ``tests/test_method.py`` checks that it steps bit for bit like the built-in.

``--format latex`` prints a fragment to ``\input`` (``--notation`` renames the
step, the gradient and the hyperparameters, e.g. ``step=\eta,b1=\beta_1``).
"""
from __future__ import annotations

import json

from analytic.errors import InputError

FORMATS = ("text", "latex", "json")


def _arguments(parser):
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--notation", metavar="NAME=TEX,...",
                        help=r"LaTeX names, e.g. 'step=\eta,b1=\beta_1' (LaTeX output only)")
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these optimizers (default: all)")


def listing(names=()):
    """``[(name, spec, typed method)]`` of the built-ins (step ``h``, momentum and noise symbolic)."""
    from analytic.method import parse_method
    from analytic.optimizers import OPTIMIZERS, make_optimizer
    from analytic.symbols import H
    chosen = list(names) or list(OPTIMIZERS)
    for n in chosen:
        if n not in OPTIMIZERS:
            raise InputError("NAME", n, f"must be one of {', '.join(OPTIMIZERS)}")
    out = []
    for n in chosen:
        spec = make_optimizer(n, H)
        out.append((n, spec, parse_method("; ".join(spec.lines()), name=n)))
    return out


def _defaults(spec):
    return {k: str(v) for k, v in spec.hyperparameters().items() if k != "h" and k != "base"}


def _sampling(spec):
    return None if spec.sampling is None else str(spec.sampling)


def _latex(items, notation) -> str:
    blocks = []
    for name, spec, typed in items:
        rows = [line.replace(r" \leftarrow ", r" &\leftarrow ", 1) for line in typed.latex(notation)]
        extra = [f"{k} = {v}" for k, v in _defaults(spec).items()]
        if spec.sampling is not None:
            extra.append(f"sampling: {spec.sampling}")
        shown = ", ".join(extra).replace("_", r"\_")
        head = rf"\paragraph{{\texttt{{{name}}}}}" + (rf" \texttt{{{shown}}}" if extra else "")
        blocks.append(head + "\n\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}")
    return "\n\n".join(blocks)


def _run(args) -> int:
    from ..document import notation_from_option
    items = listing(args.names)
    notation = notation_from_option(args.notation, False)            # checked whatever the format
    known = {s.name for _, _, t in items for _, e in t._run[0].exprs for s in e.free_symbols}
    known |= {s for _, _, t in items for s in t.state_names} | {"x", "u"}
    for name in notation.symbol_names:
        if name not in known:
            raise InputError("--notation", args.notation, f"unknown name {name!r} (known: loss, step, grad, hess, "
                             f"third, or a symbol of these rules: {', '.join(sorted(known))})")
    if args.format == "json":
        print(json.dumps([{"name": n, "spec": repr(s), "rule": list(s.lines()), "state": list(t.state_names),
                           "hyperparameters": _defaults(s), "sampling": _sampling(s)} for n, s, t in items],
                         indent=2))
    elif args.format == "latex":
        print(_latex(items, notation))
    else:
        lines = []
        for name, spec, typed in items:
            lines.append(f"{name}: {spec!r}")
            lines += [f"    {line}" for line in spec.lines()]
            if spec.sampling is not None:
                lines.append(f"    sampling: {spec.sampling}")
        print("\n".join(lines))
    return 0


COMMANDS = {"optimizers": ("list the built-in optimizers with their rules", _arguments, _run)}
