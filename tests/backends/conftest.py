"""Fixtures for the backend tests: MiniLM exported once per session (ONNX, then OpenVINO), and a private graph
cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from embedlab import Encoder
from embedlab.backends.export import ExportReport
from embedlab.backends.graphs import CACHE_ENV
from embedlab.models.export import export_model


@pytest.fixture(autouse=True, scope="session")
def _private_graph_cache(tmp_path_factory):
    """Graphs exported on load go to a temporary cache, never the user's."""
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("onnx-cache"))
    yield
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous


@pytest.fixture(scope="session")
def export_run(tmp_path_factory) -> tuple[Path, list[ExportReport]]:
    """The bundled MiniLM copied and exported to fp32 and int8 ONNX (about 20 s, once)."""
    out = tmp_path_factory.mktemp("exported") / "minilm"
    return out, export_model("minilm", out, "onnx-int8")


@pytest.fixture(scope="session")
def exported(export_run) -> Path:
    return export_run[0]


@pytest.fixture(scope="session")
def openvino_run(exported) -> ExportReport:
    """The exported MiniLM's static int8 OpenVINO model, written beside its ONNX graphs (about 30 s, once)."""
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    (report,) = export_model(exported, exported, "openvino-int8")
    return report


@pytest.fixture(scope="session")
def openvino_minilm(exported, openvino_run) -> Encoder:
    return Encoder.load(exported, backend="openvino-int8")


@pytest.fixture(scope="session")
def onnx_minilm(exported) -> Encoder:
    return Encoder.load(exported, backend="onnx")


@pytest.fixture(scope="session")
def int8_minilm(exported) -> Encoder:
    return Encoder.load(exported, backend="onnx-int8")


@contextmanager
def running_on(encoder: Encoder, backend) -> Iterator[Encoder]:
    """The session's shared encoder with another backend for the block, its own restored after."""
    previous, encoder.backend = encoder.backend, backend
    try:
        yield encoder
    finally:
        encoder.backend = previous
