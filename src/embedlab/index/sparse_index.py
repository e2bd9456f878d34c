"""SparseIndex: an inverted index of learned-sparse (SPLADE) rows, searched exactly, alone or fused with BM25.

The documents' chunks are rows of one scipy.sparse CSR matrix (chunks x vocabulary); a query's scores are its row
times the matrix transposed, which visits only the documents sharing a term with it: an inverted index. It
mirrors index.Index (chunking, IndexHit results, one directory with a manifest that names the model) for a model
whose vectors are sparse; either refuses the other's kind of model in one line (embedder.representation).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from embedlab.atomic import atomic_directory, write_json
from embedlab.bm25 import BM25Index
from embedlab.data.corpus import Chunk, ChunkConfig, Document, chunk_document, token_spans
from embedlab.embedder import SparseEmbedder, representation
from embedlab.errors import EmbedlabError
from embedlab.files import sha256_file
from embedlab.index.index import CHUNKS_FILE, MANIFEST, IndexHit, _checked_documents
from embedlab.models.fingerprint import model_fingerprint
from embedlab.models.inputs import as_text_list
from embedlab.rank_fusion import RRF_K, reciprocal_rank_fusion
from embedlab.similarity import Hit

SPARSE_FORMAT = "sparse-1"
MATRIX_FILE = "documents.npz"
SPARSE_MODES = ("sparse", "bm25", "hybrid")
QUERY_BLOCK = 256  # queries scored at once: their dense (queries x chunks) score block stays small
# Above this many active terms per document row (an untrained or barely trained SPLADE head is nearly dense),
# a sparse x sparse product costs more than dense matrix products over blocks of documents.
DENSE_ROW_TERMS = 1000
DOCUMENT_BLOCK = 2048  # document rows made dense at once on that path


@dataclass(frozen=True)
class SparseIndexConfig:
    """How documents are chunked, the encode batch size, and reciprocal rank fusion's constant and depth."""

    chunks: ChunkConfig = field(default_factory=ChunkConfig)
    batch_size: int = 32
    rrf_k: int = RRF_K
    fusion_depth: int = 100

    def __post_init__(self) -> None:
        if min(self.batch_size, self.rrf_k, self.fusion_depth) < 1:
            raise EmbedlabError(f"batch_size, rrf_k and fusion_depth must be >= 1, got {self}")


def check_sparse_model(model: object) -> SparseEmbedder:
    """The model, if its vectors are sparse; a one-line refusal of a dense or multi-vector one."""
    kind = representation(model)
    if kind != "sparse":
        raise EmbedlabError(
            f"{getattr(model, 'name', model)!r} is a {kind} model; a sparse index holds SPLADE rows "
            "(use embedlab.index.index.Index for dense vectors)"
        )
    return model


def sparse_top_k(queries: sparse.csr_matrix, documents: sparse.csr_matrix, k: int) -> list[list[Hit]]:
    """The k documents with the largest dot product per query row, best first (exact; ties by row order)."""
    documents = sparse.csr_matrix(documents)
    dense_rows = documents.nnz > DENSE_ROW_TERMS * documents.shape[0]
    documents_t = None if dense_rows else sparse.csr_matrix(documents.T)
    results: list[list[Hit]] = []
    k = min(k, documents.shape[0])
    for first in range(0, queries.shape[0], QUERY_BLOCK):
        block = queries[first : first + QUERY_BLOCK]
        scores = _dense_scores(block, documents) if dense_rows else (block @ documents_t).toarray()
        for row in scores:
            # Every row scoring at least the k-th best: ties at the cut then go to the earlier rows, as a stable sort.
            threshold = np.partition(row, len(row) - k)[len(row) - k]
            top = np.flatnonzero(row >= threshold)
            top = top[np.lexsort((top, -row[top]))][:k]
            results.append([Hit(int(i), float(row[i])) for i in top])
    return results


def _dense_scores(queries: sparse.csr_matrix, documents: sparse.csr_matrix) -> np.ndarray:
    """queries x documents^T through dense blocks: BLAS on all cores, where scipy's sparse products use one."""
    dense_queries = queries.toarray().T
    blocks = [documents[first : first + DOCUMENT_BLOCK].toarray() @ dense_queries
              for first in range(0, documents.shape[0], DOCUMENT_BLOCK)]  # fmt: skip
    return np.concatenate(blocks).T


