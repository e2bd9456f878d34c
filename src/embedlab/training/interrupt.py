"""Ctrl-C during training, held until the current step ends, so that the checkpoint then written resumes exactly.

Stopping in the middle of a step would save a data position and random state one batch ahead of the weights.
A second Ctrl-C stops at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

from typing_extensions import Self


class StepBoundaryInterrupt:
    """Within the `with` block, SIGINT sets `requested` instead of raising KeyboardInterrupt (main thread only)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
