"""Embedder: what every model kind offers the rest of embedlab (evaluation, mining, index, apps, server).

Transformer encoders, static word-vector models and two-tower models implement it; consumers are typed
against it and call these members directly, so a new model kind works everywhere once it implements them.
Queries may carry a task ("Given a claim, find documents that refute it") for instruction-tuned models.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

QUERY_PROMPT_NAMES = ("query",)
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")


@runtime_checkable
class Embedder(Protocol):
    """Texts in, float32 vectors out; queries and documents may get prompts of their own."""

    @property
    def name(self) -> str:
        """What the model was loaded by, for reports and manifests."""
        ...

    @property
    def dim(self) -> int:
        """The width of every vector `encode` returns (before Matryoshka truncation)."""
        ...

    @property
    def prompts(self) -> dict[str, str]:
        """Named prompts (`query`, `document`, ...) the model was trained with; empty when it has none."""
        ...

    @property
    def query_prompt(self) -> str:
        """The text `encode_queries` puts before each query ("" for none)."""
        ...

    @property
    def document_prompt(self) -> str:
        """The text `encode_documents` puts before each document ("" for none)."""
        ...

    @property
    def normalize(self) -> bool:
        """Whether `encode` returns unit vectors by default."""
        ...

    @property
    def max_seq_length(self) -> int | None:
        """The longest input in tokens, or None when the model reads texts of any length."""
        ...

    @property
    def tokenizer(self) -> Any | None:
        """The Hugging Face tokenizer whose tokens count against max_seq_length, or None (whitespace words)."""
        ...

    def info(self) -> dict[str, Any]:
        """A JSON-ready summary for people: kind, sizes, pooling, prompts."""
        ...

    def encode(self, texts: str | Iterable[str], batch_size: int = 32, **options: Any) -> np.ndarray:
        """(n, dim) float32 for a list of texts, (dim,) for a single string."""
        ...

    def query_prompt_for(self, task: str | None) -> str:
        """The text `encode_queries(task=task)` puts before each query: `query_prompt` when task is None, else the
        model's instruction template filled with the task (embedlab/instructions.py)."""
        ...

    def encode_queries(self, queries: str | Iterable[str], task: str | None = None, **options: Any) -> np.ndarray:
        """encode with the model's query prompt, or with its instruction for `task` when one is given."""
        ...

    def encode_documents(self, documents: str | Iterable[str], **options: Any) -> np.ndarray:
        """encode with the model's document prompt."""
        ...


@runtime_checkable
class ChunkEmbedder(Protocol):
    """A model that can late-chunk: read a document once and pool each chunk's vector from its tokens' states
    (transformer encoders; a static model has no token states that depend on context)."""

    def encode_chunks(
        self, documents: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32,
        normalize: bool | None = None,
    ) -> list[np.ndarray]:
        """Per document, one (len(spans), dim) float32 array: a vector per (start, end) character span."""
        ...


def named_prompt(prompts: dict[str, str], candidates: tuple[str, ...]) -> str | None:
    """The first of `candidates` that names a non-empty prompt (how query and document prompts are found)."""
    return next((name for name in candidates if prompts.get(name)), None)


@runtime_checkable
class SparseEmbedder(Protocol):
    """A learned-sparse model (SPLADE): each text becomes a weight per vocabulary term, most of them zero.

    Rows are scipy.sparse CSR matrices of shape (n, vocab_size), float32, non-negative; a query and a document
    score by their dot product. `terms` turns one row back into readable (term, weight) pairs.
    """

    @property
    def name(self) -> str: ...

    @property
    def vocab_size(self) -> int: ...

    @property
    def max_seq_length(self) -> int | None: ...

    @property
    def tokenizer(self) -> Any: ...

    def info(self) -> dict[str, Any]: ...

    def encode_queries(self, queries: Sequence[str], **options: Any) -> Any:
        """(n, vocab_size) scipy.sparse.csr_matrix, float32."""
        ...

    def encode_documents(self, documents: Sequence[str], **options: Any) -> Any:
        """(n, vocab_size) scipy.sparse.csr_matrix, float32 (inference-free models look terms up, no transformer)."""
        ...

    def terms(self, row: Any, top_k: int | None = None) -> list[tuple[str, float]]:
        """The non-zero (term, weight) pairs of one (1, vocab_size) row, heaviest first."""
        ...


@runtime_checkable
class MultiVectorEmbedder(Protocol):
    """A late-interaction model (ColBERT): one unit vector per token; a query scores a document by MaxSim.

    Queries are padded with mask tokens to a fixed length (query augmentation); documents skip punctuation.
    `query_tokens` / `document_tokens` name the token behind each row, for people (the playground's grid).
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_seq_length(self) -> int | None: ...

    @property
    def tokenizer(self) -> Any: ...

    def info(self) -> dict[str, Any]: ...

    def encode_queries(self, queries: Sequence[str], **options: Any) -> list[np.ndarray]:
        """Per query, a (tokens, dim) float32 array of unit rows."""
        ...

    def encode_documents(self, documents: Sequence[str], **options: Any) -> list[np.ndarray]:
        """Per document, a (tokens, dim) float32 array of unit rows (punctuation skipped)."""
        ...

    def query_tokens(self, query: str) -> list[str]:
        """The token behind each row `encode_queries([query])[0]` returns, in order."""
        ...

    def document_tokens(self, document: str) -> list[str]:
        """The token behind each row `encode_documents([document])[0]` returns, in order."""
        ...


def representation(model: object) -> str:
    """'sparse', 'multi_vector' or 'dense': what a model's vectors are, for the index, server and evaluation
    to refuse a mix (a sparse model against a dense index, ...) in one line."""
    if isinstance(model, SparseEmbedder):
        return "sparse"
    if isinstance(model, MultiVectorEmbedder):
        return "multi_vector"
    return "dense"
