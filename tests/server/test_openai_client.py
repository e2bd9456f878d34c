"""The official openai client against the live server: vectors equal Encoder.encode, batching keeps callers apart."""

from __future__ import annotations

import base64
import re
import threading

import httpx
import numpy as np
import openai
import pytest

from embedlab.server import ServerConfig, create_app
from tests.server.conftest import WAIT_S, GatedEncoder, error_of, running, wait_until


def vectors(response) -> np.ndarray:
    """The response's vectors; the client leaves base64 undecoded when the caller asked for it by name."""
    rows = [item.embedding for item in response.data]
    return np.array([np.frombuffer(base64.b64decode(r), "<f4") if isinstance(r, str) else r for r in rows], np.float32)


TEXTS = ["A man is playing a guitar.", "The stock market fell sharply today.", "Someone strums a guitar.", "cat"]


@pytest.fixture(scope="module")
def live(minilm):
    with running(create_app(ServerConfig(model_name="minilm"), minilm)) as (url, _):
        yield url


@pytest.fixture(scope="module")
def client(live):
    return openai.OpenAI(base_url=f"{live}/v1", api_key="unused", max_retries=0, timeout=WAIT_S)


@pytest.mark.parametrize("encoding_format", ["float", "base64", None])
def test_openai_client_gets_the_encoders_vectors(client, minilm, encoding_format):
    options = {"encoding_format": encoding_format} if encoding_format else {}  # the client's default asks for base64
    response = client.embeddings.create(model="minilm", input=TEXTS, **options)
    np.testing.assert_allclose(vectors(response), minilm.encode(TEXTS), atol=1e-5)
    assert [item.index for item in response.data] == list(range(len(TEXTS)))
    assert response.model == "minilm"
    tokens = [len(ids) for ids in minilm.tokenizer(TEXTS)["input_ids"]]
    assert response.usage.prompt_tokens == response.usage.total_tokens == sum(tokens)


def test_a_single_string_gives_one_embedding(client, minilm):
    response = client.embeddings.create(model="minilm", input="guitar music", encoding_format="float")
    assert len(response.data) == 1
    np.testing.assert_allclose(response.data[0].embedding, minilm.encode("guitar music"), atol=1e-5)


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_dimensions_truncates_and_renormalises_as_encode_does(client, minilm, encoding_format):
    response = client.embeddings.create(model="minilm", input=TEXTS, dimensions=64, encoding_format=encoding_format)
    got = vectors(response)
    assert got.shape == (len(TEXTS), 64)
    np.testing.assert_allclose(got, minilm.encode(TEXTS, dim=64), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_base64_is_little_endian_float32(live, minilm):
    body = httpx.post(f"{live}/v1/embeddings", json={"input": "cat", "encoding_format": "base64"}).json()
    vector = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vector, minilm.encode("cat"), atol=1e-5)


def test_the_client_raises_its_own_errors(client):
    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="minilm", input=[])
    with pytest.raises(openai.BadRequestError, match="dimensions"):
        client.embeddings.create(model="minilm", input="x", dimensions=4096)


def test_long_texts_are_truncated_by_default_and_counted(live, minilm):
    long_text = "word " * 600
    body = httpx.post(f"{live}/v1/embeddings", json={"input": [long_text, "short"]}, timeout=WAIT_S).json()
    with pytest.warns(UserWarning, match="truncated"):
        expected = minilm.encode(long_text)
    np.testing.assert_allclose(body["data"][0]["embedding"], expected, atol=1e-5)
    assert body["usage"]["prompt_tokens"] == minilm.max_seq_length + len(minilm.tokenizer("short")["input_ids"])
    metrics = httpx.get(f"{live}/metrics").text
    assert re.search(r"^embedlab_truncated_texts_total [1-9]", metrics, re.MULTILINE)


def test_no_truncate_refuses_long_texts(minilm):
    with running(create_app(ServerConfig(truncate=False), minilm)) as (url, _):
        response = httpx.post(f"{url}/v1/embeddings", json={"input": ["short", "word " * 600]}, timeout=WAIT_S)
        ok = httpx.post(f"{url}/v1/embeddings", json={"input": "short"}, timeout=WAIT_S)
    error = error_of(response)
    assert response.status_code == 400 and error["code"] == "context_length_exceeded"
    assert error["param"] == "input[1]" and "256" in error["message"]
    assert ok.status_code == 200


def test_concurrent_requests_are_batched_and_each_gets_its_own_vectors(minilm):
    gated = GatedEncoder(minilm)
    requests = [[f"request {i} sentence {j} about topic {i * j}" for j in range(1 + i % 3)] for i in range(12)]
    answers: dict[int, np.ndarray] = {}
    with running(create_app(ServerConfig(), gated)) as (url, _):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=WAIT_S)

        def call(i: int) -> None:
            response = client.embeddings.create(model="minilm", input=requests[i])
            answers[i] = vectors(response)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
        threads[0].start()
        wait_until(gated.entered.is_set, "the first request to reach the model")
        for thread in threads[1:]:
            thread.start()
        wait_until(lambda: _queue_depth(url) == len(requests) - 1, "the other requests to queue")
        gated.gate.set()
        for thread in threads:
            thread.join(WAIT_S)
        metrics = httpx.get(f"{url}/metrics").text
    assert sorted(answers) == list(range(len(requests)))
    for i, texts in enumerate(requests):
        np.testing.assert_allclose(answers[i], minilm.encode(texts), atol=1e-5)
    assert len(gated.calls) < len(requests)  # fewer encode calls than requests
    batches = int(re.search(r"^embedlab_batch_requests_count (\d+)", metrics, re.MULTILINE).group(1))
    single = int(re.search(r'^embedlab_batch_requests_bucket\{le="1"\} (\d+)', metrics, re.MULTILINE).group(1))
    assert batches == len(gated.calls) and single < batches  # some batch merged more than one request


def _queue_depth(url: str) -> int:
    return httpx.get(f"{url}/health").json()["queue_depth"]
