"""Arguments shared by the derive commands."""
from __future__ import annotations

import argparse
import os
import tempfile

from analytic.errors import ImplregError, InputError, LossSyntaxError
from analytic.loss import parse_assignments, parse_loss
from analytic.values import bounded_int, exact_number, exact_value
from analytic.models import MODELS, get_model


def add_loss_arguments(parser):
    g = parser.add_argument_group("loss")
    g.add_argument("--loss", metavar="EXPR", help="the loss as text, e.g. '1/2*(y - w1*w2*x)**2'")
    g.add_argument("--vars", metavar="NAMES", help="its variables, e.g. w1,w2")
    g.add_argument("--params", metavar="ASSIGN", help="parameter values, e.g. x=1,y=3/5 (a bare name stays symbolic)")
    g.add_argument("--model", metavar="NAME", help="a built-in model instead: " + ", ".join(MODELS))


def loss_from_args(args):
    """The loss of ``--loss/--vars/--params`` or ``--model``; errors name the option."""
    try:
        return _loss_from_args(args)
    except LossSyntaxError as exc:
        raise InputError("--loss", args.loss, str(exc)) from None
    except InputError as exc:
        option = {"variables": "--vars", "params": "--params"}.get(exc.argument.split("[")[0])
        if option is None:
            raise
        key = exc.argument[len(exc.argument.split("[")[0]):]
        raise InputError(option + key, exc.value, exc.reason) from None


def _loss_from_args(args):
    loss = _build_loss(args)
    if args.params:
        used = {s.name for s in loss.expr.free_symbols}
        unused = sorted(set(parse_assignments(args.params)) - used)
        if unused:
            raise InputError("--params", args.params, f"{unused[0]!r} does not occur in the loss "
                             f"(its names: {', '.join(sorted(used))})")
    return loss


def _build_loss(args):
    if getattr(args, "model", None):
        if args.loss:
            raise InputError("--loss", args.loss, "give either --loss or --model, not both")
        loss = get_model(args.model)
        if args.params:
            loss = loss.with_params(**parse_assignments(args.params))
        return loss
    if not getattr(args, "loss", None):
        raise InputError("--loss", None, "give a loss with --loss EXPR --vars NAMES, or --model NAME")
    if not args.vars:
        raise InputError("--vars", None, "declare the variables of the loss, e.g. --vars w1,w2")
    return parse_loss(args.loss, args.vars, args.params)


# -- typed option values ---------------------------------------------------------------------
# Every value-taking option is read by one of these argparse types.  Numbers go through
# analytic.values (the whitelist reader shared with the API); a rejection is an
# ArgumentTypeError, which argparse prints as one line naming the option.
MAX_PATH = 4096


def typed(name, read):
    def parse(text):
        try:
            return read(text)
        except ImplregError as exc:
            reason = exc.reason if isinstance(exc, InputError) else str(exc)
            raise argparse.ArgumentTypeError(f"{reason} (got {_shown(text)})") from None
    parse.__name__ = name
    return parse


def _shown(text) -> str:
    s = repr(text)
    return s if len(s) <= 60 else s[:50] + "...'"


def integer(low: int, high: int):
    """An argparse type: an integer in ``[low, high]``."""
    return typed("integer", lambda t: bounded_int(t, "", low, high))


def real(low=None, high=None, *, low_open: bool = False, high_open: bool = False):
    """An argparse type: an exact number (decimal, fraction) in the given range, as a float."""
    return typed("number", lambda t: float(exact_number(t, "", low=low, high=high, low_open=low_open,
                                                          high_open=high_open)))


def exact(low=None, high=None, *, low_open: bool = False, high_open: bool = False, symbol=None):
    """An argparse type: an exact SymPy number in the given range, or (with ``symbol``
    assumptions) a plain symbol name."""
    def read(t):
        v = exact_value(t, "", symbol=symbol)
        if v.is_number:
            v = exact_number(v, "", low=low, high=high, low_open=low_open, high_open=high_open)
        return v
    return typed("number", read)


def _check_path_text(text: str) -> str:
    if not text or not text.strip():
        raise InputError("", text, "empty path")
    if "\x00" in text or any(ord(c) < 32 for c in text):
        raise InputError("", text, "control characters are not allowed in a path")
    if len(text) > MAX_PATH or any(len(part) > 255 for part in text.split(os.sep)):
        raise InputError("", text, f"path longer than {MAX_PATH} characters (or a part longer than 255)")
    return text


def _probe_directory(folder: str, text: str) -> None:
    """Fail unless a file can really be created in ``folder`` or, where it does not exist
    yet (it is then created), in its nearest existing ancestor."""
    while not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if not os.path.isdir(folder):
        raise InputError("", text, f"{folder!r} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".implreg-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError("", text, f"cannot write in {folder!r} ({exc.strerror or exc})") from None


def _output_file(text: str) -> str:
    _check_path_text(text)
    if os.path.isdir(text):
        raise InputError("", text, "is a directory, expected a file name")
    _probe_directory(os.path.dirname(os.path.abspath(text)) or ".", text)
    return text


def _output_directory(text: str) -> str:
    _check_path_text(text)
    if os.path.exists(text) and not os.path.isdir(text):
        raise InputError("", text, "exists and is not a directory")
    _probe_directory(os.path.abspath(text), text)
    return text


def _input_file(text: str) -> str:
    _check_path_text(text)
    if not os.path.exists(text):
        raise InputError("", text, "no such file")
    if not os.path.isfile(text):
        raise InputError("", text, "not a regular file")
    if os.path.getsize(text) > 50 * 2 ** 20:
        raise InputError("", text, "larger than 50 MB")
    if not os.access(text, os.R_OK):
        raise InputError("", text, "not readable")
    return text


#: argparse types for paths: a file to write (its directory must exist and be writable),
#: a directory to write into (created if absent, under an existing writable parent),
#: and an existing regular file to read.
output_file = typed("path", _output_file)
output_directory = typed("path", _output_directory)
input_file = typed("path", _input_file)
