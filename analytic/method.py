r"""A user-typed update rule: the method language.

A method is assignments separated by ``;`` or newlines, read top to bottom, e.g.
heavy ball ``v = beta*v - h*g(x); x = x + v``.  In it

* ``x`` is the parameter vector and ``g(p)`` the gradient :math:`\nabla E(p)` at a point ``p``;
* a name read before it is assigned in the step (other than ``x``) is a **state** variable,
  carried to the next step and initialised to 0 (``init`` overrides: a number, or ``x``);
* a name assigned before it is read is a **temporary** of the step
  (``y = x + beta*v; v = beta*v - h*g(y); x = x + v``: ``y`` is one, ``v`` is state);
* a name never assigned is a **hyperparameter**: exact from ``params`` (``"h=1/10, beta=9/10"``),
  else a SymPy symbol (``h`` positive, the others real), which the numeric driver refuses;
  the step size ``h`` must occur;
* ``x`` is assigned at least once; a read of ``x`` sees its latest value and the value after
  the last assignment is :math:`x_{k+1}`.

``+ - * /`` and ``**`` (scalar exponent) are elementwise, so are ``sqrt`` and the smooth
functions ``exp log sin cos tanh sigmoid softplus erf``; ``norm(p)`` is the Euclidean norm of
a point (one number per point).  Non-smooth functions (``abs``, ``relu``, ``min``, ``max``...)
are refused.  Every value is a *scalar* (numbers, hyperparameters, a counter such as Adam's
``k = k + 1``), a *vector* shaped like ``x``, or a *norm*; ``x``, the states read as vectors
and the argument of ``g`` must be vectors, exponents scalars.

The text is checked and parsed by :mod:`analytic.parse` (length, characters, nesting,
syntax-tree size, exact literals, the whitelist of its builder); nothing is evaluated by
Python.  :meth:`TypedMethod.step` *interprets* the assignments in the order typed against an
array namespace (:mod:`analytic.namespace`): a product with a scalar is ``*``, of two arrays
``ns.mul``; ``p**2`` is ``ns.square(p)``, as in the built-in transforms, so a rule typed as a
built-in computes it gives the same floating-point operations, iterate for iterate; on
:data:`~analytic.namespace.SYMPY` the step is exact.

>>> m = parse_method("v = beta*v - h*g(x); x = x + v", "h=1/10, beta=1/2")
>>> m.state_names, m.hyperparameters()
(('v',), {'h': 1/10, 'beta': 1/2})
>>> import numpy as np
>>> x0 = np.array([[1.0], [2.0]])                    # two starts of one coordinate
>>> state, x = m.step(m.init(x0), x0, lambda p: 2 * p)
>>> x.tolist(), state[0].tolist()
([[0.8], [1.6]], [[-0.2], [-0.4]])
>>> parse_method("x = x - h*abs(g(x))")
Traceback (most recent call last):
...
analytic.method.MethodError: argument 'method' = 'x = x - h*abs(g(x))': at column 11: 'abs' non-smooth function (allowed: g, norm, exp, log, sqrt, sin, cos, tanh, sigmoid, softplus, erf)

References: Polyak (1964) and Foret et al. (2021) for the examples; optax's ``chain`` for the
transform protocol (:mod:`analytic.transforms`).
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import numpy as np
import sympy as sp
from sympy.printing.latex import LatexPrinter

from . import transforms as tx
from .errors import InputError, LossSyntaxError
from .loss import _check_name
from .namespace import NUMPY
from .optimizers import Optimizer
from .parse import CONSTANTS, FUNCTIONS, LIMITS, _Builder, check_text, parse_tree
from .values import exact_value

__all__ = ["parse_method", "TypedMethod", "MethodError", "SMOOTH", "typed_rule"]

#: the smooth entrywise functions of the method language (with ``g`` and ``norm``)
SMOOTH = ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "softplus", "erf")
_NONSMOOTH = {"abs", "relu", "min", "max", "sign", "floor", "ceil", "ceiling", "round", "heaviside", "Abs",
              "Max", "Min", "Heaviside"}
_ALLOWED = "g, norm, " + ", ".join(SMOOTH)
_NUMPY_F = {"exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
            "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "softplus": lambda z: np.logaddexp(0, z),
            "erf": np.vectorize(math.erf, otypes=[float])}
S, V, P = "a number", "a vector", "a norm"          # the three shapes of a value


class MethodError(InputError):
    """An error in a typed method; ``token`` is the offending text, ``column`` its 1-based
    position in the whole rule."""

    def __init__(self, argument, text, message, token="", column=None):
        self.token, self.column = token, column
        where = f"at column {column}: " if column is not None else ""
        super().__init__(argument, text, f"{where}{token!r} {message}" if token else where + message)


# -- parsing ------------------------------------------------------------------------------------
class _RuleBuilder(_Builder):
    """The loss language's builder, with ``g(p)`` and ``norm(p)`` and without non-smooth functions."""

    def name(self, node):
        if node.id in ("g", "norm"):
            self.fail(node, f"{node.id!r} used without an argument: write {node.id}(x)", node.id)
        return super().name(node)

    def call(self, node, depth):
        f = node.func
        if isinstance(f, ast.Name) and f.id in ("g", "norm"):
            if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
                self.fail(node, f"{f.id} takes one point, got {len(node.args) + len(node.keywords)} argument(s)", f.id)
            return sp.Function(f.id)(self.build(node.args[0], depth + 1))
        if isinstance(f, ast.Name) and f.id in _NONSMOOTH:
            self.fail(f, f"non-smooth function (allowed: {_ALLOWED})", f.id)
        if isinstance(f, ast.Name) and f.id not in SMOOTH:
            self.fail(f, f"unknown function (allowed: {_ALLOWED})", f.id)
        return super().call(node, depth)


