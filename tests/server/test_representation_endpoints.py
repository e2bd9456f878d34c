"""/v1/sparse_embeddings, /v1/token_embeddings and MaxSim /v1/rerank over real HTTP, on sparse and multi-vector
stand-ins (tests/fakes.py); and each endpoint's one-line refusal on a server whose model is of another kind."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import sparse

from embedlab.index import Index
from embedlab.server import ServerConfig, create_app
from embedlab.server.representation_api import heaviest
from embedlab.similarity import maxsim
from tests.fakes import VOCABULARY, HashingEncoder, HashingMultiVectorEncoder, HashingSparseEncoder
from tests.server.conftest import WAIT_S, error_of, running
from tests.server.test_endpoints import DOCUMENTS

KEY = "k"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def sparse_server():
    app = create_app(ServerConfig(model_name="splade", api_key=KEY, max_inputs=4), HashingSparseEncoder())
    with running(app) as (url, _), httpx.Client(base_url=url, timeout=WAIT_S, headers=AUTH) as client:
        yield client


@pytest.fixture(scope="module")
def colbert_server():
    app = create_app(ServerConfig(model_name="colbert", max_inputs=4, max_rerank_documents=3),
                     HashingMultiVectorEncoder())
    with running(app) as (url, _), httpx.Client(base_url=url, timeout=WAIT_S) as client:
        yield client


@pytest.fixture(scope="module")
def dense_server():
    app = create_app(ServerConfig(model_name="hashing"), HashingEncoder(), reranker=HashingMultiVectorEncoder())
    with running(app) as (url, _), httpx.Client(base_url=url, timeout=WAIT_S) as client:
        yield client


def _ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def test_sparse_embeddings_are_the_models_weights_heaviest_first(sparse_server):
    texts = ["A man plays the guitar on the stage.", "Onion soup"]
    body = _ok(sparse_server.post("/v1/sparse_embeddings", json={"input": texts, "input_type": "document",
                                                                 "return_terms": True}))
    assert body["object"] == "list" and body["model"] == "splade" and body["vocab_size"] == len(VOCABULARY)
    expected = HashingSparseEncoder().encode_documents(texts).toarray()
    for i, row in enumerate(body["data"]):
        assert row["object"] == "sparse_embedding" and row["index"] == i
        dense = np.zeros(len(VOCABULARY), dtype=np.float32)
        dense[row["indices"]] = row["values"]
        np.testing.assert_allclose(dense, expected[i], rtol=0, atol=1e-7)
        assert row["values"] == sorted(row["values"], reverse=True)
        assert row["terms"] == [VOCABULARY[j] for j in row["indices"]]
    assert body["data"][0]["terms"][:2] == ["the", "guitar"]  # "the" twice: log(3) beats log(2)
    assert "music" in body["data"][0]["terms"]  # the expansion term is sent like any other
    assert body["usage"]["prompt_tokens"] == len(texts[0].split()) + 2


def test_sparse_top_k_keeps_the_heaviest_and_terms_are_opt_in(sparse_server):
    body = _ok(sparse_server.post("/v1/sparse_embeddings", json={"input": "the the guitar", "input_type": "query",
                                                                 "top_k": 2}))
    row = body["data"][0]
    assert row["indices"] == [VOCABULARY.index("the"), VOCABULARY.index("guitar")] and row["terms"] is None
    np.testing.assert_allclose(row["values"], [np.log(3), np.log(2)], rtol=1e-6)


@given(st.lists(st.floats(0, 5, width=32), min_size=1, max_size=12), st.integers(1, 12))
def test_heaviest_is_a_stable_descending_top_k_of_the_non_zeros(weights, top_k):
    row = sparse.csr_matrix(np.array([weights], dtype=np.float32))
    indices, values = heaviest(row, top_k)
    nonzero = [(i, w) for i, w in enumerate(np.float32(weights)) if w != 0]
    expected = sorted(nonzero, key=lambda e: (-e[1], e[0]))[:top_k]
    assert indices.tolist() == [i for i, _ in expected] and values.tolist() == [w for _, w in expected]


def test_token_embeddings_send_each_token_and_its_vector(colbert_server):
    model = HashingMultiVectorEncoder()
    body = _ok(colbert_server.post("/v1/token_embeddings", json={"input": ["guitar music"], "input_type": "query"}))
    row = body["data"][0]
    assert body["dimensions"] == 16 and row["object"] == "token_embeddings"
    assert row["tokens"] == ["[Q]", "guitar", "music"] + ["[MASK]"] * 5
    np.testing.assert_allclose(row["embeddings"], model.encode_queries(["guitar music"])[0], atol=1e-7)
    b64 = _ok(colbert_server.post("/v1/token_embeddings", json={
        "input": "The guitar, loudly!", "input_type": "document", "encoding_format": "base64"}))["data"][0]
    vectors = np.frombuffer(base64.b64decode(b64["embeddings"]), dtype="<f4").reshape(len(b64["tokens"]), 16)
    assert b64["tokens"] == ["the", "guitar", "loudly"]
    np.testing.assert_array_equal(vectors, model.encode_documents(["The guitar, loudly!"])[0])


def test_a_document_of_punctuation_alone_has_no_token_vectors(colbert_server):
    row = _ok(colbert_server.post("/v1/token_embeddings", json={"input": "?!", "input_type": "document"}))["data"][0]
    assert row["tokens"] == [] and row["embeddings"] == []


def test_a_colbert_server_reranks_by_raw_maxsim(colbert_server):
    model = HashingMultiVectorEncoder()
    documents = ["stock market news", "the guitar and music", "music"]
    body = _ok(colbert_server.post("/v1/rerank", json={"query": "guitar music", "documents": documents,
                                                       "return_documents": True}))
    query = model.encode_queries(["guitar music"])[0]
    scores = [maxsim(query, d) for d in model.encode_documents(documents)]
    assert [r["index"] for r in body["results"]] == sorted(range(3), key=lambda i: (-scores[i], i))
    np.testing.assert_allclose([r["relevance_score"] for r in body["results"]], sorted(scores, reverse=True),
                               rtol=1e-6)
    assert body["results"][0]["relevance_score"] > 1  # a sum of cosines, no sigmoid
    assert body["model"] == "colbert" and body["results"][0]["document"]["text"] == "the guitar and music"


def test_a_multi_vector_reranker_beside_a_dense_model_reranks_by_maxsim(dense_server):
    body = _ok(dense_server.post("/v1/rerank", json={"query": "guitar", "documents": ["soup", "a guitar"]}))
    assert [r["index"] for r in body["results"]] == [1, 0] and body["model"] == "hashing-colbert"
    model = HashingMultiVectorEncoder()
    expected = maxsim(model.encode_queries(["guitar"])[0], model.encode_documents(["a guitar"])[0])
    assert body["results"][0]["relevance_score"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("path", "body", "served", "needed"), [
    ("/v1/sparse_embeddings", {"input": "a", "input_type": "query"}, "dense", "sparse"),
    ("/v1/token_embeddings", {"input": "a", "input_type": "query"}, "dense", "multi-vector"),
])
def test_a_dense_server_refuses_the_sparse_and_token_endpoints_in_one_line(dense_server, path, body, served, needed):
    response = dense_server.post(path, json=body)
    error = error_of(response)
    assert response.status_code == 400 and error["code"] == "wrong_model_kind"
    assert error["message"] == (f"this server serves a {served} model; {path} needs a {needed} model "
                                "(use /v1/embeddings)")


def test_sparse_and_colbert_servers_refuse_the_dense_endpoints(sparse_server, colbert_server):
    for client, kind, own in ((sparse_server, "sparse", "/v1/sparse_embeddings"),
                              (colbert_server, "multi-vector", "/v1/token_embeddings")):
        for path, body in (("/v1/embeddings", {"input": "a"}), ("/v1/similarity", {"pairs": [["a", "b"]]})):
            response = client.post(path, json=body)
            assert response.status_code == 400, response.text
            assert error_of(response)["message"] == (f"this server serves a {kind} model; {path} needs a dense "
                                                     f"model (use {own})")
    wrong = sparse_server.post("/v1/token_embeddings", json={"input": "a", "input_type": "query"})
    assert error_of(wrong)["message"].endswith("(use /v1/sparse_embeddings)")
    no_reranker = sparse_server.post("/v1/rerank", json={"query": "a", "documents": ["b"]})
    assert no_reranker.status_code == 501 and error_of(no_reranker)["code"] == "reranker_not_loaded"


def test_bad_input_is_one_line_in_the_standard_shape(sparse_server, colbert_server):
    cases = [
        (sparse_server.post("/v1/sparse_embeddings", json={"input": "a"}), 400, "input_type"),
        (sparse_server.post("/v1/sparse_embeddings", json={"input": ["a"] * 5, "input_type": "query"}), 400, "input"),
        (sparse_server.post("/v1/sparse_embeddings", json={"input": "", "input_type": "query"}), 400, "input"),
        (sparse_server.post("/v1/sparse_embeddings", json={"input": "a", "input_type": "query", "model": "x"}), 404,
         "model"),
        (colbert_server.post("/v1/rerank", json={"query": "a", "documents": ["b"] * 4}), 400, "documents"),
        (colbert_server.post("/v1/rerank", json={"query": "a", "documents": ["b", "..."]}), 400, None),
        (colbert_server.post("/v1/token_embeddings", json={"input": "one two three four five six seven eight",
                                                           "input_type": "query"}), 400, None),
        (httpx.post(f"{sparse_server.base_url}/v1/sparse_embeddings", json={"input": "a", "input_type": "query"}),
         401, None),
    ]
    for response, status, param in cases:
        error = error_of(response)
        assert response.status_code == status, response.text
        assert error["param"] == param and "\n" not in error["message"]
    empty = error_of(cases[5][0])["message"]
    assert empty == "document 1 has no tokens to match (punctuation is skipped); MaxSim needs at least one"
    assert error_of(cases[6][0])["message"].startswith("the query has 9 tokens")


def test_info_names_the_representation(sparse_server, colbert_server, dense_server):
    sparse_info, colbert_info = sparse_server.get("/info").json(), colbert_server.get("/info").json()
    assert (sparse_info["representation"], sparse_info["dimensions"]) == ("sparse", len(VOCABULARY))
    assert (colbert_info["representation"], colbert_info["dimensions"]) == ("multi_vector", 16)
    assert dense_server.get("/info").json()["representation"] == "dense"


def test_merged_requests_of_one_side_get_their_own_rows():
    model = HashingSparseEncoder()
    app = create_app(ServerConfig(model_name="splade"), model)
    texts = [f"guitar {'the ' * i}" for i in range(6)]
    with running(app) as (url, _), httpx.Client(base_url=url, timeout=WAIT_S) as client, ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda t: client.post("/v1/sparse_embeddings", json={
            "input": t, "input_type": "document"}).json()["data"][0], texts))
    for text, row in zip(texts, answers):
        assert dict(zip(row["indices"], row["values"])) == pytest.approx(
            {int(j): float(w) for j, w in zip(*heaviest(model.encode_documents([text]), None))})


def test_search_reranks_by_maxsim_with_a_multi_vector_reranker():
    index = Index.build(HashingEncoder(), DOCUMENTS, model_name="hashing")
    colbert = HashingMultiVectorEncoder()
    app = create_app(ServerConfig(model_name="hashing"), index.encoder, index=index, reranker=colbert)
    with running(app) as (url, _):
        response = httpx.post(f"{url}/v1/search", json={"query": "guitar", "rerank": True, "k": 3}, timeout=WAIT_S)
    assert response.status_code == 200, response.text
    hits = response.json()["data"]
    # The first stage's candidates, re-ordered by the ColBERT model's MaxSim (raw, no sigmoid).
    expected = sorted((maxsim(colbert.encode_queries(["guitar"])[0], colbert.encode_documents([h["text"]])[0])
                       for h in hits), reverse=True)
    assert [h["score"] for h in hits] == pytest.approx(expected, rel=1e-5)


def test_a_text_past_the_models_tokens_is_refused_without_truncation():
    class ShortSparse(HashingSparseEncoder):
        max_seq_length = 3

    app = create_app(ServerConfig(model_name="splade", truncate=False), ShortSparse())
    with running(app) as (url, _):
        response = httpx.post(f"{url}/v1/sparse_embeddings", timeout=WAIT_S,
                              json={"input": ["a guitar", "one two three four"], "input_type": "document"})
    error = error_of(response)
    assert response.status_code == 400 and (error["code"], error["param"]) == ("context_length_exceeded", "input[1]")
