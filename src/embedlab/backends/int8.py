"""Dynamic int8 quantization of an exported fp32 graph with ONNX Runtime's quantizer.

Weights become int8 per output channel; activations are quantized per batch at run time, so no calibration set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from embedlab.hardware import CpuInfo


@dataclass(frozen=True)
class Int8Config:
    """Which operators turn int8 and how; the defaults met the bound in docs/benchmarks/int8_recipe.md."""

    per_channel: bool = True
    # u8 x s8 products can saturate 16-bit sums on AVX2 without VNNI; a 7-bit weight range avoids it.
    reduce_range: bool = False
    op_types: tuple[str, ...] = ("MatMul", "Attention")
    # Graph nodes kept in fp32 because their error dominates the output's (found by measuring).
    keep_fp32: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def for_cpu(cls, cpu: CpuInfo) -> Int8Config:
        """The settings for graphs made on this CPU: 7-bit weights where int8 products would saturate."""
        return cls(reduce_range=not has_fast_int8(cpu))


def has_fast_int8(cpu: CpuInfo) -> bool:
    """Whether the CPU has int8 dot-product instructions (AVX512-VNNI or AMX-INT8) that int8 kernels need."""
    return cpu.avx512_vnni or cpu.amx_int8


def quantize_graph(source: Path, target: Path, config: Int8Config = Int8Config()) -> None:
    """Write the dynamic-int8 version of the fp32 graph `source` to `target`."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer logs advice about pre-processing that a fused, shape-annotated graph does not need.
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(
            str(source),
            str(target),
            per_channel=config.per_channel,
            reduce_range=config.reduce_range,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(config.op_types),
            nodes_to_exclude=list(config.keep_fp32),
            # Fused contrib ops (Attention, SkipLayerNorm) defeat ONNX shape inference; their outputs are fp32.
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        logging.disable(logging.NOTSET)
