r"""A spec's step compiled once into in-place NumPy operations.

:func:`compile_step` runs ``optimizer.step`` a single time on a *tracing* namespace:
every array operation the rule performs (``+``, ``-``, scalar ``*``, elementwise
products and quotients, ``sqrt``, ``norm``, a gradient read) is recorded on a tape
instead of computed.  Executing the tape with preallocated column-major buffers and
ufuncs' ``out=`` gives the same floating-point operations in the same order as the
generic step -- the same iterates bit for bit -- without allocating per step.  A
gradient compiled by :func:`numeric.compile.compile_gradient` is evaluated by its
kernel straight into its buffer.

Output buffers are written over an input's buffer when that input is not read later
in the step (liveness), so heavy ball runs in as many passes as a hand-written
in-place loop.  A state entry that is a Python number (Adam's step count) lives in a
scalar register and is updated with Python's own arithmetic, as in the generic step.
Rules whose operations the tracer does not know (entrywise functions, powers of
arrays, branches on values) are not compiled: :func:`compile_step` returns ``None``
and the driver steps generically.

>>> import numpy as np
>>> from analytic.optimizers import HeavyBall
>>> s = compile_step(HeavyBall(0.1, 0.5), lambda x: 2 * x, 1)
>>> x, state = s.block(((np.zeros((2, 1)),),), np.array([[1.0], [2.0]]), 3)
>>> x[:, 0].round(4).tolist()
[0.302, 0.604]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytic.namespace import Namespace

__all__ = ["compile_step", "CompiledStep"]


class _Untraceable(Exception):
    pass


class _Node:
    """An array value on the tape (``index`` into the buffers); arithmetic records ops."""

    __slots__ = ("tape", "index", "width")

    def __init__(self, tape, index, width=None):
        self.tape, self.index, self.width = tape, index, width

    def _bin(self, other, op, swap=False):
        return self.tape.binary(op, other, self) if swap else self.tape.binary(op, self, other)

    def __add__(self, o):
        return self._bin(o, "add")

    def __radd__(self, o):
        return self._bin(o, "add", True)

    def __sub__(self, o):
        return self._bin(o, "sub")

    def __rsub__(self, o):
        return self._bin(o, "sub", True)

    def __mul__(self, o):
        return self._bin(o, "mul")

    def __rmul__(self, o):
        return self._bin(o, "mul", True)

    def __truediv__(self, o):
        return self._bin(o, "div")

    def __rtruediv__(self, o):
        return self._bin(o, "div", True)

    def __neg__(self):
        return self.tape.unary("neg", self)

    def __pow__(self, o):
        return self._bin(o, "pow")

    def __rpow__(self, o):
        return self._bin(o, "pow", True)

    def __array__(self, *a, **k):
        raise _Untraceable("the rule converts an array to NumPy")

    def __bool__(self):
        raise _Untraceable("the rule branches on an array value")




class _Tape(Namespace):
    """Records the rule's operations; it is also the namespace the rule is traced with."""

    name = "trace"

    def __init__(self):
        self.ops = []           # (kind, out index, operands...)
        self.count = 0
        self.narrow = set()     # buffers of shape (n, 1) (norms)
        self.scalars = set()    # registers holding one Python number (a step count)

    def new(self, narrow=False, scalar=False):
        node = _Node(self, self.count)
        if narrow:
            self.narrow.add(self.count)
        if scalar:
            self.scalars.add(self.count)
        self.count += 1
        return node

    def is_scalar(self, v):
        return not isinstance(v, _Node) or v.index in self.scalars

    def _operand(self, v):
        if isinstance(v, _Node):
            return ("node", v.index)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return ("const", float(v))
        raise _Untraceable(f"operand {type(v).__name__}")

    def binary(self, op, a, b):
        if self.is_scalar(a) and self.is_scalar(b):
            # arithmetic of Python numbers (a step count and constants), kept with Python's
            # semantics (int + int stays int), as the generic step computes it
            for v in (a, b):
                if not isinstance(v, _Node) and (isinstance(v, bool) or not isinstance(v, (int, float))):
                    raise _Untraceable(f"operand {type(v).__name__}")
            out = self.new(scalar=True)
            self.ops.append(("sbin", out.index, op, *[("node", v.index) if isinstance(v, _Node) else ("py", v)
                                                       for v in (a, b)]))
            return out
        if op == "pow":
            raise _Untraceable("a power of an array")
        pa, pb = self._operand(a), self._operand(b)
        narrow = all(p[0] == "const" or p[1] in self.narrow or p[1] in self.scalars for p in (pa, pb))
        out = self.new(narrow)
        self.ops.append(("bin", out.index, op, pa, pb))
        return out

    def unary(self, op, a):
        out = self.new(a.index in self.narrow)
        self.ops.append(("un", out.index, op, ("node", a.index)))
        return out

    # the namespace
    def scalar(self, value):
        return float(value)

    def mul(self, a, b):
        return self.binary("mul", a, b)

    def div(self, a, b):
        return self.binary("div", a, b)

    def sqrt(self, a):
        return self.unary("sqrt", a)

    def norm(self, a):
        out = self.new(narrow=True)
        self.ops.append(("norm", out.index, ("node", a.index)))
        return out

    def zeros_like(self, x):
        out = self.new()
        self.ops.append(("zeros", out.index))
        return out

    def apply(self, func, a):
        raise _Untraceable("entrywise functions are not traced")

    def grad(self, p):
        out = self.new()
        self.ops.append(("grad", out.index, self._operand(p)))
        return out


