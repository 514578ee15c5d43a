"""The :class:`Loss` object and :func:`parse_loss`.

A loss is an exact SymPy expression over declared ``variables`` (the
parameters being optimized) and ``params`` (data such as ``x`` and ``y``),
each parameter either given an exact value or left symbolic (value ``None``).
Numbers typed as ``3/5`` stay Rational; floats are only what the user typed as
floats.
"""
from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Mapping

import sympy as sp

from .errors import InputError, LossSyntaxError
from .parse import CONSTANTS, FUNCTIONS, parse_expression

__all__ = ["Loss", "parse_loss", "parse_assignments", "parse_names", "symbol"]

_RESERVED = set(FUNCTIONS) | set(CONSTANTS)


def symbol(name: str) -> sp.Symbol:
    """The real SymPy symbol implreg uses for ``name`` (one per name)."""
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
        raise InputError("name", name, "must be a plain identifier")
    return sp.Symbol(name, real=True)


def _check_name(argument: str, name) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) \
            or name.startswith("_"):
        raise InputError(argument, name, "must be a plain identifier (letters, digits, _; not a keyword)")
    if name in _RESERVED:
        raise InputError(argument, name, "is the name of a built-in function or constant")
    if len(name) > 40:
        raise InputError(argument, name, "a name is at most 40 characters")
    return name


def parse_names(argument: str, names) -> tuple[str, ...]:
    """``"w1,w2"`` or ``["w1", "w2"]`` -> ``("w1", "w2")``, validated.

    >>> parse_names("variables", "w1, w2")
    ('w1', 'w2')
    """
    if not isinstance(argument, str):
        raise InputError("argument", argument, "must be the argument's name (a string)")
    given = names
    if isinstance(names, (Mapping, bytes)) or not isinstance(names, (str, Iterable)):
        raise InputError(argument, names, "must be comma-separated names or a sequence of names")
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = tuple(names)
    for n in names:
        name = n if isinstance(n, str) else getattr(n, "name", n)
        try:
            _check_name(argument, name)
        except InputError as exc:
            if given is name:
                raise
            raise InputError(argument, given, f"{name!r} {exc.reason}") from None
    names = tuple(n if isinstance(n, str) else n.name for n in names)
    if len(set(names)) != len(names):
        raise InputError(argument, ",".join(names), "names must be distinct")
    return names


def _exact_value(name: str, value):
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"params[{name}]", value, "must be a number")
    if isinstance(value, int):
        return sp.Integer(value)
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InputError(f"params[{name}]", value, "must be finite")
        return sp.Float(repr(value))
    if isinstance(value, str):
        try:
            v = parse_expression(value, {})
        except LossSyntaxError as exc:
            raise InputError(f"params[{name}]", value, f"not a number ({exc})") from None
        if not v.is_number:
            raise InputError(f"params[{name}]", value, "must be a number")
        return v
    if isinstance(value, sp.Basic) and value.is_number:
        return value
    raise InputError(f"params[{name}]", value, "must be a number, a numeric string or None")


def parse_assignments(text: str | Mapping | None) -> dict:
    """``"x=1, y=3/5, z"`` -> ``{"x": 1, "y": 3/5, "z": None}`` (exact).

    >>> parse_assignments("x=1,y=3/5")
    {'x': 1, 'y': 3/5}
    """
    if text is None:
        return {}
    if not isinstance(text, (str, Mapping)):
        raise InputError("params", text, "must be text such as 'x=1, y=3/5' or a mapping")
    if isinstance(text, Mapping):
        return {_check_name("params", k): _exact_value(k, v) for k, v in text.items()}
    out = {}
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        k, v = (s.strip() for s in part.split("=", 1)) if "=" in part else (part, None)
        if k in out:
            raise InputError("params", text, f"{k!r} is assigned twice")
        out[_check_name("params", k)] = None if v is None else _exact_value(k, v)
    return out


