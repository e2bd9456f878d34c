"""The HTTP API fuzzed from its own OpenAPI schema (schemathesis): no 5xx, and every answer matches the schema.

The app serves a hashing model, a small index and a word-overlap reranker, so every endpoint does real work
in milliseconds; the number of examples per operation is bounded to keep the whole run to seconds.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from embedlab.index import Index
from embedlab.server import ServerConfig, create_app
from tests.fakes import HashingEncoder, HashingMultiVectorEncoder, HashingSparseEncoder
from tests.server.test_endpoints import DOCUMENTS, WordOverlapReranker

EXAMPLES = 25  # per operation and phase
KEY = "fuzz-key"  # with a key set, the schema's bearer scheme is enforced and the auth checks have something to test

app = create_app(
    ServerConfig(model_name="hashing", api_key=KEY), HashingEncoder(),
    index=Index.build(HashingEncoder(), DOCUMENTS, model_name="hashing"), reranker=WordOverlapReranker(),
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
# Servers of the other two kinds, fuzzed on the endpoints that do real work for them and on the dense and
# other-kind ones, which must refuse them with a documented 400. (With no reranker, a sparse server answers
# /v1/rerank 501, which the fuzzer counts as a server error: that route is fuzzed on the multi-vector server.)
KIND_PATHS = ["/v1/sparse_embeddings", "/v1/token_embeddings", "/v1/embeddings"]
sparse_schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(ServerConfig(model_name="splade", api_key=KEY), HashingSparseEncoder())
).include(path=KIND_PATHS)
multi_vector_schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(ServerConfig(model_name="colbert", api_key=KEY), HashingMultiVectorEncoder())
).include(path=[*KIND_PATHS, "/v1/rerank"])


@schema.parametrize()
@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None)
def test_every_answer_is_documented_and_none_is_a_server_error(case):
    # Every check but positive_data_acceptance: a schema-valid request may still be refused (400) for rules the
    # schema cannot state, a server limit (k over --max-search-k, dimensions over the model's) or a combination of
    # fields (a task with input_type "document"). Schema-violating requests must still be refused.
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"},
                           excluded_checks=[schemathesis.checks.positive_data_acceptance])


@sparse_schema.parametrize()
@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None)
def test_a_sparse_server_answers_every_request_as_documented(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"},
                           excluded_checks=[schemathesis.checks.positive_data_acceptance])


@multi_vector_schema.parametrize()
@settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None)
def test_a_multi_vector_server_answers_every_request_as_documented(case):
    # Besides rules the schema cannot state, a multi-vector model refuses a query past its token budget (400).
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"},
                           excluded_checks=[schemathesis.checks.positive_data_acceptance])


def test_the_schema_documents_the_errors_the_server_sends_and_no_422():
    # What the fuzzer first found: FastAPI documented a 422 `{"detail": ...}` that never comes, and no 400-504.
    operations = [op for path in app.openapi()["paths"].values() for op in path.values()]
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    for op in operations:
        assert "422" not in op["responses"], op["summary"]
        for status in ("4XX", "5XX"):
            assert op["responses"][status]["content"] == {"application/json": {"schema": error}}, op["summary"]
