"""Token rows of a late-interaction model: query augmentation, document skiplist, and which rows are scored.

The transformer sees `features`; MaxSim sees the rows `score_mask` keeps. They differ on purpose: a query's
mask-token padding is scored although the transformer (classically) does not attend to it, and a document's
punctuation is read in context but never scored. Exactly sentence-transformers' MultiVectorMask semantics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Encoding, Tokenizer
from torch import Tensor

from embedlab.errors import EmbedlabError
from embedlab.models.multi_vector_format import MultiVectorSettings


class QueryTooLongError(EmbedlabError):
    """A query has more tokens than the model's query budget (its [Q] marker and mask padding included)."""


@dataclass
class TokenBatch:
    """Model inputs for a batch and the (batch, tokens) bool mask of the rows MaxSim scores."""

    features: dict[str, Tensor]
    score_mask: Tensor

    def to(self, device: torch.device) -> TokenBatch:
        return TokenBatch({k: v.to(device) for k, v in self.features.items()}, self.score_mask.to(device))


@dataclass
class TokenIds:
    """The special ids the rows need: padding, the expansion (mask) token, and the skiplist."""

    pad: int
    expansion: int | None
    skiplist: np.ndarray

    @classmethod
    def of(cls, tokenizer, settings: MultiVectorSettings) -> TokenIds:
        """Resolve ids as sentence-transformers does: skiplist words that are not one vocabulary token are
        dropped (they would otherwise skip every [UNK]); the expansion token defaults to [MASK], then EOS."""
        unk = tokenizer.unk_token_id
        skip = [tokenizer.convert_tokens_to_ids(w) for w in settings.skiplist_words]
        words = settings.skiplist_words
        skip = [i for i, w in zip(skip, words) if i is not None and (i != unk or w == tokenizer.unk_token)]
        if settings.expansion_token is not None:
            expansion = tokenizer.convert_tokens_to_ids(settings.expansion_token)
        else:
            expansion = tokenizer.mask_token_id if tokenizer.mask_token_id is not None else tokenizer.eos_token_id
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        return cls(pad, expansion, np.asarray(sorted(set(skip)), dtype=np.int64))


def query_budget(settings: MultiVectorSettings) -> int | None:
    """The most tokens a query may have: the expansion length under "fixed", else the query or model cap."""
    if settings.expansion_length is not None and settings.expansion_strategy == "fixed":
        return settings.expansion_length
    return settings.query_length or settings.max_seq_length


def document_budget(settings: MultiVectorSettings) -> int | None:
    return settings.document_length or settings.max_seq_length


def truncating_tokenizer(source: Tokenizer, max_length: int | None) -> Tokenizer:
    """A private copy of a fast tokenizer cutting at max_length, without padding (batches pad themselves)."""
    fast = Tokenizer.from_str(source.to_str())
    fast.no_padding()
    if max_length is not None:
        fast.enable_truncation(max_length=max_length)
    else:
        fast.no_truncation()
    return fast


def check_query_lengths(encodings: Sequence[Encoding], texts: Sequence[str], budget: int | None) -> None:
    """One line naming the first query the budget cut (truncating it would silently drop its words)."""
    for text, encoding in zip(texts, encodings):
        if encoding.overflowing:
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise QueryTooLongError(
                f"query {shown!r} is longer than the model's query budget of {budget} tokens "
                "(markers and mask padding included); shorten it or pass truncate=True"
            )


def query_batch(encodings: Sequence[Encoding], settings: MultiVectorSettings, ids: TokenIds,
                token_types: bool) -> TokenBatch:
    """Queries padded with the expansion token up to the expansion length, which MaxSim scores."""
    floor = settings.expansion_length if ids.expansion is not None else None
    width = max([len(e.ids) for e in encodings] + [floor or 0])
    rows = _rows(encodings, width, ids.pad)
    input_ids, attention, types = rows
    score = attention.copy()
    if floor is not None:
        expansion = (attention == 0) & (np.arange(width) < floor)
        input_ids[expansion] = ids.expansion
        score |= expansion
        if settings.attend_to_expansion:
            attention = attention | expansion
    if "query" in settings.skiplist_tasks:
        score &= ~np.isin(input_ids, ids.skiplist)
    return _batch(input_ids, attention, types, score, token_types)


def document_batch(encodings: Sequence[Encoding], settings: MultiVectorSettings, ids: TokenIds,
                   token_types: bool) -> TokenBatch:
    """Documents padded to the longest; skiplist tokens (punctuation) are read but not scored."""
    input_ids, attention, types = _rows(encodings, max(len(e.ids) for e in encodings), ids.pad)
    score = attention.copy()
    if "document" in settings.skiplist_tasks:
        score &= ~np.isin(input_ids, ids.skiplist)
    return _batch(input_ids, attention, types, score, token_types)


def _rows(encodings: Sequence[Encoding], width: int, pad: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    input_ids = np.full((len(encodings), width), pad, dtype=np.int64)
    attention = np.zeros((len(encodings), width), dtype=bool)
    types = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        input_ids[row, :n], attention[row, :n], types[row, :n] = encoding.ids, True, encoding.type_ids
    return input_ids, attention, types


def _batch(input_ids: np.ndarray, attention: np.ndarray, types: np.ndarray, score: np.ndarray,
           token_types: bool) -> TokenBatch:
    features = {"input_ids": torch.from_numpy(input_ids),
                "attention_mask": torch.from_numpy(attention.astype(np.int64))}
    if token_types:
        features["token_type_ids"] = torch.from_numpy(types)
    return TokenBatch(features, torch.from_numpy(score))
