"""The playground's endpoints on the real bundled model: each number agrees with /v1 or with the library."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from embedlab.demo import DEMO_PAIRS, UNRELATED_PAIRS
from embedlab.server import ServerConfig, create_app
from tests.fakes import HashingEncoder
from tests.server.conftest import WAIT_S, error_of, running
from tests.server.playground_setup import playground_server

CANDIDATES = ["Someone is playing an instrument.", "Stock prices dropped on Monday.", "A woman slices onions."]
PAIRS = [
    ["A cat sleeps on the sofa.", "A kitten naps on the couch."],
    ["The stock market fell sharply.", "Share prices dropped today."],
    ["He plays the guitar.", "A man performs music on guitar."],
    ["It is raining heavily.", "A storm brings lots of rain."],
]


@pytest.fixture(scope="module")
def client():
    with playground_server() as url, httpx.Client(base_url=url, timeout=WAIT_S) as http:
        yield http


def ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def embed(client, texts, **options) -> np.ndarray:
    body = ok(client.post("/v1/embeddings", json={"input": texts, **options}))
    return np.array([row["embedding"] for row in body["data"]])


def test_info_names_the_model_pairs_bands_and_sizes(client):
    info = ok(client.get("/playground/info"))
    assert [(p["label"], p["a"], p["b"]) for p in info["classic_pairs"]] == DEMO_PAIRS
    assert info["unrelated_pairs"] == list(UNRELATED_PAIRS)
    assert [b["min"] for b in info["bands"]] == sorted((b["min"] for b in info["bands"]), reverse=True)
    assert info["matryoshka_dimensions"] == [384, 256, 128, 64, 32]
    assert (info["transformer"], info["index"], info["reranker"], info["chat"]) == (True, True, False, False)


def test_pooling_mean_is_the_served_embedding_and_the_raw_model_crowds_a_cone(client):
    text = "A man is playing the guitar."
    trained = ok(client.post("/playground/pooling", json={"text": text, "candidates": CANDIDATES}))
    assert trained["tokens"][0] == "[CLS]" and trained["tokens"][-1] == "[SEP]"
    assert np.array(trained["heatmap"]).shape == (len(trained["tokens"]), 384)
    mean = np.array(trained["pooled"]["mean"])
    np.testing.assert_allclose(mean / np.linalg.norm(mean), embed(client, [text])[0], atol=1e-3)
    assert set(trained["rankings"]) == {"cls", "mean", "max", "weighted_mean", "cls_attention"}
    assert trained["rankings"]["mean"]["order"][0] == 0  # the paraphrase, under the pooling the model was trained with
    raw = ok(client.post("/playground/pooling", json={"text": text, "candidates": CANDIDATES, "model": "raw"}))
    assert raw["model"].startswith("random")
    unrelated = [[scored["classic"][i]["score"] for i in UNRELATED_PAIRS] for scored in (trained, raw)]
    assert max(unrelated[0]) < 0.3 and min(unrelated[1]) > 0.8


def test_contrastive_steps_lower_the_loss_and_keep_points_on_the_circle(client):
    run = ok(client.post("/playground/contrastive", json={"pairs": PAIRS, "steps": 40, "batch_size": 4}))
    assert len(run["frames"]) == len(run["losses"]) == 41
    assert run["losses"][-1] < run["losses"][0] / 2
    points = np.array(run["frames"][-1])
    assert points.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-3)
    again = ok(client.post("/playground/contrastive", json={"pairs": PAIRS, "steps": 40, "batch_size": 4}))
    assert again["losses"] == run["losses"]  # seeded: the page's numbers can be checked


def test_contrastive_refuses_a_batch_larger_than_the_pairs(client):
    response = client.post("/playground/contrastive", json={"pairs": PAIRS[:3], "batch_size": 4})
    assert response.status_code == 400 and "batch_size 4 is larger than the 3 pairs" in error_of(response)["message"]


def test_quality_sets_the_trained_model_apart_from_its_raw_twin(client):
    result = ok(client.post("/playground/quality", json={"pairs": PAIRS}))
    trained, raw = result["trained"], result["raw"]
    assert trained["n_texts"] == raw["n_texts"] == 8
    assert trained["anisotropy"] < 0.3 and raw["anisotropy"] > 0.8
    assert trained["alignment"] < 1.0 and trained["auc"] > 0.9
    assert sum(trained["histogram"]["positive"]) == len(PAIRS)
    assert len(trained["histogram"]["edges"]) == len(trained["histogram"]["random"]) + 1


def test_asymmetric_scores_are_the_cosines_of_plain_and_prefixed_embeddings(client):
    query, documents = "capital of France", ["Paris is the capital of France.", "Berlin is in Germany."]
    result = ok(client.post("/playground/asymmetric", json={"query": query, "documents": documents}))
    plain = embed(client, [query, *documents])
    np.testing.assert_allclose(result["symmetric"]["scores"], plain[1:] @ plain[0], atol=1e-5)
    prefixed = embed(client, ["query: " + query, *("passage: " + d for d in documents)])
    np.testing.assert_allclose(result["asymmetric"]["scores"], prefixed[1:] @ prefixed[0], atol=1e-5)
    assert result["symmetric"]["order"] == [0, 1]


def test_matryoshka_scores_equal_truncated_embeddings_at_every_size(client):
    query, documents = "guitar player", ["A man plays the guitar.", "A chef cooks pasta.", "A band plays music."]
    result = ok(client.post("/playground/matryoshka", json={"query": query, "documents": documents}))
    assert result["dimensions"] == [384, 256, 128, 64, 32]
    for dim in (384, 32):
        vectors = embed(client, [query, *documents], dimensions=dim)
        np.testing.assert_allclose(result["rankings"][str(dim)]["scores"], vectors[1:] @ vectors[0], atol=1e-5)
    assert result["rankings"]["384"]["order"][0] == 0


def test_rag_lays_out_numbered_sources_and_an_extractive_answer(client):
    result = ok(client.post("/playground/rag", json={"question": "How do I cook onion soup?", "k": 2, "mode": "dense"}))
    assert [c["number"] for c in result["citations"]] == [1, 2] and result["citations"][0]["doc_id"] == "soup"
    assert "[1] A simple recipe for onion soup." in result["prompt"] and result["mode"] == "extractive"
    assert "[1]" in result["answer"] and len(result["query_vector_head"]) == 8 and result["dimensions"] == 384
    search = ok(client.post("/v1/search", json={"query": "How do I cook onion soup?", "k": 2, "mode": "dense"}))
    assert [c["doc_id"] for c in result["citations"]] == [hit["doc_id"] for hit in search["data"]]


def test_rag_rerank_without_a_reranker_is_501(client):
    response = client.post("/playground/rag", json={"question": "soup", "rerank": True})
    assert response.status_code == 501 and error_of(response)["code"] == "reranker_not_loaded"


@pytest.mark.parametrize(
    "path, body, param",
    [
        ("/playground/pooling", {"text": "", "candidates": ["x"]}, "text"),
        ("/playground/pooling", {"text": "x", "candidates": ["x"], "model": "huge"}, "model"),
        ("/playground/contrastive", {"pairs": PAIRS, "temperature": 0}, "temperature"),
        ("/playground/asymmetric", {"query": "q", "documents": []}, "documents"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(client, path, body, param):
    response = client.post(path, json=body)
    assert response.status_code == 400 and error_of(response)["param"] == param


def test_token_pages_refuse_a_model_without_tokens_and_rag_needs_an_index(hashing_server):
    with hashing_server(playground=True) as (http, _):
        pooling = http.post("/playground/pooling", json={"text": "a cat", "candidates": ["a dog"]})
        rag = http.post("/playground/rag", json={"question": "a cat"})
        info = ok(http.get("/playground/info"))
    assert pooling.status_code == 400 and "needs a transformer model" in error_of(pooling)["message"]
    assert rag.status_code == 501 and error_of(rag)["code"] == "index_not_loaded"
    assert (info["transformer"], info["index"]) == (False, False)


def test_the_pages_need_no_key_but_their_endpoints_do():
    app = create_app(ServerConfig(model_name="hashing", api_key="secret", playground=True), HashingEncoder())
    with running(app) as (url, _), httpx.Client(base_url=url, timeout=WAIT_S) as http:
        page, script = http.get("/"), http.get("/assets/app.js")
        refused = http.get("/playground/info")
        allowed = http.get("/playground/info", headers={"Authorization": "Bearer secret"})
    assert page.status_code == 200 and "embedlab playground" in page.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert refused.status_code == 401 and allowed.status_code == 200


def test_a_library_app_has_no_playground_unless_asked(hashing_server):
    with hashing_server() as (http, app):
        page, endpoint, training = (
            http.get("/"),
            http.get("/playground/info"),
            http.post("/playground/contrastive", json={}),
        )
        health = http.get("/health")
    assert (page.status_code, endpoint.status_code, training.status_code, health.status_code) == (404, 404, 404, 200)
    assert not [path for path in app.openapi()["paths"] if path.startswith("/playground")]
