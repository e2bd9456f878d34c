"""The PyTorch backends: fp32 (exact, the reference) and bf16 weights (for CPUs with native bf16).

bf16 without hardware support is emulated and several times slower than fp32, so it is refused there.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from embedlab.backends.onednn_fusion import fuse_linear_layers, onednn_available
from embedlab.errors import EmbedlabError
from embedlab.hardware import CpuInfo

if TYPE_CHECKING:
    from embedlab.encoder import Encoder


def has_native_bf16(cpu: CpuInfo) -> bool:
    """Whether the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX-BF16) rather than emulating it."""
    return cpu.avx512_bf16 or cpu.amx_bf16


def check_native_bf16(cpu: CpuInfo) -> None:
    """Refuse bf16 on a CPU that would emulate it: a one-line error naming the faster alternatives."""
    if not has_native_bf16(cpu):
        raise EmbedlabError(
            f"backend torch-bf16 needs a CPU with native bf16 (avx512_bf16 or amx_bf16); {cpu.model} has neither, "
            "and emulated bf16 is several times slower than fp32: use backend torch, onnx or auto"
        )


@dataclass
class TorchBackend:
    """The Encoder's own fp32 forward pass, on whatever device the model sits."""

    name: str = "torch"
    reason: str = ""

    def embed(self, encoder: Encoder, features: dict[str, Tensor], prompt_length: int) -> Tensor:
        features = {k: v.to(encoder.device) for k, v in features.items()}
        return encoder.forward(features, prompt_length, self.transformer(encoder)).float().cpu()

    def transformer(self, encoder: Encoder) -> nn.Module | None:
        """The transformer to run instead of the encoder's own (None: its own, in fp32)."""
        return None


@dataclass
class TorchBf16Backend(TorchBackend):
    """A bf16 copy of the transformer: every layer in bf16 on the CPU's bf16 units, pooling in fp32.

    Whole-model bf16 beats autocast (2.6-2.9x vs 2.2x sentence-transformers fp32 on AMX) because autocast
    re-casts every weight on every call; on the CPU its linear layers run as oneDNN fused ops (onednn_fusion).
    The copy is remade whenever the fp32 weights change (training).
    """

    name: str = "torch-bf16"
    _copy: nn.Module | None = field(default=None, repr=False)
    _copy_of: tuple = field(default=(), repr=False)

    def transformer(self, encoder: Encoder) -> nn.Module:
        # In-place updates (optimizer steps, load_state_dict) bump a tensor's version counter; moves and
        # reassigned .data change its storage.
        weights = (id(encoder.transformer), *((p.data_ptr(), p._version) for p in encoder.transformer.parameters()))
        if self._copy is None or weights != self._copy_of:
            self._copy = copy.deepcopy(encoder.transformer).to(torch.bfloat16).eval()
            if getattr(self._copy, "pooler", None) is not None:
                self._copy.pooler = None  # BERT's [CLS] pooler output is never read: skip its matrix product
            if encoder.device.type == "cpu" and onednn_available():
                fuse_linear_layers(self._copy)
            self._copy_of = weights
        return self._copy
