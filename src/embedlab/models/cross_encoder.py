"""CrossEncoder: a Hugging Face sequence-classification model read and written in sentence-transformers' format.

Any sentence-transformers CrossEncoder directory (v6, or older ones without modules.json) and any plain
sequence-classification directory loads here and scores exactly as `sentence_transformers.CrossEncoder.predict`;
what embedlab saves (and trains) loads in sentence-transformers. Directories in embedlab's first format still
load (models/cross_encoder_legacy.py).
"""

from __future__ import annotations

import copy
import os
from importlib.metadata import version
from pathlib import Path

import torch
from torch import Tensor, nn

from embedlab.atomic import atomic_directory
from embedlab.errors import ModelLoadError
from embedlab.models.cross_encoder_files import (
    CrossEncoderSettings,
    activation_module,
    is_cross_encoder_dir,
    is_legacy_dir,
    read_settings,
    write_st_configs,
)
from embedlab.models.cross_encoder_legacy import LegacyCrossEncoder
from embedlab.models.dense import activation_name
from embedlab.models.devices import select_device
from embedlab.models.encoder import Encoder
from embedlab.models.model_files import (
    check_weights,
    first_line,
    local_model_dir,
    model_max_length,
    quiet_transformers,
    save_target,
)
from embedlab.models.names import resolve_model_name
from embedlab.models.pair_scorer import PairScorer, RerankHit
from embedlab.models.st_format import read_json
from embedlab.models.transformer_loading import check_remote_code

__all__ = ["CrossEncoder", "PairScorer", "RerankHit", "is_cross_encoder_dir", "load_for_training", "load_reranker"]


