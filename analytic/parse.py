"""A safe parser for the loss language.

The text is parsed with :func:`ast.parse` (which only builds a syntax tree and
executes nothing) and the SymPy expression is built node by node from an
explicit whitelist.  User text never reaches ``eval``, ``sympify`` or
``parse_expr``.

Allowed: integer and float literals, declared names, ``+ - * / **``, unary
``+``/``-``, parentheses, and calls of the functions in :data:`FUNCTIONS`.
Everything else raises :class:`~analytic.errors.LossSyntaxError` naming the
offending token and its column.

Work is bounded: text length, syntax-tree size and depth, literal size and
exponent size are all limited, so a pathological input is rejected at once.
"""
from __future__ import annotations

import ast
import math
import re
import unicodedata
from decimal import Decimal
from fractions import Fraction
from typing import Callable, Mapping

import sympy as sp

from .errors import LossSyntaxError

__all__ = ["parse_expression", "check_text", "parse_tree", "FUNCTIONS", "LIMITS", "sigmoid", "softplus", "relu"]

#: Bounds on the input; exceeded bounds raise LossSyntaxError.
LIMITS = {
    "max_length": 2000,      # characters of text
    "max_nodes": 600,        # nodes of the syntax tree
    "max_depth": 40,         # nesting depth of the syntax tree
    "max_int_digits": 30,    # digits of an integer literal
    "max_exponent": 64,      # |numeric exponent| of a power
    "max_number_bits": 4096,  # bits of the numerator/denominator of an exact number
    "max_exp_argument": 1000,  # |constant argument| of exp, sigmoid, softplus
    "max_decimal_exponent": 300,  # |decimal exponent| of a literal read exactly
}


def sigmoid(z):
    """Logistic sigmoid, written as ``1/(1 + exp(-z))``."""
    return 1 / (1 + sp.exp(-z))


def softplus(z):
    """Softplus, ``log(1 + exp(z))``."""
    return sp.log(1 + sp.exp(z))


def relu(z):
    """Rectified linear unit, ``Max(0, z)``."""
    return sp.Max(0, z)


def _minmax(f):
    def build(*args):
        return f(*args)
    return build


#: name -> (builder, minimum arity, maximum arity or None for variadic)
FUNCTIONS: Mapping[str, tuple[Callable, int, int | None]] = {
    "exp": (sp.exp, 1, 1),
    "log": (sp.log, 1, 1),
    "sqrt": (sp.sqrt, 1, 1),
    "sin": (sp.sin, 1, 1),
    "cos": (sp.cos, 1, 1),
    "tanh": (sp.tanh, 1, 1),
    "sigmoid": (sigmoid, 1, 1),
    "softplus": (softplus, 1, 1),
    "abs": (sp.Abs, 1, 1),
    "relu": (relu, 1, 1),
    "min": (_minmax(sp.Min), 2, None),
    "max": (_minmax(sp.Max), 2, None),
    "erf": (sp.erf, 1, 1),
}

CONSTANTS = {"pi": sp.pi}

_NODE_NAMES = {
    ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
    ast.ListComp: "comprehension", ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression", ast.Compare: "comparison", ast.BoolOp: "boolean operator",
    ast.IfExp: "conditional expression", ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict",
    ast.Set: "set", ast.Starred: "starred expression", ast.JoinedStr: "f-string",
    ast.NamedExpr: "assignment expression", ast.Await: "await", ast.Yield: "yield",
    ast.YieldFrom: "yield", ast.Slice: "slice", ast.FormattedValue: "f-string",
}

_BINOP_HINTS = {
    ast.BitXor: "'^' is not a power: write '**'",
    ast.FloorDiv: "floor division '//' is not allowed: write '/'",
    ast.Mod: "'%' is not allowed",
    ast.MatMult: "'@' is not allowed",
    ast.LShift: "'<<' is not allowed", ast.RShift: "'>>' is not allowed",
    ast.BitOr: "'|' is not allowed", ast.BitAnd: "'&' is not allowed",
}


