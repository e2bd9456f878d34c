"""MultiVectorEncoder: a late-interaction (ColBERT) model, one projected unit vector per token.

transformer token states -> Dense projection (ColBERT: 128 dims, no bias) -> L2-normalised per token; queries carry
the [Q] marker and are padded with [MASK] to the query budget (augmentation), documents carry [D] and skip
punctuation. Reads and writes sentence-transformers' MultiVectorEncoder directory (models/multi_vector_format.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from tokenizers import Encoding
from torch import Tensor, nn

from embedlab.atomic import atomic_directory
from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.models.dense import Dense, load_head_module, save_head_module
from embedlab.models.devices import select_device
from embedlab.models.inputs import as_text_list
from embedlab.models.model_files import (
    check_weights,
    local_model_dir,
    model_max_length,
    quiet_transformers,
    save_target,
)
from embedlab.models.multi_vector_format import (
    MARKERS,
    MODULE_DIRS,
    MultiVectorSettings,
    read_settings,
    write_settings,
)
from embedlab.models.multi_vector_tokens import (
    TokenBatch,
    TokenIds,
    check_query_lengths,
    document_batch,
    document_budget,
    query_batch,
    query_budget,
    truncating_tokenizer,
)
from embedlab.models.names import resolve_model_name
from embedlab.models.st_format import SentenceTransformerLayout, directory_layout
from embedlab.models.token_batches import length_sorted_batches, warn_truncated
from embedlab.models.transformer_loading import load_transformer
from embedlab.progress import progress_bar

COLBERT_DIM = 128
PROGRESS_MIN_TEXTS = 2048


class MultiVectorEncoder(nn.Module):
    """A ColBERT-style encoder implementing embedlab.embedder.MultiVectorEmbedder (and trainable: embed_*)."""

    def __init__(self, transformer: nn.Module, tokenizer, projection: Dense, settings: MultiVectorSettings,
                 name: str = "") -> None:
        super().__init__()
        if not getattr(tokenizer, "is_fast", False):
            raise ModelLoadError(f"{name or 'model'} has no fast (Rust) tokenizer; embedlab needs tokenizer.json")
        hidden = transformer.config.hidden_size
        if projection.in_features != hidden:
            raise ModelLoadError(
                f"the projection takes {projection.in_features} dims but the transformer gives {hidden}"
            )
        self.transformer = transformer
        self.projection = projection
        self._tokenizer = tokenizer
        self.settings = settings
        self._name = name
        settings.max_seq_length = settings.max_seq_length or model_max_length(transformer, tokenizer)
        self._ids = TokenIds.of(tokenizer, settings)
        self._token_types = "token_type_ids" in tokenizer.model_input_names

    # ---- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None, *, allow_pickle: bool = False,
             max_seq_length: int | None = None) -> MultiVectorEncoder:
        """A sentence-transformers MultiVectorEncoder directory (what `save` writes, and what PyLate-trained models
        converted by sentence-transformers are)."""
        directory = local_model_dir(str(path), allow_pickle=allow_pickle)
        settings, transformer_dir, dense_dir = read_settings(directory)
        if max_seq_length is not None:
            settings.max_seq_length = max_seq_length
        layout = SentenceTransformerLayout(transformer_dir=transformer_dir, tokenizer_args=settings.tokenizer_args)
        transformer, tokenizer = load_transformer(
            layout, use_safetensors=check_weights(transformer_dir, allow_pickle), trust_remote_code=False,
            eager_attention=False,
        )
        projection = load_head_module("dense", dense_dir, transformer.config.hidden_size, allow_pickle=allow_pickle)
        model = cls(transformer, tokenizer, projection, settings, name=str(path))
        return model.to(select_device(device)).eval()

    @classmethod
    def from_dense(cls, name: str | os.PathLike | None = "minilm", *, dim: int = COLBERT_DIM, seed: int = 0,
                   expansion_length: int = 32, max_seq_length: int | None = None,
                   device: str | None = None) -> MultiVectorEncoder:
        """Start a ColBERT model from a dense model's transformer: [Q] / [D] added as special tokens (their
        embedding rows and the projection freshly initialised from `seed`); the dense pooling is dropped."""
        from transformers import AddedToken

        directory = local_model_dir(resolve_model_name(None if name is None else str(name)))
        layout = directory_layout(directory)
        transformer, tokenizer = load_transformer(
            layout, use_safetensors=check_weights(layout.transformer_dir, False), trust_remote_code=False,
            eager_attention=False,
        )
        markers = [AddedToken(m.strip(), normalized=False, special=True) for m in MARKERS.values()]
        tokenizer.add_tokens(markers, special_tokens=True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            with quiet_transformers():
                transformer.resize_token_embeddings(len(tokenizer))
            projection = Dense(transformer.config.hidden_size, dim, bias=False, activation=nn.Identity())
        settings = MultiVectorSettings(
            expansion_length=expansion_length, max_seq_length=max_seq_length or layout.max_seq_length,
            do_lower_case=layout.do_lower_case, tokenizer_args=layout.tokenizer_args,
        )
        model = cls(transformer, tokenizer, projection, settings, name=f"{name}-colbert")
        return model.to(select_device(device)).eval()

    # ---- properties ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self.projection.out_features

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def max_seq_length(self) -> int:
        """The longest document in tokens (unless the directory sets a document_length of its own)."""
        return self.settings.max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.settings.max_seq_length = value

    @property
    def query_prompt(self) -> str:
        return self.settings.prompts.get("query") or ""

    @property
    def document_prompt(self) -> str:
        return self.settings.prompts.get("document") or ""

    def query_prompt_for(self, task: str | None) -> str:
        """The text before each query: the [Q] marker; ColBERT models take no instruction tasks."""
        if task is not None:
            raise EmbedlabError(f"{self.name} is a ColBERT model: its queries take no task instruction")
        return self.query_prompt

    def info(self) -> dict:
        settings = self.settings
        return {
            "name": self.name,
            "kind": "multi_vector",
            "architecture": type(self.transformer).__name__,
            "dim": self.dim,
            "max_seq_length": self.max_seq_length,
            "query_length": query_budget(settings),
            "query_expansion": settings.expansion_length is not None,
            "attend_to_expansion": settings.attend_to_expansion,
            "skiplist_words": len(settings.skiplist_words),
            "prompts": dict(settings.prompts),
            "parameters": sum(p.numel() for p in self.parameters()),
        }

    # ---- tokens and the differentiable forward pass --------------------------------------------

    def _encodings(self, texts: Sequence[str], prompt: str, budget: int | None) -> list[Encoding]:
        texts = [prompt + t for t in texts]
        if self.settings.do_lower_case:
            texts = [t.lower() for t in texts]
        cache = self.__dict__.setdefault("_fast_cache", {})
        if budget not in cache:
            # A private copy per length: the shared backend carries padding/truncation state HF calls overwrite.
            cache[budget] = truncating_tokenizer(self.tokenizer.backend_tokenizer, budget)
        return cache[budget].encode_batch(list(texts))

    def tokenize_queries(self, queries: Sequence[str], truncate: bool = False) -> TokenBatch:
        """Model inputs and scored rows for queries; a query past the budget is an error unless truncate."""
        budget = query_budget(self.settings)
        encodings = self._encodings(queries, self.query_prompt, budget)
        if not truncate:
            check_query_lengths(encodings, queries, budget)
        return query_batch(encodings, self.settings, self._ids, self._token_types)

    def tokenize_documents(self, documents: Sequence[str]) -> TokenBatch:
        encodings = self._encodings(documents, self.document_prompt, document_budget(self.settings))
        return document_batch(encodings, self.settings, self._ids, self._token_types)

    def forward(self, batch: TokenBatch) -> Tensor:
        """(batch, tokens, dim) unit token vectors, differentiable; rows outside batch.score_mask are not scored."""
        batch = batch.to(self.device)
        states = self.transformer(**batch.features).last_hidden_state
        return nn.functional.normalize(self.projection(states), p=2, dim=-1)

    def embed_queries(self, queries: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Token vectors (B, T, dim) and score mask (B, T) of queries, with gradients (for training, which
        truncates long queries rather than stopping a run)."""
        batch = self.tokenize_queries(queries, truncate=True)
        return self(batch), batch.score_mask.to(self.device)

    def embed_documents(self, documents: Sequence[str]) -> tuple[Tensor, Tensor]:
        batch = self.tokenize_documents(documents)
        return self(batch), batch.score_mask.to(self.device)

    # ---- encoding ------------------------------------------------------------------------------

    def encode_queries(self, queries: str | Iterable[str], batch_size: int = 32, show_progress: bool | None = None,
                       truncate: bool = False) -> list[np.ndarray] | np.ndarray:
        """Per query a (tokens, dim) float32 array of unit rows; a single string gives one array."""
        texts, single = as_text_list(queries)
        budget = query_budget(self.settings)
        encodings = self._encodings(texts, self.query_prompt, budget)
        if not truncate:
            check_query_lengths(encodings, texts, budget)
        rows = self._encode(encodings, query_batch, batch_size, show_progress, "encoding queries")
        return rows[0] if single else rows

    def encode_documents(self, documents: str | Iterable[str], batch_size: int = 32,
                         show_progress: bool | None = None) -> list[np.ndarray] | np.ndarray:
        """Per document a (tokens, dim) float32 array of unit rows, punctuation skipped; one array for a string."""
        texts, single = as_text_list(documents)
        encodings = self._encodings(texts, self.document_prompt, document_budget(self.settings))
        warn_truncated(encodings, document_budget(self.settings))
        rows = self._encode(encodings, document_batch, batch_size, show_progress, "encoding documents")
        return rows[0] if single else rows

    def _encode(self, encodings: list[Encoding], make_batch, batch_size: int, show_progress: bool | None,
                description: str) -> list[np.ndarray]:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise EmbedlabError(f"batch_size must be a positive integer, not {batch_size!r}")
        rows: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * len(encodings)
        show = len(encodings) >= PROGRESS_MIN_TEXTS if show_progress is None else show_progress
        with torch.inference_mode(), progress_bar(len(encodings), description, show) as advance:
            for indices in length_sorted_batches([len(e.ids) for e in encodings], batch_size):
                batch = make_batch([encodings[i] for i in indices], self.settings, self._ids, self._token_types)
                vectors = self(batch).float().cpu()
                if not torch.isfinite(vectors).all():
                    raise EmbedlabError(f"{self.name} produced NaN or infinite vectors: its weights may be corrupt")
                for index, row, mask in zip(indices, vectors, batch.score_mask):
                    rows[index] = row[mask].numpy()
                advance(len(indices))
        return rows

    def query_tokens(self, query: str) -> list[str]:
        """The token behind each row encode_queries([query])[0] returns."""
        return self._tokens(self.tokenize_queries([query]))

    def document_tokens(self, document: str) -> list[str]:
        """The token behind each row encode_documents([document])[0] returns."""
        return self._tokens(self.tokenize_documents([document]))

    def _tokens(self, batch: TokenBatch) -> list[str]:
        ids = batch.features["input_ids"][0][batch.score_mask[0]]
        return self.tokenizer.convert_ids_to_tokens(ids.tolist())

    # ---- saving --------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write a sentence-transformers MultiVectorEncoder directory, swapped in whole at the end."""
        target = save_target(path)
        with atomic_directory(target) as staging:
            with quiet_transformers():
                self.transformer.save_pretrained(staging)
            self.tokenizer.model_max_length = self.max_seq_length
            self.tokenizer.save_pretrained(staging)
            save_head_module(self.projection, staging / MODULE_DIRS[0])
            versions = {"embedlab": version("embedlab"), "transformers": version("transformers"),
                        "pytorch": torch.__version__}
            write_settings(staging, self.settings, versions)
        return target
