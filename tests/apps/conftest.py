"""Fixtures for the application tests: a fake OpenAI-compatible chat server per test."""

from __future__ import annotations

import pytest

from tests.apps.fake_chat import FakeChat, serve


@pytest.fixture
def chat_server():
    """(FakeChat to script, base URL); the server stops after the test."""
    fake = FakeChat()
    server, url = serve(fake)
    yield fake, url
    server.shutdown()
    server.server_close()
