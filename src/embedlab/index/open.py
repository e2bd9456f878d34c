"""The index that fits a model's representation: chunks with dense vectors (`Index`), an inverted index of
learned-sparse rows (`SparseIndex`) or token vectors ranked by MaxSim (`MultiVectorIndex`). One place decides, so
the CLI, the apps and the benchmarks build and open every kind the same way, and a model is never paired with an
index of another representation."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from embedlab.data.corpus import Document
from embedlab.embedder import representation
from embedlab.errors import EmbedlabError
from embedlab.index.index import Index, IndexConfig
from embedlab.index.multi_vector_index import MultiVectorIndex, MultiVectorIndexConfig, is_multi_vector_index
from embedlab.index.sparse_index import SparseIndex, SparseIndexConfig, is_sparse_index

AnyIndex = Index | SparseIndex | MultiVectorIndex
DEFAULT_CONFIG = IndexConfig()


def build_index(
    model: object, documents: Iterable[Document], config: IndexConfig = DEFAULT_CONFIG, model_name: str | None = None
) -> AnyIndex:
    """Chunk, encode and index `documents` in the index kind of the model's representation.

    Sparse and multi-vector indexes keep their own rows, so of `config` only the chunking and batch size apply;
    a store, late chunking or a task given for them is refused rather than ignored.
    """
    kind = representation(model)
    if kind == "dense":
        return Index.build(model, documents, config, model_name=model_name)
    if config.store != "exact" or config.late_chunking or config.task is not None:
        own = "an inverted index of its rows" if kind == "sparse" else "an index of every token's vector"
        raise EmbedlabError(f"a {kind.replace('_', '-')} model builds {own}: drop the store, late chunking and task")
    if kind == "sparse":
        return SparseIndex.build(model, documents, SparseIndexConfig(config.chunks, config.batch_size), model_name)
    settings = MultiVectorIndexConfig(chunks=config.chunks, batch_size=config.batch_size)
    return MultiVectorIndex.build(model, documents, settings, model_name=model_name)


def load_index(directory: str | os.PathLike, model: object = None) -> AnyIndex:
    """Open a saved index of any kind with the model it was built with (loaded from its manifest when None)."""
    path = Path(directory).expanduser()
    if is_sparse_index(path):
        return SparseIndex.load(path, model)
    if is_multi_vector_index(path):
        return MultiVectorIndex.load(path, model)
    return Index.load(path, model)
