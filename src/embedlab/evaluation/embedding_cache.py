"""An on-disk cache of corpus embeddings, keyed by the model's weights, the texts and the encode settings.

Encoding a corpus is the slow part of a retrieval evaluation; reruns and other metrics then reuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from embedlab.atomic import save_array
from embedlab.embedder import Embedder
from embedlab.models.fingerprint import model_fingerprint

ENV_VAR = "EMBEDLAB_CACHE"


def cache_dir() -> Path:
    """`EMBEDLAB_CACHE` if set, else ~/.cache/embedlab/embeddings."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "embedlab" / "embeddings"


def cached_encode(
    model: Embedder,
    texts: Sequence[str],
    encode: Callable[[list[str]], np.ndarray],
    settings: dict,
    directory: Path | None = None,
) -> np.ndarray:
    """`encode(texts)` as float32 (n, d), or the stored result of an earlier call with the same key.

    The key covers the model fingerprint, the exact texts and `settings` (whatever besides the model shapes
    the output: prompt, normalize, dim ...), never the batch size. Unreadable or mis-shaped files are re-encoded.
    """
    texts = list(texts)
    fingerprint = model_fingerprint(model)
    if fingerprint is None:
        return np.asarray(encode(texts), dtype=np.float32)
    path = (directory or cache_dir()) / f"{_key(fingerprint, texts, settings)}.npy"
    stored = _load(path, len(texts))
    if stored is not None:
        return stored
    embeddings = np.asarray(encode(texts), dtype=np.float32)
    try:
        save_array(embeddings, path)
    except OSError as err:
        # A full disk or read-only cache must not cost the evaluation that just finished encoding.
        warnings.warn(f"could not write the embedding cache {path}: {err}", stacklevel=2)
    return embeddings


def _key(fingerprint: str, texts: list[str], settings: dict) -> str:
    digest = hashlib.sha256(fingerprint.encode())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for text in texts:
        encoded = text.encode("utf-8", "surrogatepass")
        # Length-prefixed so ["ab", "c"] and ["a", "bc"] hash differently.
        digest.update(len(encoded).to_bytes(8, "little") + encoded)
    return digest.hexdigest()


def _load(path: Path, rows: int) -> np.ndarray | None:
    """The stored float32 (rows, d) array, or None when it is missing, unreadable or of another shape."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if not isinstance(array, np.ndarray) or array.dtype != np.float32 or array.ndim != 2 or array.shape[0] != rows:
        return None
    return array if np.isfinite(array).all() else None
