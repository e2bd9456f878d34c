"""Columnar data files as memory-mapped Arrow tables: Parquet, CSV, Arrow IPC and `datasets.save_to_disk` folders.

A mapped table's pages belong to the page cache, not the process, so a file far larger than memory can be read.
Parquet, CSV and compressed IPC cannot be mapped as they are (their bytes are encoded), so each is converted once,
record batch by record batch, into an uncompressed Arrow file under the cache directory and that file is mapped.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from pyarrow import ipc

from embedlab.atomic import atomic_path
from embedlab.errors import EmbedlabError

ENV_VAR = "EMBEDLAB_ARROW_CACHE"
PARQUET_SUFFIXES = (".parquet", ".pq")
IPC_SUFFIXES = (".arrow", ".feather", ".ipc")
COLUMNAR_SUFFIXES = PARQUET_SUFFIXES + IPC_SUFFIXES + (".csv",)
# Rows per record batch when converting: small enough that conversion memory stays flat.
CONVERT_ROWS = 65_536


def arrow_cache_dir() -> Path:
    """`EMBEDLAB_ARROW_CACHE` if set, else ~/.cache/embedlab/arrow."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "embedlab" / "arrow"


def is_columnar(path: Path) -> bool:
    """A file this module reads, or a folder of them / a `save_to_disk` folder (BEIR folders are not)."""
    if path.is_dir():
        return _is_saved_dataset(path) or bool(_parquet_shards(path))
    return path.suffix.lower() in COLUMNAR_SUFFIXES


def open_table(path: Path) -> pa.Table:
    """The file or folder as one memory-mapped table; any reading failure is one line naming the file."""
    if path.is_dir():
        return _open_directory(path)
    suffix = path.suffix.lower()
    if suffix in IPC_SUFFIXES:
        return _open_ipc(path)
    if suffix in PARQUET_SUFFIXES:
        return _map(_converted(path, "Parquet", lambda: _parquet_batches(path)))
    if suffix == ".csv":
        return _map(_converted(path, "CSV", lambda: _csv_batches(path)))
    raise EmbedlabError(f"{path}: not a columnar file (expected one of {', '.join(COLUMNAR_SUFFIXES)})")


def _open_directory(path: Path) -> pa.Table:
    if (path / "dataset_dict.json").is_file():
        # A DatasetDict: train on its train split, as `load_from_disk(path)["train"]` would.
        if not (path / "train").is_dir():
            splits = sorted(p.name for p in path.iterdir() if p.is_dir())
            raise EmbedlabError(f"{path} holds the splits {', '.join(splits)} but no train; give the split's folder")
        return _open_directory(path / "train")
    if (path / "state.json").is_file():
        return _concat(path, [_open_ipc(path / name) for name in _saved_data_files(path)])
    shards = _parquet_shards(path)
    if not shards:
        raise EmbedlabError(f"{path}: no Parquet files and no `datasets` state.json in this folder")
    return _concat(path, [open_table(shard) for shard in shards])


def _is_saved_dataset(path: Path) -> bool:
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def _parquet_shards(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix.lower() in PARQUET_SUFFIXES)


def _saved_data_files(path: Path) -> list[str]:
    """The `data-*.arrow` files a `save_to_disk` folder's state.json lists, in order."""
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        names = [entry["filename"] for entry in state["_data_files"]]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise EmbedlabError(f"{path / 'state.json'} is not a `datasets` state file: {err}") from None
    if not names:
        raise EmbedlabError(f"{path / 'state.json'} lists no data files")
    return names


def _concat(path: Path, tables: list[pa.Table]) -> pa.Table:
    try:
        return pa.concat_tables(tables)  # chunks are kept as they are: no copy
    except pa.ArrowInvalid as err:
        raise EmbedlabError(f"{path}: its files have different columns: {_first_line(err)}") from None


def _open_ipc(path: Path) -> pa.Table:
    """An Arrow IPC file or stream (`save_to_disk` writes streams), mapped when its buffers are uncompressed."""
    if not path.is_file():
        raise EmbedlabError(f"no data file at {path}")
    try:
        # A compressed batch is decompressed into new memory when read: allocation after the first tells.
        before = pa.total_allocated_bytes()
        stream = _ipc_batches(path)
        first = next(stream, None)
        if first is not None and pa.total_allocated_bytes() > before:
            del first
            return _map(_converted(path, "Arrow", lambda: _ipc_batches(path)))
        if first is None:
            raise EmbedlabError(f"{path} holds no rows")
        return pa.Table.from_batches([first, *stream])
    except (pa.ArrowInvalid, OSError) as err:
        raise EmbedlabError(f"{path} is not a readable Arrow file: {_first_line(err)}") from None


def _converted(path: Path, form: str, batches: Callable[[], Iterator[pa.RecordBatch]]) -> Path:
    """The uncompressed Arrow copy of `path` in the cache, written by streaming `batches()` if not there yet."""
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = arrow_cache_dir() / f"{path.stem}-{key}.arrow"
    if target.is_file():
        return target
    try:
        with atomic_path(target) as partial:
            stream = batches()
            first = next(stream, None)
            if first is None:
                raise EmbedlabError(f"{path} holds no rows")
            with pa.OSFile(str(partial), "wb") as sink, ipc.new_file(sink, first.schema) as writer:
                writer.write_batch(first)
                for batch in stream:
                    writer.write_batch(batch)
        # The allocator keeps freed pages for reuse; conversion is over, so hand them back.
        pa.default_memory_pool().release_unused()
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as err:
        raise EmbedlabError(f"{path} is not a readable {form} file: {_first_line(err)}") from None
    return target


def _map(path: Path) -> pa.Table:
    return ipc.open_file(pa.memory_map(str(path))).read_all()


def _parquet_batches(path: Path) -> Iterator[pa.RecordBatch]:
    # Without pre-buffering the reader holds one column chunk at a time, not whole row groups ahead.
    yield from pq.ParquetFile(str(path), pre_buffer=False).iter_batches(batch_size=CONVERT_ROWS)


def _csv_batches(path: Path) -> Iterator[pa.RecordBatch]:
    yield from pa_csv.open_csv(str(path))


def _ipc_batches(path: Path) -> Iterator[pa.RecordBatch]:
    source = pa.memory_map(str(path))
    try:
        reader = ipc.open_file(source)
    except pa.ArrowInvalid:
        source.seek(0)
        yield from ipc.open_stream(source)
        return
    for index in range(reader.num_record_batches):
        yield reader.get_batch(index)


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
