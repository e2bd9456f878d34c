"""Index: a corpus chunked, embedded and held in a vector store, searchable dense, by BM25 or both fused.

Saved as generations beside a manifest that names the model, so a save killed midway never damages the last
good copy and a different model is refused instead of searched with.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from embedlab.atomic import atomic_directory, write_json
from embedlab.bm25 import BM25Index
from embedlab.data.corpus import Chunk, ChunkConfig, Document, chunk_document, late_chunk_spans, token_spans
from embedlab.embedder import ChunkEmbedder, Embedder
from embedlab.errors import EmbedlabError
from embedlab.files import sha256_file
from embedlab.index.model_check import check_dense, check_model, model_record
from embedlab.index.registry import create_store, load_store
from embedlab.index.store import Where, matches
from embedlab.instructions import check_task
from embedlab.models.fingerprint import model_fingerprint
from embedlab.models.inputs import as_text_list
from embedlab.rank_fusion import RRF_K, reciprocal_rank_fusion

FORMAT = 1
MANIFEST = "manifest.json"
CHUNKS_FILE = "chunks.jsonl"
STORE_DIR = "store"
MODES = ("dense", "bm25", "hybrid")
# A generation, or the staging or old folder of one that a killed save left (.partial- from earlier versions).
GENERATION = re.compile(r"\.?g\d{6}(\.(saving|old|partial)-\d+)?")
DOC_ID = "doc_id"  # the metadata field every stored chunk gets, so filters can name a document


class Reranker(Protocol):
    """Anything that scores (query, passage) pairs, higher meaning more relevant: a cross-encoder.

    Asked for raw scores (activation=False): a sigmoid saturates at 1.0 in float32 and would tie the best.
    """

    def predict(self, pairs: Sequence[tuple[str, str]], activation: bool = ...) -> Any: ...


@dataclass(frozen=True)
class IndexConfig:
    """The store kind and its options, how documents are chunked, the encode batch size, and reciprocal rank
    fusion's constant `rrf_k` and the candidates (`fusion_depth`) each retriever gives it.

    `task` is the search task an instruction-tuned model's queries are encoded for (embedlab/instructions.py):
    saved in the manifest and used by every search that names no other. Chunks never get it, so a search may
    name another task without rebuilding.
    """

    store: str = "exact"
    store_options: Mapping[str, Any] = field(default_factory=dict)
    chunks: ChunkConfig = field(default_factory=ChunkConfig)
    batch_size: int = 64
    rrf_k: int = RRF_K
    fusion_depth: int = 100
    task: str | None = None
    late_chunking: bool = False

    def __post_init__(self) -> None:
        if self.task is not None:
            check_task(self.task)
        if min(self.batch_size, self.rrf_k, self.fusion_depth) < 1:
            raise EmbedlabError(f"batch_size, rrf_k and fusion_depth must be >= 1, got {self}")


class IndexHit(NamedTuple):
    """One search result: the chunk's document, its number within it, the score and the chunk itself."""

    doc_id: str
    chunk_id: int
    score: float
    text: str
    title: str
    start: int
    end: int
    metadata: dict


