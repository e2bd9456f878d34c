"""SparseEncoder: a learned-sparse (SPLADE) model; each text becomes a weight per vocabulary term.

The transformer's MLM head gives logits per token and term; log(1 + ReLU(logits)), max-pooled over the text's
tokens, is the term weight (sentence-transformers' SpladePooling). Optionally one side is inference-free: a
learned weight per vocabulary id, looked up for the ids the tokenizer finds (SparseStaticEmbedding, saved as a
Router). Rows come out as scipy.sparse CSR matrices; a query scores a document by their dot product.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from scipy import sparse
from torch import Tensor, nn

from embedlab.atomic import atomic_directory, write_json
from embedlab.embedder import DOCUMENT_PROMPT_NAMES, QUERY_PROMPT_NAMES, named_prompt
from embedlab.errors import EmbedlabError, ModelLoadError, check_positive_integer
from embedlab.models.devices import select_device
from embedlab.models.inputs import as_text_list
from embedlab.models.mlm_head import HEAD_FROM_DENSE, has_mlm_head, mlm_from_dense
from embedlab.models.model_files import (
    check_weights,
    first_line,
    local_model_dir,
    model_max_length,
    quiet_transformers,
    save_target,
)
from embedlab.models.names import DEFAULT_MODEL, resolve_model_name
from embedlab.models.sparse_format import (
    SparseLayout,
    is_sparse_dir,
    read_mlm_settings,
    read_sparse_layout,
    splade_dir_names,
    write_mlm_settings,
    write_sparse_config,
    write_sparse_modules,
    write_splade_settings,
)
from embedlab.models.splade_ops import keep_top_k, splade_pool, static_weights, to_csr
from embedlab.models.st_format import directory_layout
from embedlab.models.token_batches import length_sorted_batches, pad_encodings
from embedlab.models.transformer_loading import load_transformer
from embedlab.progress import progress_bar

PROGRESS_MIN_TEXTS = 2048
STATIC_WEIGHTS = "model.safetensors"


class SparseEncoder(nn.Module):
    """A SPLADE model: MLM transformer + SpladePooling, and optionally an inference-free static side."""

    def __init__(
        self,
        mlm: nn.Module,
        tokenizer: Any,
        layout: SparseLayout,
        name: str = "",
        static_weight: Tensor | None = None,
        static_tokenizer: Any | None = None,
    ) -> None:
        super().__init__()
        if not getattr(tokenizer, "is_fast", False):
            raise ModelLoadError(f"{name or 'model'} has no fast (Rust) tokenizer; embedlab needs tokenizer.json")
        if (static_weight is None) != (layout.static_route is None):
            raise ModelLoadError("an inference-free sparse model needs both a static route and its weights")
        self.mlm = mlm
        self._tokenizer = tokenizer
        self.layout = layout
        self._name = name
        self.max_seq_length = layout.transformer.max_seq_length or model_max_length(mlm, tokenizer)
        self.static = None if static_weight is None else nn.Parameter(static_weight.float())
        self._static_tokenizer = static_tokenizer or tokenizer
        if self.static is not None and len(self.static) != self.vocab_size:
            raise ModelLoadError(
                f"static weights cover {len(self.static)} terms but the vocabulary has {self.vocab_size}"
            )
        self._token_types = "token_type_ids" in tokenizer.model_input_names

    # ---- loading -------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        name_or_path: str | os.PathLike | None = None,
        device: str | None = None,
        *,
        max_active_dims: int | None = None,
        allow_pickle: bool = False,
        trust_remote_code: bool = False,
    ) -> SparseEncoder:
        """A sentence-transformers SparseEncoder directory (plain or inference-free) or a Hugging Face masked-LM.

        A model without an MLM head is refused: SparseEncoder.from_dense builds one.
        """
        name = resolve_model_name(None if name_or_path is None else str(name_or_path))
        directory = local_model_dir(name, allow_pickle=allow_pickle)
        if is_sparse_dir(directory):
            layout = read_sparse_layout(directory)
        elif (directory / "config.json").is_file() and has_mlm_head(directory):
            layout = SparseLayout(read_mlm_settings(directory))
        else:
            raise ModelLoadError(
                f"{directory} has no MLM head; SparseEncoder.from_dense({str(name_or_path or DEFAULT_MODEL)!r}) "
                "builds one from its tied input embeddings"
            )
        check_positive_integer("max_active_dims", max_active_dims, optional=True)
        if max_active_dims is not None:
            layout.max_active_dims = max_active_dims
        transformer = layout.transformer
        mlm, tokenizer = load_transformer(
            transformer, use_safetensors=check_weights(transformer.transformer_dir, allow_pickle),
            trust_remote_code=trust_remote_code, eager_attention=False, masked_lm=True,
        )  # fmt: skip
        static, static_tokenizer = (None, None) if layout.static_dir is None else _load_static(layout.static_dir)
        model = cls(mlm, tokenizer, layout, str(name_or_path or DEFAULT_MODEL), static, static_tokenizer)
        return model.to(select_device(device)).eval()

    @classmethod
    def from_dense(
        cls,
        name_or_path: str | os.PathLike | None = None,
        device: str | None = None,
        *,
        inference_free: str | None = None,
        max_active_dims: int | None = None,
    ) -> SparseEncoder:
        """A sparse model from a transformer without an MLM head: BERT's head with the decoder tied to the input
        embeddings, a fresh transform whose dense layer is the identity and a bias that starts each row sparse (see
        models/mlm_head.py).

        inference_free="query" (or "document") gives that side static weights, all ones to start.
        """
        name = resolve_model_name(None if name_or_path is None else str(name_or_path))
        directory = local_model_dir(name)
        dense = directory_layout(directory)
        base, tokenizer = load_transformer(
            dense, use_safetensors=check_weights(dense.transformer_dir, False), trust_remote_code=False,
            eager_attention=False,
        )  # fmt: skip
        # The transformer's own settings (length, lower-casing, prompts); pooling and Dense heads do not apply.
        settings = replace(dense, head=[], pooling_dir=None, normalize=False)
        check_positive_integer("max_active_dims", max_active_dims, optional=True)
        layout = SparseLayout(settings, max_active_dims=max_active_dims, head_origin=HEAD_FROM_DENSE)
        return cls._with_static(mlm_from_dense(base), tokenizer, layout, str(name_or_path or DEFAULT_MODEL),
                                inference_free).to(select_device(device)).eval()

    @classmethod
    def for_training(
        cls,
        name_or_path: str | os.PathLike | None = None,
        device: str | None = None,
        *,
        inference_free: str | None = None,
    ) -> SparseEncoder:
        """The sparse model a training run starts from: `name` as is when it has an MLM head (a SparseEncoder or
        masked-LM directory), else from_dense (all-MiniLM-L6-v2 and other plain encoders)."""
        directory = local_model_dir(resolve_model_name(None if name_or_path is None else str(name_or_path)))
        if not (is_sparse_dir(directory) or has_mlm_head(directory)):
            return cls.from_dense(name_or_path, device, inference_free=inference_free)
        model = cls.load(name_or_path, device)
        if inference_free is not None and model.layout.static_route != inference_free:
            raise EmbedlabError(
                f"{model.name} is inference-free on side {model.layout.static_route!r}, not {inference_free!r}"
            )
        return model

    @classmethod
    def _with_static(cls, mlm: nn.Module, tokenizer: Any, layout: SparseLayout, name: str,
                     route: str | None) -> SparseEncoder:
        if route not in (None, "query", "document"):
            raise EmbedlabError(f"inference_free must be 'query', 'document' or None, not {route!r}")
        layout.static_route = route
        weight = None if route is None else torch.ones(mlm.config.vocab_size)
        # A copy: saving sets the transformer tokenizer's model_max_length, which must not cap the look-up side.
        return cls(mlm, tokenizer, layout, name, weight, None if route is None else copy.deepcopy(tokenizer))

    # ---- properties ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def vocab_size(self) -> int:
        return int(self.mlm.config.vocab_size)

    @property
    def device(self) -> torch.device:
        return next(self.mlm.parameters()).device

    @property
    def max_active_dims(self) -> int | None:
        return self.layout.max_active_dims

    @max_active_dims.setter
    def max_active_dims(self, value: int | None) -> None:
        """Keep only each row's `value` heaviest terms from now on (None: every non-zero term)."""
        check_positive_integer("max_active_dims", value, optional=True)
        self.layout.max_active_dims = value

    @property
    def prompts(self) -> dict[str, str]:
        return self.layout.transformer.prompts

    @property
    def query_prompt(self) -> str:
        return self.prompts.get(named_prompt(self.prompts, QUERY_PROMPT_NAMES) or "", "")

    @property
    def document_prompt(self) -> str:
        return self.prompts.get(named_prompt(self.prompts, DOCUMENT_PROMPT_NAMES) or "", "")

    def query_prompt_for(self, task: str | None) -> str:
        """The query prompt; a sparse model has no instruction template, so a task is refused."""
        if task is not None:
            raise EmbedlabError(f"{self.name} is a sparse model: it takes no task instruction")
        return self.query_prompt

    def info(self) -> dict[str, Any]:
        """A summary for people: vocabulary, pooling, pruning, the inference-free side, where the MLM head came from."""
        return {
            "name": self.name,
            "kind": "sparse",
            "architecture": type(self.mlm).__name__,
            "vocab_size": self.vocab_size,
            "max_seq_length": self.max_seq_length,
            "pooling": self.layout.splade.pooling_strategy,
            "activation": self.layout.splade.activation_function,
            "max_active_dims": self.max_active_dims,
            "inference_free": self.layout.static_route,
            "mlm_head": self.layout.head_origin or "pretrained",
            "prompts": dict(self.prompts),
            "parameters": sum(p.numel() for p in self.parameters()),
        }

    # ---- the differentiable forward pass -------------------------------------------------------

    def _features(self, texts: Sequence[str], static: bool) -> list:
        """Tokenizer encodings, truncated: the static side tokenizes without special tokens, to its own tokenizer's
        model_max_length (no position table limits a look-up), as sentence-transformers' SparseStaticEmbedding."""
        tokenizer = self._static_tokenizer if static else self._tokenizer
        if self.layout.transformer.do_lower_case and not static:
            texts = [t.lower() for t in texts]
        limit = None if static else self.max_seq_length
        with quiet_transformers():
            return tokenizer(list(texts), truncation=True, max_length=limit, add_special_tokens=not static).encodings

    def _weights(self, encodings: list, static: bool) -> Tensor:
        """(B, vocab) term weights of one batch of encodings, with gradients when grad mode is on."""
        tokenizer = self._static_tokenizer if static else self._tokenizer
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        features = {k: v.to(self.device) for k, v in pad_encodings(encodings, pad_id, self._token_types).items()}
        if static:
            return static_weights(features["input_ids"], features["attention_mask"], self.static)
        logits = self.mlm(**features).logits
        return splade_pool(logits, features["attention_mask"], self.layout.splade)

    def _is_static(self, route: str) -> bool:
        return self.layout.static_route == route

    def embed_queries(self, texts: Sequence[str]) -> Tensor:
        """Differentiable (B, vocab) query weights, as encode_queries sees them before pruning (for training)."""
        static = self._is_static("query")
        return self._weights(self._features([self.query_prompt + t for t in texts], static), static)

    def embed_documents(self, texts: Sequence[str]) -> Tensor:
        """Differentiable (B, vocab) document weights, as encode_documents sees them before pruning."""
        static = self._is_static("document")
        return self._weights(self._features([self.document_prompt + t for t in texts], static), static)

    # ---- encoding ------------------------------------------------------------------------------

    def encode_queries(self, queries: str | Sequence[str], **options: Any) -> sparse.csr_matrix:
        """(n, vocab_size) float32 CSR rows of queries (the query prompt, the query route)."""
        return self._encode(queries, self.query_prompt, self._is_static("query"), **options)

    def encode_documents(self, documents: str | Sequence[str], **options: Any) -> sparse.csr_matrix:
        """(n, vocab_size) float32 CSR rows of documents (inference-free models only look terms up)."""
        return self._encode(documents, self.document_prompt, self._is_static("document"), **options)

    def _encode(
        self,
        texts: str | Iterable[str],
        prefix: str,
        static: bool,
        batch_size: int = 32,
        max_active_dims: int | None = None,
        show_progress: bool | None = None,
    ) -> sparse.csr_matrix:
        texts, _ = as_text_list(texts)
        if not texts:
            raise EmbedlabError("no texts to encode: pass at least one string")
        check_positive_integer("batch_size", batch_size)
        check_positive_integer("max_active_dims", max_active_dims, optional=True)
        top_k = self.max_active_dims if max_active_dims is None else max_active_dims
        encodings = self._features([prefix + t for t in texts], static)
        rows: list[sparse.csr_matrix] = []
        order: list[int] = []
        show = len(texts) >= PROGRESS_MIN_TEXTS if show_progress is None else show_progress
        with torch.inference_mode(), progress_bar(len(texts), "encoding", show) as advance:
            for batch in length_sorted_batches([len(e.ids) for e in encodings], batch_size):
                weights = keep_top_k(self._weights([encodings[i] for i in batch], static).float(), top_k)
                if not torch.isfinite(weights).all():
                    raise EmbedlabError(f"{self.name} produced NaN or infinite weights: its weights may be corrupt")
                rows.append(to_csr(weights))
                order += batch
                advance(len(batch))
        stacked = sparse.vstack(rows, format="csr", dtype=np.float32)
        # Batches run longest first; put the rows back in the order the texts came.
        return stacked[np.argsort(np.asarray(order))]

    def terms(self, row: Any, top_k: int | None = None) -> list[tuple[str, float]]:
        """The non-zero (term, weight) pairs of one row ((1, vocab) sparse or dense, or (vocab,)), heaviest first."""
        vector = sparse.csr_matrix(row)
        if vector.shape != (1, self.vocab_size):
            raise EmbedlabError(f"terms needs one row of {self.vocab_size} weights, not shape {vector.shape}")
        ids, weights = vector.indices, vector.data
        ranked = np.argsort(-weights, kind="stable")[:top_k]
        tokens = self._tokenizer.convert_ids_to_tokens([int(i) for i in ids[ranked]])
        return [(token, float(weights[i])) for token, i in zip(tokens, ranked) if weights[i] != 0]

    # ---- saving --------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write a sentence-transformers SparseEncoder directory (a Router when one side is inference-free)."""
        target = save_target(path)
        transformer_name, splade_name, static_name = splade_dir_names(self.layout.static_route)
        with atomic_directory(target) as staging:
            transformer_dir = staging / transformer_name
            with quiet_transformers():
                self.mlm.save_pretrained(transformer_dir)
                self._tokenizer.model_max_length = self.max_seq_length
                self._tokenizer.save_pretrained(transformer_dir)
            write_mlm_settings(transformer_dir, self.max_seq_length, self.layout.transformer.do_lower_case)
            write_splade_settings(staging / splade_name, self.layout.splade)
            if static_name is not None:
                (staging / static_name).mkdir()
                with quiet_transformers():
                    self._static_tokenizer.save_pretrained(staging / static_name)
                weight = {"weight": self.static.detach().float().cpu().contiguous()}
                save_file(weight, staging / static_name / STATIC_WEIGHTS)
                write_json({"frozen": False}, staging / static_name / "config.json")
            write_sparse_modules(staging, self.layout.static_route)
            versions = {"embedlab": version("embedlab"), "transformers": version("transformers"),
                        "pytorch": torch.__version__}  # fmt: skip
            write_sparse_config(staging, self.layout, versions)
        return target


def _load_static(directory: Path) -> tuple[Tensor, Any]:
    """A SparseStaticEmbedding module: its weight per vocabulary id and its tokenizer."""
    from transformers import AutoTokenizer

    path = directory / STATIC_WEIGHTS
    if not path.is_file():
        raise ModelLoadError(f"{directory} holds no {STATIC_WEIGHTS} (a SparseStaticEmbedding's weights)")
    try:
        weight = load_file(path)["weight"]
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(directory)
    except Exception as err:  # noqa: BLE001 - corrupt files fail in library-specific ways
        raise ModelLoadError(f"could not load the SparseStaticEmbedding in {directory}: {first_line(err)}") from None
    if weight.ndim != 1:
        raise ModelLoadError(f"{path}: the static weights must be one number per vocabulary id")
    return weight, tokenizer
