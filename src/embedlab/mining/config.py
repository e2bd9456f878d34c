"""What a mining run does: where candidates come from, which are thrown out as likely false negatives, how many stay.

One frozen dataclass, so a run is described by its settings and the same settings and seed give the same triplets.
"""

from __future__ import annotations

from dataclasses import dataclass

from embedlab.errors import EmbedlabError
from embedlab.instructions import check_task

SOURCES = ("bm25", "dense", "same_document", "random")
MODEL_SOURCES = ("dense", "same_document")
SAMPLINGS = ("top", "random")
POOLS = ("all", "positives")


@dataclass(frozen=True)
class MiningConfig:
    """Settings of one mining run.

    source: bm25 (lexically close), dense (the model's own top-ranked non-positives), same_document (other
        passages of the positive's document; the positive becomes its best passage) or random (the control).
    count: negatives kept per anchor; anchors with fewer surviving candidates are dropped, because
        training batches need the same number of negatives in every row.
    window: 1-based ranks (first, last) of the ranking candidates are taken from; the very top of a
        ranking holds most of the unlabelled positives.
    skip_above_positive: drop candidates the source ranks above the anchor's own positive.
    margin: drop candidates scoring above margin x the positive's score (None: no such filter).
    judge_threshold: with a judge (a cross-encoder), drop candidates it scores at or above this.
    sampling: keep the best-ranked survivors (top) or a seeded random sample of them (random).
    pool: candidates from every pool text (all) or only from texts that are some anchor's positive (positives).
        Against the latter a model cannot lower its loss by learning which texts are ever positive while
        ignoring the anchor, a shortcut open whenever every negative is a text no anchor is answered by.
    passage_words / passage_overlap: the same-document splitter's window and overlap, in words. That source
        ranks only the few passages of one document, so it ignores window and skip_above_positive.
    query_task: the search task an instruction-tuned model encodes the anchors for (embedlab/instructions.py;
        "query_" because a MiningTask is the anchors and pool). Candidates never get it.
    """

    source: str = "bm25"
    count: int = 5
    window: tuple[int, int] = (10, 100)
    skip_above_positive: bool = True
    margin: float | None = 0.95
    judge_threshold: float = 0.5
    sampling: str = "top"
    pool: str = "all"
    seed: int = 0
    passage_words: int = 64
    passage_overlap: int = 16
    batch_size: int = 32
    use_cache: bool = True
    query_task: str | None = None

    def __post_init__(self) -> None:
        if self.query_task is not None:
            check_task(self.query_task)
            if self.source not in MODEL_SOURCES:
                raise EmbedlabError(f"a query task is for the sources {' and '.join(MODEL_SOURCES)}, not {self.source}")
        if self.source not in SOURCES:
            raise EmbedlabError(f"mining source must be one of {', '.join(SOURCES)}, not {self.source!r}")
        if self.sampling not in SAMPLINGS:
            raise EmbedlabError(f"sampling must be one of {', '.join(SAMPLINGS)}, not {self.sampling!r}")
        if self.pool not in POOLS:
            raise EmbedlabError(f"pool must be one of {', '.join(POOLS)}, not {self.pool!r}")
        first, last = self.window
        if not 1 <= first <= last:
            raise EmbedlabError(f"the rank window needs 1 <= first <= last, got {first}..{last}")
        if self.count < 1 or self.batch_size < 1:
            raise EmbedlabError(f"count and batch_size must be at least 1, got {self.count} and {self.batch_size}")
        if self.margin is not None and not self.margin > 0:
            raise EmbedlabError(f"margin must be positive (a fraction of the positive's score), not {self.margin}")
        if not 0 <= self.passage_overlap < self.passage_words:
            raise EmbedlabError(
                f"passage_overlap must be in [0, passage_words), got {self.passage_overlap} and {self.passage_words}"
            )
