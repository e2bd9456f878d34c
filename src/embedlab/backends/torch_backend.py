"""The PyTorch backends: fp32 (exact, the reference) and bf16 autocast (for CPUs with native bf16).

bf16 without hardware support is emulated and several times slower than fp32, so it is refused there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

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
        return encoder.forward(features, prompt_length).float().cpu()


@dataclass
class TorchBf16Backend(TorchBackend):
    """The fp32 forward pass under bf16 autocast: matrix products in bf16, norms and softmax in fp32."""

    name: str = "torch-bf16"

    def embed(self, encoder: Encoder, features: dict[str, Tensor], prompt_length: int) -> Tensor:
        with torch.autocast(device_type=encoder.device.type, dtype=torch.bfloat16):
            return super().embed(encoder, features, prompt_length)
