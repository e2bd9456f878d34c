"""The playground's endpoints (/playground/...) and its static pages at `/`: HTTP glue around embedlab.lab.

Every model call goes through the Service's worker, so the pages share the limits, timeouts and metrics of /v1.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from embedlab.apps.rag import RagConfig, answer
from embedlab.demo import DEMO_PAIRS, UNRELATED_PAIRS
from embedlab.embedder import representation
from embedlab.evaluation.diagnostics import DiagnoseConfig, DiagnosticsReport, diagnose
from embedlab.lab.contrastive import ProjectionConfig, train_projection
from embedlab.lab.late_interaction import late_interaction
from embedlab.lab.rankings import matryoshka_dimensions, matryoshka_rankings, ranking
from embedlab.lab.sparse_terms import sparse_terms
from embedlab.lab.tokens import SHOWN_STRATEGIES, pooling_rankings, raw_twin, require_transformer
from embedlab.models.encoder import Encoder
from embedlab.server.api import require_index, require_reranker, service
from embedlab.server.errors import APIError
from embedlab.server.limits import check_api_key, check_count
from embedlab.server.playground_schemas import (
    AsymmetricRequest,
    AsymmetricResponse,
    Band,
    ClassicPair,
    ContrastiveRequest,
    ContrastiveResponse,
    Histogram,
    LabeledScore,
    LateInteractionRequest,
    LateInteractionResponse,
    MatryoshkaRequest,
    MatryoshkaResponse,
    PlaygroundInfo,
    PoolingRequest,
    PoolingResponse,
    QualityReport,
    QualityRequest,
    QualityResponse,
    RagCitation,
    RagRequest,
    RagResponse,
    Ranked,
    SparseTermsRequest,
    SparseTermsResponse,
    WeightedTermOut,
)
from embedlab.similarity import SimilarityBands, pairwise_cosine

STATIC = files("embedlab.server") / "static"
HISTOGRAM_BINS = 40
QUALITY = DiagnoseConfig(n_random_pairs=2000)  # a few hundred texts at most: 2,000 random pairs is plenty
HEAD_VALUES = 8

router = APIRouter(prefix="/playground", dependencies=[Depends(check_api_key)], tags=["playground"])


def mount_playground(app: FastAPI) -> None:
    """The API under /playground, the pages' files under /assets and the playground itself at `/`."""
    app.include_router(router)
    app.mount("/assets", StaticFiles(directory=str(STATIC)), name="assets")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))


def _rounded(values: Any, digits: int = 4) -> list:
    return np.round(np.asarray(values, dtype=np.float64), digits).tolist()


def _ranked(result: tuple[list[int], list[float]]) -> Ranked:
    return Ranked(order=result[0], scores=result[1])


def _model(request: Request, which: str) -> Encoder:
    """The served transformer, or its raw twin, made once on first use (always on the worker thread)."""
    encoder = require_transformer(service(request).encoder)
    if which == "trained":
        return encoder
    state = request.app.state
    if getattr(state, "raw_encoder", None) is None:
        state.raw_encoder = raw_twin(encoder)
    return state.raw_encoder


# How to load each kind of model for the late-interaction page, for the page and the 501 to say.
LAB_OPTIONS = {"sparse": "--playground-sparse DIR", "multi_vector": "--playground-multi-vector DIR"}


def lab_model(request: Request, kind: str) -> Any | None:
    """The model of `kind` ('sparse' or 'multi_vector') the late-interaction page explains: the served model when
    it is of that kind, else the one given to create_app for the playground, else None."""
    svc = service(request)
    if svc.representation == kind:
        return svc.encoder
    return request.app.state.lab_models.get(kind)


def _require_lab_model(request: Request, kind: str) -> Any:
    model = lab_model(request, kind)
    if model is None:
        what = "multi-vector" if kind == "multi_vector" else "sparse"
        raise APIError(501, f"no {what} model is loaded: start the server with {LAB_OPTIONS[kind]} (or serve one "
                       "with --model)", code="model_not_loaded")
    return model


