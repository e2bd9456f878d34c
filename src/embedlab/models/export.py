"""`embedlab export`: a model copied into a directory (sentence-transformers layout) with its ONNX graphs."""

from __future__ import annotations

from pathlib import Path

from embedlab.backends.export import GRAPH_DIR, ExportReport, export_onnx
from embedlab.errors import EmbedlabError
from embedlab.models.encoder import Encoder


def export_model(name: str | None, out: Path, backend: str = "onnx") -> list[ExportReport]:
    """Copy a model into `out` and export its graphs into out/onnx, each validated against torch.

    `out` may be the model's own directory, which then only gains the onnx/ folder.
    """
    if backend not in ("onnx", "onnx-int8"):
        raise EmbedlabError(f"export writes ONNX graphs: choose backend onnx or onnx-int8, not {backend!r}")
    encoder = Encoder.load(name, device="cpu")
    out = Path(out).expanduser()
    if not (out.exists() and out.resolve() == encoder.weights_dir.resolve()):
        encoder.save(out)
        encoder = Encoder.load(out, device="cpu")
    return export_onnx(encoder, out / GRAPH_DIR, int8=backend == "onnx-int8")
