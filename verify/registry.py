"""The registry of claims.

A claim is a statement taken from a paper, with a symbolic prediction (from
:mod:`analytic`), a numeric check (from :mod:`numeric`) and a verdict.  Claims
register themselves with the :func:`claim` decorator::

    @claim("seed000.minima-curve",
           statement=r"E(w_1, -\\log(w_1/y - 1)/x) = 0",
           source="Ghosh et al., ICLR 2023, App. 8 (minima curve)")
    def minima_curve(ctx: Context) -> Outcome:
        ...
        return Outcome(passed=err < 1e-12, prediction={"E": 0.0},
                       measurement={"max |E|": err}, tolerance="1e-12")

Running a claim gives a :class:`Verdict`: the outcome plus its id, seed and
run time.  An exception inside a claim becomes a failed verdict that carries
the error message, so one broken claim never hides the others.
"""
from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

__all__ = ["Context", "Outcome", "Verdict", "Claim", "claim", "REGISTRY", "all_claims", "get_claim"]


def _jsonable(value):
    """Plain JSON types: floats rounded to 12 significant digits for stable output."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        return float(f"{v:.12g}")
    if value is None or isinstance(value, str):
        return value
    return str(value)


@dataclass(frozen=True)
class Context:
    """What a claim receives: size, seed, where to put figures, progress hook."""

    quick: bool = False
    seed: int = 0
    figure_dir: Path | None = None
    progress: Callable[[float, str], None] | None = None

    def rng(self, stream: int = 0) -> np.random.Generator:
        """A seeded generator; different ``stream`` values are independent."""
        return np.random.default_rng([self.seed, stream])

    def report(self, fraction: float, message: str = "") -> None:
        """Report progress within a long claim (0 <= fraction <= 1)."""
        if self.progress is not None:
            self.progress(min(max(float(fraction), 0.0), 1.0), message)

    def save_figure(self, fig, name: str) -> tuple[str, ...]:
        """Save ``fig`` as PNG and PDF under ``figure_dir``; close it; return paths."""
        import matplotlib.pyplot as plt
        if self.figure_dir is None:
            plt.close(fig)
            return ()
        from .figures import save_figure
        return save_figure(fig, self.figure_dir, name)


@dataclass(frozen=True)
class Outcome:
    """What a claim's function returns.

    ``prediction`` and ``measurement`` map names to numbers (or short text);
    ``tolerance`` says what "agree" means; ``derivation`` is optional LaTeX
    (an ``align`` block) or an :class:`analytic.result.Result`.
    """

    passed: bool
    prediction: Mapping[str, Any] = field(default_factory=dict)
    measurement: Mapping[str, Any] = field(default_factory=dict)
    tolerance: str = ""
    details: str = ""
    derivation: Any = None
    figures: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "figures", tuple(self.figures))


@dataclass(frozen=True)
class Verdict:
    """A claim's measured verdict."""

    claim_id: str
    statement: str
    source: str
    passed: bool
    prediction: Mapping[str, Any]
    measurement: Mapping[str, Any]
    tolerance: str
    details: str
    derivation: str
    figures: tuple
    seed: int
    quick: bool
    seconds: float
    error: str | None = None

    def to_dict(self, timings: bool = True) -> dict:
        d = {
            "id": self.claim_id, "verdict": "pass" if self.passed else "fail",
            "statement": self.statement, "source": self.source,
            "prediction": _jsonable(self.prediction), "measurement": _jsonable(self.measurement),
            "tolerance": self.tolerance, "details": self.details, "seed": self.seed,
            "quick": self.quick, "figures": [Path(f).name for f in self.figures],
            "error": self.error,
        }
        if timings:
            d["seconds"] = round(self.seconds, 3)
        return d


@dataclass(frozen=True)
class Claim:
    """A registered claim."""

    id: str
    statement: str
    source: str
    func: Callable[[Context], Outcome]
    tags: tuple = ()

    def __post_init__(self):
        if not self.id or any(c.isspace() for c in self.id):
            raise ValueError(f"claim id must be non-empty without spaces, got {self.id!r}")
        if not self.source:
            raise ValueError(f"claim {self.id!r} needs a source")

    def run(self, quick: bool = False, seed: int = 0, figure_dir=None, progress=None) -> Verdict:
        ctx = Context(quick=quick, seed=seed, figure_dir=None if figure_dir is None else Path(figure_dir),
                      progress=progress)
        start = time.perf_counter()
        error = None
        try:
            out = self.func(ctx)
            if not isinstance(out, Outcome):
                raise TypeError(f"claim {self.id} returned {type(out).__name__}, not Outcome")
        except Exception as exc:  # a broken claim is a failed claim, reported
            error = f"{type(exc).__name__}: {exc}"
            out = Outcome(False, details=error + "\n" + traceback.format_exc(limit=4))
        seconds = time.perf_counter() - start
        derivation = out.derivation
        if derivation is not None and not isinstance(derivation, str):
            derivation = _derivation_text(derivation)
        return Verdict(self.id, self.statement, self.source, out.passed, dict(out.prediction),
                       dict(out.measurement), out.tolerance, out.details, derivation or "",
                       tuple(out.figures), seed, quick, seconds, error)


def _derivation_text(derivation) -> str:
    """A Result's derivation laid out for the report (long formulas split)."""
    if hasattr(derivation, "steps"):
        try:
            from .texlayout import result_body
            return result_body(derivation)
        except Exception:  # layout is cosmetic: fall back to the plain align block
            pass
    return derivation.derivation_latex() if hasattr(derivation, "derivation_latex") else str(derivation)


REGISTRY: dict[str, Claim] = {}


def claim(id: str, statement: str, source: str, tags: tuple = ()):
    """Decorator registering ``func(ctx) -> Outcome`` as a claim."""
    def register(func):
        if id in REGISTRY and REGISTRY[id].func.__qualname__ != func.__qualname__:
            raise ValueError(f"claim id {id!r} registered twice")
        REGISTRY[id] = Claim(id, statement, source, func, tuple(tags))
        return func
    return register


def all_claims() -> list[Claim]:
    """Every registered claim, in id order (imports the claim modules)."""
    from . import claims  # noqa: F401  (registers)
    return [REGISTRY[k] for k in sorted(REGISTRY)]


def get_claim(claim_id: str) -> Claim:
    from . import claims  # noqa: F401
    if claim_id not in REGISTRY:
        from analytic.errors import InputError
        raise InputError("--only", claim_id, "no such claim (see 'implreg claims')")
    return REGISTRY[claim_id]
