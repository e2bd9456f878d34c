"""/health, /info, /metrics, /v1/similarity, /v1/rerank, /v1/search and a graceful shutdown, over real HTTP."""

from __future__ import annotations

import re
import socket
import threading

import httpx
import numpy as np
import pytest

from embedlab.data.corpus import Document
from embedlab.index import Index
from embedlab.server import ServerConfig, create_app
from embedlab.similarity import cosine_similarity
from tests.fakes import HashingEncoder
from tests.server.conftest import WAIT_S, GatedEncoder, error_of, running, wait_until

DOCUMENTS = [
    Document("guitar", "A man is playing a guitar on the stage.", metadata={"topic": "music"}),
    Document("piano", "She plays the piano every evening.", metadata={"topic": "music"}),
    Document("stocks", "The stock market fell sharply today.", metadata={"topic": "finance"}),
    Document("bonds", "Bond yields rose as the market fell.", metadata={"topic": "finance"}),
]


class WordOverlapReranker:
    """A cross-encoder stand-in: a pair's logit is the number of words the two texts share."""

    name = "overlap-reranker"

    def predict(self, pairs, activation: bool = True):
        logits = np.array([len(set(a.lower().split()) & set(b.lower().split())) for a, b in pairs], dtype=float)
        return 1 / (1 + np.exp(-logits)) if activation else logits


@pytest.fixture(scope="module")
def index():
    return Index.build(HashingEncoder(), DOCUMENTS, model_name="hashing")


@pytest.fixture(scope="module")
def full(index):
    """A server with an index and a reranker."""
    app = create_app(ServerConfig(model_name="hashing"), index.encoder, index=index, reranker=WordOverlapReranker())
    with running(app) as (url, _), httpx.Client(base_url=url, timeout=WAIT_S) as client:
        yield client


def test_health_and_info(full):
    assert full.get("/health").json() == {"status": "ok", "model": "hashing", "queue_depth": 0}
    info = full.get("/info").json()
    assert info["model"] == "hashing" and info["dimensions"] == 16 and info["reranker"] == "overlap-reranker"
    assert info["index"] == {"store": "exact", "documents": 4, "chunks": 4}
    assert info["limits"]["max_inputs"] == 2048 and info["limits"]["api_key_required"] is False
    assert "api_key" not in info["limits"]


def test_info_shows_a_real_models_tokens_and_prompts(minilm):
    with running(create_app(ServerConfig(), minilm)) as (url, _):
        info = httpx.get(f"{url}/info").json()
    assert info["max_tokens"] == 256 and info["backend"] == "torch" and info["dimensions"] == 384
    assert info["encoder"]["pooling"] == "mean" and isinstance(info["prompts"], dict)


def test_models_lists_the_model_and_the_reranker(full):
    ids = [entry["id"] for entry in full.get("/v1/models").json()["data"]]
    assert ids == ["hashing", "overlap-reranker"]


def test_metrics_are_prometheus_text(full):
    full.post("/v1/embeddings", json={"input": ["a b", "c"]})
    full.post("/v1/embeddings", json={"input": ""})
    response = full.get("/metrics")
    text = response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert re.search(r'^embedlab_requests_total\{endpoint="/v1/embeddings",status="200"\} [1-9]', text, re.MULTILINE)
    assert re.search(r'^embedlab_errors_total\{status="400",code="invalid_request"\} [1-9]', text, re.MULTILINE)
    assert re.search(
        r'^embedlab_request_duration_seconds_bucket\{endpoint="/v1/embeddings",le="\+Inf"\} \d', text, re.MULTILINE
    )
    assert re.search(r"^embedlab_batch_texts_count [1-9]", text, re.MULTILINE)
    assert re.search(r"^embedlab_queue_depth 0$", text, re.MULTILINE)
    for family in ("requests_total", "errors_total", "request_duration_seconds", "batch_requests", "queue_depth"):
        assert f"# TYPE embedlab_{family} " in text


def test_similarity_is_the_cosine_of_each_pair(full, index):
    pairs = [["a man plays guitar", "a guitar player"], ["stock market", "a guitar player"], ["same", "same"]]
    data = full.post("/v1/similarity", json={"pairs": pairs}).json()["data"]
    encoder = index.encoder
    expected = [cosine_similarity(encoder.encode(a), encoder.encode(b)) for a, b in pairs]
    assert [row["index"] for row in data] == [0, 1, 2]
    np.testing.assert_allclose([row["score"] for row in data], expected, atol=1e-6)


@pytest.mark.parametrize("pairs", [[], [["only one"]], [["a", ""]], [["a", 3]]])
def test_bad_similarity_pairs_are_400(full, pairs):
    response = full.post("/v1/similarity", json={"pairs": pairs})
    assert response.status_code == 400 and error_of(response)["param"].startswith("pairs")


