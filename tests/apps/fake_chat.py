"""A real OpenAI-compatible chat server on localhost for tests: canned replies, scripted failures, hangs.

Clients talk to it over genuine HTTP, so retries, timeouts and headers are exercised as in production.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeChat:
    """What the server does: `reply(messages)` gives the text; `failures` are statuses sent first, one per request.

    `hang` seconds of silence before every answer; `api_key`, when set, must arrive as a Bearer token (else 401).
    Every request is recorded as (path, headers, body).
    """

    reply: Callable[[list[dict]], str] = lambda messages: "a canned answer"
    failures: list[int] = field(default_factory=list)
    retry_after: str | None = None
    hang: float = 0.0
    api_key: str | None = None
    requests: list[tuple[str, dict, dict]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        fake = self.server.fake
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        fake.requests.append((self.path, dict(self.headers), body))
        if fake.hang:
            time.sleep(fake.hang)
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return self._send(
                401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
            )
        if fake.failures:
            status = fake.failures.pop(0)
            headers = {"Retry-After": fake.retry_after} if fake.retry_after else {}
            return self._send(status, {"error": {"message": f"overloaded ({status})"}}, headers)
        content = fake.reply(body["messages"])
        self._send(
            200,
            {
                "id": "fake",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            },
        )

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a client that timed out has gone; nothing to tell it

    def log_message(self, format: str, *args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    fake: FakeChat


def serve(fake: FakeChat) -> tuple[_Server, str]:
    """Start the server on a free port in a daemon thread; returns it and its base URL (without /v1)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
