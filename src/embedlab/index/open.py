"""The index that fits a model's representation: chunks with dense vectors (`Index`), or, for learned-sparse and
late-interaction models, their own index kinds. One place decides, so the CLI, the apps and the benchmarks build
and open every kind the same way, and a model is never paired with an index of another representation."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from embedlab.data.corpus import Document
from embedlab.index.index import Index, IndexConfig

DEFAULT_CONFIG = IndexConfig()


def build_index(model: Any, documents: Iterable[Document], config: IndexConfig = DEFAULT_CONFIG) -> Any:
    """Encode and index `documents` with `model` in the index kind of its representation."""
    return Index.build(model, documents, config)


def load_index(directory: str | os.PathLike, model: Any = None) -> Any:
    """Open a saved index of any kind with the model it was built with (loaded from its manifest when None)."""
    return Index.load(directory, model)