def _message(exc: LossSyntaxError) -> str:
    where = f" at column {exc.column}" if exc.column is not None else ""
    head = f"loss syntax error{where}:" + (f" {exc.token!r}" if exc.token else "")
    text = str(exc)
    return (text[len(head):] if text.startswith(head) else text).strip().replace(" in a loss", " in a method")


def _pieces(text):
    """(offset, statement) for every non-empty statement between ``;`` and newlines."""
    out, start = [], 0
    for i, c in enumerate(text + ";"):
        if c in ";\n":
            piece = text[start:i]
            if piece.strip():
                out.append((start + len(piece) - len(piece.lstrip()), piece.strip()))
            start = i + 1
    return out


_PREC = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.Pow: 4}
_SEP = {ast.Add: " + ", ast.Sub: " - ", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


def _show(node, src):
    """The expression with normalized spacing and the parentheses its order needs, and its precedence."""
    if isinstance(node, ast.Constant):
        return ast.get_source_segment(src, node), 5
    if isinstance(node, ast.Name):
        return node.id, 5
    if isinstance(node, ast.Call):
        return f"{node.func.id}({', '.join(_show(a, src)[0] for a in node.args)})", 5
    if isinstance(node, ast.UnaryOp):
        t, p = _show(node.operand, src)
        return ("-" if isinstance(node.op, ast.USub) else "+") + (t if p >= 3 else f"({t})"), 3
    q = _PREC[type(node.op)]
    (lt, lp), (rt, rp) = _show(node.left, src), _show(node.right, src)
    left = lt if lp > q or (lp == q and q != 4) else f"({lt})"
    right = rt if rp > q or (q == 4 and rp >= 3) else f"({rt})"
    return left + _SEP[type(node.op)] + right, q


def _tree(node, b: _RuleBuilder, at):
    """The AST (already checked by the builder) as nested tuples the interpreter reads."""
    loc = (b.token(node), at + getattr(node, "col_offset", 0) + 1)
    if isinstance(node, ast.Constant):
        return ("num", b.constant(node))
    if isinstance(node, ast.Name):
        return ("num", CONSTANTS[node.id]) if node.id in CONSTANTS else ("var", node.id)
    if isinstance(node, ast.UnaryOp):
        inner = _tree(node.operand, b, at)
        return ("neg", inner) if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        op = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}[type(node.op)]
        return (op, _tree(node.left, b, at), _tree(node.right, b, at), loc)
    f = node.func.id
    return (f if f in ("g", "norm") else "fn", f, _tree(node.args[0], b, at), loc)


def _reads(node):
    """Names read by a tree, in evaluation order."""
    tag = node[0]
    if tag == "var":
        return [node[1]]
    if tag == "num":
        return []
    if tag == "neg":
        return _reads(node[1])
    if tag in ("g", "norm", "fn"):
        return _reads(node[2])
    return _reads(node[1]) + _reads(node[2])


