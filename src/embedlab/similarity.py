"""Similarity scores, exact chunked top-k search and coarse bands for cosine scores.

Works on numpy arrays or torch tensors so results of any encoder can be compared directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from embedlab.errors import EmbedlabError


def _as_matrix(x: Any, name: str) -> tuple[np.ndarray, bool]:
    """Return `x` as a 2-D float array and whether it was a single 1-D vector.

    Torch tensors are detached to numpy so callers never have to convert first.
    """
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    arr = arr.astype(np.result_type(arr.dtype, np.float32), copy=False)
    if arr.ndim not in (1, 2):
        raise EmbedlabError(f"{name} must be 1-D (d,) or 2-D (n, d), got shape {arr.shape}")
    return np.atleast_2d(arr), arr.ndim == 1


def unit_rows(rows: Any) -> np.ndarray:
    """Rows (or a single vector) scaled to length 1; zero rows stay zero, so their cosine is 0, not NaN.

    The one place embedlab normalises numpy rows; the result is float32 or wider (integers become float64).
    """
    m = np.asarray(rows)
    m = m.astype(np.result_type(m.dtype, np.float32), copy=False)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)


def _pairwise(a: Any, b: Any, kernel: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Any:
    """Apply a (n,d),(m,d)->(n,m) kernel, dropping the axes of 1-D inputs (two 1-D give a float)."""
    (ma, a1), (mb, b1) = _as_matrix(a, "a"), _as_matrix(b, "b")
    if ma.shape[1] != mb.shape[1]:
        raise EmbedlabError(f"dimension mismatch: a has {ma.shape[1]} dims, b has {mb.shape[1]}")
    out = kernel(ma, mb)
    out = out[0] if a1 else out
    out = out[..., 0] if b1 else out
    return float(out) if a1 and b1 else out


def cosine_similarity(a: Any, b: Any) -> Any:
    """Cosine of every row of `a` with every row of `b`: (n,d),(m,d) -> (n,m); 1-D inputs drop an axis.

    Zero vectors score 0 against everything; values are clipped to [-1, 1] against rounding.
    """
    return _pairwise(a, b, lambda x, y: np.clip(unit_rows(x) @ unit_rows(y).T, -1.0, 1.0))


def dot_similarity(a: Any, b: Any) -> Any:
    """Dot product of every row of `a` with every row of `b`, shaped like cosine_similarity.

    Equals cosine for normalised embeddings but skips the normalisation.
    """
    return _pairwise(a, b, lambda x, y: x @ y.T)


def euclidean_distance(a: Any, b: Any) -> Any:
    """Euclidean distance between every row of `a` and every row of `b`, shaped like cosine_similarity.

    Uses |x|^2 + |y|^2 - 2xy in float64 so memory stays (n,m) and cancellation stays small.
    """

    def kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x, y = x.astype(np.float64), y.astype(np.float64)
        sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
        return np.sqrt(np.maximum(sq, 0.0))

    return _pairwise(a, b, kernel)


def pairwise_cosine(a: Any, b: Any) -> np.ndarray:
    """Cosine of row i of `a` with row i of `b`: (n,d),(n,d) -> (n,).

    For scoring aligned pairs (e.g. STS) without building the full (n,n) matrix.
    """
    (ma, _), (mb, _) = _as_matrix(a, "a"), _as_matrix(b, "b")
    if ma.shape != mb.shape:
        raise EmbedlabError(f"shape mismatch: a is {ma.shape}, b is {mb.shape}; rows must pair up")
    return np.clip((unit_rows(ma) * unit_rows(mb)).sum(axis=1), -1.0, 1.0)


class Hit(NamedTuple):
    """One search result: a row of the corpus and its score.

    A NamedTuple so callers may use `hit.score` or unpack `corpus_id, score = hit`.
    """

    corpus_id: int
    score: float


def semantic_search(
    query_embeddings: Any, corpus_embeddings: Any, top_k: int = 10, score: str = "cosine", chunk_size: int = 50_000
) -> list[list[Hit]]:
    """Exact top-k corpus rows per query, best first, ties going to the lower corpus index.

    The corpus is scored `chunk_size` rows at a time so memory stays (queries x chunk_size).
    """
    if score not in ("cosine", "dot"):
        raise EmbedlabError(f"score must be 'cosine' or 'dot', got {score!r}")
    if top_k < 1 or chunk_size < 1:
        raise EmbedlabError(f"top_k and chunk_size must be >= 1, got {top_k} and {chunk_size}")
    (queries, _), (corpus, _) = _as_matrix(query_embeddings, "queries"), _as_matrix(corpus_embeddings, "corpus")
    if queries.shape[1] != corpus.shape[1]:
        raise EmbedlabError(f"dimension mismatch: queries have {queries.shape[1]} dims, corpus has {corpus.shape[1]}")
    if score == "cosine":
        queries = unit_rows(queries)  # once here; corpus rows are normalised chunk by chunk
    n = len(queries)
    best_ids = np.empty((n, 0), dtype=np.int64)
    best_scores = np.empty((n, 0), dtype=queries.dtype)
    for start in range(0, len(corpus), chunk_size):
        chunk = corpus[start : start + chunk_size]
        chunk_scores = queries @ (unit_rows(chunk) if score == "cosine" else chunk).T
        if not np.isfinite(chunk_scores).all():
            raise EmbedlabError(f"non-finite scores in corpus rows {start}..{start + len(chunk) - 1}: NaN or inf input")
        # The chunk's own k best first, so the merge with the running best (all ids below this chunk, kept
        # sorted by (score desc, id asc)) touches 2k columns rather than copying the whole chunk.
        chunk_ids, chunk_best = _top_k(np.broadcast_to(np.arange(start, start + len(chunk)), chunk_scores.shape),
                                       chunk_scores, top_k)
        best_ids, best_scores = _top_k(
            np.concatenate([best_ids, chunk_ids], axis=1), np.concatenate([best_scores, chunk_best], axis=1), top_k
        )
    return [[Hit(int(i), float(s)) for i, s in zip(ids, scores)] for ids, scores in zip(best_ids, best_scores)]


def _top_k(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep each row's k best columns sorted by (score desc, id asc); equal scores must be in id order.

    argpartition alone breaks ties at the k-th score arbitrarily, so tied columns are taken leftmost first.
    """
    k = min(k, scores.shape[1])
    if k < scores.shape[1]:
        # torch's topk is threaded and needs no negated copy; only the k-th value is taken from it, ties sorted below.
        kth = torch.topk(torch.from_numpy(np.ascontiguousarray(scores)), k, dim=1, sorted=True).values[:, -1:].numpy()
        above, tied = scores > kth, scores == kth
        keep = above | tied
        needed = k - above.sum(axis=1, keepdims=True)
        # Only rows with more tied columns than places left need the (full-width) count; they are rare.
        crowded = np.nonzero(tied.sum(axis=1, keepdims=True)[:, 0] > needed[:, 0])[0]
        if len(crowded):
            keep[crowded] = above[crowded] | (tied[crowded] & (np.cumsum(tied[crowded], axis=1) <= needed[crowded]))
        cols = np.nonzero(keep)[1].reshape(len(scores), k)
        ids, scores = np.take_along_axis(ids, cols, axis=1), np.take_along_axis(scores, cols, axis=1)
    order = np.lexsort((ids, -scores), axis=1)
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(scores, order, axis=1)


