"""Progress of a long training job: a live bar on a terminal, plain lines at a steady cadence in a log.

A bar redraws itself in place, so a batch job's log keeps nothing of it; there, a line with the step, the
running loss, the rate, the time spent and the time left is printed every `every_seconds` instead.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from typing_extensions import Self

from embedlab.progress import clock_time


class StepLog:
    """Reports a job step by step; use as a context manager around the loop."""

    def __init__(
        self,
        description: str,
        total_steps: int | None,
        every_seconds: float = 30.0,
        stream: TextIO | None = None,
        enabled: bool = True,
    ) -> None:
        self.description = description
        self.total_steps = total_steps
        self.every_seconds = every_seconds
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.on_terminal = enabled and self.stream.isatty()
        self._bar: Progress | None = None
        self._loss_sum, self._loss_count = 0.0, 0
        self._first_step, self._first_fraction = 0, 0.0

    def __enter__(self) -> Self:
        self._started = self._last_line = time.perf_counter()
        if self.on_terminal:
            columns = (
                TextColumn(self.description),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("step {task.fields[step]}  loss {task.fields[loss]:.4f}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )
            self._bar = Progress(*columns, console=Console(file=self.stream), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=1.0, step=0, loss=float("nan"))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def start_at(self, step: int, fraction: float) -> None:
        """Where the job stands before its first step here (a resumed job does not start at 0)."""
        self._first_step, self._first_fraction = step, fraction
        if self._bar is not None:
            self._bar.update(self._task, completed=min(fraction, 1.0), step=step)

    def advance(self, step: int, fraction: float, loss: float, fields: dict[str, float] | None = None) -> None:
        """One step done. With `fields` (the caller's own log point, loss first) a line follows now; without,
        away from a terminal, once `every_seconds` have passed since the last line (with the mean loss since)."""
        self._loss_sum, self._loss_count = self._loss_sum + loss, self._loss_count + 1
        if self._bar is not None:
            self._bar.update(self._task, completed=min(fraction, 1.0), step=step, loss=loss)
        if fields is not None:
            self._line(step, fraction, fields)
        elif self._bar is None and time.perf_counter() - self._last_line >= self.every_seconds:
            self._line(step, fraction, {"loss": self._loss_sum / self._loss_count})

    def _line(self, step: int, fraction: float, fields: dict[str, float]) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        seconds = now - self._started
        of_total = f"/{self.total_steps}" if self.total_steps is not None else ""
        parts = [f"step {step}{of_total} ({min(fraction, 1.0):.0%})"]
        parts += [f"{name} {value:.4g}" for name, value in fields.items()]
        parts.append(f"{(step - self._first_step) / max(seconds, 1e-9):.3g} steps/s")
        parts.append(f"elapsed {clock_time(seconds)}")
        done = fraction - self._first_fraction
        if 0 < done and fraction < 1:
            parts.append(f"left {clock_time(seconds * (1 - fraction) / done)}")
        self.print("  ".join(parts))
        self._last_line, self._loss_sum, self._loss_count = now, 0.0, 0

    def print(self, text: str) -> None:
        """A line that stays: above the bar on a terminal, flushed at once in a log file."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(text, highlight=False, markup=False, soft_wrap=True)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()
