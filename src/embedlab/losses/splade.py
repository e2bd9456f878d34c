"""SPLADE training: InfoNCE over dot products of sparse term weights, plus FLOPS regularisation of both sides.

Anchors are embedded as queries and positives / hard negatives as documents (`embed_queries` /
`embed_documents` of a SparseEncoder), so an inference-free side trains its static weights. Dot products of
SPLADE vectors are already spread over tens of units, so they enter the softmax unscaled (sentence-transformers'
SparseMultipleNegativesRankingLoss uses scale 1 too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from embedlab.errors import EmbedlabError
from embedlab.losses.embedding import Batch, EmbeddingLoss, build_config, check_columns, flat_negatives
from embedlab.losses.flops import FlopsWarmup, flops
from embedlab.models.splade_ops import nonzero_counts

# The share of training over which the FLOPS weights grow to full, as in sentence-transformers' SpladeLoss.
FLOPS_WARMUP_SHARE = 1 / 3


@dataclass(frozen=True)
class SpladeLossConfig:
    """query_flops_weight / document_flops_weight: the FLOPS regulariser's full weight on each side (the
    defaults are sentence-transformers'); scale multiplies the dot products before the softmax."""

    query_flops_weight: float = 5e-5
    document_flops_weight: float = 3e-5
    scale: float = 1.0

    def __post_init__(self) -> None:
        if min(self.query_flops_weight, self.document_flops_weight) < 0 or not self.scale > 0:
            raise EmbedlabError("FLOPS weights must not be negative and scale must be positive")


class SpladeLoss(EmbeddingLoss):
    """InfoNCE with in-batch and hard negatives over sparse dot products, plus weighted FLOPS terms.

    Inputs: pairs {"anchor", "positive"} or triplets adding {"negatives": k texts per anchor}. `set_warmup`
    gives the number of calls over which the FLOPS weights grow; the call count is part of the state dict,
    so a resumed run continues the schedule. `metrics()` reports mean active terms per query and document.
    """

    config_type: ClassVar[type[SpladeLossConfig]] = SpladeLossConfig
    truncatable: ClassVar[bool] = False

    def __init__(self, config: SpladeLossConfig | None = None, **options: object) -> None:
        super().__init__()
        self.config = build_config(self.config_type, config, options)
        self.warmup = FlopsWarmup()
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self._seen: dict[str, list[float]] = {}

    def set_warmup(self, total_calls: int | None) -> None:
        """Grow the FLOPS weights over the first third of `total_calls` training calls (None: full at once)."""
        self.warmup = FlopsWarmup(None if total_calls is None else max(1, math.floor(total_calls * FLOPS_WARMUP_SHARE)))

    def text_groups(self, batch: Batch) -> list[list[str]]:
        name = type(self).__name__
        check_columns(batch, ["anchor", "positive", "negatives"] if "negatives" in batch else ["anchor", "positive"],
                      name)  # fmt: skip
        negatives = flat_negatives(batch, name) if "negatives" in batch else []
        return [list(batch["anchor"]), list(batch["positive"]) + negatives]

    def embed_then_score(self, model, batch: Batch, scorer: EmbeddingLoss) -> Tensor:
        queries, documents = self.text_groups(batch)
        return scorer.loss_from_embeddings([model.embed_queries(queries), model.embed_documents(documents)], batch)

    def loss_from_embeddings(self, embeddings: list[Tensor], batch: Batch) -> Tensor:
        queries, documents = (e.float() for e in embeddings)
        with torch.autocast(queries.device.type, enabled=False):
            scores = queries @ documents.T * self.config.scale
        # Documents are the positives in anchor order, then the hard negatives: query i's target is column i.
        targets = torch.arange(len(queries), device=queries.device)
        ranking = nn.functional.cross_entropy(scores, targets)
        factor = self.warmup.factor(int(self.calls))
        query_flops, document_flops = flops(queries), flops(documents)
        regular = factor * (self.config.query_flops_weight * query_flops
                            + self.config.document_flops_weight * document_flops)  # fmt: skip
        if self.training:
            self.calls += 1
            self._note(ranking=float(ranking.detach()), flops=float((query_flops + document_flops).detach()),
                       query_terms=float(nonzero_counts(queries).float().mean()),
                       document_terms=float(nonzero_counts(documents).float().mean()))  # fmt: skip
        return ranking + regular

    def _note(self, **values: float) -> None:
        for key, value in values.items():
            self._seen.setdefault(key, []).append(value)

    def metrics(self) -> dict[str, float]:
        """Means since the last reading: ranking loss, FLOPS, active terms per query and per document."""
        means = {key: sum(values) / len(values) for key, values in self._seen.items() if values}
        self._seen = {}
        return means
