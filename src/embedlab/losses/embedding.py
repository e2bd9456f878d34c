"""What every embedding loss shares: the base class, batch checks, embedding texts and cosine similarities.

An embedding loss is split in two halves so wrappers can change one without the other:
`text_groups(batch)` says which texts to embed, `loss_from_embeddings(embeddings, batch)` scores them.
`embed_then_score` joins the halves; the cached loss overrides it with GradCache, and the Matryoshka
wrapper swaps in its own scoring, which is how the two combine with the encoder still run once.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from embedlab.errors import EmbedlabError
from embedlab.models.encoder import Encoder

Batch = Mapping[str, Sequence[Any]]
Config = TypeVar("Config")


class EmbeddingLoss(nn.Module, ABC):
    """A loss computed from the embeddings of a batch's text columns.

    Call it as `loss(model, batch)` to get a scalar tensor, then `.backward()` it. Parameters the loss
    owns (a learnable temperature, a classifier) are in `loss.parameters()`: optimise them with the encoder.
    """

    # False where the loss only works at the encoder's full width (a classifier over fixed-size inputs).
    truncatable: ClassVar[bool] = True

    @abstractmethod
    def text_groups(self, batch: Batch) -> list[list[str]]:
        """The texts to embed, one list per group, after checking the batch has what the loss needs."""

    @abstractmethod
    def loss_from_embeddings(self, embeddings: list[Tensor], batch: Batch) -> Tensor:
        """The scalar loss from one (n, dim) embedding tensor per group of `text_groups`."""

    def embed_then_score(self, model: Encoder, batch: Batch, scorer: EmbeddingLoss) -> Tensor:
        """Embed this loss's text groups with gradients and hand them to `scorer.loss_from_embeddings`."""
        embeddings = [embed_texts(model, texts) for texts in self.text_groups(batch)]
        return scorer.loss_from_embeddings(embeddings, batch)

    def forward(self, model: Encoder, batch: Batch) -> Tensor:
        return self.embed_then_score(model, batch, self)


def embed_texts(model: Encoder, texts: Sequence[str]) -> Tensor:
    """Pooled, un-normalised embeddings (n, dim) of texts, with gradients when grad mode is on."""
    return model(model.tokenize(texts))


def cosine_matrix(queries: Tensor, candidates: Tensor) -> Tensor:
    """Cosine similarity of every query (n, d) with every candidate (m, d): (n, m), in float32 at least."""
    queries, candidates = _unit(queries), _unit(candidates)
    # Autocast would run this product in half precision again, whatever the inputs' dtype.
    with torch.autocast(queries.device.type, enabled=False):
        return queries @ candidates.T


def paired_cosine(left: Tensor, right: Tensor) -> Tensor:
    """Cosine similarity of each row of left with the same row of right: (n,)."""
    return (_unit(left) * _unit(right)).sum(dim=-1)


def _unit(embeddings: Tensor) -> Tensor:
    # Softmax and logsumexp over half-precision similarities lose the small differences that matter.
    return nn.functional.normalize(embeddings.float(), dim=-1)


def check_columns(batch: Batch, columns: Sequence[str], loss: str) -> int:
    """The batch size, after checking the columns exist, are equally long and not empty."""
    missing = [name for name in columns if name not in batch]
    if missing:
        present = ", ".join(sorted(batch)) or "none"
        raise EmbedlabError(f"{loss} needs batch column(s) {', '.join(missing)}; the batch has {present}")
    lengths = {name: len(batch[name]) for name in columns}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise EmbedlabError(f"{loss}: batch columns differ in length ({described})")
    size = lengths[columns[0]]
    if size == 0:
        raise EmbedlabError(f"{loss}: the batch is empty")
    return size


def flat_negatives(batch: Batch, loss: str) -> list[str]:
    """The `negatives` column (k texts per anchor, the same k for all) flattened anchor by anchor."""
    negatives = batch["negatives"]
    counts = {len(group) for group in negatives}
    if len(counts) > 1:
        raise EmbedlabError(f"{loss}: every anchor needs the same number of negatives, got {sorted(counts)}")
    return [text for group in negatives for text in group]


def number_column(batch: Batch, column: str, dtype: torch.dtype, device: torch.device, loss: str) -> Tensor:
    """A numeric column (scores, labels) as a tensor on the embeddings' device."""
    try:
        return torch.tensor(list(batch[column]), dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise EmbedlabError(f"{loss}: batch column {column} must hold numbers") from None


def build_config(kind: type[Config], config: Config | None, options: dict[str, Any]) -> Config:
    """The given config (or the defaults) with keyword overrides, so `Loss(temperature=0.02)` works too.

    A config of a parent class is accepted and extended (an InfoNCEConfig for the cached loss).
    """
    known = {field.name for field in dataclasses.fields(kind)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise EmbedlabError(
            f"unknown {kind.__name__} option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    given = {} if config is None else {field.name: getattr(config, field.name) for field in dataclasses.fields(config)}
    return kind(**{**given, **options})
