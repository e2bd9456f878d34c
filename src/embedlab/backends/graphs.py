"""Finding the ONNX graph for an encoder: the model directory's own export, else a cache keyed by its weights.

`embedlab export` writes into the model directory; loading a model never exported writes into the cache once.
"""

from __future__ import annotations

import os
from pathlib import Path

from embedlab.backends.base import ExportableEncoder
from embedlab.backends.export import FP32_FILE, GRAPH_DIR, INT8_FILE, export_onnx
from embedlab.backends.manifest import check_fresh, encoder_weights_sha256

CACHE_ENV = "EMBEDLAB_ONNX_CACHE"


def graph_cache_dir() -> Path:
    """`EMBEDLAB_ONNX_CACHE` if set, else ~/.cache/embedlab/onnx."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "embedlab" / "onnx"


def graph_for(encoder: ExportableEncoder, *, int8: bool) -> Path:
    """The fp32 or int8 graph of this encoder's weights and pooling, exported first if none exists yet.

    A graph in the model directory made from other weights is refused (ModelLoadError), never re-used.
    """
    file = INT8_FILE if int8 else FP32_FILE
    weights = encoder_weights_sha256(encoder)
    pooling = encoder.model.pooling.strategy
    own = encoder.weights_dir / GRAPH_DIR
    if check_fresh(own, file, weights, pooling):
        return own / file
    cached = graph_cache_dir() / f"{weights[:24]}-{pooling}"
    if not check_fresh(cached, file, weights, pooling):
        export_onnx(encoder, cached, int8=int8)
    return cached / file
