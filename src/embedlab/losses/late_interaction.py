"""InfoNCE over MaxSim: each query must pick its positive document among in-batch and hard-negative documents,
scored by late interaction (ColBERT) instead of one cosine."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from embedlab.errors import EmbedlabError
from embedlab.losses.embedding import Batch, build_config, check_columns, flat_negatives
from embedlab.maxsim import maxsim_scores
from embedlab.models.multi_vector import MultiVectorEncoder


@dataclass(frozen=True)
class LateInteractionConfig:
    """temperature divides the *mean* MaxSim (the sum over query tokens over their count, a cosine-like
    [-1, 1] score), so the dense default 0.05 carries over: on raw sums of 32 query tokens it is a scale of
    about 0.6, near PyLate's and sentence-transformers' 1.0."""

    temperature: float = 0.05

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise EmbedlabError(f"temperature must be positive, not {self.temperature}")


class LateInteractionLoss(nn.Module):
    """Contrastive loss for a MultiVectorEncoder on {"anchor", "positive"} pairs or triplets with "negatives".

        loss = LateInteractionLoss(temperature=0.05)
        loss(colbert_model, {"anchor": [...], "positive": [...], "negatives": [[...], ...]}).backward()
    """

    def __init__(self, config: LateInteractionConfig | None = None, **options: object) -> None:
        super().__init__()
        self.config = build_config(LateInteractionConfig, config, options)

    def forward(self, model: MultiVectorEncoder, batch: Batch) -> Tensor:
        name = type(self).__name__
        columns = ["anchor", "positive", "negatives"] if "negatives" in batch else ["anchor", "positive"]
        size = check_columns(batch, columns, name)
        documents = list(batch["positive"]) + (flat_negatives(batch, name) if "negatives" in batch else [])
        queries, query_mask = model.embed_queries(list(batch["anchor"]))
        vectors, document_mask = model.embed_documents(documents)
        scores = maxsim_scores(queries, query_mask, vectors, document_mask)
        mean = scores / query_mask.sum(dim=1, keepdim=True).clamp(min=1)
        targets = torch.arange(size, device=scores.device)
        return nn.functional.cross_entropy(mean / self.config.temperature, targets)
