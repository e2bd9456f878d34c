"""Request and answer bodies of the playground's endpoints (/playground/...), as pydantic models.

Bounds are small on purpose: these endpoints explain one model on a handful of texts, they are not bulk APIs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Pair = tuple[Text, Text]
Which = Literal["trained", "raw"]


class ClassicPair(BaseModel):
    label: str
    a: str
    b: str


class Band(BaseModel):
    name: str
    min: float = Field(description="Lowest cosine in the band.")


class PlaygroundInfo(BaseModel):
    """What the pages need to know before their first request."""

    model: str
    representation: Literal["dense", "sparse", "multi_vector"] = Field(
        description="The served model's kind; the pages but 'late' need a dense one."
    )
    dimensions: int
    transformer: bool = Field(description="Token-level pages (pooling) need a transformer model.")
    classic_pairs: list[ClassicPair]
    unrelated_pairs: list[int] = Field(description="Indices of classic_pairs that are unrelated.")
    bands: list[Band] = Field(description="Best band first.")
    matryoshka_dimensions: list[int]
    query_prompt: str
    document_prompt: str
    index: bool
    reranker: bool
    chat: bool = Field(description="Whether a chat endpoint writes RAG answers (else they are extractive).")
    multi_vector: str | None = Field(description="The multi-vector (ColBERT) model the late-interaction page uses.")
    sparse: str | None = Field(description="The sparse (SPLADE) model the late-interaction page uses.")


class Ranked(BaseModel):
    order: list[int] = Field(description="Document indices, best first.")
    scores: list[float] = Field(description="Each document's cosine with the query, in input order.")


class PoolingRequest(BaseModel):
    text: Text
    candidates: list[Text] = Field(min_length=1, max_length=16)
    model: Which = "trained"


class LabeledScore(BaseModel):
    label: str
    score: float


class PoolingResponse(BaseModel):
    model: str
    tokens: list[str]
    heatmap: list[list[float]] = Field(description="Token x dimension values of the last layer.")
    pooled: dict[str, list[float]] = Field(description="Strategy -> pooled vector (not normalised).")
    rankings: dict[str, Ranked] = Field(description="Strategy -> the candidates ranked by cosine with the text.")
    classic: list[LabeledScore] = Field(description="The classic pairs' cosines under this model (its own pooling).")


class ContrastiveRequest(BaseModel):
    pairs: list[Pair] = Field(min_length=2, max_length=8)
    temperature: float = Field(0.1, ge=0.01, le=2.0)
    batch_size: int = Field(4, ge=2, le=8)
    steps: int = Field(60, ge=1, le=300)
    lr: float = Field(0.05, gt=0, le=1.0)
    seed: int = Field(0, ge=0)


class ContrastiveResponse(BaseModel):
    frames: list[list[tuple[float, float]]] = Field(
        description="Per frame (the start, then each step): unit 2-D points, anchors first, then positives."
    )
    losses: list[float] = Field(description="InfoNCE over all pairs at each frame.")


class QualityRequest(BaseModel):
    pairs: list[Pair] = Field(min_length=2, max_length=200)


class Histogram(BaseModel):
    edges: list[float]
    random: list[int]
    positive: list[int]


class QualityReport(BaseModel):
    model: str
    anisotropy: float
    anisotropy_centered: float
    alignment: float
    uniformity: float
    effective_rank: float
    dim: int
    n_texts: int
    auc: float
    random_mean: float
    positive_mean: float
    histogram: Histogram


class QualityResponse(BaseModel):
    trained: QualityReport
    raw: QualityReport


class AsymmetricRequest(BaseModel):
    query: Text
    documents: list[Text] = Field(min_length=1, max_length=32)
    query_prefix: str = Field("query: ", max_length=200)
    document_prefix: str = Field("passage: ", max_length=200)


class AsymmetricResponse(BaseModel):
    symmetric: Ranked
    asymmetric: Ranked


class MatryoshkaRequest(BaseModel):
    query: Text
    documents: list[Text] = Field(min_length=1, max_length=32)


class MatryoshkaResponse(BaseModel):
    dimensions: list[int]
    rankings: dict[int, Ranked]


class RagRequest(BaseModel):
    question: Text
    k: int = Field(3, ge=1, le=20)
    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    rerank: bool = False


class RagCitation(BaseModel):
    number: int
    doc_id: str
    chunk_id: int | str
    snippet: str


class RagResponse(BaseModel):
    query_vector_head: list[float] = Field(description="The first values of the query's embedding.")
    dimensions: int
    prompt: str
    answer: str
    citations: list[RagCitation]
    mode: str = Field(description="'extractive' or 'generated'.")


class LateInteractionRequest(BaseModel):
    query: Text
    document: Text


class LateInteractionResponse(BaseModel):
    model: str
    query_tokens: list[str] = Field(description="The query's tokens: markers and mask padding included.")
    document_tokens: list[str] = Field(description="The document's tokens, punctuation skipped.")
    grid: list[list[float]] = Field(description="Query token x document token dot products (cosines).")
    best: list[int] = Field(description="Per query token, the document token it matches best (its MaxSim cell).")
    score: float = Field(description="MaxSim: the sum of each query token's best cosine.")


class SparseTermsRequest(BaseModel):
    text: Text
    side: Literal["query", "document"] = "document"
    top_k: int = Field(40, ge=1, le=200)


class WeightedTermOut(BaseModel):
    term: str
    weight: float
    expansion: bool = Field(description="Not among the text's own tokens: added by the model.")


class SparseTermsResponse(BaseModel):
    model: str
    terms: list[WeightedTermOut] = Field(description="The heaviest terms, heaviest first.")
    nonzero: int = Field(description="Non-zero terms in the whole vector.")
    text_tokens: list[str] = Field(description="The text's own tokens, as the model's tokenizer splits it.")
