"""BM25 lexical search (bm25s): the baseline every dense retriever has to beat.

Configured as the bm25s BEIR benchmark: Lucene's BM25 variant, k1=1.5, b=0.75, English stopwords and the
Snowball English stemmer (PyStemmer), over lower-cased tokens of two or more word characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import Stemmer

from embedlab.errors import EmbedlabError
from embedlab.similarity import Hit, _top_k

METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
# Queries scored per block: bounds the (queries x corpus) score matrix held at once to about 64M floats.
SCORE_BLOCK_CELLS = 1 << 26


@dataclass(frozen=True)
class BM25Config:
    """bm25s settings: the scoring variant (one of METHODS), k1, b, and the stopword and stemmer languages."""

    method: str = "lucene"
    k1: float = 1.5
    b: float = 0.75
    stopwords: str = "en"
    stemmer: str | None = "english"  # a PyStemmer (Snowball) language; None indexes unstemmed tokens

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise EmbedlabError(f"unknown BM25 method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.stemmer is not None and self.stemmer not in Stemmer.algorithms():
            raise EmbedlabError(f"no stemmer for {self.stemmer!r}; PyStemmer knows {', '.join(Stemmer.algorithms())}")
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise EmbedlabError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={self.k1}, b={self.b}")


class BM25Index:
    """A bm25s index over a list of texts; search returns corpus row indices like semantic_search."""

    def __init__(self, retriever: bm25s.BM25, config: BM25Config, size: int) -> None:
        self._retriever = retriever
        self._stemmer = Stemmer.Stemmer(config.stemmer) if config.stemmer else None
        self.config = config
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str], config: BM25Config = BM25Config()) -> BM25Index:
        """Tokenize and index `texts`; a text with no indexable token is kept and scores 0 for every query."""
        if not texts:
            raise EmbedlabError("cannot build a BM25 index over an empty corpus")
        index = cls(bm25s.BM25(method=config.method, k1=config.k1, b=config.b), config, len(texts))
        tokens = index._tokenize(texts, return_ids=True)
        if not tokens.vocab:
            raise EmbedlabError("no document has a term BM25 can index: every text is empty or all stopwords")
        index._retriever.index(tokens, show_progress=False)
        return index

    def search(self, queries: Sequence[str], top_k: int = 10) -> list[list[Hit]]:
        """The top_k corpus rows per query by BM25 score, best first, ties going to the lower row.

        Query terms absent from the corpus are ignored; a query left with none scores every row 0.
        """
        if top_k < 1:
            raise EmbedlabError(f"top_k must be >= 1, got {top_k}")
        block = max(1, SCORE_BLOCK_CELLS // self.size)
        hits: list[list[Hit]] = []
        for start in range(0, len(queries), block):
            scores = self.scores(queries[start : start + block])
            rows = np.broadcast_to(np.arange(self.size), scores.shape)
            best_rows, best_scores = _top_k(rows, scores, top_k)
            hits.extend([Hit(int(i), float(s)) for i, s in zip(r, v)] for r, v in zip(best_rows, best_scores))
        return hits

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """The BM25 score of every corpus row for each query: float32 (len(queries), size).

        Hard-negative mining needs whole rows (the positive's own score and rank), not just the top hits.
        """
        token_ids = [self._retriever.get_tokens_ids(tokens) for tokens in self._tokenize(queries, return_ids=False)]
        if not token_ids:
            return np.zeros((0, self.size), dtype=np.float32)
        return np.stack([self._scores(ids) for ids in token_ids]).astype(np.float32, copy=False)

    def _scores(self, token_ids: list[int]) -> np.ndarray:
        if not token_ids:
            return np.zeros(self.size, dtype=np.float32)
        return self._retriever.get_scores_from_ids(token_ids)

    def _tokenize(self, texts: Sequence[str], return_ids: bool):
        """Corpus and queries must go through this one analysis, or their terms would not meet."""
        return bm25s.tokenize(
            list(texts),
            stopwords=self.config.stopwords,
            stemmer=self._stemmer,
            return_ids=return_ids,
            show_progress=False,
        )