@router.get("/info", response_model=PlaygroundInfo, summary="What the playground pages start from")
async def info(request: Request) -> PlaygroundInfo:
    svc = service(request)
    bands = SimilarityBands()
    encoder = svc.encoder
    dense = svc.representation == "dense"
    multi_vector, sparse = lab_model(request, "multi_vector"), lab_model(request, "sparse")
    return PlaygroundInfo(
        model=svc.config.model_name,
        representation=svc.representation,
        dimensions=int(encoder.dim if svc.representation != "sparse" else encoder.vocab_size),
        transformer=isinstance(encoder, Encoder),
        classic_pairs=[ClassicPair(label=label, a=a, b=b) for label, a, b in DEMO_PAIRS],
        unrelated_pairs=list(UNRELATED_PAIRS),
        bands=[Band(name="paraphrase", min=bands.paraphrase), Band(name="related", min=bands.related),
               Band(name="weakly related", min=bands.unrelated), Band(name="unrelated", min=-1.0)],
        matryoshka_dimensions=matryoshka_dimensions(int(encoder.dim)) if dense else [],
        query_prompt=encoder.query_prompt if dense else "",
        document_prompt=encoder.document_prompt if dense else "",
        index=svc.index is not None,
        reranker=svc.reranker is not None and representation(svc.reranker) == "dense",
        chat=False,
        multi_vector=None if multi_vector is None else multi_vector.name,
        sparse=None if sparse is None else sparse.name,
    )


@router.post("/pooling", response_model=PoolingResponse, summary="Token vectors and each pooling of a sentence")
async def pooling(body: PoolingRequest, request: Request) -> PoolingResponse:
    """The sentence's token x dimension map, its pooled vectors, and the candidates ranked under each pooling."""
    svc = service(request)
    check_count(1 + len(body.candidates), svc.config.max_inputs, "candidates")
    left, right = [a for _, a, _ in DEMO_PAIRS], [b for _, _, b in DEMO_PAIRS]

    def run() -> tuple:
        model = _model(request, body.model)
        view, rankings = pooling_rankings(model, body.text, body.candidates)
        classic = pairwise_cosine(model.encode(left), model.encode(right))
        return model.name, view, rankings, classic

    name, view, rankings, classic = await svc.call(run)
    return PoolingResponse(
        model=name,
        tokens=view.tokens,
        heatmap=_rounded(view.vectors),
        pooled={s: _rounded(view.pooled[s]) for s in SHOWN_STRATEGIES},
        rankings={s: _ranked(r) for s, r in rankings.items()},
        classic=[LabeledScore(label=label, score=float(c)) for (label, _, _), c in zip(DEMO_PAIRS, classic)],
    )


@router.post("/contrastive", response_model=ContrastiveResponse, summary="InfoNCE steps on a 2-D projection")
async def contrastive(body: ContrastiveRequest, request: Request) -> ContrastiveResponse:
    """Train a 2-D linear head on the frozen embeddings of the pairs; every step's points and loss come back."""
    svc = service(request)
    config = ProjectionConfig(temperature=body.temperature, batch_size=body.batch_size, steps=body.steps,
                              lr=body.lr, seed=body.seed)
    check_count(2 * len(body.pairs), svc.config.max_inputs, "pairs")
    vectors, _ = await svc.embed([text for pair in body.pairs for text in pair])
    result = await svc.call(lambda: train_projection(vectors[0::2], vectors[1::2], config))
    return ContrastiveResponse(frames=[_rounded(frame) for frame in result.frames], losses=result.losses)


def _quality(report: DiagnosticsReport) -> QualityReport:
    edges = np.linspace(-1.0, 1.0, HISTOGRAM_BINS + 1)
    return QualityReport(
        model=report.model, anisotropy=report.anisotropy, anisotropy_centered=report.anisotropy_centered,
        alignment=report.alignment, uniformity=report.uniformity, effective_rank=report.effective_rank,
        dim=report.dim, n_texts=report.n_texts, auc=report.auc, random_mean=report.random_pairs.mean,
        positive_mean=report.positive_pairs.mean,
        histogram=Histogram(edges=_rounded(edges), random=np.histogram(report.random_cosines, edges)[0].tolist(),
                            positive=np.histogram(report.positive_cosines, edges)[0].tolist()),
    )


