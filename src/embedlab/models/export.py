"""`embedlab export`: a model copied into a directory (sentence-transformers layout) with its graphs (ONNX or
OpenVINO IR)."""

from __future__ import annotations

from pathlib import Path

from embedlab.backends import GRAPH_BACKENDS
from embedlab.backends.export import GRAPH_DIR, ExportReport
from embedlab.backends.graphs import export_graph
from embedlab.errors import EmbedlabError
from embedlab.models.encoder import Encoder


def export_model(name: str | None, out: Path, backend: str = "onnx") -> list[ExportReport]:
    """Copy a model into `out` and export the graphs of `backend` into out/onnx, each validated against torch.

    `out` may be the model's own directory, which then only gains the onnx/ folder.
    """
    if backend not in GRAPH_BACKENDS:
        raise EmbedlabError(f"export writes graphs: choose backend {', '.join(GRAPH_BACKENDS)}, not {backend!r}")
    encoder = Encoder.load(name, device="cpu")
    out = Path(out).expanduser()
    if not (out.exists() and out.resolve() == encoder.weights_dir.resolve()):
        encoder.save(out)
        encoder = Encoder.load(out, device="cpu")
    return export_graph(encoder, out / GRAPH_DIR, backend)