@dataclass(frozen=True)
class _Program:
    lines: tuple          # normalized assignments
    statements: tuple     # (target, tree)
    exprs: tuple          # (target symbol, SymPy expression) as typed, for LaTeX
    state: tuple          # state variables, in order of first read
    hyper: tuple          # hyperparameters, in order of first read
    temporaries: tuple


def _symbol(name):
    return sp.Symbol(name, positive=True) if name == "h" else sp.Symbol(name, real=True)


@lru_cache(maxsize=256)
def _parse(text, argument):
    def fail(message, token="", column=None):
        raise MethodError(argument, text, message, token, column)
    try:
        check_text(text, what="the method", separators=";\n")
    except LossSyntaxError as exc:
        fail(_message(exc), exc.token, exc.column)
    pieces, parsed, nodes = _pieces(text), [], 0
    if not pieces:
        fail("the rule is empty: write assignments such as 'x = x - h*g(x)'")
    for at, piece in pieces:
        try:
            tree = parse_tree(piece, mode="exec")
        except LossSyntaxError as exc:
            fail(_message(exc), exc.token, None if exc.column is None else at + exc.column)
        nodes += sum(1 for _ in ast.walk(tree))
        stmt = tree.body[0] if len(tree.body) == 1 else None
        if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
            hint = " (write 'x = x - ...')" if isinstance(stmt, ast.AugAssign) else ""
            fail(f"each statement must be one assignment 'name = expression'{hint}", piece[:40], at + 1)
        parsed.append((at, piece, stmt))
    if nodes > LIMITS["max_nodes"]:
        fail(f"the rule has {nodes} syntax nodes, more than {LIMITS['max_nodes']}", text[:20], 1)
    names = {n.id for _, _, s in parsed for n in ast.walk(s) if isinstance(n, ast.Name)}
    for at, piece, stmt in parsed:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and (n.id.startswith("_") or len(n.id) > 40):
                fail("names are at most 40 characters and do not start with '_'", n.id, at + n.col_offset + 1)
    symbols = {n: _symbol(n) for n in names - set(FUNCTIONS) - set(CONSTANTS) - {"g", "norm"}}
    statements, exprs, lines, assigned, first = [], [], [], set(), []
    for at, piece, stmt in parsed:
        target = stmt.targets[0]
        col = at + target.col_offset + 1
        if target.id in ("g", "norm") or target.id in FUNCTIONS or target.id in CONSTANTS:
            fail(f"cannot be assigned: it is {'the gradient' if target.id == 'g' else 'a function or constant'}",
                 target.id, col)
        if target.id == "h":
            fail("is the step size, a hyperparameter: it cannot be assigned", "h", col)
        try:
            _check_name(argument, target.id)
        except InputError as exc:
            fail(exc.reason, target.id, col)
        b = _RuleBuilder(piece, symbols, exact_decimals=True)
        try:
            expr = b.build(stmt.value, 1)
        except LossSyntaxError as exc:
            fail(_message(exc), exc.token, None if exc.column is None else at + exc.column)
        if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo, sp.I):
            fail("the expression is an infinity, NaN or not real", ast.get_source_segment(piece, stmt.value)[:40],
                 at + stmt.value.col_offset + 1)
        tree_ = _tree(stmt.value, b, at)
        for n in _reads(tree_):
            if n != "x" and n not in assigned and n not in first:
                first.append(n)
        assigned.add(target.id)
        statements.append((target.id, tree_))
        exprs.append((symbols[target.id], expr))
        lines.append(f"{target.id} = {_show(stmt.value, piece)[0]}")
    if "x" not in assigned:
        fail("x is never assigned: the rule must give the new iterate, e.g. 'x = x + v'", text.strip()[:20], 1)
    hyper = tuple(n for n in first if n not in assigned)
    if "h" not in hyper:
        fail("the rule must use the step size h (a hyperparameter)", text.strip()[:20], 1)
    state = tuple(n for n in first if n in assigned)
    temps = tuple(sorted(assigned - set(state) - {"x"}))
    _check_writes_are_read(statements, set(state), [at for at, _, _ in parsed], fail)
    return _Program(tuple(lines), tuple(statements), tuple(exprs), state, hyper, temps)


