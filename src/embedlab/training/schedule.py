"""How far a run is through its budget (steps, minutes of training, or both) and the learning rate that follows.

Contrastive training and MLM pretraining share this one schedule: linear warm-up, then linear decay to 0.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """A run ends at `total_steps` or after `seconds` of training time, whichever comes first (at least one is set)."""

    total_steps: int | None
    seconds: float | None

    def fraction(self, step: int, elapsed: float) -> float:
        """Share of the budget spent after `step` steps and `elapsed` seconds (1 or more: the run is over)."""
        shares = []
        if self.total_steps is not None:
            shares.append(step / self.total_steps)
        if self.seconds is not None:
            shares.append(elapsed / self.seconds)
        return max(shares)

    def step_span(self, step: int, elapsed: float, last_step_seconds: float) -> tuple[float, float]:
        """(start, end) of the next step as shares of the schedule: by steps when there is a step count
        (repeatable), else by time, the step assumed to last as long as the one before."""
        if self.total_steps is not None:
            return step / self.total_steps, (step + 1) / self.total_steps
        assert self.seconds is not None
        return elapsed / self.seconds, (elapsed + last_step_seconds) / self.seconds


def learning_rate_factor(start: float, end: float, warmup: float) -> float:
    """The learning-rate multiplier of a step spanning [start, end) of the schedule.

    Linear warm-up over the first `warmup` share, then linear decay to 0 at the end. The warm-up is read at
    the step's end and the decay at its start, so neither the first nor the last step is wasted at rate 0.
    """
    rising = end / warmup if warmup > 0 else 1.0
    falling = (1 - start) / (1 - warmup)
    return max(0.0, min(1.0, rising, falling))
