"""The /v1 endpoints: embeddings (OpenAI's schema), similarity, rerank, search and the model list.

Each validates, checks the limits, then reaches the model only through the Service.
"""

from __future__ import annotations

import base64

import numpy as np
import torch
from fastapi import APIRouter, Depends, Request
from scipy.special import expit
from starlette.concurrency import run_in_threadpool

from embedlab.models.encoder import finish_embeddings
from embedlab.models.multi_vector_rerank import MaxSimReranker
from embedlab.server.errors import ERROR_RESPONSES, APIError
from embedlab.server.limits import check_api_key, check_count, check_model, check_representation
from embedlab.server.schemas import (
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    RerankDocument,
    RerankRequest,
    RerankResponse,
    RerankResult,
    RerankUsage,
    SearchHit,
    SearchRequest,
    SearchResponse,
    Similarity,
    SimilarityRequest,
    SimilarityResponse,
    Usage,
)
from embedlab.server.service import Service
from embedlab.similarity import pairwise_cosine

router = APIRouter(prefix="/v1", dependencies=[Depends(check_api_key)], responses=ERROR_RESPONSES)


def service(request: Request) -> Service:
    return request.app.state.service


def wire(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    """A vector as OpenAI sends it: a JSON list of floats, or base64 of its little-endian float32 bytes."""
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()


@router.post("/embeddings", response_model=EmbeddingResponse, summary="Embed texts (OpenAI's schema)")
async def embeddings(body: EmbeddingRequest, request: Request) -> EmbeddingResponse:
    """The vectors of `input`, as `Encoder.encode` makes them; `dimensions` truncates and re-normalises."""
    svc = service(request)
    check_representation(svc.representation, "dense", "/v1/embeddings")
    check_model(body.model, svc.model_names)
    texts = [body.input] if isinstance(body.input, str) else body.input
    check_count(len(texts), svc.config.max_inputs, "input")
    dim = int(svc.encoder.dim)
    if body.dimensions is not None and body.dimensions > dim:
        raise APIError(400, f"dimensions={body.dimensions} but the model makes {dim}-d vectors", code="invalid_value",
                       param="dimensions")
    vectors, tokens = await svc.embed(texts, request_prompt(body, svc))
    if body.dimensions is not None:
        # The same Matryoshka step as encode(dim=...): the batch was embedded at full size for every caller.
        normalize = svc.encoder.normalize
        vectors = finish_embeddings(torch.from_numpy(vectors), body.dimensions, normalize).numpy()
    data = [Embedding(index=i, embedding=wire(v, body.encoding_format)) for i, v in enumerate(vectors)]
    used = sum(tokens)
    return EmbeddingResponse(data=data, model=svc.config.model_name, usage=Usage(prompt_tokens=used, total_tokens=used))


def request_prompt(body: EmbeddingRequest, svc: Service) -> str | None:
    """The text an embeddings request puts before each input (None: the model's default), or a 400."""
    chosen = [name for name in ("prompt_name", "input_type") if getattr(body, name) is not None]
    if len(chosen) > 1 or (body.task is not None and body.prompt_name is not None):
        raise APIError(400, "give one of prompt_name and input_type (task goes with input_type 'query')",
                       code="invalid_value", param=chosen[-1])
    if body.task is not None and body.input_type == "document":
        raise APIError(400, "a task is for queries; documents get no instruction", code="invalid_value", param="task")
    if body.input_type == "document":
        return svc.encoder.document_prompt
    if body.input_type == "query" or body.task is not None:
        return svc.encoder.query_prompt_for(body.task)
    prompts = svc.encoder.prompts
    if body.prompt_name is not None and body.prompt_name not in prompts:
        known = ", ".join(sorted(prompts)) or "none"
        raise APIError(400, f"the model has no prompt {body.prompt_name!r} (its prompts: {known})",
                       code="invalid_value", param="prompt_name")
    return None if body.prompt_name is None else prompts[body.prompt_name]


@router.post("/similarity", response_model=SimilarityResponse, summary="Cosine similarity of text pairs")
async def similarity(body: SimilarityRequest, request: Request) -> SimilarityResponse:
    """Each pair's cosine; every distinct text is embedded once, batched with other requests."""
    svc = service(request)
    check_representation(svc.representation, "dense", "/v1/similarity")
    check_model(body.model, svc.model_names)
    check_count(2 * len(body.pairs), svc.config.max_inputs, "pairs")
    texts = list(dict.fromkeys(text for pair in body.pairs for text in pair))
    vectors, tokens = await svc.embed(texts)
    row = {text: i for i, text in enumerate(texts)}
    first = vectors[[row[a] for a, _ in body.pairs]]
    second = vectors[[row[b] for _, b in body.pairs]]
    scores = np.atleast_1d(pairwise_cosine(first, second))
    data = [Similarity(index=i, score=float(s)) for i, s in enumerate(scores)]
    used = sum(tokens)
    return SimilarityResponse(
        data=data, model=svc.config.model_name, usage=Usage(prompt_tokens=used, total_tokens=used)
    )


@router.post("/rerank", response_model=RerankResponse,
             summary="Order documents for a query with the cross-encoder or a multi-vector model (MaxSim)")
async def rerank(body: RerankRequest, request: Request) -> RerankResponse:
    """Documents best first by the cross-encoder's score, or by MaxSim when the reranker (or, with none loaded,
    the served model) is multi-vector; ties keep the documents' order."""
    svc = service(request)
    reranker, names = rerank_model(svc)
    check_model(body.model, names, what="reranker")
    check_count(len(body.documents), svc.config.max_rerank_documents, "documents")
    pairs = [(body.query, document) for document in body.documents]
    # Raw logits order the documents: their sigmoid saturates at 1.0 in float32 and would tie the best ones.
    logits = await svc.call(lambda: np.asarray(reranker.predict(pairs, activation=False), dtype=np.float64))
    # MaxSim is a sum of cosines, not a logit: sent raw, as ColBERT reports it.
    relevance = logits if isinstance(reranker, MaxSimReranker) else expit(logits)
    order = sorted(range(len(body.documents)), key=lambda i: (-logits[i], i))[: body.top_n]
    results = [
        RerankResult(index=i, relevance_score=float(relevance[i]),
                     document=RerankDocument(text=body.documents[i]) if body.return_documents else None)
        for i in order
    ]
    tokens = svc.counter.kept(await run_in_threadpool(svc.counter, [body.query, *body.documents]))
    used = tokens[0] * len(body.documents) + sum(tokens[1:])
    return RerankResponse(model=names[0], results=results, usage=RerankUsage(total_tokens=used))


@router.post("/search", response_model=SearchResponse, summary="Search the loaded index")
async def search(body: SearchRequest, request: Request) -> SearchResponse:
    """The k best chunks of the index served with --index: dense, BM25 or hybrid, filtered, optionally re-ranked."""
    svc = service(request)
    index = require_index(svc)
    reranker = require_reranker(svc) if body.rerank else None
    if body.k > svc.config.max_search_k:
        raise APIError(400, f"k={body.k}; this server returns at most {svc.config.max_search_k}", code="invalid_value",
                       param="k")
    hits = await svc.call(
        lambda: index.search(body.query, k=body.k, mode=body.mode, where=body.filter, reranker=reranker,
                             rerank_top=body.rerank_top, task=body.task)
    )
    return SearchResponse(data=[SearchHit(**hit._asdict()) for hit in hits], model=svc.config.model_name,
                          mode=body.mode, reranked=reranker is not None)


@router.get("/models", summary="The served models (OpenAI's list)")
async def models(request: Request) -> dict:
    svc = service(request)
    created = int(svc.started)
    entries = [{"id": svc.config.model_name, "object": "model", "created": created, "owned_by": "embedlab"}]
    if svc.reranker is not None:
        entries.append({"id": svc.reranker_names[0], "object": "model", "created": created, "owned_by": "embedlab"})
    return {"object": "list", "data": entries}


def require_index(svc: Service):
    if svc.index is None:
        raise APIError(501, "no index is loaded: start the server with --index DIR (built by `embedlab index build`)",
                       code="index_not_loaded")
    return svc.index


def require_reranker(svc: Service):
    """The loaded cross-encoder, for search and RAG reranking (which score (query, text) pairs)."""
    if svc.reranker is None:
        raise APIError(501, "no reranker is loaded: start the server with --reranker DIR (a cross-encoder)",
                       code="reranker_not_loaded")
    return svc.reranker


def rerank_model(svc: Service) -> tuple[object, list[str]]:
    """What /v1/rerank orders documents with, and the names it answers to: the loaded reranker (a cross-encoder
    or a multi-vector model), else the served model when it is multi-vector (a ColBERT server reranks itself)."""
    if svc.reranker is None and svc.representation == "multi_vector":
        return MaxSimReranker(svc.encoder), svc.model_names
    if svc.reranker is None:
        raise APIError(501, "no reranker is loaded: start the server with --reranker DIR (a cross-encoder), or "
                       "serve a multi-vector model", code="reranker_not_loaded")
    return svc.reranker, svc.reranker_names
