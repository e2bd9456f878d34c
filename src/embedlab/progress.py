"""Progress of long work, on stderr: a live bar on a terminal, plain log lines anywhere else.

Shared by every loop that may run for minutes (encoding, mining, indexing, bulk jobs). A bar redrawn in place is
noise in a log file or a CI job, so away from a terminal the same progress is a line now and then instead.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

LOG_EVERY_S = 30.0  # a line at least this often while work advances...
LOG_STEPS = 10  # ...and one at every tenth of the total, so short and long jobs both show how they move
_live_bars = 0  # terminal bars drawing now


@contextmanager
def progress_bar(
    total: int, description: str, enabled: bool, stream: TextIO | None = None
) -> Iterator[Callable[[int], None]]:
    """Yield an `advance(n)` callable that reports to `stream` (stderr by default, keeping stdout for results).

    Nothing is shown unless enabled: a transient bar when the stream is a terminal (only the outermost of nested
    ones), ProgressLog lines otherwise.
    """
    if not enabled:
        yield lambda n: None
        return
    stream = stream or sys.stderr
    console = Console(file=stream)
    # The stream itself decides, not rich's guess: CI runners often set FORCE_COLOR, and a bar would garble their logs.
    if not (stream.isatty() or console.is_jupyter):
        yield ProgressLog(total, description, stream).advance
        return
    global _live_bars
    if _live_bars:  # work inside work (encoding while mining): two bars would overwrite each other's line
        yield lambda n: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    _live_bars += 1
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n: progress.advance(task, n)
    finally:
        _live_bars -= 1


class ProgressLog:
    """Progress as lines: every LOG_EVERY_S seconds and every tenth of the total, and once when all is done.

    A line reads `encoding: 4,096/10,000 (41%), 312.5/s, 0:13 elapsed, 0:19 left`.
    """

    def __init__(
        self, total: int, description: str, stream: TextIO, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total = total
        self.description = description
        self.stream = stream
        self.clock = clock
        self.done = 0
        self.started = clock()
        self.last_line = self.started
        self.last_step = 0

    def advance(self, n: int) -> None:
        self.done += n
        now = self.clock()
        step = self.done * LOG_STEPS // self.total if self.total > 0 else 0  # LOG_STEPS once all is done
        if step > self.last_step or now - self.last_line >= LOG_EVERY_S:
            self.last_line, self.last_step = now, step
            print(self.line(now), file=self.stream, flush=True)

    def line(self, now: float) -> str:
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else math.inf
        counts = f"{self.done:,}/{self.total:,} ({self.done / self.total:.0%})" if self.total > 0 else f"{self.done:,}"
        parts = [f"{self.description}: {counts}", speed(rate), f"{clock_time(elapsed)} elapsed"]
        if self.total > 0 and self.done >= self.total:
            parts.append("done")
        elif self.total > 0 and self.done > 0 and math.isfinite(rate):
            parts.append(f"{clock_time((self.total - self.done) / rate)} left")
        return ", ".join(part for part in parts if part)


def speed(rate: float) -> str | None:
    """Items per second, or seconds per item when slower than one a second (a training step, say)."""
    if not math.isfinite(rate) or rate <= 0:
        return None
    return f"{rate:,.1f}/s" if rate >= 1 else f"{1 / rate:,.1f} s each"


def clock_time(seconds: float) -> str:
    """Seconds as H:MM:SS, or M:SS under an hour."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