def _check_writes_are_read(statements, state, offsets, fail):
    """Every assignment but the last of ``x`` and of a state is read before it is overwritten:
    a name written and never read is a typo or a state that was never declared by a read."""
    for i, (target, _) in enumerate(statements):
        if target == "x" and all(t != "x" for t, _ in statements[i + 1:]):
            continue
        for later, tree_ in statements[i + 1:]:
            if target in _reads(tree_):
                break
            if later == target:
                fail("is overwritten before it is read", target, offsets[i] + 1)
        else:
            if target not in state and target != "x":
                fail("is assigned but never read: a state variable is read before it is written in the "
                     "step (e.g. 'v = beta*v - h*g(x)'), a temporary is read after it", target, offsets[i] + 1)


# -- shapes -------------------------------------------------------------------------------------
def _join(a, b):
    return V if V in (a, b) else P if P in (a, b) else S


def _annotate(node, kinds, fail):
    """(tree with the operands' shapes, its shape); refuses the shapes a rule cannot have."""
    tag = node[0]
    if tag == "num":
        return node, S
    if tag == "var":
        return node, kinds[node[1]]
    if tag == "neg":
        inner, k = _annotate(node[1], kinds, fail)
        return ("neg", inner), k
    if tag in ("g", "norm", "fn"):
        arg, k = _annotate(node[2], kinds, fail)
        if tag != "fn" and k != V:
            fail(f"{tag} takes a point shaped like x, not {k}", *node[3])
        return (tag, node[1], arg, node[3]), {"g": V, "norm": P}.get(tag, k)
    (a, ka), (b, kb) = _annotate(node[1], kinds, fail), _annotate(node[2], kinds, fail)
    if tag == "pow":
        if kb != S:
            fail(f"an exponent must be a number, a hyperparameter or a counter, not {kb}", *node[3])
        lit = b[1] if b[0] == "num" else None
        return ("pow", a, b, ka, lit, node[3]), ka
    return (tag, a, b, ka, kb, node[3]), _join(ka, kb)


@lru_cache(maxsize=256)
def _typed(program: _Program, vector_states: frozenset, argument, text):
    """The statements with shapes: states are numbers unless a vector flows into them."""
    def fail(message, token="", column=None):
        raise MethodError(argument, text, message, token, column)
    shapes = {n: (V if n in vector_states else S) for n in program.state}
    while True:
        kinds = dict(shapes, x=V, **{n: S for n in program.hyper})
        out = []
        for target, tree_ in program.statements:
            tree_, kinds[target] = _annotate(tree_, kinds, fail)
            out.append((target, tree_))
        new = {n: _join(shapes[n], kinds[n]) for n in program.state}
        if new == shapes:
            break
        shapes = new
    if kinds["x"] != V:
        fail(f"x must stay a vector shaped like x, the rule makes it {kinds['x']}", "x", None)
    for n in program.state:
        if shapes[n] == P:
            fail("state variable would hold a norm (one number per point): a state is a vector "
                 "shaped like x or a number", n, None)
        if kinds[n] != shapes[n]:
            fail(f"state variable must keep its shape from step to step: it is read as {shapes[n]} "
                 f"but the rule leaves {kinds[n]} in it", n, None)
    return tuple(out), shapes


# -- interpretation -----------------------------------------------------------------------------
def _number(value, ns):
    if ns.exact:
        return value
    return int(value) if value.is_Integer else float(value)


def _plus(a, b, sign):
    """``a + b`` (``a - b``); an exact matrix with a scalar entrywise."""
    if isinstance(a, sp.MatrixBase) and not isinstance(b, sp.MatrixBase):
        return a.applyfunc(lambda e: e + sign * b)
    if isinstance(b, sp.MatrixBase) and not isinstance(a, sp.MatrixBase):
        return b.applyfunc(lambda e: a + sign * e)
    return a + b if sign > 0 else a - b


