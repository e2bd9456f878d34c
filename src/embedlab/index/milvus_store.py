"""Milvus as a vector store: embedded (milvus-lite, a local database directory) by default, or any server by URI.

The same MilvusClient calls serve both, so what is tested on the embedded database runs against a cluster.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from embedlab.errors import EmbedlabError
from embedlab.extras import require
from embedlab.index.store import Scalar, StoreHit, Where, check_queries, check_vectors, load_settings, save_settings

DB_NAME = "milvus.db"
KIND = "milvus"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED = ("id", "vector")  # the schema's own fields; metadata lives beside them as dynamic fields
# The escapes Milvus's expression parser knows; other characters go into a string literal as they are.
ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class MilvusConfig:
    """Where the collection lives (uri None: embedded), its name and metric, and rows sent per request."""

    uri: str | None = None
    collection: str = "embedlab"
    metric: str = "COSINE"
    batch_size: int = 2_000
    max_id_length: int = 512

    def __post_init__(self) -> None:
        if self.metric not in ("COSINE", "IP") or min(self.batch_size, self.max_id_length) < 1:
            raise EmbedlabError(f"Milvus needs metric COSINE or IP and sizes >= 1, got {self}")


class MilvusStore:
    """One Milvus collection: string primary key `id`, FLOAT_VECTOR `vector`, metadata as dynamic fields.

    Embedded, the database lives in `workdir` (default: a temporary directory removed with the store; one open
    store per workdir), started from a copy of `source` if given; a server is reached by config.uri with an
    optional token, which is never saved.
    """

    kind = KIND

    def __init__(
        self,
        dim: int,
        config: MilvusConfig = MilvusConfig(),
        token: str = "",
        workdir: str | Path | None = None,
        source: Path | None = None,
    ) -> None:
        if dim < 1:
            raise EmbedlabError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self.config = config
        self._token = token
        self._db: Path | None = None
        # Rows written since the last flush: milvus-lite keeps them in a growing segment that every search scans
        # slowly (docs/benchmarks/index_kernels.md), so the first search after writes seals them once. A server's
        # query nodes serve growing segments well and rate-limit flushes.
        self._unflushed = False
        if config.uri is None:
            require("milvus_lite", "the embedded milvus store (no uri)")
            temporary = workdir is None
            workdir = Path(tempfile.mkdtemp(prefix="embedlab-milvus-")) if temporary else Path(workdir)
            workdir.mkdir(parents=True, exist_ok=True)
            self._db = workdir / DB_NAME
            if source is not None:
                if self._db.exists():
                    raise EmbedlabError(f"{workdir} already holds a Milvus database; open copies in empty directories")
                shutil.copytree(source, self._db)
            # Also run at exit or when the store is collected, so no server or temporary directory outlives it.
            self._finalizer = weakref.finalize(self, _close_embedded, self._db, temporary)
        self.client = self._connect()

    def __len__(self) -> int:
        with _milvus_errors():
            rows = self.client.query(self.config.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[Mapping[str, Scalar]] | None = None
    ) -> None:
        vectors = check_vectors(ids, vectors, self.dim)
        metadata = metadata if metadata is not None else [{} for _ in ids]
        if len(metadata) != len(ids):
            raise EmbedlabError(f"{len(ids)} ids but {len(metadata)} metadata rows")
        too_long = next((i for i in ids if len(i.encode()) > self.config.max_id_length), None)
        if too_long is not None:
            raise EmbedlabError(f"id longer than {self.config.max_id_length} bytes: {too_long[:40]!r}...")
        for meta in metadata:
            for field in meta:
                _check_field(field)
        with _milvus_errors():
            for part in _slices(len(ids), self.config.batch_size):
                # Converted batch by batch: as Python lists every float32 costs a pointer and a float object.
                rows = zip(ids[part], vectors[part].tolist(), metadata[part])
                self.client.upsert(self.config.collection, [{**meta, "id": i, "vector": v} for i, v, meta in rows])
        self._unflushed = self._db is not None

    def delete(self, ids: Sequence[str]) -> int:
        removed, unique = 0, list(dict.fromkeys(ids))
        with _milvus_errors():
            for part in _slices(len(unique), self.config.batch_size):
                # Milvus answers a delete with the ids it was given, present or not; the count is asked first.
                found = self.client.query(self.config.collection, ids=unique[part], output_fields=["id"])
                present = [row["id"] for row in found]
                if present:
                    self.client.delete(self.config.collection, ids=present)
                    self._unflushed = self._db is not None
                removed += len(present)
        return removed

    def search(self, queries: np.ndarray, k: int, where: Where | None = None) -> list[list[StoreHit]]:
        queries = check_queries(queries, self.dim, k)
        expression = filter_expression(where)
        hits: list[list[StoreHit]] = []
        with _milvus_errors():
            if self._unflushed:
                self.client.flush(self.config.collection)
                self._unflushed = False
            for part in _slices(len(queries), self.config.batch_size):
                batch = queries[part].tolist()
                results = self.client.search(
                    self.config.collection, data=batch, limit=k, filter=expression, output_fields=["id"]
                )
                hits.extend([StoreHit(hit["id"], float(hit["distance"])) for hit in result] for result in results)
        return hits

    def save(self, directory: Path) -> None:
        """Embedded: a copy of the database (the live one is closed meanwhile); server: where to reconnect."""
        directory = Path(directory)
        save_settings(directory, KIND, self.config)
        if self._db is None:
            return
        with _milvus_errors():
            self.client.flush(self.config.collection)
        # Stopped, so the copy is a settled database; the next connection starts it again.
        self.client.close()
        _stop_embedded(self._db)
        try:
            shutil.copytree(self._db, directory / DB_NAME)
        finally:
            self.client = self._connect()

    @classmethod
    def load(
        cls, directory: Path, dim: int, token: str = "", workdir: str | Path | None = None, **options: Any
    ) -> MilvusStore:
        """Reconnect to a saved store; an embedded database is opened as a copy in `workdir`, never in place."""
        directory = Path(directory)
        config = load_settings(directory, KIND, MilvusConfig, options)
        source = None
        if config.uri is None:
            source = directory / DB_NAME
            if not source.is_dir():
                raise EmbedlabError(f"no Milvus database {source}")
        return cls(dim, config, token=token, workdir=workdir, source=source)

    def close(self) -> None:
        """Disconnect; an embedded database is stopped too, and removed if it lives in a temporary directory."""
        self.client.close()
        if self._db is not None:
            self._finalizer()

    def _connect(self) -> MilvusClient:
        """A client with the collection created, or loaded (an existing one starts released) and checked."""
        name = self.config.collection
        with _milvus_errors():
            client = MilvusClient(str(self._db) if self._db is not None else self.config.uri, token=self._token)
            if not client.has_collection(name):
                client.create_collection(
                    name, dimension=self.dim, metric_type=self.config.metric, auto_id=False, id_type="string",
                    max_length=self.config.max_id_length, enable_dynamic_field=True,
                )
                return client
            client.load_collection(name)
            fields = client.describe_collection(name)["fields"]
        dims = [int(field["params"]["dim"]) for field in fields if field["name"] == "vector"]
        if dims != [self.dim]:
            raise EmbedlabError(f"Milvus collection {name!r} has vector dims {dims}, not {self.dim}")
        return client


def filter_expression(where: Where | None) -> str:
    """A Milvus boolean expression for a filter: `field == value`, `field in [...]`, joined by `and`."""
    clauses = []
    for field, wanted in (where or {}).items():
        _check_field(field)
        if not isinstance(wanted, (list, tuple, set, frozenset)):
            clauses.append(f"{field} == {_literal(wanted)}")
            continue
        # Milvus lists hold one type, so mixed values become one `in` per type, any of which may match.
        by_type: dict[type, list[str]] = {}
        for value in wanted:
            group = bool if isinstance(value, bool) else str if isinstance(value, str) else float
            by_type.setdefault(group, []).append(_literal(value))
        alternatives = [f"{field} in [{', '.join(values)}]" for values in by_type.values()] or [f"{field} in []"]
        clauses.append(alternatives[0] if len(alternatives) == 1 else f"({' or '.join(alternatives)})")
    return " and ".join(clauses)


def _literal(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + "".join(ESCAPES.get(char, char) for char in value) + '"'
    if isinstance(value, (int, float)) and math.isfinite(value):
        return repr(value)
    raise EmbedlabError(f"filter values must be strings, booleans or finite numbers, got {value!r}")


def _check_field(field: Any) -> None:
    if not isinstance(field, str) or not IDENTIFIER.fullmatch(field) or field in RESERVED:
        raise EmbedlabError(f"Milvus metadata fields must be identifiers other than id and vector, got {field!r}")


def _slices(length: int, size: int) -> Iterator[slice]:
    for start in range(0, length, size):
        yield slice(start, start + size)


def _close_embedded(db: Path, remove: bool) -> None:
    _stop_embedded(db)
    if remove:
        shutil.rmtree(db.parent, ignore_errors=True)


def _stop_embedded(db: Path) -> None:
    """Stop milvus-lite's in-process server for this database: closing a client leaves it running, and locked."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(db))


@contextmanager
def _milvus_errors() -> Iterator[None]:
    """Milvus failures as one-line EmbedlabErrors; pymilvus's own error log would repeat them with a traceback."""
    logger = logging.getLogger("pymilvus")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    except MilvusException as err:
        raise EmbedlabError(f"Milvus: {str(err.message).splitlines()[0]}") from None
    finally:
        logger.setLevel(level)
