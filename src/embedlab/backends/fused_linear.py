"""oneDNN fused linear layers for a bf16 transformer on the CPU: bias, GELU and the residual add in the matmul.

In eager PyTorch a bf16 `nn.Linear` on AMX spends a large share of its time broadcasting its bias into the output,
and GELU and each residual add read the activations once more; oneDNN applies them while the product is still in
cache, with the weight packed once into its blocked layout (docs/benchmarks/kernels.md). This is what
`torch.compile` with freezing does for these layers, minus the compile (slow at every load, and it needs a C++
compiler) and its shape guards.
"""

from __future__ import annotations

import inspect

import torch
from torch import Tensor, nn

# The Hugging Face activation names oneDNN computes itself, as its (attr, algorithm) pair.
FUSED_ACTIVATIONS = {"gelu": ("gelu", "none"), "gelu_new": ("gelu", "tanh"), "gelu_pytorch_tanh": ("gelu", "tanh"),
                     "relu": ("relu", "")}
RESIDUAL_SIGNATURE = ["hidden_states", "input_tensor"]  # BERT/RoBERTa's *SelfOutput and *Output blocks


def onednn_available() -> bool:
    """Whether oneDNN's fused bf16 linear kernels run here: x86 torch builds carry them (ARM's ACL does not), and
    they need a CPU with AVX-512 (BW, VL, DQ) or AVX-NE-CONVERT; an AVX2-only CPU cannot pack bf16 weights."""
    ops = torch.ops.mkldnn
    try:
        return (torch.backends.mkldnn.is_available() and hasattr(ops, "_linear_pointwise")
                and not ops._is_mkldnn_acl_supported() and ops._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without these private ops
        return False


class FusedLinear(nn.Module):
    """y = act(x W^T + b) in one oneDNN call, W packed once."""

    def __init__(self, linear: nn.Linear, activation: str = "none", algorithm: str = "") -> None:
        super().__init__()
        self.weight = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach())
        self.bias = None if linear.bias is None else linear.bias.detach()
        self.activation, self.algorithm = activation, algorithm

    def forward(self, x: Tensor) -> Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, self.activation, [], self.algorithm)


class FusedResidualOutput(nn.Module):
    """LayerNorm(hidden W^T + b + residual): the residual is added inside the product (dropout is off at inference)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.projection = FusedLinear(block.dense)
        self.norm = block.LayerNorm

    def forward(self, hidden_states: Tensor, input_tensor: Tensor) -> Tensor:
        mixed = torch.ops.mkldnn._linear_pointwise.binary(hidden_states, input_tensor, self.projection.weight,
                                                         self.projection.bias, "add")
        return self.norm(mixed)


def fuse_linear_layers(model: nn.Module) -> int:
    """Swap, in place, a bf16 inference copy's linear layers for fused ones; returns how many were swapped.

    Feed-forward and residual blocks are recognised by their Hugging Face shape (BERT, RoBERTa and their kin);
    every other `nn.Linear` still gets its bias fused. Only for inference: the fused ops have no backward.
    """
    activation = FUSED_ACTIVATIONS.get(getattr(getattr(model, "config", None), "hidden_act", None))
    return _swap_children(model, activation)


def _swap_children(parent: nn.Module, activation: tuple[str, str] | None) -> int:
    swapped = 0
    for name, child in list(parent.named_children()):
        replacement = _fused(child, activation)
        if replacement is None:
            swapped += _swap_children(child, activation)
        else:
            setattr(parent, name, replacement)
            swapped += 1
    return swapped


def _fused(module: nn.Module, activation: tuple[str, str] | None) -> nn.Module | None:
    dense = getattr(module, "dense", None)
    if isinstance(module, nn.Linear):
        return FusedLinear(module)
    if not isinstance(dense, nn.Linear):
        return None
    if isinstance(getattr(module, "LayerNorm", None), nn.LayerNorm) and _takes_residual(module):
        return FusedResidualOutput(module)
    if activation is not None and hasattr(module, "intermediate_act_fn"):
        return FusedLinear(dense, *activation)
    return None


def _takes_residual(module: nn.Module) -> bool:
    try:
        return list(inspect.signature(module.forward).parameters) == RESIDUAL_SIGNATURE
    except (TypeError, ValueError):
        return False
