"""Which model an index was built with: the manifest's record of it, and the refusal of any other model.

An index is only searchable with the model that embedded its chunks; the fingerprint catches the same name
with other weights or settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from embedlab.embedder import Embedder, representation
from embedlab.errors import EmbedlabError
from embedlab.models.fingerprint import model_fingerprint


def check_dense_model(encoder: Embedder) -> Embedder:
    """The encoder, if it makes one dense vector per text; a sparse or multi-vector model is refused in one line."""
    kind = representation(encoder)
    if kind != "dense":
        own = {"sparse": "SparseIndex", "multi_vector": "MultiVectorIndex"}[kind]
        raise EmbedlabError(f"{encoder.name!r} is a {kind.replace('_', '-')} model; this index holds dense vectors "
                            f"(embedlab.index.open.build_index picks its {own})")
    return encoder


def model_record(encoder: Embedder, name: str, fingerprint: str | None) -> dict:
    """How the manifest names a model: enough to reload it and to recognise a different one."""
    if name and Path(name).expanduser().exists():
        name = str(Path(name).expanduser().resolve())
    return {
        "name": name,
        "dim": int(encoder.dim),
        "fingerprint": fingerprint,
        "normalized": True,
        "query_prompt": encoder.query_prompt,
        "document_prompt": encoder.document_prompt,
        "max_seq_length": encoder.max_seq_length,
    }


def check_model(encoder: Embedder, model: Mapping[str, Any], kind: str = "dense") -> str | None:
    """Refuse an encoder other than the one the index was built with (a `kind` index: dense or multi_vector);
    returns the encoder's fingerprint."""
    if kind == "dense":
        check_dense_model(encoder)
    elif representation(encoder) != kind:
        raise EmbedlabError(f"{encoder.name!r} is a {representation(encoder).replace('_', '-')} model; this index "
                            f"holds {kind.replace('_', '-')} rows: load it with its own model")
    if int(encoder.dim) != model["dim"]:
        raise EmbedlabError(
            f"this index holds {model['dim']}-d vectors from {model['name']!r}; the given model "
            f"{encoder.name!r} makes {encoder.dim}-d ones: load the index with its own model"
        )
    fingerprint = model_fingerprint(encoder)
    if model["fingerprint"] is not None and fingerprint != model["fingerprint"]:
        raise EmbedlabError(
            f"this index was built with {model['name']!r} (weights {model['fingerprint'][:12]}); the given model "
            f"{encoder.name!r} has other weights or settings: load it with its own model or rebuild"
        )
    return fingerprint
