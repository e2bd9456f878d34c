"""The CPU a benchmark ran on: model, cores, threads and the vector/matrix features torch can use.

Throughput figures mean little without the machine, so every benchmark report starts with this.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")
# The instruction sets that decide which oneDNN/FBGEMM kernels torch picks for fp32, bf16 and int8.
FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


@dataclass(frozen=True)
class CpuInfo:
    """One machine's CPU as a benchmark sees it; a feature is True only when the kernel lists it."""

    model: str
    architecture: str
    logical_cores: int
    torch_threads: int
    torch_capability: str
    avx2: bool = False
    fma: bool = False
    avx512f: bool = False
    avx512_vnni: bool = False
    avx512_bf16: bool = False
    amx_tile: bool = False
    amx_bf16: bool = False
    amx_int8: bool = False

    @property
    def features(self) -> list[str]:
        """The tracked features this CPU has, in FEATURES order."""
        return [name for name in FEATURES if getattr(self, name)]


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """The model name and flag set of the first processor in /proc/cpuinfo text.

    x86 kernels write `model name` and `flags`; arm64 ones write `Features` and often no model at all.
    """
    first: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            first.setdefault(key.strip().lower(), value.strip())
    # x86 also has a numeric `model` line; the name wins, and Raspberry-Pi-style `Model` is the fallback.
    model = first.get("model name") or first.get("hardware") or first.get("model", "")
    flags = first.get("flags") or first.get("features") or ""
    return model, frozenset(flags.split())


@functools.cache
def _cpu_identity() -> tuple[str, frozenset[str]]:
    # The CPU does not change while the process runs; thread settings can, so they are read per call.
    try:
        model, flags = parse_cpuinfo(CPUINFO.read_text(errors="replace"))
    except OSError:
        model, flags = "", frozenset()
    return model or platform.processor() or platform.machine() or "unknown", flags


def cpu_info(model: str | None = None, flags: frozenset[str] | None = None) -> CpuInfo:
    """This machine's CPU, with torch's current thread count; model/flags override detection (for tests)."""
    detected_model, detected_flags = _cpu_identity()
    flags = detected_flags if flags is None else flags
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    return CpuInfo(
        model=model or detected_model,
        architecture=platform.machine(),
        logical_cores=cores,
        torch_threads=torch.get_num_threads(),
        torch_capability=torch.backends.cpu.get_cpu_capability(),
        **{name: name in flags for name in FEATURES},
    )


def as_dict(info: CpuInfo) -> dict:
    """A JSON-ready dict of the CPU info, the present features listed too."""
    return {**dataclasses.asdict(info), "features": info.features}


def report_header(info: CpuInfo) -> str:
    """Markdown lines naming the CPU, its features, threads and torch version, for a report's top."""
    return "\n".join(
        [
            f"- **CPU:** {info.model} ({info.architecture}, {info.logical_cores} logical cores available)",
            f"- **Features:** {', '.join(info.features) or 'none of ' + ', '.join(FEATURES)}",
            f"- **torch:** {torch.__version__}, {info.torch_threads} threads, kernels: {info.torch_capability}",
        ]
    )


def gpu_has_bf16() -> bool:
    """Whether the current CUDA GPU does bf16 arithmetic natively (Ampere and later).

    Older GPUs can emulate bf16, which torch's default check counts; emulated half precision defeats its purpose.
    """
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
