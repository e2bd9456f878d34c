"""Which vector stores exist, and how to create or reopen one by its kind name.

`Index` and the CLI pick stores only through this table, so a new backend is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from embedlab.errors import EmbedlabError
from embedlab.index.exact import ExactStore
from embedlab.index.store import VectorStore


def _exact(dim: int, **options: Any) -> VectorStore:
    return ExactStore(dim)


def _load_exact(directory: Path, dim: int, **options: Any) -> VectorStore:
    return ExactStore.load(directory, dim)


CREATE: dict[str, Callable[..., VectorStore]] = {"exact": _exact}
LOAD: dict[str, Callable[..., VectorStore]] = {"exact": _load_exact}


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
