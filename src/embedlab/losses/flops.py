"""FLOPS regularisation (Paria et al. 2020, "Minimizing FLOPs to learn efficient sparse representations").

The expected cost of a sparse dot product grows with how often each term is active across texts; its smooth
stand-in is the squared mean weight of each term over a batch, summed over the vocabulary. Adding it to the
ranking loss drives rarely useful terms to zero everywhere, which is what keeps SPLADE vectors sparse.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from embedlab.errors import EmbedlabError


def flops(weights: Tensor) -> Tensor:
    """sum over terms of (mean over the batch of the term's weight)^2, for (B, vocab) weights."""
    return (weights.float().mean(dim=0) ** 2).sum()


@dataclass(frozen=True)
class FlopsWarmup:
    """The regulariser's weight grows as (step / warmup_steps)^2 to its full value, as sentence-transformers'
    SpladeRegularizerWeightSchedulerCallback does: an early full penalty would zero every term before the
    ranking loss has taught the model which ones matter."""

    warmup_steps: int | None = None  # None: full weight from the start

    def __post_init__(self) -> None:
        if self.warmup_steps is not None and self.warmup_steps < 1:
            raise EmbedlabError(f"warmup_steps must be at least 1, not {self.warmup_steps}")

    def factor(self, step: int) -> float:
        """The share of the full weight at `step` (counted from 0)."""
        if self.warmup_steps is None or step >= self.warmup_steps:
            return 1.0
        return (step / self.warmup_steps) ** 2
