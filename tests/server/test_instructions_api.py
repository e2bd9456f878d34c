"""The embeddings request's optional `input_type` and `task`, and /v1/search's `task`, over real HTTP."""

from __future__ import annotations

import httpx
import numpy as np
import openai
import pytest

from embedlab.data.corpus import Document
from embedlab.index import Index
from embedlab.server import ServerConfig, create_app
from tests.fakes import HashingEncoder
from tests.server.conftest import WAIT_S, error_of, running

QWEN3_PROMPT = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"
TASK = "Given a claim, find documents that refute it"
TEXTS = ["The earth is flat.", "Vaccines cause autism? ☃"]


@pytest.fixture
def tiny_server(tiny_encoder):
    """A server over a tiny model with Qwen3-Embedding's prompts: an instruction for queries, none for documents."""
    tiny_encoder.layout.prompts = {"query": QWEN3_PROMPT, "document": ""}
    with running(create_app(ServerConfig(model_name="tiny"), tiny_encoder)) as (url, _):
        yield url, tiny_encoder


def embed(url: str, **body) -> np.ndarray | dict:
    response = httpx.post(f"{url}/v1/embeddings", json={"input": TEXTS, **body}, timeout=WAIT_S)
    if response.status_code != 200:
        return {"status": response.status_code, **error_of(response)}
    return np.array([item["embedding"] for item in response.json()["data"]], dtype=np.float32)


def test_the_openai_client_sends_a_task_as_an_extra_field(tiny_server) -> None:
    url, model = tiny_server
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=WAIT_S)
    response = client.embeddings.create(model="tiny", input=TEXTS, encoding_format="float", extra_body={"task": TASK})
    got = np.array([item.embedding for item in response.data], dtype=np.float32)
    np.testing.assert_allclose(got, model.encode_queries(TEXTS, task=TASK), atol=1e-5)
    assert model.query_prompt_for(TASK) == f"Instruct: {TASK}\nQuery:"  # the model's own template, not the default


def test_input_type_picks_the_query_or_document_prompt(tiny_server) -> None:
    url, model = tiny_server
    np.testing.assert_allclose(embed(url, input_type="query"), model.encode_queries(TEXTS), atol=1e-5)
    np.testing.assert_allclose(embed(url, input_type="document"), model.encode_documents(TEXTS), atol=1e-5)
    np.testing.assert_allclose(embed(url, input_type="query", task=TASK), embed(url, task=TASK), atol=1e-6)
    np.testing.assert_allclose(embed(url, prompt_name="query"), model.encode_queries(TEXTS), atol=1e-5)
    np.testing.assert_allclose(embed(url), model.encode(TEXTS), atol=1e-5)


@pytest.mark.parametrize(
    "body, param, words",
    [
        ({"task": TASK, "input_type": "document"}, "task", "documents get no instruction"),
        ({"prompt_name": "query", "input_type": "query"}, "input_type", "give one of prompt_name and input_type"),
        ({"prompt_name": "query", "task": TASK}, "prompt_name", "give one of prompt_name and input_type"),
        ({"input_type": "passage"}, "input_type", "'query' or 'document'"),
        ({"task": ""}, "task", "at least 1 character"),
        ({"task": 3}, "task", "valid string"),
        ({"task": "   "}, None, "non-blank string"),
    ],
)
def test_bad_instruction_fields_are_400(tiny_server, body, param, words) -> None:
    error = embed(tiny_server[0], **body)
    assert error["status"] == 400 and error["param"] == param and words in error["message"], error


def test_search_takes_a_task_over_the_indexs_own() -> None:
    documents = [Document("cats", "Cats purr when happy."), Document("dogs", "Dogs bark at strangers.")]
    index = Index.build(HashingEncoder(), documents)
    with running(create_app(ServerConfig(model_name="hashing"), index.encoder, index=index)) as (url, _):
        response = httpx.post(f"{url}/v1/search", json={"query": "cats", "task": TASK}, timeout=WAIT_S)
        assert response.status_code == 200, response.text
        assert index.encoder.calls[-1] == [f"Instruct: {TASK}\nQuery: cats"]
        bad = httpx.post(f"{url}/v1/search", json={"query": "cats", "task": " "}, timeout=WAIT_S)
        assert bad.status_code == 400 and "non-blank string" in error_of(bad)["message"]