def _interpret(node, env, ns, grad, fail):
    tag = node[0]
    if tag == "num":
        return _number(node[1], ns)
    if tag == "var":
        return env[node[1]]
    if tag == "neg":
        return -_interpret(node[1], env, ns, grad, fail)
    if tag == "g":
        return grad(_interpret(node[2], env, ns, grad, fail))
    if tag == "norm":
        return ns.norm(_interpret(node[2], env, ns, grad, fail))
    if tag == "fn":
        a = _interpret(node[2], env, ns, grad, fail)
        if node[1] == "sqrt":
            return ns.sqrt(a)
        return ns.apply(FUNCTIONS[node[1]][0] if ns.exact else _NUMPY_F[node[1]], a)
    a, b = _interpret(node[1], env, ns, grad, fail), _interpret(node[2], env, ns, grad, fail)
    try:
        if tag == "pow":
            if node[3] == S:
                r = a ** b
                if isinstance(r, complex):
                    fail("a power of a negative number is not real", *node[-1])
                return r
            if node[4] == 2:
                return ns.square(a)
            return ns.sqrt(a) if node[4] == sp.Rational(1, 2) else ns.apply(lambda e: e ** b, a)
        if tag in ("add", "sub"):
            return _plus(a, b, 1 if tag == "add" else -1)
        scalar = S in (node[3], node[4])
        if tag == "mul":
            return a * b if scalar else ns.mul(a, b)
        return a / b if node[3] == node[4] == S else ns.div(a, b)
    except (ZeroDivisionError, OverflowError) as exc:
        fail(f"{type(exc).__name__} in this step ({exc})", *node[-1])


# -- the spec ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class typed_rule(tx.Transform):
    """A typed method as one transform (``u = x_{k+1} - x_k``); the method's own ``step`` is exact."""

    method: object = None
    reads_gradient = True

    def __post_init__(self):
        if not isinstance(self.method, TypedMethod):
            raise InputError("method", self.method, "must be a TypedMethod")

    @property
    def state_names(self):
        return self.method.state_names

    def init(self, x, ns):
        return self.method.init(x, ns)

    def update(self, u, state, x, grad, ns):
        state, x_new = self.method.step(state, x, grad, ns)
        return _plus(x_new, x, -1), state

    def lines(self):
        return self.method.lines()

    def hyperparameters(self):
        return self.method.hyperparameters()


@dataclass(frozen=True)
class TypedMethod(Optimizer):
    """A spec from a typed rule (build it with :func:`parse_method`); ``rule`` is the normalized
    text, ``values`` the hyperparameters but ``h``, ``starts`` the state initialisations."""

    rule: str = ""
    values: tuple = ()
    starts: tuple = ()
    name: str = "typed"

    def __post_init__(self):
        super().__post_init__()
        program = _parse(self.rule, "rule")
        vec = frozenset(n for n, v in self.starts if isinstance(v, str))
        statements, shapes = _typed(program, vec, "rule", self.rule)
        if {n for n, _ in self.values} | {"h"} != set(program.hyper):
            raise InputError("values", self.values, f"must give the hyperparameters {', '.join(program.hyper)}")
        object.__setattr__(self, "_run", (program, statements, shapes))

    @property
    def state_names(self):
        return self._run[0].state

    @property
    def temporaries(self):
        return self._run[0].temporaries

    @property
    def transform(self):
        return tx.chain(typed_rule(self))

    def hyperparameters(self):
        return {"h": self.h, **dict(self.values)}

    def lines(self):
        return self._run[0].lines

    def init(self, x, ns=NUMPY):
        starts, shapes, out = dict(self.starts), self._run[2], []
        for n in self.state_names:
            v = starts.get(n)
            if shapes[n] == S:
                out.append(0 if v is None else _number(v, ns))
            elif isinstance(v, str):
                out.append(x * 1)
            else:
                out.append(ns.zeros_like(x) if v is None or v == 0 else _plus(ns.zeros_like(x), _number(v, ns), 1))
        return tuple(out)

    def step(self, state, x, grad, ns=NUMPY):
        program, statements, _ = self._run

        def fail(message, token="", column=None):
            raise MethodError("method", self.rule, message, token, column)
        env = {"x": x, **dict(zip(program.state, state))}
        for k, v in self.hyperparameters().items():
            try:
                env[k] = ns.scalar(v)
            except TypeError:
                raise InputError("params", k, "has no value: give it a number to step numerically") from None
        memo = {}

        def g(p):                     # one gradient read per point object and step
            if id(p) not in memo:
                memo[id(p)] = (p, grad(p))
            return memo[id(p)][1]
        for target, tree_ in statements:
            env[target] = _interpret(tree_, env, ns, g, fail)
        return tuple(env[n] for n in program.state), env["x"]

    def latex(self, notation=None) -> tuple:
        r"""Each assignment as LaTeX, ``v \leftarrow \beta v - h \nabla E(x)``, in ``notation``
        (:class:`analytic.latex.Notation`; ``h`` and ``g`` are written ``\IRstep``, ``\IRgrad``)."""
        from .latex import DEFAULT_NOTATION
        notation = notation or DEFAULT_NOTATION
        out = []
        for target, expr in self._run[0].exprs:
            table = {s: t for s in expr.free_symbols | {target} for t in [notation.symbol_map().get(s.name)] if t}
            table.update({s: r"\IRstep" for s in expr.free_symbols if s.name == "h"})
            if any(s.name == "eps" for s in expr.free_symbols):
                table.setdefault(sp.Symbol("eps", real=True), r"\epsilon")
            p = _Printer({"symbol_names": table})
            out.append(notation.apply(f"{p.doprint(target)} \\leftarrow {p.doprint(expr)}"))
        return tuple(out)


