"""Finding an encoder's graph (ONNX, or OpenVINO IR): the model directory's own export, else a cache keyed by
its weights.

`embedlab export` writes into the model directory; loading a model never exported writes into the cache once.
"""

from __future__ import annotations

import os
from pathlib import Path

from embedlab.backends.base import ExportableEncoder
from embedlab.backends.export import FP32_FILE, GRAPH_DIR, INT8_FILE, ExportReport, export_onnx
from embedlab.backends.manifest import check_fresh, encoder_weights_sha256
from embedlab.backends.static_int8 import OPENVINO_INT8_FILE, export_openvino_int8

CACHE_ENV = "EMBEDLAB_ONNX_CACHE"


def graph_cache_dir() -> Path:
    """`EMBEDLAB_ONNX_CACHE` if set, else ~/.cache/embedlab/onnx."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "embedlab" / "onnx"


GRAPH_FILES = {"onnx": FP32_FILE, "onnx-int8": INT8_FILE, "openvino-int8": OPENVINO_INT8_FILE}


def graph_for(encoder: ExportableEncoder, backend: str) -> Path:
    """The graph file of this encoder's weights and pooling for a graph backend, exported first if none exists yet.

    A graph in the model directory made from other weights is refused (ModelLoadError), never re-used.
    """
    file = GRAPH_FILES[backend]
    weights = encoder_weights_sha256(encoder)
    pooling = encoder.model.pooling.strategy
    own = encoder.weights_dir / GRAPH_DIR
    if check_fresh(own, file, weights, pooling):
        return own / file
    cached = graph_cache_dir() / f"{weights[:24]}-{pooling}"
    if not check_fresh(cached, file, weights, pooling):
        export_graph(encoder, cached, backend)
    return cached / file


def export_graph(encoder: ExportableEncoder, graph_dir: Path, backend: str) -> list[ExportReport]:
    """Write the graph a graph backend runs into graph_dir (onnx-int8's comes with its fp32 graph), validated."""
    if backend == "openvino-int8":
        return [export_openvino_int8(encoder, graph_dir)]
    return export_onnx(encoder, graph_dir, int8=backend == "onnx-int8")
