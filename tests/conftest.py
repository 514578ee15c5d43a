"""Tests that need a system tool: ``@pytest.mark.needs_pdflatex`` and ``@pytest.mark.needs_pdftoppm``.

Like matplotlib's test suite, a test that needs ``pdflatex`` (Debian:
texlive-latex-base, texlive-latex-recommended) or ``pdftoppm`` (poppler-utils)
is skipped with the reason "pdflatex not installed" / "pdftoppm not
installed" where the tool is not on ``PATH``, so that ``pytest`` passes on a
fresh machine without TeX.  With ``IMPLREG_REQUIRE_TEX=1`` in the environment
(set by ``.ci/run``, which installs TeX) such a test fails instead of being
skipped.  The tools are looked up when each test starts.
"""
from __future__ import annotations

import os
import shutil

import pytest

#: Marker name -> the tool it needs.
TOOL_MARKERS = {"needs_pdflatex": "pdflatex", "needs_pdftoppm": "pdftoppm"}

REQUIRE_TEX = "IMPLREG_REQUIRE_TEX"


def missing_tools(item) -> list[str]:
    """The tools that ``item``'s markers ask for and ``PATH`` does not have."""
    return [tool for marker, tool in TOOL_MARKERS.items()
            if item.get_closest_marker(marker) is not None and shutil.which(tool) is None]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    missing = missing_tools(item)
    if not missing:
        return
    reason = f"{missing[0]} not installed"
    if os.environ.get(REQUIRE_TEX, "") not in ("", "0"):
        pytest.fail(f"{reason}, and {REQUIRE_TEX}={os.environ[REQUIRE_TEX]} requires it", pytrace=False)
    pytest.skip(reason)
