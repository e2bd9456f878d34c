"""Matryoshka representation learning: train the leading dimensions of an embedding to work on their own."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from embedlab.errors import EmbedlabError
from embedlab.losses.embedding import Batch, EmbeddingLoss
from embedlab.models.encoder import Encoder

DEFAULT_DIMS = (384, 256, 128, 64, 32)


class MatryoshkaLoss(EmbeddingLoss):
    """The weighted sum of an inner loss evaluated on embeddings truncated to nested sizes.

    Inputs: whatever the inner loss takes (InfoNCE, cached InfoNCE, CoSENT, triplet).
    The encoder runs once per batch; only the inner loss's scoring is repeated per size. Sizes larger
    than the model's embeddings are skipped, so the defaults suit any model of 32 dimensions or more.

    When to use: when the model will be served truncated (`encode(..., dim=128)`) to save index memory and
    search time; the full-size quality barely drops while small prefixes get much better than untrained ones.
    Include the model's full dimension in `dims` to keep training it (the defaults do for 384-dim MiniLM).

        loss = MatryoshkaLoss(InfoNCELoss(), dims=(384, 128, 32))
    """

    def __init__(
        self, inner: EmbeddingLoss, dims: Sequence[int] = DEFAULT_DIMS, weights: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        if not inner.truncatable:
            raise EmbedlabError(
                f"{type(inner).__name__} needs full-size embeddings; it cannot be wrapped in MatryoshkaLoss"
            )
        dims = tuple(dims)
        weights = tuple(weights) if weights is not None else (1.0,) * len(dims)
        if not dims or any(not isinstance(d, int) or d < 1 for d in dims) or len(set(dims)) != len(dims):
            raise EmbedlabError(f"Matryoshka dims must be distinct positive integers, not {list(dims)}")
        if len(weights) != len(dims):
            raise EmbedlabError(f"Matryoshka has {len(dims)} dims but {len(weights)} weights")
        self.inner = inner
        self.dims = dims
        self.weights = weights

    def text_groups(self, batch: Batch) -> list[list[str]]:
        return self.inner.text_groups(batch)

    def embed_then_score(self, model: Encoder, batch: Batch, scorer: EmbeddingLoss) -> Tensor:
        # The inner loss decides how texts are embedded (GradCache for the cached loss); only scoring changes.
        return self.inner.embed_then_score(model, batch, scorer)

    def loss_from_embeddings(self, embeddings: list[Tensor], batch: Batch) -> Tensor:
        full = embeddings[0].shape[-1]
        sizes = [(dim, weight) for dim, weight in zip(self.dims, self.weights) if dim <= full]
        if not sizes:
            raise EmbedlabError(f"none of the Matryoshka dims {list(self.dims)} fit the model's {full} dimensions")
        return sum(
            weight * self.inner.loss_from_embeddings([e[..., :dim] for e in embeddings], batch) for dim, weight in sizes
        )
