"""A model's identity: a hash of its settings and every weight, independent of the name it was loaded by.

Caches key embeddings by it, and an index refuses a model whose fingerprint differs from the one it was built with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from embedlab.models.encoder import Encoder


def model_fingerprint(model: Any) -> str | None:
    """sha256 of the model's info() and every weight, or None for a model whose weights cannot be read.

    Torch modules hash their state_dict; other models (StaticEncoder) the numpy arrays they hold.
    """
    arrays = dict(_weights(model))
    if not arrays:
        return None
    digest = hashlib.sha256()
    # The name is left out so the same weights loaded by another name or path still hit the cache.
    info = {k: v for k, v in model.info().items() if k != "name"} if hasattr(model, "info") else {}
    digest.update(json.dumps(info, sort_keys=True, default=str).encode())
    for name, (dtype, shape, raw) in sorted(arrays.items()):
        digest.update(f"{name}|{dtype}|{shape}|".encode())
        digest.update(raw.data)
    return digest.hexdigest()


def _weights(model: Any) -> Iterator[tuple[str, tuple[str, tuple[int, ...], np.ndarray]]]:
    """(name, (dtype, shape, contiguous array)) for every weight tensor or array the model holds."""
    if isinstance(model, torch.nn.Module):
        # An Encoder hashes its EmbeddingModel, whose weight names predate the split of the two.
        module = model.model if isinstance(model, Encoder) else model
        for name, tensor in module.state_dict().items():
            tensor = tensor.detach().cpu().contiguous()
            # Viewed as bytes because numpy has no bfloat16; flattened first so 0-d tensors can be viewed.
            yield name, (str(tensor.dtype), tuple(tensor.shape), tensor.reshape(-1).view(torch.uint8).numpy())
    else:
        for name, value in getattr(model, "__dict__", {}).items():
            if isinstance(value, np.ndarray):
                yield name, (str(value.dtype), value.shape, np.ascontiguousarray(value))
