"""Real data shipped by installed packages (nothing is downloaded).

* :func:`grace_hopper_gray` — matplotlib's sample photograph ``grace_hopper.jpg``
  in grayscale, values in [0, 1];
* :func:`digits` — scikit-learn's bundled 8x8 handwritten digits (1797 samples).
"""
from __future__ import annotations

import numpy as np

from analytic.errors import InputError

__all__ = ["grace_hopper_gray", "grace_hopper_row", "digits"]


def grace_hopper_gray() -> np.ndarray:
    """The photograph as a float array in [0, 1], ITU-R 601 luma weights.

    >>> img = grace_hopper_gray(); img.ndim, bool(0 <= img.min() <= img.max() <= 1)
    (2, True)
    """
    import matplotlib.cbook as cbook
    import matplotlib.image as mpimg
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    rgb = np.asarray(mpimg.imread(path), dtype=float)
    if rgb.max() > 1.0:
        rgb = rgb / 255.0
    return rgb[..., :3] @ np.array([0.299, 0.587, 0.114])


def grace_hopper_row(row: int | None = None) -> np.ndarray:
    """One row of the grayscale photograph (the middle row by default)."""
    img = grace_hopper_gray()
    if row is None:
        row = img.shape[0] // 2
    if not (0 <= row < img.shape[0]):
        raise InputError("row", row, f"must be in [0, {img.shape[0]})")
    return img[row].copy()


def _digits_table():
    """All 1797 digits as ``(X, labels)``.

    Read straight from the CSV that scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``,
    the file ``load_digits`` reads), located without importing scikit-learn, whose import
    takes seconds; falls back to ``load_digits`` if the file is not where expected.
    """
    import importlib.util
    import os
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
        if os.path.exists(path):
            table = np.loadtxt(path, delimiter=",")
            return table[:, :-1].astype(float), table[:, -1].astype(int)
    from sklearn.datasets import load_digits
    data = load_digits()
    return data.data.astype(float), data.target.astype(int)


def digits(n: int = 300, classes=None, seed: int = 0, standardize: bool = True):
    """``n`` samples of scikit-learn's digits: ``(X, labels)``, seeded subsample.

    ``X`` has shape ``(n, 64)``; with ``standardize`` the pixel values are
    scaled to [0, 1] and centred per feature.

    >>> X, y = digits(50, seed=1); X.shape, y.shape
    ((50, 64), (50,))
    """
    X, y = _digits_table()
    if classes is not None:
        keep = np.isin(y, list(classes))
        X, y = X[keep], y[keep]
    if not (1 <= n <= len(y)):
        raise InputError("n", n, f"must be between 1 and {len(y)}")
    idx = np.random.default_rng(seed).choice(len(y), size=n, replace=False)
    X, y = X[idx], y[idx]
    if standardize:
        X = X / 16.0
        X = X - X.mean(axis=0)
    return X, y
