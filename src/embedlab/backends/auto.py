"""`auto`: the fastest backend that stays within the quality bound on the CPU at hand.

The rules follow docs/benchmarks/encode.md: bf16 weights with AMX tiles; static int8 OpenVINO with AVX512-BF16
and VNNI but no AMX (bf16 weights when OpenVINO is not installed); dynamic int8 ONNX with VNNI dot products
alone and with AVX2 alone; fp32 ONNX on a CPU of none of these classes. Where two backends run within
LOSSLESS_MARGIN of each other the lossless one wins, so int8 (cosine ~0.99) must be clearly faster to be chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

from embedlab.backends.int8 import has_fast_int8
from embedlab.backends.torch_backend import has_native_bf16
from embedlab.hardware import CpuInfo

AUTO = "auto"
# A lossy backend must beat the lossless one by more than this fraction of its speed to be chosen.
LOSSLESS_MARGIN = 0.10


@dataclass(frozen=True)
class BackendChoice:
    """The backend auto picked and a sentence saying why."""

    name: str
    reason: str


def choose_backend(
    cpu: CpuInfo,
    *,
    onnx_available: bool = True,
    openvino_available: bool = False,
    device: str = "cpu",
    gpu_bf16: bool = False,
) -> BackendChoice:
    """Pick a backend from the CPU's features alone (no timing), so the choice is instant and repeatable.

    AMX multiplies bf16 tiles so fast that the whole model in bf16 beats int8 ONNX (whose kernels use VNNI,
    not AMX). AVX512-BF16 without AMX (AMD EPYC Zen 4/5) runs bf16 within LOSSLESS_MARGIN of dynamic int8 ONNX,
    so the near-exact bf16 beats that, but OpenVINO's static int8 (no per-batch activation quantizing, its own
    VNNI kernels) runs well past both there, so it wins when installed. Dynamic int8 ONNX is within the quality
    bound on every class measured and the fastest where bf16 is emulated, AVX2 without VNNI included (its 7-bit
    weights keep the 16-bit sums from saturating); OpenVINO's int8 gains nothing there. A CPU without AVX2 was
    never measured: fp32 ONNX, whose kernels adapt to any x86/arm CPU.
    """
    if device == "cuda":
        if gpu_bf16:
            return BackendChoice("torch-bf16", "the model is on a GPU with bf16 arithmetic: the whole model in bf16")
        return BackendChoice("torch-fp16", "the model is on a GPU without bf16: the whole model in fp16")
    if device != "cpu":
        return BackendChoice("torch", f"the model is on {device}; the ONNX backends run on the CPU")
    if cpu.amx_bf16:
        return BackendChoice("torch-bf16", "the CPU multiplies bf16 tiles (amx_bf16): the whole model in bf16")
    if cpu.avx512_bf16 and cpu.avx512_vnni and openvino_available:
        return BackendChoice(
            "openvino-int8",
            "the CPU has bf16 and int8 dot products without AMX (avx512_bf16, avx512_vnni): static int8 OpenVINO "
            f"runs well past bf16 weights and dynamic int8 (more than the {LOSSLESS_MARGIN:.0%} lossless margin)",
        )
    if has_native_bf16(cpu):
        missing = "" if openvino_available else (
            " (OpenVINO, faster still, is not installed: pip install 'embedlab[openvino]')"
        )
        return BackendChoice(
            "torch-bf16",
            "the CPU has bf16 dot products (avx512_bf16, no AMX): the whole model in bf16, within "
            f"{LOSSLESS_MARGIN:.0%} of dynamic int8 ONNX and near-exact, so it wins{missing}",
        )
    if not onnx_available:
        return BackendChoice("torch", "onnxruntime is not installed")
    if has_fast_int8(cpu):
        found = ", ".join(name for name in ("avx512_vnni", "amx_int8") if getattr(cpu, name))
        return BackendChoice("onnx-int8", f"the CPU has int8 dot products ({found}): dynamic int8 ONNX")
    if cpu.avx2:
        return BackendChoice(
            "onnx-int8",
            "AVX2 without VNNI or native bf16: dynamic int8 ONNX (7-bit weights) still runs well past fp32 ONNX, by "
            f"more than the {LOSSLESS_MARGIN:.0%} lossless margin",
        )
    return BackendChoice("onnx", "no AVX2 found: fp32 ONNX, whose kernels adapt to any x86/arm CPU")