def _flatten(state, leaves):
    if isinstance(state, tuple):
        return tuple(_flatten(s, leaves) for s in state)
    leaves.append(state)
    return len(leaves) - 1


def _unflatten(structure, leaves):
    if isinstance(structure, tuple):
        return tuple(_unflatten(s, leaves) for s in structure)
    return leaves[structure]


@dataclass
class CompiledStep:
    """The traced step: ``block(state, x, steps) -> (x, state)`` runs ``steps`` steps in place."""

    optimizer: object
    grad: object
    d: int
    ops: list
    inputs: list            # buffer indices of x and the state leaves
    outputs: list           # buffer indices of x' and the state leaves'
    structure: tuple
    narrow: set
    count: int
    scalars: set

    def block_for(self, n):
        return self.block

    def block(self, state, x, steps):
        n = x.shape[0]
        leaves = []
        _flatten(state, leaves)
        bufs, loop = self._workspace(n)
        for i, v in zip(self.inputs, [x] + leaves):
            if i in self.scalars:
                bufs[i] = v
            else:
                np.copyto(bufs[i], v)
        loop(bufs, steps)
        out = [bufs[i] if i in self.scalars else np.array(bufs[i], order="C") for i in self.inputs]
        return out[0], _unflatten(self.structure, out[1:])

    def _workspace(self, n):
        """Buffers and the generated step loop for ``n`` starts (kept for the next block)."""
        cache = self.__dict__.setdefault("_spaces", {})
        if n not in cache:
            cache.clear()
            bufs = [None if i in self.scalars else np.empty((n, 1 if i in self.narrow else self.d), order="F")
                    for i in range(self.count)]
            cache[n] = (bufs, self._loop(bufs, n))
        return cache[n]

    def _layout(self):
        """Which buffer each op writes: an output is aliased onto an input that is dead
        after the op producing it (an elementwise ufunc may read and write one buffer; a
        gradient kernel may not); the other outputs are copied back after the step."""
        alias, last_read, copies = {}, {}, []
        for t, op in enumerate(self.ops):
            for p in op[2:]:
                if isinstance(p, tuple) and p[0] == "node":
                    last_read[p[1]] = t
        producer = {op[1]: t for t, op in enumerate(self.ops)}
        for i_in, i_out in zip(self.inputs, self.outputs):
            if i_out == i_in:
                continue                    # passed through unchanged
            t = producer.get(i_out)
            if t is not None and i_out not in self.inputs and i_out not in alias \
                    and self.ops[t][0] in ("bin", "un", "sbin") and last_read.get(i_in, -1) <= t:
                alias[i_out] = i_in
            else:
                copies.append((i_in, i_out))
        return alias, copies

    def _loop(self, bufs, n):
        """``loop(B, steps)``: the step as straight-line ufunc calls on local names.

        The source names only buffers (``b<i>``), ufuncs and bound constants (``c<j>``);
        every value it reads is bound in its namespace, none is spelled in the text.  The
        calls are the tape's, in its order, so the iterates are those of the generic step
        bit for bit.
        """
        alias, copies = self._layout()
        where = lambda i: alias.get(i, i)       # noqa: E731
        env = {"np": np, "_add": np.add, "_sub": np.subtract, "_mul": np.multiply, "_div": np.divide,
               "_neg": np.negative, "_sqrt": np.sqrt, "_copyto": np.copyto}
        ufunc = {"add": "_add", "sub": "_sub", "mul": "_mul", "div": "_div"}
        pyop = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}
        unary = {"neg": "_neg", "sqrt": "_sqrt"}

        constants = []

        def operand(p):
            if p[0] == "node":
                return f"b{where(p[1])}"
            constants.append(p[1])
            env[f"c{len(constants) - 1}"] = p[1]
            return f"c{len(constants) - 1}"

        lines = []
        for t, op in enumerate(self.ops):
            kind, out = op[0], f"b{where(op[1])}"
            if kind == "bin":
                a, b = operand(op[3]), operand(op[4])
                if op[3][0] != "node" and op[4][0] != "node":
                    raise _Untraceable("an operation on two constants")
                lines.append(f"{ufunc[op[2]]}({a}, {b}, out={out})")
            elif kind == "sbin":
                lines.append(f"{out} = {operand(op[3])} {pyop[op[2]]} {operand(op[4])}")
            elif kind == "un":
                lines.append(f"{unary[op[2]]}({operand(op[3])}, out={out})")
            elif kind == "norm":
                a = operand(op[2])
                lines.append(f"_sqrt(np.sum({a} * {a}, axis=1, keepdims=True), out={out})")
            elif kind == "zeros":
                lines.append(f"{out}.fill(0.0)")
            elif kind == "grad":
                lines.append(self._grad_call(env, t, bufs, where(op[2][1]), where(op[1]), n))
        for i_in, i_out in copies:
            lines.append(f"b{i_in} = b{where(i_out)}" if i_in in self.scalars
                         else f"_copyto(b{i_in}, b{where(i_out)})")
        names = ", ".join(f"b{i}" for i in range(self.count)) + ","
        back = "".join(f"\n    B[{i}] = b{i}" for i in sorted(self.scalars))
        src = (f"def loop(B, steps):\n    {names} = B\n    for _ in range(steps):\n"
               + "".join(f"        {line}\n" for line in lines or ["pass"]) + back + "\n")
        exec(compile(src, "<implreg step>", "exec"), env)  # noqa: S102 (generated from the traced tape)
        self.source = src
        return env["loop"]

    def _grad_call(self, env, t, bufs, src, out, n):
        """The gradient read of op ``t`` from buffer ``src`` into ``out``: a compiled kernel's
        body on column views (one chunk), the whole kernel, or the plain callable."""
        kernel = getattr(self.grad, "kernel", None)
        if kernel is None or getattr(self.grad, "shape", None) != (self.d,) or len(self.grad.variables) != self.d:
            env[f"_g{t}"] = self.grad
            return f"b{out}[...] = _g{t}(b{src})"
        from .kernel import make_workspace
        work = make_workspace(kernel, n)
        if getattr(kernel, "body", None) is not None and len(work[0]) == n:
            columns = [bufs[src][:, i] for i in range(self.d)]
            env[f"_k{t}"], env[f"_a{t}"] = kernel.body, (*columns, *work[self.d:],
                                                         *[bufs[out][:, j] for j in range(self.d)])
            return f"_k{t}(*_a{t})"
        env[f"_k{t}"], env[f"_w{t}"] = kernel, work
        return f"_k{t}(b{src}, b{out}, _w{t})"


