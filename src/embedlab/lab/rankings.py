"""Documents ranked for a query under different encodings: with or without prompts, at Matryoshka sizes.

Each ranking is best first with the cosine of each document, so pages and tests compare orders and scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from embedlab.models.encoder import finish_embeddings
from embedlab.similarity import cosine_similarity


def ranking(query: np.ndarray, documents: np.ndarray) -> tuple[list[int], list[float]]:
    """Document indices best first (ties by index) and every document's cosine with the query, in input order."""
    scores = np.atleast_1d(cosine_similarity(query, documents))
    return [int(i) for i in np.argsort(-scores, kind="stable")], [float(s) for s in scores]


def matryoshka_dimensions(full: int, smallest: int = 32) -> list[int]:
    """The sizes a Matryoshka slider offers: the full size, then the powers of two below it down to `smallest`."""
    sizes = [full]
    size = 1 << (full - 1).bit_length() - 1 if full > 1 else 0  # the largest power of two below full
    while size >= smallest:
        sizes.append(size)
        size //= 2
    return sizes


def matryoshka_rankings(
    query: np.ndarray, documents: np.ndarray, dimensions: Sequence[int]
) -> dict[int, tuple[list[int], list[float]]]:
    """The ranking at each size: the vectors truncated to the first `dim` values and re-normalised, as
    /v1/embeddings with `dimensions` sends them."""
    q, d = torch.as_tensor(query, dtype=torch.float32), torch.as_tensor(documents, dtype=torch.float32)
    return {
        dim: ranking(finish_embeddings(q, dim, True).numpy(), finish_embeddings(d, dim, True).numpy())
        for dim in dimensions
    }
