"""CrossEncoder: one transformer reads query and document together and a linear head scores the pair.

Slower than a bi-encoder (every pair is a forward pass) but more accurate, so it re-ranks a short list.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from embedlab.atomic import atomic_directory, write_json
from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.models.devices import select_device
from embedlab.models.encoder import Encoder
from embedlab.models.model_files import first_line
from embedlab.models.st_format import is_sentence_transformers_dir, read_json
from embedlab.models.token_batches import length_sorted_batches

MARKER = "cross_encoder.json"
HEAD_FILE = "head.safetensors"


class RerankHit(NamedTuple):
    """One re-ranked document: its position in the input list, its score (0-1) and its text."""

    corpus_id: int
    score: float
    text: str


def is_cross_encoder_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / MARKER).is_file()


class CrossEncoder(nn.Module):
    """A transformer over "[CLS] first [SEP] second [SEP]", pooled, then Linear(hidden, 1): one logit per pair.

    Built from any encoder's weights (`from_encoder("minilm")`); the head starts untrained, so train it
    (`embedlab train` with `architecture: cross_encoder`) before use.
    """

    def __init__(self, encoder: Encoder, head: nn.Linear | None = None, name: str = "") -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head or nn.Linear(encoder.transformer.config.hidden_size, 1)
        self.name = name or f"cross-encoder:{encoder.name}"

    @classmethod
    def from_encoder(
        cls, name_or_path: str | os.PathLike | None = "minilm", pooling: str | None = None,
        max_seq_length: int | None = None, device: str | None = None,
    ) -> CrossEncoder:
        """A fresh head on an encoder's transformer (its pooling unless `pooling` says otherwise)."""
        encoder = Encoder.load(name_or_path, pooling=pooling, max_seq_length=max_seq_length, device=device)
        return cls(encoder.float(), name=f"cross-encoder:{name_or_path}").to(encoder.device)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> CrossEncoder:
        """A directory written by `save` (safetensors only)."""
        path = Path(path)
        if not is_cross_encoder_dir(path):
            raise ModelLoadError(f"{path} is not a cross-encoder directory (no {MARKER})")
        encoder = Encoder.load(path, device="cpu")
        head = nn.Linear(encoder.transformer.config.hidden_size, 1)
        try:
            head.load_state_dict(load_file(path / HEAD_FILE))
        except Exception as err:  # noqa: BLE001 - missing file, wrong shapes, corrupt header
            raise ModelLoadError(f"could not load the scoring head {path / HEAD_FILE}: {first_line(err)}") from None
        model = cls(encoder, head, name=str(read_json(path / MARKER).get("name") or path))
        return model.to(select_device(device)).eval()

    def save(self, path: str | os.PathLike) -> Path:
        """The transformer as a sentence-transformers directory, plus head.safetensors and the marker file.

        Written beside the target and swapped in whole, so a failed save never leaves a transformer without its head.
        """
        path = Path(path).expanduser()
        if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or is_sentence_transformers_dir(path))):
            raise EmbedlabError(f"{path} exists and is not a model directory; refusing to overwrite it")
        with atomic_directory(path) as staging:
            self.encoder.save(staging)
            head = {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
            save_file(head, str(staging / HEAD_FILE))
            write_json({"format": "embedlab.cross_encoder", "name": self.name}, staging / MARKER)
        return path

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    @property
    def max_seq_length(self) -> int:
        return self.encoder.max_seq_length

    def info(self) -> dict:
        return {**self.encoder.info(), "name": self.name, "kind": "cross_encoder"}

    def tokenize_pairs(self, firsts: Sequence[str], seconds: Sequence[str]) -> dict[str, Tensor]:
        """Padded inputs for text pairs; longest-first truncation shortens the longer text of a pair first."""
        features = self.encoder.tokenizer(
            list(firsts), list(seconds), padding=True, truncation="longest_first",
            max_length=self.max_seq_length, return_tensors="pt",
        )
        return {k: v.to(self.device) for k, v in features.items()}

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        """One relevance logit per pair (B,); differentiable."""
        return self.head(self.encoder(features)).squeeze(-1)

    def score(self, firsts: Sequence[str], seconds: Sequence[str]) -> Tensor:
        """Logits of aligned pairs, with gradients in training."""
        return self(self.tokenize_pairs(firsts, seconds))

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, activation: bool = True) -> np.ndarray:
        """Scores of (first, second) pairs: sigmoid probabilities in (0, 1), or raw logits with activation=False."""
        if batch_size < 1:
            raise EmbedlabError(f"batch_size must be at least 1, not {batch_size}")
        pairs = [(str(a), str(b)) for a, b in pairs]
        scores = torch.zeros(len(pairs))
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            # Similar lengths per batch waste less padding, as in Encoder.encode.
            for batch in length_sorted_batches([len(a) + len(b) for a, b in pairs], batch_size):
                scores[batch] = self.score([pairs[i][0] for i in batch], [pairs[i][1] for i in batch]).float().cpu()
        self.train(was_training)
        return (torch.sigmoid(scores) if activation else scores).numpy()

    def rerank(
        self, query: str, documents: Sequence[str], top_k: int | None = None, batch_size: int = 32
    ) -> list[RerankHit]:
        """The documents ordered by score for the query, best first (ties: earlier document first), top_k of them."""
        if top_k is not None and top_k < 1:
            raise EmbedlabError(f"top_k must be at least 1, not {top_k}")
        scores = self.predict([(query, d) for d in documents], batch_size=batch_size)
        order = sorted(range(len(documents)), key=lambda i: (-scores[i], i))[:top_k]
        return [RerankHit(i, float(scores[i]), documents[i]) for i in order]
