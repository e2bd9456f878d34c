"""The record an export leaves beside its graphs: which weights they came from and how well they match.

Loading compares the recorded sha256 with the weights on disk and refuses a graph made from other weights.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from embedlab.atomic import write_json
from embedlab.backends.base import ExportableEncoder
from embedlab.errors import ModelLoadError
from embedlab.files import hash_file_into

MANIFEST = "embedlab_export.json"


def weights_sha256(directory: Path, modules: Sequence[Path] = ()) -> str:
    """sha256 over every safetensors file of a model directory, in name order, then over every file of the
    `modules` directories (the Dense / LayerNorm modules after pooling: their weights and their config).

    The graph holds those modules too, so two models that share a transformer but not a Dense head (or its
    activation) must never share a graph. Without modules the digest is the transformer's alone, as before.
    """
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise ModelLoadError(f"{directory} holds no safetensors weights to export from; save the model first")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        hash_file_into(digest, path)
    for module in modules:
        for path in sorted(p for p in module.iterdir() if p.is_file()):
            digest.update(f"{module.name}/{path.name}".encode())
            hash_file_into(digest, path)
    return digest.hexdigest()


def encoder_weights_sha256(encoder: ExportableEncoder) -> str:
    """weights_sha256 of everything an encoder's graph is made from: its transformer and its head modules."""
    return weights_sha256(encoder.weights_dir, [directory for _, directory in encoder.layout.head])


def read_manifest(graph_dir: Path) -> dict:
    """The manifest of a graph folder, or {} when there is none (a folder not written by embedlab)."""
    path = graph_dir / MANIFEST
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelLoadError(f"malformed export manifest {path}; run `embedlab export` again") from None
    return manifest if isinstance(manifest, dict) else {}


def record_graph(graph_dir: Path, weights: str, file: str, details: dict) -> None:
    """Add one graph's entry; entries made from other weights are dropped, their graphs being stale."""
    manifest = read_manifest(graph_dir)
    graphs = manifest.get("graphs", {}) if manifest.get("weights_sha256") == weights else {}
    graphs[file] = details
    write_json({"weights_sha256": weights, "graphs": graphs}, graph_dir / MANIFEST)


def check_fresh(graph_dir: Path, file: str, weights: str, pooling: str) -> bool:
    """Whether graph_dir holds `file` exported by embedlab from these weights; raises when it is stale.

    False means no embedlab graph is there (nothing exported yet, or a graph from another tool).
    """
    manifest = read_manifest(graph_dir)
    entry = manifest.get("graphs", {}).get(file)
    if entry is None or not (graph_dir / file).is_file():
        return False
    recorded = manifest.get("weights_sha256", "")
    if recorded != weights:
        raise ModelLoadError(
            f"{graph_dir / file} was exported from other weights (sha256 {recorded[:12]}, now {weights[:12]}): "
            "the model changed since; run `embedlab export` again"
        )
    if entry.get("pooling") != pooling:
        raise ModelLoadError(
            f"{graph_dir / file} pools with {entry.get('pooling')!r}, not {pooling!r}; "
            "export again with this pooling or use backend torch"
        )
    return True
