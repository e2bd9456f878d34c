"""Servers for the tests: the real app under uvicorn on a free loopback port, and encoders tests can hold still."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from embedlab.server import ServerConfig, create_app
from tests.fakes import HashingEncoder

WAIT_S = 20.0  # the longest any test waits for a server or a condition before failing


@contextmanager
def running(app) -> Iterator[tuple[str, uvicorn.Server]]:
    """Serve `app` on 127.0.0.1 (a port the OS picks) in a thread; yields its base URL and the uvicorn server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, "the server to start")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", server
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        sock.close()


def wait_until(condition, what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.005)


class GatedEncoder:
    """Wraps an encoder so that each encode call waits until the test opens the gate: queues can then be filled
    deterministically. `entered` is set once a call is waiting at the gate."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls: list[list[str]] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, texts, **kwargs):
        self.calls.append(list(texts))
        self.entered.set()
        if not self.gate.wait(WAIT_S):
            raise AssertionError("the test never opened the gate")
        return self.inner.encode(texts, **kwargs)


def error_of(response: httpx.Response) -> dict:
    """The OpenAI-shaped error of a response, checked for its shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert "Traceback" not in body["error"]["message"]
    return body["error"]


@pytest.fixture
def hashing_server():
    """A fresh hashing-model server per test (its metrics start at zero); yields (client, app)."""

    @contextmanager
    def start(encoder=None, **settings):
        app = create_app(ServerConfig(model_name="hashing", **settings), encoder or HashingEncoder())
        with running(app) as (url, _), httpx.Client(base_url=url, timeout=WAIT_S) as client:
            yield client, app

    return start
