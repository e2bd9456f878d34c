"""SBERT's classification objective: predict a pair's label from (u, v, |u - v|) with a linear layer."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from embedlab.errors import EmbedlabError
from embedlab.losses.embedding import Batch, EmbeddingLoss, check_columns, number_column


class SoftmaxClassifierLoss(EmbeddingLoss):
    """Cross-entropy of a linear classifier over the concatenation (u, v, |u - v|) of the two embeddings.

    Inputs: labelled pairs {"sentence1", "sentence2", "label"} with labels 0 .. num_labels - 1
    (NLI: entailment / neutral / contradiction, num_labels=3).

    When to use: reproducing SBERT's NLI training (Reimers & Gurevych 2019). Contrastive losses on NLI
    entailment pairs (with contradictions as hard negatives) generally train better embeddings.
    The classifier belongs to this loss, not the encoder: optimise `loss.parameters()` along with the
    model's; it is not saved with the encoder and is thrown away after training.
    """

    truncatable = False

    def __init__(self, dim: int, num_labels: int = 3) -> None:
        super().__init__()
        if dim < 1 or num_labels < 2:
            raise EmbedlabError(f"the classifier needs dim >= 1 and num_labels >= 2, not {dim} and {num_labels}")
        self.num_labels = num_labels
        self.classifier = nn.Linear(3 * dim, num_labels)

    def text_groups(self, batch: Batch) -> list[list[str]]:
        check_columns(batch, ["sentence1", "sentence2", "label"], type(self).__name__)
        return [list(batch["sentence1"]), list(batch["sentence2"])]

    def loss_from_embeddings(self, embeddings: list[Tensor], batch: Batch) -> Tensor:
        left, right = (e.to(self.classifier.weight.dtype) for e in embeddings)
        labels = number_column(batch, "label", torch.long, left.device, type(self).__name__)
        if labels.min() < 0 or labels.max() >= self.num_labels:
            raise EmbedlabError(f"labels must lie in 0..{self.num_labels - 1}, got {sorted(set(labels.tolist()))}")
        logits = self.classifier(torch.cat([left, right, (left - right).abs()], dim=-1))
        return nn.functional.cross_entropy(logits, labels)