def test_rerank_orders_by_the_cross_encoder(full):
    documents = ["nothing shared", "the market fell today", "market"]
    body = full.post(
        "/v1/rerank", json={"query": "the market fell", "documents": documents, "top_n": 2, "return_documents": True}
    ).json()
    assert body["model"] == "overlap-reranker"
    assert [r["index"] for r in body["results"]] == [1, 2]
    assert body["results"][0]["document"] == {"text": "the market fell today"}
    np.testing.assert_allclose([r["relevance_score"] for r in body["results"]], 1 / (1 + np.exp(-np.array([3, 1]))))
    assert body["usage"]["total_tokens"] > 0


def test_rerank_refuses_an_unknown_reranker_name_and_too_many_documents(index):
    app = create_app(ServerConfig(max_rerank_documents=2), index.encoder, reranker=WordOverlapReranker())
    with running(app) as (url, _):
        wrong = httpx.post(f"{url}/v1/rerank", json={"query": "q", "documents": ["d"], "model": "bge-reranker"})
        many = httpx.post(f"{url}/v1/rerank", json={"query": "q", "documents": ["a", "b", "c"]})
    assert wrong.status_code == 404 and error_of(wrong)["code"] == "model_not_found"
    assert many.status_code == 400 and error_of(many)["code"] == "too_many_inputs"


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_search_answers_what_index_search_does(full, index, mode):
    body = full.post("/v1/search", json={"query": "the market fell", "k": 3, "mode": mode}).json()
    expected = index.search("the market fell", k=3, mode=mode)
    assert [(h["doc_id"], h["chunk_id"]) for h in body["data"]] == [(h.doc_id, h.chunk_id) for h in expected]
    np.testing.assert_allclose([h["score"] for h in body["data"]], [h.score for h in expected], atol=1e-6)
    assert body["mode"] == mode and body["reranked"] is False and body["model"] == "hashing"


def test_search_filters_and_reranks(full, index):
    body = full.post(
        "/v1/search", json={"query": "plays the piano", "k": 2, "filter": {"topic": "music"}, "rerank": True}
    ).json()
    expected = index.search("plays the piano", k=2, where={"topic": "music"}, reranker=WordOverlapReranker())
    assert [h["doc_id"] for h in body["data"]] == [h.doc_id for h in expected] == ["piano", "guitar"]
    assert body["reranked"] is True and all(h["metadata"]["topic"] == "music" for h in body["data"])
    by_id = full.post("/v1/search", json={"query": "market", "filter": {"doc_id": ["bonds"]}}).json()
    assert [h["doc_id"] for h in by_id["data"]] == ["bonds"]


def test_search_limits(full):
    too_many = full.post("/v1/search", json={"query": "q", "k": 1000})
    bad_mode = full.post("/v1/search", json={"query": "q", "mode": "semantic"})
    assert too_many.status_code == 400 and error_of(too_many)["param"] == "k"
    assert bad_mode.status_code == 400 and error_of(bad_mode)["param"] == "mode"


def test_without_an_index_or_reranker_search_and_rerank_are_501(hashing_server):
    with hashing_server() as (client, _):
        search = client.post("/v1/search", json={"query": "q"})
        rerank = client.post("/v1/rerank", json={"query": "q", "documents": ["d"]})
    with running(create_app(ServerConfig(), HashingEncoder(), index=Index.build(HashingEncoder(), DOCUMENTS))) as (
        url,
        _,
    ):
        search_rerank = httpx.post(f"{url}/v1/search", json={"query": "q", "rerank": True})
    assert search.status_code == 501 and error_of(search)["code"] == "index_not_loaded"
    assert "--index" in error_of(search)["message"]
    for response in (rerank, search_rerank):
        assert response.status_code == 501 and error_of(response)["code"] == "reranker_not_loaded"


def test_shutdown_lets_the_request_in_flight_finish():
    gated = GatedEncoder(HashingEncoder())
    with running(create_app(ServerConfig(), gated)) as (url, server):
        answers: list[httpx.Response] = []
        thread = threading.Thread(
            target=lambda: answers.append(
                httpx.post(f"{url}/v1/embeddings", json={"input": "in flight"}, timeout=WAIT_S)
            )
        )
        thread.start()
        wait_until(gated.entered.is_set, "the request to reach the model")
        server.should_exit = True  # what uvicorn's SIGTERM handler does
        wait_until(lambda: refuses_connections(url), "the server to stop listening")
        gated.gate.set()  # only now can the request in flight finish
        thread.join(WAIT_S)
    assert [a.status_code for a in answers] == [200]
    np.testing.assert_allclose(
        answers[0].json()["data"][0]["embedding"], HashingEncoder().encode("in flight"), atol=1e-6
    )


def refuses_connections(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False
