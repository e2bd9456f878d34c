"""Writing files so that a crash or Ctrl-C never leaves a half-written result behind.

Everything embedlab saves goes to a temporary name beside the target and is renamed over it at the end.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging directory beside `path`; on success it replaces `path` by renames only, so a
    complete copy (old or new) exists at every moment; on error the staging directory is removed."""
    target = Path(path)
    staging = target.parent / f".{target.name}.saving-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not target.exists():
        staging.rename(target)
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def write_json(content: dict | list, path: str | os.PathLike) -> Path:
    """Pretty JSON (numpy scalars and paths allowed), written atomically."""
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(content, indent=2, default=_to_builtin) + "\n", encoding="utf-8")
    return Path(path)


def write_text(content: str, path: str | os.PathLike) -> Path:
    with atomic_path(path) as partial:
        partial.write_text(content, encoding="utf-8")
    return Path(path)


def save_array(array: np.ndarray, path: str | os.PathLike) -> Path:
    """np.save, atomically (the name is kept as given: no .npy is appended)."""
    with atomic_path(path) as partial, open(partial, "wb") as handle:
        np.save(handle, array)
    return Path(path)


def _to_builtin(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
