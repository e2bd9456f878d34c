"""Encoder: a transformer embedding model with its tokenizer, a backend and the batched encode loop.

The differentiable part is `EmbeddingModel` (models/core.py); this class adds tokenizing, prompts, batching,
backends and the sentence-transformers directory format, read and written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from tokenizers import Encoding, Tokenizer
from torch import Tensor, nn

from embedlab.atomic import atomic_directory
from embedlab.backends import load_backend
from embedlab.backends.base import Backend
from embedlab.backends.torch_backend import TorchBackend
from embedlab.embedder import DOCUMENT_PROMPT_NAMES, QUERY_PROMPT_NAMES, named_prompt
from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.instructions import LayoutInstructions
from embedlab.models.core import EmbeddingModel
from embedlab.models.dense import Dense, load_head, save_head_module
from embedlab.models.devices import move_encoder, select_device
from embedlab.models.encode_options import check_encode_options
from embedlab.models.heap import TRIM_MIN_TEXTS, release_free_heap
from embedlab.models.inputs import as_text_list
from embedlab.models.late_chunking import LateChunking
from embedlab.models.model_files import (
    check_weights,
    local_model_dir,
    model_max_length,
    quiet_transformers,
    save_target,
)
from embedlab.models.names import DEFAULT_MODEL, resolve_model_name
from embedlab.models.pooling import Pooling
from embedlab.models.st_format import SentenceTransformerLayout, directory_layout, module_dir_name, write_layout
from embedlab.models.static_encoder import is_static_dir
from embedlab.models.token_batches import length_sorted_batches, pad_encodings, warn_truncated
from embedlab.models.transformer_loading import load_transformer
from embedlab.progress import progress_bar

PROGRESS_MIN_TEXTS = 2048


class Encoder(LateChunking, LayoutInstructions, nn.Module):
    """A sentence encoder: an EmbeddingModel (transformer, pooling, normalisation), its tokenizer and a backend."""

    def __init__(
        self,
        model: EmbeddingModel,
        tokenizer,
        layout: SentenceTransformerLayout,
        name: str = "",
    ) -> None:
        super().__init__()
        if not getattr(tokenizer, "is_fast", False):
            raise ModelLoadError(f"{name or 'model'} has no fast (Rust) tokenizer; embedlab needs tokenizer.json")
        self.model = model
        self._tokenizer = tokenizer
        self.layout = layout
        self._name = name
        self.max_seq_length = layout.max_seq_length or model_max_length(model.transformer, tokenizer)
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.backend: Backend = TorchBackend()

    # ---- loading -------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        name_or_path: str | os.PathLike | None = None,
        pooling: str | None = None,
        device: str | None = None,
        *,
        normalize: bool | None = None,
        max_seq_length: int | None = None,
        allow_pickle: bool = False,
        trust_remote_code: bool = False,
        revision: str | None = None,
        backend: str = "torch",
        threads: int | None = None,
    ) -> Encoder:
        """Load a transformer model: a sentence-transformers directory, a plain Hugging Face directory or a hub id.

        A plain encoder gets `pooling` (default mean) and normalisation; `minilm` or None is the bundled model.
        backend is torch, torch-bf16, onnx, onnx-int8, openvino-int8 or auto (see docs/inference.md); threads sets
        its threads. device defaults to the GPU when one is present and the backend runs there. Other model kinds
        (static, two-tower, word vectors) load through `embedlab.load_model`.
        """
        name = resolve_model_name(None if name_or_path is None else str(name_or_path))
        directory = local_model_dir(name, revision=revision, allow_pickle=allow_pickle)
        if is_static_dir(directory):
            raise ModelLoadError(f"{directory} is a static model: load it with embedlab.load_model or StaticEncoder")
        layout = directory_layout(directory)
        if normalize is not None:
            layout.normalize = normalize
        if max_seq_length is not None:
            layout.max_seq_length = max_seq_length
        options = {"allow_pickle": allow_pickle, "trust_remote_code": trust_remote_code, "backend": backend}
        return cls.from_layout(layout, str(name_or_path or DEFAULT_MODEL), pooling, device, threads=threads, **options)

    @classmethod
    def from_layout(
        cls,
        layout: SentenceTransformerLayout,
        name: str,
        pooling: str | None = None,
        device: str | None = None,
        *,
        allow_pickle: bool = False,
        trust_remote_code: bool = False,
        backend: str = "torch",
        threads: int | None = None,
    ) -> Encoder:
        """Load the modules a layout names (one modules.json, or one route of a Router model); see `load`."""
        use_safetensors = check_weights(layout.transformer_dir, allow_pickle)
        saved_pooling = Pooling.load(layout.pooling_dir, strategy=pooling) if layout.pooling_dir else None
        strategy = saved_pooling.strategy if saved_pooling else (pooling or "mean")
        transformer, tokenizer = load_transformer(
            layout, use_safetensors=use_safetensors, trust_remote_code=trust_remote_code,
            eager_attention=strategy == "cls_attention",
        )
        hidden = transformer.config.hidden_size
        pooler = saved_pooling or Pooling(strategy, hidden)
        if pooler.dim != hidden:
            raise ModelLoadError(f"pooling expects {pooler.dim} dims but the transformer has {hidden}")
        head = load_head(layout.head, hidden, allow_pickle=allow_pickle)
        encoder = cls._assemble(transformer, tokenizer, pooler, layout, name, head)
        encoder = encoder.to(select_device(device, backend)).eval()
        encoder.backend = load_backend(encoder, backend, threads)
        return encoder

    @classmethod
    def from_transformer(
        cls,
        transformer: nn.Module,
        tokenizer,
        pooling: str = "mean",
        *,
        normalize: bool = True,
        max_seq_length: int | None = None,
        name: str = "",
    ) -> Encoder:
        """Wrap an in-memory transformer (freshly initialised or pretrained here) as an Encoder."""
        layout = SentenceTransformerLayout(Path("."), normalize=normalize, max_seq_length=max_seq_length)
        pooler = Pooling(pooling, transformer.config.hidden_size)
        return cls._assemble(transformer, tokenizer, pooler, layout, name).eval()

    @classmethod
    def _assemble(
        cls, transformer: nn.Module, tokenizer, pooling: Pooling, layout, name: str, head: list | None = None
    ) -> Encoder:
        token_types = "token_type_ids" in tokenizer.model_input_names
        model = EmbeddingModel(transformer, pooling, normalize=layout.normalize, token_type_ids=token_types, head=head)
        return cls(model, tokenizer, layout, name=name)

    # ---- properties ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def tokenizer(self):
        """The Hugging Face tokenizer (fast), as loaded from the model directory."""
        return self._tokenizer

    @property
    def transformer(self) -> nn.Module:
        return self.model.transformer

    @property
    def pooling(self) -> Pooling:
        return self.model.pooling

    @property
    def dim(self) -> int:
        return self.model.dim

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def normalize(self) -> bool:
        return self.model.normalize

    @property
    def prompts(self) -> dict[str, str]:
        return self.layout.prompts

    @property
    def weights_dir(self) -> Path:
        """The directory the transformer's weights were read from (exported graphs are keyed by its files)."""
        return self.layout.transformer_dir

    def info(self) -> dict:
        """A summary for people: sizes, pooling, prompts."""
        return {
            "name": self.name,
            "kind": "transformer",
            "backend": self.backend.name,
            "architecture": type(self.transformer).__name__,
            "dim": self.dim,
            "max_seq_length": self.max_seq_length,
            "pooling": self.pooling.strategy,
            "normalize": self.normalize,
            "prompts": dict(self.prompts),
            "default_prompt_name": self.layout.default_prompt_name,
            "parameters": sum(p.numel() for p in self.parameters()),
        }

    # ---- tokenizing and the differentiable forward pass ----------------------------------------

    def _encodings(self, texts: Sequence[str]) -> list[Encoding]:
        if self.layout.do_lower_case:
            texts = [t.lower() for t in texts]
        return self._fast_tokenizer.encode_batch(list(texts))

    @property
    def _fast_tokenizer(self) -> Tokenizer:
        # A private copy: the shared backend carries padding/truncation state that HF calls overwrite.
        cached = self.__dict__.get("_fast_cache")
        if cached is None or cached[0] != self.max_seq_length:
            fast = Tokenizer.from_str(self.tokenizer.backend_tokenizer.to_str())
            fast.no_padding()
            fast.enable_truncation(max_length=self.max_seq_length)
            self.__dict__["_fast_cache"] = cached = (self.max_seq_length, fast)
        return cached[1]

    def tokenize(self, texts: Sequence[str]) -> dict[str, Tensor]:
        """Padded model inputs for a batch of texts, on the encoder's device (for training loops)."""
        features = pad_encodings(self._encodings(texts), self._pad_id, self.model.token_type_ids)
        return {k: v.to(self.device) for k, v in features.items()}

    def forward(self, features: dict[str, Tensor], prompt_length: int = 0) -> Tensor:
        """Pooled, un-normalised embeddings (B, dim) of tokenized features; differentiable (EmbeddingModel.forward)."""
        return self.model(features, prompt_length)

    def embed_queries(self, texts: Sequence[str]) -> Tensor:
        """Differentiable embeddings of queries with the query prompt, as encode_queries sees them (for training)."""
        return self._embed(texts, self.query_prompt)

    def embed_documents(self, texts: Sequence[str]) -> Tensor:
        """Differentiable embeddings of documents with the document prompt, as encode_documents sees them."""
        return self._embed(texts, self.document_prompt)

    def _embed(self, texts: Sequence[str], prefix: str) -> Tensor:
        return self.model(self.tokenize([prefix + t for t in texts]), self._prompt_length(prefix))

    # ---- encoding ------------------------------------------------------------------------------

    def encode(
        self,
        texts: str | Iterable[str],
        batch_size: int = 32,
        prompt: str | None = None,
        prompt_name: str | None = None,
        normalize: bool | None = None,
        dim: int | None = None,
        show_progress: bool | None = None,
        convert_to: str = "numpy",
        max_tokens: int | None = None,
        device: str | torch.device | None = None,
    ) -> np.ndarray | Tensor:
        """Embed texts as float32 (n, d); a single string gives (d,), an empty list (0, d).

        normalize=None follows the model (unit vectors for models with a Normalize module); dim truncates.
        max_tokens caps a batch's padded tokens (batch size x longest text) as well as its count.
        device moves the model there for good, as in sentence-transformers (models/devices.move_encoder).
        """
        if device is not None:
            move_encoder(self, device)
        texts, single = as_text_list(texts)
        prefix = self._prompt(prompt, prompt_name)
        normalize = self.normalize if normalize is None else normalize
        check_encode_options(batch_size, dim, self.dim, convert_to, max_tokens)
        embeddings = torch.zeros(len(texts), self.dim)
        if texts:
            encodings = self._encodings([prefix + t for t in texts])
            warn_truncated(encodings, self.max_seq_length)
            prompt_length = self._prompt_length(prefix)
            show = len(texts) >= PROGRESS_MIN_TEXTS if show_progress is None else show_progress
            with torch.inference_mode(), progress_bar(len(texts), "encoding", show) as advance:
                batches = length_sorted_batches([len(e.ids) for e in encodings], batch_size, max_tokens)
                padded = (pad_encodings([encodings[i] for i in b], self._pad_id, self.model.token_type_ids)
                          for b in batches)  # fmt: skip
                vectors_of = self.backend.embed_batches(self.model, padded, prompt_length)
                for batch, vectors in zip(batches, vectors_of, strict=True):
                    embeddings[batch] = vectors
                    advance(len(batch))
            if not torch.isfinite(embeddings).all():
                raise EmbedlabError(f"{self.name} produced NaN or infinite embeddings: its weights may be corrupt")
            if len(texts) >= TRIM_MIN_TEXTS:
                release_free_heap()
        embeddings = finish_embeddings(embeddings, dim, normalize)
        if single:
            embeddings = embeddings[0]
        return embeddings.numpy() if convert_to == "numpy" else embeddings

    def encode_queries(self, queries: str | Iterable[str], task: str | None = None, **kwargs) -> np.ndarray | Tensor:
        """Encode search queries with the model's query prompt, or with its instruction for `task`."""
        return self.encode(queries, prompt=self.query_prompt_for(task), **kwargs)

    def encode_documents(self, documents: str | Iterable[str], **kwargs) -> np.ndarray | Tensor:
        """Encode documents with the model's document/passage prompt, if it has one."""
        return self.encode(documents, prompt_name=named_prompt(self.prompts, DOCUMENT_PROMPT_NAMES), **kwargs)

    @property
    def query_prompt(self) -> str:
        """The text encode_queries puts before each query ("" for none)."""
        return self._prompt(None, named_prompt(self.prompts, QUERY_PROMPT_NAMES))

    @property
    def document_prompt(self) -> str:
        """The text encode_documents puts before each document ("" for none)."""
        return self._prompt(None, named_prompt(self.prompts, DOCUMENT_PROMPT_NAMES))

    def _prompt(self, prompt: str | None, prompt_name: str | None) -> str:
        if prompt is not None and prompt_name is not None:
            raise EmbedlabError("give prompt or prompt_name, not both")
        if prompt is not None:
            if not isinstance(prompt, str):
                raise EmbedlabError(f"prompt must be a string, not {type(prompt).__name__}")
            return prompt
        name = prompt_name or self.layout.default_prompt_name
        if name is None:
            return ""
        if name not in self.prompts:
            known = ", ".join(sorted(self.prompts)) or "none"
            raise EmbedlabError(f"the model has no prompt named {name!r} (its prompts: {known})")
        return self.prompts[name]

    def _prompt_length(self, prefix: str) -> int:
        """Tokens a prompt occupies at the start of each text, special tokens included."""
        if not prefix or self.pooling.include_prompt:
            return 0
        encoding = self._encodings([prefix])[0]
        length = len(encoding.ids)
        while length and encoding.special_tokens_mask[length - 1]:
            length -= 1
        return length

    # ---- saving --------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write a sentence-transformers directory (safetensors) that sentence-transformers loads as is.

        Written beside the target and swapped in at the end, so a failed save never damages the old copy.
        """
        target = save_target(path)
        with atomic_directory(target) as staging:
            with quiet_transformers():
                self.transformer.save_pretrained(staging)
            self.tokenizer.model_max_length = self.max_seq_length
            self.tokenizer.save_pretrained(staging)
            self.pooling.save(staging / module_dir_name(1, "pooling"))
            head = []
            for index, module in enumerate(self.model.head_modules, start=2):
                kind = "dense" if isinstance(module, Dense) else "layernorm"
                head.append((kind, staging / module_dir_name(index, kind)))
                save_head_module(module, head[-1][1])
            layout = SentenceTransformerLayout(
                transformer_dir=staging,
                pooling_dir=staging / module_dir_name(1, "pooling"),
                head=head,
                normalize=self.normalize,
                max_seq_length=self.max_seq_length,
                do_lower_case=self.layout.do_lower_case,
                prompts=dict(self.prompts),
                default_prompt_name=self.layout.default_prompt_name,
                similarity_fn_name=self.layout.similarity_fn_name,
                instruction_template=self.layout.instruction_template,
                tokenizer_args=self.layout.tokenizer_args,
                config_args=self.layout.config_args,
            )
            versions = {
                "embedlab": version("embedlab"),
                "transformers": version("transformers"),
                "pytorch": torch.__version__,
            }
            write_layout(
                staging, layout, pooling_is_st=self.pooling.sentence_transformers_compatible, versions=versions
            )
        return target


def finish_embeddings(embeddings: Tensor, dim: int | None, normalize: bool) -> Tensor:
    """Matryoshka truncation to the first `dim` dimensions, then unit length; zero vectors stay zero."""
    if dim is not None:
        embeddings = embeddings[..., :dim]
    if normalize:
        embeddings = nn.functional.normalize(embeddings, p=2, dim=-1)
    return embeddings
