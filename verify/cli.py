"""The ``implreg`` command line.

``implreg verify``    run the registered claims, print their verdicts and write the
                      report directory (PDF, Markdown, JSON, figures, derivations);
``implreg claims``    list the claims;
``implreg models``    list the built-in models;
``implreg derive Q``  derive a quantity (gradient, hessian, grad-norm, minima, ...);
                      ``--document FILE.tex`` writes a standalone article;
``implreg readme``    check or rewrite the README's table of claims (a plugin).

Bad input exits with status 2 and one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

from analytic.errors import ImplregError, InputError

from .commands.common import integer, output_directory, output_file

__all__ = ["main", "build_parser"]


def _plugins():
    from .commands import plugins
    return plugins()


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit 2).

    A value that starts with a minus sign and a digit is a value, not an
    option: ``--beta -3/10``, ``--beta -0.5`` and ``--beta -1e-1`` all work.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message):
        message = " ".join(str(message).split())
        if len(message) > 300:
            message = message[:297] + "..."
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _claim_id(text: str) -> str:
    from .registry import all_claims
    ids = [c.id for c in all_claims()]
    if text not in ids:
        shown = repr(text) if len(text) <= 60 else repr(text[:50]) + "..."
        raise argparse.ArgumentTypeError(f"unknown claim {shown} (see 'implreg claims')")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="implreg", description="Implicit regularization of gradient methods: "
                                "exact derivations checked against simulated iterates.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)
    sub.required = True

    v = sub.add_parser("verify", help="run the registered claims")
    v.add_argument("--quick", action="store_true", help="reduced sizes (seconds in total)")
    v.add_argument("--only", nargs="+", metavar="ID", type=_claim_id, help="run only these claims")
    v.add_argument("--json", metavar="FILE", type=output_file, help="also write the verdicts as JSON")
    v.add_argument("--seed", type=integer(0, 2 ** 32 - 1), default=0, help="random seed, 0..2^32-1 (default 0)")
    v.add_argument("--jobs", type=integer(1, 64), default=1, help="parallel processes, 1..64 (default 1)")
    v.add_argument("--out", metavar="DIR", type=output_directory, default=None,
                   help="report directory (default ./implreg-report)")
    v.add_argument("--no-report", action="store_true", help="print the table only")

    sub.add_parser("claims", help="list the registered claims")
    sub.add_parser("models", help="list the built-in models")

    d = sub.add_parser("derive", help="derive a quantity")
    dsub = d.add_subparsers(dest="quantity", metavar="QUANTITY", parser_class=_OneLineParser)
    dsub.required = True
    for mod in _plugins():
        for name, (add_args, _run) in getattr(mod, "DERIVE", {}).items():
            q = dsub.add_parser(name, help=f"derive {name}")
            add_args(q)
            q.add_argument("--format", choices=("text", "latex", "json"), default="text")
            q.add_argument("--document", metavar="FILE.tex", type=output_file,
                           help="write a standalone LaTeX document")
            q.add_argument("--eta", action="store_true", help="print the step size as \\eta in LaTeX "
                           "(same as --notation step=\\eta)")
            q.add_argument("--notation", metavar="NAME=TEX,...",
                           help="rename to your paper's notation in all LaTeX output, e.g. "
                                "'loss=L,step=\\eta,grad=g' (names: loss, step, grad, hess, third, "
                                "or a symbol of the derivation)")
            q.set_defaults(derive_run=_run)
        for name, (help_, add_args, _run) in getattr(mod, "COMMANDS", {}).items():
            c = sub.add_parser(name, help=help_)
            add_args(c)
            c.set_defaults(command_run=_run)
    return p


def _emit_derivation(args, result) -> int:
    from analytic.result import Result
    from .document import derivation_notation
    if getattr(args, "notation_checked", False):
        notation = args.notation_tex
    else:       # not checked by the command: only its Result's symbols (if any) may be renamed
        notation = derivation_notation(args, *([result] if isinstance(result, Result) else []))
    if isinstance(result, Result):
        payload = {"quantity": result.quantity, "result": str(result.expr), "latex": result.latex(notation)}
        if hasattr(args, "model") or hasattr(args, "loss"):
            from .commands.common import loss_from_args
            try:
                loss = loss_from_args(args)
                payload.update({"loss": str(loss.expr), "variables": [v.name for v in loss.variables],
                                "params": {k: (None if x is None else str(x)) for k, x in loss.params.items()}})
            except ImplregError:
                pass
        text = f"{result.quantity}: {result.expr}"
        latex = result.derivation_latex(notation)
    else:
        payload = dict(result)
        text = payload.pop("text", "")
        latex = payload.get("derivation_latex", payload.get("latex", ""))
    if getattr(args, "document", None):
        from .document import write_document
        write_document(args.document, result, notation)
    if args.format == "json":
        print(json.dumps(payload, indent=2, sort_keys=False, default=str))
    elif args.format == "latex":
        print(latex)
    else:
        print(text)
    return 0


def _verify(args) -> int:
    from .progress import progress_printer
    from .report import build_report, results_dict
    from .runner import format_table, run_claims, select_claims, write_json_atomic
    claims = select_claims(args.only)
    progress = progress_printer(sys.stderr)
    outcome = None
    if args.no_report:
        verdicts = run_claims(claims, quick=args.quick, seed=args.seed, jobs=args.jobs, progress=progress)
    else:
        outcome = build_report(claims, out=args.out, quick=args.quick, seed=args.seed, jobs=args.jobs,
                               progress=progress)
        verdicts = list(outcome.verdicts)
    print(format_table(verdicts))
    status = 0 if all(v.passed for v in verdicts) else 1
    if outcome is not None:
        written = outcome.pdf if outcome.pdf is not None else outcome.directory / "report.tex"
        print(f"report: {written}")
        if outcome.problem:
            # one line; a missing pdflatex is a note (the rest of the report is written), not a failure
            print(f"implreg: {outcome.problem}", file=sys.stderr)
            if outcome.pdf is None and not outcome.pdflatex_missing:
                status = status or 1
    if args.json:
        root = outcome.directory if outcome is not None else os.path.dirname(os.path.abspath(args.json))
        total = sum(v.seconds for v in verdicts)
        write_json_atomic(args.json, results_dict(verdicts, root, args.seed, args.quick, total, {}))
    return status


def _claims(args) -> int:
    from .registry import all_claims
    for c in all_claims():
        print(f"{c.id}\t{c.source}")
    return 0


def _models(args) -> int:
    from analytic.models import MODELS
    w = max(map(len, MODELS))
    for name, (_f, desc) in MODELS.items():
        print(f"{name.ljust(w)}  {desc}")
    return 0


def main(argv=None) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        if args.command == "verify":
            if args.no_report and args.out is not None:
                raise InputError("--out", args.out, "no report directory is written with --no-report")
            return _verify(args)
        if args.command == "claims":
            return _claims(args)
        if args.command == "models":
            return _models(args)
        if args.command == "derive":
            from .document import notation_from_option
            args.notation_tex = notation_from_option(args.notation, args.eta)
            args.notation_checked = False
            return _emit_derivation(args, args.derive_run(args))
        return int(args.command_run(args) or 0)
    except ImplregError as exc:
        print(f"implreg: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename!r}" if getattr(exc, "filename", None) else ""
        print(f"implreg: error: cannot access{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except (MemoryError, RecursionError) as exc:
        print(f"implreg: error: the input is too large to handle ({type(exc).__name__})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("implreg: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:           # a bug, not bad input: one line, traceback on request
        if os.environ.get("IMPLREG_TRACEBACK"):
            raise
        print(f"implreg: internal error: {type(exc).__name__}: {_one_line(exc)} "
              "(set IMPLREG_TRACEBACK=1 for the traceback)", file=sys.stderr)
        return 1


def _one_line(exc) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 400 else text[:397] + "..."


if __name__ == "__main__":
    sys.exit(main())
