r"""SGD with heavy-ball momentum over ``m`` batches: the mean modified field at order 1.

One epoch visits the batch losses :math:`E_1, \dots, E_m` (:math:`E = \frac1m \sum_a E_a`)
once each, in a fresh uniformly random order :math:`\pi`, with the velocity carried from
step to step and from epoch to epoch:

.. math::
    v_{n+1} = \beta v_n - h \nabla E_{b_n}(x_n), \qquad x_{n+1} = x_n + v_{n+1},
    \qquad (b_{km}, \dots, b_{km+m-1}) = \pi_k .

**Derivation (coefficient level, every loss).**  Write :math:`g_a = \nabla E_a`,
:math:`H_a = \nabla^2 E_a` and :math:`\bar g = \nabla E`.  The gradient of step :math:`l`
moves every later iterate :math:`x_j` by :math:`-h\,r(j-l)\,g_{b_l}` with the heavy-ball
impulse response :math:`r(d) = \sum_{i<d}\beta^i = (1-\beta^d)/(1-\beta)`.  Around the mean
path :math:`\bar x_j`, the gradient read at step :math:`j` is

.. math::
    g_{b_j}(x_j) = g_{b_j}(\bar x_j) - h \sum_{l<j} r(j-l)\, H_{b_j} (g_{b_l} - \bar g) + O(h^2).

Batches of different epochs are independent, so only pairs :math:`l < j` in one epoch
correlate; for two positions of a random permutation
:math:`\mathbb E\, H_{\pi(j)} g_{\pi(l)} = \frac{1}{m(m-1)}\sum_{a\ne b} H_a g_b`.  Averaged
over the :math:`m` positions of an epoch, the mean iterates are those of heavy ball on the
effective gradient

.. math::
    G = \bar g + h\,\frac{S}{m-1}\, C, \qquad
    C = \frac1m \sum_a H_a g_a - \nabla^2 E\,\nabla E
      = \nabla\,\frac{1}{2m}\sum_a \|\nabla E_a - \nabla E\|^2, \qquad
    S = \frac1m \sum_{j<m}\sum_{l<j} r(j-l),

whose modified field at order 1 is heavy ball's (:func:`analytic.bea_coefficients.tree_coefficients`):
:math:`-\frac{1}{1-\beta}G - h\frac{1+\beta}{2(1-\beta)^3}\nabla^2E\,\nabla E`.  At
:math:`\beta = 0` this is Smith et al.'s :math:`-\nabla(E + \frac{h}{4m}\sum_a\|\nabla E_a\|^2)`;
for :math:`m = 1` it is heavy ball's field.

**Regime.**  Sampling without replacement: with replacement the batches of one epoch are
independent, and the mean then differs from the flow at order 1 through the accumulated
noise (a stochastic modified equation, not a deterministic field).  The order is 1: at
order 2 the mean also depends on the variance of the iterates.

References: Smith, Dherin, Barrett & De, "On the origin of implicit regularization in
stochastic gradient descent", ICLR 2021 (the case :math:`\beta = 0`); Ghosh, Lyu, Zhang &
Wang, "Implicit regularization in heavy-ball momentum accelerated stochastic gradient
descent", ICLR 2023.
"""
from __future__ import annotations

import sympy as sp

from .bea_coefficients import MAX_SGD_TREES
from .errors import InputError
from .trees import RootedTree

__all__ = ["sgd_momentum_tree_coefficients", "impulse_response", "correlation_weight", "MAX_SGD_MOMENTUM_ORDER"]

#: the order of the mean field that is derived (see the module docstring)
MAX_SGD_MOMENTUM_ORDER = 1


def impulse_response(beta, d: int):
    r""":math:`r(d) = \sum_{i<d} \beta^i`: the displacement of :math:`x_{l+d}` per unit of the
    gradient step taken at step :math:`l` (heavy ball, velocity form).

    >>> impulse_response(sp.Rational(1, 2), 3)
    7/4
    """
    return sp.Add(*[beta ** i for i in range(d)])


def correlation_weight(beta, m: int):
    r""":math:`S/(m-1)`, the weight of :math:`h\,C` in the effective gradient (0 for ``m = 1``),
    summed position by position over one epoch.

    >>> correlation_weight(0, 4)
    1/2
    """
    if m == 1:
        return sp.Integer(0)
    total = sp.Add(*[impulse_response(beta, j - l) for j in range(m) for l in range(j)])
    return sp.factor(total / (m * (m - 1)))


def sgd_momentum_tree_coefficients(m: int, beta, order: int, heavy_ball: dict) -> dict:
    r"""Coefficients over trees coloured by batch ``1..m``, in the convention of
    :func:`analytic.bea_coefficients.tree_coefficients` (:math:`F_g(\bullet_a) = g_a`,
    :math:`F_g([\bullet_b]_a) = H_a g_b`), from heavy ball's coefficients ``heavy_ball``
    (the plain trees • and [•] at this ``beta``) and the epoch correlation.

    >>> from analytic.bea_coefficients import tree_coefficients
    >>> from analytic.optimizers import HeavyBall
    >>> hb = tree_coefficients(HeavyBall(sp.Symbol("h"), 0), 1)
    >>> c = sgd_momentum_tree_coefficients(2, sp.Integer(0), 1, hb)
    >>> [(str(t), v) for t, v in c.items() if t.order == 2 and v != 0]
    [('[•1]1', -1/4), ('[•2]2', -1/4)]
    """
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_SGD_MOMENTUM_ORDER:
        raise InputError("order", order, f"SGD with momentum is derived to order {MAX_SGD_MOMENTUM_ORDER} "
                                         "(at order 2 the mean iterate depends on the iterates' variance)")
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise InputError("batches", m, "must be a positive integer")
    if m + order * m * m > MAX_SGD_TREES:
        raise InputError("batches", m, f"SGD with momentum over {m} batches needs {m + order * m * m} coloured trees "
                                       f"(limit {MAX_SGD_TREES}); use fewer batches")
    leaf, edge = RootedTree(()), RootedTree((RootedTree(()),))
    c0, c1 = heavy_ball[leaf], heavy_ball.get(edge, 0)
    colors = range(1, m + 1)
    out = {RootedTree((), a): c0 / m for a in colors}
    if order >= 1:
        w = correlation_weight(beta, m)
        for a in colors:                        # root colour a: H_a applied to g_b
            for b in colors:
                corr = sp.Rational(m - 1, m * m) if a == b else -sp.Rational(1, m * m)    # C's coefficients
                out[RootedTree((RootedTree((), b),), a)] = sp.factor(c1 / (m * m) + c0 * w * corr)
    return out
