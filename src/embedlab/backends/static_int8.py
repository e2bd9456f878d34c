"""Static int8 with OpenVINO and NNCF: activation ranges calibrated once, so no per-batch quantizing at run time.

Dynamic int8 (int8.py) measures every batch's activations before each int8 product; static int8 fixes those
ranges ahead of time from calibration texts, and NNCF's transformer preset smooths activation outliers into the
weights (SmoothQuant) and keeps the sensitive operations in higher precision. The model is converted from torch
(transformer, pooling and normalisation in one graph), quantized, validated against torch, then recorded.
"""

from __future__ import annotations

import copy
import logging
import shutil
import time
import warnings
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path

import torch

from embedlab.backends.base import ExportableEncoder
from embedlab.backends.export import (
    TRACE_TEXTS,
    ExportReport,
    GraphModule,
    encode_validation_texts,
    record_report,
    validate_graph,
)
from embedlab.backends.int8 import has_fast_int8
from embedlab.backends.manifest import encoder_weights_sha256
from embedlab.backends.openvino_backend import OpenVinoBackend
from embedlab.backends.support import ONNX_ALTERNATIVE, check_onnx_exportable
from embedlab.errors import EmbedlabError
from embedlab.extras import require
from embedlab.hardware import CpuInfo, cpu_info
from embedlab.models.model_files import first_line

OPENVINO_INT8_FILE = "openvino_model_qint8.xml"  # its weights go to the .bin beside it
CALIBRATION_FILE = "calibration_texts.txt"


@dataclass(frozen=True)
class StaticInt8Config:
    """How NNCF quantizes: the recipe sentence-transformers' static OpenVINO export uses, on bundled texts."""

    # Texts from calibration_texts.txt used to find activation ranges, each run alone (no padding).
    calibration_size: int = 256
    # NNCF's transformer preset: SmoothQuant, and the attention's sensitive operations left unquantized.
    model_type: str = "transformer"
    fast_bias_correction: bool = True
    # u8 x s8 products can saturate 16-bit sums on AVX2 without VNNI; NNCF's overflow fix keeps 7-bit weights there.
    overflow_fix: bool = False

    @classmethod
    def for_cpu(cls, cpu: CpuInfo) -> StaticInt8Config:
        """The settings for models made on this CPU: 7-bit weights where int8 products would saturate."""
        return cls(overflow_fix=not has_fast_int8(cpu))


def calibration_texts(limit: int | None = None) -> list[str]:
    """The bundled calibration texts: short replies, questions, reviews, captions, news, science, code and
    other languages, interleaved, because ranges fitted to one kind of text clip the activations of others."""
    lines = files("embedlab.backends").joinpath(CALIBRATION_FILE).read_text(encoding="utf-8").splitlines()
    texts = [line for line in lines if line.strip()]
    return texts[:limit] if limit else texts


def export_openvino_int8(
    encoder: ExportableEncoder, graph_dir: Path, config: StaticInt8Config | None = None
) -> ExportReport:
    """Write the static-int8 OpenVINO model (OPENVINO_INT8_FILE and its .bin) into graph_dir, validate it and
    record it; a model that misses the int8 agreement bound is never recorded, so loading never uses it.

    config defaults to StaticInt8Config.for_cpu(this CPU), as the ONNX int8 export's does.
    """
    require("openvino", "backend openvino-int8")
    nncf = require("nncf", "backend openvino-int8")
    import openvino as ov

    config = config or StaticInt8Config.for_cpu(cpu_info())
    check_onnx_exportable(encoder.model)  # the same limits: a graph cannot be told to drop the prompt, etc.
    start = time.perf_counter()
    reference = encode_validation_texts(encoder)
    model = GraphModule(copy.deepcopy(encoder.model).cpu().float()).eval()
    names = encoder.model.input_names
    sample = encoder.tokenize(list(TRACE_TEXTS))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about shapes that stay dynamic in the converted model
            converted = ov.convert_model(model, example_input={name: sample[name].cpu() for name in names})
    except Exception as err:  # noqa: BLE001 - the converter raises anything an unknown architecture provokes
        raise EmbedlabError(f"OpenVINO cannot convert this model: {first_line(err)}; {ONNX_ALTERNATIVE}") from None
    feeds = [
        {name: tensor.cpu().numpy() for name, tensor in encoder.tokenize([text]).items() if name in names}
        for text in calibration_texts(config.calibration_size)
    ]
    logging.getLogger("nncf").setLevel(logging.WARNING)  # its INFO lines repeat what its progress bars show
    quantized = nncf.quantize(
        converted,
        nncf.Dataset(feeds),
        model_type=nncf.ModelType(config.model_type),
        fast_bias_correction=config.fast_bias_correction,
        subset_size=len(feeds),
        advanced_parameters=nncf.AdvancedQuantizationParameters(
            overflow_fix=nncf.OverflowFix.ENABLE if config.overflow_fix else nncf.OverflowFix.DISABLE
        ),
    )
    graph_dir.mkdir(parents=True, exist_ok=True)
    staging = graph_dir / f".openvino-int8.partial-{time.time_ns()}"
    staging.mkdir()
    try:
        ov.save_model(quantized, str(staging / OPENVINO_INT8_FILE), compress_to_fp16=False)
        final = graph_dir / OPENVINO_INT8_FILE
        report = validate_graph(
            encoder, OpenVinoBackend(staging / OPENVINO_INT8_FILE, "openvino-int8"), reference, start, final
        )
        # The .bin first, the .xml loading looks for last: a first export is never found half-moved.
        (staging / OPENVINO_INT8_FILE).with_suffix(".bin").replace(final.with_suffix(".bin"))
        (staging / OPENVINO_INT8_FILE).replace(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    extra = {"static_int8": asdict(config), "calibration_texts": len(feeds)}
    record_report(encoder, graph_dir, encoder_weights_sha256(encoder), report, ("openvino", "nncf"), extra)
    return report
