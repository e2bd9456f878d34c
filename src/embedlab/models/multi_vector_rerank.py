"""A late-interaction model as a reranker: MaxSim scores for (query, passage) pairs, behind a cross-encoder's
`predict`, so a ColBERT model re-orders any first stage wherever a cross-encoder is accepted."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedlab.embedder import MultiVectorEmbedder
from embedlab.errors import EmbedlabError
from embedlab.models.multi_vector import MultiVectorEncoder
from embedlab.models.multi_vector_format import is_multi_vector_dir
from embedlab.similarity import maxsim


class MaxSimReranker:
    """Scores pairs by MaxSim of the query's and the passage's token vectors (each text encoded once)."""

    def __init__(self, model: MultiVectorEmbedder) -> None:
        self.model = model

    @property
    def name(self) -> str:
        return self.model.name

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, activation: bool = False,
                show_progress: bool | None = None) -> np.ndarray:
        """One MaxSim per pair; activation is accepted for the cross-encoder interface and changes nothing (MaxSim
        is a sum of cosines, not a logit). Queries past the budget are cut to it, as ColBERT does."""
        if isinstance(pairs, (str, bytes)) or any(not isinstance(p, (tuple, list)) or len(p) != 2 for p in pairs):
            raise EmbedlabError("predict takes a list of (query, passage) pairs")
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        queries = list(dict.fromkeys(q for q, _ in pairs))
        passages = list(dict.fromkeys(p for _, p in pairs))
        query_rows = dict(zip(queries, self.model.encode_queries(queries, batch_size=batch_size, truncate=True)))
        passage_rows = dict(zip(passages, self.model.encode_documents(passages, batch_size=batch_size)))
        return np.array([maxsim(query_rows[q], require_tokens(passage_rows[p], f"document {i}"))
                         for i, (q, p) in enumerate(pairs)], dtype=np.float32)


def require_tokens(rows: np.ndarray, what: str) -> np.ndarray:
    """A document's token rows, refused in one line when punctuation skipping left none to match."""
    if len(rows) == 0:
        raise EmbedlabError(f"{what} has no tokens to match (punctuation is skipped); MaxSim needs at least one")
    return rows


def load_any_reranker(path: str | os.PathLike, device: str | None = None):
    """A ColBERT directory as a MaxSimReranker, anything else as a cross-encoder (models.cross_encoder)."""
    if is_multi_vector_dir(Path(path).expanduser()):
        return MaxSimReranker(MultiVectorEncoder.load(path, device=device))
    from embedlab.models.cross_encoder import load_reranker

    return load_reranker(path, device=device)
