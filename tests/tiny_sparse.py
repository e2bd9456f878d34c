"""Tiny random SPLADE models for tests, saved by sentence-transformers' SparseEncoder (the oracle's own layout)."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from transformers import BertConfig, BertForMaskedLM

SMALL = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "num_hidden_layers": 2,
         "max_position_embeddings": 64}  # fmt: skip
MAX_SEQ_LENGTH = 32


def tiny_mlm(vocab_size: int, seed: int = 0) -> BertForMaskedLM:
    """A random 32-wide BERT with its MLM head; a negative bias keeps most terms inactive, as in trained SPLADE."""
    torch.manual_seed(seed)
    model = BertForMaskedLM(BertConfig(vocab_size=vocab_size, **SMALL)).eval()
    with torch.no_grad():
        model.cls.predictions.bias.normal_(-1.0, 0.5)
    return model


def save_st_sparse(target: Path, tokenizer, inference_free: bool = False, max_active_dims: int | None = None) -> Path:
    """sentence-transformers' SparseEncoder directory of a tiny MLM: Transformer + SpladePooling, or (inference-free)
    a Router with a SparseStaticEmbedding of random weights on the query side."""
    from sentence_transformers import SparseEncoder
    from sentence_transformers.base.modules import Router, Transformer
    from sentence_transformers.sparse_encoder.modules import SparseStaticEmbedding, SpladePooling

    raw = target.with_name(target.name + "-hf")
    tiny_mlm(len(tokenizer)).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    splade = [Transformer(str(raw), transformer_task="fill-mask", max_seq_length=MAX_SEQ_LENGTH), SpladePooling("max")]
    if inference_free:
        torch.manual_seed(1)
        static = SparseStaticEmbedding(tokenizer=tokenizer, weight=torch.rand(len(tokenizer)) * 3)
        modules = [Router.for_query_document(query_modules=[static], document_modules=splade)]
    else:
        modules = splade
    SparseEncoder(modules=modules, device="cpu", max_active_dims=max_active_dims).save(str(target))
    shutil.rmtree(raw)
    return target
