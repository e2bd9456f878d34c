"""A small client for OpenAI-compatible chat-completions endpoints (OpenAI, vLLM, llama.cpp, Ollama ...).

The standard library's urllib is enough for one POST with retries, so RAG and synthetic data add no dependency.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from embedlab.errors import EmbedlabError

# Statuses worth another try: rate limiting and server-side trouble; any other 4xx will fail the same way again.
RETRY_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class ChatConfig:
    """Where and how to ask for chat completions.

    base_url: the server's API root. `.../v1` (any `/vN` ending) is used as is, a URL already ending in
    `/chat/completions` too, and anything else gets `/v1` appended: `http://localhost:8000` and
    `http://localhost:8000/v1` both post to `http://localhost:8000/v1/chat/completions`.
    The API key is read from the environment variable `api_key_env` only; when it is unset no Authorization
    header is sent (local servers need none). A failed attempt is retried up to `max_retries` times, waiting
    `backoff` seconds, then twice that, and so on, or what the server's Retry-After asks, never over `max_wait`.
    """

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 30.0
    max_retries: int = 3
    backoff: float = 1.0
    max_wait: float = 60.0
    temperature: float = 0.0
    max_tokens: int = 512

    def __post_init__(self) -> None:
        if not re.match(r"https?://[^/]", self.base_url):
            raise EmbedlabError(f"the chat endpoint must be an http(s) URL, got {self.base_url!r}")
        if not self.model:
            raise EmbedlabError("a chat endpoint needs a model name")
        if self.timeout <= 0 or self.max_retries < 0 or self.backoff < 0 or self.max_tokens < 1:
            raise EmbedlabError(
                f"need timeout > 0, max_retries >= 0, backoff >= 0 and max_tokens >= 1, got {self.timeout}, "
                f"{self.max_retries}, {self.backoff}, {self.max_tokens}"
            )

    @property
    def url(self) -> str:
        """The chat-completions URL that base_url leads to (the rule is in the class docstring)."""
        base = self.base_url.rstrip("/")
        if base.endswith("/chat/completions"):
            return base
        if not re.search(r"/v\d+$", base):
            base += "/v1"
        return base + "/chat/completions"


class ChatClient:
    """Posts chat messages to one endpoint and returns the reply text; every failure is one EmbedlabError line."""

    def __init__(self, config: ChatConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._sleep = sleep  # injectable so tests can see the waits without spending them

    def complete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """The assistant's reply to `messages` ([{"role": ..., "content": ...}, ...])."""
        body = json.dumps(
            {
                "model": self.config.model,
                "messages": list(messages),
                "temperature": self.config.temperature,
                "max_tokens": self.config.max_tokens,
            }
        ).encode("utf-8")
        return _reply_text(self._post(body), self.config.url)

    def ask(self, prompt: str, system: str | None = None) -> str:
        """The reply to one user prompt, after an optional system message."""
        messages = [{"role": "system", "content": system}] if system else []
        return self.complete([*messages, {"role": "user", "content": prompt}])

    def _post(self, body: bytes) -> dict:
        config = self.config
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(config.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        attempts = config.max_retries + 1
        for attempt in range(attempts):
            request = urllib.request.Request(config.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=config.timeout) as response:
                    raw = response.read()
                break
            except urllib.error.HTTPError as err:
                detail = _error_message(err.read())
                if err.code not in RETRY_STATUSES:
                    raise EmbedlabError(f"chat endpoint {config.url} answered HTTP {err.code}: {detail}") from None
                failure = f"answered HTTP {err.code}: {detail}"
                wait = _retry_after(err.headers.get("Retry-After"))
            except TimeoutError:
                failure, wait = f"did not answer within {config.timeout:g} s", None
            except urllib.error.URLError as err:
                if isinstance(err.reason, TimeoutError):
                    failure = f"did not answer within {config.timeout:g} s"
                else:
                    failure = f"could not be reached: {err.reason}"
                wait = None
            except (ConnectionError, http.client.HTTPException) as err:
                failure, wait = f"dropped the connection: {str(err) or type(err).__name__}", None
            if attempt + 1 == attempts:
                tries = f" (after {attempts} attempts)" if attempts > 1 else ""
                raise EmbedlabError(f"chat endpoint {config.url} {failure}{tries}")
            self._sleep(min(config.max_wait, wait if wait is not None else config.backoff * 2**attempt))
        try:
            return json.loads(raw)
        except ValueError:
            raise EmbedlabError(f"chat endpoint {config.url} did not return JSON: {_one_line(raw)}") from None


def _reply_text(payload: dict, url: str) -> str:
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise EmbedlabError(
            f"chat endpoint {url} returned no choices[0].message.content: {_one_line(payload)}"
        ) from None
    if not isinstance(content, str):
        raise EmbedlabError(f"chat endpoint {url} returned a non-text message content: {_one_line(content)}")
    return content


def _error_message(raw: bytes) -> str:
    """The server's own explanation: OpenAI's {"error": {"message"}}, {"error": "..."}, {"detail"} or the text."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return _one_line(raw) or "no message"
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail", payload.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return _one_line(error)
    return _one_line(payload)


def _retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _one_line(value: object) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if not isinstance(text, str):
        text = json.dumps(text, default=str)
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."
