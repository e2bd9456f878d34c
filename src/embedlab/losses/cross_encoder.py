"""Cross-encoder losses: graded pairs as soft binary targets, and ranking a positive above mined negatives.

Called as `loss(model, batch)` like the embedding losses, so the same Trainer runs both kinds of model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from embedlab.errors import EmbedlabError
from embedlab.losses.embedding import Batch, check_columns, flat_negatives, number_column


class CrossEncoderBCELoss(nn.Module):
    """Binary cross-entropy of the pair logit against score / score_max (STS-B: 0-5 -> 0-1).

    Inputs: scored pairs {"sentence1", "sentence2", "score"}. The usual recipe for STS cross-encoders.
    """

    def __init__(self, score_max: float = 5.0) -> None:
        super().__init__()
        if not score_max > 0:
            raise EmbedlabError(f"score_max must be positive, not {score_max}")
        self.score_max = score_max

    def forward(self, model, batch: Batch) -> Tensor:
        check_columns(batch, ["sentence1", "sentence2", "score"], type(self).__name__)
        logits = model.score(batch["sentence1"], batch["sentence2"])
        targets = number_column(batch, "score", torch.float32, logits.device, type(self).__name__) / self.score_max
        return nn.functional.binary_cross_entropy_with_logits(logits.float(), targets.clamp(0, 1))


class CrossEncoderRankingLoss(nn.Module):
    """Softmax cross-entropy over each anchor's candidates: its positive, its mined negatives and the next row's
    positive (a cheap easy negative), positive as the target.

    Inputs: {"anchor", "positive"} and optionally {"negatives"}; every candidate costs one forward pass.
    """

    def forward(self, model, batch: Batch) -> Tensor:
        name = type(self).__name__
        size = check_columns(batch, ["anchor", "positive"], name)
        anchors, positives = list(batch["anchor"]), list(batch["positive"])
        negatives = flat_negatives(batch, name) if "negatives" in batch else []
        per_anchor = len(negatives) // size
        firsts, seconds = [], []
        for i, anchor in enumerate(anchors):
            candidates = [positives[i], *negatives[i * per_anchor : (i + 1) * per_anchor]]
            if size > 1:
                candidates.append(positives[(i + 1) % size])
            firsts += [anchor] * len(candidates)
            seconds += candidates
        logits = model.score(firsts, seconds).float().view(size, -1)
        return nn.functional.cross_entropy(logits, torch.zeros(size, dtype=torch.long, device=logits.device))
