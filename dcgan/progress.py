"""Progress bars on stderr that stay readable when nobody is watching.

On a terminal: tqdm's live bar. Anywhere else (tox's captured output, CI logs, a file) a bar
redrawn with ``\\r`` hundreds of times becomes one unreadable line, so there the bar prints a
few whole lines per stage instead: about ``LINES`` updates and the closing one.
"""

from __future__ import annotations

import sys

LINES = 4  # updates printed per bar when stderr is not a terminal, besides the last one


class _Lines:
    """A file for tqdm that turns each redraw into one line of its own."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, s: str) -> None:
        text = s.replace("\r", "").replace("\x1b[A", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real file
        return False


def bar(iterable=None, *, total: int | None = None, stream=None, **kw):
    """``tqdm(iterable, ...)`` on stderr; off a terminal, a few lines per bar instead of frames."""
    from tqdm import tqdm

    stream = stream or sys.stderr
    if _is_terminal(stream):
        return tqdm(iterable, total=total, file=stream, dynamic_ncols=True, **kw)
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    left = (total or 0) - kw.get("initial", 0)
    # print every `left / LINES` iterations, whatever the time: a fixed count of lines per bar
    # (a huge maxinterval keeps tqdm's monitor thread from switching to every iteration)
    return tqdm(
        iterable,
        total=total,
        file=_Lines(stream),
        ncols=100,
        mininterval=0,
        maxinterval=float("inf"),
        miniters=max(1, left // LINES) if left > 0 else 1,
        **kw,
    )
