"""What every backend offers the Encoder: pooled (un-normalised) embeddings for one padded batch.

Tokenizing, sorting, prompts, truncation and normalisation stay in Encoder.encode, so all backends share them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from torch import Tensor

if TYPE_CHECKING:
    from embedlab.encoder import Encoder


class Backend(Protocol):
    """Runs the transformer and pooling on one batch; `reason` says why auto picked it ("" otherwise)."""

    name: str
    reason: str

    def embed(self, encoder: Encoder, features: dict[str, Tensor], prompt_length: int) -> Tensor:
        """Float32 (B, dim) pooled embeddings on the CPU, before Matryoshka truncation and normalisation."""
        ...
