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

import operator
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


_UFUNC = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}
_PYOP = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
         "pow": operator.pow}


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
        bufs, kernel, work = self._workspace(n)
        for i, v in zip(self.inputs, [x] + leaves):
            if i in self.scalars:
                bufs[i] = v
            else:
                np.copyto(bufs[i], v)
        plan = self._plan()
        for _ in range(steps):
            for op in plan:
                op(bufs, kernel, work)
        out = [bufs[i] if i in self.scalars else np.array(bufs[i], order="C") for i in self.inputs]
        return out[0], _unflatten(self.structure, out[1:])

    def _workspace(self, n):
        """Buffers and the gradient kernel's workspace for ``n`` starts (kept for the next block)."""
        cache = self.__dict__.setdefault("_spaces", {})
        if n not in cache:
            cache.clear()
            kernel = getattr(self.grad, "kernel", None)
            work = None
            if kernel is not None and getattr(self.grad, "shape", None) == (self.d,) \
                    and len(self.grad.variables) == self.d:
                from .kernel import make_workspace
                work = make_workspace(kernel, n)
            cache[n] = (self._buffers(n), kernel, work)
        return cache[n]

    def _buffers(self, n):
        return [None if i in self.scalars else np.empty((n, 1 if i in self.narrow else self.d), order="F")
                for i in range(self.count)]

    def _plan(self):
        """The ops as closures over buffer indices, outputs aliased onto dead inputs."""
        if getattr(self, "_cached", None) is not None:
            return self._cached
        alias = {}                          # output node -> the input buffer it is written into
        last_read = {}
        for t, op in enumerate(self.ops):
            for p in op[2:]:
                if isinstance(p, tuple) and p[0] == "node":
                    last_read[p[1]] = t
        producer = {op[1]: t for t, op in enumerate(self.ops)}
        copies = []
        for i_in, i_out in zip(self.inputs, self.outputs):
            if i_out == i_in:
                continue                    # passed through unchanged
            t = producer.get(i_out)
            # written straight into the input's buffer when the input is dead after that op
            # (an elementwise ufunc may read and write one buffer; a gradient kernel may not)
            if t is not None and i_out not in self.inputs and i_out not in alias \
                    and self.ops[t][0] in ("bin", "un", "sbin") and last_read.get(i_in, -1) <= t:
                alias[i_out] = i_in
            else:
                copies.append((i_in, i_out))

        def where(i):
            return alias.get(i, i)

        plan = []
        for op in self.ops:
            kind, out = op[0], where(op[1])
            if kind == "bin":
                f = _UFUNC[op[2]]
                a, b = op[3], op[4]
                plan.append(_binary(f, out, a[0] == "node", where(a[1]) if a[0] == "node" else a[1],
                                    b[0] == "node", where(b[1]) if b[0] == "node" else b[1]))
            elif kind == "sbin":
                f = _PYOP[op[2]]
                a, b = op[3], op[4]
                plan.append(_scalar_op(f, out, a[0] == "node", where(a[1]) if a[0] == "node" else a[1],
                                       b[0] == "node", where(b[1]) if b[0] == "node" else b[1]))
            elif kind == "un":
                src = where(op[3][1])
                f = {"neg": np.negative, "sqrt": np.sqrt}[op[2]]
                plan.append(lambda B, k, w, f=f, o=out, s=src: f(B[s], out=B[o]))
            elif kind == "norm":
                src = where(op[2][1])
                plan.append(lambda B, k, w, o=out, s=src: np.sqrt(np.sum(B[s] * B[s], axis=1, keepdims=True),
                                                                   out=B[o]))
            elif kind == "zeros":
                plan.append(lambda B, k, w, o=out: B[o].fill(0.0))
            elif kind == "grad":
                src = where(op[2][1])
                plan.append(self._grad_op(out, src))
        for i_in, i_out in copies:
            if i_in in self.scalars:
                plan.append(lambda B, k, w, a=i_in, b=where(i_out): B.__setitem__(a, B[b]))
            else:
                plan.append(lambda B, k, w, a=i_in, b=where(i_out): np.copyto(B[a], B[b]))
        self._cached = plan
        return plan

    def _grad_op(self, out, src):
        grad = self.grad

        def op(B, kernel, work):
            if work is not None:
                kernel(B[src], B[out], work)
            else:
                B[out][...] = grad(B[src])
        return op


def _scalar_op(f, out, a_node, a, b_node, b):
    def op(B, k, w):
        B[out] = f(B[a] if a_node else a, B[b] if b_node else b)
    return op


def _binary(f, out, a_node, a, b_node, b):
    if a_node and b_node:
        return lambda B, k, w: f(B[a], B[b], out=B[out])
    if a_node:
        return lambda B, k, w: f(B[a], b, out=B[out])
    if b_node:
        return lambda B, k, w: f(a, B[b], out=B[out])
    raise _Untraceable("an operation on two constants")


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