_DECIMAL = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class _Builder:
    def __init__(self, text: str, names: Mapping[str, sp.Symbol], exact_decimals: bool = False):
        self.text = text
        self.exact_decimals = exact_decimals
        self.lines = text.splitlines() or [""]
        self.names = names

    def token(self, node) -> str:
        seg = ast.get_source_segment(self.text, node)
        if seg is None:
            return type(node).__name__
        return seg if len(seg) <= 40 else seg[:37] + "..."

    def fail(self, node, message: str, token: str | None = None):
        col = getattr(node, "col_offset", None)
        raise LossSyntaxError(message, token if token is not None else self.token(node),
                              None if col is None else col + 1, self.text)

    def build(self, node, depth: int = 0):
        if depth > LIMITS["max_depth"]:
            self.fail(node, f"expression nested deeper than {LIMITS['max_depth']} levels")
        if isinstance(node, ast.Expression):
            return self.build(node.body, depth + 1)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            operand = self.build(node.operand, depth + 1)
            if isinstance(node.op, ast.Not):
                self.fail(node, "'not' is not allowed in a loss", "not")
            if isinstance(node.op, ast.USub):
                return -operand
            if isinstance(node.op, ast.UAdd):
                return operand
            self.fail(node, "unary operator not allowed (only + and -)")
        if isinstance(node, ast.BinOp):
            return self.bounded(node, self.binop(node, depth))
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        kind = _NODE_NAMES.get(type(node), type(node).__name__)
        self.fail(node, f"{kind} is not allowed in a loss")

    def bounded(self, node, value):
        """Reject exact numbers whose numerator or denominator grew too large."""
        if isinstance(value, sp.Rational):
            bits = max(abs(value.p).bit_length(), value.q.bit_length())
            if bits > LIMITS["max_number_bits"]:
                self.fail(node, f"exact number larger than 2**{LIMITS['max_number_bits']}")
        return value

    def check_power_size(self, node, base, exponent):
        """Estimate the size of ``base**exponent`` for exact numbers before computing it."""
        if isinstance(base, sp.Rational) and isinstance(exponent, sp.Rational) and exponent.is_nonzero:
            bits = max(abs(base.p).bit_length(), base.q.bit_length())
            if bits * abs(float(exponent)) > LIMITS["max_number_bits"]:
                self.fail(node, f"exact power larger than 2**{LIMITS['max_number_bits']}")

    def constant(self, node):
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            self.fail(node, "keyword constants are not allowed")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seg = ast.get_source_segment(self.text, node) or ""
            if not _DECIMAL.fullmatch(seg):
                self.fail(node, "not a plain decimal number (no '_', hex, octal or binary literals)")
        if isinstance(value, int):
            if len(str(abs(value))) > LIMITS["max_int_digits"]:
                self.fail(node, f"integer literal longer than {LIMITS['max_int_digits']} digits")
            return sp.Integer(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                self.fail(node, "float literal is not finite")
            seg = ast.get_source_segment(self.text, node) or repr(value)
            if self.exact_decimals:
                return self.decimal(node, seg)
            return sp.Float(seg.replace("_", ""), max(15, len(seg)))
        if isinstance(value, complex):
            self.fail(node, "complex literals are not allowed")
        if isinstance(value, (str, bytes)):
            self.fail(node, "strings are not allowed in a loss")
        self.fail(node, "literal not allowed")

    def decimal(self, node, seg):
        """The exact rational value of a decimal literal (``1e-3`` -> 1/1000)."""
        d = Decimal(seg.replace("_", ""))
        if d and abs(d.adjusted()) > LIMITS["max_decimal_exponent"]:
            self.fail(node, f"decimal exponent beyond +-{LIMITS['max_decimal_exponent']}")
        f = Fraction(d)
        return sp.Rational(f.numerator, f.denominator)

    def name(self, node):
        ident = node.id
        if ident in self.names:
            return self.names[ident]
        if ident in CONSTANTS:
            return CONSTANTS[ident]
        if ident in FUNCTIONS:
            self.fail(node, f"function {ident!r} used without arguments", ident)
        self.fail(node, "undeclared name: declare it as a variable or a parameter", ident)

    def binop(self, node, depth):
        op = node.op
        if type(op) in _BINOP_HINTS:
            # locate the operator between the operands for the column
            self.fail(node, _BINOP_HINTS[type(op)], self.token(node))
        left = self.build(node.left, depth + 1)
        right = self.build(node.right, depth + 1)
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            if right.is_zero:
                self.fail(node.right, "division by zero")
            return left / right
        if isinstance(op, ast.Pow):
            if right.is_number:
                try:
                    big = abs(complex(sp.N(right, 15))) > LIMITS["max_exponent"]
                except (TypeError, ValueError):
                    big = True
                if big:
                    self.fail(node.right, f"exponent larger than {LIMITS['max_exponent']} in absolute value")
                if left.is_zero and (right.is_negative or right.is_zero):
                    self.fail(node, "0 raised to a non-positive power")
                self.check_power_size(node, left, right)
            power = sp.Pow(left, right)
            if power.is_Pow and power.exp.is_number and power.exp.is_real \
                    and abs(power.exp) > LIMITS["max_exponent"] ** 2:
                self.fail(node, f"power with exponent larger than {LIMITS['max_exponent'] ** 2}")
            return power
        self.fail(node, "operator not allowed")

    def call(self, node, depth):
        func = node.func
        if not isinstance(func, ast.Name):
            self.fail(func, "only calls of whitelisted functions by name are allowed")
        if func.id not in FUNCTIONS:
            self.fail(func, "unknown function (allowed: " + ", ".join(FUNCTIONS) + ")", func.id)
        if node.keywords:
            self.fail(node.keywords[0].value, "keyword arguments are not allowed",
                      node.keywords[0].arg or "**")
        builder, lo, hi = FUNCTIONS[func.id]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if hi == lo else f"at least {lo}"
            self.fail(node, f"{func.id} takes {want} argument(s), got {n}", func.id)
        args = [self.build(a, depth + 1) for a in node.args]
        if func.id in ("exp", "sigmoid", "softplus") and args[0].is_number:
            # exp(exp(exp(100))) is a number no arithmetic can evaluate: bound it
            try:
                big = abs(complex(sp.N(args[0], 15))) > LIMITS["max_exp_argument"]
            except (TypeError, ValueError):
                big = True
            if big:
                self.fail(node.args[0], f"constant argument of {func.id} larger than "
                                        f"{LIMITS['max_exp_argument']} in absolute value")
        if func.id == "log" and args[0].is_zero:
            self.fail(node, "log of zero", func.id)
        return builder(*args)


def check_text(text: str, *, what: str = "the loss", separators: str = "") -> None:
    """The checks on the raw text, before Python's parser sees it: type, length, emptiness,
    characters (control characters, newlines, ``;`` and ``#`` -- except the ``separators``
    a caller splits at), look-alike characters and nesting of parentheses.

    >>> check_text("x = 1; y = 2", what="the method", separators=";")
    >>> check_text("w; w")
    Traceback (most recent call last):
    ...
    analytic.errors.LossSyntaxError: loss syntax error at column 2: "';'" control characters, newlines, ';' and '#' are not allowed
    """
    if not isinstance(text, str):
        raise LossSyntaxError(f"{what} must be text, got {type(text).__name__}", repr(text)[:40])
    if len(text) > LIMITS["max_length"]:
        raise LossSyntaxError(f"text longer than {LIMITS['max_length']} characters ({len(text)})",
                              text[:20] + "...", LIMITS["max_length"] + 1)
    if not text.strip():
        raise LossSyntaxError(f"{what} is empty", "", 1)
    refused = "".join(c for c in "\n\r\x00;#" if c not in separators)
    bad = next((i for i, c in enumerate(text) if c in refused or (ord(c) < 32 and c not in "\t" + separators)),
               None)
    if bad is not None:
        shown = "control characters, newlines, ';' and '#'" if not separators else \
            "control characters" + ("" if "\n" in separators else ", newlines") + \
            ("" if ";" in separators else ", ';'") + " and '#'"
        raise LossSyntaxError(f"{shown} are not allowed", repr(text[bad]), bad + 1, text)
    # Python folds look-alike characters (e.g. fullwidth letters) into ASCII
    # names; refuse them so what is read is what is written.
    odd = next((i for i, c in enumerate(text) if ord(c) > 127 and (
        unicodedata.normalize("NFKC", c) != c or unicodedata.category(c)[0] in "CZ")), None)
    if odd is not None:
        raise LossSyntaxError(f"character U+{ord(text[odd]):04X} is not allowed (look-alike, invisible "
                              "or formatting character)", text[odd], odd + 1, text)
    # a cheap bound on nesting before Python's own parser sees the text
    depth = maxdepth = 0
    for c in text:
        depth += (c == "(") - (c == ")")
        maxdepth = max(maxdepth, depth)
    if maxdepth > LIMITS["max_depth"]:
        raise LossSyntaxError(f"parentheses nested deeper than {LIMITS['max_depth']} levels", "(", text.index("(") + 1, text)


def parse_tree(text: str, *, mode: str = "eval"):
    """The syntax tree of text that passed :func:`check_text` (Python's parser builds it and
    executes nothing); a syntax error or a tree of more than ``max_nodes`` nodes raises
    :class:`~analytic.errors.LossSyntaxError`.

    >>> type(parse_tree("w + 1").body).__name__
    'BinOp'
    """
    try:
        tree = ast.parse(text, mode=mode)
    except SyntaxError as exc:
        col = exc.offset or 1
        tok = text[col - 1: col + 9] if 0 < col <= len(text) else (exc.text or "").strip()[:10]
        raise LossSyntaxError(f"invalid syntax ({exc.msg})", tok, col, text) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise LossSyntaxError(f"cannot parse: {type(exc).__name__}", text[:20], 1, text) from None
    count = sum(1 for _ in ast.walk(tree))
    if count > LIMITS["max_nodes"]:
        raise LossSyntaxError(f"expression has {count} syntax nodes, more than {LIMITS['max_nodes']}", text[:20], 1, text)
    return tree


def parse_expression(text: str, names: Mapping[str, sp.Symbol], *, exact_decimals: bool = False) -> sp.Expr:
    """Parse ``text`` into a SymPy expression over the symbols in ``names``.

    With ``exact_decimals`` a decimal literal becomes the exact rational it
    denotes (``0.1`` -> ``1/10``); otherwise it stays a Float of the typed digits.

    >>> w = sp.Symbol("w", real=True)
    >>> parse_expression("1/2*(3/5 - w)**2", {"w": w})
    (3/5 - w)**2/2
    >>> parse_expression("w.__class__", {"w": w})
    Traceback (most recent call last):
    ...
    analytic.errors.LossSyntaxError: loss syntax error at column 1: 'w.__class__' attribute access is not allowed in a loss
    """
    check_text(text)
    tree = parse_tree(text.strip())
    builder = _Builder(text.strip(), names, exact_decimals)
    expr = builder.build(tree)
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise LossSyntaxError("the expression evaluates to an infinity or NaN", text[:20], 1, text)
    if expr.has(sp.I):
        raise LossSyntaxError("the expression is not real (it contains the imaginary unit)", text[:20], 1, text)
    return expr