class _Printer(LatexPrinter):
    def _print_Function(self, expr, exp=None):
        name = expr.func.__name__
        if name not in ("g", "norm"):
            return super()._print_Function(expr, exp)
        arg = self._print(expr.args[0])
        s = rf"\IRgrad\left({arg}\right)" if name == "g" else rf"\left\|{arg}\right\|"
        return s if exp is None else f"{{{s}}}^{{{exp}}}"


def _assignments(text, argument):
    """``"a=1, b"`` or a mapping -> {name: text or value or None}."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return {_check_name(argument, k): v for k, v in text.items()}
    if not isinstance(text, str):
        raise InputError(argument, text, "must be text such as 'h=1/10, beta=9/10' or a mapping")
    out = {}
    for part in (p.strip() for p in text.split(",")):
        if part:
            k, v = (s.strip() for s in part.split("=", 1)) if "=" in part else (part, None)
            if k in out:
                raise InputError(argument, text, f"{k!r} is assigned twice")
            out[k] = v
    for k, v in out.items():            # values first: a bad value is named before a bad name
        if v is not None:
            exact_value(v, f"{argument}[{k}]", symbol={"real": True})
    return {_check_name(argument, k): v for k, v in out.items()}


def parse_method(text: str, params=None, *, name: str = "typed", init=None, argument: str = "method",
                 params_argument: str = "params", init_argument: str = "init") -> TypedMethod:
    """The spec of a typed rule (see the module docstring); ``params`` gives hyperparameter values
    (``"h=1/10, beta=9/10"`` or a mapping, exact), ``init`` state initialisations (``"v=1, xbar=x"``).

    >>> parse_method("y = x + beta*v; v = beta*v - h*g(y); x = x + v").state_names
    ('v',)
    >>> print("; ".join(parse_method("s=r*s+(1-r)*g(x)**2;x=x-h*(g(x)/(sqrt(s)+eps))").lines()))
    s = r*s + (1 - r)*g(x)**2; x = x - h*(g(x)/(sqrt(s) + eps))
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 40:
        raise InputError("name", name, "must be a non-empty string of at most 40 characters")
    program = _parse(text, argument)
    given = _assignments(params, params_argument)
    unknown = [k for k in given if k not in program.hyper]
    if unknown:
        raise InputError(params_argument, unknown[0], "is not a hyperparameter of the method (its "
                         f"hyperparameters: {', '.join(program.hyper)})")
    values = {}
    for k in program.hyper:
        v = given.get(k)
        values[k] = _symbol(k) if v is None else exact_value(v, f"{params_argument}[{k}]", symbol={"real": True})
    starts = {}
    for k, v in _assignments(init, init_argument).items():      # a value is a number or x, read first
        value = "x" if v == "x" else exact_value(0 if v is None else v, f"{init_argument}[{k}]")
        if k not in program.state:
            raise InputError(init_argument, k, f"is not a state variable of the method (its state: "
                                               f"{', '.join(program.state) or 'none'})")
        starts[k] = value
    _typed(program, frozenset(k for k, v in starts.items() if v == "x"), argument, text)
    h = values.pop("h")
    return TypedMethod(h, "; ".join(program.lines), tuple(values.items()), tuple(starts.items()), name)
