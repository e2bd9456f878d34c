"""Tiny random ColBERT models for tests: a 2-layer, 32-wide BERT on MiniLM's tokenizer with [Q] / [D] added."""

from __future__ import annotations

import string
from pathlib import Path

import torch
from transformers import AddedToken

from tests.tiny_models import tiny_bert

EXPANSION = 12  # query budget: short enough that a few words overflow it
DIM = 16


def marked_tokenizer(tokenizer):
    """A copy of `tokenizer` with ColBERT's [Q] and [D] as single special tokens (as PyLate adds them)."""
    from transformers import AutoTokenizer

    copy = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    markers = [AddedToken(m, normalized=False, special=True) for m in ("[Q]", "[D]")]
    copy.add_tokens(markers, special_tokens=True)
    return copy


def save_st_colbert(target: Path, tokenizer, *, attend: bool = False, strategy: str = "fixed",
                    document_length: int | None = 40, seed: int = 0) -> Path:
    """A MultiVectorEncoder directory written by sentence-transformers itself (the oracle's own format)."""
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

    marked = marked_tokenizer(tokenizer)
    raw = target.with_name(target.name + "-hf")
    tiny_bert(len(marked), seed=seed).save_pretrained(raw)
    marked.save_pretrained(raw)
    transformer = Transformer(
        str(raw), max_seq_length=64, document_length=document_length,
        query_expansion={"strategy": strategy, "attend": attend, "length": EXPANSION},
    )
    torch.manual_seed(seed)
    dense = Dense(32, DIM, bias=False, activation_function=torch.nn.Identity(), module_input_name="token_embeddings")
    modules = [transformer, dense, MultiVectorMask(skiplist_words=list(string.punctuation)),
               Normalize(module_input_name="token_embeddings")]
    MultiVectorEncoder(modules=modules, prompts={"query": "[Q] ", "document": "[D] "}, device="cpu").save(str(target))
    return target
