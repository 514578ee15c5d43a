r"""The arc-cosine kernel of ReLU features on the sphere.

For :math:`x` uniform on :math:`S^{d-1}\subset\mathbb R^d`,

.. math::
    k(b, b') = \mathbb E_x[\mathrm{relu}(b\cdot x)\,\mathrm{relu}(b'\cdot x)]
    = \frac{\|b\|\,\|b'\|}{2\pi d}\big(\sin\theta + (\pi-\theta)\cos\theta\big),
    \qquad \theta = \arccos\langle\hat b, \hat b'\rangle.

The lecture (seed 002, eq. 15) prints it without the factor :math:`1/(2\pi d)`.
Derivation: write :math:`x = g/\|g\|` with :math:`g\sim N(0, I_d)`; the radius
is independent of the direction and relu is 1-homogeneous, so
:math:`\mathbb E_g[\cdot] = \mathbb E\|g\|^2\,\mathbb E_x[\cdot] = d\,k`.  The
Gaussian expectation only sees the plane of :math:`b, b'`: in polar coordinates
it is :math:`\mathbb E r^2 \cdot \frac{1}{2\pi}\int \cos\varphi^+\cos(\varphi-\theta)^+d\varphi`.

Reference: Cho & Saul, "Kernel methods for deep learning", NIPS 2009, eq. (6)
with n = 1 (the Gaussian version, constant 1/(2 pi)).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .result import Result, Step

__all__ = ["THETA", "NORM_B", "NORM_B2", "DIM", "arccos_kernel"]

THETA = sp.Symbol("theta", nonnegative=True)
NORM_B = sp.Symbol("|b|", nonnegative=True)
NORM_B2 = sp.Symbol("|b'|", nonnegative=True)
DIM = sp.Symbol("d", positive=True, integer=True)


@lru_cache(maxsize=None)
def arccos_kernel() -> Result:
    r"""The ReLU (order-1 arc-cosine) kernel on the sphere, constant included.

    >>> r = arccos_kernel()
    >>> r.expr
    |b'|*|b|*((pi - theta)*cos(theta) + sin(theta))/(2*pi*d)
    >>> r.expr.subs({THETA: 0, DIM: 3, NORM_B: 1, NORM_B2: 1})   # E x_1^2 1{x_1>0} = 1/(2d)
    1/6
    """
    phi, r, g = sp.symbols("phi r g", real=True)
    # angular part, theta in [0, pi]: cos(phi) > 0 on (-pi/2, pi/2), cos(phi - theta) > 0 on
    # (theta - pi/2, theta + pi/2); the product of the positive parts lives on the intersection
    product = sp.cos(phi) * sp.cos(phi - THETA)
    antiderivative = sp.integrate(sp.expand(sp.expand_trig(product)), phi)
    angular = sp.expand(sp.expand_trig(antiderivative.subs(phi, sp.pi / 2)
                                       - antiderivative.subs(phi, THETA - sp.pi / 2)))
    if sp.trigsimp(sp.expand(sp.expand_trig(antiderivative.diff(phi) - product))) != 0:  # pragma: no cover
        raise ArithmeticError("angular antiderivative is wrong")
    # second moment of N(0, 1); the squared radius in the plane has mean 2 of them, in R^d d of them
    # E g^2 = 2 int_0^oo g^2 e^{-g^2/2} dg / sqrt(2 pi); with u = g^2/2 the integral is sqrt(2) Gamma(3/2)
    u = sp.Symbol("u", positive=True)
    integrand = (g**2 * sp.exp(-g**2 / 2)).subs(g, sp.sqrt(2 * u)) * sp.diff(sp.sqrt(2 * u), u)
    gamma_form = sp.powsimp(sp.expand(integrand))          # sqrt(2) u^(1/2) e^(-u)
    coeff = sp.simplify(gamma_form / (sp.sqrt(u) * sp.exp(-u)))
    second = 2 * coeff * sp.gamma(sp.Rational(3, 2)) / sp.sqrt(2 * sp.pi)
    radial = 2 * second
    gauss = sp.expand(radial * angular / (2 * sp.pi))
    norm2 = DIM * second
    kernel = NORM_B * NORM_B2 * gauss / norm2
    tidy = NORM_B * NORM_B2 * (sp.sin(THETA) + (sp.pi - THETA) * sp.cos(THETA)) / (2 * sp.pi * DIM)
    if sp.expand(kernel - tidy) != 0:  # pragma: no cover - algebra guard
        raise ArithmeticError(f"kernel {kernel} does not reduce")
    steps = (
        Step(r"k(b,b')", r"\mathbb E_{x\sim U(S^{d-1})}[\sigma(b\cdot x)\sigma(b'\cdot x)]", "definition, sigma = relu"),
        Step(r"\mathbb E_{g\sim N(0,I_d)}[\sigma(b\cdot g)\sigma(b'\cdot g)]", r"\mathbb E\|g\|^2\; k(b,b')",
             "x = g / norm of g; radius independent of direction; relu 1-homogeneous"),
        Step(r"\mathbb E g_1^2", second, "substitute u = g squared / 2: a Gamma(3/2) integral"),
        Step(r"\mathbb E\|g\|^2", norm2, "d coordinates of variance 1"),
        Step(r"\int_{\theta-\pi/2}^{\pi/2}\cos\varphi\cos(\varphi-\theta)\,d\varphi", angular,
             "angular integral in the plane of b and b-prime (unit vectors)"),
        Step(r"\mathbb E r^2", radial, "squared radius in the plane: two coordinates of variance 1"),
        Step(r"\mathbb E_g[\sigma(\hat b\cdot g)\sigma(\hat b'\cdot g)]", gauss, "polar coordinates, divide by 2 pi"),
        Step(r"k(b,b')", tidy, "divide by the mean squared norm of g and restore the norms"),
    )
    return Result("arccos-kernel", tidy, steps, lhs=r"k(b,b')",
                  meta={"gaussian": NORM_B * NORM_B2 * gauss, "constant": 1 / (2 * sp.pi * DIM)})
