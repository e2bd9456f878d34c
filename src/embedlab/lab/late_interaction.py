"""Late interaction seen token by token: a ColBERT-style model's query-token x document-token grid and MaxSim.

Each query token keeps its best match among the document's tokens; the score is the sum of those best matches.
The playground draws the grid; /v1/rerank orders documents by the same score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedlab.embedder import MultiVectorEmbedder
from embedlab.errors import EmbedlabError
from embedlab.models.multi_vector_rerank import require_tokens
from embedlab.similarity import maxsim_grid


@dataclass
class LateInteraction:
    """One query against one document: the tokens behind each side's rows, their (query x document) dot-product
    grid, the document token each query token matches best, and the MaxSim score (the sum of those maxima)."""

    query_tokens: list[str]
    document_tokens: list[str]
    grid: np.ndarray
    best: list[int]
    score: float


def _named_rows(tokens: list[str], rows: np.ndarray, side: str) -> np.ndarray:
    """The rows, once they are known to be one per named token (the grid's labels must line up with it)."""
    if len(tokens) != len(rows):
        raise EmbedlabError(f"the model named {len(tokens)} {side} tokens but made {len(rows)} vectors")
    return rows


def late_interaction(model: MultiVectorEmbedder, query: str, document: str) -> LateInteraction:
    """The grid and MaxSim of `query` (encoded as a query: markers, mask-token padding) against `document`."""
    query_tokens, document_tokens = model.query_tokens(query), model.document_tokens(document)
    query_rows = _named_rows(query_tokens, model.encode_queries([query])[0], "query")
    document_rows = _named_rows(document_tokens, model.encode_documents([document])[0], "document")
    grid = maxsim_grid(query_rows, require_tokens(document_rows, "the document"))
    best = grid.argmax(axis=1)
    return LateInteraction(query_tokens=query_tokens, document_tokens=document_tokens, grid=grid,
                           best=[int(i) for i in best], score=float(grid[np.arange(len(grid)), best].sum()))