class Index:
    """Chunks of documents with their vectors in a store; add, delete, search, save and load."""

    def __init__(
        self, encoder: Embedder, config: IndexConfig = IndexConfig(), store: Any = None, model_name: str | None = None
    ) -> None:
        """`model_name` is what `load` reloads the model by (default: the encoder's name)."""
        self.encoder = check_dense(encoder)
        self.model_name = model_name or encoder.name
        self.config = config
        self.store = store if store is not None else create_store(config.store, encoder.dim, **config.store_options)
        self.chunks: dict[str, Chunk] = {}
        self._doc_chunks: dict[str, list[str]] = {}
        self._bm25: tuple[BM25Index, list[str]] | None = None
        self._fingerprint: str | None = None

    @classmethod
    def build(
        cls, encoder: Embedder, documents: Iterable[Document], config: IndexConfig = IndexConfig(),
        model_name: str | None = None,
    ) -> Index:
        """Chunk, embed and store `documents`; `model_name` as in the constructor."""
        index = cls(encoder, config, model_name=model_name)
        if index.add(documents) == 0:
            raise EmbedlabError("no documents to index")
        return index

    def __len__(self) -> int:
        """The number of chunks."""
        return len(self.chunks)

    @property
    def documents(self) -> int:
        return len(self._doc_chunks)

    # ---- changing ------------------------------------------------------------------------------

    def add(self, documents: Iterable[Document]) -> int:
        """Add documents (a document whose id is indexed already replaces it); only their chunks are encoded.
        Returns the number of documents added."""
        documents = _checked_documents(documents)
        if not documents:
            return 0
        spans = token_spans(self.encoder.tokenizer)
        per_document = [chunk_document(doc, spans, self.config.chunks) for doc in documents]
        chunks = [chunk for doc_chunks in per_document for chunk in doc_chunks]
        if self.config.late_chunking:
            vectors = self._late_chunked(documents, per_document)
        else:
            vectors = self.encoder.encode_documents(
                [chunk.encoded_text() for chunk in chunks], batch_size=self.config.batch_size, normalize=True
            )
        self.delete([doc.id for doc in documents if doc.id in self._doc_chunks])
        self.store.upsert([c.id for c in chunks], vectors, [_metadata(c) for c in chunks])
        for chunk in chunks:
            self.chunks[chunk.id] = chunk
            self._doc_chunks.setdefault(chunk.doc_id, []).append(chunk.id)
        self._bm25 = None
        return len(documents)

    def _late_chunked(self, documents: list[Document], per_document: list[list[Chunk]]) -> np.ndarray:
        if not isinstance(self.encoder, ChunkEmbedder):
            raise EmbedlabError(f"late chunking needs a transformer encoder; {self.encoder.name} has no token states")
        texts, spans = zip(*(late_chunk_spans(doc, chunks) for doc, chunks in zip(documents, per_document)))
        vectors = self.encoder.encode_chunks(texts, spans, batch_size=self.config.batch_size, normalize=True)
        return np.concatenate(vectors)

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Remove documents by id with all their chunks; returns how many documents were indexed."""
        present = [doc_id for doc_id in dict.fromkeys(doc_ids) if doc_id in self._doc_chunks]
        doomed = [chunk_id for doc_id in present for chunk_id in self._doc_chunks.pop(doc_id)]
        if doomed:
            self.store.delete(doomed)
            for chunk_id in doomed:
                del self.chunks[chunk_id]
            self._bm25 = None
        return len(present)

    # ---- searching -----------------------------------------------------------------------------

    def search(
        self,
        queries: str | Sequence[str],
        k: int = 10,
        mode: str = "dense",
        where: Where | None = None,
        reranker: Reranker | None = None,
        rerank_top: int = 100,
        task: str | None = None,
    ) -> list[IndexHit] | list[list[IndexHit]]:
        """The k best chunks per query, best first; one string gives one list.

        mode: "dense" (cosine of embeddings), "bm25", or "hybrid" (both fused by reciprocal rank); `where`
        filters on metadata (including `doc_id`); a reranker rescores the first `rerank_top` and keeps k.
        `task` overrides the index's own (config.task) for this search's queries.
        """
        texts, single = as_text_list(queries)
        if mode not in MODES:
            raise EmbedlabError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
        if k < 1 or rerank_top < 1:
            raise EmbedlabError(f"k and rerank_top must be >= 1, got {k} and {rerank_top}")
        depth = max(k, rerank_top) if reranker is not None else k
        if not texts or not self.chunks:
            ranked: list[list[tuple[str, float]]] = [[] for _ in texts]
        elif mode == "dense":
            ranked = self._dense(texts, depth, where, task)
        elif mode == "bm25":
            ranked = self._lexical(texts, depth, where)
        else:
            wide = max(depth, self.config.fusion_depth)
            fused = zip(self._dense(texts, wide, where, task), self._lexical(texts, wide, where))
            ranked = [
                reciprocal_rank_fusion([[i for i, _ in dense], [i for i, _ in lexical]], self.config.rrf_k)[:depth]
                for dense, lexical in fused
            ]
        if reranker is not None:
            ranked = [self._rerank(text, candidates, reranker) for text, candidates in zip(texts, ranked)]
        hits = [[self._hit(chunk_id, score) for chunk_id, score in per_query[:k]] for per_query in ranked]
        return hits[0] if single else hits

    def _dense(self, texts: list[str], k: int, where: Where | None, task: str | None) -> list[list[tuple[str, float]]]:
        task = self.config.task if task is None else task
        vectors = self.encoder.encode_queries(texts, task=task, batch_size=self.config.batch_size, normalize=True)
        return [[(hit.id, hit.score) for hit in hits] for hits in self.store.search(vectors, k, where)]

    def _lexical(self, texts: list[str], k: int, where: Where | None) -> list[list[tuple[str, float]]]:
        if self._bm25 is None:
            ids = list(self.chunks)
            self._bm25 = BM25Index.build([self.chunks[i].encoded_text() for i in ids]), ids
        bm25, ids = self._bm25
        # A filter is applied after ranking, so every row is ranked to be sure k matching ones come back.
        results = bm25.search(texts, top_k=bm25.size if where else k)
        ranked = []
        for hits in results:
            rows = [(ids[hit.corpus_id], hit.score) for hit in hits]
            if where:
                rows = [row for row in rows if matches(_metadata(self.chunks[row[0]]), where)]
            ranked.append(rows[:k])
        return ranked

    def _rerank(self, query: str, candidates: list[tuple[str, float]], reranker: Reranker) -> list[tuple[str, float]]:
        if not candidates:
            return []
        pairs = [(query, self.chunks[i].encoded_text()) for i, _ in candidates]
        scores = np.asarray(reranker.predict(pairs, activation=False), dtype=float)
        order = np.argsort(-scores, kind="stable")
        return [(candidates[i][0], float(scores[i])) for i in order]

    def _hit(self, chunk_id: str, score: float) -> IndexHit:
        c = self.chunks[chunk_id]
        return IndexHit(c.doc_id, c.number, score, c.text, c.title, c.start, c.end, dict(c.metadata))

    # ---- persistence ---------------------------------------------------------------------------

    def info(self) -> dict:
        """What the manifest records: the model, the store, the chunking and the counts."""
        return {
            "format": FORMAT,
            "model": model_record(self.encoder, self.model_name, self.fingerprint),
            "store": self.store.kind,
            # A token is a secret and a workdir belongs to this process: neither is saved.
            "store_options": {k: v for k, v in self.config.store_options.items() if k not in ("token", "workdir")},
            "chunks": asdict(self.config.chunks),
            "batch_size": self.config.batch_size,
            "rrf_k": self.config.rrf_k,
            "fusion_depth": self.config.fusion_depth,
            "task": self.config.task,
            "late_chunking": self.config.late_chunking,
            "counts": {"documents": self.documents, "chunks": len(self)},
        }

    @property
    def fingerprint(self) -> str | None:
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.encoder)
        return self._fingerprint

    def save(self, directory: str | os.PathLike) -> Path:
        """Write a new generation beside the current one, then switch the manifest to it in one rename.

        Until that rename the old manifest and generation stay as they were, so a crash at any moment leaves
        an index that loads; older generations are removed afterwards.
        """
        directory = Path(directory).expanduser()
        if directory.exists() and not (
            directory.is_dir() and (not any(directory.iterdir()) or (directory / MANIFEST).exists())
        ):
            raise EmbedlabError(f"{directory} exists and is not an index directory; refusing to write into it")
        directory.mkdir(parents=True, exist_ok=True)
        previous = read_manifest(directory) if (directory / MANIFEST).exists() else None
        number = int(previous["generation"].removeprefix("g")) + 1 if previous else 1
        generation = f"g{number:06d}"
        # A folder of this name can only be left by a save killed before its manifest: atomic_directory replaces it.
        with atomic_directory(directory / generation) as staging:
            with open(staging / CHUNKS_FILE, "w", encoding="utf-8") as handle:
                handle.writelines(
                    json.dumps(asdict(chunk), ensure_ascii=False) + "\n" for chunk in self.chunks.values()
                )
            self.store.save(staging / STORE_DIR)
            files = {
                path.relative_to(staging).as_posix(): sha256_file(path)
                for path in sorted(staging.rglob("*")) if path.is_file()
            }
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        manifest = {**self.info(), "generation": generation, "files": files, "created": created,
                    "embedlab": version("embedlab")}
        write_json(manifest, directory / MANIFEST)
        for stale in directory.iterdir():
            if stale.name != generation and GENERATION.fullmatch(stale.name) and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        return directory

    @classmethod
    def load(
        cls, directory: str | os.PathLike, encoder: Embedder | None = None, verify: bool = True, **store_options: Any
    ) -> Index:
        """Open a saved index with the model it was built with (loaded from the manifest when not given).

        A given encoder whose dimensions or weights differ from the manifest's is refused; with `verify`, every
        file is checked against its recorded sha256 first. `store_options` (e.g. a Milvus token) override
        the saved ones.
        """
        directory = Path(directory).expanduser()
        manifest = read_manifest(directory)
        generation = directory / manifest["generation"]
        if verify:
            verify_files(directory, manifest)
        model = manifest["model"]
        if encoder is None:
            from embedlab.models.loading import load_model

            encoder = load_model(model["name"])
        fingerprint = check_model(encoder, model)
        config = _config(manifest, store_options)
        store = load_store(config.store, generation / STORE_DIR, model["dim"], **config.store_options)
        index = cls(encoder, config, store, model_name=model["name"])
        index._fingerprint = fingerprint
        try:
            lines = (generation / CHUNKS_FILE).read_text(encoding="utf-8").splitlines()
            chunks = [Chunk(**json.loads(line)) for line in lines]
        except (OSError, ValueError, TypeError) as err:
            raise EmbedlabError(f"cannot read {generation / CHUNKS_FILE}: {err}") from None
        for chunk in chunks:
            index.chunks[chunk.id] = chunk
            index._doc_chunks.setdefault(chunk.doc_id, []).append(chunk.id)
        if len(index.store) != len(chunks):
            raise EmbedlabError(f"{directory}: the store holds {len(index.store)} vectors for {len(chunks)} chunks")
        return index


def _config(manifest: Mapping[str, Any], store_options: Mapping[str, Any]) -> IndexConfig:
    return IndexConfig(
        store=manifest["store"],
        store_options={**manifest["store_options"], **store_options},
        chunks=ChunkConfig(**manifest["chunks"]),
        batch_size=manifest["batch_size"],
        rrf_k=manifest["rrf_k"],
        fusion_depth=manifest["fusion_depth"],
        task=manifest.get("task"),  # absent from manifests written before tasks existed
        late_chunking=manifest.get("late_chunking", False),
    )


def read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.is_file():
        raise EmbedlabError(f"{directory} is not an index: no {MANIFEST} (build one with `embedlab index build`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise EmbedlabError(f"cannot read {path}: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise EmbedlabError(f"{path} is not an embedlab index manifest of format {FORMAT}")
    return manifest


def verify_files(directory: Path, manifest: Mapping[str, Any]) -> None:
    """Check every file of the manifest's generation against its recorded sha256."""
    for name, digest in manifest["files"].items():
        path = Path(directory) / manifest["generation"] / name
        if not path.is_file() or sha256_file(path) != digest:
            raise EmbedlabError(f"{path} is missing or corrupt (checksum mismatch): rebuild the index")


def _checked_documents(documents: Iterable[Document]) -> list[Document]:
    if documents is None or isinstance(documents, (str, Document)):
        raise EmbedlabError("documents must be a list of Document")
    documents = list(documents)
    for number, doc in enumerate(documents):
        if not isinstance(doc, Document):
            raise EmbedlabError(f"documents[{number}] is {type(doc).__name__}, not a Document")
        if not isinstance(doc.id, str) or not doc.id:
            raise EmbedlabError(f"documents[{number}] has no id")
        if DOC_ID in doc.metadata:
            raise EmbedlabError(f"document {doc.id!r}: the metadata field {DOC_ID!r} is reserved for the document id")
    repeated = next((doc_id for doc_id, n in Counter(doc.id for doc in documents).items() if n > 1), None)
    if repeated is not None:
        raise EmbedlabError(f"the document id {repeated!r} appears twice")
    return documents


def _metadata(chunk: Chunk) -> dict:
    """What the store holds beside a chunk's vector, and what filters match against."""
    return {**chunk.metadata, DOC_ID: chunk.doc_id}
