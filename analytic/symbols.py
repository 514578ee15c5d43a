"""The one set of symbols every derivation uses.

The step size is ``h`` everywhere in analytic (and in JSON); LaTeX prints it as
``\\eta`` only through the notation table (:mod:`analytic.latex`).  A spec built
from text gets these very symbols: ``GD("h").h is`` :data:`H` up to identity of
SymPy symbols (equal name and assumptions).

>>> from analytic.optimizers import GD, HeavyBall
>>> GD("h").h == H, HeavyBall("h", "beta").beta == BETA
(True, True)
"""
from __future__ import annotations

import sympy as sp

__all__ = ["H", "BETA", "SIGMA", "LAMBDA"]

#: the step size
H = sp.Symbol("h", positive=True)
#: momentum
BETA = sp.Symbol("beta", real=True)
#: label-noise level
SIGMA = sp.Symbol("sigma", positive=True)
#: a Hessian eigenvalue
LAMBDA = sp.Symbol("lambda", real=True)
