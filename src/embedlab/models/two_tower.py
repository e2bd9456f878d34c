"""Two-tower retrieval: separate (untied) query and document encoders, trained together, saved as one model.

Queries and documents differ in length and wording; giving each its own weights lets both specialise.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from embedlab.atomic import atomic_directory, write_json
from embedlab.embedder import DOCUMENT_PROMPT_NAMES, QUERY_PROMPT_NAMES
from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.models.encoder import Encoder
from embedlab.models.router_format import (
    ROUTER_CONFIG,
    ROUTES,
    is_router_dir,
    move_into_route,
    read_routes,
    write_router,
)
from embedlab.models.st_format import layout_of_modules, read_json

MARKER = "two_tower.json"  # embedlab's earlier layout (query/ and document/ directories), still read
TOWERS = ROUTES


def is_two_tower_dir(path: str | os.PathLike) -> bool:
    """A sentence-transformers Router directory or embedlab's earlier two_tower.json layout."""
    return (Path(path) / MARKER).is_file() or is_router_dir(Path(path))


class TwoTowerEncoder(nn.Module):
    """A query Encoder and a document Encoder of the same width, saved as sentence-transformers' Router model.

    `encode` (symmetric tasks such as STS) uses the document tower, as the Router's default route does;
    evaluators call encode_queries/encode_documents (sentence-transformers' encode_query/encode_document).
    """

    def __init__(self, query_encoder: Encoder, document_encoder: Encoder, name: str = "two-tower") -> None:
        super().__init__()
        if query_encoder.dim != document_encoder.dim:
            raise EmbedlabError(f"the towers differ in width: {query_encoder.dim} vs {document_encoder.dim}")
        self.query_encoder = query_encoder
        self.document_encoder = document_encoder
        self.name = name

    @classmethod
    def from_encoder(cls, encoder: Encoder) -> TwoTowerEncoder:
        """Both towers start as copies of one encoder and are free to drift apart in training."""
        return cls(encoder, copy.deepcopy(encoder), name=f"two-tower:{encoder.name}")

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> TwoTowerEncoder:
        """A Router directory (saved here or by sentence-transformers) or embedlab's earlier two_tower.json one."""
        path = Path(path)
        if (path / MARKER).is_file():
            layout = read_json(path / MARKER)
            towers = [Encoder.load(path / layout.get(tower, tower), device=device) for tower in TOWERS]
        elif is_router_dir(path):
            routes = read_routes(path)
            source = path / ROUTER_CONFIG
            towers = [
                Encoder.from_layout(layout_of_modules(routes[route], path, source), str(path), device=device)
                for route in TOWERS
            ]
        else:
            raise ModelLoadError(f"{path} is not a two-tower model (no Router in modules.json, no {MARKER})")
        try:
            return cls(*towers, name=str(path))
        except EmbedlabError as err:
            raise ModelLoadError(f"{path}: {err}") from None

    def save(self, path: str | os.PathLike) -> Path:
        """A sentence-transformers Router directory: SentenceTransformer(path).encode_query / encode_document give
        this model's encode_queries / encode_documents.

        Each tower is saved as a sentence-transformers directory, then its modules move under the route's names
        (query_0_Transformer, query_1_Pooling, ...); the tokenizer is saved in each route, as sentence-transformers
        does. Written beside the target and swapped in whole, so a failed save never leaves one new tower beside
        an old one.
        """
        path = Path(path)
        if path.exists() and any(path.iterdir()) and not is_two_tower_dir(path):
            raise EmbedlabError(f"{path} exists and is not a two-tower model directory; refusing to overwrite it")
        with atomic_directory(path) as staging:
            routes = {}
            for route, encoder in zip(TOWERS, (self.query_encoder, self.document_encoder)):
                routes[route] = move_into_route(encoder.save(staging / f".{route}"), staging, route)
            settings = read_json(staging / ".document" / "config_sentence_transformers.json")
            for route in TOWERS:
                shutil.rmtree(staging / f".{route}")
            write_router(staging, routes)
            write_json(self._sentence_transformers_config(settings), staging / "config_sentence_transformers.json")
        return path

    def _sentence_transformers_config(self, config: dict) -> dict:
        """The document tower's model settings, with prompts under the names sentence-transformers' encode_query
        and encode_document look up first ("query", "document"), so they prepend what our towers prepend."""
        named = set(QUERY_PROMPT_NAMES + DOCUMENT_PROMPT_NAMES)
        prompts = {k: v for tower in (self.query_encoder, self.document_encoder) for k, v in tower.prompts.items()}
        prompts = {k: v for k, v in prompts.items() if k not in named}
        prompts |= {"query": self.query_prompt, "document": self.document_prompt}
        if config.get("default_prompt_name") not in prompts:
            config["default_prompt_name"] = None
        # Only queries take a task: the query tower's template is the model's (embedlab/instructions.py).
        template = self.query_encoder.layout.instruction_template
        return config | {"prompts": prompts} | ({"instruction_template": template} if template else {})

    @property
    def dim(self) -> int:
        return self.document_encoder.dim

    @property
    def device(self) -> torch.device:
        return self.document_encoder.device

    @property
    def prompts(self) -> dict[str, str]:
        return {**self.document_encoder.prompts, **self.query_encoder.prompts}

    @property
    def normalize(self) -> bool:
        return self.document_encoder.normalize

    @property
    def max_seq_length(self) -> int:
        return self.document_encoder.max_seq_length

    @property
    def tokenizer(self):
        """The document tower's tokenizer (both towers start from one model, so they share the vocabulary)."""
        return self.document_encoder.tokenizer

    @property
    def query_prompt(self) -> str:
        return self.query_encoder.query_prompt

    @property
    def document_prompt(self) -> str:
        return self.document_encoder.document_prompt

    def info(self) -> dict:
        return {
            "name": self.name,
            "kind": "two_tower",
            "query": self.query_encoder.info(),
            "document": self.document_encoder.info(),
        }

    def encode(self, texts, **kwargs) -> np.ndarray | Tensor:
        return self.document_encoder.encode(texts, **kwargs)

    def query_prompt_for(self, task: str | None) -> str:
        return self.query_encoder.query_prompt_for(task)

    def encode_queries(self, queries, task: str | None = None, **kwargs) -> np.ndarray | Tensor:
        return self.query_encoder.encode_queries(queries, task=task, **kwargs)

    def encode_documents(self, documents, **kwargs) -> np.ndarray | Tensor:
        return self.document_encoder.encode_documents(documents, **kwargs)

    def encode_chunks(self, documents: Sequence[str], spans: Sequence, **kwargs) -> list[np.ndarray]:
        """Late chunking with the document tower (chunks are documents' parts)."""
        return self.document_encoder.encode_chunks(documents, spans, **kwargs)

    def embed_queries(self, texts: Sequence[str]) -> Tensor:
        return self.query_encoder.embed_queries(texts)

    def embed_documents(self, texts: Sequence[str]) -> Tensor:
        return self.document_encoder.embed_documents(texts)
