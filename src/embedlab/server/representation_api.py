"""The /v1 endpoints of sparse and multi-vector models: /v1/sparse_embeddings and /v1/token_embeddings.

They share /v1/embeddings' envelope, limits, batching, API key and error shape; each answers a clear 400 on a
server whose model is of another kind.
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, Request
from scipy import sparse

from embedlab.server.api import service, wire
from embedlab.server.errors import ERROR_RESPONSES
from embedlab.server.limits import check_api_key, check_count, check_model, check_representation
from embedlab.server.schemas import (
    SparseEmbedding,
    SparseEmbeddingRequest,
    SparseEmbeddingResponse,
    TokenEmbedding,
    TokenEmbeddingRequest,
    TokenEmbeddingResponse,
    Usage,
)
from embedlab.server.service import Service

router = APIRouter(prefix="/v1", dependencies=[Depends(check_api_key)], responses=ERROR_RESPONSES)


def _texts(body: SparseEmbeddingRequest | TokenEmbeddingRequest, svc: Service) -> list[str]:
    check_model(body.model, svc.model_names)
    texts = [body.input] if isinstance(body.input, str) else body.input
    check_count(len(texts), svc.config.max_inputs, "input")
    return texts


def heaviest(row: sparse.csr_matrix, top_k: int | None) -> tuple[np.ndarray, np.ndarray]:
    """One (1, vocab) row's non-zero (indices, values), heaviest first with ties by index, at most `top_k`."""
    row = sparse.csr_matrix(row)
    indices, values = row.indices[row.data != 0], row.data[row.data != 0]  # a stored zero is no term
    order = np.lexsort((indices, -values))[:top_k]
    return indices[order], values[order]


@router.post("/sparse_embeddings", response_model=SparseEmbeddingResponse,
             summary="Sparse vectors of texts (learned-sparse models such as SPLADE)")
async def sparse_embeddings(body: SparseEmbeddingRequest, request: Request) -> SparseEmbeddingResponse:
    """Each text's non-zero vocabulary weights as `indices` / `values` (optionally the terms), heaviest first."""
    svc = service(request)
    check_representation(svc.representation, "sparse", "/v1/sparse_embeddings")
    texts = _texts(body, svc)
    rows, tokens = await svc.embed_side(texts, body.input_type)
    data = []
    for i in range(len(texts)):
        indices, values = heaviest(rows[i : i + 1], body.top_k)
        terms = svc.encoder.tokenizer.convert_ids_to_tokens(indices.tolist()) if body.return_terms else None
        data.append(SparseEmbedding(index=i, indices=indices.tolist(), values=values.tolist(), terms=terms))
    used = sum(tokens)
    return SparseEmbeddingResponse(data=data, model=svc.config.model_name, vocab_size=int(svc.encoder.vocab_size),
                                   usage=Usage(prompt_tokens=used, total_tokens=used))


@router.post("/token_embeddings", response_model=TokenEmbeddingResponse,
             summary="Per-token vectors of texts (multi-vector models such as ColBERT)")
async def token_embeddings(body: TokenEmbeddingRequest, request: Request) -> TokenEmbeddingResponse:
    """Each text's tokens and one unit vector per token, as MaxSim scores them."""
    svc = service(request)
    check_representation(svc.representation, "multi_vector", "/v1/token_embeddings")
    texts = _texts(body, svc)
    rows, tokens = await svc.embed_side(texts, body.input_type)
    data = [TokenEmbedding(index=i, tokens=r.tokens, embeddings=wire(r.vectors, body.encoding_format))
            for i, r in enumerate(rows)]
    used = sum(tokens)
    return TokenEmbeddingResponse(data=data, model=svc.config.model_name, dimensions=int(svc.encoder.dim),
                                  usage=Usage(prompt_tokens=used, total_tokens=used))
