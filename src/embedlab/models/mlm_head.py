"""An MLM head for a transformer saved without one (all-MiniLM-L6-v2, any plain BertModel).

BERT's head is a transform (dense + activation + LayerNorm) then a decoder tied to the input embeddings, plus a
per-term bias. The decoder is the part that knows the vocabulary, and the input embedding matrix is exactly it;
the transform is not in such a checkpoint, so it starts fresh with its dense layer as the identity. Then the first
logits already score each vocabulary term by its input embedding's match with the final token state: the text's own
words and their neighbours come first, where a randomly initialised transform ranks terms at random. The transform
ends in a LayerNorm, so each state it yields has norm sqrt(hidden size), and a term's logit is that norm times the
term embedding's norm times their cosine: a bias of -START_COSINE times both norms makes a term active exactly where
that cosine exceeds START_COSINE. So the head starts sparse, as a trained SPLADE model is, instead of active on
nearly the whole vocabulary, where the dot products are so large that the ranking loss saturates and FLOPS cannot
prune in a short run. Results from such a model must say so: SparseEncoder.info() carries HEAD_FROM_DENSE.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from embedlab.errors import ModelLoadError
from embedlab.models.st_format import read_json

START_COSINE = 0.3
HEAD_FROM_DENSE = (f"tied input embeddings as decoder, fresh transform (identity dense layer), bias activating terms "
                   f"past cosine {START_COSINE} (from_dense)")


def has_mlm_head(directory: Path) -> bool:
    """Whether a transformer directory's config.json names a masked-LM architecture (whose weights hold the head)."""
    config_path = directory / "config.json"
    config = read_json(config_path) if config_path.is_file() else {}
    architectures = config.get("architectures") if isinstance(config, dict) else None
    return any(str(name).endswith("ForMaskedLM") for name in architectures or ())


def mlm_from_dense(base: nn.Module) -> nn.Module:
    """A masked-LM model around `base`'s weights: decoder tied to its input embeddings, identity transform, bias at
    the START_COSINE threshold. Deterministic: nothing in the head is drawn at random."""
    from transformers import AutoModelForMaskedLM

    config = base.config
    config.tie_word_embeddings = True
    # The head's random initialisation is overwritten below; forking keeps it off the caller's random state.
    with torch.random.fork_rng(devices=[]):
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
            state_norm = math.sqrt(config.hidden_size)
            decoder.bias.copy_(-START_COSINE * state_norm * decoder.weight.norm(dim=1))
        for layer in head_transforms(mlm, decoder):
            nn.init.eye_(layer.weight)
            if layer.bias is not None:
                layer.bias.zero_()
    return mlm.float().eval()


def head_transforms(mlm: nn.Module, decoder: nn.Module) -> list[nn.Linear]:
    """The head's hidden-to-hidden dense layers (BERT's transform.dense, RoBERTa's lm_head.dense): the linear layers
    outside the base model other than the decoder."""
    inside = {id(module) for module in mlm.base_model.modules()}
    return [module for module in mlm.modules()
            if isinstance(module, nn.Linear) and id(module) not in inside and module is not decoder
            and module.in_features == module.out_features]
