r"""Stored reference spectra of shallow-net Jacobians, for ``tests/test_spectrum_references.py``.

For every case below, the Jacobian :math:`A_{ij} = \phi(s(x_i - b_j))` is built by
``numeric.networks.jacobian_mpmath(activation, n, width, scale, dps=DPS + 10)`` and its
singular values are computed by ``mpmath.svd_r(A, compute_uv=False)`` at ``DPS = 75``
significant digits (2.5 x the 30 digits the tests ask of ``numeric.precision.network_spectrum``),
sorted in descending order and written as decimal strings (``mpmath.nstr(v, 75)``) to
``tests/data/spectrum_references.json``.

Cases: the 8 activations of ``numeric.networks.ACTIVATIONS`` x the scales 1, 10 and the default
(``scale=None``, i.e. ``default_scale(activation, width)``) x the shapes N = K = 48 and
N = 64, K = 48, plus N = K = 96 for tanh, sinc and gelu at scale 1.  The scale-free activations
(heaviside, relu, relu2) have default scale 1, so their scale-1 and default cases are the same
matrix and are stored once (as scale 1, with ``default_scale`` 1).  (Heaviside at scale 10 is
the scale-1 matrix again, since H(10 z) = H(z); it is kept as a check of the scale argument.)

Exactly zero singular values (zero rows or columns of heaviside, relu, relu2) come out of
``svd_r`` as tiny numbers (rounding noise, far below 1e-60 s_1); they are stored as they are.
Each case is also recomputed at ``CHECK_DPS = 100`` digits, and the largest difference between
the two, relative to s_1, is stored as ``check_diff`` (the reference's own rounding error).

Regenerate (serially, about 80 s; deterministic, the file is replaced atomically) with::

    python tests/data/make_spectrum_references.py
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import mpmath

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from numeric.networks import ACTIVATIONS, default_scale, get_activation, jacobian_mpmath  # noqa: E402

DPS = 75
CHECK_DPS = 100
OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spectrum_references.json")
SCRIPT = "tests/data/make_spectrum_references.py"
SHAPES = ((48, 48), (64, 48))
LARGE = ((96, 96), ("tanh", "sinc", "gelu"), 1)


def cases():
    """``(activation, n, width, scale)`` of every case, in a fixed order (scale None: default)."""
    out = []
    for name in ACTIVATIONS:
        for n, width in SHAPES:
            scales = (1, 10) if get_activation(name).scale_free else (1, 10, None)
            out += [(name, n, width, s) for s in scales]
    (n, width), names, scale = LARGE
    out += [(name, n, width, scale) for name in names]
    return out


def case_id(name, n, width, scale) -> str:
    """The test id of a case.

    >>> case_id("tanh", 48, 48, 1), case_id("gelu", 64, 48, None)
    ('tanh-s1-48x48', 'gelu-default-64x48')
    """
    return f"{name}-{'default' if scale is None else f's{scale}'}-{n}x{width}"


def singular_values(name, n, width, scale, dps):
    A = jacobian_mpmath(name, n, width, scale, dps=dps + 10)
    with mpmath.workdps(dps):
        S = mpmath.svd_r(A, compute_uv=False)
        return sorted((S[i] for i in range(S.rows)), reverse=True)


def reference(name, n, width, scale) -> dict:
    start = time.perf_counter()
    values = singular_values(name, n, width, scale, DPS)
    check = singular_values(name, n, width, scale, CHECK_DPS)
    with mpmath.workdps(CHECK_DPS):
        diff = max(abs(a - b) for a, b in zip(values, check)) / check[0]
        strings = [mpmath.nstr(v, DPS) for v in values]
    return {
        "id": case_id(name, n, width, scale),
        "activation": name, "n": n, "width": width, "scale": scale,
        "default_scale": default_scale(name, width),
        "dps": DPS, "check_dps": CHECK_DPS, "check_diff": mpmath.nstr(diff, 3),
        "values": strings,
    }, time.perf_counter() - start


def write_atomically(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".spectrum_references.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main() -> int:
    total = time.perf_counter()
    out = []
    for case in cases():
        entry, seconds = reference(*case)
        out.append(entry)
        print(f"{entry['id']:24s} {seconds:7.2f} s  check_diff {entry['check_diff']}", flush=True)
    data = {"script": SCRIPT, "mpmath_version": mpmath.__version__, "method": "mpmath.svd_r(A, compute_uv=False)",
            "dps": DPS, "cases": out}
    write_atomically(OUTPUT, json.dumps(data, indent=1) + "\n")
    print(f"{len(out)} cases written to {OUTPUT} in {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
