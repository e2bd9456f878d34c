"""Cross-encoders in embedlab's first format: an Encoder's pooled vector and a Linear(hidden, 1) head.

Directories saved before embedlab wrote sentence-transformers' CrossEncoder format (cross_encoder.json +
head.safetensors beside a bi-encoder directory) still load, score, train and save as they always did.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from embedlab.atomic import atomic_directory, write_json
from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.models.cross_encoder_files import LEGACY_MARKER
from embedlab.models.devices import select_device
from embedlab.models.encoder import Encoder
from embedlab.models.model_files import first_line
from embedlab.models.pair_scorer import PairScorer
from embedlab.models.st_format import is_sentence_transformers_dir, read_json

HEAD_FILE = "head.safetensors"


class LegacyCrossEncoder(PairScorer):
    """A transformer over "[CLS] first [SEP] second [SEP]", pooled, then Linear(hidden, 1): one logit per pair."""

    def __init__(self, encoder: Encoder, head: nn.Linear | None = None, name: str = "") -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head or nn.Linear(encoder.transformer.config.hidden_size, 1)
        self.name = name or f"cross-encoder:{encoder.name}"

    @classmethod
    def load(cls, path: Path, device: str | None = None) -> LegacyCrossEncoder:
        encoder = Encoder.load(path, device="cpu")
        head = nn.Linear(encoder.transformer.config.hidden_size, 1)
        try:
            head.load_state_dict(load_file(path / HEAD_FILE))
        except Exception as err:  # noqa: BLE001 - missing file, wrong shapes, corrupt header
            raise ModelLoadError(f"could not load the scoring head {path / HEAD_FILE}: {first_line(err)}") from None
        model = cls(encoder, head, name=str(read_json(path / LEGACY_MARKER).get("name") or path))
        return model.to(select_device(device)).eval()

    def save(self, path: str | os.PathLike) -> Path:
        """The transformer as a sentence-transformers directory, plus head.safetensors and the marker file."""
        path = Path(path).expanduser()
        if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or is_sentence_transformers_dir(path))):
            raise EmbedlabError(f"{path} exists and is not a model directory; refusing to overwrite it")
        with atomic_directory(path) as staging:
            self.encoder.save(staging)
            head = {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
            save_file(head, str(staging / HEAD_FILE))
            write_json({"format": "embedlab.cross_encoder", "name": self.name}, staging / LEGACY_MARKER)
        return path

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    @property
    def max_seq_length(self) -> int:
        return self.encoder.max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.encoder.max_seq_length = value

    def info(self) -> dict:
        return {**self.encoder.info(), "name": self.name, "kind": "cross_encoder", "format": "embedlab (legacy)"}

    @property
    def tokenizer(self):
        return self.encoder.tokenizer

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        return self.head(self.encoder(features)).squeeze(-1)

    def activate(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits)
