r"""Figures: one style for every claim, saved as PNG and PDF atomically.

:func:`save_figure` writes ``NAME.png``, ``NAME.pdf`` and a sidecar
``NAME.json`` recording the number of axes and the size, so that tests and the
report can check a figure's content without guessing.  Each file is written to
a temporary name in the same directory and renamed (``os.replace``), so a
reader never sees half a figure.  Dates and software versions are left out of
the metadata, so the same data gives the same PNG bytes.

>>> import matplotlib; matplotlib.use("Agg")
>>> import tempfile
>>> fig, ax = new_figure()
>>> _ = ax.plot([0, 1], [1, 0])
>>> paths = save_figure(fig, tempfile.mkdtemp(), "line")
>>> [p.rsplit(".", 1)[1] for p in paths]
['png', 'pdf']
>>> figure_info(paths[0])["axes"]
1
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from .atomic import atomic_write

__all__ = ["STYLE", "style", "new_figure", "save_figure", "figure_info", "DPI"]

DPI = 110

#: rcParams shared by every figure (sizes in points, readable at 0.8 linewidth).
STYLE = {
    "figure.figsize": (6.4, 3.6),
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.4,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
    "svg.hashsalt": "implreg",
}


@contextlib.contextmanager
def style():
    """Context manager applying :data:`STYLE` (matplotlib's ``rc_context``)."""
    import matplotlib.pyplot as plt
    with plt.rc_context(STYLE):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, width: float | None = None, height: float | None = None):
    """``(fig, axes)`` in the house style; ``axes`` as ``plt.subplots`` returns it."""
    import matplotlib.pyplot as plt
    w, h = STYLE["figure.figsize"]
    with style():
        return plt.subplots(nrows, ncols, layout="constrained", figsize=(width or w * (1 if ncols == 1 else 0.75 * ncols),
                                                   height or h * nrows), squeeze=True)


def _atomic(path: Path, write) -> None:
    atomic_write(path, write)


def _data_axes(fig) -> int:
    """Axes that show data (colorbars excluded)."""
    return sum(1 for ax in fig.axes if not hasattr(ax, "_colorbar") and ax.get_label() != "<colorbar>")


def save_figure(fig, directory, name: str, close: bool = True) -> tuple[str, str]:
    """Save ``fig`` as ``directory/name.png`` and ``.pdf`` (+ ``name.json``); return the two paths."""
    import matplotlib.pyplot as plt
    if not name or "/" in name or name.startswith("."):
        from analytic.errors import InputError
        raise InputError("name", name, "a figure name is a plain file name without extension")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    with style():
        for ext, meta in (("png", {"Software": None}),
                          ("pdf", {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None})):
            p = d / f"{name}.{ext}"
            _atomic(p, lambda tmp, ext=ext, meta=meta: fig.savefig(tmp, format=ext, dpi=DPI, metadata=meta))
            paths.append(str(p))
    info = {"name": name, "axes": _data_axes(fig), "size_inches": [round(float(v), 3) for v in fig.get_size_inches()],
            "dpi": DPI, "files": [Path(p).name for p in paths]}
    _atomic(d / f"{name}.json", lambda tmp: Path(tmp).write_text(json.dumps(info, indent=1, sort_keys=True) + "\n"))
    if close:
        plt.close(fig)
    return paths[0], paths[1]


def figure_info(path) -> dict:
    """The sidecar record of a saved figure (from the PNG, PDF or JSON path)."""
    p = Path(path)
    return json.loads(p.with_suffix(".json").read_text())
