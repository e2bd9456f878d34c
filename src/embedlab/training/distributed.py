"""Multi-process training on torch.distributed (gloo on CPU, NCCL on GPU), as started by `torchrun`.

Every process draws the same global batch and trains on its own slice; InfoNCE gathers embeddings so each
process still sees every other process's positives as negatives, and gradients are averaged.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

from embedlab.errors import EmbedlabError


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_leader() -> bool:
    """Only the first process evaluates, saves and draws progress."""
    return rank() == 0


def init_from_environment() -> bool:
    """Join the process group torchrun describes (WORLD_SIZE > 1); a single process does nothing."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    if torch.cuda.is_available():
        # NCCL needs each process on its own GPU; "cuda" (and the default device) then means this one.
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return True


def local_rank() -> int:
    """This process's index on its machine, as torchrun sets it (0 for a single process)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def shard(batch: dict, index: int | None = None, count: int | None = None) -> dict:
    """This process's contiguous slice of every column of a global batch."""
    index = rank() if index is None else index
    count = world_size() if count is None else count
    if count == 1:
        return batch
    size = len(next(iter(batch.values())))
    if size % count:
        raise EmbedlabError(f"batch of {size} rows does not split evenly over {count} processes")
    per = size // count
    return {key: column[index * per : (index + 1) * per] for key, column in batch.items()}


def average_gradients(*modules: nn.Module) -> None:
    """All-reduce and average gradients, so every process takes the same optimizer step."""
    count = world_size()
    if count == 1:
        return
    for module in modules:
        for parameter in module.parameters():
            if parameter.grad is not None:
                dist.all_reduce(parameter.grad)
                parameter.grad /= count
