"""Running claims: sequentially or in parallel processes, with progress."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .registry import Claim, Verdict, all_claims, get_claim

__all__ = ["select_claims", "run_claims", "format_table", "write_json_atomic"]


def select_claims(only=None) -> list[Claim]:
    if not only:
        return all_claims()
    return [get_claim(c) for c in only]


def _run_one(claim_id: str, quick: bool, seed: int, figure_dir):
    os.environ.setdefault("MPLBACKEND", "Agg")
    return get_claim(claim_id).run(quick=quick, seed=seed, figure_dir=figure_dir)


def run_claims(claims, quick=False, seed=0, figure_dir=None, jobs=1, progress=None) -> list[Verdict]:
    """Run ``claims``; ``progress(done, total, current, elapsed)`` is called as they go."""
    total = len(claims)
    start = time.perf_counter()
    results: dict[str, Verdict] = {}
    if jobs <= 1:
        for i, c in enumerate(claims):
            if progress:
                progress(i, total, c.id, time.perf_counter() - start)
            sub = None
            if progress:
                def sub(frac, msg, _i=i, _id=c.id):
                    progress(_i + frac, total, f"{_id} {msg}".strip(), time.perf_counter() - start)
            results[c.id] = c.run(quick=quick, seed=seed, figure_dir=figure_dir, progress=sub)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futs = {pool.submit(_run_one, c.id, quick, seed, figure_dir): c.id for c in claims}
            done = 0
            for fut in as_completed(futs):
                cid = futs[fut]
                results[cid] = fut.result()
                done += 1
                if progress:
                    progress(done, total, cid, time.perf_counter() - start)
    if progress:
        progress(total, total, "", time.perf_counter() - start)
    return [results[c.id] for c in claims]


def _short(mapping) -> str:
    parts = []
    for k, v in mapping.items():
        if isinstance(v, float):
            parts.append(f"{k}={v:.3g}")
        else:
            parts.append(f"{k}={v}")
    s = ", ".join(parts)
    return s if len(s) <= 60 else s[:57] + "..."


def format_table(verdicts) -> str:
    """A plain-text table: id, measured, tolerance, verdict, time; failures last."""
    rows = sorted(verdicts, key=lambda v: (not v.passed) * 1)
    head = ("claim", "measured", "tolerance", "verdict", "time")
    body = [(v.claim_id, _short(v.measurement) or (v.error or "")[:60], v.tolerance[:30],
             "PASS" if v.passed else "FAIL", f"{v.seconds:.2f}s") for v in rows]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(5)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    out = [line(head), line(tuple("-" * w for w in widths))] + [line(r) for r in body]
    failed = [v for v in verdicts if not v.passed]
    out.append("")
    out.append(f"{len(verdicts) - len(failed)} passed, {len(failed)} failed")
    if failed:
        out.append("failed: " + ", ".join(v.claim_id for v in failed))
    return "\n".join(out)


def write_json_atomic(path, data) -> None:
    """Write JSON to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
