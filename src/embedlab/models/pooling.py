"""Pooling: how a transformer's token vectors become one vector per text.

Every strategy reads the attention mask, so a text's vector never depends on the padding its batch needed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from embedlab.errors import ModelLoadError
from embedlab.models.st_format import read_json

STRATEGIES = ("cls", "mean", "max", "mean_sqrt_len", "weighted_mean", "cls_attention", "attention", "last_token")

# sentence-transformers' own names for the strategies it can express; the rest are embedlab's.
ST_MODE_FLAGS = {
    "cls": "pooling_mode_cls_token",
    "mean": "pooling_mode_mean_tokens",
    "max": "pooling_mode_max_tokens",
    "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
    "weighted_mean": "pooling_mode_weightedmean_tokens",
    "last_token": "pooling_mode_lasttoken",
}
ST_MODE_NAMES = {
    "cls": "cls",
    "mean": "mean",
    "max": "max",
    "mean_sqrt_len_tokens": "mean_sqrt_len",
    "weightedmean": "weighted_mean",
    "lasttoken": "last_token",
}
QUERY_FILE = "attention_query.safetensors"


def _float_mask(attention_mask: Tensor, like: Tensor) -> Tensor:
    return attention_mask.unsqueeze(-1).to(like.dtype)


def _weighted_sum(tokens: Tensor, weights: Tensor) -> Tensor:
    """Sum of token vectors under per-token weights (B, L), normalised to sum to one."""
    weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1e-9)
    return torch.einsum("bl,bld->bd", weights.to(tokens.dtype), tokens)


def cls_pool(tokens: Tensor, attention_mask: Tensor) -> Tensor:
    """The first pooled token's vector: BERT's [CLS] (or the first token after an excluded prompt)."""
    first = attention_mask.to(torch.int32).argmax(dim=1)
    return tokens[torch.arange(tokens.shape[0], device=tokens.device), first]


def mean_pool(tokens: Tensor, attention_mask: Tensor) -> Tensor:
    """Average of the real tokens' vectors: the default of most sentence-embedding models."""
    mask = _float_mask(attention_mask, tokens)
    return (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def mean_sqrt_len_pool(tokens: Tensor, attention_mask: Tensor) -> Tensor:
    """Sum of the real tokens' vectors over the square root of their count (sentence-transformers' mean_sqrt_len)."""
    mask = _float_mask(attention_mask, tokens)
    return (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9).sqrt()


def max_pool(tokens: Tensor, attention_mask: Tensor) -> Tensor:
    """Per-dimension maximum over the real tokens."""
    padded = ~attention_mask.bool().unsqueeze(-1)
    return tokens.masked_fill(padded, torch.finfo(tokens.dtype).min).amax(dim=1)


def weighted_mean_pool(tokens: Tensor, attention_mask: Tensor, positions: Tensor | None = None) -> Tensor:
    """Mean weighted by position (1, 2, 3 ... from the text's first token), so later tokens count more.

    Suits causal models, whose later tokens have seen more of the text (Muennighoff's SGPT). `positions` counts
    from the first real token whatever the padding side; an excluded prompt keeps its positions counted.
    """
    mask = attention_mask.to(tokens.dtype)
    positions = mask.cumsum(dim=1) if positions is None else positions.to(tokens.dtype)
    return _weighted_sum(tokens, positions * mask)


def last_token_pool(tokens: Tensor, attention_mask: Tensor) -> Tensor:
    """The last real token's vector, wherever the padding sits: the pooling of decoder embedders."""
    length = attention_mask.shape[1]
    last = length - 1 - attention_mask.to(torch.int32).flip(dims=[1]).argmax(dim=1)
    rows = torch.arange(tokens.shape[0], device=tokens.device)
    # A text with no pooled token (all prompt) gets a zero vector, as in sentence-transformers.
    return tokens[rows, last] * attention_mask[rows, last].unsqueeze(-1).to(tokens.dtype)


def cls_attention_pool(tokens: Tensor, attention_mask: Tensor, cls_attention: Tensor) -> Tensor:
    """Tokens weighted by how much [CLS] attends to them in the last layer (heads averaged).

    cls_attention is (B, L): the [CLS] query row of the last layer's attention; [CLS] itself is left out.
    """
    weights = cls_attention * attention_mask.to(cls_attention.dtype)
    weights[:, 0] = 0
    return _weighted_sum(tokens, weights)


def attention_pool(tokens: Tensor, attention_mask: Tensor, query: Tensor) -> Tensor:
    """Softmax over tokens of their dot product with a learned query vector.

    A zero query gives equal weights, so an untrained attention pooling starts as mean pooling.
    """
    scores = tokens @ query / math.sqrt(tokens.shape[-1])
    scores = scores.masked_fill(~attention_mask.bool(), torch.finfo(scores.dtype).min)
    return torch.einsum("bl,bld->bd", scores.softmax(dim=1), tokens)


class Pooling(nn.Module):
    """A pooling strategy as a module, holding the learned query when the strategy has one."""

    def __init__(self, strategy: str, dim: int, include_prompt: bool = True) -> None:
        super().__init__()
        if strategy not in STRATEGIES:
            raise ModelLoadError(f"unknown pooling {strategy!r}; choose one of {', '.join(STRATEGIES)}")
        self.strategy = strategy
        self.dim = dim
        self.include_prompt = include_prompt
        self.query = nn.Parameter(torch.zeros(dim)) if strategy == "attention" else None

    @property
    def needs_attentions(self) -> bool:
        return self.strategy == "cls_attention"

    @property
    def sentence_transformers_compatible(self) -> bool:
        return self.strategy in ST_MODE_FLAGS

    def forward(
        self, tokens: Tensor, attention_mask: Tensor, cls_attention: Tensor | None = None, prompt_length: int = 0
    ) -> Tensor:
        """One vector per text; the first `prompt_length` tokens are left out when include_prompt is False."""
        positions = None
        if prompt_length and not self.include_prompt:
            positions = attention_mask.cumsum(dim=1)
            attention_mask = attention_mask.clone()
            attention_mask[:, :prompt_length] = 0
        if self.strategy == "weighted_mean":
            return weighted_mean_pool(tokens, attention_mask, positions)
        if self.strategy == "cls_attention":
            if cls_attention is None:
                raise ValueError("cls_attention pooling needs the last layer's attention weights")
            return cls_attention_pool(tokens, attention_mask, cls_attention)
        if self.strategy == "attention":
            return attention_pool(tokens, attention_mask, self.query)
        simple = {
            "cls": cls_pool,
            "mean": mean_pool,
            "max": max_pool,
            "mean_sqrt_len": mean_sqrt_len_pool,
            "last_token": last_token_pool,
        }
        return simple[self.strategy](tokens, attention_mask)

    def save(self, directory: Path) -> None:
        """Write sentence-transformers' Pooling config (plus our strategy name and learned query)."""
        directory.mkdir(parents=True, exist_ok=True)
        config: dict = {"word_embedding_dimension": self.dim}
        config.update({flag: self.strategy == name for name, flag in ST_MODE_FLAGS.items()})
        config["include_prompt"] = self.include_prompt
        if not self.sentence_transformers_compatible:
            # sentence-transformers rejects unknown keys, so only its own keys go into configs it can load.
            config["embedlab_pooling"] = self.strategy
        (directory / "config.json").write_text(json.dumps(config, indent=2))
        if self.query is not None:
            save_file({"query": self.query.detach().cpu().contiguous()}, str(directory / QUERY_FILE))

    @classmethod
    def load(cls, directory: Path, strategy: str | None = None) -> Pooling:
        """Read a Pooling config written by sentence-transformers (any version) or by embedlab.

        A strategy given here overrides the saved one (e.g. to try CLS pooling on a mean-pooled model).
        """
        config = read_json(directory / "config.json")
        dim = config.get("word_embedding_dimension", config.get("embedding_dimension"))
        if not isinstance(dim, int):
            raise ModelLoadError(f"{directory / 'config.json'} has no embedding dimension")
        saved = _saved_strategy(config, directory)
        pooling = cls(strategy or saved, dim, include_prompt=config.get("include_prompt", True))
        query_path = directory / QUERY_FILE
        if pooling.query is not None and saved == "attention" and query_path.exists():
            pooling.query.data.copy_(load_file(str(query_path))["query"])
        return pooling


def _saved_strategy(config: dict, directory: Path) -> str:
    if "embedlab_pooling" in config:
        return config["embedlab_pooling"]
    modes = config.get("pooling_mode")  # sentence-transformers >= 6 names the mode directly
    if modes is None:
        modes = [name for name, flag in ST_MODE_FLAGS.items() if config.get(flag)]
    else:
        modes = [ST_MODE_NAMES.get(m, m) for m in ([modes] if isinstance(modes, str) else modes)]
    if len(modes) != 1 or modes[0] not in STRATEGIES:
        raise ModelLoadError(f"{directory} uses pooling {modes}, which embedlab does not support")
    return modes[0]
