"""Step times and memory of one training process, read the same way whichever trainer runs in it.

Shared by training_peer.py's embedlab worker and st_train_worker.py (which runs in another venv), so it needs
only the standard library and torch. The clock hangs on torch's global optimizer-step hook, so it sees every
`optimizer.step()` of any trainer without touching the trainer: the time between two step ends is one whole
training step (batch, tokenisation, forward, backward, clipping, optimizer, the trainer's own bookkeeping).
"""

from __future__ import annotations

import statistics
import time

from process_memory import memory_mib
from torch.optim.optimizer import register_optimizer_step_post_hook


class StepClock:
    """Records the wall time, process CPU time and memory at the end of every optimizer step in this process."""

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.cpu_ends: list[float] = []
        self.memory: list[dict[str, float]] = []
        self._handle = register_optimizer_step_post_hook(self._record)

    def _record(self, optimizer, args, kwargs) -> None:
        self.ends.append(time.perf_counter())
        self.cpu_ends.append(time.process_time())
        self.memory.append(memory_mib())

    def result(self, warmup: int) -> dict:
        """Seconds of every step after the first `warmup` ones, their median, the CPU share and peak memory."""
        if len(self.ends) <= warmup:
            raise RuntimeError(f"only {len(self.ends)} optimizer steps ran; {warmup} are warm-up")
        start = max(warmup - 1, 0)
        walls = [b - a for a, b in zip(self.ends[start:], self.ends[start + 1 :])]
        cpus = [b - a for a, b in zip(self.cpu_ends[start:], self.cpu_ends[start + 1 :])]
        cpu = self.cpu_ends[-1] - self.cpu_ends[start]
        return {
            "step_seconds": walls,
            "median_step_seconds": statistics.median(walls),
            # CPU seconds a step costs the process: less sensitive than wall time to other jobs taking turns on
            # the cores, though a thread spinning while it waits for one still counts.
            "step_cpu_seconds": cpus,
            "median_step_cpu_seconds": statistics.median(cpus),
            # Process CPU seconds per wall second over the timed steps: 2.0 means both threads were busy throughout.
            "cpu_per_wall": cpu / (self.ends[-1] - self.ends[start]),
            "peak_rss_mib": self.memory[-1]["peak"],
            "rss_after_steps_mib": self.memory[-1]["rss"],
            "anon_after_steps_mib": self.memory[-1]["anon"],
            "steps": len(self.ends),
        }
