"""Mixed precision for training, chosen from the model's device: which autocast, and whether gradients are scaled.

`bf16: true` asks for half-precision matrix products; weights, optimizer state and the loss stay fp32.
  - CUDA with bf16 arithmetic (Ampere and later): bf16 autocast. bf16 has fp32's range, so no scaling.
  - CUDA without it: fp16 autocast with a GradScaler, because small fp16 gradients underflow to zero unscaled.
  - CPU: bf16 autocast, as before; without native bf16 (AVX512-BF16, AMX) the CPU emulates it, far slower than
    fp32, so a warning says so.
  - Any other device (Apple MPS): fp32, with a warning; its autocast is untested here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from embedlab.backends.torch_backend import has_native_bf16
from embedlab.hardware import CpuInfo, cpu_info, gpu_has_bf16


@dataclass(frozen=True)
class Precision:
    """The autocast a training step runs under (dtype None: fp32 throughout) and whether its loss is scaled."""

    device_type: str
    dtype: torch.dtype | None = None
    scaled: bool = False

    def autocast(self) -> torch.autocast:
        """The forward pass's autocast; for fp32 a disabled one, which also switches off a caller's autocast."""
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled only for fp16; disabled, its scale/unscale_/step/update pass straight through."""
        return torch.amp.GradScaler(self.device_type, enabled=self.scaled)


def training_precision(device: torch.device, bf16: bool, cpu: CpuInfo | None = None) -> Precision:
    """The precision a training run gets on `device` when its config says `bf16` (see the module docstring)."""
    if not bf16:
        return Precision(device.type)
    if device.type == "cuda":
        if gpu_has_bf16():
            return Precision("cuda", torch.bfloat16)
        return Precision("cuda", torch.float16, scaled=True)
    if device.type == "cpu":
        cpu = cpu or cpu_info()
        if not has_native_bf16(cpu):
            warnings.warn(
                f"bf16 requested but {cpu.model} has no native bf16 (avx512_bf16/AMX): training will be slow",
                stacklevel=2,
            )
        return Precision("cpu", torch.bfloat16)
    warnings.warn(f"bf16 autocast is not used on {device.type}: training runs in fp32 there", stacklevel=2)
    return Precision(device.type)
