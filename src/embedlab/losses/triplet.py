"""Triplet margin loss: each anchor must be closer to its positive than to its negatives, by a margin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from embedlab.errors import EmbedlabError
from embedlab.losses.embedding import (
    Batch,
    EmbeddingLoss,
    build_config,
    check_columns,
    flat_negatives,
    paired_cosine,
)

DISTANCES = ("euclidean", "cosine")


@dataclass(frozen=True)
class TripletConfig:
    """distance: "euclidean" (on un-normalised embeddings) or "cosine" (1 - cosine similarity).

    margin: how much farther each negative must be than the positive; sentence-transformers' default 5 suits
    euclidean distance; cosine distances lie in [0, 2], so use something like 0.1-0.5 there.
    """

    distance: Literal["euclidean", "cosine"] = "euclidean"
    margin: float = 5.0

    def __post_init__(self) -> None:
        if self.distance not in DISTANCES:
            raise EmbedlabError(f"triplet distance must be one of {', '.join(DISTANCES)}, not {self.distance!r}")
        if self.margin < 0:
            raise EmbedlabError(f"triplet margin must not be negative, not {self.margin}")


class TripletLoss(EmbeddingLoss):
    """mean over anchors i and their negatives j of max(0, d(a_i, p_i) - d(a_i, n_ij) + margin).

    Inputs: triplets {"anchor", "positive", "negatives"} (k >= 1 negatives per anchor; each makes a triplet).

    When to use: when the data comes as explicit (anchor, positive, negative) triplets and a fixed margin
    is wanted, e.g. reproducing SBERT's Wikipedia-sections setup. For retrieval InfoNCELoss with the same
    triplets is usually stronger: it also uses the other examples in the batch as negatives.
    """

    def __init__(self, config: TripletConfig | None = None, **options: object) -> None:
        super().__init__()
        self.config = build_config(TripletConfig, config, options)

    def text_groups(self, batch: Batch) -> list[list[str]]:
        name = type(self).__name__
        check_columns(batch, ["anchor", "positive", "negatives"], name)
        negatives = flat_negatives(batch, name)
        if not negatives:
            raise EmbedlabError(f"{name} needs at least one negative per anchor")
        return [list(batch["anchor"]), list(batch["positive"]), negatives]

    def loss_from_embeddings(self, embeddings: list[Tensor], batch: Batch) -> Tensor:
        anchors, positives, negatives = embeddings
        negatives = negatives.reshape(len(anchors), -1, anchors.shape[-1])
        positive_distance = self._distance(anchors, positives).unsqueeze(1)
        negative_distance = self._distance(anchors.unsqueeze(1), negatives)
        return nn.functional.relu(positive_distance - negative_distance + self.config.margin).mean()

    def _distance(self, left: Tensor, right: Tensor) -> Tensor:
        if self.config.distance == "cosine":
            return 1 - paired_cosine(left, right)
        return (left.float() - right.float()).norm(dim=-1)
