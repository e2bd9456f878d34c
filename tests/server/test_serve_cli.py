"""`embedlab serve` as a user runs it: a real process on loopback, its key from the environment, SIGTERM to stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from embedlab.cli.app import app as cli
from embedlab.server import create_app
from tests.fakes import HashingEncoder
from tests.server.conftest import WAIT_S, wait_until

STARTUP_S = 120  # loading torch and the model in a fresh process on a busy machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedlab(*args: str, env: dict | None = None, **options) -> subprocess.Popen:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "embedlab", *args], env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)


def test_serve_answers_with_its_key_and_stops_cleanly_on_sigterm(minilm):
    port = free_port()
    process = embedlab("serve", "--port", str(port), "--log-level", "warning", env={"EMBEDLAB_API_KEY": "k3y"})
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            assert process.poll() is None, process.communicate()
            try:
                return httpx.get(f"{url}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, "embedlab serve to answer /health", timeout=STARTUP_S)
        refused = httpx.post(f"{url}/v1/embeddings", json={"input": "hi"}, timeout=WAIT_S)
        answered = httpx.post(f"{url}/v1/embeddings", json={"input": "hi", "model": "minilm"}, timeout=WAIT_S,
                              headers={"Authorization": "Bearer k3y"})
        page = httpx.get(url, timeout=WAIT_S)  # the playground is on by default in the command
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=WAIT_S * 2)
    assert refused.status_code == 401
    assert page.status_code == 200 and "embedlab playground" in page.text
    np.testing.assert_allclose(answered.json()["data"][0]["embedding"], minilm.encode("hi"), atol=1e-5)
    # uvicorn re-raises SIGTERM once it has shut down gracefully, so the process ends as killed by it.
    assert process.returncode in (0, -signal.SIGTERM), err
    assert f"serving minilm (384-d) at http://127.0.0.1:{port}" in out
    assert "Traceback" not in err


def test_bad_settings_are_one_line_errors(tmp_path):
    for args, words in [
        (["--max-queue", "0"], "server limits must be positive: max_queue=0"),
        (["--workers", "0"], "server limits must be positive: workers=0"),
        (["--index", str(tmp_path / "missing")], "is not an index"),
        (["--playground-sparse", "minilm"], "minilm is a dense model, not a sparse one"),
    ]:
        process = embedlab("serve", "--port", str(free_port()), *args)
        out, err = process.communicate(timeout=STARTUP_S)
        assert process.returncode == 1, (out, err)
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.fixture
def launched(monkeypatch) -> list[tuple]:
    """(models, config, app) of each app `embedlab serve` builds, with uvicorn kept from running it."""
    import uvicorn

    from embedlab.server import launch

    built = []

    def build_app(models, config):
        built.append((models, config, create_app(config, HashingEncoder())))
        return built[-1][2]

    monkeypatch.setattr(launch, "build_app", build_app)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: None)
    return built


@pytest.mark.parametrize("flags, playground", [([], True), (["--no-playground"], False)])
def test_the_command_mounts_the_playground_unless_told_not_to(launched, flags, playground):
    result = CliRunner().invoke(cli, ["serve", *flags])
    assert result.exit_code == 0, result.output
    ((_, _, server),) = launched
    assert ("/playground/contrastive" in server.openapi()["paths"]) is playground
    assert any(getattr(route, "path", None) == "/" for route in server.routes) is playground


def test_the_playgrounds_sparse_and_multi_vector_models_reach_the_loader(launched):
    result = CliRunner().invoke(cli, ["serve", "--playground-sparse", "splade-dir",
                                      "--playground-multi-vector", "colbert-dir"])
    assert result.exit_code == 0, result.output
    models, _, _ = launched[0]
    assert (models.sparse, models.multi_vector) == ("splade-dir", "colbert-dir")


def test_workers_reach_the_server_config(launched):
    result = CliRunner().invoke(cli, ["serve", "--workers", "2", "--threads", "1"])
    assert result.exit_code == 0, result.output
    _, config, _ = launched[0]
    assert config.workers == 2 and config.public()["workers"] == 2
