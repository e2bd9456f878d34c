"""Which vector stores exist, and how to create or reopen one by its kind name.

`Index` and the CLI pick stores only through this table, so a new backend is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from embedlab.errors import EmbedlabError
from embedlab.extras import require
from embedlab.index.exact import ExactStore
from embedlab.index.quantized import QuantizedConfig, QuantizedStore
from embedlab.index.store import VectorStore, make_config


def _exact(dim: int, **options: Any) -> VectorStore:
    return ExactStore(dim)


def _load_exact(directory: Path, dim: int, **options: Any) -> VectorStore:
    return ExactStore.load(directory, dim)


# FAISS and pymilvus are the index extra, and take a second or more to import: they load only when such a store is used.
def _faiss(dim: int, kind: str, **options: Any) -> VectorStore:
    require("faiss", f"the {kind} store")
    from embedlab.index.faiss_store import CONFIGS, FaissStore

    return FaissStore(dim, make_config(CONFIGS[kind], options))


def _load_faiss(directory: Path, dim: int, kind: str, **options: Any) -> VectorStore:
    require("faiss", f"the {kind} store")
    from embedlab.index.faiss_store import FaissStore

    return FaissStore.load(directory, dim, kind, **options)


def _milvus(dim: int, token: str = "", workdir: str | Path | None = None, **options: Any) -> VectorStore:
    require("pymilvus", "the milvus store")
    from embedlab.index.milvus_store import MilvusConfig, MilvusStore

    return MilvusStore(dim, make_config(MilvusConfig, options), token=token, workdir=workdir)


def _load_milvus(directory: Path, dim: int, **options: Any) -> VectorStore:
    require("pymilvus", "the milvus store")
    from embedlab.index.milvus_store import MilvusStore

    return MilvusStore.load(directory, dim, **options)


def _require_kernel(kind: str) -> None:
    if kind == "binary":
        require("faiss", "the binary store")  # its Hamming scan is FAISS's


def _quantized(dim: int, kind: str, **options: Any) -> VectorStore:
    _require_kernel(kind)
    return QuantizedStore(dim, kind, make_config(QuantizedConfig, options))


def _load_quantized(directory: Path, dim: int, kind: str, **options: Any) -> VectorStore:
    _require_kernel(kind)
    return QuantizedStore.load(directory, dim, kind, **options)


CREATE: dict[str, Callable[..., VectorStore]] = {
    "exact": _exact,
    "faiss-hnsw": partial(_faiss, kind="faiss-hnsw"),
    "faiss-ivfpq": partial(_faiss, kind="faiss-ivfpq"),
    "milvus": _milvus,
    "int8": partial(_quantized, kind="int8"),
    "binary": partial(_quantized, kind="binary"),
}
LOAD: dict[str, Callable[..., VectorStore]] = {
    "exact": _load_exact,
    "faiss-hnsw": partial(_load_faiss, kind="faiss-hnsw"),
    "faiss-ivfpq": partial(_load_faiss, kind="faiss-ivfpq"),
    "milvus": _load_milvus,
    "int8": partial(_load_quantized, kind="int8"),
    "binary": partial(_load_quantized, kind="binary"),
}


def create_store(kind: str, dim: int, **options: Any) -> VectorStore:
    """A new empty store of this kind; options are the backend's own (e.g. a Milvus URI)."""
    if kind not in CREATE:
        raise EmbedlabError(f"unknown store {kind!r}; choose one of: {', '.join(CREATE)}")
    return CREATE[kind](dim, **options)


def load_store(kind: str, directory: Path, dim: int, **options: Any) -> VectorStore:
    """Reopen a store that `save(directory)` wrote."""
    if kind not in LOAD:
        raise EmbedlabError(f"unknown store {kind!r} in {directory}; choose one of: {', '.join(LOAD)}")
    return LOAD[kind](Path(directory), dim, **options)
