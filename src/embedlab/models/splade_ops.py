"""The tensor steps of a SPLADE model: term weights from MLM logits, static term weights, top-k pruning, CSR rows.

Kept apart from the SparseEncoder class so that training (with gradients) and encoding (without) run the very
same arithmetic, the arithmetic of sentence-transformers' SpladePooling and SparseStaticEmbedding.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse
from torch import Tensor

from embedlab.models.sparse_format import SpladeSettings


def splade_pool(logits: Tensor, attention_mask: Tensor, settings: SpladeSettings) -> Tensor:
    """(B, vocab) term weights: log(1 + ReLU(logits)) of each non-padding token, max- (or sum-) pooled."""
    # Masking before the ReLU zeroes padding, which then never wins the max: every weight is >= 0.
    weights = torch.log1p(torch.relu(logits * attention_mask.unsqueeze(-1).to(logits.dtype)))
    if settings.activation_function == "log1p_relu":
        weights = torch.log1p(weights)
    return weights.amax(dim=1) if settings.pooling_strategy == "max" else weights.sum(dim=1)


def static_weights(input_ids: Tensor, attention_mask: Tensor, weight: Tensor) -> Tensor:
    """(B, vocab): each present (non-padding) token id gets its learned weight, every other id zero."""
    presence = torch.zeros(len(input_ids), len(weight), device=input_ids.device, dtype=torch.int64)
    presence.scatter_(1, input_ids, attention_mask.to(torch.int64))
    return presence * weight


def keep_top_k(weights: Tensor, k: int | None) -> Tensor:
    """Only each row's k largest weights, the rest zero (max_active_dims); None keeps all."""
    if k is None or k >= weights.shape[-1]:
        return weights
    values, indices = torch.topk(weights, k, dim=-1)
    return torch.zeros_like(weights).scatter_(-1, indices, values)


def to_csr(weights: Tensor) -> sparse.csr_matrix:
    """A float32 CSR matrix of the non-zero weights of (B, vocab) rows."""
    return sparse.csr_matrix(weights.detach().float().cpu().numpy(), dtype=np.float32)


def nonzero_counts(weights: Tensor) -> Tensor:
    """Active terms per row (what FLOPS regularisation shrinks and what a sparse index stores)."""
    return (weights != 0).sum(dim=-1)
