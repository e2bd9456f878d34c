"""The late-interaction page's endpoints and lab functions, on the hashing stand-ins: the grid and MaxSim agree
with embedlab.similarity, the sparse terms with the model, and a missing model or an empty document is one line."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from embedlab.errors import EmbedlabError
from embedlab.lab.late_interaction import late_interaction
from embedlab.lab.sparse_terms import sparse_terms
from embedlab.models.multi_vector_rerank import MaxSimReranker
from embedlab.server import ServerConfig, create_app
from embedlab.similarity import maxsim, maxsim_grid
from tests.fakes import VOCABULARY, HashingEncoder, HashingMultiVectorEncoder, HashingSparseEncoder
from tests.server.conftest import WAIT_S, error_of, running

WORDS = st.sampled_from(VOCABULARY[1:] + ["violin", "quietly"])


@pytest.fixture(scope="module")
def lab():
    app = create_app(ServerConfig(model_name="hashing", playground=True), HashingEncoder(),
                     sparse=HashingSparseEncoder(), multi_vector=HashingMultiVectorEncoder())
    with running(app) as (url, _), httpx.Client(base_url=url, timeout=WAIT_S) as client:
        yield client


@pytest.fixture(scope="module")
def bare():
    app = create_app(ServerConfig(model_name="hashing", playground=True), HashingEncoder())
    with running(app) as (url, _), httpx.Client(base_url=url, timeout=WAIT_S) as client:
        yield client


def ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


@given(st.lists(WORDS, min_size=1, max_size=7), st.lists(WORDS, min_size=1, max_size=12))
def test_the_grid_best_cells_and_score_are_maxsim(query_words, document_words):
    model = HashingMultiVectorEncoder()
    query, document = " ".join(query_words), " ".join(document_words)
    result = late_interaction(model, query, document)
    query_rows, document_rows = model.encode_queries([query])[0], model.encode_documents([document])[0]
    np.testing.assert_array_equal(result.grid, maxsim_grid(query_rows, document_rows))
    assert result.query_tokens == model.query_tokens(query) and result.document_tokens == document_words
    assert [result.grid[r, c] for r, c in enumerate(result.best)] == list(result.grid.max(axis=1))
    assert result.score == pytest.approx(maxsim(query_rows, document_rows), rel=1e-6)
    assert MaxSimReranker(model).predict([(query, document)])[0] == pytest.approx(result.score, rel=1e-6)


def test_an_empty_document_is_a_one_line_error():
    with pytest.raises(EmbedlabError, match=r"^the document has no tokens to match \(punctuation is skipped\)"):
        late_interaction(HashingMultiVectorEncoder(), "guitar", "?! ...")


@given(st.lists(WORDS, min_size=1, max_size=10))
def test_expansion_terms_are_exactly_the_terms_the_text_lacks(words):
    model = HashingSparseEncoder()
    text = " ".join(words)
    result = sparse_terms(model, text)
    row = model.encode_documents([text])[0]
    assert [(t.term, t.weight) for t in result.terms] == model.terms(row)
    assert result.nonzero == row.nnz and result.text_tokens == words
    assert {t.term for t in result.terms if t.expansion} == {t.term for t in result.terms} - set(words)


def test_the_page_endpoints_answer_what_the_lab_computes(lab):
    info = ok(lab.get("/playground/info"))
    assert (info["multi_vector"], info["sparse"], info["representation"]) == ("hashing-colbert", "hashing-sparse",
                                                                              "dense")
    grid = ok(lab.post("/playground/late_interaction", json={"query": "guitar music", "document": "the guitar"}))
    direct = late_interaction(HashingMultiVectorEncoder(), "guitar music", "the guitar")
    assert grid["query_tokens"] == direct.query_tokens and grid["document_tokens"] == ["the", "guitar"]
    np.testing.assert_allclose(grid["grid"], direct.grid, atol=5e-5)
    assert grid["best"] == direct.best and grid["score"] == pytest.approx(direct.score)
    terms = ok(lab.post("/playground/sparse_terms", json={"text": "Guitar on stage", "top_k": 3}))
    assert [(t["term"], t["expansion"]) for t in terms["terms"]] == [("guitar", False), ("stage", False),
                                                                     ("on", False)]  # ties by id
    terms = ok(lab.post("/playground/sparse_terms", json={"text": "Guitar on stage", "side": "query"}))
    assert terms["terms"][-1] == {"term": "music", "weight": pytest.approx(np.log(2) / 2), "expansion": True}
    assert terms["nonzero"] == 4 and terms["text_tokens"] == ["guitar", "on", "stage"]


def test_a_missing_model_or_an_empty_document_is_one_line_in_the_standard_shape(lab, bare):
    info = ok(bare.get("/playground/info"))
    assert info["multi_vector"] is None and info["sparse"] is None
    for path, body, option in (("/playground/late_interaction", {"query": "a", "document": "b"},
                                "--playground-multi-vector DIR"),
                               ("/playground/sparse_terms", {"text": "a"}, "--playground-sparse DIR")):
        response = bare.post(path, json=body)
        assert response.status_code == 501 and option in error_of(response)["message"]
    empty = lab.post("/playground/late_interaction", json={"query": "guitar", "document": "..."})
    assert empty.status_code == 400
    assert error_of(empty)["message"].startswith("the document has no tokens to match")
    too_long = lab.post("/playground/late_interaction", json={"query": "a " * 9, "document": "b"})
    assert too_long.status_code == 400 and "at most 8" in error_of(too_long)["message"]
    oversize = lab.post("/playground/sparse_terms", json={"text": "a", "top_k": 201})
    assert oversize.status_code == 400 and error_of(oversize)["param"] == "top_k"


def test_a_sparse_server_shows_its_own_model_on_the_page():
    app = create_app(ServerConfig(model_name="splade", playground=True), HashingSparseEncoder())
    with running(app) as (url, _), httpx.Client(base_url=url, timeout=WAIT_S) as client:
        info = ok(client.get("/playground/info"))
        assert (info["representation"], info["sparse"], info["dimensions"]) == ("sparse", "hashing-sparse",
                                                                                len(VOCABULARY))
        assert ok(client.post("/playground/sparse_terms", json={"text": "rain"}))["terms"][0]["term"] == "rain"
        dense_page = client.post("/playground/matryoshka", json={"query": "a", "documents": ["b"]})
        assert dense_page.status_code == 400 and error_of(dense_page)["message"] == (
            "this server serves a sparse model; this endpoint needs a dense model (use /v1/sparse_embeddings)")
