"""Running claims: sequentially or in parallel processes, with progress.

Each claim gets its own figure directory ``figure_root/<safe id>/`` so figure
names never collide between claims.  With ``jobs > 1`` claims run in a pool of
processes; their own progress (``ctx.report``) travels back through a queue,
so the progress bar shows it exactly as in a sequential run.  The verdicts
come back in the order of ``claims`` whatever the order of completion, and
each claim's randomness depends only on the seed, so ``jobs`` never changes
the numbers.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import queue as queue_module
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from analytic.errors import InputError

from .registry import Claim, Verdict, all_claims, get_claim
from .atomic import atomic_write_text

__all__ = ["select_claims", "run_claims", "format_table", "failures_last", "write_json_atomic", "safe_name"]


def safe_name(claim_id: str) -> str:
    """A file-system and LaTeX safe name for a claim id.

    >>> safe_name("seed000.minima-curve")
    'seed000-minima-curve'
    """
    return "".join(c if c.isalnum() or c == "-" else "-" for c in claim_id)


def select_claims(only=None) -> list[Claim]:
    """Every registered claim, or the ones named in ``only`` (in that order, once each).

    >>> [c.id for c in select_claims(["seed000.minima-curve", "seed000.minima-curve"])]
    ['seed000.minima-curve']
    """
    if not only:
        return all_claims()
    seen, out = set(), []
    for cid in only:
        if cid not in seen:
            seen.add(cid)
            out.append(get_claim(cid))
    return out


def _figure_dir(figure_root, figure_dir, claim_id):
    if figure_root is not None:
        return Path(figure_root) / safe_name(claim_id)
    return figure_dir


_WORKER_QUEUE = None


def _init_worker(q):
    global _WORKER_QUEUE
    _WORKER_QUEUE = q
    os.environ.setdefault("MPLBACKEND", "Agg")


def _run_one(claim_id: str, quick: bool, seed: int, figure_dir):
    def report(frac, msg):
        if _WORKER_QUEUE is not None:
            _WORKER_QUEUE.put((claim_id, frac, msg))
    if _WORKER_QUEUE is not None:
        _WORKER_QUEUE.put((claim_id, 0.0, ""))
    return get_claim(claim_id).run(quick=quick, seed=seed, figure_dir=figure_dir, progress=report)


def run_claims(claims, quick=False, seed=0, figure_dir=None, jobs=1, progress=None,
               figure_root=None) -> list[Verdict]:
    """Run ``claims``; ``progress(done, total, current, elapsed)`` is called as they go.

    ``done`` may be fractional while a claim reports its own progress.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise InputError("--jobs", jobs, "must be a positive integer")
    total = len(claims)
    start = time.perf_counter()
    results: dict[str, Verdict] = {}
    elapsed = lambda: time.perf_counter() - start
    if jobs == 1 or total <= 1:
        for i, c in enumerate(claims):
            if progress:
                progress(i, total, c.id, elapsed())
            sub = None
            if progress:
                def sub(frac, msg, _i=i, _id=c.id):
                    progress(_i + frac, total, f"{_id} {msg}".strip(), elapsed())
            results[c.id] = c.run(quick=quick, seed=seed, figure_dir=_figure_dir(figure_root, figure_dir, c.id),
                                  progress=sub)
    else:
        mp = multiprocessing.get_context("spawn")
        q = mp.Queue()
        running: dict[str, float] = {}
        pool = ProcessPoolExecutor(max_workers=min(jobs, total), mp_context=mp,
                                   initializer=_init_worker, initargs=(q,))
        try:
            futs = {pool.submit(_run_one, c.id, quick, seed, _figure_dir(figure_root, figure_dir, c.id)): c.id
                    for c in claims}
            pending = set(futs)
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in finished:
                    cid = futs[fut]
                    results[cid] = fut.result()
                    running.pop(cid, None)
                while True:
                    try:
                        cid, frac, msg = q.get_nowait()
                    except queue_module.Empty:
                        break
                    if cid not in results:
                        running[cid] = frac
                        if progress:
                            current = f"{cid} {msg}".strip()
                            progress(len(results) + sum(running.values()), total, current, elapsed())
                if progress and finished:
                    current = ", ".join(sorted(running)) or futs[next(iter(finished))]
                    progress(len(results) + sum(running.values()), total, current, elapsed())
        except BaseException:  # interrupted: drop the queued claims, do not wait for them
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        q.close()
    if progress:
        progress(total, total, "", elapsed())
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


def failures_last(verdicts) -> list[Verdict]:
    """The verdicts with the failing ones moved to the end (stable)."""
    return sorted(verdicts, key=lambda v: not v.passed)


def format_table(verdicts) -> str:
    """A plain-text table: id, measured, tolerance, verdict, time; failures last."""
    rows = failures_last(verdicts)
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
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