class CrossEncoder(PairScorer):
    """A transformer over "[CLS] first [SEP] second [SEP]" with its sequence-classification head: num_labels logits
    per pair; predict applies the saved activation (sigmoid by default for one label, none for several)."""

    def __init__(
        self, model: nn.Module, tokenizer, settings: CrossEncoderSettings | None = None, name: str = ""
    ) -> None:
        super().__init__()
        if not getattr(tokenizer, "is_fast", False):
            raise ModelLoadError(
                f"{name or 'cross-encoder'} has no fast (Rust) tokenizer; embedlab needs tokenizer.json"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings or CrossEncoderSettings()
        self.num_labels = int(model.config.num_labels)
        self.activation = activation_module(self.settings.activation, self.num_labels)
        self.name = name or "cross-encoder"
        if self.settings.max_seq_length is None:
            self.settings.max_seq_length = model_max_length(model, tokenizer)

    # ---- building and loading ------------------------------------------------------------------

    @classmethod
    def from_transformer(
        cls, transformer: nn.Module, tokenizer, max_seq_length: int | None = None, name: str = ""
    ) -> CrossEncoder:
        """A fresh one-label head on a base transformer's weights, as sentence-transformers builds a CrossEncoder
        from a bi-encoder directory: the head (and a pooler the transformer lacks) start random."""
        from transformers import AutoModelForSequenceClassification

        config = copy.deepcopy(transformer.config)
        config.num_labels = 1
        try:
            with quiet_transformers():
                model = AutoModelForSequenceClassification.from_config(config)
        except ValueError as err:  # an architecture without a sequence-classification head
            raise ModelLoadError(f"{type(transformer).__name__} cannot be a cross-encoder: {first_line(err)}") from None
        missing, unexpected = model.base_model.load_state_dict(transformer.state_dict(), strict=False)
        # Only the pooler may differ: some heads pool with their own layers, some base models were saved without one.
        if any(not key.startswith("pooler.") for key in [*missing, *unexpected]):
            raise ModelLoadError(
                f"{type(transformer).__name__} weights do not fit {type(model).__name__}: "
                f"missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
        model = model.to(next(transformer.parameters()).device).float()
        return cls(model, tokenizer, CrossEncoderSettings(max_seq_length=max_seq_length), name=name).eval()

    @classmethod
    def from_encoder(
        cls,
        name_or_path: str | os.PathLike | None = "minilm",
        max_seq_length: int | None = None,
        device: str | None = None,
    ) -> CrossEncoder:
        """A cross-encoder to train from any encoder's transformer (a fresh one-label head; train it before use)."""
        encoder = Encoder.load(name_or_path, max_seq_length=max_seq_length, device=device)
        return cls.from_transformer(
            encoder.transformer, encoder.tokenizer, encoder.max_seq_length, name=f"cross-encoder:{name_or_path}"
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        device: str | None = None,
        *,
        allow_pickle: bool = False,
        revision: str | None = None,
    ) -> PairScorer:
        """A cross-encoder directory or hub id: sentence-transformers' format (any version), a plain Hugging Face
        sequence-classification model, or embedlab's legacy format. Safetensors only unless allow_pickle."""
        directory = _cross_encoder_dir(str(path), revision, allow_pickle)
        if is_legacy_dir(directory):
            return LegacyCrossEncoder.load(directory, device=device)
        config = read_json(directory / "config.json")
        if not isinstance(config, dict):
            raise ModelLoadError(f"{directory / 'config.json'} is not a JSON object")
        check_remote_code(directory, trust_remote_code=False)
        settings = read_settings(directory, config)
        use_safetensors = check_weights(directory, allow_pickle)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            with quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(directory)
                model, info = AutoModelForSequenceClassification.from_pretrained(
                    directory, use_safetensors=use_safetensors, output_loading_info=True
                )
        except Exception as err:  # noqa: BLE001 - corrupt or foreign checkpoints fail in many library-specific ways
            raise ModelLoadError(f"could not load the cross-encoder in {directory}: {first_line(err)}") from None
        # A head left at random would score noise: the weights must hold the whole classifier.
        if info["missing_keys"]:
            raise ModelLoadError(f"{directory} lacks weights for {sorted(info['missing_keys'])[:3]}")
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            raise ModelLoadError(
                f"{directory}: the tokenizer has {len(tokenizer)} tokens but the model embeds only "
                f"{model.get_input_embeddings().num_embeddings}"
            )
        name = str(path)
        return cls(model.float(), tokenizer, settings, name=name).to(select_device(device)).eval()

    def save(self, path: str | os.PathLike) -> Path:
        """A sentence-transformers v6 CrossEncoder directory (safetensors) that sentence-transformers loads as is.

        Written beside the target and swapped in at the end, so a failed save never damages the old copy.
        """
        target = save_target(path)
        settings = CrossEncoderSettings(
            activation_name(self.activation), self.max_seq_length, self.settings.do_lower_case
        )
        # sentence-transformers v4-v5 read the activation from config.json; v6 from its own config (below).
        self.model.config.sentence_transformers = {"activation_fn": settings.activation}
        with atomic_directory(target) as staging:
            with quiet_transformers():
                self.model.save_pretrained(staging)
            # sentence-transformers reads the length limit from the tokenizer's model_max_length.
            self.tokenizer.model_max_length = self.max_seq_length
            self.tokenizer.save_pretrained(staging)
            versions = {
                "embedlab": version("embedlab"),
                "transformers": version("transformers"),
                "pytorch": torch.__version__,
            }
            write_st_configs(staging, settings, versions)
        return target

    # ---- properties ----------------------------------------------------------------------------

    @property
    def max_seq_length(self) -> int:
        return self.settings.max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.settings.max_seq_length = value

    def info(self) -> dict:
        return {
            "name": self.name,
            "kind": "cross_encoder",
            "architecture": type(self.model).__name__,
            "num_labels": self.num_labels,
            "activation": type(self.activation).__name__,
            "max_seq_length": self.max_seq_length,
            "parameters": sum(p.numel() for p in self.parameters()),
        }

    # ---- scoring -------------------------------------------------------------------------------

    @property
    def lower_case(self) -> bool:
        return self.settings.do_lower_case

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        logits = self.model(**features).logits
        return logits.squeeze(-1) if self.num_labels == 1 else logits

    def activate(self, logits: Tensor) -> Tensor:
        return self.activation(logits)


def _cross_encoder_dir(name: str, revision: str | None, allow_pickle: bool) -> Path:
    path = Path(name).expanduser()
    if not path.exists() and name.startswith((".", "/", "~")):
        raise ModelLoadError(f"{name} is not a cross-encoder directory: it does not exist")
    directory = local_model_dir(name, revision=revision, allow_pickle=allow_pickle)
    if not is_cross_encoder_dir(directory):
        raise ModelLoadError(
            f"{name} is not a cross-encoder directory (no sequence-classification config.json, "
            "sentence-transformers CrossEncoder config or embedlab cross_encoder.json)"
        )
    return directory


def load_for_training(
    name_or_path: str | os.PathLike | None, max_seq_length: int | None = None, device: str | None = None
) -> PairScorer:
    """What cross-encoder training starts from, as sentence-transformers' CrossEncoder(name) does: a cross-encoder
    (a directory or hub id) keeps its head, so fine-tuning starts from a working scorer; any other model's
    transformer gets a fresh one-label head."""
    directory = local_model_dir(resolve_model_name(None if name_or_path is None else str(name_or_path)))
    if not is_cross_encoder_dir(directory):
        return CrossEncoder.from_encoder(name_or_path, max_seq_length=max_seq_length, device=device)
    model = load_reranker(directory, device=device, what="cross-encoder training")
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


def load_reranker(path: str | os.PathLike, device: str | None = None, *, what: str = "reranking") -> PairScorer:
    """A cross-encoder that gives one score per pair, as reranking, mining's judge and training need."""
    return CrossEncoder.load(path, device=device).check_one_score(what)
