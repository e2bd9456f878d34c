"""Request and answer bodies of the server's endpoints, as pydantic models (they also make the /docs page).

/v1/embeddings follows OpenAI's schema field for field; the others follow the common rerank/search APIs, and
the sparse and per-token endpoints keep the same envelope (`object`, `data`, `model`, `usage`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StringConstraints, field_validator

Text = Annotated[str, StringConstraints(min_length=1)]
Texts = Annotated[list[Text], Field(min_length=1)]
Scalar = bool | int | float | str
JSON_TYPES = {type(None): "null", bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}


def _json_type(value: Any) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


def check_input(value: Any) -> str | list[str]:
    """OpenAI's `input`: one non-empty string or a non-empty list of them; token arrays are refused by name.

    Wrong types raise ValueError too: pydantic turns only ValueError (and AssertionError) into a 400.
    """
    if isinstance(value, str):
        if not value:
            raise ValueError("an empty string; give some text")
        return value
    if not isinstance(value, list):
        raise ValueError(f"must be a string or a list of strings, not {_json_type(value)}")  # noqa: TRY004
    if not value:
        raise ValueError("an empty list; give at least one text")
    for i, item in enumerate(value):
        if isinstance(item, (int, list)) and not isinstance(item, bool):
            # OpenAI also takes tiktoken ids; they mean nothing to this model's tokenizer.
            raise ValueError("token arrays are not supported; send the texts as strings")  # noqa: TRY004
        if not isinstance(item, str):
            raise ValueError(f"item {i} is {_json_type(item)}, not a string")  # noqa: TRY004
        if not item:
            raise ValueError(f"item {i} is an empty string")
    return value


class ErrorDetail(BaseModel):
    message: str
    type: str = Field(description="OpenAI's error type, e.g. invalid_request_error, rate_limit_error.")
    param: str | None = Field(description="The offending field, e.g. input[2].")
    code: str | None = Field(description="embedlab's reason, e.g. queue_full, model_not_found.")


class ErrorResponse(BaseModel):
    """Every refusal and failure, in OpenAI's shape."""

    error: ErrorDetail


class EmbeddingRequest(BaseModel):
    """OpenAI's embeddings request; embedlab's optional extensions pick the text put before each input:
    `prompt_name` one of the model's prompts, `input_type` its query or document prompt, `task` the model's
    instruction for that search task (queries only)."""

    input: Text | Texts = Field(description="A text or a list of texts, none empty.")
    model: str | None = Field(None, description="The served model's name (default: it).")
    encoding_format: Literal["float", "base64"] = Field("float", description="base64: little-endian float32.")
    dimensions: int | None = Field(None, ge=1, description="Keep the first N dimensions (Matryoshka), re-normalised.")
    user: str | None = Field(None, description="Accepted for compatibility; unused.")
    prompt_name: str | None = Field(None, description="A prompt of the model (see /info), e.g. 'query'.")
    input_type: Literal["query", "document"] | None = Field(
        None, description="Encode the inputs as queries or documents, with the model's prompt for them."
    )
    task: Text | None = Field(
        None,
        description="The search task the inputs are queries for: it fills the model's instruction template "
        "(default 'Instruct: {task}\\nQuery: '). Implies input_type 'query'.",
    )

    _input = field_validator("input", mode="before")(check_input)


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


class SimilarityRequest(BaseModel):
    """Pairs of texts to score by the cosine of their embeddings."""

    pairs: list[tuple[Text, Text]] = Field(min_length=1, description="[[text, text], ...]")
    model: str | None = None


class Similarity(BaseModel):
    object: Literal["similarity"] = "similarity"
    index: int
    score: float = Field(description="Cosine of the two texts' embeddings, in [-1, 1].")


class SimilarityResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Similarity]
    model: str
    usage: Usage


