"""ServedModels and build_app: what a server process loads, and the app built around it.

`embedlab serve` calls build_app once; on Ray Serve each replica calls it in its own process, so both load alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from embedlab.server.app import create_app
from embedlab.server.config import ServerConfig


@dataclass(frozen=True)
class ServedModels:
    """The model and its backend, optionally an index (`embedlab index build`) and a cross-encoder directory;
    `sparse` and `multi_vector` name models the playground's late-interaction page explains beside the served one."""

    model: str = "minilm"
    backend: str = "torch"
    threads: int | None = None  # the backend's threads (None: torch's default, usually every core)
    index: Path | None = None
    reranker: Path | None = None
    sparse: str | None = None
    multi_vector: str | None = None


def _lab_model(name: str | None, kind: str, backend: str, threads: int | None) -> Any:
    """The playground's extra model of `kind`, or None; a model of another kind is refused in one line."""
    from embedlab.embedder import representation
    from embedlab.errors import ModelLoadError
    from embedlab.models.loading import load_model

    if name is None:
        return None
    model = load_model(name, backend=backend, threads=threads)
    if representation(model) != kind:
        raise ModelLoadError(f"{name} is a {representation(model).replace('_', '-')} model, not a "
                             f"{kind.replace('_', '-')} one")
    return model


def build_app(models: ServedModels, config: ServerConfig) -> FastAPI:
    """Load `models` and return the server app for them; the served encoder is at `app.state.service.encoder`."""
    from embedlab.index.index import Index
    from embedlab.models.loading import load_model
    from embedlab.models.multi_vector_rerank import load_any_reranker

    encoder = load_model(models.model, backend=models.backend, threads=models.threads)
    # The index is searched with the served encoder; Index.load refuses one other than the model it was built with.
    index = Index.load(models.index, encoder=encoder) if models.index is not None else None
    reranker = load_any_reranker(models.reranker) if models.reranker is not None else None
    sparse = _lab_model(models.sparse, "sparse", models.backend, models.threads)
    multi_vector = _lab_model(models.multi_vector, "multi_vector", models.backend, models.threads)
    return create_app(config, encoder, index=index, reranker=reranker, sparse=sparse, multi_vector=multi_vector)
