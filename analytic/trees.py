r"""Rooted trees and the elementary differentials of a loss.

A rooted tree ``t`` indexes one *elementary differential* of the gradient
field :math:`g = \nabla E`:

* the single node ``•`` is :math:`F(\bullet) = g`;
* a root with children :math:`t_1, \dots, t_k` is
  :math:`F([t_1, \dots, t_k]) = \nabla^{k+1}E\,(F(t_1), \dots, F(t_k))`,
  so ``[•]`` is :math:`Hg`, ``[•, •]`` is :math:`T(g, g)` and ``[[•]]`` is :math:`H^2 g`.

Trees may carry a *colour* per node (colour 0 is the plain loss ``E``; colour
``c >= 1`` is the batch loss ``E_c``), used for SGD.  A tree is kept in
canonical form (children sorted), so equal trees compare and hash equal.

Coefficients over trees are loss-agnostic; :class:`DifferentialEvaluator`
evaluates :math:`F(t)` on a concrete loss (a vector of SymPy expressions), as in
BSeries.jl (Ketcheson & Ranocha).  Combinatorics follow Hairer, Lubich &
Wanner, *Geometric Numerical Integration*, 2nd ed., Ch. III (order
:math:`|t|`, symmetry :math:`\sigma(t)`, density :math:`\gamma(t)`) and Chartier,
Hairer & Vilmart, Found. Comput. Math. 10 (2010), Sec. 2-3 (partitions for the
substitution law).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping, Sequence

import sympy as sp

from .errors import InputError

__all__ = ["RootedTree", "LEAF", "trees_of_order", "trees_up_to", "partitions", "partition_weights", "free_tree_key",
           "rootings", "free_trees_of_order", "splittings", "recolor", "scalar_differential", "scalar_str", "scalar_latex", "DifferentialEvaluator", "differential_str",
           "differential_latex"]


@dataclass(frozen=True)
class RootedTree:
    r"""A rooted tree, canonical (children sorted), optionally coloured.

    >>> t = RootedTree((RootedTree(), RootedTree((RootedTree(),))))
    >>> t.order, t.symmetry, t.density
    (4, 1, 8)
    >>> str(t)
    '[•, [•]]'
    """

    children: tuple = ()
    color: int = 0
    _key: tuple = field(default=(), init=False, repr=False, compare=False)
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self):
        ch = tuple(self.children)
        for c in ch:
            if not isinstance(c, RootedTree):
                raise InputError("children", c, "every child must be a RootedTree")
        if not isinstance(self.color, int) or isinstance(self.color, bool) or self.color < 0:
            raise InputError("color", self.color, "must be a nonnegative integer")
        ch = tuple(sorted(ch, key=lambda c: c._key))
        object.__setattr__(self, "children", ch)
        key = (1 + sum(c._key[0] for c in ch), self.color, tuple(c._key for c in ch))
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return isinstance(other, RootedTree) and self._key == other._key

    def __lt__(self, other):
        return self._key < other._key

    @property
    def order(self) -> int:
        """Number of nodes :math:`|t|`."""
        return self._key[0]

    @property
    def symmetry(self) -> int:
        r""":math:`\sigma(t) = \prod_i \sigma(t_i)^{m_i} m_i!` over distinct children
        :math:`t_i` of multiplicity :math:`m_i` (colour-preserving automorphisms)."""
        return _symmetry(self)

    @property
    def density(self) -> int:
        r""":math:`\gamma(t) = |t| \prod_i \gamma(t_i)`: the exact flow has coefficient
        :math:`1/\gamma(t)` (HLW III.1)."""
        return _density(self)

    @property
    def colors(self) -> tuple:
        """Colours of the nodes in preorder."""
        return tuple(c for c, _ in _labelled(self))

    def __str__(self) -> str:
        mark = "•" if self.color == 0 else f"•{self.color}"
        if not self.children:
            return mark
        inner = ", ".join(str(c) for c in self.children)
        return f"[{inner}]" if self.color == 0 else f"[{inner}]{self.color}"


LEAF = RootedTree()


@lru_cache(maxsize=None)
def _symmetry(t: RootedTree) -> int:
    s = 1
    for child, group in itertools.groupby(t.children):
        m = len(list(group))
        s *= _symmetry(child) ** m * math.factorial(m)
    return s


@lru_cache(maxsize=None)
def _density(t: RootedTree) -> int:
    return t.order * math.prod(_density(c) for c in t.children)


def _multisets(n: int, colors: tuple, smallest):
    """Nondecreasing tuples of trees (by key) with total order n, all >= smallest."""
    if n == 0:
        yield ()
        return
    for size in range(1, n + 1):
        for t in trees_of_order(size, colors):
            if smallest is not None and t._key < smallest._key:
                continue
            for rest in _multisets(n - size, colors, t):
                if all(t._key <= r._key for r in rest):
                    yield (t,) + rest


@lru_cache(maxsize=None)
def trees_of_order(n: int, colors: tuple = (0,)) -> tuple:
    """All canonical rooted trees with ``n`` nodes, node colours from ``colors``.

    >>> [len(trees_of_order(n)) for n in range(1, 8)]
    [1, 1, 2, 4, 9, 20, 48]
    >>> len(trees_of_order(2, (1, 2)))
    4
    """
    if not isinstance(n, int) or n < 1:
        raise InputError("n", n, "must be a positive integer")
    colors = tuple(colors)
    out = set()
    for forest in _multisets(n - 1, colors, None):
        for c in colors:
            out.add(RootedTree(forest, c))
    return tuple(sorted(out))


def trees_up_to(n: int, colors: tuple = (0,)) -> tuple:
    """Trees with 1..n nodes, by increasing order.

    >>> len(trees_up_to(6))
    37
    """
    return tuple(t for k in range(1, n + 1) for t in trees_of_order(k, tuple(colors)))


# -- labelled (preorder) representation -----------------------------------------

@lru_cache(maxsize=None)
def _labelled(t: RootedTree) -> tuple:
    """Preorder nodes as ``(color, parent_index)`` pairs (root's parent is -1)."""
    out = []

    def walk(s, parent):
        idx = len(out)
        out.append((s.color, parent))
        for c in s.children:
            walk(c, idx)
    walk(t, -1)
    return tuple(out)


def _build(nodes, members, root, edges_kept, colored=True) -> RootedTree:
    kids = [i for i in members if nodes[i][1] == root and edges_kept[i]]
    return RootedTree(tuple(_build(nodes, members, k, edges_kept, colored) for k in kids),
                      nodes[root][0] if colored else 0)


@lru_cache(maxsize=None)
def partitions(t: RootedTree) -> tuple:
    r"""All partitions of ``t``: for every subset of edges removed, the forest of
    pieces and the (uncoloured) skeleton obtained by contracting each piece to
    a node (Chartier, Hairer & Vilmart 2010, Sec. 3.2).  There are
    :math:`2^{|t|-1}`.

    The substitution law reads
    :math:`(b \star a)(t) = \sum_{p} a(\mathrm{skel}(p)) \prod_{s \in \mathrm{forest}(p)} b(s)`.

    >>> [(list(map(str, f)), str(s)) for f, s in partitions(RootedTree((LEAF,)))]
    [(['[•]'], '•'), (['•', '•'], '[•]')]
    """
    nodes = _labelled(t)
    n = len(nodes)
    out = []
    for mask in range(2 ** (n - 1)):
        kept = [False] + [not (mask >> (i - 1)) & 1 for i in range(1, n)]
        comp = [0] * n
        for i in range(n):
            comp[i] = i if (i == 0 or not kept[i]) else comp[nodes[i][1]]
        roots = [i for i in range(n) if comp[i] == i]
        forest = []
        for r in roots:
            members = [i for i in range(n) if comp[i] == r]
            forest.append(_build(nodes, members, r, kept))
        # skeleton: one node per piece; parent of piece r is the piece of r's parent
        skel_nodes = {r: (0, -1 if r == 0 else comp[nodes[r][1]]) for r in roots}

        def skel(r):
            return RootedTree(tuple(skel(q) for q in roots if q != 0 and skel_nodes[q][1] == r))
        out.append((tuple(forest), skel(0)))
    return tuple(out)


@lru_cache(maxsize=None)
def partition_weights(t: RootedTree) -> tuple:
    r"""The partitions of ``t`` grouped by their pieces: triples ``(root piece, other
    pieces, u)`` with the other pieces sorted and the integer
    :math:`u = |t|!\sum 1/\gamma(\mathrm{skel})` over the partitions with these pieces.

    The same sums as over :func:`partitions`, built child by child without listing
    the :math:`2^{|t|-1}` edge subsets: a cut child brings its own partition, whose
    skeleton hangs below the root piece; a kept child's root piece joins the root's,
    its skeleton root merging with the root node (so its :math:`\gamma` loses the
    factor equal to its number of pieces).

    >>> from collections import Counter
    >>> from fractions import Fraction
    >>> def direct(t):
    ...     out = Counter()
    ...     for forest, skel in partitions(t):
    ...         out[forest[0], tuple(sorted(forest[1:]))] += Fraction(math.factorial(t.order), skel.density)
    ...     return out
    >>> all(Counter({(r, o): u for r, o, u in partition_weights(t)}) == direct(t)
    ...     for t in trees_up_to(7) + trees_up_to(4, (1, 2)))
    True
    >>> [(str(r), [str(s) for s in o], u) for r, o, u in partition_weights(RootedTree((LEAF,)))]
    [('•', ['•'], 1), ('[•]', [], 2)]
    """
    return tuple((_from_key(r), tuple(map(_from_key, o)), u)
                 for (r, o), u in sorted(_partition_table(t._key)))     # trees sort by key


@lru_cache(maxsize=None)
def _from_key(key: tuple) -> RootedTree:
    """The tree with this ``_key`` (one object per tree)."""
    return RootedTree(tuple(map(_from_key, key[2])), key[1])


@lru_cache(maxsize=None)
def _partition_table(key: tuple) -> tuple:
    """:func:`partition_weights` on tree keys: ``((root piece, other pieces), u)`` pairs."""
    order, color, children = key
    states = {((), ()): 1}      # (kept root pieces, other pieces) -> prod u_i * prod (pieces of kept i)
    scale = math.factorial(order)
    for child in children:
        scale //= math.factorial(child[0])
        merged: dict = {}
        table = _partition_table(child)
        for (kept, others), v in states.items():
            for (piece, rest), u in table:
                vu = v * u
                k = (kept, tuple(sorted(others + rest + (piece,))))
                merged[k] = merged.get(k, 0) + vu
                k = (tuple(sorted(kept + (piece,))), tuple(sorted(others + rest)))
                merged[k] = merged.get(k, 0) + vu * (1 + len(rest))
        states = merged
    out: dict = {}
    for (kept, others), v in states.items():
        k = ((1 + sum(c[0] for c in kept), color, kept), others)
        # exact: every partition in the state adds (its number of pieces) * |t|!/gamma(skel)
        out[k] = out.get(k, 0) + v * scale // (1 + len(others))
    return tuple(out.items())


# -- free trees (for potentials) ------------------------------------------------

@lru_cache(maxsize=None)
def rootings(t: RootedTree) -> tuple:
    """The trees obtained by re-rooting ``t`` at each of its nodes (preorder)."""
    nodes = _labelled(t)
    n = len(nodes)
    adj = [[] for _ in range(n)]
    for i, (_, p) in enumerate(nodes):
        if p >= 0:
            adj[i].append(p)
            adj[p].append(i)

    def grow(v, parent):
        return RootedTree(tuple(grow(u, v) for u in adj[v] if u != parent), nodes[v][0])
    return tuple(grow(v, -1) for v in range(n))


def free_tree_key(t: RootedTree) -> RootedTree:
    """A canonical representative of the free (unrooted) tree underlying ``t``
    (the smallest of its rootings; Harary, *Graph Theory*, Ch. 4).

    >>> free_tree_key(RootedTree((RootedTree((LEAF,)),))) == free_tree_key(RootedTree((LEAF, LEAF)))
    True
    """
    return min(rootings(t))


@lru_cache(maxsize=None)
def free_trees_of_order(n: int, colors: tuple = (0,)) -> tuple:
    """Free trees with ``n`` vertices, each as its canonical rooted representative.

    >>> [len(free_trees_of_order(n)) for n in range(1, 8)]
    [1, 1, 1, 2, 3, 6, 11]
    """
    return tuple(sorted({free_tree_key(t) for t in trees_of_order(n, tuple(colors))}))


# -- abstract printing -------------------------------------------------------------

def _sub(color: int) -> str:
    return "" if color == 0 else str(color)


def differential_str(t: RootedTree) -> str:
    """Plain-text name of :math:`F(t)`: ``g``, ``H g``, ``H^2 g``, ``T(g, g)``, ``D4E(g, g, g)``.

    >>> differential_str(RootedTree((RootedTree((LEAF,)),)))
    'H^2 g'
    >>> differential_str(RootedTree((LEAF, LEAF)))
    'T(g, g)'
    """
    c = _sub(t.color)
    k = len(t.children)
    if k == 0:
        return f"g{c}"
    if k == 1:
        inner = differential_str(t.children[0])
        power, rest = 1, inner
        head = f"H{c}"
        if inner.startswith(head + " ") or inner.startswith(head + "^"):
            if inner.startswith(head + "^"):
                num, rest = inner[len(head) + 1:].split(" ", 1)
                power = int(num) + 1
            else:
                power, rest = 2, inner[len(head) + 1:]
        return f"{head}^{power} {rest}" if power > 1 else f"{head} {rest}"
    args = ", ".join(differential_str(s) for s in reversed(t.children))
    name = f"T{c}" if k == 2 else f"D{k + 1}E{c}"
    return f"{name}({args})"


def differential_latex(t: RootedTree) -> str:
    r"""LaTeX of :math:`F(t)` with the notation placeholders.

    >>> differential_latex(RootedTree((RootedTree((LEAF,)),)))
    '\\IRhess^{2} \\IRgrad'
    """
    c = "" if t.color == 0 else f"_{{{t.color}}}"
    k = len(t.children)
    if k == 0:
        return r"\IRgrad" + c
    if k == 1:
        power, node = 1, t.children[0]
        while len(node.children) == 1 and node.color == t.color:
            power, node = power + 1, node.children[0]
        head = r"\IRhess" + c
        pw = "" if power == 1 else f"^{{{power}}}"
        return f"{head}{pw} {differential_latex(node)}"
    args = ", ".join(differential_latex(s) for s in reversed(t.children))
    name = r"\IRthird" + c if k == 2 else rf"\nabla^{{{k + 1}}}\IRloss{c}"
    return rf"{name}\left({args}\right)"


# -- evaluation on a loss -----------------------------------------------------------

class DifferentialEvaluator:
    r"""Evaluate :math:`F(t)` on concrete losses, one per colour.

    ``losses`` maps a colour to a SymPy expression of ``variables``.  Partial
    derivatives of each loss are cached by their sorted multi-index (they are
    symmetric), and :math:`F([t_1..t_k])_i = \sum_{j} \partial_{i j_1 \dots j_k} E
    \prod_l F(t_l)_{j_l}`.

    >>> x, y = sp.symbols("x y")
    >>> ev = DifferentialEvaluator({0: x**2 * y}, (x, y))
    >>> [sp.expand(c) for c in ev(RootedTree((LEAF,)))]
    [2*x**3 + 4*x*y**2, 4*x**2*y]
    """

    def __init__(self, losses: Mapping[int, sp.Expr], variables: Sequence[sp.Symbol]):
        self.variables = tuple(variables)
        self.losses = dict(losses)
        self._partials: dict = {}
        self._values: dict = {}

    def partial(self, color: int, index: tuple) -> sp.Expr:
        """:math:`\\partial_{index} E_{color}` with ``index`` a sorted tuple."""
        key = (color, index)
        got = self._partials.get(key)
        if got is None:
            if not index:
                got = self.losses[color]
            else:
                got = sp.diff(self.partial(color, index[:-1]), self.variables[index[-1]])
            self._partials[key] = got
        return got

    def __call__(self, t: RootedTree) -> list:
        got = self._values.get(t)
        if got is not None:
            return got
        if t.color not in self.losses:
            raise InputError("tree", str(t), f"colour {t.color} has no loss")
        d = len(self.variables)
        kids = [self(c) for c in t.children]
        out = []
        for i in range(d):
            terms = []
            for js in itertools.product(range(d), repeat=len(kids)):
                factors = [kids[l][j] for l, j in enumerate(js)]
                if any(f == 0 for f in factors):
                    continue
                p = self.partial(t.color, tuple(sorted((i,) + js)))
                if p == 0:
                    continue
                terms.append(sp.Mul(p, *factors))
            out.append(sp.Add(*terms))
        self._values[t] = out
        return out


@lru_cache(maxsize=None)
def splittings(t: RootedTree) -> tuple:
    r"""All splittings of ``t``: a trunk (a subtree containing the root, or
    ``None`` for the empty trunk) and the forest pruned off it.

    They give the composition law (HLW Thm. III.1.10): if :math:`y_1 = B(a, y_0)`
    and :math:`y_2 = B(b, y_1)` then :math:`y_2 = B(a\cdot b, y_0)` with
    :math:`(a\cdot b)(t) = \sum_{s} b(\mathrm{trunk}(s)) \prod_{u \in \mathrm{pruned}(s)} a(u)`
    and :math:`b(\emptyset) = 1`.

    >>> [(str(tr), list(map(str, f))) for tr, f in splittings(RootedTree((LEAF,)))]
    [('None', ['[•]']), ('•', ['•']), ('[•]', [])]
    """
    nodes = _labelled(t)
    n = len(nodes)
    out = []
    everything = list(range(n))
    full = [True] * n
    # the empty trunk
    out.append((None, (t,)))
    for mask in range(2 ** (n - 1)):
        inside = [True] + [bool((mask >> (i - 1)) & 1) for i in range(1, n)]
        if any(inside[i] and not inside[nodes[i][1]] for i in range(1, n)):
            continue
        trunk = _build(nodes, [i for i in everything if inside[i]], 0, full)
        pruned = []
        for i in range(1, n):
            if not inside[i] and inside[nodes[i][1]]:
                members = _subtree_members(nodes, i)
                pruned.append(_build(nodes, members, i, full))
        out.append((trunk, tuple(pruned)))
    return tuple(out)


def _subtree_members(nodes, root) -> list:
    members = [root]
    for i in range(root + 1, len(nodes)):
        if nodes[i][1] in members:
            members.append(i)
    return members


def recolor(t: RootedTree, mapping: Mapping[int, int]) -> RootedTree:
    """``t`` with every node colour ``c`` replaced by ``mapping[c]``.

    >>> str(recolor(RootedTree((LEAF,)), {0: 2}))
    '[•2]2'
    """
    return RootedTree(tuple(recolor(c, mapping) for c in t.children), mapping[t.color])


def scalar_differential(ev: "DifferentialEvaluator", t: RootedTree) -> sp.Expr:
    r"""The scalar of the free tree underlying ``t``: every vertex of degree
    :math:`k` is :math:`\nabla^k E`, every edge a contraction.  Rooted at the
    root of ``t`` with children :math:`t_1..t_k`:
    :math:`\varphi = \sum_j \partial_{j_1..j_k} E \prod_l F(t_l)_{j_l}`.
    Its gradient is :math:`\sum_v F(t \text{ re-rooted at } v)`.

    >>> x, y = sp.symbols("x y")
    >>> ev = DifferentialEvaluator({0: x**2 + 3*y}, (x, y))
    >>> scalar_differential(ev, RootedTree((LEAF,)))   # ||grad E||^2
    4*x**2 + 9
    """
    d = len(ev.variables)
    kids = [ev(c) for c in t.children]
    terms = []
    for js in itertools.product(range(d), repeat=len(kids)):
        factors = [kids[l][j] for l, j in enumerate(js)]
        if any(f == 0 for f in factors):
            continue
        p = ev.partial(t.color, tuple(sorted(js)))
        if p != 0:
            terms.append(sp.Mul(p, *factors))
    return sp.Add(*terms)


def scalar_str(t: RootedTree) -> str:
    """Plain-text name of the free-tree scalar rooted as ``t`` (``|g|^2``, ``<g, H g>``...).

    >>> scalar_str(RootedTree((LEAF,))), scalar_str(RootedTree((RootedTree((LEAF,)),)))
    ('|g|^2', '<g, H g>')
    """
    c = _sub(t.color)
    k = len(t.children)
    if k == 0:
        return f"E{c}"
    args = [differential_str(s) for s in reversed(t.children)]
    if k == 1:
        return f"|g{c}|^2" if args[0] == f"g{c}" else f"<g{c}, {args[0]}>"
    if k == 2:
        return f"H{c}({args[0]}, {args[1]})"
    return f"D{k}E{c}({', '.join(args)})"


def scalar_latex(t: RootedTree) -> str:
    r"""LaTeX of the free-tree scalar rooted as ``t``.

    >>> scalar_latex(RootedTree((LEAF,)))
    '\\|\\IRgrad\\|^2'
    """
    c = "" if t.color == 0 else f"_{{{t.color}}}"
    k = len(t.children)
    if k == 0:
        return r"\IRloss" + c
    args = [differential_latex(s) for s in reversed(t.children)]
    if k == 1:
        g = r"\IRgrad" + c
        return rf"\|{g}\|^2" if args[0] == g else rf"\langle {g}, {args[0]}\rangle"
    if k == 2:
        return rf"\IRhess{c}\left({args[0]}, {args[1]}\right)"
    return rf"\nabla^{{{k}}}\IRloss{c}\left({', '.join(args)}\right)"
