"""Scores of every pool text for each anchor, from BM25 or from the model being trained.

Whole score rows, not top-k hits: the filters need the positive's own score and rank.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from embedlab.bm25 import BM25Index
from embedlab.embedder import Embedder
from embedlab.evaluation.retrieval import document_embeddings
from embedlab.mining.config import MiningConfig
from embedlab.mining.task import MiningTask
from embedlab.similarity import unit_rows

# Anchors scored per block: bounds the (anchors x pool) matrix held at once to about 16M floats.
BLOCK_CELLS = 1 << 24


def score_blocks(task: MiningTask, config: MiningConfig, model: Embedder | None) -> Iterator[tuple[int, np.ndarray]]:
    """(first anchor row, float32 scores of shape (block, pool)) for the bm25 or dense source, in anchor order."""
    block = max(1, BLOCK_CELLS // len(task.pool))
    if config.source == "bm25":
        index = BM25Index.build(task.pool)
        for start in range(0, len(task.anchors), block):
            yield start, index.scores(task.anchors[start : start + block])
        return
    # Unit rows: cosine scores whatever the model's own normalisation.
    anchors = model.encode_queries(task.anchors, task=config.query_task, batch_size=config.batch_size)
    queries = unit_rows(np.asarray(anchors, np.float32))
    # The corpus encoding is the slow part; the evaluation cache shares it with retrieval runs of the same model.
    documents = document_embeddings(model, task.pool, config.batch_size, config.use_cache)
    documents = unit_rows(np.asarray(documents, np.float32))
    for start in range(0, len(task.anchors), block):
        yield start, queries[start : start + block] @ documents.T


def ranked_rows(scores: np.ndarray, last: int) -> np.ndarray:
    """The `last` best rows by score, best first; ties go to the lower row, so rankings are reproducible."""
    last = min(last, len(scores))
    top = np.argpartition(-scores, last - 1)[:last] if last < len(scores) else np.arange(len(scores))
    # argpartition may cut a tie at the boundary arbitrarily: widen to every row tied with the cut-off score.
    cutoff = scores[top].min()
    top = np.union1d(top, np.flatnonzero(scores == cutoff))
    return top[np.lexsort((top, -scores[top]))][:last]


def rank_of(scores: np.ndarray, row: int) -> int:
    """The 1-based rank of `row` in the same order as ranked_rows."""
    higher = int((scores > scores[row]).sum())
    tied_before = int((scores[:row] == scores[row]).sum())
    return 1 + higher + tied_before
