"""`embedlab serve --ray-replicas 2` as a user runs it: a local Ray, two replicas of the same app, SIGTERM to stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from tests.server.conftest import WAIT_S, error_of, wait_until
from tests.server.test_serve_cli import free_port

pytest.importorskip("ray.serve")

STARTUP_S = 300  # a local Ray, Serve's controller and proxy, and two replicas loading torch on a busy machine
REPLICA_HEADER = "x-embedlab-replica"


def embedlab(*args: str, log_dir=None) -> subprocess.Popen:
    """`python -m embedlab ARGS`; output goes to files, as Ray logs more than a pipe holds unread."""
    out = open(log_dir / "out.txt", "w") if log_dir else subprocess.PIPE  # noqa: SIM115 (closed by the fixture)
    err = open(log_dir / "err.txt", "w") if log_dir else subprocess.PIPE  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "embedlab", *args],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        text=True,
        stdout=out,
        stderr=err,
    )


@pytest.fixture(scope="module")
def ray_server(tmp_path_factory):
    """The server on a local Ray started by the CLI, once for the module; stopped with SIGTERM and checked after."""
    logs = tmp_path_factory.mktemp("ray-serve")
    port = free_port()
    process = embedlab("serve", "--ray-replicas", "2", "--port", str(port), log_dir=logs)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, (logs / "err.txt").read_text()
        return "serving minilm on Ray Serve" in (logs / "out.txt").read_text()  # printed once every replica runs

    try:
        wait_until(ready, "the Ray Serve replicas to run", timeout=STARTUP_S)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    out, err = (logs / "out.txt").read_text(), (logs / "err.txt").read_text()
    assert process.returncode == 0, err
    assert f"serving minilm on Ray Serve, 2 replicas, at {url}" in out
    assert "Traceback" not in err
    with pytest.raises(httpx.TransportError):  # the proxy went with the Ray instance the CLI started
        httpx.get(f"{url}/health", timeout=2)


def test_two_replicas_answer_embeddings_equal_to_the_encoder(ray_server, minilm) -> None:
    texts = [f"sentence {i} about {['cats', 'the weather', 'stock prices', 'running'][i % 4]}" for i in range(32)]

    def embed(text: str) -> tuple[str, list[float]]:
        answer = httpx.post(f"{ray_server}/v1/embeddings", json={"input": text, "model": "minilm"}, timeout=WAIT_S)
        assert answer.status_code == 200, answer.text
        return answer.headers[REPLICA_HEADER], answer.json()["data"][0]["embedding"]

    with ThreadPoolExecutor(4) as pool:  # concurrent, so Serve's router spreads them over both replicas
        answers = list(pool.map(embed, texts))
    np.testing.assert_allclose([vector for _, vector in answers], minilm.encode(texts), atol=1e-5)
    assert len({replica for replica, _ in answers}) == 2


def test_the_replicas_run_the_whole_application(ray_server, minilm) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{ray_server}/v1", api_key="unused", max_retries=0, timeout=WAIT_S)
    result = client.embeddings.create(model="minilm", input=["a cat", "a dog"], dimensions=64)
    expected = minilm.encode(["a cat", "a dog"], dim=64)
    np.testing.assert_allclose([d.embedding for d in result.data], expected, atol=1e-5)
    info = httpx.get(f"{ray_server}/info", timeout=WAIT_S).json()
    assert (info["model"], info["dimensions"]) == ("minilm", 384)
    empty = httpx.post(f"{ray_server}/v1/embeddings", json={"input": [], "model": "minilm"}, timeout=WAIT_S)
    assert empty.status_code == 400 and "empty list" in error_of(empty)["message"]  # the app's own limits


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ray-replicas", "2", "--ray-address", "127.0.0.1:1"], "error: no Ray cluster answers at 127.0.0.1:1"),
        (["--ray-address", "auto"], "error: --ray-address needs --ray-replicas N"),
        (["--ray-replicas", "0"], "error: replicas must be a positive integer, not 0"),
    ],
)
def test_bad_ray_settings_are_one_line_errors(args, message) -> None:
    process = embedlab("serve", *args)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert err.strip() == message or err.strip().startswith(message), err
    assert "Traceback" not in err
