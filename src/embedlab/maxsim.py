"""Batched MaxSim for late interaction (ColBERT): padded token tensors with masks, and exact top-k over a corpus.

`similarity.maxsim` scores one query against one document; training scores a batch against a batch with
gradients, and evaluation a query set against a whole corpus. Both go through `maxsim_scores` here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from embedlab.errors import EmbedlabError
from embedlab.similarity import Hit, _top_k

# Document tokens scored per chunk in exact search: the (query tokens x chunk tokens) product then stays small.
CHUNK_TOKENS = 8_192


def pad_rows(rows: Sequence[np.ndarray], dim: int, repeat: bool = False) -> tuple[Tensor, Tensor]:
    """(n, longest, dim) float32 padded token vectors and their (n, longest) bool mask.

    Padding is zeros, or with `repeat` a copy of the text's first row: a repeated document row cannot change a
    maximum, so exact search can skip masking the (large) score grid.
    """
    if any(len(r) == 0 for r in rows):
        empty = next(i for i, r in enumerate(rows) if len(r) == 0)
        raise EmbedlabError(f"MaxSim needs at least one token per text; text {empty} has none")
    widths = [len(r) for r in rows]
    padded = torch.zeros(len(rows), max(widths, default=0), dim)
    mask = torch.zeros(len(rows), max(widths, default=0), dtype=torch.bool)
    for i, row in enumerate(rows):
        row = np.asarray(row, dtype=np.float32)
        if row.ndim != 2 or row.shape[1] != dim:
            raise EmbedlabError(f"token vectors must be (tokens, {dim}) arrays, text {i} has shape {row.shape}")
        padded[i, : len(row)] = torch.from_numpy(row)
        mask[i, : len(row)] = True
        if repeat:
            padded[i, len(row):] = padded[i, 0]
    return padded, mask


def maxsim_scores(queries: Tensor, query_mask: Tensor, documents: Tensor, document_mask: Tensor | None) -> Tensor:
    """(Q, N) MaxSim of padded queries (Q, Tq, d) against padded documents (N, Td, d), in float32, differentiable.

    Each scored query token takes its best dot product over the document's scored tokens; the bests are summed.
    """
    if document_mask is not None and not bool(document_mask.any(dim=1).all()):
        raise EmbedlabError("MaxSim needs at least one scored token in every document")
    with torch.autocast(queries.device.type, enabled=False):
        q, d = queries.float(), documents.float()
        (n_q, t_q, dim), (n_d, t_d, _) = q.shape, d.shape
        grid = (q.reshape(n_q * t_q, dim) @ d.reshape(n_d * t_d, dim).T).reshape(n_q, t_q, n_d, t_d)
        if document_mask is not None:  # None: documents padded by repeating a real row (pad_rows(repeat=True))
            grid = grid.masked_fill(~document_mask[None, None], float("-inf"))
        best = grid.amax(dim=3)  # (Q, Tq, N)
        return (best * query_mask[:, :, None].float()).sum(dim=1)


def maxsim_top_k(query_rows: Sequence[np.ndarray], document_rows: Sequence[np.ndarray], top_k: int,
                 chunk_tokens: int = CHUNK_TOKENS) -> list[list[Hit]]:
    """Exact MaxSim top-k documents per query, best first, ties to the lower index; the corpus goes chunk by
    chunk so memory stays (query tokens x chunk_tokens)."""
    if top_k < 1:
        raise EmbedlabError(f"top_k must be >= 1, got {top_k}")
    if not document_rows:
        return [[] for _ in query_rows]
    dim = np.asarray(document_rows[0]).shape[-1]
    # The GPU when there is one: the corpus-wide product is most of the work.
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    queries, query_mask = (t.to(device) for t in pad_rows(query_rows, dim))
    n = len(query_rows)
    best_ids, best_scores = np.empty((n, 0), dtype=np.int64), np.empty((n, 0), dtype=np.float32)
    with torch.inference_mode():
        for chunk in _chunks([len(r) for r in document_rows], chunk_tokens):
            documents, _ = pad_rows([document_rows[i] for i in chunk], dim, repeat=True)
            scores = maxsim_scores(queries, query_mask, documents.to(device), None).cpu().numpy()
            ids = np.broadcast_to(np.asarray(chunk, dtype=np.int64), scores.shape)
            chunk_ids, chunk_best = _top_k(ids, scores, top_k)
            best_ids, best_scores = _top_k(
                np.concatenate([best_ids, chunk_ids], axis=1), np.concatenate([best_scores, chunk_best], axis=1), top_k
            )
    return [[Hit(int(i), float(s)) for i, s in zip(ids, scores)] for ids, scores in zip(best_ids, best_scores)]


def _chunks(lengths: list[int], chunk_tokens: int) -> list[list[int]]:
    """Document indices in runs whose padded size (count x longest) stays near chunk_tokens; sorting by length
    first keeps the padding small. Each run is in index order, as _top_k's tie-breaking needs."""
    order = np.argsort(lengths, kind="stable")
    chunks: list[list[int]] = []
    current: list[int] = []
    for index in order.tolist():
        if current and (len(current) + 1) * lengths[index] > chunk_tokens:
            chunks.append(sorted(current))
            current = []
        current.append(index)
    return chunks + [sorted(current)] if current else chunks
