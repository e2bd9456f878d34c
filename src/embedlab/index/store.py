"""The one small interface every vector store behind `Index` implements, and the filter they all understand.

Stores hold unit-length float32 vectors under string ids with flat metadata; scores are cosine (= dot).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

import numpy as np

from embedlab.atomic import write_json
from embedlab.errors import EmbedlabError

Scalar = str | int | float | bool
# A filter: field -> value (equality) or field -> list of values (membership); all fields must match.
Where = Mapping[str, Scalar | Sequence[Scalar]]
Config = TypeVar("Config")
# The kind and settings of a store that has some, saved beside its data.
SETTINGS_FILE = "store_settings.json"


class StoreHit(NamedTuple):
    """One result of a store search: the stored id and its cosine score."""

    id: str
    score: float


class VectorStore(Protocol):
    """Upsert, delete and search unit vectors by id; save into a directory and load back from it."""

    kind: str
    dim: int

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[Mapping[str, Scalar]] | None = None
    ) -> None: ...

    def delete(self, ids: Sequence[str]) -> int: ...

    def search(self, queries: np.ndarray, k: int, where: Where | None = None) -> list[list[StoreHit]]: ...

    def __len__(self) -> int: ...

    def save(self, directory: Path) -> None: ...


def matches(metadata: Mapping[str, Any], where: Where | None) -> bool:
    """Whether one row's metadata satisfies a filter (in-process stores use this; Milvus gets an expression)."""
    if not where:
        return True
    for field, wanted in where.items():
        value = metadata.get(field)
        if isinstance(wanted, (list, tuple, set, frozenset)):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def check_vectors(ids: Sequence[str], vectors: np.ndarray, dim: int) -> np.ndarray:
    """Validate an upsert batch and return the vectors as contiguous float32 (n, dim)."""
    if isinstance(ids, str) or not all(isinstance(i, str) and i for i in ids):
        raise EmbedlabError("ids must be a list of non-empty strings")
    if len(set(ids)) != len(ids):
        raise EmbedlabError("ids must be unique within one upsert")
    array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if array.ndim != 2 or array.shape != (len(ids), dim):
        raise EmbedlabError(f"expected vectors of shape ({len(ids)}, {dim}), got {array.shape}")
    if not np.isfinite(array).all():
        raise EmbedlabError("vectors contain NaN or inf")
    return array


def check_queries(queries: np.ndarray, dim: int, k: int) -> np.ndarray:
    """Validate a query batch and return it as float32 (n, dim)."""
    array = np.asarray(queries, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dim:
        raise EmbedlabError(f"queries must have {dim} dimensions, got shape {array.shape}")
    if k < 1:
        raise EmbedlabError(f"k must be >= 1, got {k}")
    return np.ascontiguousarray(array)


def make_config(config_class: type[Config], options: Mapping[str, Any]) -> Config:
    """A store's config dataclass from keyword options, naming the bad option in one line."""
    try:
        return config_class(**options)
    except TypeError as err:
        raise EmbedlabError(f"bad option for {config_class.__name__}: {err}") from None


def save_settings(directory: Path, kind: str, config: Any) -> None:
    """Write a store's kind and config dataclass into its save directory."""
    write_json({"kind": kind, "config": dataclasses.asdict(config)}, Path(directory) / SETTINGS_FILE)


def load_settings(directory: Path, kind: str, config_class: type[Config], overrides: Mapping[str, Any]) -> Config:
    """The config that save_settings wrote, with `overrides` (options given to load) replacing saved fields."""
    path = Path(directory) / SETTINGS_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise EmbedlabError(f"cannot read the store settings {path}: {err}") from None
    if saved.get("kind") != kind:
        raise EmbedlabError(f"{directory} holds a {saved.get('kind')!r} store, not {kind!r}")
    return make_config(config_class, {**saved["config"], **overrides})
