"""A learned-sparse (SPLADE) vector read as words: its heaviest vocabulary terms, and which of them the text
never contained (expansion terms: what the MLM head added, such as "music" for a text about a guitar)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from embedlab.embedder import SparseEmbedder

Side = Literal["query", "document"]


@dataclass
class WeightedTerm:
    term: str
    weight: float
    expansion: bool  # not among the text's own tokens


@dataclass
class SparseTerms:
    """A text's sparse vector: its `top_k` heaviest terms (heaviest first), how many terms are non-zero in all,
    and the text's own tokens, which decide what counts as an expansion."""

    terms: list[WeightedTerm]
    nonzero: int
    text_tokens: list[str]


def sparse_terms(model: SparseEmbedder, text: str, side: Side = "document", top_k: int | None = None) -> SparseTerms:
    """Encode `text` as a query or a document and name its heaviest terms, expansions marked.

    A term is an expansion when the model's own tokenizer does not produce it from the text: the comparison is
    between vocabulary entries, so word pieces ("##ing") count as the text's own when the text yields them.
    """
    encode = model.encode_queries if side == "query" else model.encode_documents
    row = encode([text])[0]
    own = model.tokenizer.tokenize(text)
    present = set(own)
    return SparseTerms(
        terms=[WeightedTerm(term, float(weight), term not in present) for term, weight in model.terms(row, top_k)],
        nonzero=int(row.nnz),
        text_tokens=own,
    )
