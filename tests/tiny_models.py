"""Tiny random BERTs for tests: built and run in milliseconds, with MiniLM's tokenizer so real text works."""

from __future__ import annotations

from typing import Any

import torch
from transformers import BertConfig, BertModel

from embedlab import Encoder


def tiny_bert(vocab_size: int, layers: int = 2, seed: int = 0, pooler: bool = True, **config: Any) -> BertModel:
    """A random 32-wide BERT; `config` overrides BertConfig fields (heads, hidden_act, initializer_range, ...)."""
    torch.manual_seed(seed)
    settings = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}
    bert_config = BertConfig(vocab_size=vocab_size, num_hidden_layers=layers, **(settings | config))
    return BertModel(bert_config, add_pooling_layer=pooler)


def make_tiny_encoder(tokenizer: Any, seed: int = 0, layers: int = 2, name: str = "tiny") -> Encoder:
    """A mean-pooled Encoder over tiny_bert, texts cut to 32 tokens, in eval mode (.train() turns dropout on)."""
    return Encoder.from_transformer(
        tiny_bert(len(tokenizer), layers, seed), tokenizer, "mean", max_seq_length=32, name=name
    )
