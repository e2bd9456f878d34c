"""CoSENT (Su 2022): learn to order pairs by cosine similarity the way their gold scores order them."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from embedlab.errors import EmbedlabError
from embedlab.losses.embedding import (
    Batch,
    EmbeddingLoss,
    check_columns,
    number_column,
    paired_cosine,
)


class CoSENTLoss(EmbeddingLoss):
    """log(1 + sum over pairs i, j with score_i > score_j of exp(scale * (cos_j - cos_i))).

    Inputs: scored pairs {"sentence1", "sentence2", "score"} (any scale: only the order of scores counts).

    When to use: graded similarity data such as STS, where it trains better than regressing cosine onto the
    score (CosineSimilarityLoss), because it only asks for the right ranking of pairs, which is what
    Spearman-correlation evaluation measures. Needs several distinct scores per batch to say anything.
    """

    def __init__(self, scale: float = 20.0) -> None:
        super().__init__()
        if not scale > 0:
            raise EmbedlabError(f"CoSENT scale must be positive, not {scale}")
        self.scale = scale

    def text_groups(self, batch: Batch) -> list[list[str]]:
        check_columns(batch, ["sentence1", "sentence2", "score"], type(self).__name__)
        return [list(batch["sentence1"]), list(batch["sentence2"])]

    def loss_from_embeddings(self, embeddings: list[Tensor], batch: Batch) -> Tensor:
        left, right = embeddings
        scores = number_column(batch, "score", torch.float32, left.device, type(self).__name__)
        logits = paired_cosine(left, right) * self.scale
        # Entry [i, j] is scale * (cos_j - cos_i), a penalty only where pair i should rank above pair j.
        differences = logits.unsqueeze(0) - logits.unsqueeze(1)
        differences = differences.masked_fill(scores.unsqueeze(1) <= scores.unsqueeze(0), -math.inf)
        # The leading zero is the "1 +" inside the log.
        return torch.logsumexp(torch.cat([differences.new_zeros(1), differences.flatten()]), dim=0)
