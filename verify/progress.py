"""Progress of a verification run on stderr.

On a terminal, one line redrawn in place::

    [########------------]  2.4/6  seed000.gd-converges-to-minima  steps 40%   3.1s

Elsewhere (a log file, CI), plain lines: one when a claim starts, and one for a
claim's own progress at most every few seconds, so logs stay short.
"""
from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar", "progress_printer"]


class ProgressBar:
    """Callable ``(done, total, current, elapsed)`` drawing progress on ``stream``.

    >>> import io
    >>> out = io.StringIO()
    >>> bar = ProgressBar(out, tty=False)
    >>> bar(0, 2, "a", 0.0); bar(1, 2, "b", 1.5); bar(2, 2, "", 2.0)
    >>> print(out.getvalue().strip())
    [1/2] a  0.0s
    [2/2] b  1.5s
    done: 2 claims in 2.0s
    """

    width = 20

    def __init__(self, stream=None, tty: bool | None = None, min_interval: float = 0.1,
                 plain_interval: float = 5.0):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(tty if tty is not None else getattr(self.stream, "isatty", lambda: False)())
        self.min_interval = min_interval
        self.plain_interval = plain_interval
        self._last_draw = -1e9
        self._last_claim = None
        self._last_plain = -1e9
        self._finished = False

    def __call__(self, done: float, total: int, current: str, elapsed: float) -> None:
        if self._finished:
            return
        if done >= total and not current:
            self._finish(total, elapsed)
            return
        if self.tty:
            self._draw(done, total, current, elapsed)
        else:
            self._plain(done, total, current, elapsed)

    def _draw(self, done, total, current, elapsed):
        now = time.monotonic()
        if now - self._last_draw < self.min_interval and done < total:
            return
        self._last_draw = now
        filled = int(self.width * (done / total if total else 1))
        bar = "#" * filled + "-" * (self.width - filled)
        count = f"{done:.1f}/{total}" if done != int(done) else f"{int(done)}/{total}"
        text = f"[{bar}] {count}  {current[:60]}  {elapsed:.1f}s"
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()

    def _plain(self, done, total, current, elapsed):
        claim_id = current.split(" ", 1)[0]
        now = time.monotonic()
        if claim_id != self._last_claim:
            self._last_claim = claim_id
            self._last_plain = now
            self.stream.write(f"[{int(done) + 1}/{total}] {current}  {elapsed:.1f}s\n")
        elif now - self._last_plain >= self.plain_interval:
            self._last_plain = now
            self.stream.write(f"      {current}  {elapsed:.1f}s\n")
        self.stream.flush()

    def _finish(self, total, elapsed):
        self._finished = True
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(f"done: {total} claims in {elapsed:.1f}s\n")
        self.stream.flush()


def progress_printer(stream=None) -> ProgressBar:
    """A :class:`ProgressBar` on ``stream`` (default stderr)."""
    return ProgressBar(stream)
