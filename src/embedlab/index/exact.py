"""Exact in-process search: every stored vector scored by one chunked matrix product.

The reference the approximate stores are measured against, and the right choice up to a few million vectors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from embedlab.atomic import save_array
from embedlab.errors import EmbedlabError
from embedlab.index.store import Scalar, StoreHit, Where, check_queries, check_vectors, matches
from embedlab.similarity import semantic_search

VECTORS_FILE = "vectors.npy"
ROWS_FILE = "rows.jsonl"


class ExactStore:
    """Vectors in one float32 matrix, ids and metadata beside it; search is brute force, ties to the older row."""

    kind = "exact"

    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise EmbedlabError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self.vectors = np.empty((0, dim), dtype=np.float32)
        self.ids: list[str] = []
        self.metadata: list[dict] = []
        self._row: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[Mapping[str, Scalar]] | None = None
    ) -> None:
        vectors = check_vectors(ids, vectors, self.dim)
        metadata = [dict(m) for m in metadata] if metadata is not None else [{} for _ in ids]
        if len(metadata) != len(ids):
            raise EmbedlabError(f"{len(ids)} ids but {len(metadata)} metadata rows")
        self.delete([i for i in ids if i in self._row])
        self._row.update({i: len(self.ids) + n for n, i in enumerate(ids)})
        self.ids.extend(ids)
        self.metadata.extend(metadata)
        self.vectors = np.concatenate([self.vectors, vectors])

    def delete(self, ids: Sequence[str]) -> int:
        doomed = {self._row[i] for i in ids if i in self._row}
        if not doomed:
            return 0
        keep = np.array([row not in doomed for row in range(len(self.ids))], dtype=bool)
        self.vectors = self.vectors[keep]
        self.ids = [i for i, kept in zip(self.ids, keep) if kept]
        self.metadata = [m for m, kept in zip(self.metadata, keep) if kept]
        self._row = {i: row for row, i in enumerate(self.ids)}
        return len(doomed)

    def search(self, queries: np.ndarray, k: int, where: Where | None = None) -> list[list[StoreHit]]:
        queries = check_queries(queries, self.dim, k)
        rows = self.rows_where(where)
        if len(rows) == 0:
            return [[] for _ in queries]
        candidates = self.vectors if len(rows) == len(self.ids) else self.vectors[rows]
        hits = semantic_search(queries, candidates, top_k=k, score="dot")
        return [[StoreHit(self.ids[rows[h.corpus_id]], h.score) for h in per_query] for per_query in hits]

    def rows_where(self, where: Where | None) -> np.ndarray:
        """The row numbers (ascending) whose metadata matches the filter; every row when there is none."""
        if not where:
            return np.arange(len(self.ids))
        return np.array([row for row, meta in enumerate(self.metadata) if matches(meta, where)], dtype=np.int64)

    def rescore(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> list[list[StoreHit]]:
        """The k best of each query's candidate rows (an (n, c) array, -1 for none) by exact score.

        Approximate stores find candidates; this gives them exact scores and ExactStore's tie order (older row first).
        """
        hits = []
        for query, rows in zip(queries, candidates):
            rows = np.unique(rows[rows >= 0])
            scores = self.vectors[rows] @ query
            best = np.argsort(-scores, kind="stable")[:k]
            hits.append([StoreHit(self.ids[row], float(score)) for row, score in zip(rows[best], scores[best])])
        return hits

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        # Written beside and renamed over the old file, which a memory-mapped store may still be reading.
        save_array(self.vectors, directory / VECTORS_FILE)
        with open(directory / ROWS_FILE, "w", encoding="utf-8") as handle:
            handle.writelines(
                json.dumps({"id": i, "metadata": meta}, ensure_ascii=False) + "\n"
                for i, meta in zip(self.ids, self.metadata)
            )

    @classmethod
    def load(cls, directory: Path, dim: int, mmap: bool = False) -> ExactStore:
        """Reopen a saved store; with mmap the vectors stay on disk (read-only) until a change copies them."""
        directory = Path(directory)
        try:
            vectors = np.load(directory / VECTORS_FILE, mmap_mode="r" if mmap else None, allow_pickle=False)
            rows = [json.loads(line) for line in (directory / ROWS_FILE).read_text(encoding="utf-8").splitlines()]
        except (OSError, ValueError) as err:
            raise EmbedlabError(f"cannot read the exact store in {directory}: {err}") from None
        if vectors.shape != (len(rows), dim):
            raise EmbedlabError(
                f"{directory}: {len(rows)} rows but vectors of shape {vectors.shape} (expected dim {dim})"
            )
        store = cls(dim)
        store.vectors = vectors.astype(np.float32, copy=False)
        store.ids = [r["id"] for r in rows]
        store.metadata = [r["metadata"] for r in rows]
        store._row = {i: row for row, i in enumerate(store.ids)}
        return store