def compile_step(optimizer, grad, d: int):
    """Trace ``optimizer.step`` once (see the module docstring); ``None`` if it cannot be traced."""
    if optimizer.sampling is not None:
        return None
    tape = _Tape()
    try:
        state = optimizer.init(tape.new(), tape)
        leaves = []
        structure = _flatten(state, leaves)
        for v in leaves:
            if not isinstance(v, _Node) and (isinstance(v, bool) or not isinstance(v, (int, float))):
                return None
        # the traced inputs are fresh registers, not the init's values: drop the init ops
        tape.ops.clear()
        fresh = [tape.new(narrow=isinstance(v, _Node) and v.index in tape.narrow, scalar=not isinstance(v, _Node))
                 for v in leaves]
        x_in = tape.new()
        new_state, x_new = optimizer.step(_unflatten(structure, fresh), x_in, tape.grad, tape)
        out_leaves = []
        _flatten(new_state, out_leaves)
        if not all(isinstance(v, _Node) for v in [x_new] + out_leaves):
            return None                     # a state entry the step replaces by a constant
        if any((i.index in tape.scalars) != (o.index in tape.scalars) for i, o in zip(fresh, out_leaves)):
            return None
    except _Untraceable:
        return None
    return CompiledStep(optimizer, grad, d, list(tape.ops), [x_in.index] + [v.index for v in fresh],
                        [x_new.index] + [v.index for v in out_leaves], structure, set(tape.narrow), tape.count,
                        set(tape.scalars))
