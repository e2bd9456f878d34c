"""An MLM head for a transformer saved without one (all-MiniLM-L6-v2, any plain BertModel).

BERT's head is a transform (dense + activation + LayerNorm) then a decoder tied to the input embeddings, plus a
per-term bias. The decoder is the part that knows the vocabulary, and the input embedding matrix is exactly it;
the transform is not in such a checkpoint, so it starts fresh (the config's initialiser) and the bias at zero.
Results from such a model must say so: SparseEncoder.info() carries HEAD_FROM_DENSE.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from embedlab.errors import ModelLoadError
from embedlab.models.st_format import read_json

HEAD_FROM_DENSE = "tied input embeddings as decoder, freshly initialised transform, zero bias (from_dense)"


def has_mlm_head(directory: Path) -> bool:
    """Whether a transformer directory's config.json names a masked-LM architecture (whose weights hold the head)."""
    config_path = directory / "config.json"
    config = read_json(config_path) if config_path.is_file() else {}
    architectures = config.get("architectures") if isinstance(config, dict) else None
    return any(str(name).endswith("ForMaskedLM") for name in architectures or ())


def mlm_from_dense(base: nn.Module, seed: int = 0) -> nn.Module:
    """A masked-LM model around `base`'s weights: decoder tied to its input embeddings, new transform, zero bias.

    `seed` fixes the transform's initialisation without touching the caller's random state.
    """
    from transformers import AutoModelForMaskedLM

    config = base.config
    config.tie_word_embeddings = True
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            mlm = AutoModelForMaskedLM.from_config(config)
        except ValueError as err:
            raise ModelLoadError(f"{config.model_type} models have no masked-LM head in transformers: {err}") from None
    state = {k: v for k, v in base.state_dict().items() if not k.startswith("pooler.")}
    missing, unexpected = mlm.base_model.load_state_dict(state, strict=False)
    if missing or unexpected:
        wrong = ", ".join((missing or unexpected)[:3])
        raise ModelLoadError(f"the {type(base).__name__} weights do not fit {type(mlm).__name__}: {wrong}")
    decoder = mlm.get_output_embeddings()
    decoder.weight = mlm.get_input_embeddings().weight
    with torch.no_grad():
        if getattr(decoder, "bias", None) is not None:
            decoder.bias.zero_()
    return mlm.float().eval()
