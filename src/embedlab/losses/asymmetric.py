"""Asymmetric training: a retrieval loss whose anchors are embedded as queries and everything else as documents.

Prefix models put their query/passage prompts in front; two-tower models route each side to its own tower.
"""

from __future__ import annotations

from torch import Tensor

from embedlab.errors import EmbedlabError
from embedlab.losses.embedding import Batch, EmbeddingLoss


class AsymmetricLoss(EmbeddingLoss):
    """Wraps a query/document loss (InfoNCE, triplet): group 0 (anchors) through `model.embed_queries`, the rest
    through `model.embed_documents`. The model is an Encoder with prompts or a TwoTowerEncoder.
    """

    def __init__(self, inner: EmbeddingLoss) -> None:
        super().__init__()
        if type(inner).embed_then_score is not EmbeddingLoss.embed_then_score:
            # GradCache embeds in its own replayed mini-batches; routing sides to towers there is not supported.
            raise EmbedlabError(f"{type(inner).__name__} embeds texts its own way and cannot be trained asymmetrically")
        self.inner = inner
        self.truncatable = inner.truncatable

    def text_groups(self, batch: Batch) -> list[list[str]]:
        groups = self.inner.text_groups(batch)
        if "anchor" not in batch:
            raise EmbedlabError("asymmetric training needs anchor (query) / positive (document) rows")
        return groups

    def embed_then_score(self, model, batch: Batch, scorer: EmbeddingLoss) -> Tensor:
        queries, *documents = self.text_groups(batch)
        embeddings = [model.embed_queries(queries)] + [model.embed_documents(group) for group in documents]
        return scorer.loss_from_embeddings(embeddings, batch)

    def loss_from_embeddings(self, embeddings: list[Tensor], batch: Batch) -> Tensor:
        return self.inner.loss_from_embeddings(embeddings, batch)