@router.post("/quality", response_model=QualityResponse, summary="Diagnostics of the model and of its raw twin")
async def quality(body: QualityRequest, request: Request) -> QualityResponse:
    """Anisotropy, alignment, uniformity, effective rank and cosine histograms on the given positive pairs."""
    svc = service(request)
    check_count(2 * len(body.pairs), svc.config.max_inputs, "pairs")
    pairs = list(body.pairs)
    trained, raw = await svc.call(lambda: [diagnose(_model(request, w), pairs, QUALITY) for w in ("trained", "raw")])
    return QualityResponse(trained=_quality(trained), raw=_quality(raw))


@router.post("/asymmetric", response_model=AsymmetricResponse, summary="Rankings without and with prefixes")
async def asymmetric(body: AsymmetricRequest, request: Request) -> AsymmetricResponse:
    """The documents ranked for the query encoded alike (symmetric) and with query / document prefixes."""
    svc = service(request)
    check_count(1 + len(body.documents), svc.config.max_inputs, "documents")
    encoder = require_transformer(svc.encoder)

    def run() -> tuple:
        plain = encoder.encode([body.query, *body.documents])
        query = encoder.encode(body.query, prompt=body.query_prefix)
        documents = encoder.encode(body.documents, prompt=body.document_prefix)
        return ranking(plain[0], plain[1:]), ranking(query, documents)

    symmetric, prefixed = await svc.call(run)
    return AsymmetricResponse(symmetric=_ranked(symmetric), asymmetric=_ranked(prefixed))


@router.post("/matryoshka", response_model=MatryoshkaResponse, summary="Rankings at each Matryoshka size")
async def matryoshka(body: MatryoshkaRequest, request: Request) -> MatryoshkaResponse:
    """The documents ranked for the query with the vectors cut to each size of the slider and re-normalised."""
    svc = service(request)
    check_count(1 + len(body.documents), svc.config.max_inputs, "documents")
    vectors, _ = await svc.embed([body.query, *body.documents])
    dimensions = matryoshka_dimensions(vectors.shape[1])
    rankings = matryoshka_rankings(vectors[0], vectors[1:], dimensions)
    return MatryoshkaResponse(dimensions=dimensions, rankings={d: _ranked(r) for d, r in rankings.items()})


@router.post("/rag", response_model=RagResponse, summary="Retrieval-augmented answer, step by step")
async def rag(body: RagRequest, request: Request) -> RagResponse:
    """Encode the question, retrieve from the index, number the sources in a prompt and answer from them."""
    svc = service(request)
    index = require_index(svc)
    reranker = require_reranker(svc) if body.rerank else None
    config = RagConfig(k=body.k, mode=body.mode)

    def run() -> tuple:
        query = np.asarray(svc.encoder.encode_queries(body.question))
        return query, answer(body.question, index, config, reranker)

    query, result = await svc.call(run)
    return RagResponse(
        query_vector_head=_rounded(query[:HEAD_VALUES]), dimensions=int(query.shape[-1]), prompt=result.prompt,
        answer=result.answer, mode=result.mode,
        citations=[RagCitation(number=c.number, doc_id=c.doc_id, chunk_id=c.chunk_id, snippet=c.snippet)
                   for c in result.citations],
    )


@router.post("/late_interaction", response_model=LateInteractionResponse,
             summary="A multi-vector model's query x document token grid and MaxSim")
async def late(body: LateInteractionRequest, request: Request) -> LateInteractionResponse:
    """Every query token's cosine with every document token, the best cell per query token, and their sum."""
    model = _require_lab_model(request, "multi_vector")
    result = await service(request).call(lambda: late_interaction(model, body.query, body.document))
    return LateInteractionResponse(
        model=model.name, query_tokens=result.query_tokens, document_tokens=result.document_tokens,
        grid=_rounded(result.grid), best=result.best, score=result.score,
    )


@router.post("/sparse_terms", response_model=SparseTermsResponse,
             summary="A sparse model's vector of a text as weighted terms, expansions marked")
async def terms(body: SparseTermsRequest, request: Request) -> SparseTermsResponse:
    """The text's heaviest vocabulary terms; those the text does not contain are marked as expansions."""
    model = _require_lab_model(request, "sparse")
    result = await service(request).call(lambda: sparse_terms(model, body.text, body.side, body.top_k))
    return SparseTermsResponse(
        model=model.name, nonzero=result.nonzero, text_tokens=result.text_tokens,
        terms=[WeightedTermOut(term=t.term, weight=t.weight, expansion=t.expansion) for t in result.terms],
    )
