"""Approximate search with FAISS: an HNSW graph or an IVF-PQ index over the vectors of an ExactStore.

The ExactStore keeps ids, metadata and full vectors, so deletes can rebuild the index and candidates get exact scores.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import faiss
import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.index.exact import ExactStore
from embedlab.index.store import Scalar, StoreHit, Where, check_queries, load_settings, save_settings

INDEX_FILE = "faiss.index"


@dataclass(frozen=True)
class HnswConfig:
    """An HNSW graph with `m` links per node; ef_* are the beam widths while building and searching."""

    kind: ClassVar[str] = "faiss-hnsw"
    m: int = 32
    # 80, not FAISS examples' 200: at 100k clustered vectors it built 3.3x faster with recall@10 still 1.000
    # (benchmarks in docs/benchmarks/index.md); a saved store keeps the value it was built with.
    ef_construction: int = 80
    ef_search: int = 128
    # The graph stores full vectors, so its scores are exact already; more candidates only widen the search.
    rescore_multiplier: int = 1

    def __post_init__(self) -> None:
        if min(self.m, self.ef_construction, self.ef_search, self.rescore_multiplier) < 1:
            raise EmbedlabError(f"every HNSW setting must be >= 1, got {self}")

    def build(self, vectors: np.ndarray) -> faiss.Index:
        index = faiss.IndexHNSWFlat(vectors.shape[1], self.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        index.add(vectors)
        return index

    def search_parameters(self, k: int) -> faiss.SearchParameters:
        # FAISS returns at most efSearch hits, so the beam is widened for a deeper search.
        return faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))

    def outgrown(self, built_for: int, size: int) -> bool:
        return False  # a graph takes new vectors as well as the first ones


@dataclass(frozen=True)
class IvfPqConfig:
    """IVF lists (nlist, 0: about 4 * sqrt(n)) of product-quantized codes (pq_m, 0: dim / 8 sub-vectors).

    k-means is trained on points_per_centroid sampled vectors per centroid (39 is FAISS's own minimum); a store
    with fewer vectors than that is searched exactly, and the index is retrained once the store doubles.
    """

    kind: ClassVar[str] = "faiss-ivfpq"
    nlist: int = 0
    pq_m: int = 0
    pq_bits: int = 8
    nprobe: int = 16
    rescore_multiplier: int = 4
    points_per_centroid: int = 39
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.pq_bits, self.nprobe, self.rescore_multiplier, self.points_per_centroid) < 1 or min(
            self.nlist, self.pq_m
        ) < 0:
            raise EmbedlabError(f"IVF-PQ settings must be >= 1 (nlist and pq_m >= 0, 0 for automatic), got {self}")

    def build(self, vectors: np.ndarray) -> faiss.Index | None:
        n, dim = vectors.shape
        nlist, pq_m = self.nlist or default_nlist(n), self.pq_m or default_pq_m(dim)
        if dim % pq_m:
            raise EmbedlabError(f"pq_m must divide the dimension {dim}, got {pq_m}")
        needed = self.points_per_centroid * max(nlist, 2**self.pq_bits)
        if n < needed:
            warnings.warn(f"IVF-PQ needs {needed} training vectors, the store has {n}: searching exactly for now",
                          stacklevel=4)
            return None
        index = faiss.index_factory(dim, f"IVF{nlist},PQ{pq_m}x{self.pq_bits}",
                                    faiss.METRIC_INNER_PRODUCT)
        index.do_polysemous_training = False  # on by default, slow, and used only by Hamming-filtered L2 search
        # k-means costs points x centroids per iteration, so it sees a sample of just the points it needs.
        sample = np.sort(np.random.default_rng(self.seed).choice(n, needed, replace=False))
        index.train(np.ascontiguousarray(vectors[sample]))
        index.add(vectors)
        return index

    def search_parameters(self, k: int) -> faiss.SearchParameters:
        return faiss.SearchParametersIVF(nprobe=self.nprobe)

    def outgrown(self, built_for: int, size: int) -> bool:
        # Lists trained for n vectors get long and coarse as n grows, and an exact fallback should retry training.
        return size > 2 * built_for


FaissConfig = HnswConfig | IvfPqConfig
CONFIGS: dict[str, type[FaissConfig]] = {config.kind: config for config in (HnswConfig, IvfPqConfig)}


def default_nlist(n: int) -> int:
    """IVF lists for n vectors: about 4 * sqrt(n), FAISS's rule of thumb."""
    return max(1, round(4 * math.sqrt(n)))


def default_pq_m(dim: int) -> int:
    """Sub-quantizers for dim: dim / 8 (one byte per 8 dimensions), lowered to a divisor of dim."""
    return next(m for m in range(max(1, dim // 8), 0, -1) if dim % m == 0)


class FaissStore:
    """An ExactStore plus a FAISS index over its rows, rebuilt on the next search after rows move or vanish."""

    def __init__(self, dim: int, config: FaissConfig = HnswConfig()) -> None:
        self.exact = ExactStore(dim)
        self.dim = dim
        self.kind = config.kind
        self.config = config
        self._index: faiss.Index | None = None
        # Store size when the index was last built; None: stale, rebuild before the next search.
        self._built_for: int | None = None

    def __len__(self) -> int:
        return len(self.exact)

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[Mapping[str, Scalar]] | None = None
    ) -> None:
        before = len(self.exact)
        self.exact.upsert(ids, vectors, metadata)
        if len(self.exact) != before + len(ids):
            self._stale()  # replaced ids were deleted and appended again, so later rows moved
        elif self._index is not None:
            self._index.add(self.exact.vectors[before:])

    def delete(self, ids: Sequence[str]) -> int:
        removed = self.exact.delete(ids)
        if removed:
            self._stale()
        return removed

    def search(self, queries: np.ndarray, k: int, where: Where | None = None) -> list[list[StoreHit]]:
        queries = check_queries(queries, self.dim, k)
        # No filter: no row mask either, whose two passes over every row cost more than a graph search at 1M rows.
        rows = self.exact.rows_where(where) if where else None
        candidates = None
        if (rows is None or len(rows)) and self._current_index() is not None:
            candidates = self._candidates(queries, k, rows)
        if candidates is None:
            return self.exact.search(queries, k, where)
        return self.exact.rescore(queries, candidates, k)

    def index_bytes(self) -> int:
        """Serialized size of the index (built now if stale), about its memory; the vectors beside it not counted."""
        index = self._current_index()
        return 0 if index is None else int(faiss.serialize_index(index).nbytes)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        self.exact.save(directory)
        save_settings(directory, self.kind, self.config)
        # Built now if stale, so that loading never has to rebuild a large graph.
        index = self._current_index()
        if index is not None:
            faiss.write_index(index, str(directory / INDEX_FILE))

    @classmethod
    def load(cls, directory: Path, dim: int, kind: str, **options: Any) -> FaissStore:
        """Reopen a saved store; options replace saved config fields (search-time ones act at once)."""
        directory = Path(directory)
        store = cls(dim, load_settings(directory, kind, CONFIGS[kind], options))
        store.exact = ExactStore.load(directory, dim)
        if (directory / INDEX_FILE).exists():
            try:
                index = faiss.read_index(str(directory / INDEX_FILE))
            except RuntimeError as err:
                raise EmbedlabError(f"cannot read the FAISS index in {directory}: {str(err).splitlines()[0]}") from None
            if (index.d, index.ntotal) != (dim, len(store.exact)):
                raise EmbedlabError(f"{directory}: FAISS index of {index.ntotal} x {index.d} for {len(store.exact)} "
                                    f"vectors of dim {dim}")
            store._index, store._built_for = index, len(store.exact)
        return store

    def _stale(self) -> None:
        self._index, self._built_for = None, None

    def _current_index(self) -> faiss.Index | None:
        """The index over every stored row, rebuilt if stale; None means search exactly (empty or untrainable)."""
        size = len(self.exact)
        if size and (self._built_for is None or self.config.outgrown(self._built_for, size)):
            self._index, self._built_for = self.config.build(self.exact.vectors), size
        return self._index if size else None

    def _candidates(self, queries: np.ndarray, k: int, rows: np.ndarray | None) -> np.ndarray | None:
        """Candidate rows among `rows` (None: every row; -1 padded), at least k per query, or None when only a full
        scan finds them."""
        size = len(self.exact)
        kept = size if rows is None else len(rows)
        allowed = None
        if rows is not None:
            # One slot past the last row stays False, so FAISS's -1 (no hit) indexes it and is dropped too.
            allowed = np.zeros(size + 1, dtype=bool)
            allowed[rows] = True
        # Enough hits for k * rescore_multiplier to pass if the filter keeps rows evenly; doubled while some query
        # has fewer than k (a selective filter, or IVF lists that hold too few).
        fetch = math.ceil(k * self.config.rescore_multiplier * size / kept)
        while fetch < size:
            found = self._search_index(queries, fetch)
            if allowed is not None:
                found = np.where(allowed[found], found, -1)
            if ((found >= 0).sum(axis=1) >= min(k, kept)).all():
                return found
            fetch *= 2
        return None

    def _search_index(self, queries: np.ndarray, k: int) -> np.ndarray:
        _, found = self._index.search(queries, k, params=self.config.search_parameters(k))
        return found