@dataclass(frozen=True)
class Loss:
    r"""An exact loss ``E(variables; params)``.

    ``expr`` keeps the parameters as symbols; :attr:`concrete` substitutes the
    given values.  ``terms`` optionally lists per-sample (or per-batch) losses
    whose mean is the loss, for SGD.

    >>> E = parse_loss("1/2*(y - w1*w2*x)**2", "w1,w2", {"x": 1, "y": "3/5"})
    >>> E.concrete
    (-w1*w2 + 3/5)**2/2
    >>> E.variables
    (w1, w2)
    """

    expr: sp.Expr
    variables: tuple
    params: Mapping[str, object] = field(default_factory=dict)
    name: str = ""
    text: str = ""
    terms: tuple = ()

    def __post_init__(self):
        if not isinstance(self.expr, sp.Expr):
            raise InputError("expr", self.expr, "must be a SymPy expression")
        for arg in ("name", "text"):
            if not isinstance(getattr(self, arg), str):
                raise InputError(arg, getattr(self, arg), "must be a string")
        if isinstance(self.variables, (str, bytes)) or not isinstance(self.variables, Iterable):
            raise InputError("variables", self.variables, "must be a sequence of SymPy symbols")
        if isinstance(self.params, str):
            object.__setattr__(self, "params", parse_assignments(self.params))
        if not isinstance(self.params, Mapping):
            raise InputError("params", self.params, "must be a mapping of names to values")
        for k in self.params:
            _check_name("params", k)
        if isinstance(self.terms, (str, bytes)) or not isinstance(self.terms, Iterable) \
                or not all(isinstance(t, sp.Expr) for t in self.terms):
            raise InputError("terms", self.terms, "must be a sequence of SymPy expressions")
        variables = tuple(self.variables)
        if not variables:
            raise InputError("variables", variables, "at least one variable is needed")
        for v in variables:
            if not isinstance(v, sp.Symbol):
                raise InputError("variables", v, "must be SymPy symbols")
        object.__setattr__(self, "variables", variables)
        params = {str(k): _exact_value(str(k), v) for k, v in dict(self.params).items()}
        clash = set(params) & {v.name for v in variables}
        if clash:
            raise InputError("params", sorted(clash), "a name cannot be both a variable and a parameter")
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "terms", tuple(self.terms))
        allowed = set(variables) | {symbol(p) for p in params}
        extra = {s for s in self.expr.free_symbols if s not in allowed}
        if extra:
            raise InputError("expr", str(self.expr), f"undeclared symbols {sorted(map(str, extra))}")

    # -- views ---------------------------------------------------------
    @property
    def param_symbols(self) -> dict:
        return {symbol(k): v for k, v in self.params.items()}

    @property
    def substitutions(self) -> dict:
        """``{Symbol: value}`` for the parameters that have values."""
        return {symbol(k): v for k, v in self.params.items() if v is not None}

    def substitute(self, expr):
        """Put the parameter values into ``expr`` (SymPy object or Matrix)."""
        subs = self.substitutions
        return expr.subs(subs) if subs else expr

    @property
    def concrete(self) -> sp.Expr:
        """The loss with the parameter values substituted."""
        return self.substitute(self.expr)

    @property
    def concrete_terms(self) -> tuple:
        return tuple(self.substitute(t) for t in self.terms)

    @property
    def symbolic_params(self) -> tuple:
        return tuple(symbol(k) for k, v in self.params.items() if v is None)

    def with_params(self, **values) -> "Loss":
        """A copy with some parameter values replaced."""
        params = dict(self.params)
        for k, v in values.items():
            if k not in params:
                raise InputError("params", k, f"not a parameter of this loss (have {sorted(params)})")
            params[k] = v
        return Loss(self.expr, self.variables, params, self.name, self.text, self.terms)

    def to_dict(self) -> dict:
        return {"loss": str(self.expr), "variables": [v.name for v in self.variables],
                "params": {k: (None if v is None else str(v)) for k, v in self.params.items()}}

    def latex(self, notation=None) -> str:
        from .latex import to_latex
        return to_latex(self.expr, notation)

    def _latex(self, printer=None) -> str:
        return self.latex()

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle E = {self.latex()}$"


def parse_loss(text: str, variables, params=None, name: str = "") -> Loss:
    """Parse a loss typed by the user.

    ``variables`` is ``"w1,w2"`` or a sequence of names; ``params`` is a
    mapping or text such as ``"x=1, y=3/5"`` (a name without a value stays
    symbolic).

    >>> E = parse_loss("1/2*(y - w1/(1+exp(-w2*x)))**2", "w1,w2", "x=1,y=3/5")
    >>> E.params
    {'x': 1, 'y': 3/5}
    >>> parse_loss("w + z", "w")
    Traceback (most recent call last):
    ...
    analytic.errors.LossSyntaxError: loss syntax error at column 5: 'z' undeclared name: declare it as a variable or a parameter
    """
    if not isinstance(name, str):
        raise InputError("name", name, "must be a string")
    if not isinstance(text, str):
        raise InputError("loss", text, "must be loss-language text")
    var_names = parse_names("variables", variables)
    if not var_names:
        raise InputError("variables", variables, "at least one variable is needed")
    params = parse_assignments(params)
    names = {n: symbol(n) for n in var_names}
    for p in params:
        if p in names:
            raise InputError("params", p, "a name cannot be both a variable and a parameter")
        names[p] = symbol(p)
    expr = parse_expression(text, names)
    return Loss(expr, tuple(symbol(n) for n in var_names), params, name=name, text=text)
