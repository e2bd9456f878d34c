"""Two-tower retrieval: separate (untied) query and document encoders, trained together, saved as one model.

Queries and documents differ in length and wording; giving each its own weights lets both specialise.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from embedlab.atomic import atomic_directory, write_json
from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.models.encoder import Encoder
from embedlab.models.st_format import read_json

MARKER = "two_tower.json"
TOWERS = ("query", "document")


def is_two_tower_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / MARKER).is_file()


class TwoTowerEncoder(nn.Module):
    """A query Encoder and a document Encoder of the same width; each tower is a sentence-transformers directory.

    `encode` (symmetric tasks such as STS) uses the document tower; evaluators call encode_queries/encode_documents.
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
        path = Path(path)
        if not is_two_tower_dir(path):
            raise ModelLoadError(f"{path} is not a two-tower model (no {MARKER})")
        layout = read_json(path / MARKER)
        towers = [Encoder.load(path / layout.get(tower, tower), device=device) for tower in TOWERS]
        return cls(*towers, name=str(path))

    def save(self, path: str | os.PathLike) -> Path:
        """Each tower as a sentence-transformers directory (query/, document/) plus the marker file.

        Written beside the target and swapped in whole, so a failed save never leaves one new tower beside an old one.
        """
        path = Path(path)
        if path.exists() and any(path.iterdir()) and not is_two_tower_dir(path):
            raise EmbedlabError(f"{path} exists and is not a two-tower model directory; refusing to overwrite it")
        with atomic_directory(path) as staging:
            self.query_encoder.save(staging / "query")
            self.document_encoder.save(staging / "document")
            write_json({"format": "embedlab.two_tower", **{tower: tower for tower in TOWERS}}, staging / MARKER)
        return path

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

    def embed_queries(self, texts: Sequence[str]) -> Tensor:
        return self.query_encoder.embed_queries(texts)

    def embed_documents(self, texts: Sequence[str]) -> Tensor:
        return self.document_encoder.embed_documents(texts)
