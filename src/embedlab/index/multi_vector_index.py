"""MultiVectorIndex: a corpus for late-interaction (ColBERT) search. Every token vector goes into FAISS; a query's
token vectors each fetch their nearest document tokens, whose chunks are the candidates, and exact MaxSim over
the candidates' stored token vectors ranks them (ColBERTv1's two stages, without PLAID's compression).

Saved as one directory swapped in whole: a manifest naming the model, chunks.jsonl, the token vectors and each
chunk's token count. The FAISS index is rebuilt from the vectors on load (a flat index is the vectors anyway).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch

from embedlab.atomic import atomic_directory, write_json
from embedlab.data.corpus import Chunk, ChunkConfig, Document, chunk_document, token_spans
from embedlab.embedder import MultiVectorEmbedder, representation
from embedlab.errors import EmbedlabError
from embedlab.index.index import IndexHit, Reranker, _checked_documents
from embedlab.index.model_check import check_model, model_record
from embedlab.maxsim import maxsim_scores, pad_rows
from embedlab.models.fingerprint import model_fingerprint

MANIFEST = "multi_vector_index.json"
CHUNKS_FILE = "chunks.jsonl"
VECTORS_FILE = "token_vectors.npy"
COUNTS_FILE = "token_counts.npy"
FORMAT = 1


@dataclass(frozen=True)
class MultiVectorIndexConfig:
    """Chunking and encoding as for dense indexes; `candidate_tokens` document tokens fetched per query token;
    `nlist` > 0 clusters the tokens into an IVF index searched over `nprobe` lists (0: exact inner product)."""

    chunks: ChunkConfig = field(default_factory=ChunkConfig)
    batch_size: int = 32
    candidate_tokens: int = 64
    nlist: int = 0
    nprobe: int = 16

    def __post_init__(self) -> None:
        if min(self.batch_size, self.candidate_tokens, self.nprobe) < 1 or self.nlist < 0:
            raise EmbedlabError(f"batch_size, candidate_tokens and nprobe must be >= 1 and nlist >= 0, got {self}")


def is_multi_vector_index(directory: str | os.PathLike) -> bool:
    return (Path(directory).expanduser() / MANIFEST).is_file()


def read_multi_vector_manifest(directory: Path) -> dict:
    """The manifest of a saved multi-vector index: its model record, config and counts."""
    path = Path(directory).expanduser() / MANIFEST
    if not path.is_file():
        raise EmbedlabError(f"{directory} is not a multi-vector index (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise EmbedlabError(f"cannot read {path}: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise EmbedlabError(f"{path} is not a multi-vector index manifest of format {FORMAT}")
    return manifest


class MultiVectorIndex:
    """Chunks with their token vectors; add, search (FAISS candidates, exact MaxSim ranking), save and load."""

    def __init__(self, model: MultiVectorEmbedder, config: MultiVectorIndexConfig = MultiVectorIndexConfig(),
                 model_name: str | None = None) -> None:
        if representation(model) != "multi_vector":
            raise EmbedlabError(
                f"{getattr(model, 'name', model)!r} makes one vector per text: a multi-vector index needs a "
                "late-interaction (ColBERT) model; use embedlab.index.index.Index for dense models"
            )
        self.model = model
        self.config = config
        self.model_name = model_name or model.name
        self.chunks: list[Chunk] = []
        self.rows: list[np.ndarray] = []
        self._faiss: tuple[Any, np.ndarray] | None = None  # (index, chunk of each token), rebuilt after changes

    @classmethod
    def build(cls, model: MultiVectorEmbedder, documents: Iterable[Document],
              config: MultiVectorIndexConfig = MultiVectorIndexConfig(), model_name: str | None = None
              ) -> MultiVectorIndex:
        index = cls(model, config, model_name)
        if index.add(documents) == 0:
            raise EmbedlabError("no documents to index")
        return index

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def documents(self) -> int:
        return len({chunk.doc_id for chunk in self.chunks})

    def add(self, documents: Iterable[Document]) -> int:
        """Add documents (one with an indexed id replaces it); returns how many were added."""
        documents = _checked_documents(documents)  # the dense and sparse indexes' checks: ids, repeats, types
        spans = token_spans(self.model.tokenizer)
        chunks = [chunk for doc in documents for chunk in chunk_document(doc, spans, self.config.chunks)]
        if not chunks:
            return 0
        rows = self.model.encode_documents([c.encoded_text() for c in chunks], batch_size=self.config.batch_size)
        replaced = {doc.id for doc in documents}
        kept = [i for i, chunk in enumerate(self.chunks) if chunk.doc_id not in replaced]
        self.chunks = [self.chunks[i] for i in kept] + chunks
        self.rows = [self.rows[i] for i in kept] + [np.asarray(r, dtype=np.float32) for r in rows]
        self._faiss = None
        return len(documents)

    def search(self, query: str, k: int = 10, reranker: Reranker | None = None, rerank_top: int = 100,
               truncate: bool = False) -> list[IndexHit]:
        """The k best chunks for a query by MaxSim, optionally re-ordered by a reranker over the first
        rerank_top; a query past the model's budget is an error unless truncate."""
        if not isinstance(query, str) or not query.strip():
            raise EmbedlabError("the query must be a non-empty string")
        if k < 1 or rerank_top < 1:
            raise EmbedlabError(f"k and rerank_top must be >= 1, got {k} and {rerank_top}")
        if not self.chunks:
            return []
        query_rows = self.model.encode_queries([query], truncate=truncate)[0]
        ranked = self._maxsim(query_rows, self._candidates(query_rows))[: max(k, rerank_top if reranker else k)]
        if reranker is not None:
            head = ranked[:rerank_top]
            scores = np.asarray(reranker.predict([(query, self.chunks[i].encoded_text()) for i, _ in head],
                                                 activation=False), dtype=float)
            ranked = [(head[i][0], float(scores[i])) for i in np.argsort(-scores, kind="stable")]
        return [self._hit(i, score) for i, score in ranked[:k]]

    def _candidates(self, query_rows: np.ndarray) -> np.ndarray:
        index, token_chunk = self._token_index()
        _, neighbours = index.search(np.ascontiguousarray(query_rows, dtype=np.float32),
                                     min(self.config.candidate_tokens, len(token_chunk)))
        return np.unique(token_chunk[neighbours[neighbours >= 0]])

    def _maxsim(self, query_rows: np.ndarray, candidates: np.ndarray) -> list[tuple[int, float]]:
        """Exact MaxSim of the query against each candidate chunk, best first (ties: lower chunk first)."""
        queries, query_mask = pad_rows([query_rows], query_rows.shape[1])
        documents, _ = pad_rows([self.rows[i] for i in candidates], query_rows.shape[1], repeat=True)
        with torch.inference_mode():
            scores = maxsim_scores(queries, query_mask, documents, None)[0].numpy()
        order = np.lexsort((candidates, -scores))
        return [(int(candidates[i]), float(scores[i])) for i in order]

    def _token_index(self) -> tuple[Any, np.ndarray]:
        if self._faiss is None:
            vectors = np.ascontiguousarray(np.concatenate(self.rows), dtype=np.float32)
            token_chunk = np.repeat(np.arange(len(self.rows)), [len(r) for r in self.rows])
            nlist = min(self.config.nlist, len(vectors) // 39)  # FAISS wants 39 training points per list
            if nlist > 0:
                index = faiss.IndexIVFFlat(faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], nlist,
                                           faiss.METRIC_INNER_PRODUCT)
                index.train(vectors)
                index.nprobe = self.config.nprobe
            else:
                index = faiss.IndexFlatIP(vectors.shape[1])
            index.add(vectors)
            self._faiss = (index, token_chunk)
        return self._faiss

    def _hit(self, i: int, score: float) -> IndexHit:
        c = self.chunks[i]
        return IndexHit(c.doc_id, c.number, score, c.text, c.title, c.start, c.end, dict(c.metadata))

    # ---- persistence ---------------------------------------------------------------------------

    def info(self) -> dict:
        tokens = sum(len(r) for r in self.rows)
        return {"kind": "multi_vector", "documents": self.documents, "chunks": len(self), "tokens": tokens,
                "bytes_per_document": tokens * self.model.dim * 4 / max(self.documents, 1),
                "config": asdict(self.config)}

    def save(self, directory: str | os.PathLike) -> Path:
        target = Path(directory).expanduser()
        if target.exists() and any(target.iterdir()) and not is_multi_vector_index(target):
            raise EmbedlabError(f"{target} exists and is not a multi-vector index; refusing to overwrite it")
        with atomic_directory(target) as staging:
            lines = [json.dumps(asdict(c), ensure_ascii=False) for c in self.chunks]
            (staging / CHUNKS_FILE).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            dim = self.model.dim
            np.save(staging / VECTORS_FILE, np.concatenate(self.rows) if self.rows else np.zeros((0, dim), np.float32))
            np.save(staging / COUNTS_FILE, np.asarray([len(r) for r in self.rows], dtype=np.int64))
            record = model_record(self.model, self.model_name, model_fingerprint(self.model))
            write_json({"format": FORMAT, "model": record, **self.info(), "embedlab": version("embedlab")},
                       staging / MANIFEST)
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike, model: MultiVectorEmbedder | None = None) -> MultiVectorIndex:
        """Open a saved index with its own model (loaded from the manifest when not given; another is refused)."""
        directory = Path(directory).expanduser()
        manifest = read_multi_vector_manifest(directory)
        try:
            config = manifest["config"]
            config = MultiVectorIndexConfig(**{**config, "chunks": ChunkConfig(**config["chunks"])})
            chunks = [Chunk(**json.loads(line)) for line in
                      (directory / CHUNKS_FILE).read_text(encoding="utf-8").splitlines()]
            vectors, counts = np.load(directory / VECTORS_FILE), np.load(directory / COUNTS_FILE)
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise EmbedlabError(f"cannot read the multi-vector index in {directory}: {err}") from None
        if len(counts) != len(chunks) or counts.sum() != len(vectors):
            raise EmbedlabError(f"{directory}: the token vectors do not match the chunks; rebuild the index")
        if model is None:
            from embedlab.models.loading import load_model

            model = load_model(manifest["model"]["name"])
        check_model(model, manifest["model"], kind="multi_vector")
        index = cls(model, config, manifest["model"]["name"])
        index.chunks, index.rows = chunks, list(np.split(vectors, np.cumsum(counts)[:-1])) if len(counts) else []
        return index
