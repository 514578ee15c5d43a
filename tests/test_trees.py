import math

import pytest
import sympy as sp

from analytic.errors import InputError
from analytic.trees import (LEAF, DifferentialEvaluator, RootedTree, differential_str, free_trees_of_order,
                            partitions, rootings, scalar_differential, splittings, trees_of_order, trees_up_to)


def test_tree_counts_match_oeis():
    # rooted trees A000081 and free trees A000055 (OEIS)
    assert [len(trees_of_order(n)) for n in range(1, 9)] == [1, 1, 2, 4, 9, 20, 48, 115]
    assert [len(free_trees_of_order(n)) for n in range(1, 9)] == [1, 1, 1, 2, 3, 6, 11, 23]


def test_monotone_labellings_identity():
    # sum over trees of n!/(sigma gamma) counts increasing labellings: (n-1)!  (HLW III.1)
    for n in range(1, 8):
        total = sum(sp.Rational(math.factorial(n), t.symmetry * t.density) for t in trees_of_order(n))
        assert total == math.factorial(n - 1)


def test_canonical_form_ignores_child_order():
    a = RootedTree((LEAF, RootedTree((LEAF,))))
    b = RootedTree((RootedTree((LEAF,)), LEAF))
    assert a == b and hash(a) == hash(b)
    assert RootedTree((LEAF, LEAF)).symmetry == 2
    with pytest.raises(InputError):
        RootedTree(("x",))
    with pytest.raises(InputError):
        RootedTree((), -1)


def test_partitions_are_edge_subsets():
    for t in trees_up_to(6):
        parts = partitions(t)
        assert len(parts) == 2 ** (t.order - 1)
        for forest, skel in parts:
            assert sum(s.order for s in forest) == t.order
            assert skel.order == len(forest)


def test_splittings_of_a_chain():
    chain = LEAF
    for n in range(2, 6):
        chain = RootedTree((chain,))
        # trunks of a chain: empty, or its first k nodes (k = 1..n)
        assert len(splittings(chain)) == n + 1


def test_rootings_of_a_path():
    path3 = RootedTree((RootedTree((LEAF,)),))      # rooted at an end
    roots = rootings(path3)
    assert sorted(map(str, roots)) == ["[[•]]", "[[•]]", "[•, •]"]


def test_differentials_against_direct_matrix_calculus():
    x, y = sp.symbols("x y", real=True)
    E = sp.exp(x) * y**2 + x**3 * y
    ev = DifferentialEvaluator({0: E}, (x, y))
    g = sp.Matrix([E.diff(x), E.diff(y)])
    Hm = sp.hessian(E, (x, y))
    T_gg = sp.Matrix([(g.T * sp.hessian(E.diff(v), (x, y)) * g)[0] for v in (x, y)])
    hg = RootedTree((LEAF,))
    assert sp.simplify(sp.Matrix(ev(hg)) - Hm * g) == sp.zeros(2, 1)
    assert sp.simplify(sp.Matrix(ev(RootedTree((hg,)))) - Hm * Hm * g) == sp.zeros(2, 1)
    assert sp.simplify(sp.Matrix(ev(RootedTree((LEAF, LEAF)))) - T_gg) == sp.zeros(2, 1)
    assert sp.simplify(scalar_differential(ev, hg) - (g.T * g)[0]) == 0
    assert differential_str(RootedTree((LEAF, hg))) == "T(H g, g)"


def test_gradient_of_free_tree_scalar_is_sum_of_rootings():
    x, y = sp.symbols("x y", real=True)
    E = sp.sin(x) * y + x**2 * y**3
    ev = DifferentialEvaluator({0: E}, (x, y))
    for tau in free_trees_of_order(4):
        phi = scalar_differential(ev, tau)
        grad = sp.Matrix([phi.diff(v) for v in (x, y)])
        total = sp.zeros(2, 1)
        for r in rootings(tau):
            total += sp.Matrix(ev(r))
        pt = {x: sp.Rational(1, 3), y: sp.Rational(-2, 7)}
        assert abs(float((grad - total).subs(pt).norm())) < 1e-12


def test_coloured_trees():
    assert len(trees_of_order(2, (1, 2))) == 4
    t = RootedTree((RootedTree((), 1),), 2)
    assert differential_str(t) == "H2 g1" and t.colors == (2, 1)
