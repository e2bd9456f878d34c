"""The chat client against a real local HTTP server: replies, retries, Retry-After, timeouts, keys and errors."""

from __future__ import annotations

import socket

import pytest

from embedlab.apps.chat_client import ChatClient, ChatConfig
from embedlab.errors import EmbedlabError


def client(url: str, waits: list[float] | None = None, **options) -> ChatClient:
    config = ChatConfig(base_url=url, model="fake-model", backoff=0.5, **options)
    return ChatClient(config, sleep=(waits.append if waits is not None else lambda s: None))


@pytest.mark.parametrize(
    "base, url",
    [
        ("http://h:8000", "http://h:8000/v1/chat/completions"),
        ("http://h:8000/", "http://h:8000/v1/chat/completions"),
        ("http://h:8000/v1", "http://h:8000/v1/chat/completions"),
        ("http://h:8000/v1/", "http://h:8000/v1/chat/completions"),
        ("https://h/openai/v2", "https://h/openai/v2/chat/completions"),
        ("http://h/v1/chat/completions", "http://h/v1/chat/completions"),
    ],
)
def test_base_url_with_or_without_v1(base, url):
    assert ChatConfig(base_url=base, model="m").url == url


def test_bad_settings_are_one_line_errors():
    with pytest.raises(EmbedlabError, match="http"):
        ChatConfig(base_url="localhost:8000", model="m")
    with pytest.raises(EmbedlabError, match="model"):
        ChatConfig(base_url="http://h", model="")
    with pytest.raises(EmbedlabError, match="timeout"):
        ChatConfig(base_url="http://h", model="m", timeout=0)


def test_reply_and_request_body(chat_server):
    fake, url = chat_server
    fake.reply = lambda messages: f"you said {messages[-1]['content']}"
    assert client(url + "/v1").ask("hello", system="be brief") == "you said hello"
    path, _, body = fake.requests[0]
    assert path == "/v1/chat/completions"
    assert body["model"] == "fake-model" and body["temperature"] == 0.0 and body["max_tokens"] == 512
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]


def test_retries_503_and_429_with_exponential_backoff(chat_server):
    fake, url = chat_server
    fake.failures = [503, 429, 500]
    waits: list[float] = []
    assert client(url, waits).ask("q") == "a canned answer"
    assert len(fake.requests) == 4
    assert waits == [0.5, 1.0, 2.0]


def test_retry_after_is_honoured_up_to_max_wait(chat_server):
    fake, url = chat_server
    fake.failures, fake.retry_after = [429], "7"
    waits: list[float] = []
    client(url, waits).ask("q")
    assert waits == [7.0]
    fake.failures, fake.retry_after = [429], "7200"
    waits.clear()
    client(url, waits, max_wait=60).ask("q")
    assert waits == [60]


def test_gives_up_after_max_retries_with_status_and_server_message(chat_server):
    fake, url = chat_server
    fake.failures = [503] * 5
    with pytest.raises(EmbedlabError) as caught:
        client(url, max_retries=2).ask("q")
    message = str(caught.value)
    assert "\n" not in message
    assert "HTTP 503" in message and "overloaded (503)" in message and "after 3 attempts" in message
    assert len(fake.requests) == 3


def test_other_4xx_fail_at_once(chat_server):
    fake, url = chat_server
    with pytest.raises(EmbedlabError, match=r"HTTP 404: no route /v2/chat/completions") as caught:
        client(url + "/v2").ask("q")
    assert len(fake.requests) == 1
    assert "attempts" not in str(caught.value)


def test_api_key_comes_from_the_environment(chat_server, monkeypatch):
    fake, url = chat_server
    fake.api_key = "sk-test"
    monkeypatch.delenv("EMBEDLAB_TEST_KEY", raising=False)
    with pytest.raises(EmbedlabError, match="HTTP 401: Incorrect API key provided"):
        client(url, api_key_env="EMBEDLAB_TEST_KEY").ask("q")
    assert "Authorization" not in fake.requests[-1][1]
    monkeypatch.setenv("EMBEDLAB_TEST_KEY", "sk-test")
    assert client(url, api_key_env="EMBEDLAB_TEST_KEY").ask("q") == "a canned answer"
    assert fake.requests[-1][1]["Authorization"] == "Bearer sk-test"


def test_timeout_is_retried_then_reported(chat_server):
    fake, url = chat_server
    fake.hang = 1.0
    with pytest.raises(EmbedlabError, match=r"did not answer within 0.2 s \(after 2 attempts\)"):
        client(url, timeout=0.2, max_retries=1).ask("q")
    assert len(fake.requests) == 2


def test_unreachable_server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(EmbedlabError, match=rf"127.0.0.1:{port}/v1/chat/completions could not be reached"):
        client(f"http://127.0.0.1:{port}", max_retries=1).ask("q")


def test_non_text_content_is_an_error(chat_server):
    fake, url = chat_server
    fake.reply = lambda messages: None
    with pytest.raises(EmbedlabError, match="non-text message content"):
        client(url).ask("q")
