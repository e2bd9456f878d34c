"""Every limit and error answer: status, OpenAI error shape and code, never a traceback."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.fakes import HashingEncoder
from tests.server.conftest import WAIT_S, GatedEncoder, error_of, wait_until


@pytest.mark.parametrize(
    "body, param, words",
    [
        ({"input": ""}, "input", "empty string"),
        ({"input": []}, "input", "empty list"),
        ({"input": ["fine", ""]}, "input", "item 1 is an empty string"),
        ({"input": ["fine", None]}, "input", "item 1 is null"),
        ({"input": 42}, "input", "not number"),
        ({"input": [1, 2, 3]}, "input", "token arrays"),
        ({}, "input", "Field required"),
        ({"input": "x", "encoding_format": "hex"}, "encoding_format", "'float' or 'base64'"),
        ({"input": "x", "dimensions": 0}, "dimensions", "greater than or equal to 1"),
        ({"input": "x", "dimensions": "many"}, "dimensions", "valid integer"),
        ({"input": "x", "dimensions": 17}, "dimensions", "16-d"),
        ({"input": "x", "prompt_name": "query"}, "prompt_name", "no prompt 'query'"),
        ([1, 2], None, "valid dictionary"),
    ],
)
def test_bad_embedding_requests_are_400_in_openai_shape(hashing_server, body, param, words):
    with hashing_server() as (client, _):
        response = client.post("/v1/embeddings", json=body)
    error = error_of(response)
    assert response.status_code == 400, error
    assert error["type"] == "invalid_request_error" and error["param"] == param and words in error["message"]


def test_a_body_that_is_not_json_is_400(hashing_server):
    with hashing_server() as (client, _):
        response = client.post("/v1/embeddings", content=b'{"input": ', headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in error_of(response)["message"]


def test_too_many_inputs_is_400(hashing_server):
    with hashing_server(max_inputs=3) as (client, _):
        response = client.post("/v1/embeddings", json={"input": ["a", "b", "c", "d"]})
        pairs = client.post("/v1/similarity", json={"pairs": [["a", "b"], ["c", "d"]]})
        ok = client.post("/v1/embeddings", json={"input": ["a", "b", "c"]})
    assert response.status_code == 400 and error_of(response)["code"] == "too_many_inputs"
    assert pairs.status_code == 400 and error_of(pairs)["param"] == "pairs"
    assert ok.status_code == 200


def test_a_body_over_the_limit_is_413_declared_or_streamed(hashing_server):
    big = b'{"input": "' + b"x" * 2000 + b'"}'
    with hashing_server(max_body_bytes=1000) as (client, _):
        declared = client.post("/v1/embeddings", content=big, headers={"content-type": "application/json"})
        # A generator body goes out chunked, with no Content-Length to refuse it by.
        streamed = client.post(
            "/v1/embeddings",
            content=(big[i : i + 500] for i in range(0, len(big), 500)),
            headers={"content-type": "application/json"},
        )
        metrics = client.get("/metrics").text
    for response in (declared, streamed):
        assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"
    assert 'embedlab_errors_total{status="413",code="payload_too_large"} 2' in metrics


def test_unknown_model_is_404_model_not_found(hashing_server):
    with hashing_server() as (client, _):
        response = client.post("/v1/embeddings", json={"input": "x", "model": "text-embedding-3-large"})
        by_encoder_name = client.post("/v1/embeddings", json={"input": "x", "model": "hashing"})
    error = error_of(response)
    assert response.status_code == 404 and error["code"] == "model_not_found" and error["param"] == "model"
    assert by_encoder_name.status_code == 200


def test_api_key_is_required_when_set(hashing_server):
    with hashing_server(api_key="sesame") as (client, _):
        missing = client.post("/v1/embeddings", json={"input": "x"})
        wrong = client.post("/v1/embeddings", json={"input": "x"}, headers={"Authorization": "Bearer nope"})
        right = client.post("/v1/embeddings", json={"input": "x"}, headers={"Authorization": "Bearer sesame"})
        info = client.get("/info")
        health = client.get("/health")
    for response in (missing, wrong, info):
        assert response.status_code == 401 and error_of(response)["code"] == "invalid_api_key"
        assert response.headers["www-authenticate"] == "Bearer"
    assert "no API key" in error_of(missing)["message"] and "incorrect" in error_of(wrong)["message"]
    assert right.status_code == 200 and health.status_code == 200  # health stays open for probes


def test_a_full_queue_is_429_with_retry_after(hashing_server):
    gated = GatedEncoder(HashingEncoder())
    with hashing_server(gated, max_queue=1, retry_after=3) as (client, _):
        results: list[httpx.Response] = []
        first = threading.Thread(target=lambda: results.append(client.post("/v1/embeddings", json={"input": "one"})))
        first.start()
        wait_until(gated.entered.is_set, "the first request to reach the model")
        second = threading.Thread(target=lambda: results.append(client.post("/v1/embeddings", json={"input": "two"})))
        second.start()
        wait_until(lambda: client.get("/health").json()["queue_depth"] == 1, "the second request to queue")
        refused = client.post("/v1/embeddings", json={"input": "three"})
        gated.gate.set()
        first.join(WAIT_S)
        second.join(WAIT_S)
    error = error_of(refused)
    assert refused.status_code == 429 and error["code"] == "queue_full" and error["type"] == "rate_limit_error"
    assert refused.headers["retry-after"] == "3"
    assert [r.status_code for r in results] == [200, 200]  # those admitted are still answered


def test_a_request_past_its_timeout_is_504_and_is_not_run(hashing_server):
    gated = GatedEncoder(HashingEncoder())
    with hashing_server(gated, timeout=0.2) as (client, app):
        # Occupy the model directly, not over HTTP, so that nothing but the request under test can time out.
        blocker = app.state.service.worker.submit_texts(["blocking"], [1])
        wait_until(gated.entered.is_set, "the blocking job to reach the model")
        late = client.post("/v1/embeddings", json={"input": "waits in the queue"})
        gated.gate.set()
        blocker.result(WAIT_S)
        after = app.state.service.worker.submit_texts(["after"], [1]).result(WAIT_S)
    assert late.status_code == 504 and error_of(late)["code"] == "timeout"
    assert ["waits in the queue"] not in gated.calls  # dropped unrun once its caller had gone
    assert after.shape == (1, 16) and gated.calls[-1] == ["after"]


def test_unknown_routes_and_methods_answer_in_openai_shape(hashing_server):
    with hashing_server() as (client, _):
        missing = client.get("/v1/nothing-here")
        wrong_method = client.get("/v1/embeddings")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert wrong_method.status_code == 405 and error_of(wrong_method)["code"] == "method_not_allowed"


def test_an_encoder_bug_is_500_without_a_traceback(hashing_server):
    class Broken(HashingEncoder):
        def encode(self, texts, **kwargs):
            raise RuntimeError("boom in the model")

    with hashing_server(Broken()) as (client, _):
        response = client.post("/v1/embeddings", json={"input": "x"})
        still_healthy = client.get("/health")
    error = error_of(response)
    assert response.status_code == 500 and error["code"] == "internal_error" and "boom" not in error["message"]
    assert still_healthy.status_code == 200  # the worker survives a failed call
