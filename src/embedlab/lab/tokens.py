"""An Encoder seen token by token: the transformer's token vectors and every pooling strategy applied to them.

The pooling page shows what each strategy does to the same tokens, and how a raw (untrained) twin crowds a cone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from embedlab.errors import EmbedlabError
from embedlab.lab.rankings import ranking
from embedlab.models.encoder import Encoder
from embedlab.models.pooling import Pooling

SHOWN_STRATEGIES = ("cls", "mean", "max", "weighted_mean", "cls_attention")


@dataclass
class TokenView:
    """One text: its tokens, their last-layer vectors (tokens x dim) and each strategy's pooled vector."""

    tokens: list[str]
    vectors: np.ndarray
    pooled: dict[str, np.ndarray]


def require_transformer(encoder: object) -> Encoder:
    """The encoder when it is a transformer Encoder; token views mean nothing for static or remote models."""
    if not isinstance(encoder, Encoder):
        raise EmbedlabError(f"this needs a transformer model; the served one is a {type(encoder).__name__}")
    return encoder


@contextmanager
def eager_attention(transformer: nn.Module) -> Iterator[None]:
    """Eager attention for the duration: only it returns the weights that CLS-attention pooling reads."""
    previous = transformer.config._attn_implementation
    if previous != "eager":
        transformer.set_attn_implementation("eager")
    try:
        yield
    finally:
        if previous != "eager":
            transformer.set_attn_implementation(previous)


def token_views(encoder: Encoder, texts: Sequence[str]) -> list[TokenView]:
    """Each text's tokens, token vectors and pooled vectors under SHOWN_STRATEGIES (un-normalised)."""
    features = encoder.tokenize(texts)
    with eager_attention(encoder.transformer), torch.inference_mode():
        hidden, cls_attention = encoder.model.token_states(features, attentions=True)
    mask = features["attention_mask"]
    pooled = {s: Pooling(s, encoder.pooling.dim)(hidden, mask, cls_attention).cpu().numpy() for s in SHOWN_STRATEGIES}
    views = []
    for row, ids in enumerate(features["input_ids"]):
        length = int(mask[row].sum())
        views.append(TokenView(
            tokens=encoder.tokenizer.convert_ids_to_tokens(ids[:length].tolist()),
            vectors=hidden[row, :length].cpu().numpy(),
            pooled={s: vectors[row] for s, vectors in pooled.items()},
        ))
    return views


def pooling_rankings(
    encoder: Encoder, sentence: str, candidates: Sequence[str]
) -> tuple[TokenView, dict[str, tuple[list[int], list[float]]]]:
    """The sentence's token view and, per strategy, the candidates ranked by cosine of the pooled vectors."""
    views = token_views(encoder, [sentence, *candidates])
    rankings = {s: ranking(views[0].pooled[s], np.stack([v.pooled[s] for v in views[1:]])) for s in SHOWN_STRATEGIES}
    return views[0], rankings


def raw_twin(encoder: Encoder, seed: int = 0) -> Encoder:
    """The encoder's architecture with freshly initialised weights and its pooling: what training starts from.

    Built from the config alone, so it needs no files; the global random state is left as it was.
    """
    from transformers import AutoModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = AutoModel.from_config(encoder.transformer.config)
    return Encoder.from_transformer(
        transformer.float().to(encoder.device), encoder.tokenizer, encoder.pooling.strategy,
        normalize=encoder.normalize, max_seq_length=encoder.max_seq_length,
        name=f"random {type(transformer).__name__}",
    )