@dataclass(frozen=True)
class SimilarityBands:
    """Lower bounds of the cosine bands: [paraphrase, 1], [related, paraphrase), [unrelated, related).

    Defaults suit all-MiniLM-L6-v2; cosine scales differ per model, so recalibrate for others.
    """

    paraphrase: float = 0.85
    related: float = 0.6
    unrelated: float = 0.2

    def __post_init__(self) -> None:
        if not self.unrelated <= self.related <= self.paraphrase:
            raise EmbedlabError(
                f"bands must satisfy unrelated <= related <= paraphrase, got {self.unrelated}, {self.related}, "
                f"{self.paraphrase}"
            )


def band(score: float, bands: SimilarityBands = SimilarityBands()) -> str:
    """Name the band of a cosine score: "paraphrase", "related", "weakly related" or "unrelated".

    Bands are half-open and cover every real score, so each score gets exactly one label.
    """
    if math.isnan(score):
        raise EmbedlabError("cannot band a NaN similarity score")
    if score >= bands.paraphrase:
        return "paraphrase"
    if score >= bands.related:
        return "related"
    if score >= bands.unrelated:
        return "weakly related"
    return "unrelated"


def maxsim(query: np.ndarray, document: np.ndarray) -> float:
    """Late-interaction score: for each query token its best dot product over the document's tokens, summed.

    Rows are token vectors (unit rows for ColBERT, so each term is a cosine). An empty side has no tokens to
    match, which is a caller's mistake rather than a score of zero.
    """
    return float(maxsim_grid(query, document).max(axis=1).sum())


def maxsim_grid(query: np.ndarray, document: np.ndarray) -> np.ndarray:
    """The (query tokens, document tokens) dot-product grid MaxSim takes each row's maximum of."""
    q, d = np.asarray(query, dtype=np.float32), np.asarray(document, dtype=np.float32)
    if q.ndim != 2 or d.ndim != 2 or q.shape[1] != d.shape[1]:
        raise EmbedlabError(f"MaxSim needs (tokens, dim) arrays of one width, got {q.shape} and {d.shape}")
    if len(q) == 0 or len(d) == 0:
        raise EmbedlabError(f"MaxSim needs at least one token on each side, got {len(q)} query and {len(d)} document")
    return q @ d.T
