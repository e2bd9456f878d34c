"""What every backend offers the Encoder: pooled (un-normalised) embeddings for padded batches.

Tokenizing, sorting, prompts, truncation and normalisation stay in Encoder.encode, so all backends share them.
Backends see the differentiable `EmbeddingModel` and, to export a graph, an `ExportableEncoder`; they never
import the Encoder, which sits above them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from embedlab.models.core import EmbeddingModel
from embedlab.models.st_format import SentenceTransformerLayout


class Backend(Protocol):
    """Runs the transformer and pooling on padded batches; `reason` says why auto picked it ("" otherwise).

    Backends subclass it for embed_batches, which runs one batch at a time unless a backend overlaps them.
    """

    name: str
    reason: str

    def embed(self, model: EmbeddingModel, features: dict[str, Tensor], prompt_length: int) -> Tensor:
        """Float32 (B, dim) pooled embeddings on the CPU, before Matryoshka truncation and normalisation."""
        ...

    def embed_batches(
        self, model: EmbeddingModel, batches: Iterable[dict[str, Tensor]], prompt_length: int
    ) -> Iterator[Tensor]:
        """embed() of each batch, in order. batches is read lazily: a backend that runs several at once pads the
        next while the others run."""
        for features in batches:
            yield self.embed(model, features, prompt_length)

    def torch_model(self, model: EmbeddingModel) -> EmbeddingModel | None:
        """The torch model this backend runs (for reads of token vectors), or None when it runs a graph."""
        ...


class ExportableEncoder(Protocol):
    """What exporting and validating an ONNX graph needs from an encoder (the Encoder implements it)."""

    model: EmbeddingModel
    backend: Backend
    layout: SentenceTransformerLayout  # where the head modules' weights live (graphs are keyed by them too)

    @property
    def weights_dir(self) -> Path: ...

    @property
    def device(self) -> torch.device: ...

    def tokenize(self, texts: Sequence[str]) -> dict[str, Tensor]: ...

    def encode(self, texts: Sequence[str], *, normalize: bool, show_progress: bool) -> np.ndarray: ...