class RerankRequest(BaseModel):
    """A query and documents for the cross-encoder to order, best first."""

    query: Text
    documents: list[Text] = Field(min_length=1)
    top_n: int | None = Field(None, ge=1, description="Keep the best N (default: all).")
    model: str | None = Field(None, description="The loaded reranker's name (default: it).")
    return_documents: StrictBool = False  # strict: JSON's 0 or "no" is not a boolean, as the schema says


class RerankDocument(BaseModel):
    text: str


class RerankResult(BaseModel):
    index: int = Field(description="Position of the document in the request.")
    relevance_score: float = Field(
        description="A cross-encoder's probability of relevance, 0-1; a multi-vector model's raw MaxSim score "
        "(the sum over query tokens of their best cosine with a document token)."
    )
    document: RerankDocument | None = None


class RerankUsage(BaseModel):
    total_tokens: int


class RerankResponse(BaseModel):
    model: str
    results: list[RerankResult]
    usage: RerankUsage


class SearchRequest(BaseModel):
    """A query over the loaded index: dense, BM25 or hybrid, optionally filtered and re-ranked."""

    query: Text
    k: int = Field(10, ge=1)
    mode: Literal["dense", "bm25", "hybrid"] = "dense"
    filter: dict[str, Scalar | list[Scalar]] | None = Field(
        None, description="Metadata field -> value (equal) or list of values (any of); doc_id works too."
    )
    rerank: StrictBool = Field(False, description="Re-score the candidates with the loaded cross-encoder.")
    rerank_top: int = Field(100, ge=1, description="Candidates the cross-encoder re-scores.")
    task: Text | None = Field(None, description="Encode the query for this search task instead of the index's own.")


class SearchHit(BaseModel):
    doc_id: str
    chunk_id: int
    score: float
    text: str
    title: str
    start: int
    end: int
    metadata: dict[str, Any]


class SearchResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[SearchHit]
    model: str
    mode: str
    reranked: bool


Side = Literal["query", "document"]
SIDE = Field(description="Encode the inputs as queries or as documents: sparse and multi-vector models treat the "
             "two differently (query markers and mask padding, inference-free documents).")


class SparseEmbeddingRequest(BaseModel):
    """Texts for a learned-sparse (SPLADE) model."""

    input: Text | Texts = Field(description="A text or a list of texts, none empty.")
    input_type: Side = SIDE
    model: str | None = Field(None, description="The served model's name (default: it).")
    top_k: int | None = Field(None, ge=1, description="Keep each vector's N heaviest terms (default: all non-zero).")
    return_terms: StrictBool = Field(False, description="Also send each index's vocabulary term.")

    _input = field_validator("input", mode="before")(check_input)


class SparseEmbedding(BaseModel):
    object: Literal["sparse_embedding"] = "sparse_embedding"
    index: int
    indices: list[int] = Field(description="Vocabulary ids of the non-zero terms, heaviest first (ties by id).")
    values: list[float] = Field(description="Their weights, aligned with indices; all positive.")
    terms: list[str] | None = Field(None, description="Their vocabulary terms, when return_terms was set.")


class SparseEmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[SparseEmbedding]
    model: str
    vocab_size: int = Field(description="The width of every sparse vector.")
    usage: Usage


class TokenEmbeddingRequest(BaseModel):
    """Texts for a multi-vector (ColBERT) model: one vector per token comes back."""

    input: Text | Texts = Field(description="A text or a list of texts, none empty.")
    input_type: Side = SIDE
    model: str | None = Field(None, description="The served model's name (default: it).")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="base64: the (tokens, dimensions) matrix as little-endian float32 bytes, row by row."
    )

    _input = field_validator("input", mode="before")(check_input)


class TokenEmbedding(BaseModel):
    object: Literal["token_embeddings"] = "token_embeddings"
    index: int
    tokens: list[str] = Field(description="The token behind each vector (query markers and mask padding included; "
                              "a document's punctuation is skipped, so it may have none).")
    embeddings: list[list[float]] | str = Field(description="One unit vector per token, or base64 of all of them.")


class TokenEmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[TokenEmbedding]
    model: str
    dimensions: int
    usage: Usage
