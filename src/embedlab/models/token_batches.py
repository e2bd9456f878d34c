"""Length-sorted batches with dynamic padding: each batch pads only to its own longest text.

Sorting by token count before batching removes most padding, which is most of the speed-up on mixed lengths.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from tokenizers import Encoding


def length_sorted_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None) -> list[list[int]]:
    """Indices grouped into batches, longest first (so running out of memory shows up at once).

    max_tokens also caps each batch's padded size (count x its longest text): short texts then travel in
    large batches and long ones in small, keeping the work per batch even; a longer text goes alone.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    if max_tokens is None:
        return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    batches: list[list[int]] = []
    start = 0
    while start < len(order):
        # Sorted longest first, so the first text of a batch sets its padded width.
        width = max(int(lengths[order[start]]), 1)
        size = max(1, min(batch_size, max_tokens // width))
        batches.append(order[start : start + size].tolist())
        start += size
    return batches


class TokenRow(NamedTuple):
    """One model input row built by hand (e.g. a window of a longer text): what pad_encodings reads."""

    ids: list[int]
    type_ids: list[int]


def pad_encodings(
    encodings: Sequence[Encoding | TokenRow], pad_id: int, with_token_types: bool
) -> dict[str, torch.Tensor]:
    """Right-pad a batch of tokenizer encodings (or TokenRows) into the model's input tensors."""
    width = max(len(e.ids) for e in encodings)
    ids = np.full((len(encodings), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    types = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = 1
        types[row, :n] = encoding.type_ids
    features = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    if with_token_types:
        features["token_type_ids"] = torch.from_numpy(types)
    return features


def warn_truncated(encodings: list[Encoding], max_seq_length: int) -> None:
    """One warning for all texts of a call that lost tokens to max_seq_length (the caller's caller is named)."""
    truncated = sum(1 for e in encodings if e.overflowing)
    if truncated:
        warnings.warn(
            f"{truncated} of {len(encodings)} texts are longer than max_seq_length={max_seq_length} tokens "
            "and were truncated",
            stacklevel=3,
        )