class SparseIndex:
    """Chunks of documents with their sparse rows; add, search (sparse, bm25, hybrid), save and load."""

    def __init__(self, model: SparseEmbedder, config: SparseIndexConfig = SparseIndexConfig(),
                 model_name: str | None = None) -> None:  # fmt: skip
        self.model = check_sparse_model(model)
        self.model_name = model_name or model.name
        self.config = config
        self.chunks: list[Chunk] = []
        self.matrix = sparse.csr_matrix((0, model.vocab_size), dtype=np.float32)
        self._bm25: BM25Index | None = None

    @classmethod
    def build(
        cls, model: SparseEmbedder, documents: Iterable[Document], config: SparseIndexConfig = SparseIndexConfig(),
        model_name: str | None = None,
    ) -> SparseIndex:
        """Chunk, encode and index `documents`."""
        index = cls(model, config, model_name)
        if index.add(documents) == 0:
            raise EmbedlabError("no documents to index")
        return index

    def __len__(self) -> int:
        """The number of chunks."""
        return len(self.chunks)

    @property
    def documents(self) -> int:
        return len({chunk.doc_id for chunk in self.chunks})

    def add(self, documents: Iterable[Document]) -> int:
        """Chunk and encode documents; one with an id already present replaces it. Returns how many were given."""
        documents = _checked_documents(documents)
        if not documents:
            return 0
        spans = token_spans(self.model.tokenizer)
        new = [chunk for doc in documents for chunk in chunk_document(doc, spans, self.config.chunks)]
        rows = self.model.encode_documents([c.encoded_text() for c in new], batch_size=self.config.batch_size)
        replaced = {doc.id for doc in documents}
        keep = [i for i, chunk in enumerate(self.chunks) if chunk.doc_id not in replaced]
        self.chunks = [self.chunks[i] for i in keep] + new
        self.matrix = sparse.vstack([self.matrix[keep], rows], format="csr", dtype=np.float32)
        self._bm25 = None
        return len(documents)

    def search(
        self, queries: str | Sequence[str], k: int = 10, mode: str = "sparse"
    ) -> list[IndexHit] | list[list[IndexHit]]:
        """The k best chunks per query, best first; one string gives one list. mode: "sparse" (dot products of
        the model's rows), "bm25", or "hybrid" (both fused by reciprocal rank)."""
        texts, single = as_text_list(queries)
        if mode not in SPARSE_MODES:
            raise EmbedlabError(f"unknown search mode {mode!r}; a sparse index searches {', '.join(SPARSE_MODES)}")
        if k < 1:
            raise EmbedlabError(f"k must be >= 1, got {k}")
        if not texts or not self.chunks:
            ranked: list[list[Hit]] = [[] for _ in texts]
        elif mode == "sparse":
            ranked = self._sparse(texts, k)
        elif mode == "bm25":
            ranked = self._lexical(texts, k)
        else:
            wide = max(k, self.config.fusion_depth)
            ranked = []
            for learned, lexical in zip(self._sparse(texts, wide), self._lexical(texts, wide)):
                fused = reciprocal_rank_fusion([[h.corpus_id for h in learned], [h.corpus_id for h in lexical]],
                                               self.config.rrf_k)  # fmt: skip
                ranked.append([Hit(int(i), score) for i, score in fused[:k]])
        hits = [[self._hit(hit) for hit in per_query[:k]] for per_query in ranked]
        return hits[0] if single else hits

    def _sparse(self, texts: list[str], k: int) -> list[list[Hit]]:
        return sparse_top_k(self.model.encode_queries(texts, batch_size=self.config.batch_size), self.matrix, k)

    def _lexical(self, texts: list[str], k: int) -> list[list[Hit]]:
        if self._bm25 is None:
            self._bm25 = BM25Index.build([chunk.encoded_text() for chunk in self.chunks])
        return self._bm25.search(texts, top_k=k)

    def _hit(self, hit: Hit) -> IndexHit:
        c = self.chunks[hit.corpus_id]
        return IndexHit(c.doc_id, c.number, hit.score, c.text, c.title, c.start, c.end, dict(c.metadata))

    # ---- persistence ---------------------------------------------------------------------------

    def info(self) -> dict:
        """What the manifest records: the model, the chunking, the counts and the stored terms."""
        name = self.model_name
        if name and Path(name).expanduser().exists():
            name = str(Path(name).expanduser().resolve())
        return {
            "format": SPARSE_FORMAT,
            "model": {
                "name": name, "vocab_size": int(self.model.vocab_size), "fingerprint": model_fingerprint(self.model)
            },
            "chunks": asdict(self.config.chunks),
            "batch_size": self.config.batch_size,
            "rrf_k": self.config.rrf_k,
            "fusion_depth": self.config.fusion_depth,
            "counts": {"documents": self.documents, "chunks": len(self), "terms": int(self.matrix.nnz)},
        }

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the index directory whole (the old copy is replaced by renames only once the new one is complete)."""
        directory = Path(directory).expanduser()
        if directory.exists() and not (
            directory.is_dir() and (not any(directory.iterdir()) or (directory / MANIFEST).exists())
        ):
            raise EmbedlabError(f"{directory} exists and is not an index directory; refusing to write into it")
        with atomic_directory(directory) as staging:
            with open(staging / CHUNKS_FILE, "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(asdict(chunk), ensure_ascii=False) + "\n" for chunk in self.chunks)
            sparse.save_npz(staging / MATRIX_FILE, self.matrix)
            files = {name: sha256_file(staging / name) for name in (CHUNKS_FILE, MATRIX_FILE)}
            created = datetime.now(timezone.utc).isoformat(timespec="seconds")
            manifest = {**self.info(), "files": files, "created": created, "embedlab": version("embedlab")}
            write_json(manifest, staging / MANIFEST)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, model: SparseEmbedder | None = None) -> SparseIndex:
        """Open a saved sparse index with the model it was built with (loaded from the manifest when not given);
        another model, or one whose vectors are dense, is refused."""
        directory = Path(directory).expanduser()
        manifest = read_sparse_manifest(directory)
        for name, digest in manifest["files"].items():
            if not (directory / name).is_file() or sha256_file(directory / name) != digest:
                raise EmbedlabError(f"{directory / name} is missing or corrupt (checksum mismatch): rebuild the index")
        record = manifest["model"]
        if model is None:
            from embedlab.models.loading import load_model

            model = load_model(record["name"])
        check_sparse_model(model)
        if record["fingerprint"] is not None and model_fingerprint(model) != record["fingerprint"]:
            raise EmbedlabError(
                f"this index was built with {record['name']!r}; the given model {model.name!r} has other weights "
                "or settings: load it with its own model or rebuild"
            )
        config = SparseIndexConfig(ChunkConfig(**manifest["chunks"]), manifest["batch_size"], manifest["rrf_k"],
                                   manifest["fusion_depth"])  # fmt: skip
        index = cls(model, config, record["name"])
        lines = (directory / CHUNKS_FILE).read_text(encoding="utf-8").splitlines()
        index.chunks = [Chunk(**json.loads(line)) for line in lines]
        index.matrix = sparse.load_npz(directory / MATRIX_FILE).tocsr().astype(np.float32)
        if index.matrix.shape != (len(index.chunks), model.vocab_size):
            raise EmbedlabError(f"{directory}: {index.matrix.shape[0]} rows for {len(index.chunks)} chunks")
        return index


def read_sparse_manifest(directory: Path) -> dict[str, Any]:
    """A sparse index's manifest; a dense index (or no index) is a one-line error naming what it is."""
    path = directory / MANIFEST
    if not path.is_file():
        raise EmbedlabError(f"{directory} is not an index: no {MANIFEST} (build one with `embedlab index build`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise EmbedlabError(f"cannot read {path}: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != SPARSE_FORMAT:
        raise EmbedlabError(f"{directory} is not a sparse index (a dense one opens with embedlab.index.index.Index)")
    return manifest


def is_sparse_index(directory: str | os.PathLike) -> bool:
    """Whether a directory holds a sparse index (a cheap look at its manifest's format)."""
    try:
        read_sparse_manifest(Path(directory).expanduser())
    except EmbedlabError:
        return False
    return True
