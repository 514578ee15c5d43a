r"""Chunked NumPy kernels generated from SymPy expressions.

:func:`generate_kernel` turns a list of SymPy expressions into Python source
for a function ``kernel(X, out)`` that evaluates every expression at every
point ``X[i, :]`` and writes ``out[i, j]``.  It is what
:func:`numeric.compile.compile_expr` uses by default; plain ``lambdify`` is the
fallback for expressions outside the supported set.

How it is fast, with nothing but NumPy:

* common subexpressions are removed with :func:`sympy.cse`, after rewriting
  ``exp(k a)`` as ``exp(a)**k`` for small integers ``k`` so that one
  exponential serves them all;
* every node becomes one in-place ufunc call (``out=``) on preallocated
  buffers, and buffers are recycled as soon as their value is dead;
* the points are processed in chunks of :data:`CHUNK` so that the working set
  stays in cache (Frigo et al., "Cache-oblivious algorithms", 1999, for the
  principle; NumPy's ``out=`` argument for the mechanism).

The generated source only ever contains calls of NumPy/SciPy ufuncs on names
it created itself and float literals; it is built from a SymPy tree, never
from user text (which never reaches this module).

>>> import sympy as sp
>>> x, y = sp.symbols("x y")
>>> kernel, source = generate_kernel([x * sp.exp(-y), sp.exp(-2 * y)], (x, y))
>>> X = np.array([[1.0, 0.0], [2.0, 1.0]])
>>> out = np.empty((2, 2))
>>> kernel(X, out)
>>> bool(np.allclose(out, [[1.0, 1.0], [2 * np.exp(-1), np.exp(-2)]]))
True
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import sympy as sp

from analytic.values import as_expression

__all__ = ["generate_kernel", "make_workspace", "Unsupported", "CHUNK"]

#: points per chunk: 20-odd buffers of this many doubles (64 KiB each) fit in L2 cache
CHUNK = 8192

_UNARY = {
    sp.exp: "np.exp", sp.log: "np.log", sp.sin: "np.sin", sp.cos: "np.cos", sp.tan: "np.tan",
    sp.tanh: "np.tanh", sp.sinh: "np.sinh", sp.cosh: "np.cosh", sp.Abs: "np.absolute",
    sp.sign: "np.sign", sp.atan: "np.arctan", sp.erf: "_erf",
}


class Unsupported(Exception):
    """The expression uses something the kernel generator does not translate."""


def _share_exponentials(exprs):
    """Name ``exp(a)`` once and write ``exp(k*a)`` as its ``k``-th power.

    Returns ``(definitions, new_exprs)`` where ``definitions`` is a list of
    ``(symbol, exp(a))`` to evaluate first.
    """
    exps = set()
    for e in exprs:
        exps |= e.atoms(sp.exp)
    groups: dict = {}
    for t in exps:
        coeff, rest = t.args[0].as_coeff_Mul()
        if coeff.is_Integer and rest != 1:
            groups.setdefault(rest, []).append((int(coeff), t))
    repl, definitions = {}, []
    for rest, members in sorted(groups.items(), key=lambda kv: sp.default_sort_key(kv[0])):
        if len(members) < 2:
            continue
        base_k = min((k for k, _ in members), key=lambda k: (abs(k), -k))
        if any(k % base_k or abs(k // base_k) > 8 for k, _ in members):
            continue
        sym = sp.Symbol(f"_exp{len(definitions)}", real=True)
        definitions.append((sym, sp.exp(base_k * rest)))
        for k, t in members:
            repl[t] = sym ** (k // base_k)
    if not repl:
        return [], list(exprs)
    return definitions, [e.xreplace(repl) for e in exprs]


def _share_powers(replacements, reduced):
    """Compute the integer powers of each symbol once, as a chain of products.

    ``b**-2, b**-3, b**-4`` become ``r1 = 1/b, r2 = r1*r1, r3 = r2*r1,
    r4 = r2*r2``: one division instead of three.
    """
    exprs = [e for _, e in replacements] + list(reduced)
    wanted: dict = {}
    for e in exprs:
        for p in e.atoms(sp.Pow):
            if p.base.is_Symbol and p.exp.is_Integer and 2 <= abs(int(p.exp)) <= 8 or (
                    p.base.is_Symbol and p.exp == -1):
                wanted.setdefault(p.base, set()).add(int(p.exp))
    if not wanted:
        return list(replacements), list(reduced)
    defs: dict = {}                      # base -> [(symbol, expr)]
    repl = {}
    for base, exps in wanted.items():
        chain = []
        for sign in (1, -1):
            top = max((abs(n) for n in exps if (n > 0) == (sign > 0)), default=0)
            if top == 0 or (sign > 0 and top < 2):
                continue
            powers = {1: base} if sign > 0 else {}
            if sign < 0:
                s1 = sp.Symbol(f"_{base.name}_m1", real=True)
                chain.append((s1, 1 / base))
                powers[1] = s1
            for k in range(2, top + 1):
                sk = sp.Symbol(f"_{base.name}_{'p' if sign > 0 else 'm'}{k}", real=True)
                half = k // 2
                chain.append((sk, powers[half] * powers[k - half]))
                powers[k] = sk
            for k in range(1, top + 1):
                if sign * k in exps and (sign < 0 or k > 1):
                    repl[base ** (sign * k)] = powers[k]
        defs[base] = chain
    out = []
    emitted = set()
    for base in wanted:                 # powers of a variable or an exp: first
        if base not in {s for s, _ in replacements}:
            out += defs[base]
            emitted.add(base)
    for s, e in replacements:
        out.append((s, e.xreplace(repl)))
        if s in defs and s not in emitted:
            out += defs[s]
    return out, [r.xreplace(repl) for r in reduced]


class _Codegen:
    """Three-address code over named buffers ``b0, b1, ...``."""

    def __init__(self, variables):
        self.var_names = {v: f"x{i}" for i, v in enumerate(variables)}
        self.named: dict = {}          # cse symbol -> buffer name
        self.lines: list[str] = []
        self.free: list[str] = []
        self.count = 0
        self.temps: set[str] = set()   # buffers holding an anonymous value

    # -- buffers -----------------------------------------------------------
    def alloc(self) -> str:
        if self.free:
            name = self.free.pop()
        else:
            name = f"b{self.count}"
            self.count += 1
        self.temps.add(name)
        return name

    def release(self, name: str) -> None:
        if name in self.temps:
            self.temps.discard(name)
            self.free.append(name)

    def target(self, *operands) -> str:
        """A buffer to write into: reuse an anonymous operand if there is one."""
        for op in operands:
            if op in self.temps:
                for other in operands:
                    if other != op:
                        self.release(other)
                return op
        for op in operands:
            self.release(op)
        return self.alloc()

    def emit(self, line: str) -> None:
        self.lines.append(line)

    # -- operands ----------------------------------------------------------
    @staticmethod
    def is_buffer(op: str) -> bool:
        return op[0] in "bx"

    def value(self, e) -> str:
        if e in self.var_names:
            return self.var_names[e]
        if e in self.named:
            return self.named[e]
        if e.is_number:
            v = complex(sp.N(e, 17))
            if v.imag != 0:
                raise Unsupported(f"complex constant {e}")
            return repr(float(v.real))
        if e.is_Add:
            return self.add(e)
        if e.is_Mul:
            return self.mul(e)
        if e.is_Pow:
            return self.power(e)
        if isinstance(e, (sp.Max, sp.Min)):
            fn = "np.maximum" if isinstance(e, sp.Max) else "np.minimum"
            return self.fold(fn, [self.value(a) for a in e.args])
        if isinstance(e, sp.Heaviside):
            at_zero = e.args[1] if len(e.args) > 1 else sp.S.Half
            if not at_zero.is_number:
                raise Unsupported("Heaviside with a symbolic value at 0")
            a = self.value(e.args[0])
            if not self.is_buffer(a):
                raise Unsupported("Heaviside of a constant")
            out = self.target(a)
            self.emit(f"np.heaviside({a}, {float(at_zero)!r}, out={out})")
            return out
        fn = _UNARY.get(type(e))
        if fn is None or len(e.args) != 1:
            raise Unsupported(type(e).__name__)
        a = self.value(e.args[0])
        if not self.is_buffer(a):
            raise Unsupported(f"{type(e).__name__} of a constant")
        out = self.target(a)
        self.emit(f"{fn}({a}, out={out})")
        return out

    def binary(self, fn: str, a: str, b: str) -> str:
        if not self.is_buffer(a) and not self.is_buffer(b):
            raise Unsupported("operation between constants")
        out = self.target(a, b)
        self.emit(f"{fn}({a}, {b}, out={out})")
        return out

    def fold(self, fn: str, ops) -> str:
        ops = list(ops)
        buf = [o for o in ops if self.is_buffer(o)]
        const = [o for o in ops if not self.is_buffer(o)]
        ops = buf + const                    # start from an array operand
        acc = ops[0]
        for o in ops[1:]:
            acc = self.binary(fn, acc, o)
        return acc

    def add(self, e) -> str:
        pos, neg = [], []
        for t in e.args:
            if t.could_extract_minus_sign():
                neg.append(-t)
            else:
                pos.append(t)
        if not pos:  # -(a + b + ...)
            acc = self.fold("np.add", [self.value(t) for t in neg])
            out = self.target(acc)
            self.emit(f"np.negative({acc}, out={out})")
            return out
        acc = self.fold("np.add", [self.value(t) for t in pos])
        for t in neg:
            acc = self.binary("np.subtract", acc, self.value(t))
        return acc

    def mul(self, e) -> str:
        coeff, factors = e.as_coeff_mul()
        num, den = [], []
        for f in factors:
            if f.is_Pow and f.exp.is_number and f.exp.is_negative:
                den.append(sp.Pow(f.base, -f.exp))
            else:
                num.append(f)
        coeff = float(coeff)
        if num:
            acc = self.fold("np.multiply", [self.value(f) for f in num])
            if den:
                acc = self.binary("np.divide", acc, self.fold("np.multiply", [self.value(f) for f in den]))
            if coeff != 1.0:
                if coeff == -1.0:
                    out = self.target(acc)
                    self.emit(f"np.negative({acc}, out={out})")
                    acc = out
                else:
                    acc = self.binary("np.multiply", acc, repr(coeff))
            return acc
        d = self.fold("np.multiply", [self.value(f) for f in den])
        return self.binary("np.divide", repr(coeff), d)

    def int_power(self, b: str, n: int) -> str:
        """``b**n`` for an integer ``n >= 1`` (products up to ``n = 4``)."""
        if n == 1:
            return b
        if n == 2:
            out = self.target(b)
            self.emit(f"np.multiply({b}, {b}, out={out})")
            return out
        if n == 3:
            out = self.alloc()
            self.emit(f"np.multiply({b}, {b}, out={out})")
            self.emit(f"np.multiply({out}, {b}, out={out})")
            self.release(b)
            return out
        if n == 4:
            out = self.target(b)
            self.emit(f"np.multiply({b}, {b}, out={out})")
            self.emit(f"np.multiply({out}, {out}, out={out})")
            return out
        return self.binary("np.power", b, repr(float(n)))

    def power(self, e) -> str:
        base, exp = e.base, e.exp
        if base == sp.E:
            return self.value(sp.exp(exp))
        b = self.value(base)
        if exp.is_Integer:
            n = int(exp)
            if n == 0:
                return "1.0"
            p = self.int_power(b, abs(n))
            return p if n > 0 else self.binary("np.divide", "1.0", p)
        if exp == sp.Rational(1, 2) or exp == sp.Rational(-1, 2):
            out = self.target(b)
            self.emit(f"np.sqrt({b}, out={out})")
            if exp.is_negative:
                out = self.binary("np.divide", "1.0", out)
            return out
        return self.binary("np.power", b, self.value(exp))


def _drop_aliases(replacements, reduced):
    """Remove definitions ``s = t`` where ``t`` is a symbol or a number."""
    alias = {}
    out = []
    for s, e in replacements:
        e = e.xreplace(alias) if alias else e
        if e.is_Symbol or e.is_number:
            alias[s] = e
        else:
            out.append((s, e))
    return out, [r.xreplace(alias) if alias else r for r in reduced]


def _cost(lines) -> int:
    """Rough cost of a kernel: one per ufunc call, more for exp/log/division."""
    heavy = ("np.exp(", "np.log(", "np.divide(", "np.power(", "_erf(", "np.tanh(", "np.sin(", "np.cos(")
    return sum(4 if line.startswith(heavy) else 1 for line in lines)


def _plan(exp_defs, exprs, variables, optimizations):
    """Three-address code for ``exprs`` with one choice of cse optimizations."""
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_cse"), order="none",
                                   optimizations=optimizations)
    replacements, reduced = _share_powers(exp_defs + list(replacements), reduced)
    replacements, reduced = _drop_aliases(replacements, reduced)
    replacements = [(s, sp.factor_terms(e)) for s, e in replacements]
    reduced = [sp.factor_terms(r) for r in reduced]
    # last use of every cse symbol
    last_use = {}
    for i, (_s, e) in enumerate(replacements):
        for a in e.free_symbols:
            last_use[a] = i
    for a in set().union(*[r.free_symbols for r in reduced]) if reduced else ():
        last_use[a] = len(replacements)
    gen = _Codegen(variables)
    for i, (s, e) in enumerate(replacements):
        op = gen.value(e)
        if not gen.is_buffer(op) or op in gen.named.values() or op in gen.var_names.values():
            # a constant or an alias: store it in its own buffer
            out = gen.alloc()
            gen.emit(f"np.copyto({out}, {op})")
            op = out
        gen.temps.discard(op)       # named now: never overwritten in place
        gen.named[s] = op
        for a in e.free_symbols:
            if a in gen.named and last_use.get(a) == i:
                buf = gen.named.pop(a)
                gen.temps.add(buf)
                gen.release(buf)
        if last_use.get(s, -1) < i:  # unused (cannot happen with cse, kept safe)
            gen.temps.add(gen.named.pop(s))
            gen.release(op)
    for j, r in enumerate(reduced):
        op = gen.value(r)
        last = gen.lines[-1] if gen.lines else ""
        if op in gen.temps and last.endswith(f", out={op})"):
            # the value's last operation writes straight into the output column
            gen.lines[-1] = last[: -len(f"out={op})")] + f"out=o{j})"
        else:
            gen.emit(f"o{j}[...] = {op}")
        gen.release(op)
    return gen, len(reduced)


def generate_kernel(exprs: Sequence, variables: Sequence[sp.Symbol], chunk: int = CHUNK):
    """Source and function ``kernel(X, out)`` evaluating ``exprs`` at the rows of ``X``.

    ``X`` has shape ``(n, len(variables))``; ``out`` has shape ``(n, len(exprs))``
    and is filled in place.  Raises :class:`Unsupported` for anything outside
    arithmetic, powers, ``exp log sin cos tan tanh sinh cosh atan abs sign erf
    Max Min Heaviside``.
    """
    variables = tuple(variables)
    exprs = [as_expression(e, "exprs", {getattr(v, "name", str(v)): v for v in variables}) for e in exprs]
    for e in exprs:
        if e.has(sp.Piecewise, sp.DiracDelta, sp.Derivative, sp.Integral) or e.atoms(sp.Function) - {
                f for f in e.atoms(sp.Function) if type(f) in _UNARY or isinstance(f, (sp.Max, sp.Min, sp.Heaviside))}:
            raise Unsupported("function outside the kernel's set")
    exp_defs, exprs = _share_exponentials(exprs)
    plans = [_plan(exp_defs, exprs, variables, None)]
    if sum(sp.count_ops(e) for e in exprs) <= 3000:   # 'basic' cse is slow on huge input
        plans.append(_plan(exp_defs, exprs, variables, "basic"))
    gen, k = min(plans, key=lambda p: _cost(p[0].lines))
    d, nb = len(variables), gen.count
    buffers = ", ".join([f"x{i}" for i in range(d)] + [f"b{i}" for i in range(nb)])
    outs = ", ".join(f"o{j}" for j in range(k))
    body = "\n".join("    " + line for line in gen.lines) or "    pass"
    src = f'''def body({buffers}{", " if buffers else ""}{outs}):
{body}


def kernel(X, out, work=None):
    n = X.shape[0]
    size = n if n <= {2 * chunk} else {chunk}
    if work is None or len(work) != {d + nb} or work[0].shape[0] != size:
        work = [np.empty(size) for _ in range({d + nb})]
    contiguous_columns = X.strides[0] == X.itemsize

    for start in range(0, n, size):
        stop = min(start + size, n)
        bufs = work if stop - start == size else [a[:stop - start] for a in work]
        if contiguous_columns:   # Fortran-ordered X: read the columns in place
            bufs = [X[start:stop, i] for i in range({d})] + bufs[{d}:]
        else:
            for i in range({d}):
                np.copyto(bufs[i], X[start:stop, i])
        body(*bufs, *[out[start:stop, j] for j in range({k})])
'''
    namespace = {"np": np}
    if "_erf" in src:
        from scipy.special import erf
        namespace["_erf"] = erf
    exec(compile(src, "<implreg kernel>", "exec"), namespace)  # noqa: S102 (generated from a SymPy tree)
    kernel = namespace["kernel"]
    kernel.buffers = d + nb
    kernel.chunk = chunk
    # one chunk's arithmetic, body(x_0..x_{d-1}, b_0..b_{nb-1}, o_0..o_{k-1}) on 1-d columns,
    # for callers that keep their own column views (numeric.stepper)
    kernel.body = namespace["body"]
    kernel.inputs, kernel.outputs = d, k
    return kernel, src


def make_workspace(kernel, n: int) -> list:
    """Preallocated buffers for repeated calls ``kernel(X, out, work)`` on ``n`` points.

    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> kernel, _ = generate_kernel([x * x + 1], (x,))
    >>> work = make_workspace(kernel, 3)
    >>> out = np.empty((3, 1))
    >>> kernel(np.array([[0.0], [1.0], [2.0]]), out, work)
    >>> out[:, 0].tolist()
    [1.0, 2.0, 5.0]
    """
    size = n if n <= 2 * kernel.chunk else kernel.chunk
    return [np.empty(size) for _ in range(kernel.buffers)]
