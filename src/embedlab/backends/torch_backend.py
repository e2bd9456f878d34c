"""The PyTorch backends: fp32 (exact, the reference) and half-precision copies (bf16, or fp16 on GPUs).

bf16 without hardware support is emulated and several times slower than fp32, so it is refused there; fp16 is
offered on GPUs only, where it is native.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from embedlab.backends.base import Backend
from embedlab.backends.fused_linear import fuse_linear_layers, onednn_available
from embedlab.errors import EmbedlabError
from embedlab.hardware import CpuInfo
from embedlab.models.core import EmbeddingModel


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
class TorchBackend(Backend):
    """The model's own fp32 forward pass, on whatever device the model sits."""

    name: str = "torch"
    reason: str = ""

    def embed(self, model: EmbeddingModel, features: dict[str, Tensor], prompt_length: int) -> Tensor:
        features = {k: v.to(model.device) for k, v in features.items()}
        return self.torch_model(model)(features, prompt_length).float().cpu()

    def torch_model(self, model: EmbeddingModel) -> EmbeddingModel:
        return model


@dataclass
class TorchHalfBackend(TorchBackend):
    """A reduced-precision copy of the model: every transformer layer in `dtype`, pooling in fp32.

    A whole-model copy beats autocast, which re-casts every weight on every call (docs/benchmarks/encode.md);
    on the CPU its linear layers run as oneDNN fused ops (fused_linear). The copy is remade whenever the fp32
    weights change (training).
    """

    name: str = "torch-bf16"
    dtype: torch.dtype = torch.bfloat16
    _copy: EmbeddingModel | None = field(default=None, repr=False)
    _copy_of: tuple = field(default=(), repr=False)

    def torch_model(self, model: EmbeddingModel) -> EmbeddingModel:
        version = model.weights_version()
        if self._copy is None or version != self._copy_of:
            self._copy = model.reduced_precision_copy(self.dtype)
            if model.device.type == "cpu" and self.dtype == torch.bfloat16 and onednn_available():
                fuse_linear_layers(self._copy.transformer)
            self._copy_of = version
        return self._copy
